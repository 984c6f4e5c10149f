"""The cost model: pre-flight limits (exact counts and messages) and time estimates.

No timed assertions: estimates are checked against hand computations from a fixed Probe, and
their growth with width, points and epochs; the real timings are in bench/bench_estimates.py."""
from __future__ import annotations

import dataclasses
import math

import pytest

from landscape_core import ModelSpec, build_model, train_minima
from landscape_core.center import CenterSpec
from landscape_core.config import preset
from landscape_core.cost import (MAX_PATH_POINTS, MAX_SLICE_POINTS, SAFETY, BudgetError, Estimate,
                                 Probe, Work, center_estimate, check_model, check_slice, check_star,
                                 check_sweep, epochs_seen, format_seconds, forward_work, observe,
                                 parameter_count, path_estimate, slice_estimate, star_estimate,
                                 star_points, sweep_estimate, timing_probe, training_estimate,
                                 train_memory_bytes)
from landscape_core.models import count_parameters
from tests.conftest import TINY_DATA, TINY_MODEL, TINY_TRAIN

def test_parameter_count_matches_a_built_model_without_allocating_a_huge_one():
    assert parameter_count(TINY_MODEL) == count_parameters(build_model(TINY_MODEL, 0))
    huge = dataclasses.replace(TINY_MODEL, width=10**6, depth=2)
    assert parameter_count(huge) == 64 * 10**6 + 10**6 + 10**12 + 10**6 + 10 * 10**6 + 10
    assert train_memory_bytes(1000) == 16_000


def test_check_model_refuses_with_estimate_limit_and_override():
    wide = dataclasses.replace(TINY_MODEL, width=100_000, depth=1)      # 7.5 M params: fine
    assert check_model(wide, "cpu") == parameter_count(wide)
    huge = dataclasses.replace(TINY_MODEL, width=10_000, depth=2)       # 100.7 M params
    n = parameter_count(huge)
    with pytest.raises(BudgetError) as info:
        check_model(huge, "cpu")
    assert str(info.value) == (
        f"This model is too large: {n:,} trainable parameters ({16 * n / 2**30:.1f} GiB to train), "
        "above the limit of 30,000,000 on cpu. Reduce the width, depth or hidden sizes or pass "
        "force=True (the CLI's --force) to run it anyway.")
    assert check_model(huge, "cpu", force=True) == n


def test_star_counts_and_refusal():
    # 3 pairs x (segment + two fold legs) x 21 + 3 spokes x 21
    assert star_points(3, 21) == 3 * 3 * 21 + 3 * 21 == 252
    assert star_points(3, 21, n_held_out=2, with_test=True) == 2 * (189 + 5 * 21)
    assert check_star(10, 21) == 45 * 63 + 210
    with pytest.raises(BudgetError, match=r"A star over 1000 minima is too large: 31,489,500 path "
                                          r"evaluations \(499,500 pairs x 21 points\), above the "
                                          r"limit of 200,000\. Use fewer minima .* force=True"):
        check_star(1000, 21)
    assert check_star(1000, 21, force=True) == 31_489_500


def test_slice_limit():
    assert check_slice(200) == MAX_SLICE_POINTS
    assert check_slice(31, 41) == 31 * 41
    with pytest.raises(BudgetError, match=r"A 500 x 500 slice is too large: 250,000 points, above the "
                                          r"limit of 40,000 \(e\.g\. 200 x 200\)\. Use a coarser grid "
                                          r"or pass force=True"):
        check_slice(500, 500)
    assert check_slice(500, force=True) == 250_000
    with pytest.raises(ValueError, match="The 'resolution_a' parameter of check_slice must be an int"):
        check_slice(0)


def test_sweep_limits():
    assert check_sweep(3, 4) == {"minima": 12, "centers": 18, "path_points": 3 * 6 * 63}
    assert check_sweep(3, 4, center_mode="star")["centers"] == 3
    with pytest.raises(BudgetError, match="1,000 minima to compute, above the limit of 500"):
        check_sweep(100, 10)
    with pytest.raises(BudgetError, match="210 centers to compute, above the limit of 200. Use fewer "
                                          "values, fewer minima or center_mode='star'"):
        check_sweep(10, 7)
    assert check_sweep(10, 7, center_mode="star")["centers"] == 10
    assert check_sweep(100, 10, force=True)["minima"] == 1000
    with pytest.raises(ValueError, match="'center_mode' parameter of check_sweep must be one of"):
        check_sweep(2, 2, center_mode="pairs")
    assert MAX_PATH_POINTS == 200_000


