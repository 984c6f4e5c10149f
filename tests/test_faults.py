"""Fault injection for the cache, checkpoint loading and training (issue 8).

Every test asserts the exact outcome: the message, that nothing wrong was stored or returned,
and that finished work survived. Tiny models and private cache folders keep it fast.
"""
from __future__ import annotations

import dataclasses
import errno
import io
import json
import logging
import multiprocessing as mp
import os
import time

import numpy as np
import pytest
import torch

import landscape_core.cache as cache_mod
from landscape_core import (CheckpointError, DiskCache, ModelSpec, TrainSpec, build_model,
                            cached_minima, minimum_from_checkpoint, save_checkpoint, train_minima)
from landscape_core.cache import CacheError, _checksum
from landscape_core.checkpoints import checkpoint_spec, load_checkpoint
from landscape_core.cost import BudgetError
from landscape_core.training import NotAMinimumError, minimum_key
from tests.conftest import TINY_DATA, TINY_MODEL, TINY_TRAIN

FAST = dataclasses.replace(TINY_TRAIN, epochs=3)
SPEC = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=3)
ARRAYS = {"theta": np.arange(12, dtype=np.float32)}


def rewrite(path, *, meta=None, kind=None, key=None, recompute_checksum=True):
    """Edit an entry's header the way a tool (or a person) would, optionally keeping the
    checksum consistent with the edit."""
    from safetensors.numpy import load, save
    data = path.read_bytes()
    arrays = load(data)
    n = int.from_bytes(data[:8], "little")
    h = json.loads(data[8:8 + n])["__metadata__"]
    if meta is not None:
        h["meta"] = json.dumps(meta)
    h["kind"], h["key"] = kind or h["kind"], key or h["key"]
    if recompute_checksum:
        h["checksum"] = _checksum(h["kind"], h["key"], h["spec"], h["meta"], arrays)
    path.write_bytes(save(arrays, metadata=h))


# ------------------------------------------------------------------ cache: bound to the key
def test_swapped_entry_is_refused_moved_aside_and_recomputed(tmp_cache, caplog):
    tmp_cache.save("slice", "a", {"who": "a"}, {"x": np.zeros(3)})
    tmp_cache.save("slice", "b", {"who": "b"}, {"x": np.ones(3)})
    tmp_cache.path("slice", "a").write_bytes(tmp_cache.path("slice", "b").read_bytes())
    with caplog.at_level(logging.WARNING):
        assert tmp_cache.load("slice", "a") is None
    assert "it is the entry of slice/b, not of slice/a (a file was copied or renamed)" in caplog.text
    assert tmp_cache.path("slice", "a").with_suffix(".corrupt").exists()
    assert tmp_cache.load("slice", "b").meta["who"] == "b"          # the original is untouched
    e = tmp_cache.get_or_compute("slice", "a", lambda: ({"who": "a again"}, {"x": np.zeros(3)}))
    assert e.meta["who"] == "a again"


def test_swapped_minimum_never_returns_the_other_seeds_weights(tmp_cache, caplog):
    a, b = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0, 1], cache=tmp_cache)
    p0 = tmp_cache.path("minimum", a.key)
    p0.write_bytes(tmp_cache.path("minimum", b.key).read_bytes())
    with caplog.at_level(logging.WARNING):
        again = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)[0]
    assert again.seed == 0 and torch.equal(again.theta, a.theta)   # retrained, the right weights
    assert "copied or renamed" in caplog.text


def test_edited_metadata_breaks_the_checksum(tmp_cache, caplog):
    m = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)[0]
    path = tmp_cache.path("minimum", m.key)
    meta = tmp_cache.load("minimum", m.key).meta
    rewrite(path, meta={**meta, "seed": 99, "train_loss": 0.0}, recompute_checksum=False)
    with caplog.at_level(logging.WARNING):
        assert tmp_cache.load("minimum", m.key) is None
    assert "checksum mismatch: its metadata or tensors changed after writing" in caplog.text


def test_edited_metadata_with_a_recomputed_checksum_does_not_rebuild_the_key(tmp_cache, caplog):
    m = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)[0]
    meta = tmp_cache.load("minimum", m.key).meta
    rewrite(tmp_cache.path("minimum", m.key), meta={**meta, "seed": 99, "train_loss": 0.0})
    with caplog.at_level(logging.WARNING):
        again = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)[0]
    assert again.seed == 0 and again.train_loss == pytest.approx(m.train_loss)
    assert "invalid metadata" in caplog.text and "not " + m.key in caplog.text


