"""The first-layer shortcut of the trainers (``evaluate.AffineLoss``) against the plain route.

Oracles: autograd through the plain per-point forward (``BatchedLoss`` at the explicit points
A @ Theta + C @ bank) for losses and gradients; the old route (``route="plain"``) for whole
center, curve and path-shortening runs with the same seed. No timings here: the speed is
measured by ``bench/bench_center_step.py`` (``docs/benchmarks.md``).
"""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from landscape_core import center as center_mod
from landscape_core import curves as curves_mod
from landscape_core import pathloss
from landscape_core.center import CenterSpec, center_key, center_points, find_center
from landscape_core.config import ModelSpec, spec_dict
from landscape_core.cache import make_key
from landscape_core.curves import curve_coeffs, curve_points, fit_curve
from landscape_core.evaluate import AffineLoss, BatchedLoss
from landscape_core.evaluate.affine_loss import FirstLayerCache
from landscape_core.geodesic import shortest as shortest_mod
from landscape_core.models import build_model
from landscape_core.params import flatten

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=64, shape=(1, 4, 4), classes=3, mse_outputs=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=g)
    y = (torch.randn(n, mse_outputs, generator=g) if mse_outputs
         else torch.randint(classes, (n,), generator=g))
    return X, y


def _mlp(*layers):
    return nn.Sequential(nn.Flatten(), *layers)


MODELS = {
    "relu-tanh-ce": (lambda: _mlp(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8), nn.Tanh(),
                                  nn.Linear(8, 3)), "cross_entropy", None, "chain"),
    "sigmoid-mse": (lambda: _mlp(nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 2, bias=False)),
                    "mse", 2, "chain"),
    "no-bias-first": (lambda: _mlp(nn.Linear(16, 10, bias=False), nn.ReLU(), nn.Linear(10, 3)),
                      "cross_entropy", None, "chain"),
    "gelu": (lambda: _mlp(nn.Linear(16, 12), nn.GELU(), nn.Linear(12, 3)), "cross_entropy", None,
             "autograd"),
    "conv": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 3)),
             "cross_entropy", None, "autograd"),
}


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("name", list(MODELS))
def test_losses_and_gradients_equal_autograd_through_the_plain_forward(name, m):
    make, loss, mse_outputs, route = MODELS[name]
    torch.manual_seed(0)
    model = make()
    X, y = _data(mse_outputs=mse_outputs)
    D = flatten(model).numel()
    bank = 0.3 * torch.randn(4, D)
    fast, why = AffineLoss.build(model, loss, "recompute", "cpu", X, y, bank)
    assert fast is not None and fast.route == route and route in why
    theta = (0.3 * torch.randn(m, D)).requires_grad_(True)
    A, C = torch.rand(5, m), torch.rand(5, 2)
    rows, idx, weights = [3, 1], torch.randperm(len(X))[:24], torch.arange(1.0, 6.0)
    for _ in range(2):   # the second call reads the first layer's cached bank outputs
        got = fast(theta, A, C, idx, rows)
        g_got, = torch.autograd.grad((got * weights).sum(), theta)
    want = BatchedLoss(model, loss, "recompute", "cpu")(A @ theta + C @ bank[rows], X[idx], y[idx])
    g_want, = torch.autograd.grad((want * weights).sum(), theta)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_got, g_want, rtol=1e-4, atol=1e-6 * float(g_want.abs().max()))


@pytest.mark.parametrize("spec", [ModelSpec("mlp", width=64, depth=2, input_shape=(64,), n_outputs=10),
                                  ModelSpec("mlp", hidden=(50, 30), input_shape=(1, 28, 28),
                                            n_outputs=10)])
