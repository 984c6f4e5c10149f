"""What a computation will cost, before it runs: time estimates and pre-flight limits.

Two halves, both free of Streamlit:

- **Estimates.** ``timing_probe`` measures this device on the model and data at hand (the
  median of a few short runs each, after a warm-up): seconds per optimizer step split into a
  fixed overhead and a per-example part, and forward seconds per example. ``training_estimate``,
  ``center_estimate``, ``path_estimate``, ``slice_estimate`` and ``sweep_estimate`` turn it
  into an ``Estimate(seconds, passes, what)``; ``Estimate.text()`` is the sentence to show.
- **Pre-flight limits.** ``check_model`` (parameters and memory of a spec, counted without
  allocating), ``check_star``, ``check_slice`` and ``check_sweep`` (number of evaluations)
  raise ``BudgetError`` naming the estimate, the limit and the override (``force=True`` in
  Python, ``--force`` in the CLI) when a request is above its limit.

The limits are sizes, not seconds, so the same request is accepted or refused on every
machine of a kind; the estimates say how long an accepted request will take here.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import Int, Options, validate_params

MAX_PARAMS = {"cpu": 30_000_000, "cuda": 400_000_000}
MAX_TRAIN_MEMORY = {"cpu": 16 * 2**30, "cuda": 64 * 2**30}   # weights + grads + Adam moments
MAX_PATH_POINTS = 200_000        # parameter vectors evaluated by one star report or sweep
MAX_SLICE_POINTS = 40_000        # points of one 2-D slice (a 200 x 200 grid)
MAX_SWEEP_MINIMA = 500           # minima a sweep may train
MAX_SWEEP_CENTERS = 200          # centers a sweep may fit
SAFETY = 1.5                     # estimates are scaled up by this (other work, cache misses)
OVERRIDE = "pass force=True (the CLI's --force) to run it anyway"


class BudgetError(ValueError):
    """A request above a pre-flight limit; the message names the estimate, the limit and the override."""


@dataclass(frozen=True)
class Estimate:
    """An estimated cost: wall seconds on this device, example-passes (forward/backward)."""
    seconds: float
    passes: float
    what: str

    def __add__(self, other: "Estimate") -> "Estimate":
        return Estimate(self.seconds + other.seconds, self.passes + other.passes,
                        f"{self.what} and {other.what}")

    def text(self, device: str | None = None) -> str:
        """One sentence: 'Estimated cost of training 3 minima: ≈ 12 s (4.1e+05 example-passes)
        on CPU (1 thread); an estimate from a timing probe, other work slows it down.'"""
        return (f"Estimated cost of {self.what}: {format_seconds(self.seconds)} "
                f"({self.passes:.3g} example-passes) on {device or device_label()}; an estimate "
                "from a timing probe, other work on the machine slows it down.")


def format_seconds(s: float) -> str:
    """'< 1 s', '≈ 12 s', '≈ 3.5 min', '≈ 2.0 h'."""
    if s < 0.5:
        return "< 1 s"
    if s < 90:
        return f"≈ {s:.0f} s"
    return "≈ " + (f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h")


# ------------------------------------------------------------------------------ device
def configure_threads() -> int:
    """Use at most half the CPU cores for torch's intra-op threads (env LANDSCAPE_TORCH_THREADS).

    On small shared machines OpenMP threads that spin against each other slow small models
    down by orders of magnitude, so a server or a parallel run should not take every core.
    """
    want = os.environ.get("LANDSCAPE_TORCH_THREADS", "")
    n = int(want) if want.isdigit() and int(want) > 0 else max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def device_label(device="auto") -> str:
    from .evaluate import resolve_device
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(0)})"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def _device_type(device) -> str:
    from .evaluate import resolve_device
    return resolve_device(device).type


# ------------------------------------------------------------------------------ limits
def _refuse(what: str, estimate: str, limit: str, hint: str) -> BudgetError:
    return BudgetError(f"{what} is too large: {estimate}, above the limit of {limit}. {hint} "
                       f"or {OVERRIDE}.")


