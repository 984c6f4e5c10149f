"""The dashboard's one shared Streamlit module: selection widgets, cached core calls, progress,
stop buttons, downloads and error display.

Pages call this module and ``landscape_core.figures``; they never import torch or touch
parameter vectors. Everything heavy is identified by hashable specs and cache keys:

- the disk cache of the core (``landscape_core.cache.DiskCache``) is the source of truth: minima
  and centers are written there as they finish, so a reload or a second tab finds them;
- ``st.cache_data`` memoises derived numpy results keyed by specs and minimum keys (Streamlit
  locks per key, so two sessions asking for the same result compute it once);
- ``st.cache_resource`` holds shared read-only objects (evaluators with a lock, loaded minima).

Session-state keys: ``sel.<field>`` (the experiment selection, copied to and from the URL
query parameters), ``exp.<field>`` (its widgets), ``uploaded_keys`` (checkpoints uploaded in
this session), ``center.<experiment id>`` (the last center: spec and feet keys) and
``<page>.<name>`` for page widgets.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
import torch

import landscape_core as lc
from landscape_core import figures
from landscape_core.cache import DiskCache, default_root, make_key
from landscape_core.config import ACTIVATIONS, ARCHS, DATASETS, spec_json
from landscape_core.data import dataset_shape
from landscape_core.evaluate import per_sample_loss, resolve_device
from landscape_core.training import minimum_from_entry, minimum_key, store_minimum

log = logging.getLogger("landscape_explorer.ui")
MAX_PARAMS = {"cpu": 30_000_000, "cuda": 400_000_000}
MAX_GRID_POINTS = 40_000
PRESET_NOTES = {
    "digits-mlp": "Embedded default: scikit-learn digits, MLP 64-64-10; every page answers in seconds on a CPU.",
    "tiny": "Test/teaching preset: 400 digits, one hidden layer of 16; seconds end to end.",
    "teacher-student": "The paper's Section 3 student (Fig. 3): d = M = 4, squared loss, no output weights.",
    "linear-net": "Deep linear network of Section 4 (Fig. 4): L = 2, d = m.",
    "mnist-fnn": "The paper's FNN 784-500-300-10 on MNIST (Tables 1-2). Minutes per minimum on a CPU.",
    "fashion-mlp": "Fashion-MNIST subset, MLP 256-256.",
    "cifar-vgg16": "CIFAR-10 VGG16 with BatchNorm (Table 1): for a GPU.",
    "cifar-resnet18": "CIFAR-10 ResNet18 with BatchNorm (Table 2): for a GPU.",
}
SWEEP_FIELDS = ("model.width", "model.depth", "model.activation", "model.init_scale",
                "train.weight_decay", "train.lr", "train.epochs", "train.batch_size", "data.n_train")


# ------------------------------------------------------------------------ optional modules, errors
def optional(name: str):
    """``landscape_core.<name>`` or None when it is absent or does not import yet."""
    try:
        return importlib.import_module(f"landscape_core.{name}")
    except Exception as exc:  # a module still being written may fail in any way
        log.warning("landscape_core.%s is not available: %s", name, exc)
        return None


def require(name: str, feature: str):
    """The module, or an info box saying the feature is being installed (and stop the page)."""
    mod = optional(name)
    if mod is None:
        st.info(f"**{feature}** is being installed: the module `landscape_core.{name}` is not "
                "available yet. The rest of the dashboard works; reload this page later.")
        st.stop()
    return mod


def run_core(what: str, fn: Callable, *args, stop: bool = True, **kwargs):
    """Call ``fn``; turn the core's known errors into a message instead of a traceback.

    With ``stop=True`` the page stops after the message; otherwise None is returned and the
    page goes on. Results finished before an error are already in the disk cache.
    """
    try:
        return fn(*args, **kwargs)
    except lc.TrainingStopped as exc:
        st.warning(f"{what} stopped: {exc}. Everything finished before the stop is kept in the cache.")
    except lc.DataNotFoundError as exc:
        st.error(f"**{what}: dataset not found.**\n\n{exc}")
    except lc.CheckpointError as exc:
        st.error(f"**Checkpoint refused.** {exc}")
    except lc.TrainingDivergedError as exc:
        st.error(f"**{what}: training diverged.** {exc}")
    except (ValueError, TypeError) as exc:
        st.error(f"**{what}: invalid input.** {exc}")
    except MemoryError:
        st.error(f"**{what}: out of memory.** Use a smaller model, fewer points or a coarser grid.")
    except RuntimeError as exc:
        text = str(exc)
        if "out of memory" not in text and "diverged" not in text:
            raise
        st.error(f"**{what} failed.** {text.splitlines()[0][:400]}")
    log.info("%s failed; see the message on the page", what)
    if stop:
        st.stop()
    return None


# ---------------------------------------------------------------------- experiment selection
def _flat(exp: lc.Experiment, preset_name: str) -> dict:
    """The experiment as the plain values shown in the sidebar widgets."""
    return {"preset": preset_name, "data.name": exp.data.name, "data.n_train": exp.data.n_train or 0,
            "model.arch": exp.model.arch, "model.width": exp.model.width, "model.depth": exp.model.depth,
            "model.hidden": ",".join(str(h) for h in exp.model.hidden or ()),
            "model.activation": exp.model.activation, "model.init_scale": float(exp.model.init_scale),
            "n_minima": exp.n_minima, "seeds": ",".join(str(s) for s in exp.seeds or ()),
            "train.optimizer": exp.train.optimizer, "train.lr": float(exp.train.lr),
            "train.epochs": exp.train.epochs, "train.batch_size": exp.train.batch_size,
            "train.weight_decay": float(exp.train.weight_decay)}


QUERY_NAMES = {"preset": "preset", "data.name": "data", "data.n_train": "n_train", "model.arch": "arch",
               "model.width": "width", "model.depth": "depth", "model.hidden": "hidden",
               "model.activation": "act", "model.init_scale": "init", "n_minima": "minima",
               "seeds": "seeds", "train.optimizer": "opt", "train.lr": "lr", "train.epochs": "epochs",
               "train.batch_size": "bs", "train.weight_decay": "wd"}


def _int_list(text: str, what: str) -> tuple:
    try:
        return tuple(int(v) for v in str(text).replace(" ", "").split(",") if v != "")
    except ValueError:
        raise ValueError(f"The '{what}' setting must be a comma-separated list of integers. "
                         f"Got {text!r} instead.") from None


def experiment_from(sel: dict) -> lc.Experiment:
    """Build (and so validate) the Experiment described by the sidebar values."""
    base = lc.preset(sel["preset"])
    data = dataclasses.replace(base.data, name=sel["data.name"], n_train=int(sel["data.n_train"]) or None)
    shape, n_out, _ = dataset_shape(data)
    hidden = _int_list(sel["model.hidden"], "hidden sizes") or None
    model = dataclasses.replace(
        base.model, arch=sel["model.arch"], width=int(sel["model.width"]), depth=int(sel["model.depth"]),
        hidden=hidden if sel["model.arch"] == "mlp" else None, activation=sel["model.activation"],
        init_scale=float(sel["model.init_scale"]), input_shape=shape, n_outputs=n_out)
    train = dataclasses.replace(
        base.train, optimizer=sel["train.optimizer"], lr=float(sel["train.lr"]),
        epochs=int(sel["train.epochs"]), batch_size=int(sel["train.batch_size"]),
        weight_decay=float(sel["train.weight_decay"]))
    seeds = _int_list(sel["seeds"], "seeds") or None
    return lc.Experiment(data, model, train, n_minima=int(sel["n_minima"]), seeds=seeds)


def _load_preset(name: str) -> None:
    for k, v in _flat(lc.preset(name), name).items():
        st.session_state[f"sel.{k}"] = v


def _init_selection() -> None:
    """First run of a session: the preset from the URL (or the default), then URL overrides."""
    ss = st.session_state
    if ss.get("sel._ready"):
        return
    qp = st.query_params.to_dict()
    name = qp.get("preset") or ss.get("sel.preset") or lc.DEFAULT_PRESET
    if name not in lc.PRESETS:
        st.warning(f"Unknown preset {name!r} in the link; using {lc.DEFAULT_PRESET!r}.")
        name = lc.DEFAULT_PRESET
    _load_preset(name)
    defaults = _flat(lc.preset(name), name)
    for field, q in QUERY_NAMES.items():
        if q in qp and field != "preset":
            kind = type(defaults[field])
            try:
                ss[f"sel.{field}"] = kind(float(qp[q])) if kind is int else kind(qp[q])
            except ValueError:
                st.warning(f"Ignored the link's {q}={qp[q]!r}: expected a {kind.__name__}.")
    ss["sel._ready"] = True


def _sync_query_params() -> None:
    """Write the selection to the URL (only fields that differ from the preset)."""
    sel = {k: st.session_state[f"sel.{k}"] for k in QUERY_NAMES}
    base = _flat(lc.preset(sel["preset"]), sel["preset"])
    want = {"preset": sel["preset"]}
    want.update({QUERY_NAMES[k]: str(v) for k, v in sel.items() if k != "preset" and v != base[k]})
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)


def _widget(container, fn, field: str, label: str, on_change=None, **kw):
    """A sidebar widget bound to ``sel.<field>``, which survives page changes."""
    wkey, skey = f"exp.{field}", f"sel.{field}"
    st.session_state[wkey] = st.session_state[skey]

    def store():
        st.session_state[skey] = st.session_state[wkey]
        if on_change is not None:
            on_change()
    return getattr(container, fn)(label, key=wkey, on_change=store, **kw)


def experiment_sidebar() -> lc.Experiment:
    """Render the experiment selection in the sidebar and return the Experiment it describes."""
    configure_threads()
    _init_selection()
    sb = st.sidebar
    sb.header("Experiment")
    _widget(sb, "selectbox", "preset", "Preset", options=list(lc.PRESETS),
            on_change=lambda: _load_preset(st.session_state["sel.preset"]),
            help="Named settings; changing the preset resets the fields below.")
    sb.caption(PRESET_NOTES.get(st.session_state["sel.preset"], ""))
    with sb.expander("Data and model"):
        _widget(st, "selectbox", "data.name", "Dataset", options=list(DATASETS))
        _widget(st, "number_input", "data.n_train", "Training examples (0 = all)", min_value=0, step=100)
        _widget(st, "selectbox", "model.arch", "Architecture", options=list(ARCHS))
        _widget(st, "number_input", "model.width", "Width (hidden units / channels)", min_value=1, step=8)
        _widget(st, "number_input", "model.depth", "Depth (hidden layers)", min_value=1, step=1)
        _widget(st, "text_input", "model.hidden", "MLP hidden sizes (e.g. 500,300; overrides width/depth)")
        _widget(st, "selectbox", "model.activation", "Activation", options=list(ACTIVATIONS))
        _widget(st, "number_input", "model.init_scale", "Init scale", min_value=1e-3, format="%.3f")
    with sb.expander("Minima and training"):
        _widget(st, "number_input", "n_minima", "Number of minima", min_value=1, max_value=50, step=1)
        _widget(st, "text_input", "seeds", "Seeds (comma list; blank = 0..n-1)")
        _widget(st, "selectbox", "train.optimizer", "Optimizer", options=["adam", "sgd"])
        _widget(st, "number_input", "train.lr", "Learning rate", min_value=1e-6, format="%.4g")
        _widget(st, "number_input", "train.epochs", "Epochs (at most)", min_value=1, step=5)
        _widget(st, "number_input", "train.batch_size", "Batch size", min_value=1, step=16)
        _widget(st, "number_input", "train.weight_decay", "Weight decay", min_value=0.0, format="%.4g")
    sel = {k: st.session_state[f"sel.{k}"] for k in QUERY_NAMES}
    _sync_query_params()
    exp = run_core("Experiment settings", experiment_from, sel)
    dim = run_core("Experiment settings", check_size, exp.model)
    sb.caption(f"D = {dim:,} trainable parameters · device: {device_label()} · "
               "the URL holds this selection: copy it to share the view.")
    return exp


def experiment_id(exp: lc.Experiment) -> str:
    return make_key("experiment", spec_json(exp))[:16]


# ------------------------------------------------------------------------------ device and cost
def configure_threads() -> int:
    """Use at most half the CPU cores for torch's intra-op threads (env LANDSCAPE_TORCH_THREADS).

    Sessions run in parallel threads of one server process, and on small shared machines
    OpenMP threads that spin against each other slow small models down by orders of magnitude
    (measured here: 0.5 ms vs 400 ms per MLP step with 1 vs 2 threads on a busy 2-core box).
    """
    want = os.environ.get("LANDSCAPE_TORCH_THREADS")
    n = int(want) if want and want.isdigit() and int(want) > 0 else max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def device_label() -> str:
    dev = resolve_device("auto")
    if dev.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(0)})"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


@st.cache_resource(show_spinner=False)
def _param_count(model: lc.ModelSpec) -> int:
    with torch.device("meta"):            # no memory is allocated, whatever the width
        return lc.count_parameters(lc.build_model(model, 0))


def check_size(model: lc.ModelSpec) -> int:
    """Trainable parameter count D; ValueError when too large for this device."""
    dim = _param_count(model)
    limit = MAX_PARAMS[resolve_device("auto").type]
    if dim > limit:
        raise ValueError(f"This model has {dim:,} trainable parameters; this dashboard allows at most "
                         f"{limit:,} on {device_label()}. Reduce the width, depth or hidden sizes.")
    return dim


@st.cache_data(max_entries=64, show_spinner="Timing a few training steps to estimate costs…")
def timing_probe(model: lc.ModelSpec, data: lc.DataSpec, batch_size: int = 64) -> dict:
    """Measured on this device: seconds per optimizer step at 1 and at ``batch_size`` examples
    (so a fixed per-step overhead plus a per-example cost), forward seconds per example, sizes."""
    check_size(model)
    ds = lc.load_dataset(data)
    dev = resolve_device("auto")
    net = lc.build_model(model, 0).to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-6)
    batch = max(2, min(batch_size, ds.n_train))

    def step_time(n: int, reps: int = 5) -> float:      # median of reps, after one warm-up step
        xb, yb = ds.X_train[:n].to(dev), ds.y_train[:n].to(dev)
        times = []
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            per_sample_loss(net(xb), yb, ds.loss).mean().backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return float(np.median(times[1:]))
    t1, tb = step_time(1), step_time(batch)
    per_example = max(tb - t1, 0.0) / (batch - 1)
    n_check = min(ds.n_train, 2000)                   # one full-set evaluation, as after each epoch
    t0 = time.perf_counter()
    lc.Evaluator(net, ds.X_train[:n_check], ds.y_train[:n_check], loss=ds.loss,
                 bn_policy="eval").evaluate(lc.flatten(net))
    fwd = (time.perf_counter() - t0) / n_check
    return {"overhead": max(t1 - per_example, 0.0), "per_example": per_example, "fwd": fwd,
            "n_train": ds.n_train, "n_test": ds.n_test}


def _seconds(s: float) -> str:
    """A duration for cost texts, with its own '≈' or '<': '< 1 s', '≈ 12 s', '≈ 3.5 min'."""
    if s < 0.5:
        return "< 1 s"
    if s < 90:
        return f"≈ {s:.0f} s"
    return "≈ " + (f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h")


def cost_text(what: str, passes: float, seconds: float) -> str:
    return (f"**Estimated cost** of {what}: ≈ {passes:.3g} example-passes (forward/backward), "
            f"{_seconds(seconds)} on {device_label()}. This is an *estimate* from a timing probe; "
            "other work on the machine slows it down.")


def training_cost(exp: lc.Experiment, n_to_train: int) -> tuple[float, float]:
    """(example-passes, seconds) for training ``n_to_train`` minima for all their epochs."""
    probe = timing_probe(exp.model, exp.data, exp.train.batch_size)
    n, bs = probe["n_train"], min(exp.train.batch_size, probe["n_train"])
    steps = exp.train.epochs * math.ceil(n / bs)
    checks = exp.train.target_train_acc is not None or exp.train.target_train_loss is not None
    per_minimum = (steps * (probe["overhead"] + bs * probe["per_example"])
                   + exp.train.epochs * n * probe["fwd"] * (1 if checks else 0)
                   + (n + probe["n_test"]) * probe["fwd"])
    return n_to_train * exp.train.epochs * n, 1.5 * n_to_train * per_minimum


def center_cost(exp: lc.Experiment, spec) -> tuple[float, float]:
    """(example-passes, seconds) of fitting one center: B_r * B_t points per minibatch step."""
    probe = timing_probe(exp.model, exp.data, spec.batch_size)
    bs = min(spec.batch_size, probe["n_train"])
    steps = spec.steps or spec.epochs * math.ceil(probe["n_train"] / bs)
    points = spec.n_t * spec.n_feet_per_step
    passes = steps * bs * points
    return passes, 1.5 * steps * (2 * probe["overhead"] + points * bs * probe["per_example"])


def eval_cost(exp: lc.Experiment, n_points: int) -> tuple[float, float]:
    """(example-passes, seconds) of evaluating ``n_points`` parameter vectors on train and test."""
    probe = timing_probe(exp.model, exp.data)
    passes = n_points * (probe["n_train"] + probe["n_test"])
    return passes, passes * probe["fwd"]


# ----------------------------------------------------------------------- progress and stopping
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


def stop_button(page: str, container=None) -> Callable[[], bool]:
    """A Stop button for this page; returns ``should_stop`` for the core's long functions.

    Clicking it sets a flag that ``should_stop`` reports; a click during a run also makes
    Streamlit interrupt the run at its next progress update. Finished results stay cached.
    """
    events = _stop_events()
    event = events.setdefault(f"{_session_id()}:{page}", threading.Event())

    def on_click():
        event.set()
        st.session_state[f"{page}.stopped"] = True
    (container or st).button("Stop", key=f"{page}.stop", on_click=on_click,
                             help="Stop the running computation; finished results are kept.")
    if st.session_state.pop(f"{page}.stopped", False):
        st.warning("Stopped. Everything finished before the stop is kept in the cache.")
    return event.is_set


def start_job(page: str) -> None:
    """Clear this page's stop flag before a new long run."""
    _stop_events().setdefault(f"{_session_id()}:{page}", threading.Event()).clear()


