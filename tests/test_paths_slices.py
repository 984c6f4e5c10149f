"""Paths, barrier metrics and plane slices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape_core import (Evaluator, ModelSpec, barrier_metrics, bezier_path, build_model, flatten,
                            fold_line_path, fold_line_point, linear_path, path_points, plane_slice,
                            plane_through, polygonal_path, random_directions, three_model_slice)
from landscape_core.data import load_dataset
from tests.conftest import TINY_DATA


def test_fold_line_points_follow_the_paper_parameterisation():
    g = torch.Generator().manual_seed(0)
    a, c, b = torch.randn(3, 10, generator=g).double()
    t = np.array([0.0, 0.1, 0.25, 0.5, 0.7, 1.0])
    pts = path_points(torch.stack([a, c, b]), t)
    for ti, p in zip(t, pts):
        torch.testing.assert_close(p, fold_line_point(a, c, b, ti))
    torch.testing.assert_close(pts[0], a)
    torch.testing.assert_close(pts[3], c)          # continuous at t = 0.5, through the center
    torch.testing.assert_close(pts[-1], b)
    left = fold_line_point(a, c, b, 0.5 - 1e-9)
    assert float((left - c).norm()) < 1e-6


def test_constant_profile_has_zero_endpoint_corrected_barrier():
    t = np.linspace(0, 1, 11)
    m = barrier_metrics(t, np.full(11, 0.3), np.full(11, 0.9))
    assert m["barrier_height"] == 0 and m["acc_drop"] == 0
    assert m["max_loss"] == pytest.approx(0.3) and m["min_acc"] == pytest.approx(0.9)
    bump = barrier_metrics(t, 0.1 + t + np.sin(np.pi * t))   # line part is excluded
    assert bump["barrier_height"] == pytest.approx(1.0, abs=1e-9)


def test_profiles_on_trained_minima(tiny_minima):
    ds = load_dataset(TINY_DATA)
    model = build_model(tiny_minima[0].model)
    ev = Evaluator(model, ds.X_train, ds.y_train)
    tev = Evaluator(model, ds.X_test, ds.y_test)
    a, b, c = (m.theta for m in tiny_minima)
    seg = linear_path(a, b, evaluator=ev, test_evaluator=tev, n_points=11)
    # endpoints are the minima themselves (oracle: the minimum's own recorded loss)
    assert seg.train_loss[0] == pytest.approx(tiny_minima[0].train_loss, rel=1e-4)
    assert seg.train_loss[-1] == pytest.approx(tiny_minima[1].train_loss, rel=1e-4)
    assert seg.test_acc[0] == pytest.approx(tiny_minima[0].test_acc, abs=1e-9)
    assert seg.length == pytest.approx(seg.distance) == pytest.approx(float((a - b).norm()), rel=1e-5)
    fold = fold_line_path(a, c, b, evaluator=ev, n_points=6)
    assert len(fold.t) == 11 and fold.vertices_t == (0.0, 0.5, 1.0)
    assert fold.train_loss[5] == pytest.approx(tiny_minima[2].train_loss, rel=1e-4)
    assert fold.length == pytest.approx(float((a - c).norm() + (c - b).norm()), rel=1e-5)
    assert fold.barriers()["max_loss"] >= max(fold.train_loss[0], fold.train_loss[-1])
    bez = bezier_path(a, (a + b) / 2, b, evaluator=ev, n_points=11)   # degenerate: the segment
    np.testing.assert_allclose(bez.train_loss, seg.train_loss, rtol=1e-4)
    assert bez.length == pytest.approx(seg.length, rel=1e-4)
    with pytest.raises(ValueError, match="test"):
        fold.barriers("test")


def test_polygonal_path_validates_vertices():
    ev = Evaluator(build_model(ModelSpec("mlp", width=4, depth=1, input_shape=(2,), n_outputs=2)),
                   torch.randn(8, 2), torch.randint(0, 2, (8,)))
    with pytest.raises(ValueError, match="vertices"):
        polygonal_path(torch.zeros(1, ev.dim), evaluator=ev)
    with pytest.raises(ValueError, match="vertices_t"):
        polygonal_path(torch.zeros(3, ev.dim), evaluator=ev, vertices_t=[0, 0.7, 0.6])


def test_plane_through_three_models_has_orthonormal_coordinates():
    g = torch.Generator().manual_seed(1)
    a, b, c, d = torch.randn(4, 50, generator=g)
    plane = plane_through(a, b, c)
    assert float(plane.u @ plane.v) == pytest.approx(0, abs=1e-6)
    xy = plane.project(torch.stack([a, b, c]))
    np.testing.assert_allclose(xy[0], [0, 0], atol=1e-6)
    assert xy[1][0] == pytest.approx(float((b - a).norm()), rel=1e-5) and abs(xy[1][1]) < 1e-5
    assert np.hypot(*(xy[2] - xy[0])) == pytest.approx(float((c - a).norm()), rel=1e-5)
    assert plane.off_plane_distance(torch.stack([a, b, c])).max() < 1e-4
    assert plane.off_plane_distance(d)[0] > 1.0
    with pytest.raises(ValueError, match="on one line"):
        plane_through(a, b, 2 * b - a)


def test_slice_grid_is_indexed_alpha_beta_and_anchors_sit_on_nodes(tiny_minima):
    ds = load_dataset(TINY_DATA)
    ev = Evaluator(build_model(tiny_minima[0].model), ds.X_train, ds.y_train)
    a, b, c = (m.theta for m in tiny_minima)
    plane = plane_through(a, b, c)
    alphas = np.array([0.0, float((b - a).norm()), 5.0])
    betas = np.array([0.0, 1.0])
    sl = plane_slice(ev, plane.origin, plane.u, plane.v, alphas, betas)
    assert sl.train_loss.shape == (3, 2)
    assert sl.train_loss[0, 0] == pytest.approx(tiny_minima[0].train_loss, rel=1e-4)
    assert sl.train_loss[1, 0] == pytest.approx(tiny_minima[1].train_loss, rel=1e-3)
    direct = ev.evaluate(plane.point(5.0, 1.0)).loss[0]
    assert sl.train_loss[2, 1] == pytest.approx(direct, rel=1e-4)
    sl3, _ = three_model_slice(ev, a, b, c, resolution=5)
    assert sl3.train_loss.shape == (5, 5) and set(sl3.anchors) == {"A", "B", "C"}
    with pytest.raises(ValueError, match="600 x 600 slice is too large: 360,000 points"):
        plane_slice(ev, a, plane.u, plane.v, np.zeros(600), np.zeros(600))
    with pytest.raises(ValueError, match="must be finite"):
        plane_slice(ev, a, plane.u, plane.v, np.array([0.0, np.nan]), betas)


def test_random_directions_are_filter_normalised_and_seeded():
    spec = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=3)
    model = build_model(spec)
    theta = flatten(model)
    u, v = random_directions(model, theta, seed=3)
    u2, _ = random_directions(model, theta, seed=3)
    assert torch.equal(u, u2) and not torch.equal(u, v)
    from landscape_core import unflatten
    du, dt = unflatten(u, model), unflatten(theta, model)
    w = "1.weight"
    torch.testing.assert_close(du[w].norm(dim=1), dt[w].norm(dim=1), rtol=1e-4, atol=1e-6)
    assert float(du["1.bias"].abs().sum()) == 0      # Li et al.'s "biasbn" default
