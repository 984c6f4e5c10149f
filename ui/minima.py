"""The minima of a selection: trained seeds and uploaded checkpoints, each named by its cache key.

A selection's minima are its seeds' minima found in the disk cache plus the uploads the
selection carries (content-hash keys, also in the URL, so a reload or a shared link keeps them).
The disk cache is the source of truth; nothing here keeps tensors between reruns except the
read-only loaded minima in ``st.cache_resource``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
import torch

import landscape_core as lc
from landscape_core import figures
from landscape_core.cache import DiskCache, default_root
from landscape_core.keylayout import mapping_text
from landscape_core.refs import load_minimum
from landscape_core.training import minimum_key, store_minimum

from .errors import plain
from .jobs import StageProgress, executor, start_job


def cache_root() -> str:
    """The cache folder of this server (``$LANDSCAPE_CACHE_DIR`` or ./cache), absolute."""
    return str(default_root().resolve())


@st.cache_resource(max_entries=64, show_spinner=False)
def _load(key: str, root: str):
    return load_minimum(key, DiskCache(root))


def minimum(key: str, root: str):
    """The minimum stored under ``key`` in the cache at ``root``, or None."""
    if not DiskCache(root).path("minimum", key).exists():
        return None
    m = _load(key, root)
    if m is None:
        _load.clear()
    return m


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


@dataclass(frozen=True)
class MinimaSet:
    """The minima available for a selection: keys, display names and summaries (no tensors)."""
    keys: tuple
    names: tuple
    rows: tuple
    missing_seeds: tuple

    @property
    def n(self) -> int:
        return len(self.keys)

    def name_of(self) -> dict:
        return dict(zip(self.keys, self.names))

    def colors(self) -> list:
        return [figures.minimum_color(i) for i in range(self.n)]

    def frame(self) -> pd.DataFrame:
        cols = {"name": "θ", "source": "source", "train_loss": "train loss", "train_acc": "train acc",
                "test_loss": "test loss", "test_acc": "test acc", "epochs": "epochs",
                "wall_time_s": "time (s)", "key": "cache key"}
        return pd.DataFrame([{v: r.get(k) for k, v in cols.items()} for r in self.rows])


def minima_set(exp: lc.Experiment, uploads: Sequence[str] = (), root: str | None = None) -> MinimaSet:
    """Minima of ``exp`` in the cache (one per seed) plus the uploaded ones of this experiment."""
    root = root or cache_root()
    found, missing = [], []
    for seed in exp.seed_list:
        m = minimum(minimum_key(exp.model, exp.data, exp.train, seed), root)
        (found.append(m) if m is not None else missing.append(seed))
    for key in uploads:
        m = minimum(key, root)
        if m is not None and m.model == exp.model and m.data.key_dict() == exp.data.key_dict() \
                and m.key not in {f.key for f in found}:
            found.append(m)
    names, rows = [], []
    for i, m in enumerate(found):
        names.append(f"θ{_sub(i + 1)} ({m.name})")
        rows.append({**m.summary(), "name": names[-1],
                     "source": "trained" if m.train is not None else "uploaded",
                     "epochs": m.epochs if m.train is not None else None,
                     "wall_time_s": m.wall_time if m.train is not None else None})
    return MinimaSet(tuple(m.key for m in found), tuple(names), tuple(rows), tuple(missing))


def thetas(keys: Sequence[str], root: str) -> torch.Tensor:
    """(K, D) stack of the minima's flat parameters."""
    ms = [minimum(k, root) for k in keys]
    if any(m is None for m in ms):
        raise ValueError("A selected minimum is no longer in the cache; reload the page.")
    return torch.stack([m.theta for m in ms])


def train_missing(exp: lc.Experiment, page: str, should_stop: Callable[[], bool]) -> int:
    """Train the selection's missing minima one seed at a time, with progress.

    The core trains each seed under a file lock, so two sessions asking for the same minimum
    train it once (the second waits, then loads it from the cache). Returns the number trained.
    """
    seeds = list(minima_set(exp).missing_seeds)
    if not seeds:
        return 0
    start_job(page)
    cache = DiskCache(cache_root())
    ex = executor()
    if ex is not None:                          # all seeds as parallel units, one progress bar
        bar = StageProgress([f"{len(seeds)} minima on {ex.describe()}"])
        lc.train_minima(exp.model, exp.data, exp.train, seeds=seeds, cache=cache, executor=ex,
                        progress=bar.stage(0), should_stop=should_stop)
        bar.done(f"trained {len(seeds)} minima; stored in the cache")
        return len(seeds)
    bar = StageProgress([f"minimum {k + 1}/{len(seeds)} (seed {s})" for k, s in enumerate(seeds)])
    for i, seed in enumerate(seeds):
        stage = bar.stage(i)
        lc.train_minima(exp.model, exp.data, exp.train, seeds=[seed], cache=cache,
                        progress=lambda f, msg: stage(f, msg.split(": ", 1)[-1]),
                        should_stop=should_stop)
    bar.done(f"trained {len(seeds)} minima; stored in the cache")
    return len(seeds)


def read_uploads(exp: lc.Experiment, files) -> list[str]:
    """Read uploaded checkpoints for the selected architecture; return the keys of those accepted.

    Checkpoints are identified by the content hash of their weights, so the same weights are
    one minimum however they arrive. Hostile or mismatched files are refused with a message;
    a minimum whose loss is not finite is never stored.
    """
    refused = st.session_state.setdefault("uploads_refused", {})
    done = st.session_state.setdefault("uploads_done", {})
    keys = []
    for f in files or []:
        fid = getattr(f, "file_id", None) or f.name
        name = plain(f.name)
        if fid in refused:
            st.error(refused[fid])
            continue
        if fid in done:
            keys.append(done[fid])
            continue
        try:
            m = lc.minimum_from_checkpoint(f.getvalue(), exp.model, exp.data,
                                           label=Path(f.name).stem[:24])
            if not np.isfinite(m.train_loss):
                raise lc.CheckpointError(f"its train loss on the selected data is {m.train_loss}; "
                                         "a minimum must have a finite loss.")
        except (lc.CheckpointError, ValueError, TypeError) as exc:
            refused[fid] = f"**Checkpoint refused: {name}.** {plain(exc)}"
            st.error(refused[fid])
            continue
        store_minimum(m, DiskCache(cache_root()))
        done[fid] = m.key
        keys.append(m.key)
        st.success(f"Loaded {name}: train loss {m.train_loss:.4g}"
                   + ("" if m.train_acc is None else f", train accuracy {m.train_acc:.2%}")
                   + f" (minimum {m.key[:8]}…, identified by its weights)."
                   + (f" Tensors matched by order and shape: {plain(mapping_text(m.renamed))}."
                      if getattr(m, "renamed", None) else ""))
    return keys


@st.cache_data(max_entries=32, show_spinner="Computing pairwise distances…")
def distance_matrix(keys: tuple, root: str) -> np.ndarray:
    """(K, K) Euclidean distances between the minima (float64)."""
    th = thetas(keys, root).double()
    return torch.cdist(th, th).numpy()
