"""Raw, aligned and aligned + REPAIR segments of one pair, ready to be drawn on one chart.

``pair_profiles(a, b, "weight", cache, evaluator=ev, test_evaluator=tev)`` returns
``{"raw": PathProfile, "weight matching": PathProfile, "weight matching + REPAIR": PathProfile}``
(labels from ``METHOD_LABELS``); every profile's ``label`` and ``meta["align"]`` /
``meta["repair"]`` name what it is, and ``barriers(split)`` gives every barrier definition.
"""
from __future__ import annotations

from .._validation import Int, Options, validate_params
from ..cache import DiskCache
from .aligned import SHORT, aligned_minimum
from .repair import repair_path

N_REPAIR = 5000           # REPAIR statistics: the first 5,000 training inputs by default


@validate_params(method=Options("weight", "activation"), n_points=Int(2, 10_000), n_repair=Int(2))
def pair_profiles(a, b, method: str, cache: DiskCache | None = None, *, evaluator, test_evaluator=None,
                  n_points: int = 21, repair: bool = True, X=None, n_repair: int = N_REPAIR) -> dict:
    """The three segments a -> b (raw), a -> aligned b, and its REPAIR-corrected version."""
    from dataclasses import replace

    from ..data import load_dataset
    from ..models import build_model
    from ..paths import linear_path
    cache = cache or DiskCache()
    b2 = aligned_minimum(a, b, method, cache)
    kw = dict(evaluator=evaluator, test_evaluator=test_evaluator, n_points=n_points)
    raw = linear_path(a.theta, b.theta, label=f"{a.name} - {b.name} (raw)", **kw)
    out = {"raw": replace(raw, meta={**raw.meta, "align": "none", "repair": None})}
    al = linear_path(a.theta, b2.theta, label=f"{a.name} - {b2.name}", **kw)
    out[SHORT[method]] = replace(al, meta={**al.meta, "align": method, "repair": None,
                                           "aligned_key": b2.key})
    if repair:
        X = X if X is not None else load_dataset(a.data).X_train[:n_repair]
        rp = repair_path(build_model(a.model), a.theta, b2.theta, X,
                         label=f"{a.name} - {b2.name} + REPAIR", **kw)
        out[f"{SHORT[method]} + REPAIR"] = replace(rp, meta={**rp.meta, "align": method,
                                                             "aligned_key": b2.key})
    return out
