"""Evaluation-engine benchmark: the first-layer shortcut against a naive loop and loss-landscapes.

The same model, data and grid are evaluated by

1. this engine: ``Evaluator.evaluate_affine`` (what ``plane_slice`` calls), origin + a*u + b*v
   with the first-layer shortcut;
2. a naive per-point loop: for each grid point, ``vector_to_parameters`` into a model copy
   and one full forward pass on all the data;
3. ``loss_landscapes.planar_interpolation`` (PyPI ``loss-landscapes``) with its ``Loss``
   metric on the full data batch (a small MSE metric for the regression case).

loss-landscapes walks from ``model_start`` towards ``model_end_one`` / ``model_end_two`` in
``steps`` increments of (end - start) / steps and, to use in-place steps only, zig-zags: even
rows are taken at b = 1..steps, odd rows at b = 0..steps-1 (in units of 1/steps), rows at
a = 0..steps-1. ``ll_grid`` reproduces that exact grid for the two other contenders, and
``check_ll_grid`` verifies it by recording the parameters loss-landscapes evaluates.

Cases: (A) MLP 784-500-300-10 on 2,000 MNIST training images, 21 x 21 plane; (B) the
teacher-student two-layer ReLU student (width 256, d = 16, no biases, squared loss) on
4,000 samples, 41 x 41 plane. Three briefly trained seeds span each plane (``--init``: the
untrained seeds). Also: a sizing table for the shortcut (data batch x chunk of points), and
the vmap-vs-loop crossover for ``evaluate()`` that sets ``VMAP_MAX_PARAMS_CPU``.

Timings: every contender runs in the same process, interleaved and repeated (the order
rotates per repeat); the tables give medians of wall-clock time and, on a CPU, of process
CPU time (less sensitive to other jobs on a shared machine). Ratios are ratios of medians.

Usage::

    python bench/bench_engine.py                 # full run, device "auto", markdown to stdout
    python bench/bench_engine.py --quick         # smoke run: small grids, one repeat
    python bench/bench_engine.py --out docs/benchmarks.md   # also (re)write the generated block
    python bench/bench_engine.py --device cuda   # GPU figures (a separate block in the doc)
"""
from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import vector_to_parameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape_core import (DataSpec, Evaluator, ModelSpec, TrainSpec, build_model,  # noqa: E402
                            count_parameters, flatten, load_dataset, resolve_device)
from landscape_core import evaluate as engine  # noqa: E402
from landscape_core.params import load_flat  # noqa: E402
from landscape_core.training import train_minimum  # noqa: E402

try:
    import loss_landscapes
    from loss_landscapes.metrics import Loss, Metric
except ImportError:  # the two other contenders still run
    loss_landscapes = None
    Loss = Metric = object

SECTION = "## Evaluation engine"
NEXT_SECTION = "## Dashboard time-to-first-chart"


# --------------------------------------------------------------------------- machine
def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "device": str(device),
            "loss_landscapes": getattr(loss_landscapes, "__version__", None) or _dist_version(),
            "load": _loadavg()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _dist_version() -> str:
    try:
        from importlib.metadata import version
        return version("loss-landscapes")
    except Exception:
        return "not installed"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- cases
class HandStudent(torch.nn.Module):
    """The teacher-student ReLU student as a user would write it: its own forward, no Sequential."""

    def __init__(self, d: int, width: int):
        super().__init__()
        self.hidden = torch.nn.Linear(d, width, bias=False)

    def forward(self, x):
        return torch.relu(self.hidden(x.flatten(1))).sum(dim=-1, keepdim=True)

    @classmethod
    def like(cls, seq: torch.nn.Sequential) -> "HandStudent":
        """The same function and weights as the zoo's Sequential student ``seq``."""
        lin = seq[1]
        own = cls(lin.in_features, lin.out_features)
        with torch.no_grad():
            own.hidden.weight.copy_(lin.weight)
        return own.to(lin.weight.device).eval()


class MSEMetric(Metric):
    """loss-landscapes metric: mean over samples of the squared error summed over outputs."""

    def __init__(self, inputs: torch.Tensor, target: torch.Tensor):
        super().__init__()
        self.inputs, self.target = inputs, target

    def __call__(self, model_wrapper) -> float:
        out = model_wrapper.forward(self.inputs)
        return ((out - self.target.view_as(out)) ** 2).sum(1).mean().item()