# ----------------------------------------------------------------------------------- minima
def cache_root() -> str:
    return str(default_root().resolve())


@st.cache_resource(max_entries=32, show_spinner=False)
def _load_minimum(key: str, root: str):
    entry = DiskCache(root).load("minimum", key)
    return None if entry is None else minimum_from_entry(entry)


def _minimum(key: str):
    root = cache_root()
    if not DiskCache(root).path("minimum", key).exists():
        return None
    m = _load_minimum(key, root)
    if m is None:
        _load_minimum.clear()
    return m


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


@dataclass(frozen=True)
class MinimaSet:
    """The minima available for an experiment: keys, display names and summaries (no tensors)."""
    keys: tuple
    names: tuple
    rows: tuple
    missing_seeds: tuple

    @property
    def n(self) -> int:
        return len(self.keys)

    def colors(self) -> list:
        return [figures.minimum_color(i) for i in range(self.n)]

    def frame(self) -> pd.DataFrame:
        cols = {"name": "θ", "source": "source", "train_loss": "train loss", "train_acc": "train acc",
                "test_loss": "test loss", "test_acc": "test acc", "epochs": "epochs",
                "wall_time_s": "time (s)", "key": "cache key"}
        return pd.DataFrame([{v: r.get(k) for k, v in cols.items()} for r in self.rows])


