"""Training minima: determinism, caching, stopping rules, divergence and interruption."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from landscape_core import (DataSpec, TrainingDivergedError, TrainingStopped, cached_minima,
                            minimum_from_checkpoint, save_checkpoint, build_model, train_minima,
                            train_minimum)
from landscape_core.training import store_minimum
from tests.conftest import TINY_DATA, TINY_MODEL, TINY_TRAIN

FAST = dataclasses.replace(TINY_TRAIN, epochs=3)


def test_minima_are_deterministic_per_seed_and_differ_across_seeds():
    a = train_minimum(TINY_MODEL, TINY_DATA, FAST, seed=0)
    b = train_minimum(TINY_MODEL, TINY_DATA, FAST, seed=0)
    c = train_minimum(TINY_MODEL, TINY_DATA, FAST, seed=1)
    assert torch.equal(a.theta, b.theta) and not torch.equal(a.theta, c.theta)
    assert a.train_loss < 2.3 and 0 <= a.train_acc <= 1 and a.wall_time > 0 and a.epochs == 3


def test_trained_minima_fit_the_training_data(tiny_minima):
    for m in tiny_minima:
        assert m.train_acc > 0.85 and m.train_loss < 0.6
        assert m.test_acc is not None and m.test_acc > 0.7


def test_cache_returns_stored_minima_without_training(tmp_cache, monkeypatch):
    first = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0, 1], cache=tmp_cache)
    import landscape_core.training as tr
    monkeypatch.setattr(tr, "train_minimum", lambda *a, **k: pytest.fail("retrained a cached minimum"))
    again = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0, 1], cache=tmp_cache)
    assert [torch.equal(x.theta, y.theta) for x, y in zip(first, again)] == [True, True]
    assert len(cached_minima(TINY_MODEL, TINY_DATA, tmp_cache)) == 2


def test_interrupting_keeps_finished_minima(tmp_cache):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 3 * 4 + 2       # 4 steps/epoch x 3 epochs: stop during the 2nd seed
    with pytest.raises(TrainingStopped):
        train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0, 1, 2], cache=tmp_cache,
                     should_stop=should_stop)
    kept = cached_minima(TINY_MODEL, TINY_DATA, tmp_cache)
    assert [m.seed for m in kept] == [0]


def test_accuracy_target_stops_early():
    spec = dataclasses.replace(TINY_TRAIN, epochs=50, target_train_acc=0.5)
    m = train_minimum(TINY_MODEL, TINY_DATA, spec, seed=0)
    assert m.epochs < 50 and m.train_acc >= 0.5


def test_divergence_raises_and_stores_nothing(tmp_cache):
    from landscape_core import ModelSpec, TrainSpec
    data = DataSpec("linear_regression", n_train=200, n_test=50, input_dim=4)
    model = ModelSpec("deep_linear", width=8, depth=3, input_shape=(4,), n_outputs=1)
    bad = TrainSpec("sgd", lr=5.0, momentum=0.9, batch_size=50, epochs=20)
    with pytest.raises(TrainingDivergedError, match="Lower the learning rate"):
        train_minima(model, data, bad, seeds=[0], cache=tmp_cache)
    assert cached_minima(model, data, tmp_cache) == []


def test_progress_reports_rising_fractions():
    seen = []
    train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0, 1], use_cache=False,
                 progress=lambda f, msg: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_uploaded_checkpoint_becomes_a_minimum(tmp_path, tmp_cache, tiny_minima):
    model = build_model(TINY_MODEL)
    from landscape_core.params import load_flat
    load_flat(model, tiny_minima[0].theta)
    save_checkpoint(model, tmp_path / "up.safetensors")
    m = minimum_from_checkpoint(str(tmp_path / "up.safetensors"), TINY_MODEL, TINY_DATA)
    assert m.train_loss == pytest.approx(tiny_minima[0].train_loss, rel=1e-5)
    store_minimum(m, tmp_cache)
    assert any(x.label.startswith("uploaded") for x in cached_minima(TINY_MODEL, TINY_DATA, tmp_cache))


def test_teacher_student_student_learns():
    from landscape_core import ModelSpec, TrainSpec
    data = DataSpec("teacher_student", n_train=500, n_test=200, input_dim=4, teacher_neurons=2)
    model = ModelSpec("two_layer_relu", width=16, input_shape=(4,), n_outputs=1, bias=False)
    m = train_minimum(model, data, TrainSpec(lr=1e-2, batch_size=100, epochs=30), seed=0)
    assert m.train_acc is None and m.train_loss < 0.01


def test_same_weights_as_pt_and_safetensors_are_one_minimum(tmp_path, tmp_cache, tiny_minima):
    import io
    from landscape_core.params import load_flat
    model = build_model(TINY_MODEL)
    load_flat(model, tiny_minima[0].theta)
    save_checkpoint(model, tmp_path / "w.safetensors")
    buf = io.BytesIO()
    torch.save({k: v.double() for k, v in model.state_dict().items()}, buf)   # float64 on disk
    a = minimum_from_checkpoint(tmp_path / "w.safetensors", TINY_MODEL, TINY_DATA)
    b = minimum_from_checkpoint(buf.getvalue(), TINY_MODEL, TINY_DATA)
    assert a.key == b.key and a.label == b.label
    store_minimum(a, tmp_cache)
    store_minimum(b, tmp_cache)
    uploads = [m for m in cached_minima(TINY_MODEL, TINY_DATA, tmp_cache) if m.train is None]
    assert len(uploads) == 1 and torch.equal(uploads[0].theta, a.theta)
    other = build_model(TINY_MODEL)
    load_flat(other, tiny_minima[1].theta)
    save_checkpoint(other, tmp_path / "o.safetensors")
    assert minimum_from_checkpoint(tmp_path / "o.safetensors", TINY_MODEL, TINY_DATA).key != a.key


def test_store_minimum_refuses_non_finite_or_mislabelled_minima(tmp_cache, tiny_minima):
    m = tiny_minima[0]
    with pytest.raises(ValueError, match="has a train loss of nan; only minima with finite losses"):
        store_minimum(dataclasses.replace(m, train_loss=float("nan")), tmp_cache)
    with pytest.raises(ValueError, match="carries the key .* but its specs and weights make"):
        store_minimum(dataclasses.replace(m, seed=99), tmp_cache)
    assert cached_minima(TINY_MODEL, TINY_DATA, tmp_cache) == []


def test_fit_problem_rules():
    from landscape_core.checks import fit_problem
    assert fit_problem(2.3, 0.1, accuracy=0.97, chance=0.11, baseline_loss=2.29) is None
    assert fit_problem(2.3, 202.0) == "the train loss rose from 2.3 at initialisation to 202"
    assert fit_problem(7e16, 2e11, accuracy=0.3, chance=0.11, baseline_loss=2.29) == (
        "the train loss 2e+11 is more than 2 times that of a constant prediction (2.29)")
    assert fit_problem(2.4, 2.3, accuracy=0.115, chance=0.11, baseline_loss=2.29) == (
        "the train accuracy 11.5% is at chance (11.0%)")
    assert fit_problem(1.0, 0.5, baseline_loss=2.0) is None            # regression: no accuracy


def test_center_quality_flag():
    from landscape_core.checks import center_quality_flag
    assert center_quality_flag(0.04, 1.06) is None
    assert center_quality_flag(None, 1.0) is None
    assert center_quality_flag(1.2, 1.0) == (
        "Center is worse than the direct segment: fold-line max loss 1.2 > segment max loss 1. "
        "It is not a useful center; refit it (more epochs, a smaller learning rate or another "
        "recipe) before reading its NGD.")
    assert center_quality_flag(1.05, 1.0, tolerance=0.1) is None
    with pytest.raises(ValueError, match="'fold_max_loss' parameter of center_quality_flag"):
        center_quality_flag(float("nan"), 1.0)


def test_waiting_for_another_process_s_lock_can_be_stopped(tmp_path):
    """Another process holds a minimum's lock (it is training it): a Stop while waiting ends the
    wait with TrainingStopped instead of blocking until the other process finishes."""
    import subprocess
    import sys
    import time as _time
    from landscape_core import DiskCache, preset, train_minima
    from landscape_core.training import TrainingStopped, minimum_key
    exp = preset("tiny").replace(**{"train.epochs": 2})
    cache = DiskCache(tmp_path)
    lock_file = cache.lock("minimum", minimum_key(exp.model, exp.data, exp.train, 0)).lock_file
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(60)"), lock_file], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = _time.monotonic()
        with pytest.raises(TrainingStopped, match="waiting for another process"):
            train_minima(exp.model, exp.data, exp.train, seeds=[0], cache=cache,
                         should_stop=lambda: True)
        assert _time.monotonic() - start < 30            # it did not wait for the holder's 60 s
        assert not list((tmp_path / "minimum").glob("*.safetensors"))
    finally:
        holder.kill()
        holder.wait()
