"""Modulo permutation against oracles: the permuted network is the same function, weight
matching recovers a known permutation (and the barrier vanishes), a single assignment is the
brute-force optimum, activation matching agrees on permuted copies, REPAIR keeps its endpoints,
and the new barrier definitions equal hand computations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from landscape_core import (BARRIER_DEFINITIONS, BARRIER_GROUPS, Evaluator, ModelSpec, barrier_metrics,
                            build_model, flatten, linear_path)
from landscape_core.params import bn_buffers, load_flat
from landscape_core.permutation import (PermutationSpec, UnsupportedModelError, activation_matching,
                                        align_feet, aligned_minimum, alignment_record, apply_permutation,
                                        compare_star_centers, invert, permutation_spec, permute_buffers,
                                        random_perms, repair, repair_path, weight_matching)
from landscape_core.permutation.weight import objective, _weights

ZOO = {
    "mlp": ModelSpec("mlp", width=12, depth=2, input_shape=(1, 6, 6), n_outputs=5),
    "mlp-bn": ModelSpec("mlp", width=12, depth=2, input_shape=(36,), n_outputs=5, batch_norm=True),
    "vgg": ModelSpec("vgg", width=3, input_shape=(3, 16, 16), n_outputs=5),
    "vgg-bn": ModelSpec("vgg", width=3, input_shape=(3, 16, 16), n_outputs=5, batch_norm=True),
    "resnet": ModelSpec("resnet", width=8, input_shape=(3, 12, 12), n_outputs=5),
    "resnet-bn": ModelSpec("resnet", width=8, input_shape=(3, 12, 12), n_outputs=5, batch_norm=True),
    "student": ModelSpec("two_layer_relu", width=10, input_shape=(4,), n_outputs=1, bias=False),
    "deep-linear": ModelSpec("deep_linear", width=6, depth=3, input_shape=(6,), n_outputs=2, bias=False),
}


def _sequential():
    """Not a zoo model: conv, BN, pool and a Flatten that keeps a 4x4 map (blocks of 16)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(5 * 16, 7), nn.Tanh(), nn.Linear(7, 3)).eval()


def _model(name):
    if name == "sequential":
        return _sequential(), (2, 8, 8)
    m = build_model(ZOO[name], seed=1)
    return m, ZOO[name].input_shape


def _with_random_stats(model):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for n, b in model.named_buffers():
            if b.is_floating_point():
                b.copy_(torch.rand(b.shape, generator=g) + 0.5 if "var" in n else 0.1 * torch.randn(b.shape, generator=g))
    return model


def _run(model, theta, buffers, X):
    net = build_like(model)
    load_flat(net, theta)
    with torch.no_grad():
        for n, b in net.named_buffers():
            b.copy_(buffers[n])
        return net.eval()(X)


def build_like(model):
    import copy
    return copy.deepcopy(model)


@pytest.mark.parametrize("name", list(ZOO) + ["sequential"])
def test_random_permutation_preserves_the_function(name):
    model, shape = _model(name)
    model = _with_random_stats(model)
    spec = permutation_spec(model)
    assert spec.perms, name
    theta, buffers = flatten(model), bn_buffers(model)
    perms = random_perms(spec, seed=5)
    moved = apply_permutation(model, theta, perms)
    assert not torch.equal(moved, theta)
    X = torch.randn(9, *shape, generator=torch.Generator().manual_seed(0))
    before = _run(model, theta, buffers, X)
    after = _run(model, moved, permute_buffers(model, buffers, perms), X)
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-5)
    back = apply_permutation(model, moved, invert(perms))
    assert torch.equal(back, theta)


def test_residual_groups_are_tied_and_outputs_never_permuted():
    model, _ = _model("resnet")
    spec = permutation_spec(model)
    block = "3."        # first BasicBlock, identity shortcut: conv2's output is the stem's group
    assert spec.axes[f"{block}conv2.weight"][0] == spec.axes["0.weight"][0]
    last = [n for n in spec.axes if n.endswith("weight")][-1]
    out_layer = [n for n, _ in model.named_parameters()][-2]
    assert spec.axes[out_layer][0] is None and last == out_layer