def minima_set(exp: lc.Experiment) -> MinimaSet:
    """Minima of ``exp`` found in the disk cache (one per seed) plus this session's uploads."""
    keys, missing, found = [], [], []
    for seed in exp.seed_list:
        key = minimum_key(exp.model, exp.data, exp.train, seed)
        m = _minimum(key)
        (found.append(m) if m is not None else missing.append(seed))
    for key in st.session_state.get("uploaded_keys", []):
        m = _minimum(key)
        if m is not None and m.model == exp.model and m.data.key_dict() == exp.data.key_dict():
            found.append(m)
    names, rows = [], []
    for i, m in enumerate(found):
        names.append(f"θ{_sub(i + 1)} ({m.name})")
        keys.append(m.key)
        rows.append({**m.summary(), "name": names[-1],
                     "source": "trained" if m.train is not None else "uploaded"})
    return MinimaSet(tuple(keys), tuple(names), tuple(rows), tuple(missing))


def thetas(keys: Sequence[str]) -> torch.Tensor:
    """(K, D) stack of the minima's flat parameters (for this module's cached functions)."""
    ms = [_minimum(k) for k in keys]
    if any(m is None for m in ms):
        raise ValueError("A selected minimum is no longer in the cache; reload the page.")
    return torch.stack([m.theta for m in ms])


