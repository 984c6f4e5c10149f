"""A tighter NGD bound: a k-piece path whose pivots minimise the squared length under a hinge
penalty on the loss above a level epsilon, started from the fold-line through a center."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import Int, Options, Real, check_float, validate_params
from ..evaluate import AffineLoss, BatchedLoss, Evaluator, Progress, resolve_device, resolve_loss
from ..params import ParamLayout
from ..paths import PathProfile, polygonal_path
from .bound import NGDEstimate, _acc_text


@dataclass(frozen=True)
class ShortestPath:
    """A k-piece low-loss path and its NGD bound (``ngd`` = length / euclidean).

    vertices : (k+1, D) CPU float32, ends fixed. feasible : the dense full-data profile stays
    at or below ``epsilon`` everywhere (only then is ``ngd`` a bound at that loss level).
    history : length / euclidean after each step.
    """
    vertices: torch.Tensor
    length: float
    euclidean: float
    ngd: float
    epsilon: float
    max_loss: float
    feasible: bool
    profile: PathProfile
    init_length: float
    history: np.ndarray
    n_steps: int
    wall_time: float
    meta: dict = field(default_factory=dict)

    def as_estimate(self) -> NGDEstimate:
        acc = None if self.profile.train_acc is None else float(self.profile.train_acc.min())
        state = "stays below" if self.feasible else "EXCEEDS"
        text = (f"{len(self.vertices) - 1}-piece path with shortened pivots; it {state} the loss "
                f"level epsilon={self.epsilon:.3g} (max train loss {self.max_loss:.3g}"
                f"{_acc_text(acc)}).")
        return NGDEstimate(self.ngd, "k_piece", text, self.euclidean, self.length, None,
                           self.max_loss, acc, self.feasible, self.profile, dict(self.meta))


def _subdivide(vertices: torch.Tensor, n_pieces: int) -> torch.Tensor:
    """Insert midpoints of the longest piece until the path has at least ``n_pieces`` pieces."""
    verts = list(vertices)
    while len(verts) - 1 < n_pieces:
        lengths = [float((b - a).norm()) for a, b in zip(verts[:-1], verts[1:])]
        i = int(np.argmax(lengths))
        verts.insert(i + 1, 0.5 * (verts[i] + verts[i + 1]))
    return torch.stack(verts)


def _path_length(vertices: torch.Tensor) -> float:
    return float((vertices[1:].double() - vertices[:-1].double()).norm(dim=1).sum())


@validate_params(n_pieces=Int(1, 1000), steps=Int(0, 10_000_000), method=Options("project", "penalty"),
                 omega=Real(0.0, 1.0), margin=Real(0.0, 1.0), lr=Real(0.0, 10.0, lo_open=True),
                 mu=Real(0.0), restore_steps=Int(0, 100_000), polish_steps=Int(0, 100_000),
                 check_points=Int(0, 100_000), epsilon=Real(0.0, none=True))
def shortest_path(theta_1, theta_2, *, model, X, y, init=None, n_pieces: int = 4,
                  epsilon: float | None = None, steps: int = 100, method: str = "project",
                  omega: float = 0.3, restore_steps: int = 3, margin: float = 0.9,
                  polish_steps: int = 20, lr: float = 3e-3, mu: float = 100.0,
                  check_points: int = 2, batch_size: int = 256, loss: str = "auto", seed: int = 0,
                  n_eval_points: int = 11, bn_policy: str = "recompute",
                  progress: Progress | None = None, should_stop=None, device="auto") -> ShortestPath:
    """Shorten a k-piece path between two minima while keeping its loss at or below ``epsilon``.

    Target: interior pivots p_1..p_{k-1} (ends fixed) minimising
    sum_i ||p_{i+1} - p_i||^2 + mu * sum_points max(0, L(point) - epsilon), with the minibatch
    loss L checked at the pivots and at ``check_points`` random points per piece every step.

    - ``method="project"`` (default, the mu -> infinity limit): each step moves every pivot a
      fraction ``omega`` (cosine-decayed to 0) towards the midpoint of its neighbours (a
      gradient step on the squared length), then takes up to ``restore_steps`` Polyak steps
      p <- p - H / ||grad H||^2 grad H on the hinge H = sum max(0, L - margin * epsilon);
      ``polish_steps`` final Polyak steps use a fixed grid and the full data. Scale-free.
    - ``method="penalty"``: Adam (``lr``) on the penalised objective with weight ``mu``, the
      length term divided by that of the straight chain. Needs lr tuned to the weights' scale,
      and moves slowly along thin minima sets (measured on a convex toy).

    The final path is evaluated on the full training data, ``n_eval_points`` per piece.

    Parameters
    ----------
    theta_1, theta_2 : Tensor (D,)
    model, X, y : architecture (never modified) and training data.
    init : Tensor (m+1, D), optional
        Starting vertices, ends first and last, e.g. the fold-line [theta_1, c, theta_2];
        midpoints of the longest pieces are inserted up to ``n_pieces`` (more are kept).
        Default: the straight segment (useful only where the segment is feasible).
    epsilon : float, optional
        Loss level. Default: 2 x the larger full-data endpoint loss (at least 1e-4).

    Returns
    -------
    ShortestPath
        ``ngd`` (never below 1) bounds the NGD at level epsilon only if ``feasible``.
    """
    a, b, verts = _endpoints_and_init(theta_1, theta_2, init, ParamLayout.of(model).dim)
    verts = _subdivide(verts, n_pieces)
    loss = resolve_loss(loss, y)
    evaluator = Evaluator(model, X, y, loss=loss, bn_policy=bn_policy, device=device)
    if epsilon is None:
        epsilon = max(2.0 * float(evaluator.evaluate(torch.stack([a, b])).loss.max()), 1e-4)
    check_float(epsilon, "epsilon", "shortest_path", lo=0.0)      # the default, derived above
    dev = resolve_device(device)
    Xd, yd = X.to(dev, torch.float32), y.to(dev)
    fast, route = AffineLoss.build(model, loss, bn_policy, dev, Xd, yd, verts[[0, -1]])
    run = _Shortening(verts, BatchedLoss(model, loss, bn_policy, dev), Xd, yd, check_points,
                      batch_size, seed, dev, fast)
    start = time.perf_counter()
    if method == "project":
        n_done = run.project(steps, omega, restore_steps, margin * epsilon, progress, should_stop)
        run.polish(polish_steps, margin * epsilon, n_eval_points)
    else:
        n_done = run.penalty(steps, lr, mu, epsilon, progress, should_stop)
    verts = run.vertices()
    prof = polygonal_path(verts, evaluator=evaluator, n_points=n_eval_points, label="shortened path")
    length, euclid = _path_length(verts), float((b.double() - a.double()).norm())
    max_loss = float(prof.train_loss.max())
    meta = {"method": method, "omega": omega, "margin": margin, "mu": mu, "lr": lr,
            "check_points": check_points, "seed": seed, "interrupted": n_done < steps,
            "route": route}
    return ShortestPath(verts, length, euclid, length / euclid, float(epsilon), max_loss,
                        bool(max_loss <= epsilon), prof, _path_length(run.initial), np.asarray(
                            run.history, float), n_done, time.perf_counter() - start, meta)


def _endpoints_and_init(theta_1, theta_2, init, dim: int) -> tuple:
    """Validated ends a, b (D,) and starting vertices (m+1, D) with a and b as exact ends."""
    a = torch.as_tensor(theta_1).detach().reshape(-1).float().cpu()
    b = torch.as_tensor(theta_2).detach().reshape(-1).float().cpu()
    if a.shape[0] != dim or b.shape[0] != dim or torch.equal(a, b):
        raise ValueError(f"The 'theta_1' and 'theta_2' parameters of shortest_path must be two "
                         f"distinct vectors of D = {dim} entries. Got shapes {tuple(a.shape)}, "
                         f"{tuple(b.shape)} (equal: {torch.equal(a, b)}).")
    verts = torch.stack([a, b]) if init is None else torch.as_tensor(init).detach().float().cpu()
    if verts.ndim != 2 or verts.shape[1] != dim or len(verts) < 2:
        raise ValueError(f"The 'init' parameter of shortest_path must have shape (m+1, {dim}), "
                         f"ends included. Got {tuple(verts.shape)} instead.")
    return a, b, torch.cat([a[None], verts[1:-1], b[None]])


class _Shortening:
    """State of one path-shortening run: fixed ends, interior pivots, data, sampler, history."""

    def __init__(self, verts, batched, X, y, check_points, batch_size, seed, dev, fast=None):
        self.initial, self.dev, self.fast = verts, dev, fast   # fast: AffineLoss over the ends
        self.ends, self.inner = verts[[0, -1]].to(dev), verts[1:-1].to(dev).clone()
        self.batched, self.X, self.y = batched, X, y
        self.k, self.n, self.bs = len(verts) - 1, X.shape[0], min(batch_size, X.shape[0])
        self.cp, self.gen = check_points, torch.Generator().manual_seed(int(seed))
        self.euclid = float((self.ends[1] - self.ends[0]).norm())
        self.history: list = []

    def vertices(self) -> torch.Tensor:
        return torch.cat([self.ends[:1], self.inner, self.ends[1:]]).detach().cpu()

    def _hinge(self, inner, idx, t, level) -> torch.Tensor:
        """sum of max(0, L - level) over the interior pivots and the points at t (k, c, 1)."""
        if self.fast is not None and len(inner):   # the same points via the first-layer shortcut
            A, C = self._coeffs(t)
            return torch.relu(self.fast(inner, A, C, idx) - level).sum()
        full = torch.cat([self.ends[:1], inner, self.ends[1:]])
        between = (full[:-1, None] + t * (full[1:, None] - full[:-1, None])).reshape(-1, full.shape[1])
        losses = self.batched(torch.cat([inner, between]), self.X[idx], self.y[idx])
        return torch.relu(losses - level).sum()

    def _coeffs(self, t) -> tuple:
        """[inner; points at t] = A @ inner + C @ [a; b]: A (P, k - 1), C (P, 2)."""
        k, tt = self.k, t.reshape(self.k, -1)
        c = tt.shape[1]
        full = torch.zeros(k - 1 + k * c, k + 1, device=tt.device)   # weights of the k+1 vertices
        ar = lambda *a: torch.arange(*a, device=tt.device)   # noqa: E731
        full[ar(k - 1), ar(1, k)] = 1.0
        rows, piece = ar(k - 1, k - 1 + k * c), ar(k).repeat_interleave(c)
        full[rows, piece] = 1 - tt.flatten()
        full[rows, piece + 1] = tt.flatten()
        return full[:, 1:k], full[:, [0, k]]

    def _sample(self):
        t = torch.rand(self.k, self.cp, 1, generator=self.gen).to(self.dev)
        return torch.randint(self.n, (self.bs,), generator=self.gen).to(self.dev), t

    def _polyak(self, idx, t, level) -> float:
        p = self.inner.clone().requires_grad_(True)
        H = self._hinge(p, idx, t, level)
        h = float(H.detach())
        if h > 0 and math.isfinite(h):
            g, = torch.autograd.grad(H, p)
            gn2 = float((g * g).sum())
            if gn2 > 0:
                self.inner = (p - h / gn2 * g).detach()
        return h

    def _log(self, step, steps, progress, should_stop) -> bool:
        self.history.append(_path_length(self.vertices()) / self.euclid)
        if not math.isfinite(self.history[-1]):
            raise RuntimeError(f"shortest_path diverged at step {step}; lower 'lr' or 'mu'.")
        if progress is not None and (step % 10 == 0 or step == steps):
            progress(step / max(steps, 1), f"shortening path: step {step}/{steps}, "
                     f"length/euclid {self.history[-1]:.4f}")
        return should_stop is not None and should_stop()

    def project(self, steps, omega, restore_steps, level, progress, should_stop) -> int:
        for step in range(1, steps + 1):
            om = omega * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
            full = torch.cat([self.ends[:1], self.inner, self.ends[1:]])
            self.inner = self.inner + om * (0.5 * (full[:-2] + full[2:]) - self.inner)
            for _ in range(restore_steps):
                if self._polyak(*self._sample(), level) == 0:
                    break
            if self._log(step, steps, progress, should_stop):
                return step
        return steps

    def polish(self, steps, level, n_points) -> None:
        """Polyak steps on a fixed t-grid (n_points per piece) and all data (at most 4 batches)."""
        t = torch.linspace(0, 1, max(n_points, 3))[1:-1].reshape(1, -1, 1).expand(self.k, -1, 1)
        idx = torch.randperm(self.n, generator=self.gen)[:4 * self.bs].to(self.dev)
        for _ in range(steps):
            if self._polyak(idx, t.to(self.dev), level) == 0:
                break

    def penalty(self, steps, lr, mu, epsilon, progress, should_stop) -> int:
        inner = self.inner.clone().requires_grad_(True)
        opt = torch.optim.Adam([inner], lr=lr)
        scale = self.euclid ** 2 / self.k               # squared length of the straight chain
        for step in range(1, steps + 1):
            full = torch.cat([self.ends[:1], inner, self.ends[1:]])
            obj = ((full[1:] - full[:-1]) ** 2).sum() / scale
            if mu > 0:
                obj = obj + mu * self._hinge(inner, *self._sample(), epsilon)
            opt.zero_grad(set_to_none=True)
            obj.backward()
            opt.step()
            self.inner = inner.detach()
            if self._log(step, steps, progress, should_stop):
                return step
        return steps
