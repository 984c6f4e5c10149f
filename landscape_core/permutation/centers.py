"""Star centers modulo permutation: the paper's center on raw feet, the center on aligned feet,
and the plain average of aligned feet (Git Re-Basin's / MergeMany's merged model), side by side.

The feet are aligned by ``align_feet`` (``mode="reference"``: every foot to the first foot;
``mode="mean"``: MergeMany, iterated weight matching to the mean of the others). Both fitted
centers use the same recipe (a ``CenterSpec``, normally ``recipes.recipe_spec("paper")``) and
are cached under their ``CenterRef`` keys (the aligned feet have their own minimum keys).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validation import Options, validate_params
from ..cache import DiskCache
from ..recipes import describe
from .aligned import align_feet, describe_align

RAW, ALIGNED, AVERAGE = ("paper's center, raw feet", "center fitted to aligned feet",
                         "average of aligned feet")


@dataclass(frozen=True)
class StarComparison:
    """Three star reports over the same minima: ``reports[RAW | ALIGNED | AVERAGE]``."""
    reports: dict
    centers: dict            # label -> (D,) tensor
    center_refs: dict        # label -> CenterRef (None for the average)
    align: str
    mode: str
    recipe: str
    meta: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        """The reports' Table-1 rows, each with its ``center`` label and alignment."""
        rows = []
        for label, rep in self.reports.items():
            for r in rep.table():
                rows.append({"center": label, "alignment": rep.meta.get("alignment", "none"), **r})
        return rows


@validate_params(method=Options("weight", "activation"), mode=Options("reference", "mean"))
def compare_star_centers(minima, method: str, cache: DiskCache | None, spec, *, evaluator,
                         test_evaluator=None, mode: str = "reference", n_points: int = 21,
                         fit: bool = True, progress=None, device="auto") -> StarComparison:
    """Fit (or load) both centers and evaluate the three stars (see the module docstring)."""
    from ..center import center_for_minima
    from ..refs import CenterRef, center_is_cached
    from ..star import star_report
    cache = cache or DiskCache()
    minima = list(minima)
    feet = align_feet(minima, method, cache, mode=mode)
    refs = {RAW: CenterRef(tuple(m.key for m in minima), spec),
            ALIGNED: CenterRef(tuple(m.key for m in feet), spec)}
    centers = {}
    for k, ((label, ref), group) in enumerate(zip(refs.items(), (minima, feet))):
        sub = None if progress is None else (lambda f, m, k=k: progress((k + f) / 4, m))
        if not fit and not center_is_cached(ref, cache):
            raise ValueError(f"The center ({ref.label()}) is not in the cache; pass fit=True.")
        centers[label] = center_for_minima(group, spec, cache=cache, progress=sub, device=device).theta
    centers[AVERAGE] = torch.stack([m.theta for m in feet]).mean(0)
    kw = dict(evaluator=evaluator, test_evaluator=test_evaluator, n_points=n_points)
    reports = {
        RAW: star_report([m.theta for m in minima], centers[RAW], names=[m.name for m in minima], **kw),
        ALIGNED: star_report([m.theta for m in feet], centers[ALIGNED], names=[m.name for m in feet],
                             align=method, align_mode=mode, **kw),
        AVERAGE: star_report([m.theta for m in feet], centers[AVERAGE], names=[m.name for m in feet],
                             align=method, align_mode=mode, **kw),
    }
    if progress is not None:
        progress(1.0, "three stars done")
    return StarComparison(reports, centers, {**refs, AVERAGE: None}, method, mode, describe(spec),
                          {"alignment": describe_align(method, mode),
                           "aligned_keys": [m.key for m in feet]})
