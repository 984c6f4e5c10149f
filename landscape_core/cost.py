"""What a computation will cost, before it runs: time estimates and pre-flight limits.

Longer than 400 lines: the probe, the work model and the estimates built from the probe's parts
are one calibrated model of the device (bench/bench_estimates.py checks them together), and the
limits share its sizes; split apart, each part would import the others' internals.

Two halves, both free of Streamlit:

- **Estimates.** ``timing_probe`` measures this device on the model and data at hand, each
  quantity the median of a few short runs after a warm-up (on a CPU in the calling thread's
  CPU time, which other processes do not inflate: the estimates are for an otherwise idle
  machine and the text says that other work slows it down): a training step as a fixed overhead
  plus a per-example part; a plain evaluation of one point (what training runs after every
  epoch when a target is set); an affine evaluation of many points (``evaluate_affine``, the
  call behind paths and slices, with the engine's first-layer shortcut and chunking) as a
  per-call and a per-point part; a few steps of the real center trainer with P = B_r x B_t
  points. The probe is
  memoised per model, data, batch size and device, measured again once older than
  ``PROBE_MAX_AGE`` seconds, and forgotten at once when ``observe`` reports a run that took
  more than twice or less than half its estimate, so a probe taken on a busy machine is not
  kept. ``training_estimate``, ``center_estimate``, ``path_estimate``, ``slice_estimate``,
  ``star_estimate`` and ``sweep_estimate`` model what each task runs from those parts and
  return an ``Estimate(seconds, passes, what, upper)``; ``passes`` is the work in
  multiply-adds (``forward_work``: forward and backward passes weighted by the model's size,
  so a wider model is more work). Training to a target may stop early: pass the epochs that
  cached minima of the recipe ran (``epochs_seen``), else the estimate is an upper bound
  (``upper``). ``Estimate.text()`` is the sentence to show. Measured against the real runs in
  ``bench/bench_estimates.py`` (``docs/benchmarks.md``, "Cost estimates vs actual").
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
SAFETY = 1.0                     # estimates are scaled by this (calibrated in bench/bench_estimates.py)
OVERRIDE = "pass force=True (the CLI's --force) to run it anyway"


class BudgetError(ValueError):
    """A request above a pre-flight limit; the message names the estimate, the limit and the override."""


@dataclass(frozen=True)
class Estimate:
    """An estimated cost: wall seconds on this device and the work in multiply-adds (forward
    and backward passes weighted by the model's size, so a wider model is more work); ``upper``
    when the work may stop early (training to a target) and ``seconds`` is its longest run."""
    seconds: float
    passes: float
    what: str
    upper: bool = False

    def __add__(self, other: "Estimate") -> "Estimate":
        return Estimate(self.seconds + other.seconds, self.passes + other.passes,
                        f"{self.what} and {other.what}", self.upper or other.upper)

    def text(self, device: str | None = None) -> str:
        """One sentence: 'Estimated cost of training 3 minima: ≈ 12 s (4.1e+09 multiply-adds)
        on CPU (1 thread); an estimate from a timing probe, other work slows it down.'"""
        return (f"Estimated cost of {self.what}: {'at most ' if self.upper and self.seconds >= 0.5 else ''}"
                f"{format_seconds(self.seconds)} ({self.passes:.2g} multiply-adds) on "
                f"{device or device_label()}; an estimate from a timing probe, other work on the "
                "machine slows it down.")


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


# ------------------------------------------------------------------------------ work
@dataclass(frozen=True)
class Work:
    """Multiply-adds of one forward pass of one example: the whole model, and its first
    Linear/Conv2d (the part the engine's first-layer shortcut computes once per data batch
    instead of once per point) with the floats of that layer's output per example."""
    macs: float
    first_macs: float = 0.0
    first_out: float = 0.0

    def point(self, n_directions: int | None = None) -> float:
        """Multiply-adds per point and example: the whole model, or with the first-layer
        shortcut for an affine family of ``n_directions`` directions the rest of the model plus
        the combination of the J + 1 first-layer products."""
        if n_directions is None or not self.first_macs:
            return self.macs
        return self.macs - self.first_macs + (n_directions + 1) * self.first_out

    def per_call(self, n_directions: int) -> float:
        """Multiply-adds per example of one affine evaluation call: the J + 1 first-layer products."""
        return (n_directions + 1) * self.first_macs if self.first_macs else 0.0


_WORK: dict = {}


def forward_work(model_spec) -> Work:
    """``Work`` of ``model_spec``, counted with forward hooks on the meta device (nothing
    allocated): Linear in x out, Conv out_numel x in/groups x kernel, other layers with
    parameters one per output float. Falls back to the parameter count D when the model
    cannot run on the meta device."""
    if model_spec in _WORK:
        return _WORK[model_spec]
    from torch import nn
    from .models import build_model
    total, first = 0.0, None

    def hook(m, inputs, out):
        nonlocal total, first
        if not isinstance(out, torch.Tensor) or out.ndim == 0:
            return
        per = out.numel() / out.shape[0]
        if isinstance(m, nn.Linear):
            macs = per * m.in_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            macs = per * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        elif any(True for _ in m.parameters(recurse=False)):
            macs = per
        else:
            return
        total += macs
        if first is None and isinstance(m, (nn.Linear, nn.Conv2d)):
            first = (macs, per)
    try:
        with torch.device("meta"):
            net = build_model(model_spec, 0)
            hooks = [m.register_forward_hook(hook) for m in net.modules()]
            with torch.no_grad():
                net(torch.zeros(2, *model_spec.input_shape))
        for h in hooks:
            h.remove()
    except Exception:   # a model the meta device cannot run: count parameters
        total, first = 0.0, None
    if total <= 0:
        work = Work(float(parameter_count(model_spec)))
    else:
        work = Work(total, *(first or (0.0, 0.0)))
    _WORK[model_spec] = work
    return work


# ------------------------------------------------------------------------------ estimates
@dataclass(frozen=True)
class Probe:
    """Measured on one device (medians of a few short runs; on a CPU in seconds of the calling
    thread's CPU time, which is the wall time on an otherwise idle machine and is not inflated
    by other processes; on a GPU in wall seconds):

    - a training step = ``overhead + per_example * batch`` (Adam, forward and backward, the
      minibatch gathered from a permutation as ``training`` does);
    - a plain evaluation of one point on n examples (an ``Evaluator`` built and run, as after
      each epoch when a target is set) = ``eval_overhead + fwd * n``;
    - an affine evaluation (``evaluate_affine``: paths and slices, with the first-layer shortcut
      and the engine's chunking) of K points on n examples = ``affine_setup`` (once per
      evaluator) ``+ n * (affine_fixed + K * affine_point)``;
    - a center fit (``center.find_center``, whatever route it takes for the model) =
      ``center_setup`` + per step with P points (B_r x B_t) on a minibatch of b examples
      ``center_overhead + P * (center_point + b * center_example)``;
    - ``build``: building the model; ``work``: its multiply-adds (``forward_work``);
      ``measured_at``: the probe clock's time of the measurement (staleness).

    A Probe built by hand with only the first six fields falls back to ``fwd`` for affine
    evaluations and to training steps for center steps.
    """
    overhead: float
    per_example: float
    fwd: float
    n_train: int
    n_test: int
    device: str
    eval_overhead: float = 0.0
    affine_point: float | None = None
    affine_fixed: float = 0.0
    affine_setup: float = 0.0
    center_overhead: float | None = None
    center_point: float = 0.0
    center_example: float = 0.0
    center_setup: float = 0.0
    batch_size: int = 0
    build: float = 0.0
    work: Work | None = None
    measured_at: float = 0.0

    def step_seconds(self, batch: float) -> float:
        """One training step on ``batch`` examples."""
        return self.overhead + batch * self.per_example

    def eval_seconds(self, n: float) -> float:
        """One plain evaluation of one point on ``n`` examples, the Evaluator built for it."""
        return self.eval_overhead + n * self.fwd

    def affine_seconds(self, n_points: float, n: float, calls: float = 1) -> float:
        """``calls`` affine evaluations of ``n_points`` points in all on ``n`` examples each."""
        if self.affine_point is None:
            return calls * self.eval_overhead + n_points * n * self.fwd
        return self.affine_setup + calls * n * self.affine_fixed + n_points * n * self.affine_point

    def center_step_seconds(self, points: int, batch: float) -> float:
        """One center step: ``points`` interpolated points sharing a minibatch of ``batch``."""
        if self.center_overhead is None:
            return 2 * self.overhead + points * batch * self.per_example
        return self.center_overhead + points * (self.center_point + batch * self.center_example)

    def macs(self) -> float:
        return self.work.macs if self.work is not None else 1.0


PROBE_MAX_AGE = 600.0          # seconds after which a memoised probe is measured again
_PROBES: dict = {}
_PROBE_LOCK = threading.Lock()
_clock = time.monotonic         # the probe clock (tests inject their own)


def _seconds(run, sync, tick=time.perf_counter) -> float:
    t0 = tick()
    run()
    sync()
    return tick() - t0


def _median_seconds(run, reps: int, sync, tick=time.perf_counter, min_seconds: float = 5e-3,
                    max_seconds: float = 1.0) -> float:
    """Median over up to ``reps`` samples of one ``run`` (after a warm-up); each sample repeats
    a fast run until it lasts about ``min_seconds`` (timer noise), and sampling stops early once
    ``max_seconds`` are spent (a large model's probe stays short)."""
    run()
    sync()
    first = _seconds(run, sync, tick)
    k = max(1, min(50, math.ceil(min_seconds / max(first, 1e-7))))
    times = [first] if k == 1 else []
    spent = first
    while len(times) < reps and (spent < max_seconds or not times):
        t0 = tick()
        for _ in range(k):
            run()
        sync()
        dt = tick() - t0
        spent += dt
        times.append(dt / k)
    return float(np.median(times))


def _line(x1: float, t1: float, x2: float, t2: float) -> tuple[float, float]:
    """(intercept, slope) >= 0 of the line through (x1, t1) and (x2, t2), x2 > x1."""
    slope = max(t2 - t1, 0.0) / (x2 - x1) if x2 > x1 else 0.0
    return max(t1 - slope * x1, 0.0), slope


@validate_params(batch_size=Int(2, 1_000_000), repeats=Int(1, 50))
def timing_probe(model_spec, data_spec, batch_size: int = 64, *, device="auto", repeats: int = 5,
                 force: bool = False, max_age: float | None = None, clock=None,
                 refresh: bool = False) -> Probe:
    """Time this device on the model and data at hand: training steps, plain and affine
    evaluations and center steps (medians of ``repeats`` short runs after a warm-up; on a CPU
    the calling thread's CPU time, so other processes on a shared machine do not inflate it and
    the estimates are for this machine when it is otherwise idle).

    Memoised per model, data, batch size and device; a memoised probe older than ``max_age``
    seconds (default ``PROBE_MAX_AGE``) by ``clock`` (default ``time.monotonic``), or one that
    ``observe`` found far off, is measured again; ``refresh=True`` always measures.
    """
    from .data import load_dataset
    from .evaluate import Evaluator, per_sample_loss, resolve_device
    from .models import build_model
    from .params import flatten
    dev = resolve_device(device)
    clock = clock or _clock
    max_age = PROBE_MAX_AGE if max_age is None else max_age
    memo = (model_spec, data_spec, batch_size, str(dev), repeats)
    now = clock()
    with _PROBE_LOCK:
        old = _PROBES.get(memo)
        if old is not None and not refresh and 0 <= now - old.measured_at <= max_age:
            return old
    check_model(model_spec, dev, force=force)
    ds = load_dataset(data_spec)
    # CPU: the calling thread's CPU time (intra-op workers spin with it), which other processes
    # on the machine do not inflate; a GPU runs asynchronously: wall time after a sync
    tick = time.perf_counter if dev.type == "cuda" else time.thread_time
    t0 = tick()
    net = build_model(model_spec, 0)
    build = tick() - t0
    net = net.to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-6)
    batch = max(2, min(batch_size, ds.n_train))
    X, y = ds.X_train.to(dev), ds.y_train.to(dev)
    gen = torch.Generator().manual_seed(0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    perm = torch.randperm(X.shape[0], generator=gen).to(dev)   # drawn once per epoch in training

    def step(n):                                    # what training._fit does per step
        def run():
            idx = perm[:n]
            loss = per_sample_loss(net(X[idx]), y[idx], ds.loss).mean()
            bool(torch.isfinite(loss))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run
    small = max(1, min(8, batch // 8))
    t_small = _median_seconds(step(small), repeats, sync, tick)
    t_batch = _median_seconds(step(batch), repeats, sync, tick)
    overhead, per_example = _line(small, t_small, batch, t_batch)
    net.eval()

    def plain(n):                                   # what training does after each epoch
        return lambda: Evaluator(net, X[:n], y[:n], loss=ds.loss, device=dev,
                                 bn_policy="eval").evaluate(flatten(net))
    fwd_guess = max(per_example / 3, 1e-9)          # a forward pass is ~1/3 of a step's work
    n_big = min(ds.n_train, 2048, max(64, int(0.2 / fwd_guess)))
    n_small = min(n_big, 64)
    reps = max(1, min(3, repeats))
    t_big = _median_seconds(plain(n_big), reps, sync, tick)
    if n_big > n_small:
        t_small_eval = _median_seconds(plain(n_small), reps, sync, tick)
        eval_overhead, fwd = _line(n_small, t_small_eval, n_big, t_big)
    else:
        eval_overhead, fwd = 0.0, t_big / n_big
    fwd = fwd or t_big / n_big

    # affine evaluation (paths, slices): first-layer shortcut, chunks, as the pages call it
    n_aff = min(ds.n_train, 1024, max(16, int(0.05 / (4 * fwd_guess))))
    theta = flatten(net)
    dirs = 1e-2 * torch.randn(2, theta.numel(), generator=gen).to(dev)
    ev = Evaluator(net, X[:n_aff], y[:n_aff], loss=ds.loss, device=dev, bn_policy="recompute")
    grid = lambda k: np.stack([np.linspace(-1, 1, k), np.linspace(1, -1, k)], axis=1)
    affine = lambda k: (lambda: ev.evaluate_affine(theta, dirs, grid(k)))
    k1 = 4
    t_first = _seconds(affine(k1), sync, tick)      # the first call traces the model
    a1 = _median_seconds(affine(k1), reps, sync, tick)
    k2 = 16                                         # enough points for ~20 ms: a steady slope
    while _seconds(affine(k2), sync, tick) < 0.02 and k2 < 4096:
        k2 *= 4
    a2 = _median_seconds(affine(k2), reps, sync, tick)
    fixed, per_point = _line(k1, a1, k2, a2)
    per_point = per_point or a2 / k2

    # center steps: the real trainer (center.find_center, whatever route it takes for this
    # model), S steps minus one step, at P = 1 and 4 points and two minibatch sizes
    from .center import CenterSpec, find_center
    feet = theta.cpu() + 1e-2 * torch.randn(2, theta.numel(), generator=gen)
    steps = 17

    def fit(points, n, k):
        spec = CenterSpec(n_t=points, batch_size=n, steps=k, lr=1e-6, lr_schedule="constant")
        return lambda: find_center(feet, model=net, X=ds.X_train, y=ds.y_train, spec=spec,
                                   loss=ds.loss, device=dev)
    cb = min(batch, max(8, int(0.05 / (4 * max(per_example, 1e-9)))))   # ~50 ms at most
    c_small_b = max(1, cb // 4)
    try:
        one = _median_seconds(fit(1, cb, 1), reps, sync, tick)
        c1, c4, c4s = (max(_median_seconds(fit(pts, b, steps), reps, sync, tick) - one, 0.0)
                       / (steps - 1) for pts, b in ((1, cb), (4, cb), (4, c_small_b)))
    except Exception:   # a model the trainer refuses: center estimates from training steps
        c_setup = c_example = c_point = 0.0
        c_overhead = None
    else:
        c_setup = max(one - c1, 0.0)
        c_example = max(c4 - c4s, 0.0) / (4 * (cb - c_small_b)) if cb > c_small_b else 0.0
        c_point = max((c4 - c1) / 3 - cb * c_example, 0.0)
        c_overhead = max(c1 - c_point - cb * c_example, 0.0)

    probe = Probe(overhead, per_example, fwd, ds.n_train, ds.n_test, str(dev),
                  eval_overhead=eval_overhead, affine_point=per_point / n_aff, affine_fixed=fixed / n_aff,
                  affine_setup=max(t_first - a1, 0.0), center_overhead=c_overhead,
                  center_setup=c_setup,
                  center_point=c_point, center_example=c_example, batch_size=batch, build=build,
                  work=forward_work(model_spec), measured_at=now)
    with _PROBE_LOCK:
        _PROBES[memo] = probe
    return probe


def observe(probe: Probe, estimated_seconds: float, actual_seconds: float, *,
            tolerance: float = 2.0) -> bool:
    """Report how long estimated work really took (measured as the probe measures: on a CPU
    the thread's CPU time, or the wall time on an otherwise idle machine). When the two differ
    by more than a factor ``tolerance`` the probe is forgotten, so the next ``timing_probe`` measures again (a probe
    taken while the machine was busy is not kept for good). Returns True if it was forgotten."""
    if not (estimated_seconds > 0 and actual_seconds > 0):
        return False
    ratio = estimated_seconds / actual_seconds
    if 1 / tolerance <= ratio <= tolerance:
        return False
    with _PROBE_LOCK:
        for key in [k for k, p in _PROBES.items() if p is probe]:
            del _PROBES[key]
    return True


def _minima(n: int) -> str:
    return f"{n} minim{'um' if n == 1 else 'a'}"


def training_estimate(probe: Probe, train, n_minima: int, *,
                      expected_epochs: float | None = None) -> Estimate:
    """Training ``n_minima`` minima with TrainSpec ``train``.

    Per minimum: every epoch's steps (full batches and the last partial one), the full
    training-set evaluation after each epoch when a target is set, the evaluations before and
    after training and the model build. With a target, training may stop early: without
    ``expected_epochs`` (e.g. ``epochs_seen`` of cached minima of the same recipe) the estimate
    is for all ``train.epochs`` and says it is an upper bound.
    """
    n, bs = probe.n_train, min(train.batch_size, probe.n_train)
    full, rem = divmod(n, bs)
    per_epoch = full * probe.step_seconds(bs) + (probe.step_seconds(rem) if rem else 0.0)
    checks = train.target_train_acc is not None or train.target_train_loss is not None
    epochs = float(train.epochs) if expected_epochs is None else \
        min(float(train.epochs), max(1.0, float(expected_epochs)))
    per_minimum = (epochs * per_epoch + (epochs * probe.eval_seconds(n) if checks else 0.0)
                   + 2 * probe.eval_seconds(n) + probe.eval_seconds(probe.n_test) + probe.build)
    m = probe.macs()
    macs = epochs * n * 3 * m + ((epochs if checks else 0) * n + 2 * n + probe.n_test) * m
    upper = checks and expected_epochs is None
    what = f"training {_minima(n_minima)}"
    if upper:
        what += f" (for all {train.epochs} epochs; it stops earlier once the target is reached)"
    return Estimate(SAFETY * n_minima * per_minimum, float(n_minima * macs), what, upper=upper)


def epochs_seen(model_spec, data_spec, train, cache=None) -> float | None:
    """Mean number of epochs the cached minima of this model, data and recipe ran (None when
    there are none): the expected epochs of further seeds when training stops at a target."""
    from .training import cached_minima
    runs = [m.epochs for m in cached_minima(model_spec, data_spec, cache)
            if m.train is not None and m.train.key_dict() == train.key_dict() and m.epochs > 0]
    return float(np.mean(runs)) if runs else None


def center_estimate(probe: Probe, center_spec) -> Estimate:
    """Fitting one center: ``steps`` minibatch steps of B_r * B_t points each."""
    bs = min(center_spec.batch_size, probe.n_train)
    per_epoch = math.ceil(probe.n_train / bs)
    steps = center_spec.steps or center_spec.epochs * per_epoch
    mean_batch = bs if center_spec.steps else probe.n_train / per_epoch
    points = center_spec.n_t * center_spec.n_feet_per_step
    seconds = SAFETY * (steps * probe.center_step_seconds(points, mean_batch) + 2 * probe.build
                        + probe.center_setup)
    return Estimate(seconds, float(steps * points * mean_batch * 3 * probe.macs()), "fitting a center")


def _affine_macs(probe: Probe, n_points: int, n: int, calls: int, n_directions: int) -> float:
    if probe.work is None:
        return float(n_points * n)
    return n * (n_points * probe.work.point(n_directions) + calls * probe.work.per_call(n_directions))


def path_estimate(probe: Probe, n_points: int, *, with_test: bool = True,
                  n_paths: int = 1) -> Estimate:
    """Evaluating ``n_points`` parameter vectors along ``n_paths`` paths (one
    ``evaluate_affine`` call each) on the training (and test) set."""
    sets = [probe.n_train] + ([probe.n_test] if with_test else [])
    seconds = sum(probe.affine_seconds(n_points, n, n_paths) for n in sets)
    macs = sum(_affine_macs(probe, n_points, n, n_paths, 1) for n in sets)
    return Estimate(SAFETY * seconds, macs, f"evaluating {n_points} points")


def slice_estimate(probe: Probe, resolution_a: int, resolution_b: int | None = None, *,
                   with_test: bool = False) -> Estimate:
    """A ``resolution_a x resolution_b`` slice (one ``evaluate_affine`` call per set)."""
    rb = resolution_a if resolution_b is None else resolution_b
    k = resolution_a * rb
    sets = [probe.n_train] + ([probe.n_test] if with_test else [])
    seconds = sum(probe.affine_seconds(k, n) for n in sets)
    macs = sum(_affine_macs(probe, k, n, 1, 2) for n in sets)
    return Estimate(SAFETY * seconds, macs, f"a {resolution_a} x {rb} slice")


def star_estimate(probe: Probe, n_minima: int, n_points: int, *, with_test: bool = True) -> Estimate:
    """A star report's paths (the center fit not included): per pair a segment and a fold-line,
    per foot a spoke, each one evaluation call."""
    n = star_points(n_minima, n_points)
    pairs = n_minima * (n_minima - 1) // 2
    e = path_estimate(probe, n, with_test=with_test, n_paths=2 * pairs + n_minima)
    return Estimate(e.seconds, e.passes, f"a star over {n_minima} minima ({n:,} path points)")


def sweep_estimate(base, field: str, values, center_spec, center_mode: str = "pair", *,
                   n_points: int = 21, device="auto") -> Estimate:
    """Training, center fitting and path evaluation for every value of ``field`` (ignoring what
    the cache already holds); probes each value's model, as width changes the cost."""
    seconds, macs, upper = 0.0, 0.0, False
    for v in values:
        exp = base.replace(**{field: v})
        probe = timing_probe(exp.model, exp.data, exp.train.batch_size, device=device)
        k = exp.n_minima
        pairs = k * (k - 1) // 2
        n_centers = pairs if center_mode == "pair" else 1
        c = center_estimate(probe, center_spec)
        # per pair a segment (n_points) and a fold-line (2 n_points - 1), training set only
        p = path_estimate(probe, pairs * (3 * n_points - 1), with_test=False, n_paths=2 * pairs)
        t = training_estimate(probe, exp.train, k)
        evaluators = 2 * SAFETY * probe.eval_overhead
        seconds += t.seconds + n_centers * c.seconds + p.seconds + evaluators
        macs += t.passes + n_centers * c.passes + p.passes
        upper = upper or t.upper
    n = len(tuple(values))
    what = f"a sweep of {field} over {n} value{'s' if n != 1 else ''}"
    if upper:
        what += " (training for all epochs; it stops earlier once the target is reached)"
    return Estimate(seconds, macs, what, upper=upper)


__all__ = ["BudgetError", "Estimate", "Probe", "MAX_PARAMS", "MAX_TRAIN_MEMORY", "MAX_PATH_POINTS",
           "MAX_SLICE_POINTS", "MAX_SWEEP_MINIMA", "MAX_SWEEP_CENTERS", "configure_threads",
           "device_label", "parameter_count", "train_memory_bytes", "check_model", "check_star",
           "star_points", "check_slice", "check_sweep", "timing_probe", "training_estimate",
           "center_estimate", "path_estimate", "slice_estimate", "star_estimate",
           "sweep_estimate", "format_seconds", "Work", "forward_work", "observe", "epochs_seen",
           "PROBE_MAX_AGE"]
