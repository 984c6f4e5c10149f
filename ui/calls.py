"""Cached calls into the core, keyed by references: minimum keys, ``CenterRef``s, cache roots.

Every function here answers one question about named things. None of them picks a center by
itself: a page passes the ``CenterRef`` it wants (the selection's recipe over the chosen feet),
and gets None back when that exact center has not been fitted yet. Fitting happens only in the
``fit_*`` functions, behind a button, with progress and Stop.
"""
from __future__ import annotations

import contextlib
import math
import threading
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
import torch

import landscape_core as lc
from landscape_core import cost, refs
from landscape_core.cache import DiskCache
from landscape_core.evaluate import evaluators_for
from landscape_core.ngd import ngd_tradeoff
from landscape_core.recipes import NGD_RECIPE, recipe_spec
from landscape_core.refs import CenterRef

from . import jobs
from .jobs import StageProgress, start_job
from .minima import cache_root, minimum, thetas

MAX_GRID_POINTS = 40_000


# ------------------------------------------------------------------------------- evaluators
@st.cache_resource(max_entries=8, show_spinner="Preparing the evaluator…")
def _evaluators(model: lc.ModelSpec, data: lc.DataSpec):
    """(train evaluator, test evaluator, lock); shared read-only, used under the lock."""
    tr, te = evaluators_for(lc.build_model(model, 0), lc.load_dataset(data))
    return tr, te, threading.Lock()


@contextlib.contextmanager
def evaluators(model: lc.ModelSpec, data: lc.DataSpec):
    tr, te, lock = _evaluators(model, data)
    with lock:
        yield tr, te


# ---------------------------------------------------------------------------------- centers
@st.cache_resource(max_entries=32, show_spinner=False)
def _center(ref: CenterRef, root: str):
    return refs.center(ref, DiskCache(root))


def center(ref: CenterRef | None, root: str):
    """The fitted center ``ref`` names, or None when it is not in the cache (never fitted here)."""
    if ref is None or not refs.center_is_cached(ref, DiskCache(root)):
        return None
    c = _center(ref, root)
    if c is None:
        _center.clear()
    return c


def fitted(ref: CenterRef | None, root: str) -> CenterRef | None:
    """``ref`` when its center is in the cache, else None (what cached calls should be passed)."""
    return ref if ref is not None and refs.center_is_cached(ref, DiskCache(root)) else None


def fit_center(ref: CenterRef, page: str, should_stop: Callable[[], bool]):
    """Fit (or load) the center ``ref`` names, with a progress bar; None if stopped."""
    start_job(page)
    bar = StageProgress([f"fitting θ* to {len(ref.feet)} feet"])
    c = refs.center(ref, DiskCache(cache_root()), fit=True, progress=bar.stage(0),
                    should_stop=should_stop)
    if c.interrupted:
        st.warning("Center finding was stopped; the partial center is not stored.")
        return None
    bar.done(f"center fitted in {c.wall_time:.1f} s ({c.n_steps} steps); stored in the cache")
    return c


def _theta(ref, root: str) -> torch.Tensor:
    if isinstance(ref, CenterRef):
        c = center(ref, root)
        if c is None:
            raise ValueError(f"The center ({ref.label()}) is not in the cache any more; fit it again.")
        return c.theta
    return thetas([ref], root)[0]


# ------------------------------------------------------------------------------------ paths
@st.cache_data(max_entries=64, show_spinner="Evaluating the paths…")
def pair_paths(model: lc.ModelSpec, data: lc.DataSpec, key_i: str, key_j: str,
               center_ref: CenterRef | None, n_points: int, root: str) -> dict:
    """Segment θᵢ — θⱼ and, with a fitted ``center_ref``, the fold-line θᵢ → θ* → θⱼ.

    Pass ``center_ref`` only once it is fitted (``fitted(ref, root)``): the result is memoised
    by its arguments, so a None here must not stand for "not fitted yet"."""
    a, b = _theta(key_i, root), _theta(key_j, root)
    c = center(center_ref, root)
    out = {"segment": None, "fold_line": None}
    with evaluators(model, data) as (tr, te):
        out["segment"] = lc.linear_path(a, b, evaluator=tr, test_evaluator=te, n_points=n_points,
                                        label="direct segment")
        if c is not None:
            out["fold_line"] = lc.fold_line_path(a, c.theta, b, evaluator=tr, test_evaluator=te,
                                                 n_points=n_points, label="fold-line through θ*")
    return out


