"""The NGD of a pair as the paper measures it, with its dependence on lambda made visible.

The paper's NGD upper bound (Eq. 8) is U = (||theta_i - c|| + ||c - theta_j||) / ||theta_i - theta_j||
for a center c fitted to the pair with distance penalty lambda. U is a valid bound only while the
fold-line through c stays low, and lambda trades one against the other: a larger lambda pulls c
towards the segment (smaller U, worse fold-line). ``ngd_tradeoff`` fits the NGD recipe at every
lambda of a grid (each center cached under its own key), evaluates each fold-line, and names the
point it quotes by the rule in ``recipes.QUOTE_RULE``.

``align="weight"`` or ``"activation"`` measures the pair modulo permutation: ``b`` is replaced by
``b`` aligned to ``a`` (``permutation.aligned_minimum``, cached), and the centers are fitted to
(a, aligned b) under their own keys. The default ``"none"`` leaves every key and number as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ._validation import Options, validate_params
from .cache import DiskCache
from .checks import center_quality_flag
from .evaluate import Evaluator
from .geodesic import ngd_upper_bound
from .paths import fold_line_path, linear_path
from .recipes import NGD_LAMBDAS, NGD_RECIPE, QUOTE_RULE, describe, quote_limits, quoted_point, recipe_spec
from .refs import N_POINTS, CenterRef, center
from .training import Minimum

ALIGN_OPTIONS = ("none", "weight", "activation")


@dataclass(frozen=True)
class NGDTradeoff:
    """NGD bound against fold-line quality over lambda for one pair of minima.

    rows : one dict per lambda: lam, ngd_bound, fold_max_loss, fold_min_acc (None for
        regression), fold_barrier_height, segment_max_loss (the direct segment's, for
        comparison), flag (a warning when the fold-line is worse than the segment, else None),
        center (the CenterRef's label), center_key.
    quoted : index of the quoted row (None when no fold-line of the grid stays low).
    """
    pair: tuple
    rows: list
    quoted: int | None
    recipe: str
    n_points: int
    bn_policy: str
    rule: str = QUOTE_RULE
    meta: dict = field(default_factory=dict)
    align: str = "none"

    @property
    def quoted_row(self) -> dict | None:
        return None if self.quoted is None else self.rows[self.quoted]

    def caption(self) -> str:
        """One line naming what the quoted number is."""
        r = self.quoted_row
        if r is None:
            return (f"No NGD bound is quoted: at no λ in {[row['lam'] for row in self.rows]} does the "
                    f"fold-line stay low ({self.rule}).")
        acc = "" if r["fold_min_acc"] is None else f", fold-line min train acc {r['fold_min_acc']:.2%}"
        flag = f" {r['flag']}" if r.get("flag") else ""
        aligned = "" if self.align == "none" else f" (pair modulo permutation: {self.meta.get('alignment')})"
        return (f"NGD ≤ {r['ngd_bound']:.4f}{aligned}: upper bound U through the center of the pair, "
                f"{r['center']}; fold-line max train loss {r['fold_max_loss']:.3g}{acc}; "
                f"{self.n_points} points per piece, BatchNorm {self.bn_policy}. Quoted point: "
                f"{self.rule}.{flag}")


@validate_params(align=Options(ALIGN_OPTIONS))
def ngd_tradeoff(a: Minimum, b: Minimum, *, evaluator: Evaluator, cache: DiskCache,
                 lams=NGD_LAMBDAS, recipe: str = NGD_RECIPE, n_points: int = N_POINTS, fit: bool = True,
                 progress: Callable[[float, str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, device="auto", align: str = "none",
                 **spec_changes) -> NGDTradeoff:
    """Fit (or load) the pair's center for each lambda and measure U and the fold-line.

    With ``fit=False`` only cached centers are used (rows of missing ones are left out).
    ``spec_changes`` change the recipe (e.g. ``steps=50`` for a quick check); they are part of
    every center's key and named in every row's label. ``align``: "none" (default), "weight" or
    "activation" (see the module docstring); the result's ``align`` and ``meta["alignment"]`` name it.
    """
    lams = tuple(float(x) for x in lams)
    if not lams:
        raise ValueError("ngd_tradeoff needs at least one lambda. Got an empty grid.")
    if a.key == b.key:
        raise ValueError("ngd_tradeoff needs two different minima; both are "
                         f"{a.name}. Choose another pair.")
    meta = {}
    if align != "none":
        from .permutation import aligned_minimum, describe_align
        b = aligned_minimum(a, b, align, cache)
        meta = {"alignment": describe_align(align), "aligned_key": b.key}
    rows = []
    seg_max = linear_path(a.theta, b.theta, evaluator=evaluator, n_points=n_points).barriers()["max_loss"]
    for k, lam in enumerate(lams):
        ref = CenterRef((a.key, b.key), recipe_spec(recipe, lam=lam, **spec_changes))

        def sub(f, msg, k=k, lam=lam):
            if progress is not None:
                progress((k + f) / len(lams), f"λ = {lam:g}: {msg}")
        c = center(ref, cache, fit=fit, progress=sub, should_stop=should_stop, device=device)
        if c is None:
            continue
        if c.interrupted:
            break
        prof = fold_line_path(a.theta, c.theta, b.theta, evaluator=evaluator, n_points=n_points,
                              label=f"fold-line, λ = {lam:g}")
        bars = prof.barriers("train")
        rows.append({"lam": lam, "ngd_bound": ngd_upper_bound(a.theta, c.theta, b.theta),
                     "fold_max_loss": bars["max_loss"], "fold_min_acc": bars.get("min_acc"),
                     "fold_barrier_height": bars["barrier_height"], "segment_max_loss": seg_max,
                     "flag": center_quality_flag(bars["max_loss"], seg_max),
                     "center": describe(ref.spec), "center_key": ref.key})
        sub(1.0, f"U = {rows[-1]['ngd_bound']:.4f}")
    limits = quote_limits([a.train_acc, b.train_acc], [a.train_loss, b.train_loss])
    return NGDTradeoff((a.key, b.key), rows, quoted_point(rows, **limits), recipe, n_points,
                       evaluator.bn_policy, meta={"limits": limits, **meta}, align=align)