def test_unsupported_module_is_refused_and_a_hand_spec_works():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.out = nn.Linear(3, 2)

        def forward(self, x):
            return self.out(torch.relu(self.lin(x)))
    model = Odd()
    with pytest.raises(UnsupportedModelError, match="by hand"):
        permutation_spec(model)
    spec = PermutationSpec({"P0": 3}, {"lin.weight": ("P0", None), "lin.bias": ("P0",),
                                       "out.weight": (None, "P0")}, {"P0": ("lin",)}, {"P0": "lin"})
    theta = flatten(model)
    moved = apply_permutation(model, theta, random_perms(spec, 1), spec=spec)
    X = torch.randn(5, 4)
    assert torch.allclose(_run(model, theta, {}, X), _run(model, moved, {}, X), atol=1e-6)
    back = weight_matching(model, theta, moved, spec=spec)
    assert torch.equal(back, theta)


@pytest.mark.parametrize("name", ["mlp", "vgg-bn", "resnet", "student", "sequential"])
def test_weight_matching_recovers_a_known_permutation(name):
    model, shape = _model(name)
    theta = flatten(model)
    spec = permutation_spec(model)
    moved = apply_permutation(model, theta, random_perms(spec, seed=11))
    out = weight_matching(model, theta, moved, seed=0)
    assert torch.equal(out, theta)
    rec = out.alignment
    assert rec.method == "weight" and rec.converged and rec.iterations >= 1
    assert rec.objective >= rec.objective_start
    applied = random_perms(spec, seed=11)
    for p, idx in rec.perms.items():          # the recovered permutation undoes the one applied
        assert np.array_equal(idx, invert(applied)[p]), p


def test_barrier_vanishes_after_matching_a_permuted_copy():
    model, shape = _model("mlp")
    X = torch.randn(64, *shape, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(2))
    ev = Evaluator(model, X, y)
    theta = flatten(model)
    moved = apply_permutation(model, theta, random_perms(permutation_spec(model), seed=4))
    raw = linear_path(theta, moved, evaluator=ev, n_points=11).barriers()
    assert raw["barrier_height"] > 1e-4
    aligned = weight_matching(model, theta, moved)
    bars = linear_path(theta, aligned, evaluator=ev, n_points=11).barriers()
    for key in ("barrier_height", "rebasin_barrier", "midpoint_barrier", "acc_drop"):
        assert bars[key] == pytest.approx(0.0, abs=1e-6), key


def test_one_assignment_is_the_brute_force_optimum():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))    # one group of 6 units
    spec = permutation_spec(model)
    assert list(spec.perms.values()) == [6]
    theta_a, theta_b = flatten(model), torch.randn(flatten(model).shape[0])
    out = weight_matching(model, theta_a, theta_b)
    Wa, Wb, _ = _weights(model, theta_a, theta_b, spec)
    best = max(objective(Wa, Wb, spec, {"P0": np.array(p)}) for p in itertools.permutations(range(6)))
    assert out.alignment.objective == pytest.approx(best, rel=1e-10)
    dist = min(float((apply_permutation(model, theta_b, {"P0": np.array(p)}) - theta_a).norm())
               for p in itertools.permutations(range(6)))
    assert float((out - theta_a).norm()) == pytest.approx(dist, rel=1e-6)


@pytest.mark.parametrize("name", ["mlp", "vgg", "resnet-bn", "deep-linear"])
def test_activation_matching_agrees_with_weight_matching_on_a_permuted_copy(name):
    model, shape = _model(name)
    model = _with_random_stats(model)
    theta, buffers = flatten(model), bn_buffers(model)
    perms = random_perms(permutation_spec(model), seed=7)
    moved = apply_permutation(model, theta, perms)
    X = torch.randn(256, *shape, generator=torch.Generator().manual_seed(3))
    act = activation_matching(model, theta, moved, X, buffers_a=buffers,
                              buffers_b=permute_buffers(model, buffers, perms))
    assert torch.equal(act, weight_matching(model, theta, moved))
    assert torch.equal(act, theta)
    assert act.alignment.method == "activation" and act.alignment.objective >= act.alignment.objective_start


@pytest.mark.parametrize("name", ["mlp", "student", "resnet", "sequential"])
def test_repair_returns_the_endpoints_at_t0_and_t1(name):
    model, shape = _model(name)
    if name == "sequential":
        model = nn.Sequential(*[m for m in model if not isinstance(m, nn.BatchNorm2d)])
    a = flatten(model)
    b = flatten(build_model(ZOO[name], seed=2)) if name in ZOO else a + 0.1 * torch.randn_like(a)
    X = torch.randn(200, *shape, generator=torch.Generator().manual_seed(4))
    for t, end in ((0.0, a), (1.0, b)):
        out = repair(model, a, b, t, X)
        assert torch.allclose(out, end, atol=1e-5, rtol=1e-4), (name, t)
        assert out.alignment.method == "repair"
    mid = repair(model, a, b, 0.5, X)
    assert mid.alignment.extra["folded"] or mid.alignment.extra["scale_only"]