def case_specs(quick: bool) -> list[dict]:
    return [
        {"name": "A", "title": "MLP 784-500-300-10, MNIST (2,000 train images)",
         "model": ModelSpec("mlp", hidden=(500, 300), input_shape=(1, 28, 28), n_outputs=10),
         "data": DataSpec("mnist", n_train=2000),
         "train": TrainSpec("adam", lr=1e-3, batch_size=200, epochs=2, device="auto"),
         "steps": 7 if quick else 21, "target": 3.0},
        {"name": "B", "title": "teacher-student ReLU student m=256, d=16, M=4 (4,000 samples, MSE)",
         "model": ModelSpec("two_layer_relu", width=256, input_shape=(16,), n_outputs=1, bias=False),
         "data": DataSpec("teacher_student", input_dim=16, teacher_neurons=4, n_train=4000),
         "train": TrainSpec("adam", lr=3e-3, batch_size=200, epochs=10, device="auto"),
         "steps": 11 if quick else 41, "target": 1.5},
        {"name": "C", "title": "case B's student as a hand-written nn.Module (own forward)",
         "model": ModelSpec("two_layer_relu", width=256, input_shape=(16,), n_outputs=1, bias=False),
         "data": DataSpec("teacher_student", input_dim=16, teacher_neurons=4, n_train=4000),
         "train": TrainSpec("adam", lr=3e-3, batch_size=200, epochs=10, device="auto"),
         "steps": 11 if quick else 41, "target": 1.5, "hand_written": True},
    ]


def make_models(case: dict, init: bool, device: torch.device) -> list:
    models = []
    for seed in range(3):
        model = build_model(case["model"], seed)
        if not init:
            minimum = train_minimum(case["model"], case["data"], case["train"], seed, device=device)
            load_flat(model, minimum.theta)
        model = model.to(device).eval()
        models.append(HandStudent.like(model) if case.get("hand_written") else model)
    return models


def ll_grid(steps: int) -> np.ndarray:
    """(steps*steps, 2) coefficients (a, b) of planar_interpolation's points, in its output order.

    Point [i, j] = start + a * (end_one - start) + b * (end_two - start) with a = i / steps and
    b = (j + 1) / steps on even rows, j / steps on odd rows (its in-place zig-zag walk).
    """
    return np.array([[i / steps, (j + (i % 2 == 0)) / steps]
                     for i in range(steps) for j in range(steps)], dtype=np.float64)


def check_ll_grid(steps: int = 5) -> float:
    """Largest error of ``ll_grid`` against the points loss-landscapes actually visits."""
    if loss_landscapes is None:
        return float("nan")
    spec = ModelSpec("mlp", width=3, depth=1, input_shape=(2,), n_outputs=2)
    m = [build_model(spec, s) for s in range(3)]
    th = [flatten(x).double() for x in m]
    basis = torch.stack([th[1] - th[0], th[2] - th[0]], dim=1)

    class Record(Metric):
        def __call__(self, wrapper):
            theta = torch.cat([p.detach().reshape(-1) for p in wrapper.modules[0].parameters()])
            return torch.linalg.lstsq(basis, (theta.double() - th[0])[:, None]).solution[:, 0].numpy()

    got = loss_landscapes.planar_interpolation(copy.deepcopy(m[0]), m[1], m[2], Record(),
                                               steps=steps).reshape(-1, 2)
    return float(np.abs(got - ll_grid(steps)).max())


# --------------------------------------------------------------------------- timing
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    _sync(device)
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    return time.perf_counter() - w, time.process_time() - c, out


def interleaved(contenders: dict, repeats: int, device) -> tuple[dict, dict]:
    """Run every contender ``repeats`` times, rotating the order; (times, last outputs)."""
    names = list(contenders)
    times = {n: {"wall": [], "cpu": []} for n in names}
    outputs = {}
    for r in range(repeats):
        for n in names[r % len(names):] + names[:r % len(names)]:
            wall, cpu, out = timed(contenders[n], device)
            times[n]["wall"].append(wall)
            times[n]["cpu"].append(cpu)
            outputs[n] = out
    return times, outputs


