"""Disk cache integrity and concurrency; safe checkpoint loading."""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import time

import numpy as np
import pytest
import torch

from landscape_core import CheckpointError, DiskCache, ModelSpec, build_model, flatten, load_checkpoint, save_checkpoint
from landscape_core.cache import make_key
from landscape_core.checkpoints import checkpoint_spec


def test_round_trip_and_checksum(tmp_cache):
    arrays = {"theta": np.arange(10, dtype=np.float32), "grid": np.ones((3, 4))}
    tmp_cache.save("slice", "k1", {"spec": {"a": 1}}, arrays)
    e = tmp_cache.load("slice", "k1")
    assert e.meta["spec"] == {"a": 1} and e.meta["schema_version"] >= 1
    np.testing.assert_array_equal(e.arrays["grid"], arrays["grid"])


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_entry_is_detected_and_recomputed(tmp_cache, damage, caplog):
    arrays = {"theta": np.arange(1000, dtype=np.float32)}
    tmp_cache.save("minimum", "k", {"x": 1}, arrays)
    path = tmp_cache.path("minimum", "k")
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[-100] ^= 0xFF          # one byte of tensor data: only the checksum can see it
    else:
        raw = bytearray(b"not a safetensors file at all" * 3)
    path.write_bytes(bytes(raw))
    with caplog.at_level("WARNING"):
        assert tmp_cache.load("minimum", "k") is None
    reason = {"truncate": "unreadable", "flip": "checksum mismatch", "garbage": "unreadable header"}
    assert f"minimum/k.safetensors is unusable ({reason[damage]}" in caplog.text
    assert path.with_suffix(".corrupt").exists()          # moved aside, not silently deleted
    calls = []
    e = tmp_cache.get_or_compute("minimum", "k", lambda: (calls.append(1) or ({"x": 2}, arrays)))
    assert calls == [1] and e.meta["x"] == 2
    np.testing.assert_array_equal(tmp_cache.load("minimum", "k").arrays["theta"], arrays["theta"])


def _worker(root, out_queue):
    cache = DiskCache(root)

    def compute():
        time.sleep(0.5)
        with open(os.path.join(root, f"computed-{os.getpid()}"), "w"):
            pass
        return {"pid": os.getpid()}, {"x": np.ones(3)}
    e = cache.get_or_compute("sweep", "same-key", compute)
    out_queue.put(e.meta["pid"])


def test_two_processes_compute_the_same_key_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    pids = {q.get(timeout=5), q.get(timeout=5)}
    assert len(pids) == 1                                   # both got the one result
    assert len(list(tmp_path.glob("computed-*"))) == 1      # computed once


def test_failed_compute_stores_nothing(tmp_cache):
    def boom():
        raise RuntimeError("diverged")
    with pytest.raises(RuntimeError):
        tmp_cache.get_or_compute("minimum", "k", boom)
    assert tmp_cache.load("minimum", "k") is None
    assert not list((tmp_cache.root / "minimum").glob("*.tmp"))


def test_make_key_depends_on_kind_and_payload():
    assert make_key("a", {"x": 1}) != make_key("b", {"x": 1}) != make_key("a", {"x": 2})


SPEC = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=3)