def train_minima(exp: lc.Experiment, page: str, should_stop: Callable[[], bool]) -> int:
    """Train the experiment's missing minima one seed at a time, with progress.

    The core trains each seed under a file lock, so two sessions asking for the same minimum
    train it once (the second waits, then loads it from the cache). Returns the number trained.
    """
    ms = minima_set(exp)
    seeds = list(ms.missing_seeds)
    if not seeds:
        return 0
    start_job(page)
    bar = StageProgress([f"minimum {k + 1}/{len(seeds)} (seed {s})" for k, s in enumerate(seeds)])
    cache = DiskCache(cache_root())
    for i, seed in enumerate(seeds):
        stage = bar.stage(i)
        lc.train_minima(exp.model, exp.data, exp.train, seeds=[seed], cache=cache,
                        progress=lambda f, msg: stage(f, msg.split(": ", 1)[-1]),
                        should_stop=should_stop)
    bar.done(f"trained {len(seeds)} minima; stored in the cache")
    return len(seeds)


def add_uploads(exp: lc.Experiment, files) -> None:
    """Read uploaded checkpoints for the selected architecture; refuse hostile/mismatched files.

    Each file is read once; a refused file's message stays on the page while it is uploaded.
    """
    refused = st.session_state.setdefault("uploads_refused", {})
    for f in files or []:
        fid = getattr(f, "file_id", None) or f.name
        if fid in refused:
            st.error(refused[fid])
            continue
        if fid in st.session_state.setdefault("uploads_done", set()):
            continue
        try:
            m = lc.minimum_from_checkpoint(f.getvalue(), exp.model, exp.data,
                                           label=Path(f.name).stem[:24])
        except (lc.CheckpointError, ValueError, TypeError) as exc:
            refused[fid] = f"**Checkpoint refused: {f.name}.** {exc}"
            st.error(refused[fid])
            continue
        st.session_state["uploads_done"].add(fid)
        store_minimum(m, DiskCache(cache_root()))
        keys = st.session_state.setdefault("uploaded_keys", [])
        if m.key not in keys:
            keys.append(m.key)
        st.success(f"Loaded {f.name}: train loss {m.train_loss:.4g}"
                   + ("" if m.train_acc is None else f", train accuracy {m.train_acc:.2%}"))


@st.cache_data(max_entries=32, show_spinner="Computing pairwise distances…")
def distance_matrix(keys: tuple, root: str) -> np.ndarray:
    """(K, K) Euclidean distances between the minima (float64)."""
    th = thetas(keys).double()
    return torch.cdist(th, th).numpy()


# ------------------------------------------------------------------------------- evaluators
@st.cache_resource(max_entries=8, show_spinner="Preparing the evaluator…")
def _evaluators(model: lc.ModelSpec, data: lc.DataSpec):
    """(train evaluator, test evaluator, lock); shared read-only, used under the lock."""
    ds = lc.load_dataset(data)
    net = lc.build_model(model, 0)
    tr = lc.Evaluator(net, ds.X_train, ds.y_train, loss=ds.loss, bn_policy="recompute")
    te = lc.Evaluator(net, ds.X_test, ds.y_test, loss=ds.loss, bn_policy="recompute",
                      bn_data=ds.X_train)
    return tr, te, threading.Lock()


@contextlib.contextmanager
def evaluators(model: lc.ModelSpec, data: lc.DataSpec):
    tr, te, lock = _evaluators(model, data)
    with lock:
        yield tr, te


# ---------------------------------------------------------------------------------- centers
@st.cache_resource(show_spinner=False)
def _center_store() -> dict:
    return {}


def _center_id(spec, feet_keys: Sequence[str]) -> str:
    return make_key("center-ref", {"spec": spec_json(spec), "feet": sorted(feet_keys)})


def get_center(spec, feet_keys: Sequence[str]):
    """The fitted center for (spec, feet): from this process, else from the disk cache, else None."""
    store = _center_store()
    cid = _center_id(spec, feet_keys)
    if cid in store:
        return store[cid]
    center_mod = optional("center")
    feet = [_minimum(k) for k in feet_keys]
    if center_mod is None or any(m is None for m in feet):
        return None
    if not DiskCache(cache_root()).path("center", center_mod.center_key(feet, spec)).exists():
        return None
    _remember_center(cid, center_mod.center_for_minima(feet, spec, cache=DiskCache(cache_root())))
    return store[cid]


def _remember_center(cid: str, center, keep: int = 16) -> None:
    """Keep a fitted center in this process (the most recent ``keep`` ones)."""
    store = _center_store()
    store.pop(cid, None)
    store[cid] = center
    while len(store) > keep:
        store.pop(next(iter(store)))


def center_spec_controls(page: str, **defaults):
    """Widgets for a CenterSpec (fast or paper recipe, with ``defaults``, plus the main knobs)."""
    center_mod = require("center", "Center finding")
    recipe = st.radio("Recipe", ["paper", "fast"], horizontal=True, key=f"{page}.c_recipe",
                      help="paper: random init, Adam 0.01 constant, B_r = 1, B_t = 3 (the paper runs "
                           "200 epochs; 100 here by default). fast: start at the mean of the feet, "
                           "Adam 1e-3 with cosine decay, 20 epochs.")
    if recipe == "paper":
        base = center_mod.CenterSpec.paper(**{"epochs": 100, **defaults})
    else:
        base = center_mod.CenterSpec.fast(**defaults)
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 10_000, base.epochs, key=f"{page}.c_epochs.{recipe}")
    lr = c2.number_input("Learning rate", 1e-6, 1.0, base.lr, format="%.4g", key=f"{page}.c_lr.{recipe}")
    lam = c3.number_input("λ (distance penalty)", 0.0, 1e3, base.lam, format="%.4g", key=f"{page}.c_lam",
                          help="λ > 0 pulls θ* towards the feet: shorter fold-lines, tighter NGD bound.")
    c4, c5, c6 = st.columns(3)
    n_t = c4.number_input("B_t (t samples per step)", 1, 64, base.n_t, key=f"{page}.c_nt")
    init = c5.selectbox("Init", ["mean", "random", "foot"], index=["mean", "random", "foot"].index(base.init),
                        key=f"{page}.c_init.{recipe}")
    seed = c6.number_input("Seed", 0, 10_000, base.seed, key=f"{page}.c_seed")
    return run_core("Center settings", dataclasses.replace, base, epochs=int(epochs), lr=float(lr),
                    lam=float(lam), n_t=int(n_t), init=init, seed=int(seed))