def med(ts: list) -> float:
    return statistics.median(ts)


def max_rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


# --------------------------------------------------------------------------- contenders
def engine_run(model, X, y, origin, dirs, coeffs, device, **kw):
    def run():
        ev = Evaluator(model, X, y, device=device, bn_policy="eval", **kw)
        res = ev.evaluate_affine(origin, dirs, coeffs)
        run.info = {"strategy": res.strategy, "batch": ev.batch_size,
                    "chunk": ev.chunk_for(ev.split.out_numel(ev.X[:1]))
                    if ev.split is not None and not kw.get("chunk_size") else kw.get("chunk_size")}
        return res.loss
    run.info = {}
    return run


def naive_run(model, X, y, origin, dirs, coeffs, loss_name):
    coeffs_t = torch.as_tensor(coeffs, dtype=torch.float32, device=origin.device)

    @torch.no_grad()
    def run():
        m = copy.deepcopy(model).eval()
        out = []
        for c in coeffs_t:
            vector_to_parameters(origin + c @ dirs, m.parameters())
            pred = m(X)
            if loss_name == "cross_entropy":
                out.append(F.cross_entropy(pred, y).item())
            else:
                out.append(((pred - y.view_as(pred)) ** 2).sum(1).mean().item())
        return np.array(out)
    return run


def ll_run(models, X, y, steps, loss_name):
    metric = (Loss(F.cross_entropy, X, y) if loss_name == "cross_entropy" else MSEMetric(X, y))

    def run():
        start = copy.deepcopy(models[0])   # planar_interpolation moves model_start in place
        return loss_landscapes.planar_interpolation(start, models[1], models[2], metric,
                                                    steps=steps).ravel()
    return run