@st.cache_data(max_entries=16, show_spinner="Evaluating every pair of minima…")
def _all_pairs(model: lc.ModelSpec, data: lc.DataSpec, keys: tuple, center_ref: CenterRef | None,
               n_points: int, root: str) -> dict:
    th = thetas(keys, root)
    c = center(center_ref, root)
    out = {"direct": {}, "fold": {}}
    with evaluators(model, data) as (tr, te):
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                out["direct"][i, j] = lc.linear_path(th[i], th[j], evaluator=tr, test_evaluator=te,
                                                     n_points=n_points)
                if c is not None:
                    out["fold"][i, j] = lc.fold_line_path(th[i], c.theta, th[j], evaluator=tr,
                                                          test_evaluator=te, n_points=n_points)
    return out


def barrier_matrices(model: lc.ModelSpec, data: lc.DataSpec, keys: tuple, center_ref: CenterRef | None,
                     n_points: int, metric: str, split: str, root: str) -> dict:
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


# -------------------------------------------------------------------------------------- NGD
def ngd_fitted_lams(key_i: str, key_j: str, lams: tuple, root: str) -> tuple:
    """The λ of ``lams`` whose NGD-recipe center of the pair is in the cache."""
    cache = DiskCache(root)
    return tuple(lam for lam in lams
                 if refs.center_is_cached(CenterRef((key_i, key_j), recipe_spec(NGD_RECIPE, lam=lam)), cache))


@st.cache_data(max_entries=32, show_spinner="Reading the NGD trade-off…")
def ngd_rows(model: lc.ModelSpec, data: lc.DataSpec, key_i: str, key_j: str, lams: tuple,
             n_points: int, root: str):
    """The pair's NGD-vs-λ trade-off over ``lams``, whose centers must be in the cache
    (``ngd_fitted_lams``); nothing is fitted here."""
    a, b = minimum(key_i, root), minimum(key_j, root)
    with evaluators(model, data) as (tr, _):
        return ngd_tradeoff(a, b, evaluator=tr, cache=DiskCache(root), lams=lams, n_points=n_points,
                            fit=False)


def fit_ngd(model: lc.ModelSpec, data: lc.DataSpec, key_i: str, key_j: str, lams: tuple,
            n_points: int, page: str, should_stop: Callable[[], bool]):
    """Fit the NGD recipe's centers of the pair at every λ (cached ones load), with progress."""
    root = cache_root()
    start_job(page)
    bar = StageProgress([f"NGD centers over λ ∈ {list(lams)}"])
    a, b = minimum(key_i, root), minimum(key_j, root)
    with evaluators(model, data) as (tr, _):
        res = ngd_tradeoff(a, b, evaluator=tr, cache=DiskCache(root), lams=lams, n_points=n_points,
                           progress=bar.stage(0), should_stop=should_stop)
    bar.done("NGD centers fitted; stored in the cache")
    ngd_rows.clear()
    return res


# ------------------------------------------------------------------------------------- star
@st.cache_data(max_entries=16, show_spinner="Evaluating segments, fold-lines and spokes…")
def star_report(model: lc.ModelSpec, data: lc.DataSpec, center_ref: CenterRef, held_keys: tuple,
                names: tuple, held_names: tuple, n_points: int, root: str):
    """The core's StarReport for the center's feet and held-out minima."""
    c = center(center_ref, root)
    if c is None:
        raise ValueError("No center for these feet and this recipe yet: fit it first.")
    with evaluators(model, data) as (tr, te):
        return lc.star_report(thetas(center_ref.feet, root), c, evaluator=tr, test_evaluator=te,
                              n_points=n_points, names=names,
                              held_out=thetas(held_keys, root) if held_keys else None,
                              held_out_names=held_names or None)


def barrier_table(report) -> pd.DataFrame:
    """The report's Table-1 style rows, numbers rounded to 4 significant digits."""
    frame = pd.DataFrame(report.table())
    num = frame.select_dtypes("number").columns.drop("n_paths", errors="ignore")
    frame[num] = frame[num].map(lambda v: (0.0 if abs(v) < 1e-12 else float(f"{v:.4g}"))
                                if pd.notna(v) else v)          # no 1e-16 round-off for people
    return frame


@st.cache_data(max_entries=16, show_spinner="Embedding the star in 2-D…")
def star_embedding(center_ref: CenterRef, held_keys: tuple, method: str, root: str) -> dict:
    """2-D coordinates of feet, held-out minima and θ* (last row) from exact pairwise distances."""
    from landscape_core.embedding import embed_2d
    c = center(center_ref, root)
    emb = embed_2d(torch.cat([thetas(center_ref.feet + held_keys, root), c.theta[None]]), method)
    return {"xy": emb.xy, "distortion": emb.distortion, "distances": emb.distances}