_COUNTS: dict = {}


def parameter_count(model_spec) -> int:
    """Trainable parameters D of a ModelSpec, counted on the meta device (nothing allocated)."""
    if model_spec not in _COUNTS:
        from .models import build_model, count_parameters
        with torch.device("meta"):
            _COUNTS[model_spec] = count_parameters(build_model(model_spec, 0))
    return _COUNTS[model_spec]


def train_memory_bytes(n_params: int) -> int:
    """Memory of training: float32 weights, gradients and Adam's two moments (4 x 4 bytes each)."""
    return 16 * int(n_params)


def check_model(model_spec, device="auto", *, force: bool = False) -> int:
    """Parameter count D of ``model_spec``; ``BudgetError`` before any allocation when D or the
    training memory is above the limit of the device type (``MAX_PARAMS``, ``MAX_TRAIN_MEMORY``)."""
    n = parameter_count(model_spec)
    kind = _device_type(device)
    mem = train_memory_bytes(n)
    if force:
        return n
    if n > MAX_PARAMS[kind]:
        raise _refuse("This model", f"{n:,} trainable parameters ({mem / 2**30:.1f} GiB to train)",
                      f"{MAX_PARAMS[kind]:,} on {kind}", "Reduce the width, depth or hidden sizes")
    if mem > MAX_TRAIN_MEMORY[kind]:
        raise _refuse("This model", f"{mem / 2**30:.1f} GiB to train",
                      f"{MAX_TRAIN_MEMORY[kind] / 2**30:.0f} GiB on {kind}",
                      "Reduce the width, depth or hidden sizes")
    return n


@validate_params(n_minima=Int(1), n_points=Int(2), n_held_out=Int(0))
def star_points(n_minima: int, n_points: int, *, n_held_out: int = 0, with_test: bool = False) -> int:
    """Parameter vectors a star report evaluates: per pair a segment (n_points) and a fold-line
    (two legs of n_points), per foot and held-out minimum a spoke; twice with a test set."""
    pairs = n_minima * (n_minima - 1) // 2
    n = pairs * 3 * n_points + (n_minima + n_held_out) * n_points
    return n * (2 if with_test else 1)


def check_star(n_minima: int, n_points: int, *, n_held_out: int = 0, with_test: bool = False,
               force: bool = False) -> int:
    """Number of path evaluations of a star over ``n_minima`` feet; ``BudgetError`` above
    ``MAX_PATH_POINTS`` (1,000 minima at 21 points is ~31 million)."""
    n = star_points(n_minima, n_points, n_held_out=n_held_out, with_test=with_test)
    if n > MAX_PATH_POINTS and not force:
        raise _refuse(f"A star over {n_minima} minima", f"{n:,} path evaluations "
                      f"({n_minima * (n_minima - 1) // 2:,} pairs x {n_points} points)",
                      f"{MAX_PATH_POINTS:,}", "Use fewer minima or fewer points per path")
    return n


@validate_params(resolution_a=Int(1), resolution_b=Int(1, none=True))
def check_slice(resolution_a: int, resolution_b: int | None = None, *, force: bool = False) -> int:
    """Points of an ``resolution_a x resolution_b`` slice (square when b is None);
    ``BudgetError`` above ``MAX_SLICE_POINTS``."""
    rb = resolution_a if resolution_b is None else resolution_b
    n = resolution_a * rb
    if n > MAX_SLICE_POINTS and not force:
        raise _refuse(f"A {resolution_a} x {rb} slice", f"{n:,} points",
                      f"{MAX_SLICE_POINTS:,} (e.g. 200 x 200)", "Use a coarser grid")
    return n


@validate_params(n_values=Int(1), n_minima=Int(1), center_mode=Options("pair", "star"),
                 n_points=Int(2))
