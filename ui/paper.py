"""The paper's theory and the reproduction's results, prepared for the Theory and
Paper-reproduction pages: cached theory curves, the student's neuron norms, result files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import landscape_core as lc
from landscape_core import cost

from .minima import minimum


# ------------------------------------------------------------------------------------- theory
@st.cache_data(max_entries=16, show_spinner="Monte Carlo over random minima…")
def connectivity_curves(M: int, ks: tuple, widths: tuple, trials: int, seed: int) -> dict:
    return lc.theory.connectivity_curves(M, ks, widths, trials, seed)


@st.cache_data(max_entries=16, show_spinner="Best 2-piece NGD bounds of random minima…")
def toy_ngd_curves(M: int, widths: tuple, pairs: int, sparsity: float, seed: int) -> dict:
    """{label: (means, stds)} of the best 2-piece NGD bound (Thm 12: uniform, Thm 14: sparse)."""
    curves = lc.theory.toy_ngd_curves(M, widths, pairs, sparsity, seed)
    return {label: (c["means"], c["stds"]) for label, c in curves.items()}


def parse_int_list(text: str, what: str, lo: int = 1, hi: int = 100_000) -> list:
    """Comma-separated integers in [lo, hi], sorted and de-duplicated."""
    try:
        values = sorted({int(v) for v in str(text).replace(" ", "").split(",") if v != ""})
    except ValueError:
        values = []
    if not values or values[0] < lo or values[-1] > hi:
        raise ValueError(f"The '{what}' setting must hold integers in [{lo}, {hi}]. "
                         f"Got {str(text)[:60]!r} instead.")
    return values


def student_experiment(width: int, epochs: int, optimizer: str = "adam", init_scale: float = 0.5,
                       lr: float = 3e-3) -> lc.Experiment:
    """The teacher-student preset with one minimum of the given width (Figure 3, right)."""
    exp = lc.preset("teacher-student").replace(**{
        "model.width": width, "train.epochs": epochs, "train.optimizer": optimizer,
        "train.lr": lr, "model.init_scale": init_scale, "n_minima": 1})
    cost.check_model(exp.model, "auto")
    return exp


def student_norms(exp: lc.Experiment, root: str) -> np.ndarray | None:
    """Sorted neuron norms of the experiment's first minimum (first-layer rows), if trained."""
    from landscape_core.training import minimum_key
    m = minimum(minimum_key(exp.model, exp.data, exp.train, exp.seed_list[0]), root)
    if m is None:
        return None
    W = next(v for v in lc.unflatten(m.theta, lc.build_model(exp.model, 0)).values() if v.ndim == 2)
    return lc.theory.neuron_norms(W.detach().numpy())


# ---------------------------------------------------------------------------------- reproduce
def reproduction_results(upload) -> tuple[dict, str]:
    """The reproduce command's results: an uploaded JSON (checked against the shape the command
    writes) or the files in ./results. Returns (results, where they came from)."""
    import json
    from landscape_core import reproduce
    if upload is not None:
        try:
            data = json.loads(upload.getvalue())
        except ValueError as exc:
            raise ValueError(f"The uploaded file is not valid JSON ({str(exc)[:120]}).") from None
        return reproduce.check_result(data), "an uploaded file"
    folder = Path(reproduce.DEFAULT_OUT)
    return reproduce.load_results(folder), str(folder.resolve())


def ngd_width_series(result: dict) -> tuple[list, dict, dict]:
    """(widths, {label: (means, stds)}, {label: (x, y) per pair}) of a Figure 3 / Figure 4 result
    written by the reproduce command (its ``ngd_vs_width`` rows per lambda)."""
    rows_by_lam = (result.get("results") or {}).get("ngd_vs_width") or {}
    widths = sorted({int(r["width"]) for rows in rows_by_lam.values() for r in rows})
    series, points = {}, {}
    for lam, rows in rows_by_lam.items():
        label = f"U(θ*), λ = {float(lam):g}"
        by_w = {int(r["width"]): r for r in rows}
        series[label] = ([by_w[w].get("ngd_bound_mean") if w in by_w else None for w in widths],
                         [by_w[w].get("ngd_bound_std") if w in by_w else None for w in widths])
        per = [(w, u) for w in widths if w in by_w
               for u in by_w[w].get("ngd_bound_per_pair") or by_w[w].get("ngd_bound_per_run") or []]
        points[label] = ([p[0] for p in per], [p[1] for p in per])
    return widths, series, points
