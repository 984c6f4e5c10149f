"""The one trainer behind center finding and curve fitting.

It minimises the mean minibatch loss at points that depend on one trainable vector theta,
``points_fn(theta, t, groups)``, plus an optional penalty: for a center (``center.find_center``)
the points are t * theta + (1 - t) * theta_i on the segments to the feet; for a curve
(``curves.fit_curve``) they lie on a Bezier curve or a polychain through the bend theta. Each
step draws B_r groups (feet), B_t values of t per group and ONE data minibatch shared by all
points. Where the points are affine in theta and fixed rows (``Affine``: the feet, the curve's
ends) and the model has a cuttable Linear/Conv2d first layer, ``evaluate.AffineLoss`` evaluates
them (the first layer once for theta, cached per sample for the fixed rows); otherwise, and for
BatchNorm models, ``evaluate.BatchedLoss`` evaluates the points themselves (``Run.route`` says
which). Both give the same objective and gradient up to float round-off.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ._validation import Options, check_options, validate_params
from .evaluate import AffineLoss, BatchedLoss, resolve_device

if TYPE_CHECKING:
    from .center import CenterSpec

log = logging.getLogger(__name__)
PointsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
ROUTES = ("auto", "plain")


@dataclass(frozen=True)
class Affine:
    """points = A * theta + C @ bank[rows]: ``coeffs(t, groups) -> (A (P, 1), C (P, k), rows)``,
    rows a list of k row numbers of the bank (n, D)."""
    bank: torch.Tensor
    coeffs: Callable[[torch.Tensor, torch.Tensor], tuple]


class PathObjective:
    """The mean minibatch loss at one step's points, ``obj(theta, t, groups, idx)``, by the
    first-layer shortcut where ``affine`` is given and the model allows it, else plainly."""

    @validate_params(route=Options(ROUTES))
    def __init__(self, model, loss: str, bn_policy: str, dev, X, y, points_fn: PointsFn,
                 affine: Affine | None, route: str = "auto"):
        self.X, self.y, self.points_fn, self.affine = X, y, points_fn, affine
        self.batched = BatchedLoss(model, loss, bn_policy, dev)
        self.fast, self.route = None, "plain (points evaluated one by one or vmapped)"
        if affine is not None and route == "auto":
            self.fast, why = AffineLoss.build(model, loss, bn_policy, dev, X, y, affine.bank)
            self.route = why

    def __call__(self, theta, t, groups, idx) -> torch.Tensor:
        if self.fast is not None:
            A, C, rows = self.affine.coeffs(t, groups)
            return self.fast(theta[None], A, C, idx, rows).mean()
        return self.batched(self.points_fn(theta, t, groups), self.X[idx], self.y[idx]).mean()


def make_optimizer(theta: torch.Tensor, spec: CenterSpec) -> torch.optim.Optimizer:
    """Adam (the fused kernel on CPU and CUDA: one pass over theta instead of ~10; the same
    update up to float round-off) or SGD with momentum 0.9."""
    if spec.optimizer == "adam":
        return torch.optim.Adam([theta], lr=spec.lr, fused=theta.device.type in ("cpu", "cuda"))
    return torch.optim.SGD([theta], lr=spec.lr, momentum=0.9)


def _sample_t(kind: str, rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    """t values (rows, cols): U[0,1], Beta(2,2) (median of three uniforms) or stratified."""
    if kind == "uniform":
        return torch.rand(rows, cols, generator=gen)
    if kind == "beta22":
        return torch.rand(rows, cols, 3, generator=gen).median(dim=-1).values
    return (torch.arange(cols) + torch.rand(rows, cols, generator=gen)) / cols


@dataclass
class Run:
    theta: torch.Tensor
    history: np.ndarray
    n_steps: int
    interrupted: bool
    wall_time: float
    mode: str
    route: str = "plain"


def train_path_loss(theta0: torch.Tensor, points_fn: PointsFn, *, n_groups: int, penalty_fn,
                     model, X, y, loss: str, spec: CenterSpec, progress, should_stop, device,
                     what: str, affine: Affine | None = None, route: str = "auto") -> Run:
    """Minimise the mean minibatch loss at ``points_fn(theta, t, groups)`` (+ penalty) over theta.

    t : (B_r, B_t) sampled per ``spec.t_dist``; groups : (B_r,) indices in [0, n_groups).
    affine : the same points as ``Affine`` coefficients (enables the first-layer shortcut);
    route : "auto" (the shortcut where it applies) or "plain" (always ``points_fn``).
    """
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float32), y.to(dev)
    theta = theta0.detach().to(dev, torch.float32).clone().requires_grad_(True)
    opt = make_optimizer(theta, spec)
    n, bs = X.shape[0], min(spec.batch_size, X.shape[0])
    per_epoch = math.ceil(n / bs)
    total = spec.steps or spec.epochs * per_epoch
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
             if spec.lr_schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(int(spec.seed))
    objective = PathObjective(model, loss, spec.bn_policy, dev, X, y, points_fn, affine, route)
    log.info("%s: %s", what, objective.route)
    history, running, count, interrupted, step = [], torch.zeros((), device=dev), 0, False, 0
    start = time.perf_counter()
    for step in range(1, total + 1):
        pos = (step - 1) % per_epoch
        if pos == 0:
            perm = torch.randperm(n, generator=gen)
        idx = perm[pos * bs:(pos + 1) * bs].to(dev)
        groups = torch.randint(n_groups, (spec.n_feet_per_step,), generator=gen).to(dev)
        t = _sample_t(spec.t_dist, spec.n_feet_per_step, spec.n_t, gen).to(dev)
        obj = objective(theta, t, groups, idx)
        if penalty_fn is not None:
            obj = obj + penalty_fn(theta, groups)
        opt.zero_grad(set_to_none=True)
        obj.backward()
        opt.step()
        if sched is not None:
            sched.step()
        running, count = running + obj.detach(), count + 1
        stop = should_stop is not None and should_stop()
        if pos == per_epoch - 1 or step == total or stop:
            history.append(_checked_mean(running, count, step, what, spec))
            running, count = torch.zeros((), device=dev), 0
            if progress is not None:
                progress(step / total, f"{what}: step {step}/{total}, objective {history[-1]:.4g}")
        if stop:
            interrupted = True
            break
    return Run(theta.detach().cpu().float().clone(), np.asarray(history, float), step,
                interrupted, time.perf_counter() - start, objective.batched.mode, objective.route)


def _checked_mean(running: torch.Tensor, count: int, step: int, what: str, spec: CenterSpec) -> float:
    value = float(running) / max(count, 1)
    if not math.isfinite(value):
        raise RuntimeError(f"{what} diverged: the objective became {value} by step {step} "
                           f"({spec.optimizer}, lr={spec.lr}). Lower the 'lr' of CenterSpec or "
                           "use lr_schedule='cosine'; nothing was stored.")
    return value


def as_feet(feet, dim: int, caller: str) -> torch.Tensor:
    """(r, D) float32 CPU copy of feet given as a tensor or a list of (D,) tensors."""
    if isinstance(feet, (list, tuple)):
        if not feet:
            raise ValueError(f"The 'feet' parameter of {caller} must hold at least one vector. Got [].")
        feet = torch.stack([torch.as_tensor(f).detach().reshape(-1).cpu().float() for f in feet])
    feet = torch.as_tensor(feet).detach().cpu().float()
    if feet.ndim != 2 or feet.shape[0] < 1 or feet.shape[1] != dim:
        raise ValueError(f"The 'feet' parameter of {caller} must have shape (r, {dim}) for this "
                         f"model (r >= 1). Got {tuple(feet.shape)} instead.")
    return feet.clone()


def resolve_loss(loss: str, y: torch.Tensor, caller: str) -> str:
    if loss == "auto":
        return "mse" if y.is_floating_point() else "cross_entropy"
    return check_options(loss, "loss", caller, ("auto", "cross_entropy", "mse"))
