"""Executors: a sweep through a local process pool and through a real Dask cluster (a scheduler
and two worker processes over loopback, one worker killed mid-unit) gives the serial run's rows
exactly, and a unit whose result is cached is never computed again (journal marks, mtimes)."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from landscape_core import DiskCache, preset, train_minima
from landscape_core.center import CenterSpec, center_for_minima
from landscape_core.executor import (DaskExecutor, LocalExecutor, MinimumUnit, SerialExecutor,
                                     fit_centers, journal_counts, make_executor)
from landscape_core.sweeps import sweep
from landscape_core.training import TrainingStopped, minimum_key

QUICK = CenterSpec.fast(lam=1e-3, steps=60)
BASE = preset("tiny").replace(**{"train.epochs": 10, "n_minima": 2, "data.n_train": 200})
WIDTHS = [8, 12, 16]


def _sweep(cache, executor=None, **kw):
    return sweep(BASE, "model.width", WIDTHS, center_spec=QUICK, n_points=5, cache=cache,
                 executor=executor, **kw)


def _files(cache) -> dict:
    """{path: mtime_ns} of every entry in the cache (a rewrite changes it)."""
    return {p: p.stat().st_mtime_ns for p in Path(cache.root).glob("*/*.safetensors")}


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)              # workers run with one thread: the same arithmetic
    try:
        return _sweep(DiskCache(tmp_path_factory.mktemp("serial-cache"))).rows
    finally:
        torch.set_num_threads(before)


def test_serial_executor_matches_the_default_path(tmp_cache, tmp_path, serial_rows, one_thread):
    res = _sweep(tmp_cache, SerialExecutor(journal=tmp_path / "j"))
    assert res.rows == serial_rows
    assert sorted(journal_counts(tmp_path / "j").values()) == [1, 1, 1]
    # centers as units: a new spec is fitted once, into the cache, and read back unchanged
    exp = BASE.replace(**{"model.width": 8})
    mins = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=tmp_cache)
    spec = CenterSpec.fast(lam=1e-3, steps=10)
    (c,) = fit_centers(SerialExecutor(journal=tmp_path / "c"), [mins], spec, tmp_cache)
    assert [kind for kind, _ in journal_counts(tmp_path / "c")] == ["center"]
    ref = center_for_minima(mins, spec, use_cache=False)
    assert torch.equal(c.theta, ref.theta)


def test_local_pool_sweep_and_minima_equal_serial_and_skip_cached_units(tmp_cache, tmp_path,
                                                                        serial_rows):
    journal = tmp_path / "journal"
    with LocalExecutor(2, journal=journal) as ex:
        assert ex.describe() == "2 local CPU workers"
        res = _sweep(tmp_cache, ex)
        assert res.rows == serial_rows
        done = journal_counts(journal)
        assert len(done) == len(WIDTHS) and set(done.values()) == {1}
        assert {kind for kind, _ in done} == {"sweep_point"}
        files = _files(tmp_cache)
        # the whole sweep again: every value is read from the cache, nothing runs
        assert _sweep(tmp_cache, ex).rows == serial_rows
        # a unit sent to a worker although its result is cached returns without computing
        exp = BASE.replace(**{"model.width": 8})
        unit = MinimumUnit(minimum_key(exp.model, exp.data, exp.train, 0), str(tmp_cache.root),
                           exp.model, exp.data, exp.train, 0)
        assert [u.key for u in ex._run([unit], lambda: False)] == [unit.key]
        assert journal_counts(journal) == done and _files(tmp_cache) == files
        # minima as units: only the seed not yet cached is trained, the numbers are the serial ones
        exp = BASE.replace(**{"model.width": 10})
        ref = train_minima(exp.model, exp.data, exp.train, seeds=[0, 1, 2], cache=DiskCache(tmp_path / "ref"))
        train_minima(exp.model, exp.data, exp.train, seeds=[0, 1], cache=tmp_cache)
        got = train_minima(exp.model, exp.data, exp.train, seeds=[0, 1, 2], cache=tmp_cache, executor=ex)
    new = {k for k in journal_counts(journal) if k not in done}
    assert new == {("minimum", minimum_key(exp.model, exp.data, exp.train, 2))}
    for a, b in zip(ref, got):
        assert a.key == b.key and torch.equal(a.theta, b.theta) and a.train_loss == b.train_loss


def test_stop_cancels_the_remaining_units(tmp_cache, tmp_path):
    with pytest.raises(TrainingStopped):
        _sweep(tmp_cache, SerialExecutor(journal=tmp_path / "j"), should_stop=lambda: True)
    assert not (tmp_path / "j").exists()
    with pytest.raises(ValueError, match="'name' parameter"):
        make_executor("mpi")
    with pytest.raises(ValueError, match="'workers' parameter"):
        LocalExecutor(0)
    with pytest.raises(ValueError, match="scheduler's address"):
        DaskExecutor()


def test_dask_cluster_survives_a_killed_worker_without_recomputing(tmp_cache, tmp_path, serial_rows):
    pytest.importorskip("distributed", reason="pip install -r requirements-cluster.txt")
    from distributed import Client, LocalCluster
    journal = tmp_path / "journal"
    cluster = client = None
    try:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster, timeout=60)
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2
        ex = DaskExecutor(client=client, journal=journal)
        out: dict = {}

        def run():
            try:
                out["res"] = _sweep(tmp_cache, ex)
            except BaseException as exc:            # reported by the main thread
                out["err"] = exc
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        killed, finished_then, deadline = None, {}, time.monotonic() + 60
        while killed is None and thread.is_alive() and time.monotonic() < deadline:
            done = {p.name.rsplit(".", 1)[0] for p in journal.glob("*.done")}
            busy = [p for p in journal.glob("*.start") if p.name.rsplit(".", 1)[0] not in done]
            busy = [(p, int(p.name.split("-")[2])) for p in busy if int(p.name.split("-")[2]) in pids]
            if done and busy:                        # one unit finished, another one running
                path, pid = busy[0]
                finished_then = _files(tmp_cache)    # everything finished at the kill
                os.kill(pid, signal.SIGKILL)
                killed = path.name.split("-")[1]
            time.sleep(0.01)
        thread.join(timeout=90)
        assert not thread.is_alive(), "the sweep did not finish within 90 s after the kill"
        assert "err" not in out, out.get("err")
        assert killed is not None, "no worker was caught in the middle of a unit"
        assert out["res"].rows == serial_rows
        done, starts = journal_counts(journal), journal_counts(journal, "start")
        assert len(done) == len(WIDTHS) and set(done.values()) == {1}   # each unit finished once
        assert starts[("sweep_point", killed)] == 2                     # the killed unit ran again
        assert all(n == 1 for (kind, key), n in starts.items() if key != killed)
        after = _files(tmp_cache)
        assert {p: after.get(p) for p in finished_then} == finished_then  # nothing finished rewritten
        # the same sweep again on the cluster: all cached, no task computes anything
        assert _sweep(tmp_cache, ex).rows == serial_rows
        assert journal_counts(journal, "start") == starts and _files(tmp_cache) == after
    finally:
        if client is not None:
            client.close(timeout=10)
        if cluster is not None:
            cluster.close(timeout=20)


def test_cli_sweep_through_the_local_executor_equals_serial(tmp_path, capsys):
    from landscape_core.cli import main
    args = ["sweep", "--preset", "tiny", "--set", "train.epochs=10", "--set", "n_minima=2",
            "--set", "data.n_train=200", "--values", "8", "12", "--steps", "20", "--n-points", "5",
            "--quiet"]
    assert main(args + ["--workers", "2"]) == 2 and "--executor local only" in capsys.readouterr().err
    assert main(args + ["--executor", "dask"]) == 2 and "needs --address" in capsys.readouterr().err
    rows = {}
    for name, extra in (("serial", []), ("local", ["--executor", "local", "--workers", "2"])):
        out = tmp_path / f"{name}.json"
        assert main(args + extra + ["--cache-dir", str(tmp_path / name), "--out", str(out)]) == 0
        rows[name] = json.loads(out.read_text())["meta"]["rows"]
    assert rows["local"] == rows["serial"] and len(rows["serial"]) == 2
