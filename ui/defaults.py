"""What a page needs before it can draw: the selection's minima and, where asked, a center.

Cheap work (estimated at most ``AUTO_SECONDS`` on this device) starts at once with a progress
bar and a Stop button, so every page shows a meaningful chart on first load; anything dearer
shows its estimate and waits for Run; presets sized for a GPU say so on a CPU and need a
confirmation. Work stops when Stop is clicked or when the browser session ends.
"""
from __future__ import annotations

import streamlit as st

import landscape_core as lc
from landscape_core.cost import Estimate
from landscape_core.evaluate import resolve_device
from landscape_core.refs import CenterRef

from . import calls, jobs, minima
from .errors import guarded

AUTO_SECONDS = 45.0                 # estimated work started without a click
GPU_PRESETS = ("cifar-vgg16", "cifar-resnet18", "cifar-resnet34", "mnist-vgg16")
GPU_PARAMS = 5_000_000              # models this large are GPU-sized on a CPU


def gpu_sized(exp: lc.Experiment, preset: str) -> bool:
    """True when the selection is meant for a GPU and this server has none."""
    if resolve_device("auto").type == "cuda":
        return False
    return preset in GPU_PRESETS or jobs.model_size(exp.model) > GPU_PARAMS


def _steps(ms: minima.MinimaSet, center_ref: CenterRef | None, center: bool, root: str) -> list:
    """What is missing, without timing anything: "train" the missing seeds, fit the "center"."""
    steps = ["train"] if ms.missing_seeds else []
    if center and (center_ref is None or calls.fitted(center_ref, root) is None):
        steps.append("center")
    return steps


def _estimate(exp: lc.Experiment, ms: minima.MinimaSet, spec: lc.CenterSpec, steps: list) -> Estimate:
    parts = []
    if "train" in steps:
        parts.append(jobs.estimate("training", exp, n_minima=len(ms.missing_seeds)))
    if "center" in steps:
        parts.append(jobs.estimate("center", exp, spec=spec))
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def prepare(exp: lc.Experiment, spec: lc.CenterSpec, uploads: tuple, page: str, *, preset: str,
            feet: tuple | None = None, center: bool = True, n_min: int = 2) -> tuple:
    """Make sure the selection's minima (and the center of ``feet`` or of all minima) exist.

    Returns ``(minima set, center ref or None)``. Stops the page (after saying why and offering
    Run) when the work is too dear to start by itself, or when fewer than ``n_min`` minima exist.
    Nothing is timed or run for a GPU-sized selection on a CPU until the user confirms.
    """
    root = minima.cache_root()
    ms = minima.minima_set(exp, uploads)
    keys = feet if feet is not None else ms.keys
    ref = CenterRef(keys, spec) if center and len(keys) >= 2 else None
    steps = _steps(ms, ref, center and (ms.n + len(ms.missing_seeds)) >= 2, root)
    if not steps:
        return ms, ref
    what = " and ".join({"train": f"training {len(ms.missing_seeds)} minima",
                         "center": "fitting the center θ*"}[s] for s in steps)
    heavy = gpu_sized(exp, preset)
    confirmed = True
    if heavy:
        st.warning(f"{what.capitalize()}: this selection is sized for a GPU and this server has "
                   "none. On a CPU it takes a long time (even the cost estimate needs a few training "
                   "steps). Confirm to estimate and run it anyway.")
        confirmed = st.checkbox("Estimate and run on the CPU anyway", key=f"{page}.cpu_confirm")
    auto_key = f"{page}.auto_stopped"
    est = guarded("Cost estimate", _estimate, exp, ms, spec, steps) if confirmed else None
    auto = (est is not None and est.seconds <= AUTO_SECONDS and not heavy
            and not st.session_state.get(auto_key))
    b1, b2 = st.columns([3, 1])
    if est is not None:
        b1.markdown(jobs.cost_line(Estimate(est.seconds, est.passes, what)))
    should_stop = jobs.stop_button(f"{page}_prepare", b2)
    clicked = b1.button(f"Run: {what}", key=f"{page}.prepare", type="primary", disabled=not confirmed)
    if not (auto or clicked):
        if ms.n < n_min:
            st.info(f"This page needs at least {n_min} minima: press **Run** above (or train them on "
                    "the *Minima* page).")
            st.stop()
        return ms, (ref if ref is not None and calls.fitted(ref, root) else None)
    jobs.start_job(f"{page}_prepare")
    if "train" in steps:
        done = guarded("Training", minima.train_missing, exp, f"{page}_prepare", should_stop, stop=False)
        if done is None or should_stop():
            st.session_state[auto_key] = True               # a stopped auto-run does not restart
            st.stop()
    ms = minima.minima_set(exp, uploads)
    if "center" in steps and ms.n >= 2:
        ref = CenterRef(feet if feet is not None else ms.keys, spec)
        if calls.fitted(ref, root) is None:
            c = guarded("Center finding", calls.fit_center, ref, f"{page}_prepare", should_stop,
                        stop=False)
            if c is None:
                st.session_state[auto_key] = True
                st.stop()
    st.rerun()