def fit_center(exp: lc.Experiment, feet_keys: Sequence[str], spec, page: str,
               should_stop: Callable[[], bool]):
    """Fit (or load) the center of ``feet_keys`` with a progress bar; remember it for the session."""
    center_mod = require("center", "Center finding")
    feet = [_minimum(k) for k in feet_keys]
    if len(feet) < 2 or any(m is None for m in feet):
        raise ValueError("Center finding needs at least two trained minima. Train them on the "
                         "Minima page first.")
    start_job(page)
    bar = StageProgress([f"fitting θ* to {len(feet)} feet"])
    c = center_mod.center_for_minima(feet, spec, cache=DiskCache(cache_root()),
                                     progress=bar.stage(0), should_stop=should_stop)
    if c.interrupted:
        st.warning("Center finding was stopped; the partial center is not stored.")
        return None
    bar.done(f"center fitted in {c.wall_time:.1f} s ({c.n_steps} steps); stored in the cache")
    _remember_center(_center_id(spec, feet_keys), c)
    st.session_state[f"center.{experiment_id(exp)}"] = {"spec": spec, "feet": tuple(feet_keys)}
    return c


def current_center(exp: lc.Experiment, ms: MinimaSet):
    """(spec, feet keys) of this session's center for ``exp``, else the newest cached one."""
    ref = st.session_state.get(f"center.{experiment_id(exp)}")
    if ref and set(ref["feet"]) <= set(ms.keys) and get_center(ref["spec"], ref["feet"]) is not None:
        return ref["spec"], tuple(ref["feet"])
    center_mod = optional("center")
    if center_mod is None:
        return None
    metas = sorted(_center_index(cache_root()), key=lambda m: -len(m.get("meta", {}).get("feet_keys", ())))
    for meta in metas:                   # the center with the most feet, newest first
        feet = tuple(meta.get("meta", {}).get("feet_keys", ()))
        if len(feet) >= 2 and set(feet) <= set(ms.keys):
            try:
                spec = center_mod.CenterSpec(**{k: v for k, v in meta["spec"].items() if k != "__type__"})
            except (TypeError, ValueError, KeyError):   # written by another version of the core
                continue
            st.session_state[f"center.{experiment_id(exp)}"] = {"spec": spec, "feet": feet}
            return spec, feet
    return None


def _center_index(root: str) -> list:
    """Metadata of every cached center, newest first (headers only, no tensors read)."""
    from safetensors import safe_open
    folder = Path(root) / "center"
    metas = []
    for p in folder.glob("*.safetensors") if folder.is_dir() else []:
        try:
            with safe_open(str(p), framework="np") as f:
                metas.append(json.loads((f.metadata() or {})["meta"]))
        except Exception:   # unreadable entries are the core's business (it moves them aside)
            continue
    return sorted(metas, key=lambda m: m.get("created", ""), reverse=True)


def center_history(spec, feet_keys: tuple) -> np.ndarray:
    c = get_center(spec, feet_keys)
    return np.asarray(c.history if c is not None else [], float)


# ------------------------------------------------------------------------- paths and the star
def _point(ref) -> torch.Tensor:
    """theta of a point reference: a minimum key, or ("center", spec, feet keys)."""
    if isinstance(ref, tuple) and ref and ref[0] == "center":
        c = get_center(ref[1], ref[2])
        if c is None:
            raise ValueError("The center is not available any more; fit it again on the Star page.")
        return c.theta
    return thetas([ref])[0]


