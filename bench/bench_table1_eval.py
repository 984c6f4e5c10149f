"""The whole Table 1 FNN column's evaluation on the full MNIST training set, timed.

Table 1's MNIST FNN column evaluates, for 5 minima of the 784-500-300-10 MLP and one center,
the 10 direct segments and the 10 fold-lines (feet -> center -> feet) on all 60,000 training
images: 20 paths of 42 points (segments: 42 points; fold-lines: 21 per leg). This script

1. evaluates those 20 paths with the engine (``paths.linear_path`` / ``fold_line_path``, as
   ``star.star_report`` did before it assembled fold-lines from spokes; the engine's first-layer shortcut computes W x once per image
   for the 2-3 path vertices and mixes the products per point);
2. times a naive per-point loop (``vector_to_parameters`` into the model, one full forward
   pass over the 60,000 images per point) on a subset of the points and scales it up to all
   of them; the subset's losses are checked against the engine's.

Feet: the cached minima of ``reproduce table1`` (MNIST FNN, 10,000-image subset, 20 epochs)
when the cache holds them, else 5 seeds trained for one epoch on the 10,000-image subset.
Center: the mean of the feet (evaluation cost does not depend on which center).

Usage::

    python bench/bench_table1_eval.py                 # one torch thread, markdown to stdout
    python bench/bench_table1_eval.py --out docs/benchmarks.md   # also (re)write its block
    python bench/bench_table1_eval.py --naive-points 4 --threads 2
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import vector_to_parameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape_core import DataSpec, Evaluator, build_model, load_dataset  # noqa: E402
from landscape_core.paths import fold_line_point, fold_line_path, linear_path  # noqa: E402
from landscape_core.reproduce.tables import table_experiment  # noqa: E402
from landscape_core.training import cached_minima, train_minima  # noqa: E402

BEGIN, END = "<!-- bench_table1_eval:begin -->", "<!-- bench_table1_eval:end -->"
SEG_POINTS, LEG_POINTS = 42, 21


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(s.split(":", 1)[1].strip() for s in out.splitlines() if s.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def feet_and_center() -> tuple[list, torch.Tensor, str]:
    exp, _ = table_experiment("mnist-fnn", False)
    found = {m.seed: m for m in cached_minima(exp.model, exp.data)
             if m.train is not None and m.train == exp.train}
    if all(s in found for s in exp.seed_list):
        feet, how = [found[s].theta for s in exp.seed_list], "the cached minima of `reproduce table1`"
    else:
        short = exp.replace(**{"train.epochs": 1})
        ms = train_minima(short.model, short.data, short.train, seeds=short.seed_list)
        feet, how = [m.theta for m in ms], "5 seeds trained 1 epoch on 10,000 images (no cached minima)"
    return feet, torch.stack(feet).mean(0), how


def naive_points(feet, center, pairs, k: int) -> list[tuple[str, torch.Tensor]]:
    """k points spread over the 20 paths (as the engine evaluates them)."""
    pts = []
    for n in range(k):
        i, j = pairs[n % len(pairs)]
        t = (n + 0.5) / k
        if n % 2 == 0:
            pts.append((f"segment {i}-{j} t={t:.2f}", (1 - t) * feet[i] + t * feet[j]))
        else:
            pts.append((f"fold {i}-c-{j} t={t:.2f}", fold_line_point(feet[i], center, feet[j], t)))
    return pts


@torch.no_grad()
def naive_loss(model, theta, X, y, batch: int = 10_000) -> float:
    vector_to_parameters(theta, model.parameters())
    total = 0.0
    for a in range(0, X.shape[0], batch):
        total += float(F.cross_entropy(model(X[a:a + batch]), y[a:a + batch], reduction="sum"))
    return total / X.shape[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--naive-points", type=int, default=6, help="points of the timed naive subset")
    p.add_argument("--out", type=Path, help="markdown file whose block is (re)written")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = load_dataset(DataSpec("mnist"))
    X, y = ds.X_train, ds.y_train
    exp, _ = table_experiment("mnist-fnn", False)
    feet, center, how = feet_and_center()
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    load = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    ev = Evaluator(build_model(exp.model), X, y)
    profiles = {}
    for i, j in pairs:
        profiles[("segment", i, j)] = linear_path(feet[i], feet[j], evaluator=ev, n_points=SEG_POINTS)
    for i, j in pairs:
        profiles[("fold", i, j)] = fold_line_path(feet[i], center, feet[j], evaluator=ev,
                                                  n_points=LEG_POINTS)
    engine_s, engine_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_points = sum(len(pr.t) for pr in profiles.values())
    seg = np.mean([profiles[("segment", i, j)].barriers()["max_loss"] for i, j in pairs])
    fold = np.mean([profiles[("fold", i, j)].barriers()["max_loss"] for i, j in pairs])
    # The same numbers from the distinct points only: a fold-line's two legs are the spokes of
    # its feet, so the 10 fold-lines need the 5 spokes (21 points each), not 20 legs.
    t0, c0 = time.perf_counter(), time.process_time()
    segs = [linear_path(feet[i], feet[j], evaluator=ev, n_points=SEG_POINTS) for i, j in pairs]
    spokes = [linear_path(feet[i], center, evaluator=ev, n_points=LEG_POINTS) for i in range(5)]
    dedup_s, dedup_cpu = time.perf_counter() - t0, time.process_time() - c0
    dedup_points = sum(len(pr.t) for pr in segs + spokes)
    fold_dedup = np.mean([max(spokes[i].barriers()["max_loss"], spokes[j].barriers()["max_loss"])
                          for i, j in pairs])
    assert abs(fold_dedup - fold) <= 1e-6 * max(1.0, abs(fold)), (fold_dedup, fold)

    model = build_model(exp.model).eval()
    pts = naive_points(feet, center, pairs, args.naive_points)
    t0, c0 = time.perf_counter(), time.process_time()
    naive = [naive_loss(model, th, X, y) for _, th in pts]
    naive_s, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    per_point, per_point_cpu = naive_s / len(pts), naive_cpu / len(pts)
    check = Evaluator(build_model(exp.model), X, y).evaluate(torch.stack([th for _, th in pts]))
    rel = float(np.max(np.abs(np.array(naive) - check.loss) / np.abs(check.loss)))
    scaled = per_point * n_points
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    md = f"""## Table 1 FNN column: the whole evaluation on the full MNIST

