"""Center step vs training step: CPU time per step, one thread, median of interleaved repeats.

A training step is ``model(x)``, cross-entropy, backward and Adam on one batch. A center step
is what ``center.find_center`` runs per step (B_r = 1 foot, B_t = 3 values of t, the same
batch size, Adam): sample t, the foot and the batch, the mean loss at the 3 points, backward,
Adam. It is timed on both routes of ``pathloss.PathObjective``: "before" (``route="plain"``: the
points evaluated with ``BatchedLoss``, and the default foreach Adam, as before the shortcut)
and "new" (``AffineLoss``, the first-layer shortcut, and the trainer's fused Adam),
the latter with the feet's first-layer outputs cached ("warm", the steady state after the first
epochs) and recomputed every step ("cold", the first epoch or a budget too small for them).

    OMP_NUM_THREADS=1 python bench/bench_center_step.py            # ~1-2 min
    OMP_NUM_THREADS=1 python bench/bench_center_step.py --quick
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape_core import load_dataset  # noqa: E402
from landscape_core.config import DataSpec, ModelSpec  # noqa: E402
from landscape_core.models import build_model  # noqa: E402
from landscape_core.params import flatten  # noqa: E402
from landscape_core.center import CenterSpec, center_points  # noqa: E402
from landscape_core.pathloss import PathObjective, _sample_t, make_optimizer  # noqa: E402

CASES = {
    "FNN 784-500-300-10, MNIST": (ModelSpec("mlp", hidden=(500, 300), input_shape=(1, 28, 28),
                                            n_outputs=10), DataSpec("mnist", n_train=10000)),
    "digits MLP 64-64-64-10": (ModelSpec("mlp", width=64, depth=2, input_shape=(64,), n_outputs=10),
                               DataSpec("digits")),
}
N_FEET, B_T, BATCH = 5, 3, 200


def make_case(mspec: ModelSpec, dspec: DataSpec):
    ds = load_dataset(dspec)
    X, y = ds.X_train.float(), ds.y_train
    model = build_model(mspec, 0)
    feet = torch.stack([flatten(build_model(mspec, s)) for s in range(1, N_FEET + 1)])
    points, affine = center_points(feet)   # exactly find_center's points
    gen = torch.Generator().manual_seed(0)
    steps = {}

    def train_step_fn(fused: bool):
        train_model = build_model(mspec, 0)
        opt_t = torch.optim.Adam(train_model.parameters(), lr=1e-3, fused=fused)

        def train_step():
            idx = torch.randperm(len(X), generator=gen)[:BATCH]
            loss = F.cross_entropy(train_model(X[idx]), y[idx])
            opt_t.zero_grad(set_to_none=True)
            loss.backward()
            opt_t.step()
        return train_step
    steps["training step"] = train_step_fn(False)
    steps["training step, fused Adam"] = train_step_fn(True)

    def center_step(route: str, cold: bool):
        objective = PathObjective(model, "cross_entropy", "recompute", "cpu", X, y, points,
                                  affine, route)
        if objective.fast is not None:
            if cold:
                objective.fast.cache.max_rows = 0
            else:   # the steady state: every foot's outputs known for every sample
                for start in range(0, len(X), 1000):
                    idx = torch.arange(start, min(start + 1000, len(X)))
                    objective.fast.cache(list(range(N_FEET)), idx, objective.fast.split.prefix(X[idx]))
        theta = feet.mean(0).clone().requires_grad_(True)
        # the trainer's Adam (fused); "before" ran the default (foreach) Adam
        opt = (torch.optim.Adam([theta], lr=1e-3) if route == "plain"
               else make_optimizer(theta, CenterSpec(lr=1e-3)))

        def step():
            idx = torch.randperm(len(X), generator=gen)[:BATCH]
            groups = torch.randint(N_FEET, (1,), generator=gen)
            t = _sample_t("uniform", 1, B_T, gen)
            obj = objective(theta, t, groups, idx)
            opt.zero_grad(set_to_none=True)
            obj.backward()
            opt.step()
        return step, objective.route
    routes = {}
    for label, route, cold in (("center step, before (plain route)", "plain", False),
                               ("center step, new route (cache warm)", "auto", False),
                               ("center step, new route (cache cold)", "auto", True)):
        steps[label], routes[label] = center_step(route, cold)
    return steps, routes


def measure(steps: dict, repeats: int, per_repeat: int) -> dict:
    """CPU seconds per step of each variant in every repeat, the variants interleaved (in a
    rotating order: no variant always follows the same one)."""
    for fn in steps.values():   # warm-up
        for _ in range(3):
            fn()
    times, names = {k: [] for k in steps}, list(steps)
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn = steps[k]
            t0 = time.process_time()
            for _ in range(per_repeat):
                fn()
            times[k].append((time.process_time() - t0) / per_repeat)
    return times


def ratio(times: dict, num: str, den: str) -> float:
    """Median over repeats of the per-repeat ratio: each pair ran within the same repeat, so
    a load change on a shared machine moves both."""
    return statistics.median(a / b for a, b in zip(times[num], times[den]))


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except Exception:
        return platform.processor() or "unknown CPU"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--per-repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.per_repeat = 3, 2
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; 1 thread; CPU time (time.process_time); "
          f"{args.repeats} interleaved repeats of {args.per_repeat} steps (times: medians; ratios: "
          f"medians of the per-repeat ratios); batch {BATCH}, "
          f"B_r = 1, B_t = {B_T}, {N_FEET} feet, Adam.\n")
    print("| model | training step | center step before | new, cache warm | new, cache cold | "
          "before / training | new warm / training | new cold / training | "
          "new warm / training with fused Adam |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (mspec, dspec) in CASES.items():
        steps, routes = make_case(mspec, dspec)
        times = measure(steps, args.repeats, args.per_repeat)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        tr, fused, old, warm, cold = list(times)
        print(f"| {name} | {med[tr]:.2f} ms | {med[old]:.2f} ms | {med[warm]:.2f} ms | "
              f"{med[cold]:.2f} ms | {ratio(times, old, tr):.2f}x | **{ratio(times, warm, tr):.2f}x** | "
              f"{ratio(times, cold, tr):.2f}x | {ratio(times, warm, fused):.2f}x |", flush=True)
        print(f"<!-- routes: {routes} -->", file=sys.stderr)


if __name__ == "__main__":
    main()