@pytest.mark.parametrize("meta", [{}, {"model": {"arch": "no-such-arch"}, "data": {}, "seed": 0}])
def test_empty_or_invalid_minimum_metadata_is_moved_aside_not_blamed_on_the_user(tmp_cache, meta,
                                                                                 caplog):
    key = minimum_key(TINY_MODEL, TINY_DATA, FAST, 0)
    tmp_cache.save("minimum", key, meta, ARRAYS)
    with caplog.at_level(logging.WARNING):
        m = train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)[0]
    assert m.seed == 0 and m.train_acc > 0.3
    assert "invalid metadata" in caplog.text
    assert tmp_cache.path("minimum", key).with_suffix(".corrupt").exists()
    assert cached_minima(TINY_MODEL, TINY_DATA, tmp_cache)[0].key == key   # now a good entry


def test_entry_of_an_older_format_is_recomputed(tmp_cache, caplog):
    from safetensors.numpy import save_file
    tmp_cache.folder("slice")
    save_file(ARRAYS, str(tmp_cache.path("slice", "old")), metadata={"meta": "{}", "checksum": "x"})
    with caplog.at_level(logging.WARNING):
        assert tmp_cache.load("slice", "old") is None
    assert "older version that did not bind entries to their keys" in caplog.text


# ------------------------------------------------------------------ cache: permissions and races
def test_unreadable_entry_is_reported_and_left_in_place(tmp_cache, monkeypatch):
    tmp_cache.save("slice", "k", {"a": 1}, ARRAYS)
    path = tmp_cache.path("slice", "k")
    real_open = open

    def guarded(p, *a, **k):
        if str(p) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, *a, **k)
    monkeypatch.setattr(cache_mod, "open", guarded, raising=False)
    with pytest.raises(CacheError, match="exists but this user may not read it .*left in place"):
        tmp_cache.get_or_compute("slice", "k", lambda: pytest.fail("recomputed over another's entry"))
    monkeypatch.undo()
    assert path.exists() and not path.with_suffix(".corrupt").exists()
    assert tmp_cache.load("slice", "k").meta["a"] == 1


def test_set_aside_tolerates_an_entry_rewritten_or_moved_by_another_process(tmp_cache):
    path = tmp_cache.path("slice", "k")
    tmp_cache.save("slice", "k", {"fresh": True}, ARRAYS)            # the other process's result
    e = tmp_cache._set_aside("slice", "k", path, "was corrupt when first read", None)
    assert e is not None and e.meta["fresh"] and not path.with_suffix(".corrupt").exists()
    path.unlink()                                                   # moved by the other process
    assert tmp_cache._set_aside("slice", "k", path, "was corrupt when first read", None) is None


def _race_worker(root, out):
    cache = DiskCache(root)

    def compute():
        time.sleep(0.3)
        with open(os.path.join(root, f"computed-{os.getpid()}"), "w"):
            pass
        return {"pid": os.getpid()}, {"x": np.ones(3)}
    try:
        out.put(("ok", cache.get_or_compute("sweep", "k", compute).meta["pid"]))
    except BaseException as exc:      # report, never hang the parent
        out.put(("error", repr(exc)))


@pytest.fixture
def spawnable(monkeypatch):
    """Spawned children re-run the parent's ``__main__`` file; after an AppTest in the same
    session that is a dashboard page, so hide it (the children need only this module)."""
    import sys
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)


@pytest.mark.usefixtures("spawnable")
def test_two_processes_on_one_corrupt_entry(tmp_path):
    cache = DiskCache(tmp_path)
    cache.save("sweep", "k", {"pid": -1}, {"x": np.ones(3)})
    path = cache.path("sweep", "k")
    path.write_bytes(path.read_bytes()[:-7])                         # truncated
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]                            # one result for both
    assert len(list(tmp_path.glob("computed-*"))) == 1              # computed once
    assert cache.load("sweep", "k").meta["pid"] == results[0][1]     # the fresh entry survived