def check_sweep(n_values: int, n_minima: int, *, center_mode: str = "pair", n_points: int = 21,
                force: bool = False) -> dict:
    """Counts of a sweep ({'minima', 'centers', 'path_points'}); ``BudgetError`` when any is
    above ``MAX_SWEEP_MINIMA``, ``MAX_SWEEP_CENTERS`` or ``MAX_PATH_POINTS``."""
    pairs = n_minima * (n_minima - 1) // 2
    counts = {"minima": n_values * n_minima,
              "centers": n_values * (pairs if center_mode == "pair" else 1),
              "path_points": n_values * pairs * 3 * n_points}
    if force:
        return counts
    what = f"A sweep over {n_values} values with {n_minima} minima each"
    for name, limit, hint in (("minima", MAX_SWEEP_MINIMA, "Use fewer values or fewer minima"),
                              ("centers", MAX_SWEEP_CENTERS,
                               "Use fewer values, fewer minima or center_mode='star'"),
                              ("path_points", MAX_PATH_POINTS, "Use fewer points per path")):
        if counts[name] > limit:
            label = name.replace("_", " ") if name != "path_points" else "path evaluations"
            raise _refuse(what, f"{counts[name]:,} {label} to compute", f"{limit:,}", hint)
    return counts


# ------------------------------------------------------------------------------ estimates
@dataclass(frozen=True)
class Probe:
    """Measured on one device: seconds per optimizer step = overhead + per_example * batch;
    forward seconds per example (full-set evaluation); the data set's sizes."""
    overhead: float
    per_example: float
    fwd: float
    n_train: int
    n_test: int
    device: str


_PROBES: dict = {}
_PROBE_LOCK = threading.Lock()


@validate_params(batch_size=Int(2, 1_000_000), repeats=Int(1, 50))
def timing_probe(model_spec, data_spec, batch_size: int = 64, *, device="auto", repeats: int = 5,
                 force: bool = False) -> Probe:
    """Time a few training steps and one evaluation on this device (medians of ``repeats`` runs
    after a warm-up; memoised per model, data, batch size and device for this process)."""
    from .data import load_dataset
    from .evaluate import Evaluator, per_sample_loss, resolve_device
    from .models import build_model
    from .params import flatten
    dev = resolve_device(device)
    memo = (model_spec, data_spec, batch_size, str(dev), repeats)
    with _PROBE_LOCK:
        if memo in _PROBES:
            return _PROBES[memo]
    check_model(model_spec, dev, force=force)
    ds = load_dataset(data_spec)
    net = build_model(model_spec, 0).to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-6)
    batch = max(2, min(batch_size, ds.n_train))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def median_of(run, reps: int) -> float:
        times = []
        for _ in range(reps + 1):                    # the first run is a warm-up
            t0 = time.perf_counter()
            run()
            sync()
            times.append(time.perf_counter() - t0)
        return float(np.median(times[1:]))

    def step(n):
        xb, yb = ds.X_train[:n].to(dev), ds.y_train[:n].to(dev)

        def run():
            opt.zero_grad(set_to_none=True)
            per_sample_loss(net(xb), yb, ds.loss).mean().backward()
            opt.step()
        return run
    t1, tb = median_of(step(1), repeats), median_of(step(batch), repeats)
    per_example = max(tb - t1, 0.0) / (batch - 1)
    n_check = min(ds.n_train, 2000)
    ev = Evaluator(net, ds.X_train[:n_check], ds.y_train[:n_check], loss=ds.loss, device=dev,
                   bn_policy="eval")
    theta = flatten(net)
    fwd = median_of(lambda: ev.evaluate(theta), max(1, min(3, repeats))) / n_check
    probe = Probe(max(t1 - per_example, 0.0), per_example, fwd, ds.n_train, ds.n_test, str(dev))
    with _PROBE_LOCK:
        _PROBES[memo] = probe
    return probe


