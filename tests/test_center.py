"""Tests of landscape_core.center: the Eq. 6-7 center, curve fitting and the center cache.

Oracles: the closed-form minimiser of the objective on a quadratic risk, Lemma 17's pair of
minima (exact integrated risks; Theorem 18's generic case as the contrast), and fold-line vs
direct-segment barriers on the tiny digits MLP.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from landscape_core import center as center_mod
from landscape_core.center import Center, CenterSpec, center_for_minima, find_center
from landscape_core.curves import fit_curve
from landscape_core.config import DataSpec, ModelSpec
from landscape_core.data import load_dataset
from landscape_core.evaluate import Evaluator
from landscape_core.models import build_model
from landscape_core.paths import fold_line_path, linear_path

LINEAR = ModelSpec("deep_linear", width=1, depth=1, input_shape=(5,), n_outputs=1, bias=False)
LEMMA17 = ModelSpec("deep_linear", width=4, depth=2, input_shape=(1,), n_outputs=1, bias=False)
GL_T, GL_W = np.polynomial.legendre.leggauss(6)    # exact for polynomials of degree <= 11
GL_T, GL_W = (GL_T + 1) / 2, GL_W / 2


pytestmark = pytest.mark.usefixtures("one_thread")


def quadratic_problem(seed=0, n=200, d=5):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g) * torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0])
    q = torch.randn(d, generator=g)
    return X, (X @ q)[:, None], q, 2 * torch.randn(3, d, generator=g)


def test_spec_validation_message_names_parameter_and_value():
    expected = r"The 'lam' parameter of CenterSpec must be .* Got -1\.0 instead"
    with pytest.raises(ValueError, match=expected):
        CenterSpec(lam=-1.0)
    with pytest.raises(ValueError, match="'init' parameter of CenterSpec"):
        CenterSpec(init="zeros")
    paper = CenterSpec.paper()
    assert (paper.lr, paper.lr_schedule, paper.init, paper.n_t, paper.n_feet_per_step,
            paper.epochs, paper.lam) == (1e-2, "constant", "random", 3, 1, 200, 0.0)
    assert CenterSpec.fast() == CenterSpec()


@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_convex_toy_reaches_closed_form_optimum(lam):
    """R(theta) = (theta - q)' S (theta - q): J is quadratic, its minimiser is
    theta* = mean - (2/3 S + 2 lam I)^{-1} S (mean - q) (E t = 1/2, E t^2 = 1/3)."""
    X, y, q, feet = quadratic_problem()
    S = (X.T @ X / len(X)).double()
    mean = feet.mean(0).double()
    opt = mean - torch.linalg.solve(2 / 3 * S + 2 * lam * torch.eye(5, dtype=torch.float64),
                                    S @ (mean - q.double()))
    spec = CenterSpec(lam=lam, steps=400, lr=0.1, batch_size=len(X), init="foot",
                      t_dist="stratified", n_t=6, n_feet_per_step=3)
    c = find_center(feet, model=build_model(LINEAR), X=X, y=y, spec=spec)
    rel = float((c.theta.double() - opt).norm() / (opt - mean).norm())
    assert rel < 0.04, rel     # the lam = 0 and lam = 0.05 optima are 0.19 apart on this scale
    assert np.allclose(c.distances, (c.theta.double() - feet.double()).norm(dim=1).numpy())


def test_deterministic_and_caller_inputs_untouched():
    X, y, _, feet = quadratic_problem()
    model = build_model(LINEAR)
    before_feet, before_w = feet.clone(), model[1].weight.detach().clone()
    spec = CenterSpec(steps=20, lr=1e-2, seed=3, init="random")
    a = find_center(feet, model=model, X=X, y=y, spec=spec)
    b = find_center(list(feet), model=model, X=X, y=y, spec=spec)
    assert torch.equal(a.theta, b.theta) and a.n_steps == 20
    assert torch.equal(feet, before_feet) and torch.equal(model[1].weight, before_w)
    with pytest.raises(ValueError, match=r"shape \(r, 5\)"):
        find_center(torch.zeros(2, 4), model=model, X=X, y=y, spec=spec)


def test_should_stop_and_nan_error():
    X, y, _, feet = quadratic_problem()
    model = build_model(LINEAR)
    polls = []

    def stop_after_five():
        polls.append(1)
        return len(polls) >= 5
    c = find_center(feet, model=model, X=X, y=y, spec=CenterSpec(steps=50), should_stop=stop_after_five)
    assert c.interrupted and c.n_steps == 5
    with pytest.raises(RuntimeError, match="diverged.*Lower the 'lr'"):
        find_center(feet * 1e30, model=model, X=X * 1e10, y=y, spec=CenterSpec(steps=3, lr=10.0))


def lemma17_data(n=256):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 1, generator=g)
    return X, X.clone(), float((X ** 2).mean())


def integrated_risk_sum(theta, feet, ex2, m):
    """Sum over feet of int_0^1 R(t theta + (1 - t) theta_i) dt, exactly: R = (a.b - 1)^2 E x^2 is
    a degree-4 polynomial in t (theta = (A_1 = b, A_2 = a)), so 6-point Gauss-Legendre is exact.
    Cross-checked against theory.integrated_segment_risk when that module is present."""
    prod = lambda v: float(v[:m] @ v[m:])
    ours = sum(w * (prod(t * theta.double() + (1 - t) * f.double()) - 1) ** 2 * ex2
               for f in feet for t, w in zip(GL_T, GL_W))
    try:
        from landscape_core.theory import integrated_segment_risk
    except ImportError:   # theory.py is optional for these tests
        return ours
    layers = lambda v: [v[:m].double().numpy().reshape(m, 1), v[m:].double().numpy().reshape(1, m)]
    theirs = sum(integrated_segment_risk(layers(theta), layers(f), [[1.0]], [[ex2]]) for f in feet)
    assert theirs == pytest.approx(ours, rel=1e-9, abs=1e-12)
    return ours


def unconstrained_floor():
    """Global infimum of the Lemma 17 objective over ALL of R^8 (multi-start BFGS), in E x^2 units."""
    e1 = np.eye(4)[0]
    feet = [np.r_[e1, e1], -np.r_[e1, e1]]

    def J(z):
        return sum(w * (((t * z[:4] + (1 - t) * f[:4]) @ (t * z[4:] + (1 - t) * f[4:])) - 1) ** 2
                   for f in feet for t, w in zip(GL_T, GL_W))
    rng = np.random.default_rng(0)
    return min(minimize(J, rng.normal(size=8), method="BFGS").fun for _ in range(12))


def test_lemma17_center_finding_fails():
    """Lemma 17: no minimum is linearly connected to both (e1, e1) and (-e1, -e1). Center finding
    must fail: the objective cannot reach 0 (its infimum over all of R^8 is 1/6 E x^2, off the
    minima set), the center is not a minimum, and on the minima set the floor is 4/15 E x^2."""
    X, y, ex2 = lemma17_data()
    e1 = torch.zeros(4)
    e1[0] = 1.0
    feet = torch.stack([torch.cat([e1, e1]), -torch.cat([e1, e1])])
    model = build_model(LEMMA17)
    c = find_center(feet, model=model, X=X, y=y,
                    spec=CenterSpec(steps=400, lr=2e-2, batch_size=len(X), init="random"))
    floor = unconstrained_floor()
    assert abs(floor - 1 / 6) < 1e-4
    objective = integrated_risk_sum(c.theta, feet, ex2, 4)
    assert objective >= floor * ex2 * (1 - 1e-3)
    assert objective <= 1.03 * floor * ex2          # the optimiser did its best, and still fails
    a, b = c.theta[:4].double(), c.theta[4:].double()
    assert abs(float(a @ b) - 1.0) > 0.2             # the center is not on the minima set
    on_manifold = torch.cat([a, b / float(a @ b)]).float()   # rescale to a.b = 1
    assert integrated_risk_sum(on_manifold, feet, ex2, 4) >= 4 / 15 * ex2 * (1 - 1e-6)


def test_generic_linear_minima_have_a_center():
    """Theorem 18 (m = 6 > 1 + r(L - 1) = 3): generic minima admit a linearly connected center."""
    X, y, ex2 = lemma17_data()
    m, g = 6, torch.Generator().manual_seed(1)
    feet = []
    for _ in range(2):
        a, b = torch.randn(m, generator=g), torch.randn(m, generator=g)
        feet.append(torch.cat([b / (a @ b), a]))          # A_1 = b (m, 1), A_2 = a (1, m), a.b = 1
    spec = CenterSpec(steps=400, lr=2e-2, batch_size=len(X), init="random")
    wide = ModelSpec("deep_linear", width=m, depth=2, input_shape=(1,), n_outputs=1, bias=False)
    c = find_center(torch.stack(feet), model=build_model(wide), X=X, y=y, spec=spec)
    assert integrated_risk_sum(c.theta, feet, ex2, m) < 1e-3 * ex2


def tiny_setting(tiny_minima):
    m0 = tiny_minima[0]
    ds = load_dataset(m0.data)
    model = build_model(m0.model)
    feet = torch.stack([m.theta for m in tiny_minima])
    return ds, model, feet, Evaluator(model, ds.X_train, ds.y_train)


def test_tiny_mlp_fold_lines_beat_direct_segments(tiny_minima):
    ds, model, feet, ev = tiny_setting(tiny_minima)
    c = find_center(feet, model=model, X=ds.X_train, y=ds.y_train,
                    spec=CenterSpec(steps=300, lr=1e-2))
    pairs = [(0, 1), (0, 2), (1, 2)]
    seg = np.mean([linear_path(feet[i], feet[j], evaluator=ev, n_points=21).barriers()["max_loss"]
                   for i, j in pairs])
    fold = np.mean([fold_line_path(feet[i], c.theta, feet[j], evaluator=ev, n_points=11)
                    .barriers()["max_loss"] for i, j in pairs])
    assert fold < 0.5 * seg, (fold, seg)
    assert c.history[-1] < c.history[0]


def test_lam_pulls_center_towards_feet(tiny_minima):
    from landscape_core.geodesic import ngd_upper_bound
    ds, model, feet, _ = tiny_setting(tiny_minima)
    bounds = {}
    for lam in (0.0, 1e-2):
        c = find_center(feet[:2], model=model, X=ds.X_train, y=ds.y_train,
                        spec=CenterSpec(steps=150, lr=1e-2, init="random", lam=lam))
        bounds[lam] = ngd_upper_bound(feet[0], c.theta, feet[1])
    assert 1.0 <= bounds[1e-2] < bounds[0.0] - 0.05, bounds


def test_fit_curve_lowers_mean_loss_along_the_curve(tiny_minima):
    ds, model, feet, ev = tiny_setting(tiny_minima)
    t = np.linspace(0, 1, 21)
    straight = float(ev.evaluate(torch.stack([(1 - s) * feet[0] + s * feet[1] for s in t])).loss.mean())
    for kind in ("bezier", "polychain"):
        curve = fit_curve(feet[0], feet[1], model=model, X=ds.X_train, y=ds.y_train, kind=kind,
                          spec=CenterSpec(steps=200, lr=1e-2))
        pts = curve.points(t)
        assert torch.allclose(pts[0], feet[0]) and torch.allclose(pts[-1], feet[1], atol=1e-6)
        assert float(ev.evaluate(pts).loss.mean()) < 0.5 * straight
    assert curve.profile(evaluator=ev, n_points=11).kind == "fold_line"


def test_center_for_minima_caches_and_keys_on_spec(tiny_minima, tmp_cache, monkeypatch):
    calls = []
    real = center_mod.find_center
    monkeypatch.setattr(center_mod, "find_center", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = CenterSpec(steps=5)
    first = center_for_minima(tiny_minima, spec, cache=tmp_cache)
    second = center_for_minima(list(reversed(tiny_minima)), spec, cache=tmp_cache)
    assert len(calls) == 1 and isinstance(second, Center)
    assert torch.equal(first.theta, second.theta) and second.spec == spec
    assert np.array_equal(first.history, second.history)
    assert center_mod.center_key(tiny_minima, spec) != center_mod.center_key(
        tiny_minima, CenterSpec(steps=6))
    center_for_minima(tiny_minima, CenterSpec(steps=6), cache=tmp_cache)
    assert len(calls) == 2


def test_center_for_minima_rejects_mixed_settings_and_skips_interrupted(tiny_minima, tmp_cache):
    import dataclasses
    other = dataclasses.replace(tiny_minima[1], data=DataSpec("digits", n_train=300, n_test=200))
    with pytest.raises(ValueError, match="one model and one dataset"):
        center_for_minima([tiny_minima[0], other], CenterSpec(steps=2), cache=tmp_cache)
    c = center_for_minima(tiny_minima, CenterSpec(steps=50), cache=tmp_cache, should_stop=lambda: True)
    assert c.interrupted and c.n_steps == 1
    assert tmp_cache.load("center", center_mod.center_key(tiny_minima, CenterSpec(steps=50))) is None


def test_batchnorm_minima_from_the_cache_give_a_center(tmp_cache):
    """Minima of a BatchNorm model go through the disk cache and still fit a center."""
    from landscape_core import DataSpec, ModelSpec, TrainSpec, train_minima
    spec = ModelSpec("mlp", width=8, depth=1, input_shape=(64,), n_outputs=10, batch_norm=True)
    ms = train_minima(spec, DataSpec("digits", n_train=100, n_test=50), TrainSpec(lr=1e-2, batch_size=25, epochs=3),
                      seeds=[0, 1], cache=tmp_cache)
    ms = train_minima(spec, DataSpec("digits", n_train=100, n_test=50), TrainSpec(lr=1e-2, batch_size=25, epochs=3),
                      seeds=[0, 1], cache=tmp_cache)      # now read back from disk
    c = center_for_minima(ms, CenterSpec.fast(steps=3), cache=tmp_cache)
    assert c.theta.shape == ms[0].theta.shape and np.isfinite(c.distances).all()