# ------------------------------------------------------------------------------------ slices
def _check_grid(resolution: int) -> None:
    if resolution ** 2 > MAX_GRID_POINTS:
        raise ValueError(f"The resolution {resolution} gives {resolution ** 2:,} grid points; the "
                         f"limit is {MAX_GRID_POINTS:,}. Use a resolution of at most "
                         f"{int(math.isqrt(MAX_GRID_POINTS))}.")


@st.cache_data(max_entries=16, show_spinner="Evaluating the loss on the plane…")
def plane_slice(model: lc.ModelSpec, data: lc.DataSpec, point_refs: tuple, names: tuple,
                overlay_refs: tuple, overlay_names: tuple, resolution: int, margin: float,
                root: str) -> dict:
    """Slice through three models, with other models projected onto the plane."""
    _check_grid(resolution)
    a, b, c = (_theta(r, root) for r in point_refs)
    extra = {n: _theta(r, root) for n, r in zip(overlay_names, overlay_refs) if n not in names}
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
    _check_grid(resolution)
    if not (math.isfinite(span) and span > 0):
        raise ValueError(f"The half-width of the square must be a positive number. Got {span}.")
    theta = _theta(key, root)
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


# ------------------------------------------------------------------------------------- sweeps
def parse_values(exp: lc.Experiment, field: str, text: str) -> list:
    """Comma-separated sweep values cast to the type of ``field`` in ``exp``; distinct, >= 2."""
    head, _, tail = field.partition(".")
    current = getattr(getattr(exp, head), tail)
    kind = type(current) if current is not None else int
    out = []
    for raw in (t.strip() for t in text.split(",") if t.strip()):
        try:
            out.append(kind(float(raw)) if kind is int else kind(raw))
        except ValueError:
            raise ValueError(f"The sweep value {raw[:40]!r} is not a valid {kind.__name__} for "
                             f"{field}.") from None
    if len(set(out)) != len(out):
        raise ValueError(f"The sweep values of {field} must be distinct. Got {out}.")
    if len(out) < 2:
        raise ValueError(f"A sweep needs at least two values of {field}. Got {out}.")
    for v in out:                      # validate every experiment before any training
        cost.check_model(exp.replace(**{field: v}).model, "auto")
    return out


@st.cache_resource(show_spinner=False)
def _sweep_store() -> dict:
    return {}


def stored_sweep(exp, field, values, spec, mode, align: str = "none"):
    """A sweep this server already ran for exactly these settings, else None."""
    return _sweep_store().get((lc.spec_json(exp), field, tuple(map(str, values)), spec, mode, align))


def run_sweep(exp, field, values, spec, mode, page: str, should_stop: Callable[[], bool],
              align: str = "none"):
    """Run (or load from the cache) a sweep with progress; results kept for this server."""
    start_job(page)
    bar = StageProgress([f"sweep over {field}" + ("" if align == "none" else f", {align} matching")])
    res = lc.sweep(exp, field, values, center_spec=spec, center_mode=mode, align=align,
                   cache=DiskCache(cache_root()), progress=bar.stage(0), should_stop=should_stop,
                   executor=jobs.executor())
    bar.done("sweep finished; minima, centers and rows are in the cache")
    _sweep_store()[(lc.spec_json(exp), field, tuple(map(str, values)), spec, mode, align)] = res
    return res


# ------------------------------------------------------------------------ modulo permutation
@st.cache_data(max_entries=16, show_spinner="Aligning the pair and evaluating its segments…")
def aligned_pair(model: lc.ModelSpec, data: lc.DataSpec, key_i: str, key_j: str, method: str,
                 n_points: int, root: str) -> dict:
    """Raw, aligned and aligned + REPAIR segments θᵢ — θⱼ (``permutation.pair_profiles``)."""
    from landscape_core.permutation import pair_profiles
    a, b = minimum(key_i, root), minimum(key_j, root)
    with evaluators(model, data) as (tr, te):
        return pair_profiles(a, b, method, DiskCache(root), evaluator=tr, test_evaluator=te,
                             n_points=n_points)


@st.cache_data(max_entries=8, show_spinner="Aligning the feet, fitting and comparing three centers…")
def star_comparison(model: lc.ModelSpec, data: lc.DataSpec, keys: tuple, method: str,
                    spec: lc.CenterSpec, n_points: int, root: str):
    """The paper's center on raw feet, the center of aligned feet and the average of aligned feet
    (``permutation.compare_star_centers``; centers are fitted once and cached)."""
    from landscape_core.permutation import compare_star_centers
    with evaluators(model, data) as (tr, te):
        return compare_star_centers([minimum(k, root) for k in keys], method, DiskCache(root), spec,
                                    evaluator=tr, test_evaluator=te, n_points=n_points)