def test_repair_restores_the_interpolated_statistics():
    model, shape = _model("mlp")
    a, b = flatten(model), flatten(build_model(ZOO["mlp"], seed=2))
    X = torch.randn(500, *shape, generator=torch.Generator().manual_seed(4))
    from landscape_core.permutation.observe import network_at, unit_stats
    from landscape_core.permutation.repair import endpoint_stats
    sa, sb = endpoint_stats(model, a, b, X)
    out = repair(model, a, b, 0.5, X)
    site = permutation_spec(model).repair_sites[-1][0]
    mean, std = unit_stats(network_at(model, out), X, [site])[site]
    assert torch.allclose(mean, (sa[site][0] + sb[site][0]) / 2, atol=1e-4)
    assert torch.allclose(std, (sa[site][1] + sb[site][1]) / 2, atol=1e-4)


def test_repair_of_a_batchnorm_net_is_the_recompute_policy():
    model, shape = _model("mlp-bn")
    a, b = flatten(model), flatten(build_model(ZOO["mlp-bn"], seed=2))
    out = repair(model, a, b, 0.3, torch.randn(20, *shape))
    assert torch.allclose(out, 0.7 * a + 0.3 * b)
    assert "recompute" in out.alignment.note


def test_new_barrier_definitions_against_hand_computations():
    t = np.linspace(0, 1, 5)
    loss = np.array([0.2, 0.9, 1.4, 0.8, 0.4])
    acc = np.array([0.9, 0.7, 0.5, 0.75, 0.95])
    m = barrier_metrics(t, loss, acc)
    assert m["rebasin_barrier"] == pytest.approx(1.4 - 0.3)
    assert m["midpoint_loss"] == pytest.approx(1.4) and m["midpoint_acc"] == pytest.approx(0.5)
    assert m["midpoint_barrier"] == pytest.approx(1.1)
    assert m["midpoint_acc_drop"] == pytest.approx(0.925 - 0.5)
    assert m["rebasin_acc_barrier"] == pytest.approx(0.925 - 0.5)
    assert m["barrier_height"] == pytest.approx(1.4 - 0.3)           # the line at t = 1/2 is 0.3
    assert m["max_loss"] == 1.4 and m["min_acc"] == 0.5               # unchanged keys
    even = barrier_metrics(np.linspace(0, 1, 4), np.array([0.0, 1.0, 2.0, 0.0]))
    assert even["midpoint_loss"] == pytest.approx(1.5)                # interpolated between grid points
    assert set(m) <= set(BARRIER_DEFINITIONS)
    assert {k for keys in BARRIER_GROUPS.values() for k in keys} == set(BARRIER_DEFINITIONS)


def test_aligned_minima_are_cached_like_minima(tiny_minima, tmp_cache):
    from landscape_core.refs import CenterRef, load_minimum
    a, b = tiny_minima[0], tiny_minima[1]
    al = aligned_minimum(a, b, "weight", tmp_cache)
    assert al.key != b.key and "aligned to" in al.name and "weight matching" in al.name
    assert load_minimum(al.key, tmp_cache).theta.equal(al.theta)
    assert alignment_record(al, tmp_cache)["method"] == "weight"
    assert aligned_minimum(a, b, "weight", tmp_cache).key == al.key      # from the cache
    assert aligned_minimum(a, b, "none", tmp_cache) is b
    act = aligned_minimum(a, b, "activation", tmp_cache)
    assert "activation matching" in act.name
    feet = align_feet(tiny_minima, "weight", tmp_cache)
    assert feet[0] is tiny_minima[0] and feet[1].key == al.key
    merged = align_feet(tiny_minima, "weight", tmp_cache, mode="mean")
    assert all("MergeMany" in m.name for m in merged)
    CenterRef(tuple(m.key for m in feet), __import__("landscape_core").recipes.recipe_spec("fast"))
    with pytest.raises(ValueError, match="align"):
        aligned_minimum(a, b, "procrustes", tmp_cache)


