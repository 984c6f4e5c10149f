"""Sweeps: how NGD, distances and barriers change as one setting varies (width first of all).

For every value of the swept field (``model.width``, ``model.depth``, ``model.activation``,
``model.init_scale``, ``train.weight_decay``, ``model.dropout``, ``data.n_train``, ...), the
minima of the experiment are trained (or read from the cache), and for every pair of minima:
the Euclidean distance, the straight segment's profile, a center (one per pair with the
distance penalty, as in the paper's NGD runs, or one shared star center), the fold-line's
profile and the NGD upper bound U (Eq. 8). Each value's rows are one cache entry, so an
interrupted sweep resumes where it stopped and a finished value is never recomputed.

``align="weight"`` or ``"activation"`` runs the sweep modulo permutation: in "pair" mode the
second minimum of every pair is aligned to the first (``permutation.aligned_minimum``); in
"star" mode every foot is aligned to the first foot (``permutation.align_feet``, reference
mode) before the shared center is fitted. Aligned values are cached under their own keys; the
default "none" keeps every key and number as before.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validation import Int, Options, validate_params
from .cache import DiskCache, make_key
from .center import CenterSpec, center_for_minima
from .config import Experiment, spec_dict
from .cost import check_model, check_sweep
from .data import load_dataset
from .evaluate import evaluators_for
from .geodesic import ngd_upper_bound
from .models import build_model
from .paths import fold_line_path, linear_path
from .recipes import NGD_RECIPE, describe, recipe_spec
from .refs import N_POINTS
from .training import TrainingStopped, train_minima

Progress = Callable[[float, str], None]
METRICS = ("ngd_bound", "euclidean", "euclidean_per_sqrt_dim", "segment_max_loss", "fold_max_loss",
           "segment_min_acc", "fold_min_acc", "segment_barrier_height", "fold_barrier_height",
           "feet_train_loss", "feet_train_acc", "feet_test_acc")


@dataclass(frozen=True)
class SweepResult:
    """Rows (one per value and pair of minima) and their per-value summary."""
    field: str
    values: tuple
    rows: list
    meta: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """One dict per value: ``<metric>_mean``, ``<metric>_std`` across pairs, and ``n_pairs``."""
        out = []
        for v in self.values:
            rows = [r for r in self.rows if r["value"] == v]
            s = {"value": v, "n_pairs": len(rows), "dim": rows[0]["dim"] if rows else None}
            for m in METRICS:
                xs = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
                s[f"{m}_mean"] = float(xs.mean()) if xs.size else None
                s[f"{m}_std"] = float(xs.std()) if xs.size > 1 else (0.0 if xs.size else None)
            out.append(s)
        return out


def _pair_rows(exp: Experiment, minima, center_spec: CenterSpec, center_mode: str, n_points: int,
               cache: DiskCache, device, progress: Progress, align: str = "none") -> list[dict]:
    ev, _ = evaluators_for(build_model(exp.model), load_dataset(exp.data), device=device,
                           bn_policy=center_spec.bn_policy)
    pairs = list(itertools.combinations(range(len(minima)), 2))
    if align != "none" and center_mode == "star":
        from .permutation import align_feet
        minima = align_feet(minima, align, cache)
    star = center_for_minima(minima, center_spec, cache=cache, device=device) \
        if center_mode == "star" else None
    rows = []
    for k, (i, j) in enumerate(pairs):
        a, b = minima[i], minima[j]
        if align != "none" and center_mode == "pair":
            from .permutation import aligned_minimum
            b = aligned_minimum(a, b, align, cache)
        c = star or center_for_minima([a, b], center_spec, cache=cache, device=device)
        seg = linear_path(a.theta, b.theta, evaluator=ev, n_points=n_points).barriers()
        fold = fold_line_path(a.theta, c.theta, b.theta, evaluator=ev, n_points=n_points).barriers()
        dist = float((a.theta - b.theta).double().norm())
        rows.append({
            "pair": [a.seed, b.seed], "dim": int(a.theta.numel()),
            "ngd_bound": ngd_upper_bound(a.theta, c.theta, b.theta), "euclidean": dist,
            "euclidean_per_sqrt_dim": dist / math.sqrt(a.theta.numel()),
            "segment_max_loss": seg["max_loss"], "fold_max_loss": fold["max_loss"],
            "segment_min_acc": seg.get("min_acc"), "fold_min_acc": fold.get("min_acc"),
            "segment_barrier_height": seg["barrier_height"],
            "fold_barrier_height": fold["barrier_height"],
            "feet_train_loss": (a.train_loss + b.train_loss) / 2,
            "feet_train_acc": None if a.train_acc is None else (a.train_acc + b.train_acc) / 2,
            "feet_test_acc": None if a.test_acc is None else (a.test_acc + b.test_acc) / 2,
        })
        if align != "none":
            rows[-1]["align"] = align
        progress((k + 1) / len(pairs), f"pair {i}-{j}: NGD <= {rows[-1]['ngd_bound']:.4f}")
    return rows


@validate_params(center_mode=Options("pair", "star"), n_points=Int(3, 1001),
                 align=Options("none", "weight", "activation"))
def sweep(base: Experiment, field: str, values, *, center_spec: CenterSpec | None = None,
          center_mode: str = "pair", n_points: int = N_POINTS, cache: DiskCache | None = None,
          progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
          device="auto", force: bool = False, align: str = "none", executor=None) -> SweepResult:
    """Run (or resume) a sweep of ``field`` over ``values``.

    Parameters
    ----------
    base : Experiment
        The experiment whose ``field`` varies (e.g. ``preset("teacher-student")``).
    field : str
        A dotted spec field accepted by ``Experiment.replace``, e.g. ``"model.width"``.
    center_spec : CenterSpec, default the ``ngd`` recipe (``recipes.recipe_spec("ngd")``)
        Settings of every center fit; the penalty lam > 0 is what makes U an NGD estimate.
    n_points : points per straight piece of every path (a fold-line has 2 * n_points - 1).
    center_mode : {"pair", "star"}
        "pair": one center per pair of minima (the paper's NGD runs); "star": one center for
        all minima, every fold-line passes through it (the paper's Table-1 setting).
    force : bool
        Run even above the pre-flight limits (``cost.check_sweep``, ``cost.check_model``).
    align : {"none", "weight", "activation"}
        Measure every pair modulo permutation (see the module docstring); named in ``meta``.
    executor : executor.Executor, optional
        Compute the values not yet cached as independent units through it (a local process
        pool, a Dask cluster; ``landscape_core.executor``), then read every value from the
        cache. Default None: the values one after another in this process.
    """
    values = tuple(values)
    if not values:
        raise ValueError("The 'values' parameter of sweep must hold at least one value. Got none.")
    if len({repr(v) for v in values}) != len(values):
        raise ValueError(f"The 'values' parameter of sweep must hold distinct values (a repeated "
                         f"value would count its pairs twice). Got {list(values)}.")
    if base.n_minima < 2:
        raise ValueError(f"A sweep needs at least two minima per value (pairs). Got n_minima="
                         f"{base.n_minima}; use base.replace(n_minima=2).")
    center_spec = center_spec or recipe_spec(NGD_RECIPE)
    cache = cache or DiskCache()
    exps = [base.replace(**{field: v}) for v in values]      # validates every value up front
    few = [v for v, e in zip(values, exps) if e.n_minima < 2]
    if few:
        raise ValueError(f"A sweep needs at least two minima per value (pairs). {field} = "
                         f"{few[0]!r} leaves n_minima = 1; choose values that keep n_minima >= 2.")
    check_sweep(len(values), max(e.n_minima for e in exps), center_mode=center_mode,
                n_points=n_points, force=force)
    for e in exps:
        check_model(e.model, device, force=force)
    if executor is not None:                     # values as units; the loop below reads them back
        from .executor import run_sweep_values
        run_sweep_values(executor, base, field, values, [_point_key(e, center_spec, center_mode, n_points,
                         align) for e in exps], cache, progress=progress, should_stop=should_stop,
                         center_spec=center_spec, center_mode=center_mode, n_points=n_points,
                         device=device, force=force, align=align)
        progress = progress and (lambda f, m, p=progress: p(0.95 + 0.05 * f, m))
    rows = []
    for n, (v, exp) in enumerate(zip(values, exps)):
        def sub(f, msg, n=n, v=v):
            if progress is not None:
                progress((n + f) / len(values), f"{field}={v}: {msg}")
        payload = _point_payload(exp, center_spec, center_mode, n_points, align)
        key = make_key("sweep_point", payload)

        def compute(exp=exp, sub=sub):
            minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache,
                                  progress=lambda f, m: sub(0.5 * f, m), should_stop=should_stop,
                                  device=device, force=force)
            if should_stop is not None and should_stop():
                raise TrainingStopped("sweep stopped; finished values are kept")
            pr = _pair_rows(exp, minima, center_spec, center_mode, n_points, cache, device,
                            lambda f, m: sub(0.5 + 0.5 * f, m), align)
            return {"rows": pr}, {}
        entry = cache.get_or_compute("sweep_point", key, compute, spec=payload)
        rows += [{"value": v, **r} for r in entry.meta["rows"]]
        sub(1.0, "done")
    return SweepResult(field, values, rows, {"base": spec_dict(base), "center_mode": center_mode,
                                             "center_spec": spec_dict(center_spec),
                                             "n_points": n_points, "bn_policy": center_spec.bn_policy,
                                             "align": align, "alignment": _align_label(align, center_mode),
                                             "center_recipe": describe(center_spec),
                                             "ngd": "upper bound U (Eq. 8) through the fitted center, "
                                                    + describe(center_spec)})


def _point_payload(exp: Experiment, center_spec: CenterSpec, center_mode: str, n_points: int,
                   align: str) -> dict:
    """What a sweep value's key (its ``sweep_point`` entry) is made from."""
    payload = {"exp": spec_dict(exp), "data": exp.data.key_dict(), "center": spec_dict(center_spec),
               "mode": center_mode, "n_points": n_points, "seeds": list(exp.seed_list)}
    if align != "none":                      # unaligned keys stay as they were
        payload["align"] = align
    return payload


def _point_key(exp, center_spec, center_mode, n_points, align) -> str:
    return make_key("sweep_point", _point_payload(exp, center_spec, center_mode, n_points, align))


def _align_label(align: str, center_mode: str) -> str:
    if align == "none":
        return "no alignment (raw minima)"
    from .permutation import describe_align
    return describe_align(align, "reference" if center_mode == "star" else None) + (
        "; the second minimum of each pair aligned to the first" if center_mode == "pair" else "")


def width_sweep(base: Experiment, widths, **kwargs) -> SweepResult:
    """``sweep(base, "model.width", widths, ...)``: NGD and barriers against network width."""
    return sweep(base, "model.width", widths, **kwargs)