@pytest.mark.parametrize("groups", [[2, 0], [1]])   # B_r = 2; B_r = 1 (segment points: one lerp)
def test_preset_mlps_take_the_hand_written_chain_with_exact_gradients(spec, groups):
    """The digits MLP and (a narrow) MNIST FNN: the benchmarked route, center-shaped points."""
    model = build_model(spec, 0)
    X, y = _data(n=80, shape=spec.input_shape, classes=10)
    feet = torch.stack([flatten(build_model(spec, s)) for s in (1, 2, 3)])
    points, affine = center_points(feet)
    fast, why = AffineLoss.build(model, "cross_entropy", "recompute", "cpu", X, y, feet)
    assert why == "first-layer shortcut (chain)"
    theta = feet.mean(0).requires_grad_(True)
    groups = torch.tensor(groups)
    t, idx = torch.rand(len(groups), 3), torch.arange(40)
    A, C, rows = affine.coeffs(t, groups)
    got = fast(theta[None], A, C, idx, rows).mean()
    want = BatchedLoss(model, "cross_entropy", "recompute", "cpu")(points(theta, t, groups),
                                                                      X[idx], y[idx]).mean()
    g_got, = torch.autograd.grad(got, theta)
    g_want, = torch.autograd.grad(want, theta)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_got, g_want, rtol=1e-4, atol=1e-6 * float(g_want.abs().max()))


