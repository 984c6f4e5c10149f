"""The cost model: pre-flight limits (exact counts and messages) and time estimates."""
from __future__ import annotations

import dataclasses
import math

import pytest

from landscape_core import build_model
from landscape_core.cost import (MAX_PATH_POINTS, MAX_SLICE_POINTS, BudgetError, Estimate, Probe,
                                 center_estimate, check_model, check_slice, check_star, check_sweep,
                                 format_seconds, parameter_count, path_estimate, slice_estimate,
                                 star_points, timing_probe, training_estimate, train_memory_bytes)
from landscape_core.models import count_parameters
from tests.conftest import TINY_DATA, TINY_MODEL, TINY_TRAIN

PROBE = Probe(overhead=1e-3, per_example=1e-5, fwd=1e-6, n_train=400, n_test=200, device="cpu")


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


def test_estimates_follow_the_probe():
    tr = dataclasses.replace(TINY_TRAIN, epochs=10, batch_size=100)
    one, three = training_estimate(PROBE, tr, 1), training_estimate(PROBE, tr, 3)
    per_min = 10 * 4 * (1e-3 + 100 * 1e-5) + 2 * 600 * 1e-6
    assert one.seconds == pytest.approx(1.5 * per_min)
    assert three.seconds == pytest.approx(3 * one.seconds) and three.passes == 3 * 10 * 400
    assert one.what == "training 1 minimum" and three.what == "training 3 minima"
    p = path_estimate(PROBE, 21)
    assert p.passes == 21 * 600 and p.seconds == pytest.approx(1.5 * 21 * 600 * 1e-6)
    s = slice_estimate(PROBE, 30, 40)
    assert s.passes == 1200 * 400 and s.what == "a 30 x 40 slice"

    class Spec:
        batch_size, steps, epochs, n_t, n_feet_per_step = 200, None, 5, 3, 1
    c = center_estimate(PROBE, Spec())
    assert c.passes == 10 * 200 * 3                                     # 5 epochs x 2 steps
    assert c.seconds == pytest.approx(1.5 * 10 * (2e-3 + 3 * 200 * 1e-5))


def test_estimate_text_and_seconds_format():
    e = Estimate(12.3, 4.1e5, "training 3 minima")
    assert e.text("CPU (1 thread)") == (
        "Estimated cost of training 3 minima: ≈ 12 s (4.1e+05 example-passes) on CPU (1 thread); "
        "an estimate from a timing probe, other work on the machine slows it down.")
    assert [format_seconds(s) for s in (0.1, 12, 300, 7200)] == ["< 1 s", "≈ 12 s", "≈ 5.0 min",
                                                                  "≈ 2.0 h"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.seconds = 1.0


def test_timing_probe_measures_and_is_memoised(one_thread):
    p = timing_probe(TINY_MODEL, TINY_DATA, 64, device="cpu", repeats=3)
    assert p.n_train == 400 and p.n_test == 200 and p.device == "cpu"
    assert p.overhead >= 0 and p.per_example >= 0 and p.fwd > 0
    assert all(math.isfinite(x) for x in (p.overhead, p.per_example, p.fwd))
    assert timing_probe(TINY_MODEL, TINY_DATA, 64, device="cpu", repeats=3) is p
    huge = dataclasses.replace(TINY_MODEL, width=10**6, depth=2)
    with pytest.raises(BudgetError):
        timing_probe(huge, TINY_DATA, 64, device="cpu")
