"""Tests of landscape_core.geodesic: Eq. 8, fold-line estimates, k-piece shortening, slice FMM."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape_core.center import CenterSpec, find_center
from landscape_core.config import ModelSpec
from landscape_core.data import load_dataset
from landscape_core.evaluate import Evaluator
from landscape_core.geodesic import (ngd_estimate, ngd_upper_bound, shortest_path, slice_geodesic)
from landscape_core.models import build_model
from landscape_core.paths import fold_line_point, path_points
from landscape_core.slices import Slice2D


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- Eq. 8 and the fold-line
def test_ngd_bound_is_at_least_one_and_one_on_the_segment():
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        d = int(torch.randint(1, 40, (1,), generator=g))
        a, b, c = (torch.randn(d, generator=g) * 10 ** float(torch.randn(1, generator=g))
                   for _ in range(3))
        assert ngd_upper_bound(a, c, b) >= 1.0 - 1e-12
        t = float(torch.rand(1, generator=g))
        on_segment = (t * a.double() + (1 - t) * b.double())
        assert ngd_upper_bound(a, on_segment, b) == pytest.approx(1.0, abs=1e-12)
    a = torch.tensor([0.0, 0.0])
    corner = ngd_upper_bound(a, torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]))
    assert corner == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="two distinct feet"):
        ngd_upper_bound(a, torch.ones(2), a.clone())


def test_fold_line_passes_through_the_center_at_half():
    g = torch.Generator().manual_seed(0)
    a, c, b = (torch.randn(7, generator=g, dtype=torch.float64) for _ in range(3))
    assert torch.allclose(fold_line_point(a, c, b, 0.5), c)
    left, right = fold_line_point(a, c, b, 0.5 - 1e-9), fold_line_point(a, c, b, 0.5 + 1e-9)
    assert torch.allclose(left, right, atol=1e-7)
    pts = path_points(torch.stack([a, c, b]), [0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(pts[2], c) and torch.allclose(pts[1], (a + c) / 2)
    assert torch.allclose(pts[1], fold_line_point(a, c, b, 0.25))


def test_ngd_estimate_reports_bound_and_fold_line(tiny_minima):
    ds = load_dataset(tiny_minima[0].data)
    model = build_model(tiny_minima[0].model)
    feet = torch.stack([m.theta for m in tiny_minima[:2]])
    center = find_center(feet, model=model, X=ds.X_train, y=ds.y_train,
                         spec=CenterSpec(steps=40, lr=1e-2, lam=1e-3))
    ev = Evaluator(model, ds.X_train, ds.y_train)
    est = ngd_estimate(feet[0], feet[1], center, evaluator=ev, n_points=6)
    assert est.value == pytest.approx(ngd_upper_bound(feet[0], center.theta, feet[1]))
    assert est.kind == "fold_line" and est.is_upper_bound and est.lam == 1e-3
    assert est.path_max_loss == pytest.approx(float(est.profile.train_loss.max()))
    assert "lam=0.001" in est.computed_from and "min train accuracy" in est.computed_from
    assert est.length / est.euclidean == pytest.approx(est.value, rel=1e-5)


# ---------------------------------------------------------------- k-piece shortening
def underdetermined_problem(seed=0, n=4, d=8):
    """Linear regression with n < d: the minima set {theta : X theta = y} is an affine plane."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = torch.randn(n, 1, generator=g)
    base = torch.linalg.lstsq(X, y).solution[:, 0]
    null = torch.linalg.svd(X).Vh[n:]                       # (d - n, d) null-space basis
    minima = [base + null.T @ torch.randn(d - n, generator=g) for _ in range(2)]
    off = 0.5 * (minima[0] + minima[1]) + torch.randn(d, generator=g)   # off the minima set
    model = build_model(ModelSpec("deep_linear", width=1, depth=1, input_shape=(d,), n_outputs=1,
                                  bias=False))
    return X, y, minima, off, model


def test_shortest_path_straightens_in_a_convex_minima_set():
    X, y, (a, b), off, model = underdetermined_problem()
    res = shortest_path(a, b, model=model, X=X, y=y, init=torch.stack([a, off, b]), n_pieces=4,
                        steps=60, epsilon=1e-3)
    assert res.init_length / res.euclidean > 1.1
    assert 1.0 <= res.ngd < 1.01, res.ngd
    assert res.feasible and res.max_loss <= 1e-3
    assert res.vertices.shape == (5, 8) and torch.equal(res.vertices[0], a)
    assert res.as_estimate().kind == "k_piece"


def test_shortest_path_is_never_shorter_than_the_segment():
    X, y, _, _, model = underdetermined_problem()
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        a, b, c = (torch.randn(8, generator=g) for _ in range(3))
        res = shortest_path(a, b, model=model, X=X, y=y, init=torch.stack([a, c, b]), n_pieces=3,
                            steps=20, lr=0.05, epsilon=float(seed), seed=seed,
                            method=("project", "penalty")[seed % 2])
        assert len(res.history) == 20 and res.meta["method"] == ("project", "penalty")[seed % 2]
        assert res.ngd >= 1.0 - 1e-9 and res.length >= res.euclidean * (1 - 1e-9)
    with pytest.raises(ValueError, match="two distinct"):
        shortest_path(a, a.clone(), model=model, X=X, y=y, steps=1)