@st.cache_data(max_entries=64, show_spinner="Evaluating the paths…")
def pair_paths(model: lc.ModelSpec, data: lc.DataSpec, key_i: str, key_j: str, center_ref,
               n_points: int, root: str) -> dict:
    """Segment θᵢ — θⱼ, and with a center the fold-line θᵢ → θ* → θⱼ and the NGD bound."""
    a, b = _point(key_i), _point(key_j)
    out = {"segment": None, "fold_line": None, "ngd": None}
    with evaluators(model, data) as (tr, te):
        out["segment"] = lc.linear_path(a, b, evaluator=tr, test_evaluator=te, n_points=n_points,
                                        label="direct segment")
        if center_ref is not None:
            c = get_center(*center_ref)
            out["fold_line"] = lc.fold_line_path(a, c.theta, b, evaluator=tr, test_evaluator=te,
                                                 n_points=max(2, n_points // 2 + 1),
                                                 label="fold-line through θ*")
            geo = optional("geodesic")
            if geo is not None:
                out["ngd"] = geo.ngd_upper_bound(a, c.theta, b)
    return out


@st.cache_data(max_entries=16, show_spinner="Evaluating every pair of minima…")
def _all_pairs(model: lc.ModelSpec, data: lc.DataSpec, keys: tuple, center_ref, n_points: int,
               root: str) -> dict:
    th = thetas(keys)
    c = get_center(*center_ref) if center_ref is not None else None
    out = {"direct": {}, "fold": {}}
    with evaluators(model, data) as (tr, te):
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                out["direct"][i, j] = lc.linear_path(th[i], th[j], evaluator=tr, test_evaluator=te,
                                                     n_points=n_points)
                if c is not None:
                    out["fold"][i, j] = lc.fold_line_path(th[i], c.theta, th[j], evaluator=tr,
                                                          test_evaluator=te,
                                                          n_points=max(2, n_points // 2 + 1))
    return out


def barrier_matrices(model: lc.ModelSpec, data: lc.DataSpec, keys: tuple, center_ref, n_points: int,
                     metric: str, split: str, root: str) -> dict:
    """(K, K) matrices of one barrier metric: ``direct`` segments and ``fold`` (None without θ*)."""
    profiles = _all_pairs(model, data, keys, center_ref, n_points, root)
    out = {}
    for kind, pairs in profiles.items():
        if not pairs:
            out[kind] = None
            continue
        mat = np.full((len(keys), len(keys)), np.nan)
        for (i, j), prof in pairs.items():
            bars = prof.barriers(split)
            if metric not in bars:
                raise ValueError(f"The barrier '{metric}' needs accuracies; this dataset is a "
                                 "regression task. Choose max_loss or barrier_height.")
            mat[i, j] = mat[j, i] = bars[metric]
        out[kind] = mat
    return out


@st.cache_data(max_entries=32, show_spinner="Evaluating the random-init segment…")
def init_segment(model: lc.ModelSpec, data: lc.DataSpec, n_points: int):
    """Segment between two random initialisations (seeds 0 and 1): a chart available cold."""
    a, b = (lc.flatten(lc.build_model(model, s)) for s in (0, 1))
    with evaluators(model, data) as (tr, te):
        return lc.linear_path(a, b, evaluator=tr, test_evaluator=te, n_points=n_points,
                              label="segment between two random inits")


@st.cache_data(max_entries=16, show_spinner="Evaluating segments, fold-lines and spokes…")
def star_report(model: lc.ModelSpec, data: lc.DataSpec, spec, feet_keys: tuple, held_keys: tuple,
                names: tuple, held_names: tuple, n_points: int, root: str):
    """The core's StarReport for feet (which fitted θ*) and held-out minima."""
    star = optional("star")
    if star is None:
        raise ValueError("The star report module (landscape_core.star) is being installed.")
    c = get_center(spec, feet_keys)
    if c is None:
        raise ValueError("No center for these feet yet: fit one first.")
    with evaluators(model, data) as (tr, te):
        return star.star_report(thetas(feet_keys), c, evaluator=tr, test_evaluator=te,
                                n_points=n_points, names=names,
                                held_out=thetas(held_keys) if held_keys else None,
                                held_out_names=held_names or None)


def barrier_table(report) -> pd.DataFrame:
    """The report's Table-1 style rows, numbers rounded to 4 significant digits."""
    frame = pd.DataFrame(report.table())
    num = frame.select_dtypes("number").columns.drop("n_paths", errors="ignore")
    frame[num] = frame[num].map(lambda v: float(f"{v:.4g}") if pd.notna(v) else v)
    return frame


def center_caption(center_ref) -> str:
    """One line naming the center in use: its feet and recipe."""
    if center_ref is None:
        return "No center θ* yet: fit one on the *Star* or *Paths and barriers* page."
    spec, feet = center_ref
    return (f"θ* = the center fitted to {len(feet)} feet (init {spec.init}, lr {spec.lr:g}, "
            f"{spec.steps or spec.epochs} {'steps' if spec.steps else 'epochs'}, λ = {spec.lam:g}).")


@st.cache_data(max_entries=16, show_spinner="Embedding the star in 2-D…")
def star_embedding(spec, feet_keys: tuple, held_keys: tuple, method: str, root: str) -> dict:
    """2-D coordinates of feet, held-out minima and θ* (last row) from exact pairwise distances.

    method "MDS": metric MDS (SMACOF) on the exact Euclidean distances, initialised by
    classical MDS; "PCA": classical MDS, i.e. the projection on the top two principal axes.
    The returned ``distortion`` is the largest relative error of an embedded distance.
    """
    from landscape_core.embedding import embed_2d
    c = get_center(spec, feet_keys)
    emb = embed_2d(torch.cat([thetas(feet_keys + held_keys), c.theta[None]]), method)
    return {"xy": emb.xy, "distortion": emb.distortion, "distances": emb.distances}


# ------------------------------------------------------------------------------------ slices
def point_refs(ms: MinimaSet, center_ref) -> dict:
    """Display name -> point reference for slice widgets (minima, then the center)."""
    refs = dict(zip(ms.names, ms.keys))
    if center_ref is not None:
        refs["center θ*"] = ("center", center_ref[0], center_ref[1])
    return refs


@st.cache_data(max_entries=16, show_spinner="Evaluating the loss on the plane…")
def plane_slice(model: lc.ModelSpec, data: lc.DataSpec, refs: tuple, names: tuple,
                overlay_refs: tuple, overlay_names: tuple, resolution: int, margin: float,
                root: str) -> dict:
    """Slice through three models, with other models projected onto the plane.

    Returns ``slice`` (Slice2D), ``points`` {name: (alpha, beta)}, ``off_plane`` {name: distance}.
    """
    if resolution ** 2 > MAX_GRID_POINTS:
        raise ValueError(f"The 'resolution' setting gives {resolution ** 2:,} grid points; the "
                         f"limit is {MAX_GRID_POINTS:,}. Use a resolution of at most "
                         f"{int(math.isqrt(MAX_GRID_POINTS))}.")
    a, b, c = (_point(r) for r in refs)
    extra = {n: _point(r) for n, r in zip(overlay_names, overlay_refs) if n not in names}
    with evaluators(model, data) as (tr, _):
        sl, plane = lc.three_model_slice(tr, a, b, c, resolution=resolution, margin=margin,
                                         names=names, extra_points=extra)
    pts = {**dict(zip(names, (a, b, c))), **extra}
    off = {n: float(plane.off_plane_distance(p)[0]) for n, p in pts.items()}
    return {"slice": sl, "points": dict(sl.anchors), "off_plane": off}


@st.cache_data(max_entries=16, show_spinner="Evaluating the loss on the random plane…")
def random_plane(model: lc.ModelSpec, data: lc.DataSpec, key: str, name: str, seed: int,
                 span: float, resolution: int, root: str) -> dict:
    """Li et al.'s filter-normalised random plane around one minimum, alpha, beta in [-span, span]."""
    if resolution ** 2 > MAX_GRID_POINTS:
        raise ValueError(f"The 'resolution' setting gives {resolution ** 2:,} grid points; the "
                         f"limit is {MAX_GRID_POINTS:,}.")
    theta = _point(key)
    u, v = lc.random_directions(lc.build_model(model, 0), theta, seed=seed)
    grid = np.linspace(-span, span, resolution)
    with evaluators(model, data) as (tr, _):
        sl = lc.plane_slice(tr, theta, u, v, grid, grid, kind="random (filter-normalised)",
                            anchors={name: (0.0, 0.0)})
    return {"slice": sl, "points": {name: (0.0, 0.0)}, "off_plane": {name: 0.0}}


def projected_paths(points: dict, minima_names: Sequence[str], center_name: str | None,
                    max_pairs: int = 6) -> dict:
    """Projected straight segments (and fold-lines through θ*) between minima shown on a slice.

    Projection onto a plane is affine, so a projected segment is the segment between the
    projected ends and a projected fold-line is the polyline through the projected θ*.
    """
    feet = [n for n in minima_names if n in points][:4]
    out = {}
    for k, (a, b) in enumerate((a, b) for i, a in enumerate(feet) for b in feet[i + 1:]):
        if k >= max_pairs:
            break
        out[f"segment {a} – {b}"] = np.array([points[a], points[b]], float)
        if center_name and center_name in points:
            out[f"fold-line {a} → θ* → {b}"] = np.array([points[a], points[center_name], points[b]], float)
    return out


def in_grid(slice2d, point) -> bool:
    a, b = point
    return bool(slice2d.alphas.min() <= a <= slice2d.alphas.max()
                and slice2d.betas.min() <= b <= slice2d.betas.max())


def default_epsilon(slice2d, p, q) -> float:
    """A loss level just above the one that joins p and q in the slice (5% margin)."""
    from landscape_core.geodesic import bottleneck_level
    return 1.05 * bottleneck_level(slice2d, p, q)


def slice_geodesic(slice2d, start, end, epsilon: float):
    geo = require("geodesic", "Slice geodesics")
    return run_core("Geodesic", geo.slice_geodesic, slice2d, start, end, epsilon=epsilon, stop=False)


# ------------------------------------------------------------------------------------- sweeps
def parse_values(exp: lc.Experiment, field: str, text: str) -> list:
    """Comma-separated sweep values cast to the type of ``field`` in ``exp``."""
    head, _, tail = field.partition(".")
    current = getattr(getattr(exp, head), tail)
    kind = type(current) if current is not None else int
    out = []
    for raw in (t.strip() for t in text.split(",") if t.strip()):
        try:
            out.append(kind(float(raw)) if kind is int else kind(raw))
        except ValueError:
            raise ValueError(f"The sweep value {raw!r} is not a valid {kind.__name__} for "
                             f"{field}.") from None
    if len(out) < 2:
        raise ValueError(f"A sweep needs at least two values of {field}. Got {out}.")
    for v in out:                      # validate every experiment before any training
        check_size(exp.replace(**{field: v}).model)
    return out


@st.cache_resource(show_spinner=False)
def _sweep_store() -> dict:
    return {}


def sweep_id(exp, field, values, spec, mode) -> str:
    return make_key("sweep-ref", {"exp": spec_json(exp), "field": field, "mode": mode,
                                  "values": [str(v) for v in values], "center": spec_json(spec)})


def stored_sweep(exp, field, values, spec, mode):
    """A sweep this process already ran for these settings, else None."""
    return _sweep_store().get(sweep_id(exp, field, values, spec, mode))


def sweep_cost(exp, field, values, spec, mode) -> tuple[float, float]:
    """Training plus center fitting for every value, ignoring what the cache already holds."""
    pairs = exp.n_minima * (exp.n_minima - 1) // 2
    passes = seconds = 0.0
    for v in values:
        e = exp.replace(**{field: v})
        p1, s1 = training_cost(e, e.n_minima)
        p2, s2 = center_cost(e, spec)
        n_centers = pairs if mode == "pair" else 1
        passes, seconds = passes + p1 + n_centers * p2, seconds + s1 + n_centers * s2
    return passes, seconds


def run_sweep(exp, field, values, spec, mode, page: str, should_stop: Callable[[], bool]):
    """Run (or load from the cache) a sweep with progress; results kept for the session."""
    sweeps = require("sweeps", "Sweeps")
    start_job(page)
    bar = StageProgress([f"sweep over {field}"])
    res = sweeps.sweep(exp, field, values, center_spec=spec, center_mode=mode,
                       cache=DiskCache(cache_root()), progress=bar.stage(0), should_stop=should_stop)
    bar.done("sweep finished; minima, centers and rows are in the cache")
    _sweep_store()[sweep_id(exp, field, values, spec, mode)] = res
    return res


# ------------------------------------------------------------------------------------- theory
@st.cache_data(max_entries=16, show_spinner="Monte Carlo over random minima…")
def connectivity_curves(M: int, ks: tuple, widths: tuple, trials: int, seed: int) -> dict:
    theory = importlib.import_module("landscape_core.theory")
    mc = {k: [theory.monte_carlo_connectivity(m, M, k, trials, seed) for m in widths] for k in ks}
    bounds = {k: [theory.bound_star(m, M, k) for m in widths] for k in ks}
    return {"mc": mc, "bounds": bounds}


@st.cache_data(max_entries=16, show_spinner="Best 2-piece NGD bounds of random minima…")
def toy_ngd_curves(M: int, widths: tuple, pairs: int, sparsity: float, seed: int) -> dict:
    """Mean/std over pairs of the best 2-piece NGD bound (Thm 12: uniform, Thm 14: sparse)."""
    theory = importlib.import_module("landscape_core.theory")
    rng = np.random.default_rng(seed)
    out = {}
    for label, r in (("uniform minima (Thm 12)", None), (f"sparse SP(M, {sparsity:g}) (Thm 14)", sparsity)):
        means, stds = [], []
        for m in widths:
            vals = [theory.best_two_piece_ngd(theory.sample_minimum(m, M, seed=rng, sparsity=r),
                                              theory.sample_minimum(m, M, seed=rng, sparsity=r), M).bound
                    for _ in range(pairs)]
            vals = np.asarray(vals, float)
            vals = vals[np.isfinite(vals)]
            means.append(float(vals.mean()) if vals.size else float("nan"))
            stds.append(float(vals.std()) if vals.size else float("nan"))
        out[label] = (means, stds)
    return out


def parse_int_list(text: str, what: str, lo: int = 1, hi: int = 100_000) -> list:
    """Comma-separated integers in [lo, hi], sorted and de-duplicated."""
    values = sorted(set(_int_list(text, what)))
    if not values or values[0] < lo or values[-1] > hi:
        raise ValueError(f"The '{what}' setting must hold integers in [{lo}, {hi}]. Got {text!r} instead.")
    return values


def student_experiment(width: int, epochs: int, optimizer: str = "adam", init_scale: float = 0.5,
                       lr: float = 3e-3) -> lc.Experiment:
    """The teacher-student preset with one minimum of the given width (Figure 3, right)."""
    exp = lc.preset("teacher-student").replace(**{
        "model.width": width, "train.epochs": epochs, "train.optimizer": optimizer,
        "train.lr": lr, "model.init_scale": init_scale, "n_minima": 1})
    check_size(exp.model)
    return exp


def student_norms(exp: lc.Experiment) -> np.ndarray | None:
    """Sorted neuron norms of the first trained minimum of ``exp`` (first-layer rows)."""
    ms = minima_set(exp)
    if not ms.n:
        return None
    theory = require("theory", "Theory")
    net = lc.build_model(exp.model, 0)
    W = next(v for v in lc.unflatten(thetas(ms.keys[:1])[0], net).values() if v.ndim == 2)
    return theory.neuron_norms(W.detach().numpy())


# ---------------------------------------------------------------------------------- reproduce
def reproduce_results() -> tuple[dict | None, str]:
    """Results of ``python -m landscape_core reproduce`` ({experiment: result}) and their folder."""
    rep = optional("reproduce")
    if rep is None:
        return None, ""
    folder = Path(getattr(rep, "DEFAULT_OUT", "results"))
    try:
        results = rep.load_results(folder)
    except Exception as exc:            # a damaged results folder must not break the page
        st.warning(f"Could not read the reproduction results in {folder}: {exc}")
        return None, ""
    return (results or None), str(folder.resolve())


def _find_table(results, name: str) -> dict:
    """A plain {setting: {metric: value}} table stored under a key like 'table1' in ``results``."""
    if not isinstance(results, dict):
        return {}
    for k, v in results.items():
        if str(k).lower().replace("_", "").replace(" ", "") == name and isinstance(v, dict) \
                and all(isinstance(m, dict) for m in v.values()):
            return {s: {mk: mv for mk, mv in m.items() if isinstance(mv, (int, float))}
                    for s, m in v.items()}
    return {}


def _experiments(results) -> list:
    """Result dicts of the reproduce command in ``results`` (one result, or {name: result})."""
    if not isinstance(results, dict):
        return []
    if "experiment" in results:
        return [results]
    return [r for r in results.values() if isinstance(r, dict) and "experiment" in r]


def reproduce_tables(results) -> tuple[dict, dict]:
    """Measured rows {setting: {source: {metric: value}}} for Tables 1 and 2.

    Reads the reproduce command's results (table1*: one row per center recipe; table2*: one
    row per lambda, the selected one marked) or a plain {"table1": {setting: {metric: v}}}.
    """
    t1, t2 = {}, {}
    for r in _experiments(results):
        name, column = r["experiment"], (r.get("paper_numbers") or {}).get("column", r["experiment"])
        body = r.get("results") or {}
        quick = " (quick test run)" if (r.get("settings") or {}).get("quick") else ""
        if name.startswith("table1"):
            for recipe, rec in (body.get("recipes") or {}).items():
                t1.setdefault(column, {})[f"measured, {recipe}{quick}"] = {
                    c["key"]: c["ours"] for c in rec.get("comparison", [])}
        elif name.startswith("table2"):
            chosen = (body.get("selected") or {}).get("lam")
            for row in body.get("tradeoff", []):
                mark = " (selected)" if row.get("lam") == chosen else ""
                t2.setdefault(column, {})[f"measured, λ = {row.get('lam'):g}{mark}{quick}"] = {
                    "ngd_upper_bound": row.get("ngd_upper_bound"),
                    "fold_min_acc": row.get("fold_min_acc")}
    for table, out in (("table1", t1), ("table2", t2)):
        for setting, metrics in _find_table(results, table).items():
            out.setdefault(setting, {})["measured (uploaded)"] = metrics
    return t1, t2


def other_experiments(results) -> list:
    """(name, result) of reproduced experiments other than the two tables (figures 3 and 4)."""
    return [(r["experiment"], r) for r in _experiments(results)
            if not r["experiment"].startswith(("table1", "table2"))]


def selection_tables(exp: lc.Experiment) -> tuple[dict, dict, str]:
    """Table-1 and Table-2 numbers of the sidebar's experiment with its current center, if any."""
    ms = minima_set(exp)
    ref = current_center(exp, ms) if ms.n >= 2 else None
    if ref is None:
        return {}, {}, ""
    spec, feet = ref
    names = tuple(ms.names[ms.keys.index(k)] for k in feet)
    report = run_core("Star report", star_report, exp.model, exp.data, spec, feet, (), names, (), 21,
                      cache_root(), stop=False)
    t1 = {}
    for row in report.table() if report is not None else []:
        prefix = {"direct segment": "segment", "fold-line": "fold"}.get(row["path"])
        if prefix:
            t1[f"{prefix}_max_loss"], t1[f"{prefix}_min_acc"] = row["max_loss"], row["min_acc"]
    pair = run_core("NGD", pair_paths, exp.model, exp.data, feet[0], feet[1], ref, 21, cache_root(),
                    stop=False)
    t2 = {}
    if pair is not None and pair["ngd"] is not None:
        t2 = {"ngd_upper_bound": pair["ngd"],
              "fold_min_acc": pair["fold_line"].barriers().get("min_acc")}
    label = (f"this selection ({st.session_state.get('sel.preset')}, {len(feet)} feet, "
             f"center λ = {spec.lam:g})")
    return t1, t2, label


def comparison_frame(paper_table: dict, measured: dict, row_labels: dict, here: dict,
                     here_label: str) -> pd.DataFrame:
    """One row per (setting, source): the paper's value, each measured source, this selection."""
    rows = []
    for setting in list(paper_table) + [s for s in measured if s not in paper_table]:
        sources = {"paper": paper_table[setting]} if setting in paper_table else {}
        for source, values in {**sources, **measured.get(setting, {})}.items():
            rows.append({"setting": setting, "source": source,
                         **{label: values.get(k) for k, label in row_labels.items()}})
    if here:
        rows.append({"setting": here_label, "source": "measured now",
                     **{label: here.get(k) for k, label in row_labels.items()}})
    return pd.DataFrame(rows)


def first_measured(measured: dict, settings: Sequence[str], key: str) -> list:
    """Per setting, the first measured value of ``key`` (None when not measured)."""
    return [next((v.get(key) for v in measured.get(s, {}).values() if v.get(key) is not None), None)
            for s in settings]


# ---------------------------------------------------------------------------------- rendering
def figure_png(fig) -> bytes:
    """PNG bytes through kaleido (needs a Chromium; errors propagate to the caller)."""
    return fig.to_image(format="png", width=1100, height=int(fig.layout.height or 500), scale=2)


def downloads(fig, name: str, key: str, data=None) -> None:
    """HTML / PNG / CSV / JSON download buttons for a figure and its data.

    ``data``: a DataFrame or list of records; default: every trace's points (``figure_data``).
    HTML, CSV and JSON are generated only when clicked; PNG is rendered on request.
    """
    records = data if data is not None else figures.figure_data(fig)
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("HTML (interactive)", lambda: fig.to_html(include_plotlyjs=True), f"{name}.html",
                       "text/html", key=f"{key}.html", on_click="ignore")
    c3.download_button("Data (CSV)", lambda: frame.to_csv(index=False), f"{name}.csv", "text/csv",
                       key=f"{key}.csv", on_click="ignore")
    c4.download_button("Data (JSON)", lambda: frame.to_json(orient="records", indent=1),
                       f"{name}.json", "application/json", key=f"{key}.json", on_click="ignore")
    if c2.button("PNG", key=f"{key}.png", help="Render a static PNG (takes a few seconds)."):
        try:
            png = figure_png(fig)
        except Exception as exc:   # kaleido/Chromium problems must not break the page
            st.warning(f"PNG export failed ({type(exc).__name__}: {str(exc)[:200]}). Use the HTML "
                       "download or the camera icon in the chart's toolbar instead.")
        else:
            c2.download_button("Save PNG", png, f"{name}.png", "image/png", key=f"{key}.png_dl",
                               on_click="ignore")


def chart(fig, name: str, key: str, *, caption: str = "", explain: str = "", data=None) -> None:
    """Show a figure with its caption, a teaching note and its download buttons."""
    st.plotly_chart(fig, key=f"{key}.chart")
    if caption:
        st.caption(caption)
    if explain:
        with st.expander("What am I looking at?"):
            st.markdown(explain)
    downloads(fig, name, key, data)


def cache_status() -> dict:
    """Number of cached entries per kind (minimum, center, ...)."""
    root = Path(cache_root())
    if not root.is_dir():
        return {}
    return {p.name: len(list(p.glob("*.safetensors"))) for p in sorted(root.iterdir()) if p.is_dir()}


_CACHE_NOUNS = {"minimum": ("minimum", "minima"), "center": ("center", "centers"),
                "reproduce": ("reproduction result", "reproduction results"),
                "sweep_point": ("sweep point", "sweep points")}
_CACHE_ORDER = ("minimum", "center", "sweep_point", "reproduce")


def cache_summary(status: dict) -> str:
    """'3 minima · 1 center' from ``cache_status()``; 'empty' when nothing is cached."""
    kinds = sorted(status, key=lambda k: (_CACHE_ORDER.index(k) if k in _CACHE_ORDER else 99, k))
    parts = []
    for kind in kinds:
        n = int(status[kind])
        if not n:
            continue
        one, many = _CACHE_NOUNS.get(kind, (kind.replace("_", " "), kind.replace("_", " ") + " entries"))
        parts.append(f"{n} {one if n == 1 else many}")
    return " · ".join(parts) or "empty"
