"""Long-running work in the dashboard: cost estimates before, progress and Stop during.

The estimates themselves come from ``landscape_core.cost`` (the CLI uses the same model);
this module caches the timing probe per server, renders estimates, and feeds the core's
``progress(fraction, message)`` callbacks into Streamlit progress bars.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Sequence

import streamlit as st

import landscape_core as lc
from landscape_core import cost
from landscape_core.cache import DiskCache, default_root
from landscape_core.evaluate import resolve_device


log = logging.getLogger("landscape_explorer.ui")
DASK_ENV = "LANDSCAPE_DASK_ADDRESS"        # a cluster named by whoever starts the server
EXECUTORS = {"serial": "this process", "local": "local worker processes (one per core)",
             **({"dask": f"the Dask cluster at {os.environ[DASK_ENV]}"} if os.environ.get(DASK_ENV) else {})}


@st.cache_resource(show_spinner="Starting the workers…")
def _executor(name: str):
    from landscape_core.executor import make_executor
    return make_executor(name, workers=os.cpu_count() or 1, address=os.environ.get(DASK_ENV))


def executor():
    """The executor the selection asks for (None: run in this process, as before)."""
    name = st.session_state.get("sel.executor", "serial")
    return None if name not in EXECUTORS or name == "serial" else _executor(name)
configure_threads = cost.configure_threads
device_label = cost.device_label


@st.cache_resource(show_spinner=False)
def model_size(model: lc.ModelSpec) -> int:
    """Trainable parameter count D; the core's pre-flight check refuses models too large here."""
    return cost.check_model(model, resolve_device("auto"))


def _probe(model: lc.ModelSpec, data: lc.DataSpec, batch_size: int):
    with st.spinner("Timing a few training steps to estimate costs…"):
        return cost.timing_probe(model, data, batch_size=max(2, int(batch_size)))


def estimate(task: str, exp: lc.Experiment, **kw) -> "cost.Estimate":
    """The core's estimate of ``task`` on ``exp``: training (n_minima), center (spec),
    evaluation (n_points), slice (resolution) or sweep (field, values, spec, mode)."""
    if task == "sweep":
        return cost.sweep_estimate(exp, kw["field"], kw["values"], kw["spec"], kw["mode"])
    if task == "center":
        return cost.center_estimate(_probe(exp.model, exp.data, kw["spec"].batch_size), kw["spec"])
    probe = _probe(exp.model, exp.data, exp.train.batch_size)
    if task == "training":                      # minima of this recipe that stopped early say how early
        seen = cost.epochs_seen(exp.model, exp.data, exp.train, DiskCache(default_root()))
        return cost.training_estimate(probe, exp.train, kw["n_minima"], expected_epochs=seen)
    if task == "evaluation":
        return cost.path_estimate(probe, kw["n_points"])
    if task == "slice":
        return cost.slice_estimate(probe, kw["resolution"])
    raise ValueError(f"Unknown task {task!r} for a cost estimate.")


def cost_line(est) -> str:
    """One Markdown line: the estimate and what it is."""
    return "**" + est.text().replace(":", ":**", 1)


class StageProgress:
    """An ``st.progress`` bar fed by the core's ``progress(fraction, message)`` callbacks.

    ``stage(i)`` returns the callback for stage i of n; the bar shows the overall fraction and
    "stage i/n · name: message". Updates are throttled to keep the websocket quiet.
    """

    def __init__(self, stages: Sequence[str]):
        self.stages = list(stages) or ["working"]
        self.bar = st.progress(0.0, text=f"starting: {self.stages[0]}")
        self._last = 0.0

    def stage(self, i: int) -> Callable[[float, str], None]:
        def update(fraction: float, message: str = "") -> None:
            now = time.monotonic()
            if now - self._last < 0.15 and fraction < 1.0:
                return
            self._last = now
            overall = (i + min(1.0, max(0.0, float(fraction)))) / len(self.stages)
            self.bar.progress(min(1.0, overall), text=f"stage {i + 1}/{len(self.stages)} · "
                                                      f"{self.stages[i]}: {message}")
        return update

    def done(self, message: str = "done") -> None:
        self.bar.progress(1.0, text=message)


@st.cache_resource(show_spinner=False)
def _stop_events() -> dict:
    return {}


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def session_alive() -> Callable[[], bool]:
    """A callable that turns False once this browser session is gone (tab closed, connection
    lost), so that work started for it stops instead of running on for nobody."""
    from streamlit import runtime
    if not runtime.exists():                       # bare mode (tests, scripts): always alive
        return lambda: True
    rt, sid = runtime.Runtime.instance(), _session_id()
    return lambda: rt.is_active_session(sid)


def stop_button(page: str, container=None, *, alive: Callable[[], bool] | None = None) -> Callable[[], bool]:
    """A Stop button for this page; returns ``should_stop`` for the core's long functions.

    ``should_stop`` is True once Stop was clicked or once this session has ended (the tab was
    closed): long work polls it and stops, keeping what it finished in the cache.
    """
    event = _stop_events().setdefault(f"{_session_id()}:{page}", threading.Event())
    alive = alive or session_alive()

    def on_click():
        event.set()
        st.session_state[f"{page}.stopped"] = True
    (container or st).button("Stop", key=f"{page}.stop", on_click=on_click,
                             help="Stop the running computation; finished results are kept.")
    if st.session_state.pop(f"{page}.stopped", False):
        st.warning("Stopped. Everything finished before the stop is kept in the cache.")
    said = []

    def should_stop() -> bool:
        if event.is_set():
            return True
        if alive():
            return False
        if not said:                                       # once: the server log says why
            said.append(True)
            log.warning("browser session %s ended: stopping its work on page %s", _session_id(), page)
        return True
    return should_stop


def start_job(page: str) -> None:
    """Clear this page's stop flag before a new long run."""
    _stop_events().setdefault(f"{_session_id()}:{page}", threading.Event()).clear()