PROBE = Probe(overhead=1e-3, per_example=1e-5, fwd=1e-6, n_train=400, n_test=200, device="cpu",
              eval_overhead=2e-3, affine_point=1e-7, affine_fixed=1e-6, affine_setup=5e-3,
              center_overhead=3e-3, center_point=1e-4, center_example=2e-6, center_setup=4e-3,
              batch_size=100,
              build=1e-3, work=Work(macs=1000.0, first_macs=640.0, first_out=10.0))
OLD_PROBE = Probe(overhead=1e-3, per_example=1e-5, fwd=1e-6, n_train=400, n_test=200, device="cpu")


class CSpec:
    batch_size, steps, epochs, n_t, n_feet_per_step = 200, None, 5, 3, 1


def test_training_estimate_by_hand():
    tr = dataclasses.replace(TINY_TRAIN, epochs=10, batch_size=100)
    one, three = training_estimate(PROBE, tr, 1), training_estimate(PROBE, tr, 3)
    # 10 epochs x 4 steps of (1 ms + 100 x 10 us); evaluations: 2 x train (2 ms + 400 us), test
    # (2 ms + 200 us); the model build 1 ms
    per_min = 10 * 4 * (1e-3 + 100 * 1e-5) + 2 * (2e-3 + 400e-6) + (2e-3 + 200e-6) + 1e-3
    assert one.seconds == pytest.approx(SAFETY * per_min)
    assert one.passes == pytest.approx(10 * 400 * 3 * 1000 + (2 * 400 + 200) * 1000)
    assert three.seconds == pytest.approx(3 * one.seconds) and three.passes == 3 * one.passes
    assert one.what == "training 1 minimum" and three.what == "training 3 minima"
    assert not one.upper
    # a last partial batch: 400 = 2 x 150 + 100
    odd = training_estimate(PROBE, dataclasses.replace(tr, batch_size=150), 1)
    assert odd.seconds == pytest.approx(SAFETY * (per_min - 10 * 4 * 2e-3 + 10 * (2 * 2.5e-3 + 2e-3)))
    # a target: the full training set evaluated after every epoch; all epochs are an upper bound
    target = dataclasses.replace(tr, target_train_acc=0.99)
    t = training_estimate(PROBE, target, 1)
    assert t.seconds == pytest.approx(SAFETY * (per_min + 10 * (2e-3 + 400e-6)))
    assert t.upper and "stops earlier" in t.what
    seen = training_estimate(PROBE, target, 1, expected_epochs=4)
    assert not seen.upper
    assert seen.seconds == pytest.approx(SAFETY * (4 * 4 * 2e-3 + 4 * 2.4e-3 + 2 * 2.4e-3 + 2.2e-3
                                                    + 1e-3))
    assert training_estimate(PROBE, target, 1, expected_epochs=50).seconds == pytest.approx(t.seconds)


def test_center_estimate_by_hand():
    c = center_estimate(PROBE, CSpec())
    # 5 epochs x 2 steps; a step: 3 ms + 3 points x (100 us + 200 examples x 2 us); 2 builds;
    # the trainer's setup 4 ms
    assert c.seconds == pytest.approx(SAFETY * (10 * (3e-3 + 3 * (1e-4 + 200 * 2e-6)) + 6e-3))
    assert c.passes == pytest.approx(10 * 3 * 200 * 3 * 1000)

    class Steps(CSpec):
        steps, n_t, n_feet_per_step = 7, 4, 2
    c = center_estimate(PROBE, Steps())
    assert c.seconds == pytest.approx(SAFETY * (7 * (3e-3 + 8 * (1e-4 + 200 * 2e-6)) + 6e-3))
    # an old-style probe: two training-step overheads plus the points' examples
    assert center_estimate(OLD_PROBE, CSpec()).seconds == pytest.approx(
        SAFETY * 10 * (2e-3 + 3 * 200 * 1e-5))