# --------------------------------------------------------------------------- benchmarks
def bench_case(case: dict, args, device) -> dict:
    ds = load_dataset(case["data"])
    X, y = ds.X_train.to(device), ds.y_train.to(device)
    models = make_models(case, args.init, device)
    thetas = [flatten(m).to(device) for m in models]
    origin, dirs = thetas[0], torch.stack([thetas[1] - thetas[0], thetas[2] - thetas[0]])
    steps = case["steps"]
    coeffs = ll_grid(steps)
    ours = engine_run(models[0], X, y, origin, dirs, coeffs, device)
    contenders = {"engine": ours, "naive": naive_run(models[0], X, y, origin, dirs, coeffs, ds.loss)}
    if loss_landscapes is not None:
        contenders["loss-landscapes"] = ll_run(models, X, y, steps, ds.loss)
    ours()   # warm-up (first call pays one-off allocations); not timed
    times, outs = interleaved(contenders, args.repeats, device)
    row = {"case": case, "K": len(coeffs), "D": count_parameters(models[0]), "n": X.shape[0],
           "times": times, "info": ours.info, "loss_range": (float(outs["engine"].min()),
                                                               float(outs["engine"].max()))}
    names = list(contenders)
    row["diff"] = {(a, b): max_rel(outs[a], outs[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    return row


def bench_sizing(case: dict, args, device, settings) -> list:
    """The shortcut at several (data batch, chunk of points) settings, interleaved."""
    ds = load_dataset(case["data"])
    X, y = ds.X_train.to(device), ds.y_train.to(device)
    models = [build_model(case["model"], s).to(device) for s in range(3)]
    thetas = [flatten(m).to(device) for m in models]
    origin, dirs = thetas[0], torch.stack([thetas[1] - thetas[0], thetas[2] - thetas[0]])
    coeffs = ll_grid(case["steps"])
    runs = {}
    for label, bs, ch in settings:
        kw = {k: v for k, v in (("batch_size", bs), ("chunk_size", ch)) if v}
        runs[label] = engine_run(models[0], X, y, origin, dirs, coeffs, device, **kw)
    for r in runs.values():
        r()
    times, _ = interleaved(runs, args.repeats, device)
    return [(label, runs[label].info, times[label]) for label, _, _ in settings]


def old_default_sizing(n: int, act: int, memory_mb: int = 512) -> tuple[int, int]:
    """Batch and chunk the engine chose before the CPU sizing rule (memory budget only)."""
    budget = memory_mb * 2 ** 20 // 4
    batch = int(min(n, max(32, budget // (8 * act))))
    return batch, int(max(1, min(256, budget // (batch * act))))


def bench_crossover(args, device) -> list:
    """evaluate() of 64 points: vmap vs loop for MLPs of growing width on one fixed batch."""
    ds = load_dataset(DataSpec("digits"))
    X, y = ds.X_train[:512].to(device), ds.y_train[:512].to(device)
    widths = (8, 32, 64, 128, 256) if args.quick else (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024)
    rows = []
    g = torch.Generator().manual_seed(0)
    for w in widths:
        spec = ModelSpec("mlp", width=w, depth=2, input_shape=(64,), n_outputs=10)
        model = build_model(spec, 0)
        theta = flatten(model)
        pts = (theta + 0.1 * torch.randn(64, theta.numel(), generator=g) * theta.std()).to(device)
        runs = {}
        for strategy in ("vmap", "loop"):
            ev = Evaluator(model, X, y, device=device, strategy=strategy, batch_size=512, bn_policy="eval")
            runs[strategy] = (lambda ev=ev: ev.evaluate(pts).loss)
        for r in runs.values():
            r()
        times, outs = interleaved(runs, max(3, args.repeats), device)
        rows.append({"width": w, "D": theta.numel(), "times": times,
                     "diff": max_rel(outs["vmap"], outs["loop"]),
                     "auto": Evaluator(model, X, y, device=device, bn_policy="eval").strategy})
    return rows


# --------------------------------------------------------------------------- old vs new engine
def load_old_engine(path: Path):
    """Import a saved copy of an earlier ``landscape_core/evaluate.py`` as ``landscape_core._old_engine``.

    Its relative imports (``from .params import ...``) resolve against today's package.
    """
    import importlib.util
    spec = importlib.util.spec_from_file_location("landscape_core._old_engine", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def old_vs_new_scenarios(quick: bool) -> list[dict]:
    """Same models, data and points for both engines (untrained seeds: timings only)."""
    a, b = case_specs(quick)[:2]
    digits = DataSpec("digits")
    mlp = lambda w: ModelSpec("mlp", width=w, depth=2, input_shape=(64,), n_outputs=10)
    bn = ModelSpec("mlp", width=64, depth=2, input_shape=(64,), n_outputs=10, batch_norm=True)
    return [
        {"label": "A plane: MLP 784-500-300-10, 2,000 MNIST", "model": a["model"], "data": a["data"],
         "kind": "affine", "steps": a["steps"]},
        {"label": "B plane: student (nn.Sequential), 4,000 samples", "model": b["model"],
         "data": b["data"], "kind": "affine", "steps": b["steps"]},
        {"label": "C plane: student as a hand-written module", "model": b["model"], "data": b["data"],
         "kind": "affine", "steps": b["steps"], "hand_written": True},
        {"label": "C points: hand-written student, evaluate() of 64 points", "model": b["model"],
         "data": b["data"], "kind": "points", "k": 64, "hand_written": True},
        {"label": "evaluate() of 64 points, MLP 64-32-32-10, 512 digits", "model": mlp(32),
         "data": digits, "kind": "points", "k": 64, "n": 512},
        {"label": "evaluate() of 64 points, MLP 64-256-256-10, 512 digits", "model": mlp(256),
         "data": digits, "kind": "points", "k": 64, "n": 512},
        {"label": "BatchNorm recompute: evaluate() of 8 points, MLP 64-64-64-10 + BN", "model": bn,
         "data": digits, "kind": "points", "k": 8, "n": 512, "bn": "recompute"},
    ]


def bench_old_vs_new(args, device, old) -> list:
    rows = []
    for sc in old_vs_new_scenarios(args.quick):
        print(f"# old vs new: {sc['label']} ...", file=sys.stderr, flush=True)
        ds = load_dataset(sc["data"])
        n = sc.get("n", ds.X_train.shape[0])
        X, y = ds.X_train[:n].to(device), ds.y_train[:n].to(device)
        models = [build_model(sc["model"], s).to(device).eval() for s in range(3)]
        if sc.get("hand_written"):
            models = [HandStudent.like(m) for m in models]
        th = [flatten(m).to(device) for m in models]
        origin, dirs = th[0], torch.stack([th[1] - th[0], th[2] - th[0]])
        bn_policy = sc.get("bn", "eval")
        if sc["kind"] == "affine":
            coeffs = ll_grid(sc["steps"])
            call = lambda ev: ev.evaluate_affine(origin, dirs, coeffs)
            k = len(coeffs)
        else:
            g = torch.Generator().manual_seed(0)
            k = sc["k"]
            pts = (origin + torch.randn(k, 2, generator=g).to(device) @ dirs)
            call = lambda ev: ev.evaluate(pts)
        info = {}

        def runner(module, key):
            def run():
                res = call(module.Evaluator(models[0], X, y, device=device, bn_policy=bn_policy))
                info[key] = res.strategy
                return res.loss
            return run
        runs = {"new": runner(sys.modules["landscape_core.evaluate"], "new"), "old": runner(old, "old")}
        for r in runs.values():
            r()   # warm-up
        times, outs = interleaved(runs, args.repeats, device)
        rows.append({"label": sc["label"], "K": k, "D": th[0].numel(), "times": times,
                     "strategies": info, "diff": max_rel(outs["new"], outs["old"])})
    return rows


def report_old_vs_new(info: dict, rows: list, args, old_path: Path) -> str:
    cpu = info["device"].startswith("cpu")
    clock = (["cpu"] if cpu else []) + ["wall"]
    lines = [f"Run {info['date']}{' (--quick)' if args.quick else ''}: {info['cpu']}, {info['cores']} cores, "
             f"torch {info['torch']} (threads={info['threads']}), device `{info['device']}`, load average "
             f"at start {info['load']}; old engine from `{old_path}`; {args.repeats} interleaved repeats "
             "(order rotating), medians; untrained seeds; each run builds its Evaluator.", "",
             "| scenario | points | D | " + " | ".join(f"new {_c(c)} s | old {_c(c)} s | old / new ({_c(c)})"
                                                    for c in clock)
             + " | strategy new / old | max rel. diff |",
             "|" + "---|" * (3 + 3 * len(clock) + 2)]
    for r in rows:
        t = r["times"]
        cells = [r["label"], str(r["K"]), f"{r['D']:,}"]
        for c in clock:
            cells += [fmt_s(med(t["new"][c])), fmt_s(med(t["old"][c])),
                      f"{med(t['old'][c]) / med(t['new'][c]):.2f}x"]
        cells += [f"`{r['strategies'].get('new')}` / `{r['strategies'].get('old')}`", f"{r['diff']:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report
def _c(clock: str) -> str:
    return "CPU" if clock == "cpu" else clock


def fmt_s(t: float) -> str:
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def report(info: dict, rows: list, sizing: list, crossover: list, args, grid_err: float) -> str:
    dev = info["device"]
    cpu = dev.startswith("cpu")
    lines = [f"Run {info['date']}{' (--quick)' if args.quick else ''}: {info['cpu']}, "
             f"{info['cores']} cores, torch {info['torch']} (threads={info['threads']}), "
             f"Python {info['python']}, device `{dev}`" + (f" ({info['gpu']})" if "gpu" in info else "")
             + f", loss-landscapes {info['loss_landscapes']}, load average at start {info['load']}; "
             f"{args.repeats} interleaved repeats, models {'untrained' if args.init else 'briefly trained'}. "
             f"Grid mapping to loss-landscapes checked: largest coefficient error {grid_err:.1e}.", ""]
    clock = ["wall"] + (["cpu"] if cpu else [])
    if rows:
        lines += ["| case | contender | points | " + " | ".join(f"median {_c(c)} s" for c in clock)
                  + " | best wall s | points/s (median wall) | "
                  + " | ".join(f"loss-landscapes / this (median {_c(c)})" for c in clock)
                  + " | loss-landscapes / this (best wall) |",
                  "|" + "---|" * (6 + 2 * len(clock))]
    for row in rows:
        t = row["times"]
        ll = t.get("loss-landscapes")
        for name, tt in t.items():
            cells = [f"{row['case']['name']}", name, str(row["K"])]
            cells += [fmt_s(med(tt[c])) for c in clock] + [fmt_s(min(tt["wall"]))]
            cells.append(f"{row['K'] / med(tt['wall']):.0f}")
            cells += [f"{med(ll[c]) / med(tt[c]):.2f}x" if ll else "n/a" for c in clock]
            cells.append(f"{min(ll['wall']) / min(tt['wall']):.2f}x" if ll else "n/a")
            lines.append("| " + " | ".join(cells) + " |")
    if rows:
        lines += ["", "| case | model (D) | data | grid | engine strategy | batch x chunk | "
                  "speed-up vs naive (wall) | target vs loss-landscapes | largest relative difference |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        c, t = row["case"], row["times"]
        speedup = {k: {cl: med(t[k][cl]) / med(t["engine"][cl]) for cl in clock} for k in t}
        diffs = "; ".join(f"{a} vs {b}: {d:.1e}" for (a, b), d in row["diff"].items())
        if "loss-landscapes" in speedup:
            got = speedup["loss-landscapes"]
            met = all(got[cl] >= c["target"] for cl in clock)
            part = any(got[cl] >= c["target"] for cl in clock)
            target = (f">= {c['target']}x: {'met' if met else 'met on one clock only' if part else 'NOT met'} ("
                      + ", ".join(f"{got[cl]:.2f}x median {_c(cl)}" for cl in clock) + ")")
        else:
            target = "n/a (loss-landscapes not installed)"
        lines.append(f"| {c['name']} | {c['title']} (D={row['D']:,}) | n={row['n']} | "
                     f"{c['steps']}x{c['steps']} | `{row['info'].get('strategy')}` | "
                     f"{row['info'].get('batch')} x {row['info'].get('chunk')} | "
                     f"{speedup['naive']['wall']:.2f}x | {target} | {diffs} |")
    if sizing:
        lines += ["", "Shortcut sizing (engine only, untrained models, same grids; `default` is the "
                  "CPU rule, `old default` the batch and chunk the memory budget alone gave):", "",
                  "| case | setting | batch x chunk | " + " | ".join(f"median {_c(c)} s" for c in clock)
                  + " | " + " | ".join(f"vs default ({_c(c)})" for c in clock) + " |",
                  "|" + "---|" * (3 + 2 * len(clock))]
        for case_name, entries in sizing:
            base = entries[0][2]
            for label, inf, tt in entries:
                cells = [case_name, label, f"{inf.get('batch')} x {inf.get('chunk')}"]
                cells += [fmt_s(med(tt[c])) for c in clock]
                cells += [f"{med(tt[c]) / med(base[c]):.2f}" for c in clock]
                lines.append("| " + " | ".join(cells) + " |")
    if crossover:
        lines += ["", f"Strategy crossover: `evaluate()` of 64 points, MLP 64-w-w-10 on 512 digits "
                  f"(one batch); `auto` is the strategy the engine picks "
                  f"(VMAP_MAX_PARAMS_CPU = {engine.VMAP_MAX_PARAMS_CPU:,}):", "",
                  "| width | D | " + " | ".join(f"vmap {_c(c)} s | loop {_c(c)} s" for c in clock)
                  + " | " + " | ".join(f"loop / vmap ({_c(c)})" for c in clock) + " |"
                  + " faster | auto | max rel. diff |",
                  "|" + "---|" * (2 + 2 * len(clock) + len(clock) + 3)]
        for r in crossover:
            t = r["times"]
            cells = [str(r["width"]), f"{r['D']:,}"]
            for c in clock:
                cells += [fmt_s(med(t["vmap"][c])), fmt_s(med(t["loop"][c]))]
            cells += [f"{med(t['loop'][c]) / med(t['vmap'][c]):.2f}" for c in clock]
            faster = "vmap" if med(t["vmap"][clock[-1]]) < med(t["loop"][clock[-1]]) else "loop"
            cells += [faster, r["auto"], f"{r['diff']:.1e}"]
            lines.append("| " + " | ".join(cells) + " |")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def write_doc(path: Path, block: str, key: str) -> None:
    """Replace (or add) the generated block ``key`` (device and threads) in the engine section."""
    begin, end = f"<!-- bench_engine:{key}:begin -->", f"<!-- bench_engine:{key}:end -->"
    generated = f"{begin}\n{block}{end}\n"
    text = path.read_text() if path.exists() else ""
    if not text.strip():
        text = f"# Benchmarks\n\n{SECTION}\n\n{NEXT_SECTION}\n\n(see bench/bench_pages.py)\n"
    if SECTION not in text:
        text = text.rstrip() + f"\n\n{SECTION}\n\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: generated,
                      text, flags=re.S)
    else:   # insert at the end of the section (before the next "## " heading)
        start = text.index(SECTION) + len(SECTION)
        nxt = re.search(r"^## ", text[start:], flags=re.M)
        at = start + nxt.start() if nxt else len(text)
        head, tail = text[:at].rstrip() + "\n\n", text[at:]
        text = head + generated + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small grids, one repeat (smoke run)")
    p.add_argument("--out", type=Path, help="markdown file whose generated block is (re)written")
    p.add_argument("--device", default="auto", help='"auto" (CUDA when available), "cpu", "cuda"')
    p.add_argument("--repeats", type=int, help="interleaved repeats (default 3, 1 with --quick)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--init", action="store_true", help="untrained seeds instead of brief training")
    p.add_argument("--skip", default="", help="comma list of parts to skip: cases,sizing,crossover")
    p.add_argument("--cases", default="A,B,C", help="which cases to run (comma list), default A,B,C")
    p.add_argument("--old-engine", type=Path,
                   help="a saved earlier evaluate.py (e.g. `git show b8ea56d:landscape_core/evaluate.py`): "
                        "time it against today's engine, same process, interleaved")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    skip = set(filter(None, args.skip.split(",")))
    info = machine_info(device)
    print(f"# bench_engine on {info['cpu']} ({info['cores']} cores), torch {info['torch']}, "
          f"threads={info['threads']}, device {device}", file=sys.stderr)
    grid_err = check_ll_grid()
    wanted = set(filter(None, args.cases.split(",")))
    cases = [c for c in case_specs(args.quick) if c["name"] in wanted]
    rows, sizing, crossover = [], [], []
    if "cases" not in skip:
        for case in cases:
            print(f"# case {case['name']} ...", file=sys.stderr, flush=True)
            rows.append(bench_case(case, args, device))
    if "sizing" not in skip and device.type == "cpu":
        for case in (c for c in cases if not c.get("hand_written")):
            print(f"# sizing {case['name']} ...", file=sys.stderr, flush=True)
            ds = load_dataset(case["data"])
            ev = Evaluator(build_model(case["model"]), ds.X_train, ds.y_train, bn_policy="eval")
            ob, oc = old_default_sizing(ev.n, ev.act_per_sample)
            first = ev.split.out_numel(ev.X[:1])
            b, per_chunk = engine.CPU_MAX_BATCH, engine.CPU_CHUNK_FLOATS * torch.get_num_threads()
            settings = [("default", None, None), ("old default", ob, oc),
                        ("one batch", ev.n, max(1, per_chunk // (ev.n * first))),
                        ("half chunk", b, max(1, ev.chunk_for(first) // 2)),
                        ("double chunk", b, 2 * ev.chunk_for(first)),
                        ("half batch", b // 2, 2 * ev.chunk_for(first))]
            sizing.append((case["name"], bench_sizing(case, args, device, settings)))
    if "crossover" not in skip:
        print("# strategy crossover ...", file=sys.stderr, flush=True)
        crossover = bench_crossover(args, device)
    if args.old_engine:
        old = load_old_engine(args.old_engine)
        print(report_old_vs_new(info, bench_old_vs_new(args, device, old), args, args.old_engine))
        if skip >= {"cases", "sizing", "crossover"}:
            return 0
    block = report(info, rows, sizing, crossover, args, grid_err)
    print(block)
    if args.out:
        write_doc(args.out, block, f"{device.type}-{torch.get_num_threads()}-threads"
                  + ("-quick" if args.quick else ""))
        print(f"# wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