def test_repair_path_and_star_comparison_name_what_they_are(tiny_minima, tmp_cache):
    from landscape_core import load_dataset
    from landscape_core.evaluate import evaluators_for
    from landscape_core.recipes import recipe_spec
    from tests.conftest import TINY_DATA
    a, b = tiny_minima[0], tiny_minima[1]
    model = build_model(a.model)
    ds = load_dataset(TINY_DATA)
    ev, tev = evaluators_for(model, ds)
    al = aligned_minimum(a, b, "weight", tmp_cache)
    prof = repair_path(model, a.theta, al.theta, ds.X_train, evaluator=ev, test_evaluator=tev, n_points=5)
    assert "REPAIR" in prof.label and "REPAIR" in prof.meta["repair"]
    assert prof.train_loss[0] == pytest.approx(a.train_loss, rel=1e-4)
    comp = compare_star_centers(tiny_minima, "weight", tmp_cache, recipe_spec("fast", steps=3),
                                evaluator=ev, n_points=3)
    assert len(comp.reports) == 3 and comp.table()
    assert all(r["alignment"] for r in comp.table())


def test_pair_profiles_are_raw_aligned_and_repaired(tiny_minima, tmp_cache):
    from landscape_core import load_dataset, pair_profiles
    from landscape_core.evaluate import evaluators_for
    from tests.conftest import TINY_DATA
    a, b = tiny_minima[0], tiny_minima[2]
    ev, tev = evaluators_for(build_model(a.model), load_dataset(TINY_DATA))
    profs = pair_profiles(a, b, "weight", tmp_cache, evaluator=ev, test_evaluator=tev, n_points=5)
    assert list(profs) == ["raw", "weight matching", "weight matching + REPAIR"]
    assert [p.meta["align"] for p in profs.values()] == ["none", "weight", "weight"]
    assert profs["raw"].barriers("test")["rebasin_barrier"] >= 0
    assert profs["weight matching"].train_loss[-1] == pytest.approx(b.train_loss, rel=1e-4)


def test_sweep_and_ngd_run_modulo_permutation_and_say_so(tiny_minima, tmp_cache, one_thread):
    from landscape_core import load_dataset, preset, sweep
    from landscape_core.evaluate import evaluators_for
    from landscape_core.ngd import ngd_tradeoff
    from landscape_core.recipes import recipe_spec
    from tests.conftest import TINY_DATA
    base = preset("tiny").replace(n_minima=2)
    spec = recipe_spec("ngd", steps=3)
    raw = sweep(base, "model.width", [8], center_spec=spec, n_points=3, cache=tmp_cache)
    n_raw = len(tmp_cache.list("sweep_point"))
    al = sweep(base, "model.width", [8], center_spec=spec, n_points=3, cache=tmp_cache, align="weight")
    assert len(tmp_cache.list("sweep_point")) == n_raw + 1           # its own key; raw untouched
    assert raw.meta["align"] == "none" and "no alignment" in raw.meta["alignment"]
    assert al.meta["align"] == "weight" and "weight matching" in al.meta["alignment"]
    assert all(r["align"] == "weight" for r in al.rows) and all("align" not in r for r in raw.rows)
    assert al.rows[0]["segment_barrier_height"] <= raw.rows[0]["segment_barrier_height"] + 1e-9
    star = sweep(base, "model.width", [8], center_spec=spec, n_points=3, cache=tmp_cache,
                 align="weight", center_mode="star")
    assert "first foot" in star.meta["alignment"]
    from landscape_core.training import store_minimum
    ev, _ = evaluators_for(build_model(tiny_minima[0].model), load_dataset(TINY_DATA))
    a, b = (store_minimum(m, tmp_cache) for m in tiny_minima[:2])      # centers read feet by key
    trade = ngd_tradeoff(a, b, evaluator=ev, cache=tmp_cache, lams=(1e-3,), steps=3, align="weight")
    assert trade.align == "weight" and trade.pair[1] == aligned_minimum(a, b, "weight", tmp_cache).key
    assert "modulo permutation" in trade.caption()
    plain = ngd_tradeoff(a, b, evaluator=ev, cache=tmp_cache, lams=(1e-3,), steps=3)
    assert plain.align == "none" and plain.pair == (a.key, b.key) and "permutation" not in plain.caption()
    with pytest.raises(ValueError, match="align"):
        ngd_tradeoff(a, b, evaluator=ev, cache=tmp_cache, align="sideways")
