"""Geodesics on a 2-D loss slice: fast marching inside {loss <= epsilon} (scikit-fmm), a
Dijkstra fallback, and the lowest loss level that joins two points of the slice."""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import Options, Real, validate_params
from .bound import NGDEstimate


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


@validate_params(epsilon=Real(), split=Options("train", "test"), method=Options("fmm", "dijkstra"))
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
