"""REPAIR (Jordan et al., ICLR 2023): the interpolated network's unit statistics reset.

The straight interpolation theta(t) = (1 - t) theta_a + t theta_b of two aligned networks
suffers "variance collapse": its hidden units' activations have smaller variance than either
endpoint's. REPAIR rescales every hidden pre-activation (the output of each Linear/Conv whose
units are a permutation group) so that, on data ``X``, each unit's mean and standard deviation
are the interpolation (1 - t) * stat_a + t * stat_b of the endpoints'. Here the correction is
folded into the layer's weights and bias (exact REPAIR: the statistics of the corrected network
are measured layer after layer, so a correction sees the earlier ones). A layer without a bias
gets its scale only (its mean cannot be shifted).

BatchNorm networks: resetting BatchNorm statistics on data is the same operation, and it is
what the ``recompute`` BatchNorm policy of every evaluation already does; ``repair`` then
returns the plain interpolation and says so (evaluate it with ``bn_policy="recompute"``).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from .._validation import Int, Real, validate_params
from ..models import has_batch_norm
from ..params import ParamLayout
from .observe import network_at, unit_stats
from .result import Alignment, tag
from .spec import PermutationSpec, permutation_spec

BN_NOTE = ("BatchNorm network: REPAIR's reset is the 'recompute' BatchNorm policy (statistics "
           "re-estimated on training data at every point); the plain interpolation is returned")
EPS = 1e-8


def _fold(theta: torch.Tensor, layout: ParamLayout, module: str, scale, shift) -> bool:
    """W <- scale * W, b <- scale * b + shift (per output unit) inside ``theta``; False if no bias."""
    w = layout.slice_of(f"{module}.weight")
    shape = layout.shapes[layout.names.index(f"{module}.weight")]
    s = scale.to(theta.dtype)
    view = theta[w].view(shape)
    theta[w] = (view * s.view(-1, *([1] * (len(shape) - 1)))).reshape(-1)
    if f"{module}.bias" not in layout.names:
        return False
    b = layout.slice_of(f"{module}.bias")
    theta[b] = theta[b] * s + shift.to(theta.dtype)
    return True


@validate_params(t=Real(0.0, 1.0), batch_size=Int(1))
def repair(model: nn.Module, theta_a, theta_b, t: float, X: torch.Tensor, *,
           spec: PermutationSpec | None = None, stats: tuple | None = None,
           batch_size: int = 1000) -> torch.Tensor:
    """The REPAIR-corrected interpolation point at ``t`` (shape (D,)), with ``.alignment``.

    ``theta_b`` should already be aligned to ``theta_a`` (weight or activation matching);
    REPAIR itself permutes nothing. ``stats``: the endpoints' statistics from
    ``endpoint_stats`` (computed here when None; pass them when repairing many t).
    """
    start = time.perf_counter()
    spec = spec if spec is not None else permutation_spec(model)
    a = torch.as_tensor(theta_a).detach().float().cpu()
    b = torch.as_tensor(theta_b).detach().float().cpu()
    theta = (1 - t) * a + t * b
    if has_batch_norm(model):
        return tag(theta, Alignment("repair", {}, 0, 0.0, 0.0, True, 0.0, time.perf_counter() - start,
                                    BN_NOTE, {"t": t, "bn_reset": "recompute", "folded": []}))
    X = torch.as_tensor(X).float().cpu()
    layout = ParamLayout.of(model)
    st_a, st_b = stats if stats is not None else endpoint_stats(model, a, b, X, spec=spec,
                                                                batch_size=batch_size)
    folded, scale_only, shrink = [], [], []
    for module, _ in spec.repair_sites:
        mu_i, sd_i = unit_stats(network_at(model, theta), X, [module], batch_size)[module]
        mu_t = (1 - t) * st_a[module][0] + t * st_b[module][0]
        sd_t = (1 - t) * st_a[module][1] + t * st_b[module][1]
        scale = sd_t / (sd_i + EPS)
        shift = mu_t - scale * mu_i
        shrink.append(float((sd_i / (sd_t + EPS)).mean()))
        (folded if _fold(theta, layout, module, scale.float(), shift.float()) else scale_only).append(module)
    note = (f"REPAIR at t = {t:g}: {len(folded) + len(scale_only)} layers re-normalised on "
            f"{X.shape[0]} inputs" + (f" ({len(scale_only)} without bias: scale only)" if scale_only else ""))
    return tag(theta, Alignment("repair", {}, 1, 0.0, 0.0, True, 0.0, time.perf_counter() - start,
                                note, {"t": t, "folded": folded, "scale_only": scale_only,
                                       "variance_ratio_before": shrink}))


def endpoint_stats(model: nn.Module, theta_a, theta_b, X, *, spec: PermutationSpec | None = None,
                   batch_size: int = 1000) -> tuple[dict, dict]:
    """Per-unit (mean, std) of both endpoints at every REPAIR site, on ``X``."""
    spec = spec if spec is not None else permutation_spec(model)
    names = [m for m, _ in spec.repair_sites]
    X = torch.as_tensor(X).float().cpu()
    return (unit_stats(network_at(model, theta_a), X, names, batch_size),
            unit_stats(network_at(model, theta_b), X, names, batch_size))


def repair_path(model: nn.Module, theta_a, theta_b, X, *, evaluator, test_evaluator=None,
                n_points: int = 21, spec: PermutationSpec | None = None, label: str = "",
                batch_size: int = 1000):
    """``paths.PathProfile`` of the REPAIR-corrected segment theta_a -> theta_b (``n_points`` t's).

    Each point is ``repair(..., t, X)``; ``meta`` names REPAIR, the data it used and, for
    BatchNorm networks, that the evaluator's ``recompute`` policy is the reset. ``length`` is
    the length of the polygon through the repaired points.
    """
    from ..paths import PathProfile
    spec = spec if spec is not None else permutation_spec(model)
    ts = np.linspace(0.0, 1.0, int(n_points))
    bn = has_batch_norm(model)
    stats = None if bn else endpoint_stats(model, theta_a, theta_b, X, spec=spec, batch_size=batch_size)
    pts = torch.stack([repair(model, theta_a, theta_b, float(t), X, spec=spec, stats=stats,
                              batch_size=batch_size) for t in ts])
    tr = evaluator.evaluate(pts)
    te = test_evaluator.evaluate(pts) if test_evaluator is not None else None
    length = float((pts[1:] - pts[:-1]).double().norm(dim=1).sum())
    meta = {"strategy": tr.strategy, "n_samples": tr.n_samples, "loss": tr.loss_name,
            "repair": BN_NOTE if bn else f"REPAIR (Jordan et al.) on {len(X)} inputs",
            "repair_data": int(len(X))}
    if bn and tr.bn_policy != "recompute":
        meta["warning"] = ("a BatchNorm network evaluated with the 'eval' policy is not repaired: "
                           "use bn_policy='recompute' (REPAIR's reset)")
    return PathProfile("segment", ts, tr.loss, tr.accuracy, te.loss if te else None,
                       te.accuracy if te else None, (0.0, 1.0), length,
                       float((pts[-1] - pts[0]).double().norm()), tr.bn_policy,
                       label or "aligned + REPAIR", meta)