def training_estimate(probe: Probe, train, n_minima: int) -> Estimate:
    """Training ``n_minima`` minima with TrainSpec ``train`` for all their epochs."""
    n, bs = probe.n_train, min(train.batch_size, probe.n_train)
    steps = train.epochs * math.ceil(n / bs)
    checks = train.target_train_acc is not None or train.target_train_loss is not None
    per_minimum = (steps * (probe.overhead + bs * probe.per_example)
                   + (train.epochs * n * probe.fwd if checks else 0.0)
                   + 2 * (n + probe.n_test) * probe.fwd)       # initial and final evaluations
    return Estimate(SAFETY * n_minima * per_minimum, float(n_minima * train.epochs * n),
                    f"training {n_minima} minim{'um' if n_minima == 1 else 'a'}")


def center_estimate(probe: Probe, center_spec) -> Estimate:
    """Fitting one center: ``steps`` minibatch steps of B_r * B_t points each."""
    bs = min(center_spec.batch_size, probe.n_train)
    steps = center_spec.steps or center_spec.epochs * math.ceil(probe.n_train / bs)
    points = center_spec.n_t * center_spec.n_feet_per_step
    seconds = SAFETY * steps * (2 * probe.overhead + points * bs * probe.per_example)
    return Estimate(seconds, float(steps * bs * points), "fitting a center")


def path_estimate(probe: Probe, n_points: int, *, with_test: bool = True) -> Estimate:
    """Evaluating ``n_points`` parameter vectors on the training (and test) set."""
    passes = n_points * (probe.n_train + (probe.n_test if with_test else 0))
    return Estimate(SAFETY * passes * probe.fwd, float(passes), f"evaluating {n_points} points")


def slice_estimate(probe: Probe, resolution_a: int, resolution_b: int | None = None, *,
                   with_test: bool = False) -> Estimate:
    """A ``resolution_a x resolution_b`` slice."""
    rb = resolution_a if resolution_b is None else resolution_b
    e = path_estimate(probe, resolution_a * rb, with_test=with_test)
    return Estimate(e.seconds, e.passes, f"a {resolution_a} x {rb} slice")


def star_estimate(probe: Probe, n_minima: int, n_points: int, *, with_test: bool = True) -> Estimate:
    """A star report's paths (the center fit not included)."""
    n = star_points(n_minima, n_points)
    e = path_estimate(probe, n, with_test=with_test)
    return Estimate(e.seconds, e.passes, f"a star over {n_minima} minima ({n:,} path points)")


def sweep_estimate(base, field: str, values, center_spec, center_mode: str = "pair", *,
                   n_points: int = 21, device="auto") -> Estimate:
    """Training, center fitting and path evaluation for every value of ``field`` (ignoring what
    the cache already holds); probes each value's model, as width changes the cost."""
    total = Estimate(0.0, 0.0, "")
    for v in values:
        exp = base.replace(**{field: v})
        probe = timing_probe(exp.model, exp.data, exp.train.batch_size, device=device)
        k = exp.n_minima
        pairs = k * (k - 1) // 2
        n_centers = pairs if center_mode == "pair" else 1
        c = center_estimate(probe, center_spec)
        p = path_estimate(probe, pairs * 3 * n_points, with_test=False)
        t = training_estimate(probe, exp.train, k)
        total = Estimate(total.seconds + t.seconds + n_centers * c.seconds + p.seconds,
                         total.passes + t.passes + n_centers * c.passes + p.passes, "")
    n = len(tuple(values))
    return Estimate(total.seconds, total.passes,
                    f"a sweep of {field} over {n} value{'s' if n != 1 else ''}")


__all__ = ["BudgetError", "Estimate", "Probe", "MAX_PARAMS", "MAX_TRAIN_MEMORY", "MAX_PATH_POINTS",
           "MAX_SLICE_POINTS", "MAX_SWEEP_MINIMA", "MAX_SWEEP_CENTERS", "configure_threads",
           "device_label", "parameter_count", "train_memory_bytes", "check_model", "check_star",
           "star_points", "check_slice", "check_sweep", "timing_probe", "training_estimate",
           "center_estimate", "path_estimate", "slice_estimate", "star_estimate",
           "sweep_estimate", "format_seconds"]
