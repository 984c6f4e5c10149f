"""Two-dimensional loss slices: origin + alpha * u + beta * v on a grid.

Two ways to choose the plane:
- ``plane_through(a, b, c)``: the plane through three models (two minima and a center, say)
  with orthonormal display coordinates: ``a`` at (0, 0), ``b`` on the alpha axis, so alpha and
  beta are Euclidean distances in parameter space; any other point (a path, another foot)
  can be projected into it with ``Plane.project``.
- ``random_directions``: Li et al.'s filter-normalised Gaussian directions around one model
  (each filter of the direction rescaled to the norm of the model's filter; biases and other
  1-D tensors set to zero, their "biasbn" default), seeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._validation import Int, Options, validate_params
from .cost import check_slice
from .evaluate import Evaluator, Progress
from .params import unflatten


@dataclass(frozen=True)
class Plane:
    """origin + alpha * u + beta * v; ``u`` and ``v`` orthonormal when built by plane_through."""
    origin: torch.Tensor   # (D,)
    u: torch.Tensor        # (D,)
    v: torch.Tensor        # (D,)
    kind: str = "custom"

    def project(self, thetas) -> np.ndarray:
        """Coordinates (K, 2) of the orthogonal projection of thetas (K, D) (least squares)."""
        thetas = torch.as_tensor(thetas, dtype=torch.float64)
        thetas = thetas[None] if thetas.ndim == 1 else thetas
        basis = torch.stack([self.u, self.v], dim=1).double()              # (D, 2)
        rhs = (thetas - self.origin.double()).T                            # (D, K)
        sol = torch.linalg.lstsq(basis, rhs).solution                      # (2, K)
        return sol.T.numpy()

    def off_plane_distance(self, thetas) -> np.ndarray:
        """Distance of each point from the plane (0 for points that lie in it)."""
        thetas = torch.as_tensor(thetas, dtype=torch.float64)
        thetas = thetas[None] if thetas.ndim == 1 else thetas
        ab = torch.as_tensor(self.project(thetas))
        back = self.origin.double() + ab[:, :1] * self.u.double() + ab[:, 1:] * self.v.double()
        return (thetas - back).norm(dim=1).numpy()

    def point(self, alpha: float, beta: float) -> torch.Tensor:
        return self.origin + alpha * self.u + beta * self.v


@dataclass(frozen=True)
class Slice2D:
    """Loss/accuracy on a grid; arrays indexed [alpha, beta]."""
    alphas: np.ndarray          # (A,)
    betas: np.ndarray           # (B,)
    train_loss: np.ndarray      # (A, B)
    train_acc: np.ndarray | None
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    kind: str
    bn_policy: str
    anchors: dict = field(default_factory=dict)   # name -> (alpha, beta)
    meta: dict = field(default_factory=dict)

    def as_arrays(self) -> dict:
        arrays = {"alphas": self.alphas, "betas": self.betas, "train_loss": self.train_loss}
        for name in ("train_acc", "test_loss", "test_acc"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return arrays


def plane_through(theta_a, theta_b, theta_c) -> Plane:
    """Plane through three models with orthonormal u (towards b) and v (Gram-Schmidt of c)."""
    a, b, c = (torch.as_tensor(x, dtype=torch.float64) for x in (theta_a, theta_b, theta_c))
    u = b - a
    if float(u.norm()) == 0:
        raise ValueError("plane_through needs three distinct models: the first two are identical.")
    u = u / u.norm()
    w = (c - a) - torch.dot(c - a, u) * u
    if float(w.norm()) <= 1e-6 * float((c - a).norm() + 1e-30):
        raise ValueError("plane_through needs three models not on one line: the third lies on the "
                         "line through the first two. Pick another model.")
    f32 = lambda x: x.to(torch.float32)
    return Plane(f32(a), f32(u), f32(w / w.norm()), kind="three_models")


def plane_slice(evaluator: Evaluator, origin, u, v, alphas, betas, *,
                test_evaluator: Evaluator | None = None, kind: str = "custom",
                anchors: dict | None = None, progress: Progress | None = None,
                force: bool = False) -> Slice2D:
    """Evaluate loss (and accuracy) at origin + alpha*u + beta*v for every alpha, beta.

    Returns grids indexed [alpha, beta] (shape (len(alphas), len(betas))). A grid above the
    pre-flight limit (``cost.check_slice``) is refused unless ``force``.
    """
    alphas = np.asarray(alphas, dtype=float).ravel()
    betas = np.asarray(betas, dtype=float).ravel()
    if alphas.size == 0 or betas.size == 0:
        raise ValueError("The 'alphas' and 'betas' parameters of plane_slice must be non-empty.")
    if not (np.all(np.isfinite(alphas)) and np.all(np.isfinite(betas))):
        raise ValueError("The 'alphas' and 'betas' parameters of plane_slice must be finite numbers "
                         "(a NaN or infinite span gives no plane). Got non-finite values.")
    check_slice(alphas.size, betas.size, force=force)
    A, B = np.meshgrid(alphas, betas, indexing="ij")
    coeffs = np.stack([A.ravel(), B.ravel()], axis=1)
    dirs = torch.stack([torch.as_tensor(u), torch.as_tensor(v)])
    tr = evaluator.evaluate_affine(torch.as_tensor(origin), dirs, coeffs, progress)
    te = test_evaluator.evaluate_affine(torch.as_tensor(origin), dirs, coeffs) if test_evaluator else None
    shape = (alphas.size, betas.size)
    grid = lambda x: None if x is None else x.reshape(shape)
    return Slice2D(alphas, betas, grid(tr.loss), grid(tr.accuracy), grid(te.loss) if te else None,
                   grid(te.accuracy) if te else None, kind, tr.bn_policy, dict(anchors or {}),
                   {"strategy": tr.strategy, "n_samples": tr.n_samples, "loss": tr.loss_name})


@validate_params(resolution=Int(3, 100_000))
def three_model_slice(evaluator: Evaluator, theta_a, theta_b, theta_c, *, resolution: int = 31,
                      margin: float = 0.25, names=("A", "B", "C"), extra_points: dict | None = None,
                      test_evaluator: Evaluator | None = None,
                      progress: Progress | None = None, force: bool = False) -> tuple[Slice2D, Plane]:
    """Slice of the plane through three models, framing them with a relative ``margin``."""
    plane = plane_through(theta_a, theta_b, theta_c)
    pts = {n: p for n, p in zip(names, (theta_a, theta_b, theta_c))}
    pts.update(extra_points or {})
    coords = {n: tuple(float(x) for x in plane.project(torch.as_tensor(p))[0]) for n, p in pts.items()}
    xy = np.array(list(coords.values()))
    span = max(float(np.ptp(xy[:, 0])), float(np.ptp(xy[:, 1])), 1e-6)
    lo, hi = xy.min(0) - margin * span, xy.max(0) + margin * span
    alphas, betas = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    sl = plane_slice(evaluator, plane.origin, plane.u, plane.v, alphas, betas, kind="three_models",
                     anchors=coords, test_evaluator=test_evaluator, progress=progress, force=force)
    return sl, plane


@validate_params(normalization=Options("filter", "layer", "none"))
def random_directions(model: nn.Module, theta: torch.Tensor, *, seed: int = 0,
                      normalization: str = "filter", ignore_1d: bool = True) -> tuple:
    """Two Gaussian directions around ``theta``, normalised as in Li et al. (2018).

    normalization : "filter" (each output filter / neuron rescaled to the norm of the model's
        filter), "layer" (whole tensor), or "none".
    ignore_1d : biases and BatchNorm parameters get a zero direction (Li et al.'s default).
    """
    gen = torch.Generator().manual_seed(int(seed))
    theta = torch.as_tensor(theta, dtype=torch.float32).cpu()
    out = []
    for _ in range(2):
        d = torch.randn(theta.shape, generator=gen)
        views_d, views_t = unflatten(d, model), unflatten(theta, model)
        for name, dv in views_d.items():
            tv = views_t[name]
            if dv.ndim <= 1:
                if ignore_1d:
                    dv.zero_()
                elif normalization != "none":
                    dv.mul_(tv.norm() / (dv.norm() + 1e-10))
            elif normalization == "filter":
                dims = tuple(range(1, dv.ndim))
                dv.mul_(tv.norm(dim=dims, keepdim=True) / (dv.norm(dim=dims, keepdim=True) + 1e-10))
            elif normalization == "layer":
                dv.mul_(tv.norm() / (dv.norm() + 1e-10))
        out.append(d)
    return out[0], out[1]
