"""Executor benchmark: a width sweep with 1 and 2 local worker processes, and Dask's per-task cost.

(1) Sweep speed-up: the same sweep (``--widths``, 2 minima each, digits, a center per pair) in
a fresh cache each time: in this process (executor=None), ``LocalExecutor(1)`` and
``LocalExecutor(2)`` (one torch thread per worker). The pools are started and warmed (torch
imported, the data loaded, one whole sweep run in a separate cache) before the clock starts;
their start-up and that first sweep are reported on their own.
(2) Dask overhead: a ``LocalCluster`` (2 worker processes, 1 thread each, loopback TCP):
``--tasks`` empty tasks submitted at once (throughput), the same one after another (round
trip), and sweep units whose result is already cached (what a resumed sweep pays per value).

Usage::

    OMP_NUM_THREADS=1 python bench/bench_executor.py                  # markdown to stdout
    OMP_NUM_THREADS=1 python bench/bench_executor.py --repeats 3 --out bench.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _empty(i):
    return i


def sweep_times(widths, repeats: int) -> dict:
    import torch

    from landscape_core import DiskCache, preset
    from landscape_core.center import CenterSpec
    from landscape_core.executor import LocalExecutor
    from landscape_core.sweeps import sweep
    torch.set_num_threads(1)
    base = preset("tiny").replace(**{"train.epochs": 30, "n_minima": 2})
    spec = CenterSpec.fast(lam=1e-3, steps=300)

    def one(executor) -> float:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            sweep(base, "model.width", widths, center_spec=spec, n_points=11, cache=DiskCache(d),
                  executor=executor)
            return time.perf_counter() - t0

    out = {"in-process": [], "local-1": [], "local-2": [], "startup": {}}
    one(None)                                          # data loaded, torch warmed
    pools = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        pools[n] = LocalExecutor(n)
        list(pools[n]._executor().map(_warm, range(4 * n)))      # spawn + import in every worker
        out["startup"][f"local-{n}"] = time.perf_counter() - t0
        out["startup"][f"local-{n} first sweep"] = one(pools[n])  # first-call costs in each worker
    for _ in range(repeats):                            # interleaved: load changes hit all alike
        out["in-process"].append(one(None))
        for n in (1, 2):
            out[f"local-{n}"].append(one(pools[n]))
    for p in pools.values():
        p.close()
    return out


def _warm(_=None):
    """In a worker: import torch and the library, load the data (what a long-lived pool has)."""
    import landscape_core.sweeps  # noqa: F401
    from landscape_core import load_dataset, preset
    load_dataset(preset("tiny").data)
    return os.getpid()


def dask_overhead(n_tasks: int) -> dict:
    import logging

    from distributed import Client, LocalCluster

    from landscape_core import DiskCache, preset
    from landscape_core.center import CenterSpec
    from landscape_core.executor import DaskExecutor
    from landscape_core.sweeps import sweep
    out = {}
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        out["cluster_start_s"] = time.perf_counter() - t0
        client.gather(client.map(_empty, range(10), pure=False))          # warm
        t0 = time.perf_counter()
        client.gather(client.map(_empty, range(n_tasks), pure=False))
        out["batch_ms_per_task"] = 1000 * (time.perf_counter() - t0) / n_tasks
        n_seq = max(10, n_tasks // 5)
        t0 = time.perf_counter()
        for i in range(n_seq):
            client.submit(_empty, i, pure=False).result()
        out["round_trip_ms"] = 1000 * (time.perf_counter() - t0) / n_seq
        with tempfile.TemporaryDirectory() as d:        # cached units: a resumed sweep's cost
            cache = DiskCache(d)
            base = preset("tiny").replace(**{"train.epochs": 10, "n_minima": 2, "data.n_train": 200})
            kw = dict(center_spec=CenterSpec.fast(lam=1e-3, steps=20), n_points=5, cache=cache)
            widths = [8, 12, 16, 24]
            sweep(base, "model.width", widths, **kw)
            ex = DaskExecutor(client=client)
            from landscape_core.executor import SweepValueUnit
            from landscape_core.sweeps import _point_key
            units = [SweepValueUnit(_point_key(base.replace(**{"model.width": w}), kw["center_spec"],
                                               "pair", 5, "none"), str(Path(d).resolve()), base,
                                    "model.width", w, (("center_spec", kw["center_spec"]),
                                                       ("n_points", 5))) for w in widths]
            list(ex._run(units, lambda: False))                           # warm imports
            t0 = time.perf_counter()
            reps = 5
            for _ in range(reps):
                list(ex._run(units, lambda: False))
            out["cached_unit_ms"] = 1000 * (time.perf_counter() - t0) / (reps * len(units))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[64, 96, 128, 192])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--out", help="raw results as JSON")
    a = p.parse_args(argv)
    res = {"cpus": os.cpu_count(), "widths": a.widths, "load_before": os.getloadavg()[0]}
    res["sweep"] = sweep_times(a.widths, a.repeats)
    res["load_after"] = os.getloadavg()[0]
    s = res["sweep"]
    med = {k: statistics.median(v) for k, v in s.items() if isinstance(v, list)}
    print(f"sweep of {len(a.widths)} widths x 1 pair, {os.cpu_count()} CPUs (1-min load average "
          f"{res['load_before']:.1f} before, {res['load_after']:.1f} after), median of {a.repeats}:")
    print("| run | wall s | speed-up over local-1 |\n|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.2f} | {med['local-1'] / v:.2f}x |")
    print("pool start-up (spawn + imports): " + ", ".join(f"{k} {v:.1f} s" for k, v in s["startup"].items()))
    if not a.no_dask:
        try:
            res["dask"] = d = dask_overhead(a.tasks)
        except ImportError:
            print("dask not installed: pip install -r requirements-cluster.txt")
        else:
            print(f"dask LocalCluster (2 workers): start {d['cluster_start_s']:.1f} s; empty task "
                  f"{d['batch_ms_per_task']:.2f} ms each in a batch of {a.tasks}, round trip "
                  f"{d['round_trip_ms']:.2f} ms; a cached sweep unit {d['cached_unit_ms']:.1f} ms")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