def test_checkpoint_round_trip_safetensors_and_state_dict(tmp_path):
    model = build_model(SPEC, 5)
    save_checkpoint(model, tmp_path / "m.safetensors", spec=SPEC)
    theta = load_checkpoint(tmp_path / "m.safetensors", build_model(SPEC, 0))
    torch.testing.assert_close(theta, flatten(model))
    assert checkpoint_spec(tmp_path / "m.safetensors")["width"] == 6
    buf = io.BytesIO()
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, buf)   # DataParallel keys
    torch.testing.assert_close(load_checkpoint(buf.getvalue(), build_model(SPEC, 0)), flatten(model))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_hostile_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"1.weight": _Exploit(str(marker))}, buf)
    with pytest.raises(CheckpointError, match="Refused to load the checkpoint: it is a pickle that "
                                              "asks to load '(builtins|io)\\.open'"):
        load_checkpoint(buf.getvalue(), build_model(SPEC))
    raw = pickle.dumps(_Exploit(str(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw + b"\0" * 16, build_model(SPEC))
    assert not marker.exists()


def test_mismatched_checkpoint_names_first_tensor_and_both_shapes(tmp_path):
    wide = build_model(ModelSpec("mlp", width=7, depth=1, input_shape=(4,), n_outputs=3))
    save_checkpoint(wide, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"'1\.weight' has shape \(7, 4\) in the file but \(6, 4\)"):
        load_checkpoint(tmp_path / "w.safetensors", build_model(SPEC))


@pytest.mark.parametrize("payload", [b"", b"hello world, not weights at all", b"\x00" * 64])
def test_non_checkpoints_are_refused(payload):
    with pytest.raises(CheckpointError):
        load_checkpoint(payload, build_model(SPEC))


def test_truncated_safetensors_is_refused(tmp_path):
    save_checkpoint(build_model(SPEC), tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(raw[:-40], build_model(SPEC))


def test_zero_dimensional_arrays_keep_their_shape(tmp_cache):
    """BatchNorm's num_batches_tracked is a 0-d tensor; it must come back 0-d."""
    tmp_cache.save("minimum", "k0", {}, {"count": np.array(7), "v": np.arange(3.0)})
    e = tmp_cache.load("minimum", "k0")
    assert e.arrays["count"].shape == () and int(e.arrays["count"]) == 7


def test_entry_records_kind_key_and_spec_and_checks_the_spec(tmp_cache):
    spec = {"model": "m", "seed": 3}
    key = make_key("profile", spec)
    tmp_cache.save("profile", key, {"a": 1}, {"x": np.ones(2)}, spec=spec)
    assert tmp_cache.load("profile", key).meta["a"] == 1
    with pytest.raises(ValueError, match="makes the key"):
        tmp_cache.save("profile", "not-the-key", {}, {"x": np.ones(2)}, spec=spec)
    e = tmp_cache.get_or_compute("profile", make_key("profile", {"s": 1}),
                                 lambda: ({"b": 2}, {}), spec={"s": 1})
    assert e.meta["b"] == 2 and tmp_cache.list("profile")[0].meta["b"] in (1, 2)


def test_checkpoint_spec_reads_only_the_header(tmp_path):
    save_checkpoint(build_model(SPEC), tmp_path / "m.safetensors", spec=SPEC)
    raw = (tmp_path / "m.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert checkpoint_spec(raw[:8 + n] + b"\0" * 16)["width"] == 6    # tensor data not needed
    assert checkpoint_spec(b"PK\x03\x04 a zip file, not safetensors") is None


def test_module_prefix_and_own_names_are_not_reported_as_renamed():
    model = build_model(SPEC, 0)
    buf = io.BytesIO()
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, buf)
    renamed = {}
    theta = load_checkpoint(buf.getvalue(), build_model(SPEC, 1), renamed=renamed)
    assert renamed == {} and torch.equal(theta, flatten(model))


def test_plain_sequential_with_batch_norm_maps_its_buffers_and_counters():
    from torch import nn
    spec = ModelSpec("mlp", width=8, depth=1, input_shape=(64,), n_outputs=10, batch_norm=True)
    torch.manual_seed(3)
    plain = nn.Sequential(nn.Linear(64, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 10))
    plain.train()
    plain(torch.randn(32, 64))                                  # non-trivial running statistics
    buf = io.BytesIO()
    torch.save(plain.state_dict(), buf)
    model, renamed = build_model(spec, 0), {}
    theta = load_checkpoint(buf.getvalue(), model, renamed=renamed)
    assert renamed["1.running_mean"] == "2.running_mean"
    assert renamed["1.num_batches_tracked"] == "2.num_batches_tracked"
    assert torch.equal(model[2].running_var, plain[1].running_var)
    assert torch.equal(theta, torch.cat([p.detach().flatten() for p in plain.parameters()]))