def test_batchnorm_model_keeps_the_plain_route_and_says_so():
    model = _mlp(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    X, y = _data()
    feet = 0.3 * torch.randn(2, flatten(model).numel())
    fast, why = AffineLoss.build(model, "cross_entropy", "recompute", "cpu", X, y, feet)
    assert fast is None and "BatchNorm" in why
    c = find_center(feet, model=model, X=X, y=y, spec=CenterSpec(steps=3, batch_size=16))
    assert c.meta["route"].startswith("plain (BatchNorm")


def _plain(monkeypatch, module):
    monkeypatch.setattr(module, "train_path_loss",
                        functools.partial(pathloss.train_path_loss, route="plain"))


@pytest.mark.parametrize("spec", [CenterSpec(steps=12, batch_size=16, lr=1e-2),
                                  CenterSpec(steps=12, batch_size=16, n_feet_per_step=2, lam=0.01)])
def test_center_equals_the_plain_route_with_the_same_seed(monkeypatch, spec):
    model = _mlp(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    X, y = _data()
    feet = 0.5 * torch.randn(3, flatten(model).numel(), generator=torch.Generator().manual_seed(1))
    new = find_center(feet, model=model, X=X, y=y, spec=spec)
    _plain(monkeypatch, center_mod)
    old = find_center(feet, model=model, X=X, y=y, spec=spec)
    assert new.meta["route"] == "first-layer shortcut (chain)" and old.meta["route"].startswith("plain")
    torch.testing.assert_close(new.theta, old.theta, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.as_tensor(new.history), torch.as_tensor(old.history), rtol=1e-4,
                               atol=1e-6)


def test_center_equals_the_code_before_the_shortcut(monkeypatch):
    """The plain route with the default (foreach) Adam, as before: same seed, same center."""
    spec = CenterSpec.paper(steps=15, batch_size=16)
    model = _mlp(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    X, y = _data()
    feet = 0.5 * torch.randn(3, flatten(model).numel(), generator=torch.Generator().manual_seed(6))
    new = find_center(feet, model=model, X=X, y=y, spec=spec)
    _plain(monkeypatch, center_mod)
    monkeypatch.setattr(pathloss, "make_optimizer",
                        lambda theta, spec: torch.optim.Adam([theta], lr=spec.lr))
    old = find_center(feet, model=model, X=X, y=y, spec=spec)
    torch.testing.assert_close(new.theta, old.theta, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_curve_equals_the_plain_route_with_the_same_seed(monkeypatch, kind):
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 3))
    X, y = _data()
    g = torch.Generator().manual_seed(2)
    a, b = (0.5 * torch.randn(flatten(model).numel(), generator=g) for _ in range(2))
    spec = CenterSpec(steps=10, batch_size=16, lr=1e-2)
    new = fit_curve(a, b, model=model, X=X, y=y, kind=kind, spec=spec)
    _plain(monkeypatch, curves_mod)
    old = fit_curve(a, b, model=model, X=X, y=y, kind=kind, spec=spec)
    assert new.meta["route"] == "first-layer shortcut (autograd)"
    torch.testing.assert_close(new.bend, old.bend, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_curve_coefficients_give_the_curve_points(kind):
    g = torch.Generator().manual_seed(3)
    a, b, bend = (torch.randn(7, generator=g) for _ in range(3))
    t = torch.tensor([[0.0, 0.2, 0.5, 0.7, 1.0]])
    A, C, rows = curve_coeffs(kind)(t, None)
    torch.testing.assert_close(A * bend + C @ torch.stack([a, b])[rows],
                               curve_points(kind, a, b)(bend, t, None))


def test_path_shortening_equals_the_plain_route(monkeypatch):
    model = _mlp(nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 3))
    X, y = _data()
    g = torch.Generator().manual_seed(4)
    a, c, b = (0.5 * torch.randn(flatten(model).numel(), generator=g) for _ in range(3))
    kw = dict(model=model, X=X, y=y, init=torch.stack([a, c, b]), n_pieces=4, steps=4,
              epsilon=0.5, batch_size=32, polish_steps=3)
    new = shortest_mod.shortest_path(a, b, **kw)
    monkeypatch.setattr(shortest_mod.AffineLoss, "build", lambda *args: (None, "plain"))
    old = shortest_mod.shortest_path(a, b, **kw)
    assert new.meta["route"] == "first-layer shortcut (chain)" and old.meta["route"] == "plain"
    torch.testing.assert_close(new.vertices, old.vertices, rtol=1e-4, atol=1e-5)


def test_shortening_coefficients_give_the_pivots_and_the_points_between():
    g = torch.Generator().manual_seed(5)
    verts = torch.randn(5, 6, generator=g)
    run = shortest_mod._Shortening(verts, None, torch.zeros(4, 1), torch.zeros(4), 2, 4, 0, "cpu")
    t = torch.rand(4, 2, 1, generator=g)
    A, C = run._coeffs(t)
    full = verts
    between = (full[:-1, None] + t * (full[1:, None] - full[:-1, None])).reshape(-1, 6)
    torch.testing.assert_close(A @ verts[1:-1] + C @ verts[[0, -1]], torch.cat([verts[1:-1], between]))


def test_first_layer_cache_fills_lazily_and_respects_its_budget():
    bank = torch.randn(3, 24)
    first = lambda j, xp: torch.nn.functional.linear(xp, bank[j, :20].view(4, 5), bank[j, 20:])  # noqa: E731
    X = torch.randn(10, 5)
    cache = FirstLayerCache(first, 10, 4, budget=2 * 10 * 4 * 4)   # room for two rows
    for idx in (torch.tensor([3, 1, 7]), torch.tensor([7, 0, 9, 3]), torch.arange(10)):
        got = cache([2, 0, 1], idx, X[idx])
        torch.testing.assert_close(got, torch.stack([first(j, X[idx]) for j in (2, 0, 1)]))
    assert sorted(cache.store) == [0, 2] and all(e[1] is None for e in cache.store.values())


def test_center_cache_key_is_made_from_the_spec_and_the_feet_keys_only():
    class M:
        def __init__(self, key):
            self.key = key
    spec = CenterSpec.paper(epochs=3)
    minima = [M("minimum-b"), M("minimum-a")]
    assert center_key(minima, spec) == make_key("center", {"spec": spec_dict(spec),
                                                           "feet": ["minimum-a", "minimum-b"]})
    assert set(spec_dict(CenterSpec())) - {"__type__"} == {
        "lam", "n_t", "n_feet_per_step", "t_dist", "init", "optimizer", "lr", "lr_schedule",
        "epochs", "batch_size", "seed", "bn_policy", "steps"}
