"""Alignment benchmark: weight matching, activation matching and REPAIR on a 784-512-512-512-10 MLP.

Pairs: (1) two untrained seeds (the hardest case for the solver: nothing to match, more sweeps),
(2) a known random permutation of one network (must be undone exactly), (3) two trained MNIST
minima when the ``rebasin-mlp`` reproduction's minima are in the cache (otherwise skipped).
Reports wall time of the whole call, time inside ``scipy.optimize.linear_sum_assignment``
(solver time), coordinate-descent sweeps, and for activation matching / REPAIR the time on
2,000 inputs. Medians over ``--repeats`` runs, one process, ``--threads`` torch threads.

Usage::

    python bench/bench_alignment.py               # markdown table to stdout
    python bench/bench_alignment.py --repeats 5 --threads 1
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape_core.config import ModelSpec
from landscape_core.models import build_model
from landscape_core.params import flatten
from landscape_core.permutation import (activation_matching, apply_permutation, permutation_spec,
                                        random_perms, repair, weight_matching)

SPEC = ModelSpec("mlp", hidden=(512, 512, 512), input_shape=(1, 28, 28), n_outputs=10)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def trained_pair():
    """The first two minima of the rebasin-mlp reproduction, if the cache holds them."""
    try:
        from landscape_core.cache import DiskCache
        from landscape_core.reproduce.alignment import mnist_mlp
        from landscape_core.reproduce.alignment_plans import REBASIN_MLP
        from landscape_core.training import minimum_key, minimum_from_entry
        s = REBASIN_MLP.settings(quick=False)
        exp = mnist_mlp(s, s["hidden"])
        cache = DiskCache()
        out = []
        for seed in exp.seed_list[:2]:
            e = cache.load("minimum", minimum_key(exp.model, exp.data, exp.train, seed))
            if e is None:
                return None
            out.append(minimum_from_entry(e).theta)
        return out
    except Exception:                       # no MNIST, no cache: the case is skipped
        return None


def timed(fn, repeats):
    walls, results = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(SPEC, 0)
    spec = permutation_spec(model)
    a = flatten(model)
    pairs = {"untrained seeds 0, 1": (a, flatten(build_model(SPEC, 1))),
             "permuted copy": (a, apply_permutation(model, a, random_perms(spec, 0)))}
    tr = trained_pair()
    if tr is not None:
        pairs["trained MNIST minima (rebasin-mlp)"] = tuple(tr)
    X = torch.randn(2000, *SPEC.input_shape, generator=torch.Generator().manual_seed(0))
    rows = []
    for name, (ta, tb) in pairs.items():
        wall, out = timed(lambda: weight_matching(model, ta, tb), args.repeats)
        rec = out.alignment
        rows.append((name, f"weight matching ({rec.extra['assignments_solved']} assignments; solver CPU "
                           f"{rec.extra['solver_cpu_s']:.3f} s)", wall, rec.solver_time_s, rec.iterations,
                     float((out - ta).norm() / (tb - ta).norm())))
        wall, out = timed(lambda: activation_matching(model, ta, tb, X), args.repeats)
        rows.append((name, "activation matching (2,000 inputs)", wall, out.alignment.solver_time_s, 1,
                     float((out - ta).norm() / (tb - ta).norm())))
    wall, _ = timed(lambda: repair(model, *pairs["untrained seeds 0, 1"], 0.5, X), args.repeats)
    rows.append(("untrained seeds 0, 1", "REPAIR one point (2,000 inputs)", wall, 0.0, 1, float("nan")))
    print(f"Machine: {cpu_name()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.repeats}; model 784-512-512-512-10 ({a.numel():,} parameters, "
          f"{len(spec.perms)} permutation groups)\n")
    print(f"Load average at the end: {[round(x, 2) for x in __import__('os').getloadavg()]}\n")
    print("| pair | method | wall s | solver s | sweeps | distance after / before |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]} | {r[5]:.3f} |")


if __name__ == "__main__":
    main()
