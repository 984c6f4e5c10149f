"""Garipov et al.'s curve fitting: a trainable bend between two fixed minima, on a quadratic
Bezier curve or a one-bend polychain (the paper's fold-line form), fitted with the same trainer
as the centers (``pathloss.train_path_loss``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ._validation import Options, validate_params
from .center import CenterSpec
from .evaluate import Progress, resolve_device
from .params import ParamLayout
from .pathloss import Affine, PointsFn, as_feet, resolve_loss, train_path_loss


@dataclass(frozen=True)
class Curve:
    """A fitted curve theta_a -> theta_b with one trainable bend (Garipov et al.).

    kind "bezier": (1-t)^2 a + 2t(1-t) bend + t^2 b; kind "polychain": a -> bend -> b with each
    leg on half of the t-axis (the paper's fold-line form). bend, theta_a, theta_b : (D,) CPU.
    """
    bend: torch.Tensor
    kind: str
    history: np.ndarray
    theta_a: torch.Tensor
    theta_b: torch.Tensor
    wall_time: float = 0.0
    n_steps: int = 0
    meta: dict = field(default_factory=dict)

    def points(self, t) -> torch.Tensor:
        """Points (T, D) of the curve at parameters ``t`` (T,)."""
        t = torch.as_tensor(np.asarray(t, dtype=np.float32).reshape(-1))
        return curve_points(self.kind, self.theta_a, self.theta_b)(self.bend, t[None], None)

    def profile(self, *, evaluator, test_evaluator=None, n_points: int = 21, label: str = ""):
        """Loss profile along the curve (``paths.bezier_path`` or ``paths.fold_line_path``);
        ``n_points`` per straight piece of a polychain, along the whole Bezier curve."""
        from .paths import bezier_path, fold_line_path
        if self.kind == "bezier":
            return bezier_path(self.theta_a, self.bend, self.theta_b, evaluator=evaluator,
                               test_evaluator=test_evaluator, n_points=n_points, label=label)
        return fold_line_path(self.theta_a, self.bend, self.theta_b, evaluator=evaluator,
                              test_evaluator=test_evaluator, n_points=n_points,
                              label=label)


def curve_points(kind: str, a: torch.Tensor, b: torch.Tensor) -> PointsFn:
    """theta (bend), t (..., B_t) -> points (numel(t), D) of a Bezier curve or a polychain."""
    def points(theta, t, groups):
        tt = t.reshape(-1, 1).to(theta.dtype)
        if kind == "bezier":
            return (1 - tt) ** 2 * a + 2 * tt * (1 - tt) * theta + tt ** 2 * b
        first = 2 * (tt * theta + (0.5 - tt) * a)
        second = 2 * ((tt - 0.5) * b + (1 - tt) * theta)
        return torch.where(tt < 0.5, first, second)
    return points


def curve_coeffs(kind: str):
    """t -> (A (T, 1), C (T, 2), [0, 1]): the points of ``curve_points`` as A * bend + C @ [a; b]."""
    def coeffs(t, groups):
        tt = t.reshape(-1, 1).float()
        if kind == "bezier":
            return 2 * tt * (1 - tt), torch.cat([(1 - tt) ** 2, tt ** 2], dim=1), [0, 1]
        low = tt < 0.5
        A = torch.where(low, 2 * tt, 2 * (1 - tt))
        C = torch.cat([torch.where(low, 1 - 2 * tt, 0.0), torch.where(low, 0.0, 2 * tt - 1)], dim=1)
        return A, C, [0, 1]
    return coeffs


@validate_params(kind=Options("bezier", "polychain"))
def fit_curve(theta_a, theta_b, *, model: nn.Module, X: torch.Tensor, y: torch.Tensor,
              kind: str = "bezier", spec: CenterSpec = CenterSpec(), loss: str = "auto",
              progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
              device="auto") -> Curve:
    """Garipov et al.'s curve fitting: minimise E_{t~spec.t_dist} L(phi_bend(t)) over the bend.

    The bend starts at the midpoint (the curve starts as the straight segment); ``spec.init``
    and ``spec.lam`` are not used; B_t = ``spec.n_t * spec.n_feet_per_step`` t-values per step
    share one minibatch (Garipov et al. use one t per minibatch). Unlike their code no weight
    decay is applied to the interpolated weights.

    Parameters
    ----------
    theta_a, theta_b : Tensor (D,)
        Fixed ends (never modified).
    kind : {"bezier", "polychain"}

    Returns
    -------
    Curve
    """
    dim = ParamLayout.of(model).dim
    ends = as_feet([theta_a, theta_b], dim, "fit_curve")
    loss = resolve_loss(loss, y, "fit_curve")
    dev = resolve_device(device)
    a, b = ends[0].to(dev), ends[1].to(dev)
    run = train_path_loss(ends.mean(0), curve_points(kind, a, b), n_groups=1, penalty_fn=None,
                           model=model, X=X, y=y, loss=loss, spec=spec, progress=progress,
                           should_stop=should_stop, device=dev, what=f"{kind} curve fitting",
                           affine=Affine(torch.stack([a, b]), curve_coeffs(kind)))
    meta = {"interrupted": run.interrupted, "loss": loss, "bn_mode": run.mode, "route": run.route,
            "device": str(dev),
            "sec_per_step": run.wall_time / max(run.n_steps, 1)}
    return Curve(run.theta, kind, run.history, ends[0], ends[1], run.wall_time, run.n_steps, meta)
