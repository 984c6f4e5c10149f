"""Paths between parameter vectors and the barrier metrics along them.

Orientation: every path runs from its first vertex at t = 0 to its last at t = 1. For a
straight segment the point at t is (1 - t) * theta_a + t * theta_b (the paper's Definition 1
writes the same segment with t reversed). A fold-line theta_i -> center -> theta_j follows the
paper's parameterisation exactly: each leg takes half of the t-axis whatever its length,
t < 0.5: 2t * center + (1 - 2t) * theta_i; t >= 0.5: (2t - 1) * theta_j + (2 - 2t) * center.

Barrier metrics, always labelled (see ``BARRIER_DEFINITIONS``):
- ``max_loss`` / ``min_acc``: the paper's (Lin et al., Tables 1-2): raw maximum loss and
  minimum accuracy along the path;
- ``barrier_height``: Frankle et al. / Entezari et al.: max over t of the loss minus the
  linear interpolation of the two endpoint losses (``acc_drop`` likewise for accuracy);
- ``rebasin_barrier``: Ainsworth et al. (Git Re-Basin): max over t of the loss minus the mean of
  the two endpoint losses (``rebasin_acc_barrier`` likewise for accuracy);
- ``midpoint_loss`` / ``midpoint_acc`` and ``midpoint_barrier`` / ``midpoint_acc_drop``: Jordan et
  al. (REPAIR): the network at t = 1/2, raw and relative to the mean of the endpoints.
``BARRIER_GROUPS`` lists them by source, for side-by-side tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import Int, validate_params
from .evaluate import Evaluator, Progress

BARRIER_DEFINITIONS = {
    "max_loss": "Lin et al. (paper's Tables 1-2): maximum loss along the path, not endpoint-corrected",
    "min_acc": "Lin et al. (paper's Tables 1-2): minimum accuracy along the path (higher is better)",
    "barrier_height": "Frankle et al. / Entezari et al.: max over t of loss(t) - [(1-t) loss(0) + t loss(1)]",
    "acc_drop": "endpoint-corrected accuracy barrier: max over t of [(1-t) acc(0) + t acc(1)] - acc(t)",
    "rebasin_barrier": "Ainsworth et al. (Git Re-Basin): max over t of loss(t) - [loss(0) + loss(1)] / 2",
    "rebasin_acc_barrier": "Git Re-Basin's form for accuracy: [acc(0) + acc(1)] / 2 - min over t of acc(t)",
    "midpoint_loss": "Jordan et al. (REPAIR): loss at t = 1/2 (the midpoint network)",
    "midpoint_acc": "Jordan et al. (REPAIR): accuracy at t = 1/2 (the midpoint network)",
    "midpoint_barrier": "Jordan et al. (REPAIR): loss(1/2) - [loss(0) + loss(1)] / 2",
    "midpoint_acc_drop": "Jordan et al. (REPAIR): [acc(0) + acc(1)] / 2 - acc(1/2)",
}
BARRIER_GROUPS = {   # source -> its keys (loss first); every key is in BARRIER_DEFINITIONS
    "Lin et al. (paper)": ("max_loss", "min_acc"),
    "endpoint-corrected (Frankle / Entezari)": ("barrier_height", "acc_drop"),
    "Git Re-Basin (Ainsworth et al.)": ("rebasin_barrier", "rebasin_acc_barrier"),
    "REPAIR midpoint (Jordan et al.)": ("midpoint_loss", "midpoint_acc", "midpoint_barrier",
                                        "midpoint_acc_drop"),
}


@dataclass(frozen=True)
class PathProfile:
    """Loss/accuracy on train (and optionally test) data along a path, with its geometry."""
    kind: str                       # "segment" | "fold_line" | "polygonal" | "bezier"
    t: np.ndarray                   # (T,) in [0, 1]
    train_loss: np.ndarray          # (T,)
    train_acc: np.ndarray | None
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    vertices_t: tuple               # t of every vertex (pivot), ends included
    length: float                   # Euclidean length in parameter space
    distance: float                 # ||end - start||
    bn_policy: str
    label: str = ""
    meta: dict = field(default_factory=dict)

    def barriers(self, split: str = "train") -> dict:
        """The paper's and the endpoint-corrected barriers on ``split`` ("train" or "test")."""
        loss = self.train_loss if split == "train" else self.test_loss
        acc = self.train_acc if split == "train" else self.test_acc
        if loss is None:
            raise ValueError(f"This profile has no {split} values; pass a test_evaluator.")
        return barrier_metrics(self.t, loss, acc)

    def as_arrays(self) -> dict:
        arrays = {"t": self.t, "train_loss": self.train_loss}
        for name in ("train_acc", "test_loss", "test_acc"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return arrays


def barrier_metrics(t: np.ndarray, loss: np.ndarray, acc: np.ndarray | None = None) -> dict:
    """Barrier metrics of a profile; keys as in ``BARRIER_DEFINITIONS``.

    The midpoint values are read at t = 1/2 (linearly interpolated between the two nearest
    points when 1/2 is not on the grid; an odd number of points per segment has it).
    """
    t, loss = np.asarray(t, float), np.asarray(loss, float)
    line = (1 - t) * loss[0] + t * loss[-1]
    tol = 1e-12  # rounding of the interpolation itself is not a barrier
    excess = float((loss - line).max())
    out = {"max_loss": float(loss.max()), "barrier_height": excess if excess > tol else 0.0}
    mean_end = (loss[0] + loss[-1]) / 2
    mid = float(np.interp(0.5, t, loss))
    out.update(rebasin_barrier=float(loss.max() - mean_end), midpoint_loss=mid,
               midpoint_barrier=float(mid - mean_end))
    if acc is not None:
        acc = np.asarray(acc, float)
        acc_line = (1 - t) * acc[0] + t * acc[-1]
        out["min_acc"] = float(acc.min())
        drop = float((acc_line - acc).max())
        out["acc_drop"] = drop if drop > tol else 0.0
        acc_end = (acc[0] + acc[-1]) / 2
        acc_mid = float(np.interp(0.5, t, acc))
        out.update(rebasin_acc_barrier=float(acc_end - acc.min()), midpoint_acc=acc_mid,
                   midpoint_acc_drop=float(acc_end - acc_mid))
    return out


def _t_grid(vertices_t: np.ndarray, n_points: int) -> np.ndarray:
    """``n_points`` evenly spaced values per piece, shared vertices once."""
    pieces = [np.linspace(a, b, n_points) for a, b in zip(vertices_t[:-1], vertices_t[1:])]
    return np.unique(np.concatenate(pieces).round(12))


def polygonal_coeffs(vertices_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Coefficients (T, k) of t-points in the affine frame origin = v0, directions v_j - v0."""
    k = len(vertices_t) - 1
    coeffs = np.zeros((len(t), k))
    seg = np.clip(np.searchsorted(vertices_t, t, side="right") - 1, 0, k - 1)
    tau = (t - vertices_t[seg]) / (vertices_t[seg + 1] - vertices_t[seg])
    for i, (s, u) in enumerate(zip(seg, tau)):
        if s >= 1:
            coeffs[i, s - 1] += 1 - u
        coeffs[i, s] += u
    return coeffs


def path_points(vertices: torch.Tensor, t, vertices_t=None) -> torch.Tensor:
    """Points (T, D) of the polygonal path through ``vertices`` (k+1, D) at parameters ``t``."""
    vertices = torch.as_tensor(vertices)
    vt = _vertex_t(len(vertices), vertices_t)
    coeffs = torch.as_tensor(polygonal_coeffs(vt, np.asarray(t, float)), dtype=vertices.dtype)
    return vertices[0] + coeffs @ (vertices[1:] - vertices[0])


def fold_line_point(theta_i: torch.Tensor, center: torch.Tensor, theta_j: torch.Tensor,
                    t: float) -> torch.Tensor:
    """The paper's fold-line at t (each leg takes half of the t-axis)."""
    if t < 0.5:
        return 2 * t * center + (1 - 2 * t) * theta_i
    return (2 * t - 1) * theta_j + (2 - 2 * t) * center


def _vertex_t(n_vertices: int, vertices_t=None) -> np.ndarray:
    if vertices_t is None:
        return np.linspace(0.0, 1.0, n_vertices)
    vt = np.asarray(vertices_t, float)
    if len(vt) != n_vertices or vt[0] != 0 or vt[-1] != 1 or np.any(np.diff(vt) <= 0):
        raise ValueError(f"The 'vertices_t' parameter must rise strictly from 0 to 1 with one value "
                         f"per vertex ({n_vertices}). Got {vt.tolist()} instead.")
    return vt


def _profile(kind, evaluator, test_evaluator, origin, directions, coeffs, t, vertices_t,
             length, distance, label, progress) -> PathProfile:
    tr = evaluator.evaluate_affine(origin, directions, coeffs, progress)
    te = test_evaluator.evaluate_affine(origin, directions, coeffs) if test_evaluator else None
    return PathProfile(kind, t, tr.loss, tr.accuracy, te.loss if te else None,
                       te.accuracy if te else None, tuple(float(v) for v in vertices_t),
                       float(length), float(distance), tr.bn_policy, label,
                       {"strategy": tr.strategy, "n_samples": tr.n_samples, "loss": tr.loss_name})


@validate_params(n_points=Int(2, 10_000))
def polygonal_path(vertices, *, evaluator: Evaluator, test_evaluator: Evaluator | None = None,
                   n_points: int = 21, vertices_t=None, kind: str = "polygonal", label: str = "",
                   progress: Progress | None = None) -> PathProfile:
    """Profile along the k-piece path through ``vertices`` (shape (k+1, D)).

    ``n_points`` points per piece; by default the pieces share the t-axis equally.
    """
    vertices = torch.as_tensor(vertices, dtype=torch.float32)
    if vertices.ndim != 2 or vertices.shape[0] < 2:
        raise ValueError("The 'vertices' parameter of polygonal_path must have shape (k+1, D) with "
                         f"k >= 1. Got {tuple(vertices.shape)} instead.")
    vt = _vertex_t(len(vertices), vertices_t)
    t = _t_grid(vt, n_points)
    coeffs = polygonal_coeffs(vt, t)
    length = float((vertices[1:] - vertices[:-1]).norm(dim=1).sum())
    distance = float((vertices[-1] - vertices[0]).norm())
    return _profile(kind, evaluator, test_evaluator, vertices[0], vertices[1:] - vertices[0],
                    coeffs, t, vt, length, distance, label, progress)


def linear_path(theta_a, theta_b, *, evaluator: Evaluator, test_evaluator: Evaluator | None = None,
                n_points: int = 51, label: str = "", progress: Progress | None = None) -> PathProfile:
    """Straight segment from ``theta_a`` (t = 0) to ``theta_b`` (t = 1), ``n_points`` points."""
    return polygonal_path(torch.stack([torch.as_tensor(theta_a), torch.as_tensor(theta_b)]),
                          evaluator=evaluator, test_evaluator=test_evaluator, n_points=n_points,
                          kind="segment", label=label, progress=progress)


def fold_line_path(theta_i, center, theta_j, *, evaluator: Evaluator,
                   test_evaluator: Evaluator | None = None, n_points: int = 26, label: str = "",
                   progress: Progress | None = None) -> PathProfile:
    """The paper's fold-line theta_i -> center -> theta_j; ``n_points`` per leg (t = 0.5 at the center)."""
    verts = torch.stack([torch.as_tensor(v) for v in (theta_i, center, theta_j)])
    return polygonal_path(verts, evaluator=evaluator, test_evaluator=test_evaluator,
                          n_points=n_points, kind="fold_line", label=label, progress=progress)


def fold_line_from_spokes(spoke_i: PathProfile, spoke_j: PathProfile, label: str = "") -> PathProfile:
    """The fold-line theta_i -> center -> theta_j assembled from the spokes theta_i -> center and
    theta_j -> center (both run foot at t = 0 to center at t = 1, same points per piece): its
    first leg IS spoke i and its second leg is spoke j reversed, so nothing is evaluated again."""
    n = len(spoke_i.t)
    if len(spoke_j.t) != n or spoke_i.vertices_t != (0.0, 1.0) or spoke_j.vertices_t != (0.0, 1.0):
        raise ValueError("fold_line_from_spokes needs two straight spokes with the same number of "
                         f"points. Got {len(spoke_i.t)} and {len(spoke_j.t)}.")
    t = _t_grid(np.array([0.0, 0.5, 1.0]), n)

    def join(a, b):
        return None if a is None or b is None else np.concatenate([np.asarray(a), np.asarray(b)[::-1][1:]])
    return PathProfile("fold_line", t, join(spoke_i.train_loss, spoke_j.train_loss),
                       join(spoke_i.train_acc, spoke_j.train_acc), join(spoke_i.test_loss, spoke_j.test_loss),
                       join(spoke_i.test_acc, spoke_j.test_acc), (0.0, 0.5, 1.0),
                       spoke_i.length + spoke_j.length, float("nan"), spoke_i.bn_policy, label,
                       {**spoke_i.meta, "from_spokes": True})


def bezier_path(theta_a, bend, theta_b, *, evaluator: Evaluator,
                test_evaluator: Evaluator | None = None, n_points: int = 51, label: str = "",
                progress: Progress | None = None) -> PathProfile:
    """Quadratic Bezier curve (1-t)^2 a + 2t(1-t) bend + t^2 b (Garipov et al.)."""
    a, c, b = (torch.as_tensor(v, dtype=torch.float32) for v in (theta_a, bend, theta_b))
    t = np.linspace(0, 1, n_points)
    coeffs = np.stack([2 * t * (1 - t), t ** 2], axis=1)
    tq = torch.linspace(0, 1, 401)[:, None]
    speed = (2 * (1 - tq) * (c - a) + 2 * tq * (b - c)).norm(dim=1)
    length = float(torch.trapezoid(speed, dx=1 / 400))
    return _profile("bezier", evaluator, test_evaluator, a, torch.stack([c - a, b - a]), coeffs, t,
                    (0.0, 1.0), length, float((b - a).norm()), label, progress)
