"""Cost estimates vs actual: every ``landscape_core.cost`` estimate next to the work it estimates.

For the CPU-sized presets (tiny, digits-mlp, teacher-student, linear-net; fashion-mlp and
mnist-fnn on small ``n_train`` subsets when their data files are in ../shared/data) at a few
widths, in one process: the timing probe (its own cost is reported too), then for each task the
estimate the dashboard and the CLI would show and the actual run, side by side:

- ``train 1``: ``train_minima`` of one minimum with the preset's recipe (fresh cache directory,
  so cache writes are included), vs ``training_estimate``; with a training target that is an
  upper bound (all epochs), marked so;
- ``train 2 more``: two more seeds, estimated with ``expected_epochs=cost.epochs_seen(...)``
  (the epochs the cached first minimum ran), as the dashboard can once one minimum exists;
- ``center``: ``center_for_minima`` of two minima (the "fast" recipe, no cache) vs
  ``center_estimate``;
- ``path``: a straight segment of 101 points on the train and test sets (``linear_path``) vs
  ``path_estimate(probe, 101, with_test=True)``;
- ``slice``: an R x R ``three_model_slice`` on the training set vs ``slice_estimate`` (and the
  issue's 121 x 121 on the default preset, digits-mlp at width 64);
- ``sweep``: one small width sweep (``sweep``; fresh cache) vs ``sweep_estimate``.

Actual times are the process CPU time (``time.process_time``) and the wall time
(``time.perf_counter``). With one torch thread the CPU time is the wall time the work takes on
an otherwise idle machine, which is what the estimates predict (the probe times the calling
thread's CPU time); on a machine shared with other work the wall time is longer. "within 2x"
judges estimate / CPU time; estimate / wall is shown beside it.

Usage::

    OMP_NUM_THREADS=1 python bench/bench_estimates.py                  # the table on stdout
    OMP_NUM_THREADS=1 python bench/bench_estimates.py --out docs/benchmarks.md
    python bench/bench_estimates.py --quick                            # tiny only

With ``--out`` the text between the ``bench_estimates`` markers inside the section
"## Cost estimates vs actual" is replaced (the section is appended when missing).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from landscape_core import cost  # noqa: E402
from landscape_core.cache import DiskCache  # noqa: E402
from landscape_core.center import CenterSpec, center_for_minima  # noqa: E402
from landscape_core.config import preset  # noqa: E402
from landscape_core.data import load_dataset  # noqa: E402
from landscape_core.evaluate import evaluators_for  # noqa: E402
from landscape_core.models import build_model  # noqa: E402
from landscape_core.paths import linear_path  # noqa: E402
from landscape_core.slices import three_model_slice  # noqa: E402
from landscape_core.sweeps import sweep  # noqa: E402
from landscape_core.training import train_minima  # noqa: E402

SECTION = "## Cost estimates vs actual"
HEADER = ("| case | task | estimate (s) | actual CPU (s) | estimate / CPU | within 2x | actual wall (s) "
          "| estimate / wall | work (multiply-adds) |\n|---|---|---:|---:|---:|---|---:|---:|---:|")
BEGIN, END = "<!-- bench_estimates:begin -->", "<!-- bench_estimates:end -->"
DATA = ROOT.parent / "shared" / "data"


def cases(quick: bool) -> list[tuple[str, object]]:
    """(label, Experiment) for every preset and width measured."""
    out = []
    widths = (16,) if quick else (16, 64, 256)
    for name in (("tiny",) if quick else ("tiny", "digits-mlp", "teacher-student", "linear-net")):
        base = preset(name)
        for w in widths:
            out.append((f"{name} w={w}", base.replace(**{"model.width": w})))
    if quick:
        return out
    if (DATA / "fashion-mnist").exists():
        base = preset("fashion-mlp").replace(**{"data.n_train": 2000, "data.n_test": 1000,
                                                "data.data_dir": str(DATA), "train.epochs": 3})
        for w in (64, 256):
            out.append((f"fashion-mlp w={w} n=2000", base.replace(**{"model.width": w})))
    if (DATA / "mnist").exists():
        base = preset("mnist-fnn").replace(**{"data.n_train": 2000, "data.n_test": 1000,
                                              "data.data_dir": str(DATA), "train.epochs": 3})
        out.append(("mnist-fnn 500-300 n=2000", base))
    return out


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def row(label, task, est, wall, cpu, extra=""):
    ratio = est.seconds / max(cpu, 1e-9)
    rwall = est.seconds / max(wall, 1e-9)
    upper = getattr(est, "upper", False)
    ok = "ok" if 0.5 <= ratio <= 2 else ("upper bound" if upper and ratio > 2 else "**off**")
    r = dict(case=label, task=task, est=est.seconds, wall=wall, cpu=cpu, ratio=ratio, ok=ok,
             passes=est.passes, extra=extra, upper=upper, rwall=rwall)
    print(f"| {label} | {task}{extra} | {est.seconds:.2f} | {cpu:.2f} | {ratio:.2f} | {ok} | "
          f"{wall:.2f} | {rwall:.2f} | {est.passes:.3g} |", flush=True)
    return r


def run_case(label, exp, resolution, center_spec, root) -> list[dict]:
    rows = []
    probe, pw, pc = timed(lambda: cost.timing_probe(exp.model, exp.data, exp.train.batch_size))
    print(f"| {label} | (probe, batch {exp.train.batch_size}) | | {pc:.2f} | | | {pw:.2f} | | |",
          flush=True)
    cache = DiskCache(Path(root) / label.replace(" ", "_").replace("=", ""))
    est = cost.training_estimate(probe, exp.train, 1)
    first, w, c = timed(lambda: train_minima(exp.model, exp.data, exp.train, seeds=[0],
                                             cache=cache))
    bound = " (upper bound)" if est.upper else ""
    rows.append(row(label, "train 1", est, w, c,
                    f"{bound} ({first[0].epochs} of {exp.train.epochs} epochs)"))
    seen = cost.epochs_seen(exp.model, exp.data, exp.train, cache)
    est = cost.training_estimate(probe, exp.train, 2, expected_epochs=seen)
    minima, w, c = timed(lambda: train_minima(exp.model, exp.data, exp.train, seeds=[0, 1, 2],
                                              cache=cache))
    epochs = "/".join(str(m.epochs) for m in minima[1:])
    rows.append(row(label, "train 2 more", est, w, c,
                    f" (epochs as seen: {seen:g}; ran {epochs})" if est.upper is False and bound
                    else f" ({epochs} of {exp.train.epochs} epochs)"))
    cprobe = cost.timing_probe(exp.model, exp.data, center_spec.batch_size)
    est = cost.center_estimate(cprobe, center_spec)
    center, w, c = timed(lambda: center_for_minima(minima, center_spec, use_cache=False))
    rows.append(row(label, "center", est, w, c, f" ({center.n_steps} steps)"))
    ds = load_dataset(exp.data)
    ev, te = evaluators_for(build_model(exp.model, 0), ds, bn_policy="recompute")
    a, b = minima[0].theta, minima[1].theta
    est = cost.path_estimate(probe, 101, with_test=True)
    _, w, c = timed(lambda: linear_path(a, b, evaluator=ev, test_evaluator=te, n_points=101))
    rows.append(row(label, "path 101", est, w, c))
    est = cost.slice_estimate(probe, resolution)
    _, w, c = timed(lambda: three_model_slice(ev, a, b, center.theta, resolution=resolution))
    rows.append(row(label, f"slice {resolution}x{resolution}", est, w, c))
    if label == "digits-mlp w=64":                  # the default preset: the 121 x 121 slice
        est = cost.slice_estimate(probe, 121)
        _, w, c = timed(lambda: three_model_slice(ev, a, b, center.theta, resolution=121))
        rows.append(row(label, "slice 121x121", est, w, c))
    return rows


def run_sweep(root) -> list[dict]:
    base = preset("tiny").replace(n_minima=2)
    spec = CenterSpec.fast(lam=1e-2, lr=1e-2, steps=60)
    values = (8, 32, 128)
    est, pw, pc = timed(lambda: cost.sweep_estimate(base, "model.width", values, spec, "pair"))
    _, w, c = timed(lambda: sweep(base, "model.width", values, center_spec=spec,
                                  cache=DiskCache(Path(root) / "sweep")))
    return [row("tiny", "sweep widths 8/32/128", est, w, c,
                f" (the estimate's probes took {pw:.1f} s)")]


def markdown(rows, meta) -> str:
    lines = [BEGIN, "",
             f"Machine: {meta['cpu']}, {meta['cores']} cores, shared with other sessions while this "
             f"ran (load average {meta['load']}); torch {meta['torch']}, {meta['threads']} intra-op "
             f"thread(s), Python {meta['python']}, {meta['date']}. Estimates by `{meta['rev']}`. "
             f"Whole run: {meta['wall']:.0f} s wall, {meta['cpu_s']:.0f} s CPU.", "",
             HEADER]
    for r in rows:
        lines.append(f"| {r['case']} | {r['task']}{r['extra']} | {r['est']:.2f} | {r['cpu']:.2f} | "
                     f"{r['ratio']:.2f} | {r['ok']} | {r['wall']:.2f} | {r['rwall']:.2f} | "
                     f"{r['passes']:.3g} |")
    point = [r for r in rows if not r["upper"]]
    within = sum(0.5 <= r["ratio"] <= 2 for r in point)
    wall_within = sum(0.5 <= r["rwall"] <= 2 for r in point)
    lines += ["", f"{within} of {len(point)} estimates within a factor of 2 of the actual CPU time; "
              f"estimate / CPU from {min(r['ratio'] for r in point):.2f} to "
              f"{max(r['ratio'] for r in point):.2f}. Against the wall time (inflated by the other "
              f"sessions): {wall_within} of {len(point)} within a factor of 2, estimate / wall from "
              f"{min(r['rwall'] for r in point):.2f} to {max(r['rwall'] for r in point):.2f}."]
    bounds = [r for r in rows if r["upper"]]
    if bounds:
        lines.append(f"Not counted: {len(bounds)} upper bounds (training to a target with no minimum "
                     f"of the recipe cached yet: all epochs assumed), estimate / CPU "
                     f"{min(r['ratio'] for r in bounds):.2f} to {max(r['ratio'] for r in bounds):.2f}.")
    lines += ["", END]
    return "\n".join(lines)


def write(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(SECTION, 1)
    nxt = re.search(r"\n## ", rest)
    body, tail = (rest[:nxt.start()], rest[nxt.start():]) if nxt else (rest, "")
    if BEGIN in body and END in body:
        body = body[:body.index(BEGIN)] + block + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(head + SECTION + body + tail)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="also write the table into this markdown file")
    ap.add_argument("--quick", action="store_true", help="tiny preset at width 16 only")
    ap.add_argument("--resolution", type=int, default=61, help="slice resolution R (R x R)")
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args(argv)
    threads = cost.configure_threads()
    w0, c0 = time.perf_counter(), time.process_time()
    center_spec = CenterSpec.fast(epochs=5)
    print(HEADER, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for label, exp in cases(args.quick):
            rows += run_case(label, exp, args.resolution, center_spec, root)
        if not args.no_sweep and not args.quick:
            rows += run_sweep(root)
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                         text=True).stdout.split(":", 1)[-1].strip() or platform.processor()
    rev = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--",
                          "landscape_core/cost.py"], capture_output=True, text=True).stdout.strip()
    meta = dict(cpu=cpu, cores=os.cpu_count(), load=", ".join(f"{x:.1f}" for x in os.getloadavg()),
                torch=torch.__version__, threads=threads, python=platform.python_version(),
                date=datetime.date.today().isoformat(), rev=f"cost.py at {rev or 'working tree'}",
                wall=time.perf_counter() - w0, cpu_s=time.process_time() - c0)
    block = markdown(rows, meta)
    print("\n" + block)
    if args.out:
        write(args.out, block)


if __name__ == "__main__":
    main()
