"""Normalised geodesic distance (NGD, the paper's Definition 4): upper bounds from paths.

NGD G(theta_1, theta_2) = (length of the shortest path inside the minima set) / ||theta_1 -
theta_2||. Every low-loss path gives an UPPER bound; three estimators, tightest last:

- ``ngd_upper_bound`` / ``ngd_estimate``: the paper's Eq. 8 through a center (2-piece path);
- ``shortest_path``: a k-piece path whose pivots minimise the squared length under a hinge
  penalty on the loss above a level epsilon (spec B.6 proposal), started from the fold-line;
- ``slice_geodesic``: fast marching on a 2-D loss slice (shortest path inside the slice).

A bound holds only for the loss level it was checked at: every result reports the path's
maximum loss (and accuracy) with it.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import check_float, check_int, check_options
from .evaluate import BatchedLoss, Evaluator, Progress, resolve_device, resolve_loss
from .params import ParamLayout
from .paths import PathProfile, fold_line_path, polygonal_path



def ngd_upper_bound(theta_1, center, theta_2) -> float:
    """Eq. 8: U = (||theta_1 - center|| + ||center - theta_2||) / ||theta_1 - theta_2||.

    Norms in float64. U >= 1, with equality iff the center lies on the segment. It bounds the
    NGD only if both legs stay in the minima set (check the fold-line's loss).
    """
    a, c, b = (torch.as_tensor(getattr(v, "theta", v)).detach().double().reshape(-1).cpu()
               for v in (theta_1, center, theta_2))
    if not (a.shape == b.shape == c.shape):
        raise ValueError(f"ngd_upper_bound needs three vectors of one length. Got {tuple(a.shape)}, "
                         f"{tuple(c.shape)} and {tuple(b.shape)}.")
    euclid = float((a - b).norm())
    if euclid == 0.0:
        raise ValueError("ngd_upper_bound needs two distinct feet: theta_1 == theta_2, so the NGD "
                         "is undefined (0/0). Pass two different minima.")
    return (float((a - c).norm()) + float((c - b).norm())) / euclid


@dataclass(frozen=True)
class NGDEstimate:
    """An upper bound on the NGD and what it rests on.

    value : path length / Euclidean distance. kind : "fold_line" | "k_piece" | "slice_fmm".
    computed_from : one sentence naming the path, lam and the path's loss/accuracy.
    path_max_loss, path_min_acc : worst training loss / accuracy along the evaluated path.
    """
    value: float
    kind: str
    computed_from: str
    euclidean: float
    length: float
    lam: float | None = None
    path_max_loss: float | None = None
    path_min_acc: float | None = None
    is_upper_bound: bool = True
    profile: PathProfile | None = None
    meta: dict = field(default_factory=dict)


def _acc_text(acc) -> str:
    return "" if acc is None else f", min train accuracy {100 * acc:.2f}%"


def ngd_estimate(theta_1, theta_2, center, *, evaluator: Evaluator,
                 test_evaluator: Evaluator | None = None, n_points: int = 26) -> NGDEstimate:
    """The paper's NGD bound U(center) with the fold-line theta_1 -> center -> theta_2 evaluated.

    center : center.Center (its lam is reported) or Tensor (D,). n_points : points per leg.
    """
    theta_c = getattr(center, "theta", center)
    spec = getattr(center, "spec", None)
    lam = None if spec is None else float(spec.lam)
    value = ngd_upper_bound(theta_1, theta_c, theta_2)
    prof = fold_line_path(theta_1, theta_c, theta_2, evaluator=evaluator,
                          test_evaluator=test_evaluator, n_points=n_points, label="NGD fold-line")
    bars = prof.barriers("train")
    lam_text = "a given center" if lam is None else f"a center fitted with lam={lam:g}"
    text = (f"2-piece path through {lam_text}; fold-line max train loss {bars['max_loss']:.3g}"
            f"{_acc_text(bars.get('min_acc'))} ({n_points} points per leg, BN {prof.bn_policy}).")
    return NGDEstimate(value, "fold_line", text, prof.distance, prof.length, lam, bars["max_loss"],
                       bars.get("min_acc"), True, prof, {"n_points": n_points})


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
    c = "shortest_path"
    check_int(n_pieces, "n_pieces", c, lo=1, hi=1000)
    check_int(steps, "steps", c, lo=0, hi=10_000_000)
    check_options(method, "method", c, ("project", "penalty"))
    check_float(omega, "omega", c, lo=0.0, hi=1.0)
    check_float(margin, "margin", c, lo=0.0, hi=1.0)
    check_float(lr, "lr", c, lo=0.0, lo_open=True, hi=10.0)
    check_float(mu, "mu", c, lo=0.0)
    for name, value in (("restore_steps", restore_steps), ("polish_steps", polish_steps),
                        ("check_points", check_points)):
        check_int(value, name, c, lo=0, hi=100_000)
    a, b, verts = _endpoints_and_init(theta_1, theta_2, init, ParamLayout.of(model).dim)
    verts = _subdivide(verts, n_pieces)
    loss = resolve_loss(loss, y)
    evaluator = Evaluator(model, X, y, loss=loss, bn_policy=bn_policy, device=device)
    if epsilon is None:
        epsilon = max(2.0 * float(evaluator.evaluate(torch.stack([a, b])).loss.max()), 1e-4)
    check_float(epsilon, "epsilon", c, lo=0.0)
    dev = resolve_device(device)
    run = _Shortening(verts, BatchedLoss(model, loss, bn_policy, dev), X.to(dev, torch.float32),
                      y.to(dev), check_points, batch_size, seed, dev)
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
            "check_points": check_points, "seed": seed, "interrupted": n_done < steps}
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

    def __init__(self, verts, batched, X, y, check_points, batch_size, seed, dev):
        self.initial, self.dev = verts, dev
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
        full = torch.cat([self.ends[:1], inner, self.ends[1:]])
        between = (full[:-1, None] + t * (full[1:, None] - full[:-1, None])).reshape(-1, full.shape[1])
        losses = self.batched(torch.cat([inner, between]), self.X[idx], self.y[idx])
        return torch.relu(losses - level).sum()

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


@dataclass(frozen=True)
class SliceGeodesic:
    """Shortest path inside the free region {loss <= epsilon} of a 2-D slice.

    path : (P, 2) (alpha, beta) from start to end. length : polyline length of ``path``;
    fmm_length : travel distance of the fast-marching field at ``end``. free, distance :
    (A, B) grids (distance is inf where unreachable or blocked).
    """
    path: np.ndarray
    length: float
    fmm_length: float
    euclidean: float
    ngd_bound: float
    free: np.ndarray
    distance: np.ndarray
    epsilon: float
    reachable: bool
    start: tuple
    end: tuple
    method: str
    meta: dict = field(default_factory=dict)

    def as_estimate(self) -> NGDEstimate:
        text = (f"shortest path inside the 2-D slice's region loss <= {self.epsilon:.3g} "
                f"(fast marching on a {self.free.shape[0]}x{self.free.shape[1]} grid; path by "
                f"{self.method}); exact only up to the grid resolution.")
        return NGDEstimate(self.ngd_bound, "slice_fmm", text, self.euclidean, self.length, None,
                           None, None, self.reachable, None, dict(self.meta))


def _grid_point(slice2d, point, name: str) -> tuple:
    """Snap (alpha, beta) or an anchor name to the nearest grid node: ((i, j), (alpha, beta))."""
    if isinstance(point, str):
        if point not in slice2d.anchors:
            raise ValueError(f"The '{name}' parameter of slice_geodesic names an anchor; the slice "
                             f"has {sorted(slice2d.anchors)}. Got {point!r} instead.")
        point = slice2d.anchors[point]
    al, be = (float(v) for v in point)
    i = int(np.argmin(np.abs(slice2d.alphas - al)))
    j = int(np.argmin(np.abs(slice2d.betas - be)))
    return (i, j), (float(slice2d.alphas[i]), float(slice2d.betas[j]))


def _spacing(values: np.ndarray, name: str) -> float:
    steps = np.diff(np.asarray(values, float))
    if len(steps) < 1 or steps[0] <= 0 or not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        raise ValueError(f"slice_geodesic needs evenly spaced, increasing {name} with at least two "
                         f"values (a linspace grid). Got steps {steps[:5].tolist()}...")
    return float(steps[0])


def slice_geodesic(slice2d, start, end, *, epsilon: float, split: str = "train",
                   method: str = "fmm") -> SliceGeodesic:
    """Shortest path from ``start`` to ``end`` inside {loss <= epsilon} of a 2-D slice.

    Cells with loss <= epsilon are free. ``skfmm.travel_time`` (speed 1 in free cells, blocked
    cells masked, grid spacing per axis) gives the travel distance from ``start``; the path is
    traced back from ``end`` by normalised gradient descent on that field (half-cell steps),
    or by a Dijkstra backtrack on the 8-neighbour free graph (no corner cutting) when the
    descent gets stuck or ``method="dijkstra"``.

    Coordinates (alpha, beta) are Euclidean in parameter space only for orthonormal planes
    (``slices.plane_through``, ``three_model_slice``); for filter-normalised random planes the
    "length" is in plane units. ``ngd_bound`` = length / ||end - start|| upper-bounds the
    slice-restricted geodesic, which upper-bounds the true NGD (at level epsilon) only up to
    the grid resolution: the loss between grid nodes is not checked.

    Parameters
    ----------
    slice2d : slices.Slice2D
        Grids indexed [alpha, beta] on evenly spaced ``alphas`` (A,) and ``betas`` (B,).
    start, end : (alpha, beta) or str (an anchor name of the slice)
        Snapped to the nearest grid node.
    epsilon : float
        Loss level of the free region.
    split : {"train", "test"}
    method : {"fmm", "dijkstra"}

    Returns
    -------
    SliceGeodesic
    """
    import skfmm
    c = "slice_geodesic"
    check_options(split, "split", c, ("train", "test"))
    check_options(method, "method", c, ("fmm", "dijkstra"))
    check_float(epsilon, "epsilon", c)
    loss = slice2d.train_loss if split == "train" else slice2d.test_loss
    if loss is None:
        raise ValueError(f"The slice has no {split} loss; use split='train' or a slice computed "
                         "with a test evaluator.")
    loss = np.asarray(loss, float)
    dx = (_spacing(slice2d.alphas, "alphas"), _spacing(slice2d.betas, "betas"))
    free = np.isfinite(loss) & (loss <= epsilon)
    (si, sc), (ei, ec) = _grid_point(slice2d, start, "start"), _grid_point(slice2d, end, "end")
    for name, idx, xy in (("start", si, sc), ("end", ei, ec)):
        if not free[idx]:
            raise ValueError(f"The '{name}' point {xy} of slice_geodesic is not in the free region: "
                             f"its loss {loss[idx]:.4g} exceeds epsilon={epsilon:.4g}. Use epsilon >= "
                             f"{loss[idx]:.4g} to free it, or pick another point.")
    euclid = math.hypot(ec[0] - sc[0], ec[1] - sc[1])
    phi = np.ones_like(loss)
    phi[si] = 0.0
    T = skfmm.travel_time(np.ma.MaskedArray(phi, ~free), np.ones_like(loss), dx=list(dx))
    dist = np.ma.filled(T.astype(float), np.inf)
    dist[si] = 0.0
    reachable = bool(np.isfinite(dist[ei]))
    path, used = np.empty((0, 2)), method
    if reachable:
        path = None if method == "dijkstra" else _descend_field(dist, slice2d, dx, si, ei)
        if path is None:
            path, used = _dijkstra_path(free, slice2d, dx, si, ei), "dijkstra"
        else:
            used = "fmm gradient descent"
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if reachable else math.inf
    ngd = (length / euclid if euclid > 0 else 1.0) if reachable else math.inf
    return SliceGeodesic(path, length, float(dist[ei]), euclid, ngd, free, dist, float(epsilon),
                         reachable, sc, ec, used, {"dx": dx, "split": split,
                                                   "slice_kind": slice2d.kind})


def _field_gradient(dist: np.ndarray, dx: tuple) -> tuple:
    """Gradient of the distance field using only finite neighbours (central, else one-sided)."""
    T = np.where(np.isfinite(dist), dist, np.nan)
    Tp = np.pad(T, 1, constant_values=np.nan)
    grads = []
    for axis, h in enumerate(dx):
        lo = Tp[:-2, 1:-1] if axis == 0 else Tp[1:-1, :-2]
        hi = Tp[2:, 1:-1] if axis == 0 else Tp[1:-1, 2:]
        fwd, bwd = (hi - T) / h, (T - lo) / h
        g = np.where(np.isfinite(fwd) & np.isfinite(bwd), 0.5 * (fwd + bwd),
                     np.where(np.isfinite(fwd), fwd, np.where(np.isfinite(bwd), bwd, np.nan)))
        grads.append(g)
    return grads[0], grads[1]


def _descend_field(dist, slice2d, dx, si, ei):
    """Trace ``end`` -> ``start`` down the distance field; (P, 2) start-first, or None if stuck.

    Half-cell steps along -grad T; a step that would land in a blocked cell is replaced by a
    move to the free 8-neighbour node with the smallest T (walls are followed, not crossed).
    """
    ga, gb = _field_gradient(dist, dx)
    origin, h = np.array([slice2d.alphas[0], slice2d.betas[0]], float), np.array(dx)
    A, B = dist.shape
    step = 0.5 * min(dx)
    start, pos = origin + np.array(si) * h, origin + np.array(ei) * h
    path = [pos.copy()]
    node = lambda p: tuple(int(v) for v in np.round((p - origin) / h))
    ok = lambda c: 0 <= c[0] < A and 0 <= c[1] < B and np.isfinite(dist[c])
    for _ in range(int(3 * dist[ei] / step) + 4 * (A + B)):
        if np.linalg.norm((pos - start) / h) <= 1.5:
            path.append(start)
            return np.array(path[::-1])
        f = (pos - origin) / h
        g = _bilinear(ga, gb, f[0], f[1])
        nxt = None if g is None else pos - step * g / np.linalg.norm(g)
        if nxt is None or not ok(node(nxt)):
            here = node(pos)
            around = [(here[0] + di, here[1] + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
            around = [c for c in around if ok(c) and dist[c] < dist[here]]
            if not around:
                return None
            nxt = origin + np.array(min(around, key=lambda c: dist[c])) * h
        pos = nxt
        path.append(pos.copy())
    return None


def _bilinear(ga, gb, fi, fj):
    """Gradient at fractional index (fi, fj), ignoring NaN corners; None if none is finite."""
    i0, j0 = int(np.floor(fi)), int(np.floor(fj))
    acc, wsum = np.zeros(2), 0.0
    for di in (0, 1):
        for dj in (0, 1):
            i, j = i0 + di, j0 + dj
            if not (0 <= i < ga.shape[0] and 0 <= j < ga.shape[1]):
                continue
            w = (1 - abs(fi - i)) * (1 - abs(fj - j))
            if w > 0 and np.isfinite(ga[i, j]) and np.isfinite(gb[i, j]):
                acc += w * np.array([ga[i, j], gb[i, j]])
                wsum += w
    if wsum == 0 or not np.any(acc):
        return None
    return acc / wsum


def _dijkstra_path(free, slice2d, dx, si, ei) -> np.ndarray:
    """Shortest 8-neighbour path through free cells (diagonals need both side cells free)."""
    A, B = free.shape
    best = np.full(free.shape, np.inf)
    prev: dict = {}
    best[si] = 0.0
    heap = [(0.0, si)]
    moves = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
    while heap:
        d, (i, j) = heapq.heappop(heap)
        if (i, j) == ei:
            break
        if d > best[i, j]:
            continue
        for di, dj in moves:
            ni, nj = i + di, j + dj
            if not (0 <= ni < A and 0 <= nj < B) or not free[ni, nj]:
                continue
            if di and dj and not (free[ni, j] and free[i, nj]):
                continue
            nd = d + math.hypot(di * dx[0], dj * dx[1])
            if nd < best[ni, nj]:
                best[ni, nj] = nd
                prev[(ni, nj)] = (i, j)
                heapq.heappush(heap, (nd, (ni, nj)))
    cells = [ei]
    while cells[-1] != si:
        cells.append(prev[cells[-1]])
    cells = np.array(cells[::-1])
    return np.stack([slice2d.alphas[cells[:, 0]], slice2d.betas[cells[:, 1]]], axis=1)


def bottleneck_level(slice2d, p, q, *, split: str = "train") -> float:
    """The lowest loss level epsilon at which points p and q of a slice are joined in {loss <= epsilon}.

    A binary search over the grid's loss values with 8-connected components: the barrier
    between p and q *within this plane*, at grid resolution (p, q: (alpha, beta), snapped to
    the nearest grid nodes). Any ``slice_geodesic`` with a smaller epsilon is unreachable.
    """
    from scipy import ndimage
    loss = np.asarray(slice2d.train_loss if split == "train" else slice2d.test_loss, float)

    def node(pt):
        return (int(np.abs(slice2d.alphas - pt[0]).argmin()),
                int(np.abs(slice2d.betas - pt[1]).argmin()))
    a, b = node(p), node(q)
    levels = np.unique(loss[np.isfinite(loss)])
    lo, hi = int(np.searchsorted(levels, max(loss[a], loss[b]))), len(levels) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        labels, _ = ndimage.label(loss <= levels[mid], structure=np.ones((3, 3)))
        lo, hi = (lo, mid) if labels[a] and labels[a] == labels[b] else (mid + 1, hi)
    return float(levels[lo])