def _killed_writer(root):
    cache = DiskCache(root)

    def half_then_die(fd, payload):
        os.write(fd, payload[: len(payload) // 2])
        os._exit(3)
    cache_mod._write_all = half_then_die
    cache.save("slice", "k", {"version": 2}, {"x": np.full(1000, 2.0)})


@pytest.mark.usefixtures("spawnable")
def test_killed_writer_leaves_the_finished_entry_and_its_temp_file_is_cleaned(tmp_path):
    cache = DiskCache(tmp_path)
    cache.save("slice", "k", {"version": 1}, {"x": np.ones(1000)})
    p = mp.get_context("spawn").Process(target=_killed_writer, args=(str(tmp_path),))
    p.start()
    p.join(60)
    assert p.exitcode == 3
    assert len(list((tmp_path / "slice").glob(".k.*.tmp"))) == 1     # the half-written file
    assert cache.load("slice", "k").meta["version"] == 1             # finished work survived
    cache.save("slice", "k", {"version": 3}, {"x": np.ones(3)})
    assert not list((tmp_path / "slice").glob("*.tmp"))


def test_stale_temporary_files_of_other_keys_are_cleaned_by_listing(tmp_cache):
    tmp_cache.save("slice", "k", {}, ARRAYS)
    folder = tmp_cache.root / "slice"
    old, fresh = folder / ".other.1.aa.tmp", folder / ".busy.2.bb.tmp"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert [e.key for e in tmp_cache.list("slice")] == ["k"]
    assert not old.exists() and fresh.exists()                       # a live writer is left alone


# ------------------------------------------------------------------ cache: locations that cannot work
def test_cache_root_that_is_a_file(tmp_path):
    root = tmp_path / "not-a-folder"
    root.write_text("x")
    cache = DiskCache(root)
    with pytest.raises(CacheError, match=f"The cache folder {root} cannot be used to read results: "
                                         f"a file stands where a folder is needed at {root}. "
                                         "Remove or rename that file"):
        cache.get_or_compute("slice", "k", lambda: pytest.fail("computed before the check"))
    with pytest.raises(CacheError, match="to store results: a file stands where a folder is needed"):
        cache.save("slice", "k", {}, ARRAYS)


def test_cache_under_proc_fails_before_computing():
    with pytest.raises(CacheError, match="/proc/landscape-cache cannot be used .* point "
                                         "LANDSCAPE_CACHE_DIR at a writable folder"):
        DiskCache("/proc/landscape-cache").get_or_compute(
            "slice", "k", lambda: pytest.fail("computed before the check"))


def test_read_only_cache_with_a_missing_entry_fails_before_computing(tmp_cache, monkeypatch):
    tmp_cache.folder("slice")
    monkeypatch.setattr(cache_mod.os, "access", lambda *a, **k: False)
    with pytest.raises(CacheError, match="this user cannot write there"):
        tmp_cache.get_or_compute("slice", "k", lambda: pytest.fail("computed before the check"))


def test_full_disk_keeps_the_old_entry_and_leaves_no_temp_file(tmp_cache, monkeypatch):
    tmp_cache.save("slice", "k", {"version": 1}, ARRAYS)

    def full(fd, payload):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cache_mod, "_write_all", full)
    with pytest.raises(CacheError, match="the disk is full .* Free some space"):
        tmp_cache.save("slice", "k", {"version": 2}, ARRAYS)
    monkeypatch.undo()
    assert tmp_cache.load("slice", "k").meta["version"] == 1
    assert not list((tmp_cache.root / "slice").glob("*.tmp"))


def test_entries_follow_the_umask(tmp_cache):
    old = os.umask(0o027)
    try:
        tmp_cache.save("slice", "k", {}, ARRAYS)
    finally:
        os.umask(old)
    assert (tmp_cache.path("slice", "k").stat().st_mode & 0o777) == 0o640


def test_listing_reads_headers_only(tmp_cache, monkeypatch):
    tmp_cache.save("slice", "a", {"n": 1}, ARRAYS)
    time.sleep(1.1)
    tmp_cache.save("slice", "b", {"n": 2}, ARRAYS)
    tmp_cache.path("slice", "junk").write_bytes(b"garbage" * 10)
    import safetensors.numpy
    monkeypatch.setattr(safetensors.numpy, "load", lambda *a, **k: pytest.fail("read tensors"))
    infos = tmp_cache.list("slice")
    assert [(i.key, i.meta["n"]) for i in infos] == [("b", 2), ("a", 1)]       # newest first
    assert infos[0].size == tmp_cache.path("slice", "b").stat().st_size
    assert tmp_cache.list("nothing-here") == []


# ------------------------------------------------------------------ checkpoints
def _state_file(tmp_path, state, name="m.safetensors"):
    from safetensors.torch import save_file
    save_file(state, str(tmp_path / name))
    return tmp_path / name


def test_huge_finite_weights_are_refused_and_never_stored(tmp_path, tmp_cache):
    model = build_model(TINY_MODEL, 0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["1.weight"][:] = 3e38
    path = _state_file(tmp_path, state)
    with pytest.raises(CheckpointError, match="finite but make the model's outputs NaN or infinite "
                                              r"on the data \(largest \|weight\| 3e\+38\)"):
        minimum_from_checkpoint(path, TINY_MODEL, TINY_DATA)
    assert cached_minima(TINY_MODEL, TINY_DATA, tmp_cache) == []


def test_checkpoint_for_other_data_gives_a_clear_message(tmp_path):
    path = save_checkpoint(build_model(SPEC, 0), tmp_path / "four-inputs.safetensors")
    with pytest.raises(CheckpointError, match=r"The model cannot run on the data: inputs of shape "
                                              r"\(64,\) .* match the data set"):
        load_checkpoint(path, build_model(SPEC), probe=torch.zeros(5, 64))


@pytest.mark.parametrize("dtype,code", [(torch.int64, "I64"), (torch.bool, "BOOL")])
def test_non_floating_tensors_are_refused_not_cast(tmp_path, dtype, code):
    state = {k: v.to(dtype) for k, v in build_model(SPEC, 0).state_dict().items()}
    with pytest.raises(CheckpointError, match=f"holds {code} values; the model expects "
                                              "floating-point weights"):
        load_checkpoint(_state_file(tmp_path, state), build_model(SPEC))
    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(CheckpointError, match="floating-point weights"):
        load_checkpoint(buf.getvalue(), build_model(SPEC))


def test_non_string_keys_are_refused(tmp_path):
    buf = io.BytesIO()
    torch.save({i: v for i, v in enumerate(build_model(SPEC).state_dict().values())}, buf)
    with pytest.raises(CheckpointError, match="has a key of type int .* expected tensor names as "
                                              "strings"):
        load_checkpoint(buf.getvalue(), build_model(SPEC))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = _state_file(tmp_path, {"wrong.name": torch.zeros(4)})
    with open(path, "r+b") as f:
        f.truncate(2 * 2**30)                                          # sparse: 2 GiB, no data
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"is 2048\.0 MiB, more than the 1\.0 MiB this "
                                              "architecture's weights can take; it was not read"):
        load_checkpoint(path, build_model(SPEC))
    assert time.perf_counter() - t0 < 1.0


def test_wrong_names_are_refused_from_the_header_before_the_data(tmp_path):
    path = _state_file(tmp_path, {"wrong.name": torch.zeros(100)})
    raw = path.read_bytes()
    # the data section is cut off: reading it would fail, the header check must come first
    with pytest.raises(CheckpointError, match="tensor '1.weight' .* is missing"):
        load_checkpoint(raw[:-200], build_model(SPEC))


@pytest.mark.parametrize("header", [b"{not json", b"[" * 100_000 + b"]" * 100_000,
                                    json.dumps({"__metadata__": {"model_spec": "[1, 2]"}}).encode()])
def test_bad_headers_raise_checkpoint_error(header):
    raw = len(header).to_bytes(8, "little") + header + b"\0" * 32
    raw = raw[:8] + b"{" + raw[9:] if header[:1] != b"{" else raw
    with pytest.raises(CheckpointError):
        checkpoint_spec(raw)


def test_refused_pickle_names_the_global_and_never_suggests_unsafe_loading(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("true",))
    buf = io.BytesIO()
    torch.save({"1.weight": Exploit()}, buf)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(buf.getvalue(), build_model(SPEC))
    msg = str(info.value)
    assert "asks to load 'posix.system'" in msg and "nothing in it was run" in msg
    assert "weights_only=False" not in msg and "weights_only" not in msg


# ------------------------------------------------------------------ training
def test_large_learning_rate_is_not_stored_as_a_minimum(tmp_cache):
    bad = TrainSpec("sgd", lr=100.0, momentum=0.0, batch_size=100, epochs=5)
    with pytest.raises(NotAMinimumError, match=r"Seed 0 did not end at a minimum: the train loss "
                                               r"rose from .* Try a smaller learning rate \(e\.g\. "
                                               r"lr=10\)"):
        train_minima(TINY_MODEL, TINY_DATA, bad, seeds=[0], cache=tmp_cache)
    assert cached_minima(TINY_MODEL, TINY_DATA, tmp_cache) == []


def test_huge_init_scale_is_not_stored_as_a_minimum(tmp_cache):
    model = dataclasses.replace(TINY_MODEL, init_scale=1e6)
    with pytest.raises(NotAMinimumError, match="times that of a constant prediction"):
        train_minima(model, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)
    assert cached_minima(model, TINY_DATA, tmp_cache) == []


def test_interrupted_run_after_a_refused_seed_keeps_the_finished_minimum(tmp_cache):
    train_minima(TINY_MODEL, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)
    bad = dataclasses.replace(TINY_MODEL, init_scale=1e6)
    with pytest.raises(NotAMinimumError):
        train_minima(bad, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)
    assert [m.seed for m in cached_minima(TINY_MODEL, TINY_DATA, tmp_cache)] == [0]


def test_oversized_model_is_refused_before_allocation(tmp_cache):
    huge = dataclasses.replace(TINY_MODEL, width=10**6, depth=2)
    t0 = time.perf_counter()
    with pytest.raises(BudgetError, match=r"This model is too large: 1,000,076,0\d\d,\d\d\d trainable "
                                          r"parameters .* pass force=True \(the CLI's --force\)"):
        train_minima(huge, TINY_DATA, FAST, seeds=[0], cache=tmp_cache)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_cache.root / "minimum").exists() or not list((tmp_cache.root / "minimum").glob("*.safetensors"))
