"""The named center recipes: one definition shared by the Python API, the CLI, every page and
the reproduction, so the same question gets the same answer wherever it is asked.

A *recipe* is a named ``CenterSpec`` with a one-line purpose:

- ``paper``: the paper's Table-1 recipe (Adam lr 0.01 constant, B_r = 1, B_t = 3, 200 epochs,
  lambda = 0; the unstated choices, fresh random init and data batch 200, as in ``CenterSpec.paper``).
  It answers "is there a low-loss star?" (barriers along fold-lines). With lambda = 0 nothing
  keeps the center near the feet, so its NGD bound is loose: never quote it as the NGD.
- ``fast``: our quick recipe (mean-of-feet init, Adam 1e-3 cosine, 20 epochs); meant for data sets
  with hundreds of steps per epoch.
- ``ngd``: the NGD recipe, ``fast`` with lr 1e-2 and a distance penalty lambda (default 1e-3).
  The NGD upper bound depends on lambda: a larger lambda pulls the center towards the segment
  (smaller bound) at the price of a worse fold-line. ``NGD_LAMBDAS`` is the grid over which
  pages and the CLI show that trade-off, and ``quoted_point`` names the point they quote.

``recipe_spec("ngd", lam=1e-2)`` gives the CenterSpec; ``describe(spec)`` names a spec by its
recipe and lists what differs, for the caption beside every number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .center import CenterSpec

BARRIER_RECIPE = "paper"          # the recipe behind every fold-line barrier and star report
NGD_RECIPE = "ngd"                # the recipe behind every NGD bound
NGD_LAMBDA = 1e-3                 # the ngd recipe's default lambda
NGD_LAMBDAS = (1e-4, 1e-3, 1e-2)  # the trade-off grid shown where the NGD is reported


@dataclass(frozen=True)
class CenterRecipe:
    """A named, documented CenterSpec."""
    name: str
    purpose: str
    spec: CenterSpec


CENTER_RECIPES: dict[str, CenterRecipe] = {
    "paper": CenterRecipe(
        "paper", "the paper's Table-1 recipe: random init, Adam 0.01 constant, B_t = 3, 200 epochs, "
                 "lambda = 0 (fold-line barriers and star reports)",
        CenterSpec.paper()),
    "fast": CenterRecipe(
        "fast", "our quick recipe: mean-of-feet init, Adam 1e-3 cosine, 20 epochs",
        CenterSpec.fast()),
    "ngd": CenterRecipe(
        "ngd", "the NGD recipe: mean-of-feet init, Adam 1e-2 cosine, 20 epochs, distance penalty "
               "lambda (NGD upper bounds)",
        CenterSpec.fast(lam=NGD_LAMBDA, lr=1e-2)),
}


def recipe_spec(name: str, **changes) -> CenterSpec:
    """The CenterSpec of recipe ``name`` with ``changes`` (e.g. ``lam=1e-2``, ``steps=50``)."""
    if name not in CENTER_RECIPES:
        raise ValueError(f"Unknown center recipe {name!r}. Expected one of "
                         f"{', '.join(CENTER_RECIPES)}.")
    return dataclasses.replace(CENTER_RECIPES[name].spec, **changes)


def recipe_of(spec: CenterSpec) -> tuple[str | None, dict]:
    """(recipe name, fields that differ from it) for the recipe closest to ``spec``."""
    best, best_diff = None, None
    for name, rec in CENTER_RECIPES.items():
        diff = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
                if getattr(spec, f.name) != getattr(rec.spec, f.name)}
        if best_diff is None or len(diff) < len(best_diff):
            best, best_diff = name, diff
    return best, best_diff or {}


def describe(spec: CenterSpec) -> str:
    """A short, complete name for a center recipe, e.g. ``ngd recipe (λ = 0.01)`` or
    ``paper recipe (λ = 0, epochs = 50)``: lambda is always named, other fields when they differ."""
    name, diff = recipe_of(spec)
    parts = [f"λ = {spec.lam:g}"]
    for k, v in diff.items():
        if k != "lam":
            parts.append(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}")
    return f"{name} recipe ({', '.join(parts)})"


def quoted_point(rows: list[dict], *, min_acc_floor: float | None = None,
                 max_loss_ceiling: float | None = None) -> int | None:
    """Index of the lambda trade-off row a page or command quotes as "the" NGD bound.

    ``rows`` hold ``lam``, ``ngd_bound``, ``fold_min_acc`` (None for regression) and
    ``fold_max_loss``. The quoted point is the smallest bound among the rows whose fold-line
    is still low: minimum train accuracy at least ``min_acc_floor`` (classification) or max train
    loss at most ``max_loss_ceiling`` (regression). None when no row qualifies (then no bound
    is valid at any lambda of the grid, and pages say so).
    """
    ok = []
    for k, r in enumerate(rows):
        if r.get("ngd_bound") is None:
            continue
        acc = r.get("fold_min_acc")
        if acc is not None and min_acc_floor is not None:
            if acc < min_acc_floor:
                continue
        elif max_loss_ceiling is not None and r.get("fold_max_loss", float("inf")) > max_loss_ceiling:
            continue
        ok.append(k)
    return min(ok, key=lambda k: rows[k]["ngd_bound"]) if ok else None


QUOTE_RULE = ("the smallest bound whose fold-line keeps a minimum train accuracy within 1 point "
              "of the worse endpoint (classification) or a max train loss at most twice the worse "
              "endpoint's plus 1e-3 (regression)")


def quote_limits(end_accs: list, end_losses: list) -> dict:
    """The keyword arguments of ``quoted_point`` for a pair with these endpoint values."""
    if all(a is not None for a in end_accs):
        return {"min_acc_floor": min(end_accs) - 0.01}
    return {"max_loss_ceiling": 2 * max(end_losses) + 1e-3}