def test_path_slice_and_star_estimates_by_hand():
    p = path_estimate(PROBE, 21)
    # per set: tracing 5 ms + n x 1 us first-layer products + 21 x n x 0.1 us points
    train, test = 5e-3 + 400e-6 + 21 * 400 * 1e-7, 5e-3 + 200e-6 + 21 * 200 * 1e-7
    assert p.seconds == pytest.approx(SAFETY * (train + test))
    # multiply-adds: per point and example the rest (1000 - 640) plus 2 x 10 for the combination,
    # per call and example 2 x 640 first-layer products
    assert p.passes == pytest.approx(600 * (21 * 380 + 1280))
    assert path_estimate(PROBE, 21, with_test=False).seconds == pytest.approx(SAFETY * train)
    three = path_estimate(PROBE, 21, with_test=False, n_paths=3)
    assert three.seconds == pytest.approx(SAFETY * (train + 2 * 400e-6))
    s = slice_estimate(PROBE, 30, 40)
    assert s.what == "a 30 x 40 slice"
    assert s.seconds == pytest.approx(SAFETY * (5e-3 + 400e-6 + 1200 * 400 * 1e-7))
    assert s.passes == pytest.approx(400 * (1200 * 390 + 1920))
    st = star_estimate(PROBE, 3, 21)
    n = star_points(3, 21)
    assert st.seconds == pytest.approx(path_estimate(PROBE, n, n_paths=9).seconds)
    assert "(252 path points)" in st.what
    # an old-style probe: plain forward passes per point and example
    assert path_estimate(OLD_PROBE, 21).seconds == pytest.approx(SAFETY * 21 * 600 * 1e-6)


def test_sweep_estimate_sums_training_centers_and_paths(monkeypatch):
    from landscape_core import cost
    from landscape_core.config import Experiment
    seen = []
    monkeypatch.setattr(cost, "timing_probe", lambda m, d, b, device="auto": seen.append(m.width)
                        or PROBE)
    base = Experiment(TINY_DATA, TINY_MODEL, dataclasses.replace(TINY_TRAIN, batch_size=100),
                      n_minima=3)
    e = sweep_estimate(base, "model.width", (8, 16), CSpec(), "pair", n_points=21)
    assert seen == [8, 16]
    one = (training_estimate(PROBE, base.train, 3).seconds + 3 * center_estimate(PROBE, CSpec()).seconds
           + path_estimate(PROBE, 3 * 62, with_test=False, n_paths=6).seconds + 2 * SAFETY * 2e-3)
    assert e.seconds == pytest.approx(2 * one)
    assert e.what == "a sweep of model.width over 2 values"
    star = sweep_estimate(base, "model.width", (8,), CSpec(), "star", n_points=21)
    assert star.seconds == pytest.approx(one - 2 * center_estimate(PROBE, CSpec()).seconds)


def test_forward_work_counts_multiply_adds():
    w = forward_work(TINY_MODEL)                     # 64 -> 16 -> 10
    assert (w.macs, w.first_macs, w.first_out) == (64 * 16 + 16 * 10, 64 * 16, 16)
    assert w.point() == w.macs and w.point(2) == 16 * 10 + 3 * 16 and w.per_call(1) == 2 * 64 * 16
    conv = ModelSpec("vgg", width=4, variant="small", input_shape=(3, 8, 8), n_outputs=10)
    cw = forward_work(conv)
    assert cw.first_macs == 4 * 8 * 8 * 3 * 9 and cw.first_out == 4 * 8 * 8   # 3x3 conv, padding 1
    assert cw.macs > cw.first_macs


@pytest.mark.parametrize("preset_name", ["tiny", "digits-mlp", "teacher-student", "linear-net"])
def test_estimates_grow_with_width_points_and_epochs(preset_name):
    exp = preset(preset_name)
    probes = [dataclasses.replace(PROBE, work=forward_work(exp.replace(**{"model.width": w}).model))
              for w in (16, 64, 256)]
    for task in (lambda p: training_estimate(p, exp.train, 2), lambda p: center_estimate(p, CSpec()),
                 lambda p: path_estimate(p, 21), lambda p: slice_estimate(p, 31)):
        work = [task(p).passes for p in probes]
        assert work[0] < work[1] < work[2], work
    p = probes[1]
    for est in (lambda k: path_estimate(p, k), lambda k: slice_estimate(p, k),
                lambda k: star_estimate(p, k, 21)):
        a, b = est(5), est(50)
        assert a.seconds < b.seconds and a.passes < b.passes
    tr = lambda e: training_estimate(p, dataclasses.replace(exp.train, epochs=e), 1)
    assert tr(5).seconds < tr(50).seconds and tr(5).passes < tr(50).passes
    ct = lambda e: center_estimate(p, dataclasses.replace(CenterSpec(), epochs=e))
    assert ct(5).seconds < ct(50).seconds and ct(5).passes < ct(50).passes


