"""The one trainer behind center finding and curve fitting.

It minimises the mean minibatch loss at points that depend on one trainable vector theta,
``points_fn(theta, t, groups)``, plus an optional penalty: for a center (``center.find_center``)
the points are t * theta + (1 - t) * theta_i on the segments to the feet; for a curve
(``curves.fit_curve``) they lie on a Bezier curve or a polychain through the bend theta. Each
step draws B_r groups (feet), B_t values of t per group and ONE data minibatch shared by all
points; ``evaluate.BatchedLoss`` evaluates them together.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ._validation import check_options
from .evaluate import BatchedLoss, resolve_device

if TYPE_CHECKING:
    from .center import CenterSpec

PointsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


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


def train_path_loss(theta0: torch.Tensor, points_fn: PointsFn, *, n_groups: int, penalty_fn,
                     model, X, y, loss: str, spec: CenterSpec, progress, should_stop, device,
                     what: str) -> Run:
    """Minimise the mean minibatch loss at ``points_fn(theta, t, groups)`` (+ penalty) over theta.

    t : (B_r, B_t) sampled per ``spec.t_dist``; groups : (B_r,) indices in [0, n_groups).
    """
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float32), y.to(dev)
    theta = theta0.detach().to(dev, torch.float32).clone().requires_grad_(True)
    opt = (torch.optim.Adam([theta], lr=spec.lr) if spec.optimizer == "adam"
           else torch.optim.SGD([theta], lr=spec.lr, momentum=0.9))
    n, bs = X.shape[0], min(spec.batch_size, X.shape[0])
    per_epoch = math.ceil(n / bs)
    total = spec.steps or spec.epochs * per_epoch
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
             if spec.lr_schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(int(spec.seed))
    batched = BatchedLoss(model, loss, spec.bn_policy, dev)
    history, running, count, interrupted, step = [], torch.zeros((), device=dev), 0, False, 0
    start = time.perf_counter()
    for step in range(1, total + 1):
        pos = (step - 1) % per_epoch
        if pos == 0:
            perm = torch.randperm(n, generator=gen)
        idx = perm[pos * bs:(pos + 1) * bs].to(dev)
        groups = torch.randint(n_groups, (spec.n_feet_per_step,), generator=gen).to(dev)
        t = _sample_t(spec.t_dist, spec.n_feet_per_step, spec.n_t, gen).to(dev)
        obj = batched(points_fn(theta, t, groups), X[idx], y[idx]).mean()
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
                interrupted, time.perf_counter() - start, batched.mode)


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
