"""Star-shaped connectivity report: direct segments, fold-lines through a center, spokes.

For r feet and a center (paper's Section 5, Table 1 and Figure 5) the report holds
- ``segments``: the r(r-1)/2 straight segments theta_i -> theta_j between feet (i < j);
- ``fold_lines``: the r(r-1)/2 fold-lines theta_i -> center -> theta_j (each leg half the t-axis);
- ``spokes``: the r segments foot -> center, oriented foot at t = 0, center at t = 1 (the
  first leg of every fold-line starting at that foot);
- ``held_out``: spokes to minima NOT used to fit the center (Sonthalia et al.'s test; not in
  the paper), kept apart from the reproduction.

Every path is one ``Evaluator.evaluate_affine`` call (points evaluated in batches).
Barrier flavours are labelled as in ``paths.BARRIER_DEFINITIONS``: the paper's raw
``max_loss`` / ``min_acc`` and the endpoint-corrected ``barrier_height``.

Modulo permutation: align the feet first (``permutation.align_feet``: every foot to the first
foot, or MergeMany's iterated alignment to the mean) and fit the center to the aligned feet;
``star_report(..., align=...)`` records which alignment the feet carry, and
``permutation.compare_star_centers`` puts the paper's center on raw feet, the center on
aligned feet and the plain average of aligned feet side by side.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import Int, Options, validate_params
from .checks import center_quality_flag
from .cost import check_star
from .evaluate import Evaluator, Progress
from .paths import PathProfile, fold_line_from_spokes, linear_path

ROW_LABELS = {"segments": "direct segment", "fold_lines": "fold-line", "spokes": "spoke",
              "held_out": "held-out spoke"}
TABLE_METRICS = ("max_loss", "min_acc", "barrier_height")


@dataclass(frozen=True)
class StarReport:
    """Profiles of every path of a star experiment; see the module docstring for orientation.

    segments, fold_lines : dict {(i, j): PathProfile}, i < j, indices into ``names``.
    spokes : dict {i: PathProfile}, foot i (t = 0) -> center (t = 1).
    held_out : dict {name: PathProfile}, held-out foot (t = 0) -> center (t = 1).
    center_distances : (r,) ||center - theta_i|| (float64).
    """
    names: tuple
    segments: dict[tuple, PathProfile]
    fold_lines: dict[tuple, PathProfile]
    spokes: dict[int, PathProfile]
    held_out: dict[str, PathProfile]
    center_distances: np.ndarray
    bn_policy: str
    meta: dict = field(default_factory=dict)

    def _groups(self) -> dict:
        return {"segments": list(self.segments.values()), "fold_lines": list(self.fold_lines.values()),
                "spokes": list(self.spokes.values()), "held_out": list(self.held_out.values())}

    def table(self) -> list[dict]:
        """Rows in the paper's Table-1 form, one per path kind that has paths.

        Each row: ``path``, ``n_paths`` and for split in train (no prefix) and test (``test_``
        prefix, when test profiles exist): the mean over paths of ``max_loss``, ``min_acc``
        (None for regression) and ``barrier_height``, with ``*_std`` (population std over paths).
        """
        rows = []
        for key, profiles in self._groups().items():
            if not profiles:
                continue
            row = {"path": ROW_LABELS[key], "n_paths": len(profiles)}
            splits = ["train"] + (["test"] if profiles[0].test_loss is not None else [])
            for split in splits:
                prefix = "" if split == "train" else "test_"
                stats = [p.barriers(split) for p in profiles]
                for metric in TABLE_METRICS:
                    values = [s[metric] for s in stats if metric in s]
                    row[prefix + metric] = float(np.mean(values)) if values else None
                    row[prefix + metric + "_std"] = float(np.std(values)) if values else None
            rows.append(row)
        return rows

    @property
    def quality_flag(self) -> str | None:
        """A warning when the fold-lines through the center are worse, on average, than the
        direct segments (mean max train loss over pairs); None when the center helps."""
        if not self.fold_lines:
            return None
        seg = float(np.mean([p.barriers()["max_loss"] for p in self.segments.values()]))
        fold = float(np.mean([p.barriers()["max_loss"] for p in self.fold_lines.values()]))
        return center_quality_flag(fold, seg)

    @validate_params(kind=Options("segment", "fold_line"), metric=Options(TABLE_METRICS),
                     split=Options("train", "test"))
    def barrier_matrix(self, kind: str = "segment", metric: str = "max_loss",
                       split: str = "train") -> np.ndarray:
        """(r, r) symmetric matrix of one metric over feet pairs; NaN on the diagonal.

        kind : {"segment", "fold_line"}; metric : {"max_loss", "barrier_height", "min_acc"}.
        """
        c = "StarReport.barrier_matrix"
        profiles = self.segments if kind == "segment" else self.fold_lines
        r = len(self.names)
        out = np.full((r, r), np.nan)
        for (i, j), prof in profiles.items():
            value = prof.barriers(split).get(metric)
            if value is None:
                raise ValueError(f"The 'metric' parameter of {c} must be available for this data; "
                                 f"{metric!r} needs accuracies (classification). Got {metric!r}.")
            out[i, j] = out[j, i] = value
        return out


def _stack(vectors, caller: str, name: str) -> torch.Tensor:
    if isinstance(vectors, (list, tuple)):
        vectors = torch.stack([torch.as_tensor(v).detach().reshape(-1).float().cpu() for v in vectors])
    vectors = torch.as_tensor(vectors).detach().float().cpu()
    if vectors.ndim != 2:
        raise ValueError(f"The '{name}' parameter of {caller} must have shape (r, D) or be a list "
                         f"of (D,) tensors. Got shape {tuple(vectors.shape)} instead.")
    return vectors


def _names(names, n: int, default: str, caller: str, param: str) -> tuple:
    if names is None:
        return tuple(f"{default} {i}" for i in range(n))
    names = tuple(str(x) for x in names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"The '{param}' parameter of {caller} must hold {n} distinct names. "
                         f"Got {list(names)} instead.")
    return names


@validate_params(n_points=Int(2, 10_000), align=Options("none", "weight", "activation"),
                 align_mode=Options("reference", "mean"))
def star_report(feet, center, *, evaluator: Evaluator, test_evaluator: Evaluator | None = None,
                n_points: int = 21, names=None, held_out=None, held_out_names=None,
                progress: Progress | None = None, force: bool = False, align: str = "none",
                align_mode: str = "reference") -> StarReport:
    """Evaluate every segment, fold-line and spoke of a star experiment.

    Parameters
    ----------
    feet : Tensor (r, D) or list of (D,) tensors
        The minima the center was fitted to.
    center : center.Center or Tensor (D,)
    evaluator : Evaluator
        Training-set evaluator (its ``bn_policy`` is reported).
    test_evaluator : Evaluator, optional
    n_points : int, default=21
        Points per segment and per spoke, and per LEG of a fold-line (the paper does not say).
    names : sequence of r str, optional (default "foot 0", ...)
    held_out : Tensor (h, D) or list, optional
        Minima not used to fit the center; only spokes are evaluated for them.
    held_out_names : sequence of h str, optional (default "held-out 0", ...)
    progress : callable(fraction, message), optional
    force : bool, default False
        Run even above the pre-flight limit on path evaluations (``cost.check_star``).
    align, align_mode : the alignment the given feet carry (recorded, not applied: align them
        with ``permutation.align_feet``); "none" for raw feet.

    Returns
    -------
    StarReport
    """
    c = "star_report"
    feet = _stack(feet, c, "feet")
    theta_c = torch.as_tensor(getattr(center, "theta", center)).detach().reshape(-1).float().cpu()
    if feet.shape[1] != theta_c.shape[0] or feet.shape[1] != evaluator.dim:
        raise ValueError(f"The 'feet' and 'center' parameters of {c} must have D = {evaluator.dim} "
                         f"entries (the evaluator's model). Got feet {tuple(feet.shape)} and center "
                         f"{tuple(theta_c.shape)}.")
    hold = _stack(held_out, c, "held_out") if held_out is not None and len(held_out) else None
    names = _names(names, len(feet), "foot", c, "names")
    hold_names = _names(held_out_names, 0 if hold is None else len(hold), "held-out", c,
                        "held_out_names")
    r = len(feet)
    check_star(r, n_points, n_held_out=len(hold_names), with_test=test_evaluator is not None,
               force=force)
    pairs = [(i, j) for i in range(r) for j in range(i + 1, r)]
    jobs = [("segments", (i, j)) for i, j in pairs] + [("spokes", i) for i in range(r)]
    jobs += [("held_out", k) for k in range(len(hold_names))]
    out: dict = {"segments": {}, "fold_lines": {}, "spokes": {}, "held_out": {}}
    kw = dict(evaluator=evaluator, test_evaluator=test_evaluator, n_points=n_points)
    for done, (kind, idx) in enumerate(jobs):
        if progress is not None:
            progress(done / len(jobs), f"{ROW_LABELS[kind]} {done + 1}/{len(jobs)}")
        if kind == "segments":
            i, j = idx
            out[kind][idx] = linear_path(feet[i], feet[j], label=f"{names[i]} - {names[j]}", **kw)
        elif kind == "spokes":
            out[kind][idx] = linear_path(feet[idx], theta_c, label=f"{names[idx]} - center", **kw)
        else:
            out[kind][hold_names[idx]] = linear_path(hold[idx], theta_c,
                                                     label=f"{hold_names[idx]} - center", **kw)
    for i, j in pairs:              # a fold-line's legs are two spokes: assembled, not re-evaluated
        fold = fold_line_from_spokes(out["spokes"][i], out["spokes"][j],
                                     label=f"{names[i]} - center - {names[j]}")
        out["fold_lines"][i, j] = dataclasses.replace(
            fold, distance=float((feet[i].double() - feet[j].double()).norm()))
    if progress is not None:
        progress(1.0, "star report done")
    dist = (feet.double() - theta_c.double()).norm(dim=1).numpy()
    meta = {"n_points": n_points, "center_lam": getattr(getattr(center, "spec", None), "lam", None),
            "align": align}
    if align != "none":
        from .permutation import describe_align
        meta["alignment"] = describe_align(align, align_mode)
    return StarReport(names, out["segments"], out["fold_lines"], out["spokes"], out["held_out"],
                      dist, evaluator.bn_policy, meta)