def test_estimate_text_and_seconds_format():
    e = Estimate(12.3, 4.1e9, "training 3 minima")
    assert e.text("CPU (1 thread)") == (
        "Estimated cost of training 3 minima: ≈ 12 s (4.1e+09 multiply-adds) on CPU (1 thread); "
        "an estimate from a timing probe, other work on the machine slows it down.")
    up = Estimate(100, 1e6, "x", upper=True)
    assert up.text("CPU").startswith("Estimated cost of x: at most ≈ 1.7 min")
    assert Estimate(0.1, 1e6, "x", upper=True).text("CPU").startswith("Estimated cost of x: < 1 s")
    assert (e + up).upper and (e + e).seconds == pytest.approx(24.6)
    assert [format_seconds(s) for s in (0.1, 12, 300, 7200)] == ["< 1 s", "≈ 12 s", "≈ 5.0 min",
                                                                  "≈ 2.0 h"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.seconds = 1.0


def test_probe_is_measured_again_when_stale_or_found_far_off(one_thread):
    now = [1000.0]
    clock = lambda: now[0]
    kw = dict(device="cpu", repeats=1, clock=clock, max_age=60)
    first = timing_probe(TINY_MODEL, TINY_DATA, 32, **kw)
    assert first.measured_at == 1000.0
    now[0] += 59
    assert timing_probe(TINY_MODEL, TINY_DATA, 32, **kw) is first          # fresh: memoised
    now[0] += 2
    second = timing_probe(TINY_MODEL, TINY_DATA, 32, **kw)                  # 61 s old: measured again
    assert second is not first and second.measured_at == 1061.0
    assert timing_probe(TINY_MODEL, TINY_DATA, 32, **kw) is second
    # a later measurement within a factor of 2 keeps it; one far off drops it
    assert not observe(second, estimated_seconds=3.0, actual_seconds=2.0)
    assert timing_probe(TINY_MODEL, TINY_DATA, 32, **kw) is second
    assert observe(second, estimated_seconds=10.0, actual_seconds=2.0)
    third = timing_probe(TINY_MODEL, TINY_DATA, 32, **kw)
    assert third is not second
    assert observe(third, estimated_seconds=1.0, actual_seconds=2.5)     # too low counts too
    assert timing_probe(TINY_MODEL, TINY_DATA, 32, **kw) is not third
    assert timing_probe(TINY_MODEL, TINY_DATA, 32, refresh=True, **kw) is not third


def test_epochs_seen_reads_the_cached_minima_of_the_recipe(tmp_cache):
    assert epochs_seen(TINY_MODEL, TINY_DATA, TINY_TRAIN, tmp_cache) is None
    short = dataclasses.replace(TINY_TRAIN, epochs=2)
    train_minima(TINY_MODEL, TINY_DATA, short, seeds=[0, 1], cache=tmp_cache)
    assert epochs_seen(TINY_MODEL, TINY_DATA, short, tmp_cache) == 2.0
    assert epochs_seen(TINY_MODEL, TINY_DATA, TINY_TRAIN, tmp_cache) is None   # another recipe


def test_timing_probe_measures_and_is_memoised(one_thread):
    p = timing_probe(TINY_MODEL, TINY_DATA, 64, device="cpu", repeats=3)
    assert p.n_train == 400 and p.n_test == 200 and p.device == "cpu"
    assert p.overhead >= 0 and p.per_example >= 0 and p.fwd > 0
    assert all(math.isfinite(x) for x in (p.overhead, p.per_example, p.fwd))
    assert timing_probe(TINY_MODEL, TINY_DATA, 64, device="cpu", repeats=3) is p
    huge = dataclasses.replace(TINY_MODEL, width=10**6, depth=2)
    with pytest.raises(BudgetError):
        timing_probe(huge, TINY_DATA, 64, device="cpu")