def test_shortest_path_shortens_the_tiny_mlp_fold_line(tiny_minima):
    ds = load_dataset(tiny_minima[0].data)
    model = build_model(tiny_minima[0].model)
    feet = torch.stack([m.theta for m in tiny_minima[:2]])
    c = find_center(feet, model=model, X=ds.X_train, y=ds.y_train,
                    spec=CenterSpec(steps=200, lr=1e-2))
    res = shortest_path(feet[0], feet[1], model=model, X=ds.X_train, y=ds.y_train,
                        init=torch.stack([feet[0], c.theta, feet[1]]), steps=60)
    fold_ratio = ngd_upper_bound(feet[0], c.theta, feet[1])
    assert res.init_length / res.euclidean == pytest.approx(fold_ratio, rel=1e-5)
    assert res.feasible and res.ngd < fold_ratio - 0.02, (res.ngd, fold_ratio, res.max_loss)


# ---------------------------------------------------------------- fast marching on a slice
def make_slice(loss, alphas, betas, anchors=None):
    return Slice2D(alphas, betas, loss, None, None, None, "three_models", "none", anchors or {})


GRID = np.linspace(0.0, 1.0, 101)                           # spacing h = 0.01


def wall_with_gap():
    A, B = np.meshgrid(GRID, GRID, indexing="ij")
    wall = (np.abs(A - 0.5) < 0.021) & ~((B > 0.849) & (B < 0.951))   # alpha 0.48..0.52, gap 0.85..0.95
    return np.where(wall, 1.0, 0.0)


def test_slice_geodesic_in_free_plane_is_the_straight_line():
    betas = np.linspace(-0.5, 1.0, 76)                      # anisotropic spacing 0.02
    res = slice_geodesic(make_slice(np.zeros((101, 76)), GRID, betas), (0.1, -0.3), (0.9, 0.7),
                         epsilon=0.5)
    assert res.reachable and res.euclidean == pytest.approx(math.hypot(0.8, 1.0))
    assert abs(res.fmm_length - res.euclidean) < 0.02
    assert abs(res.length - res.euclidean) < 0.02 and res.ngd_bound < 1.02
    assert np.allclose(res.path[0], (0.1, -0.3)) and np.allclose(res.path[-1], (0.9, 0.7))


def test_slice_geodesic_goes_through_the_gap():
    """Closed form: (0.2, 0.5) -> corner (0.48, 0.85) -> across the wall -> (0.52, 0.85) -> (0.8, 0.5)."""
    sl = make_slice(wall_with_gap(), GRID, GRID, {"A": (0.2, 0.5)})
    res = slice_geodesic(sl, "A", (0.8, 0.5), epsilon=0.5)
    exact = 2 * math.hypot(0.28, 0.35) + 0.04
    assert res.method == "fmm gradient descent"
    assert abs(res.fmm_length - exact) < 0.02 and abs(res.length - exact) < 0.02
    assert res.length > res.euclidean + 0.3
    crossing = res.path[np.abs(res.path[:, 0] - 0.5) < 0.015]
    assert len(crossing) and np.all(crossing[:, 1] > 0.84)          # crosses inside the gap
    cells = np.round(res.path / 0.01).astype(int)
    assert all(res.free[i, j] for i, j in cells)


def test_dijkstra_oracle_agrees_within_grid_error():
    sl = make_slice(wall_with_gap(), GRID, GRID)
    fmm = slice_geodesic(sl, (0.2, 0.5), (0.8, 0.5), epsilon=0.5)
    dij = slice_geodesic(sl, (0.2, 0.5), (0.8, 0.5), epsilon=0.5, method="dijkstra")
    assert dij.method == "dijkstra"
    # 8-neighbour paths overestimate Euclidean lengths by at most 1/cos(22.5 deg) ~ 1.0824
    assert dij.length / 1.0824 - 0.02 <= fmm.length <= dij.length + 0.02


def test_slice_geodesic_errors_and_unreachable():
    loss = wall_with_gap()
    with pytest.raises(ValueError, match=r"exceeds epsilon=0\.5.*epsilon >= 1 to free it"):
        slice_geodesic(make_slice(loss, GRID, GRID), (0.5, 0.2), (0.8, 0.5), epsilon=0.5)
    closed = loss.copy()
    closed[48:53, :] = 1.0                                   # close the gap
    res = slice_geodesic(make_slice(closed, GRID, GRID), (0.2, 0.5), (0.8, 0.5), epsilon=0.5)
    assert not res.reachable and math.isinf(res.length) and len(res.path) == 0
    with pytest.raises(ValueError, match="evenly spaced"):
        slice_geodesic(make_slice(loss[:3], np.array([0.0, 0.1, 0.5]), GRID), (0, 0), (0.1, 0),
                       epsilon=0.5)
    with pytest.raises(ValueError, match="names an anchor"):
        slice_geodesic(make_slice(loss, GRID, GRID), "C", (0.8, 0.5), epsilon=0.5)


def test_bottleneck_level_is_the_pass_height_between_two_basins():
    """Two basins separated by a ridge with a pass of height 0.7: the joining level is 0.7."""
    from landscape_core.geodesic import bottleneck_level
    from landscape_core.slices import Slice2D
    a = np.linspace(-1, 1, 21)
    loss = np.ones((21, 21))
    loss[:8, :] = 0.1               # basin 1 (low alpha)
    loss[13:, :] = 0.2              # basin 2 (high alpha)
    loss[8:13, 10] = 0.7            # a pass through the ridge
    sl = Slice2D(a, a, loss, None, None, None, "custom", "none")
    assert bottleneck_level(sl, (-1, 0), (1, 0)) == pytest.approx(0.7)
    assert bottleneck_level(sl, (-1, 0), (-0.5, 0.5)) == pytest.approx(0.1)   # same basin