`python bench/bench_table1_eval.py` ({when}): the 10 direct segments ({SEG_POINTS} points each)
and the 10 fold-lines ({LEG_POINTS} points per leg) between 5 minima of the 784-500-300-10 MLP
and their center, every point on all {X.shape[0]:,} MNIST training images: {n_points} points,
{n_points * X.shape[0] / 1e6:.1f} M image evaluations. Feet: {how}; center: the mean of the feet.

| evaluation | points | wall time | CPU time | per point (wall) |
|---|---|---|---|---|
| engine, all 20 paths evaluated point by point (`linear_path` / `fold_line_path`, first-layer shortcut) | {n_points} | **{engine_s:.0f} s** | {engine_cpu:.0f} s | {1e3 * engine_s / n_points:.0f} ms |
| engine, distinct points only, as `star_report` now evaluates them (10 segments + 5 spokes; fold-lines assembled from the spokes; same numbers) | {dedup_points} | **{dedup_s:.0f} s** | {dedup_cpu:.0f} s | {1e3 * dedup_s / dedup_points:.0f} ms |
| naive per-point loop (`vector_to_parameters` + full forward), {len(pts)} points timed, scaled to {n_points} | {n_points} | {scaled:.0f} s ({scaled / 60:.1f} min) | {per_point_cpu * n_points:.0f} s | {1e3 * per_point:.0f} ms |
| naive / engine (20 paths) | | {scaled / engine_s:.1f}x | {per_point_cpu * n_points / engine_cpu:.1f}x | |

Machine: {cpu_name()}, {os.cpu_count()} cores, **{args.threads} torch thread(s)**, torch
{torch.__version__}, no GPU. The machine was **shared** with other sessions' jobs during the run
(load average {load[0]:.1f} at the start), so both times are upper bounds that vary with their
load. The naive subset's losses agree with the engine's to {rel:.1e} (relative). Mean max train
loss over the pairs (these feet): segments {seg:.3f}, fold-lines {fold:.3f}.
"""
    print(md)
    if args.out:
        text = args.out.read_text() if args.out.exists() else ""
        block = f"{BEGIN}\n{md}{END}\n"
        if BEGIN in text and END in text:
            text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", lambda _: block,
                          text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + block
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
