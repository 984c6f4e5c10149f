"""Executors: independent units of work run in this process, in a local process pool, or on a
Dask cluster, with the content-addressed disk cache as the meeting point.

A unit of work is one minimum (specs + seed), one sweep value, or one center (a spec + the keys
of its feet), pure and named by its result's cache key: a worker computes it into the shared
``DiskCache`` (a folder every worker can reach) and returns the key; the parent reads results
by key. A unit already cached is not run, and one whose result appears while it starts returns
at once, so a finished unit is never recomputed.

- ``SerialExecutor``: the units one after another in this process (today's numbers).
- ``LocalExecutor(workers=N)``: a ``concurrent.futures.ProcessPoolExecutor`` ("spawn"); one
  worker per GPU when there are several (each pinned to its device through
  ``CUDA_VISIBLE_DEVICES``), else N CPU workers with one torch thread each. No dependency.
- ``DaskExecutor(address)``: Dask tasks keyed by cache keys (one task per key, deduplicated by
  the scheduler, not file locks), ``retries=2``: a dead worker loses only its unit. Needs
  ``requirements-cluster.txt``; see README, "Beyond one machine".

``journal``: a folder where every computing unit drops ``<kind>-<key>-...start`` and ``.done``.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from ._validation import Int, Options, validate_params

Progress = Callable[[float, str], None]
EXECUTORS = ("serial", "local", "dask")


# ----------------------------------------------------------------------------- units
@dataclass(frozen=True)
class Unit:
    """One unit of work: ``unit()`` computes its result into ``DiskCache(cache_root)`` (unless
    it is there already) and returns its cache key."""
    key: str
    cache_root: str
    kind: ClassVar[str] = ""

    def cached(self, cache) -> bool:
        return cache.load(self.kind, self.key, validate=self._validate()) is not None

    def _validate(self):
        return None

    def compute(self, cache) -> None:      # pragma: no cover - abstract
        raise NotImplementedError

    def label(self) -> str:
        return f"{self.kind} {self.key[:8]}"


@dataclass(frozen=True)
class MinimumUnit(Unit):
    """One trained minimum (``training.minimum_key``)."""
    model: object = None
    data: object = None
    train: object = None
    seed: int = 0
    device: str = "auto"
    force: bool = False
    kind: ClassVar[str] = "minimum"

    def _validate(self):
        from .training import check_minimum_entry
        return check_minimum_entry

    def compute(self, cache) -> None:
        from .training import train_minima
        train_minima(self.model, self.data, self.train, seeds=[self.seed], cache=cache,
                     device=self.device, force=self.force)

    def label(self) -> str:
        return f"minimum seed {self.seed}"


@dataclass(frozen=True)
class SweepValueUnit(Unit):
    """One value of a sweep: its minima, centers and rows (the ``sweep_point`` entry)."""
    base: object = None
    field: str = ""
    value: object = None
    options: tuple = ()                     # sweep keywords as (name, value) pairs
    kind: ClassVar[str] = "sweep_point"

    def compute(self, cache) -> None:
        from .sweeps import sweep
        sweep(self.base, self.field, [self.value], cache=cache, **dict(self.options))

    def label(self) -> str:
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class CenterUnit(Unit):
    """One center of cached minima (named by their keys) with a ``CenterSpec``."""
    feet: tuple = ()
    spec: object = None
    device: str = "auto"
    kind: ClassVar[str] = "center"

    def compute(self, cache) -> None:
        from .center import center_for_minima
        center_for_minima(_load_minima(cache, self.feet), self.spec, cache=cache, device=self.device)


def _load_minima(cache, keys) -> list:
    from .training import check_minimum_entry, minimum_from_entry
    out = []
    for k in keys:
        entry = cache.load("minimum", k, validate=check_minimum_entry)
        if entry is None:
            raise LookupError(f"The minimum {k} is not in the cache {cache.root}; train it first "
                              "(every worker must see the same cache folder).")
        out.append(minimum_from_entry(entry))
    return out


def run_unit(unit: Unit, journal: str | None = None) -> str:
    """Run one unit where it is called (a worker): nothing if its result is cached already."""
    from .cache import DiskCache
    cache = DiskCache(unit.cache_root)
    if unit.cached(cache):
        return unit.key
    stem = f"{unit.kind}-{unit.key}-{os.getpid()}-{secrets.token_hex(3)}-{socket.gethostname()}"
    _mark(journal, stem + ".start")
    unit.compute(cache)
    _mark(journal, stem + ".done")
    return unit.key


def _mark(journal: str | None, name: str) -> None:
    if journal:
        Path(journal).mkdir(parents=True, exist_ok=True)
        (Path(journal) / name).touch()


def journal_counts(journal, state: str = "done") -> dict:
    """{(kind, key): number of ``state`` marks} found in a journal folder."""
    counts: dict = {}
    for p in Path(journal).glob(f"*.{state}"):
        kind, key = p.name.split("-")[:2]
        counts[(kind, key)] = counts.get((kind, key), 0) + 1
    return counts


# ----------------------------------------------------------------------------- executors
class Executor:
    """Runs units and returns their keys (in the order given). Subclasses implement ``_run``."""
    name: ClassVar[str] = ""

    def __init__(self, journal: str | os.PathLike | None = None):
        self.journal = None if journal is None else str(Path(journal).resolve())

    def run(self, units, *, progress: Progress | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[str]:
        """Run every unit whose result is not yet cached; ``TrainingStopped`` (remaining units
        cancelled, finished ones kept) when ``should_stop()`` turns True."""
        from .cache import DiskCache
        units = list(units)
        todo, seen = [], set()
        for u in units:
            if (u.kind, u.key) not in seen and not DiskCache(u.cache_root).path(u.kind, u.key).is_file():
                todo.append(u)
            seen.add((u.kind, u.key))
        report = progress or (lambda f, m: None)
        if todo:
            done = 0
            for u in self._run(todo, should_stop or (lambda: False)):
                done += 1
                report(done / len(todo), f"{u.label()} done ({done}/{len(todo)} on {self.describe()})")
        return [u.key for u in units]

    def minima(self, model, data, train, seeds, cache, **kwargs) -> list[str]:
        """``run_minima(self, ...)``: train the uncached minima of ``seeds`` as units."""
        return run_minima(self, model, data, train, seeds, cache, **kwargs)

    def _run(self, units, should_stop):       # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _stopped():
    from .training import TrainingStopped
    return TrainingStopped("stopped; the units already finished are kept in the cache")


class SerialExecutor(Executor):
    """The units one after another in this process."""
    name = "serial"

    def _run(self, units, should_stop):
        for u in units:
            if should_stop():
                raise _stopped()
            run_unit(u, self.journal)
            yield u


def _init_worker(devices, threads: int) -> None:
    """Pool initializer: pin this worker to one GPU (a queue of device ids) or set its threads."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(devices.get())
    else:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        import torch
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _plain_main():
    """Hide ``__main__`` while workers start: "spawn" re-runs it in each worker, and inside
    Streamlit it is the page being shown (its script runner installs the page there)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _gpu_count() -> int:
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class LocalExecutor(Executor):
    """A process pool on this machine ("spawn"): one worker per GPU when there are several,
    each pinned to its device, else ``workers`` CPU workers with ``threads`` torch threads."""
    name = "local"

    @validate_params(workers=Int(1, 1024, none=True), threads=Int(1, 1024))
    def __init__(self, workers: int | None = None, *, threads: int = 1, journal=None):
        super().__init__(journal)
        self.gpus = _gpu_count()
        if self.gpus > 1:
            self.workers = min(workers or self.gpus, self.gpus)
        else:
            self.workers = workers or os.cpu_count() or 1
        self.threads, self._pool = threads, None

    def describe(self) -> str:
        what = "GPU" if self.gpus > 1 else "CPU"
        return f"{self.workers} local {what} worker{'s' if self.workers != 1 else ''}"

    def _executor(self):
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            ctx = mp.get_context("spawn")
            devices = None
            if self.gpus > 1:
                devices = ctx.Queue()
                for i in range(self.workers):
                    devices.put(i)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(devices, self.threads))
        return self._pool

    def _run(self, units, should_stop):
        from concurrent.futures import FIRST_COMPLETED, wait
        pool = self._executor()
        with _plain_main():                        # workers start here ("spawn")
            pending = {pool.submit(run_unit, u, self.journal): u for u in units}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for f in done:
                    u = pending.pop(f)
                    f.result()                     # a unit's error surfaces here
                    yield u
                if pending and should_stop():
                    raise _stopped()
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Units as Dask tasks: ``key=<kind>-<cache key>`` (one task per key), ``retries``.

    ``address``: the scheduler (``tcp://host:8786``); or pass a ``distributed.Client``.
    ``resources``: what each unit needs of a worker, e.g. ``{"GPU": 1}`` for workers started
    with ``dask worker ... --resources GPU=1``.
    """
    name = "dask"

    @validate_params(retries=Int(0, 100))
    def __init__(self, address: str | None = None, *, client=None, resources: dict | None = None,
                 retries: int = 2, journal=None, timeout: float = 30.0):
        super().__init__(journal)
        if client is None:
            if not address:
                raise ValueError("DaskExecutor needs the scheduler's address (e.g. "
                                 "tcp://127.0.0.1:8786) or a distributed.Client.")
            try:
                from distributed import Client
            except ImportError:
                raise ImportError("The dask executor needs Dask: pip install -r "
                                  "requirements-cluster.txt (dask and distributed).") from None
            client, self._own = Client(address, timeout=timeout), True
        else:
            self._own = False
        self.client, self.resources, self.retries = client, resources, retries

    def describe(self) -> str:
        return f"dask {self.client.scheduler.address}"

    def _run(self, units, should_stop):
        from distributed import as_completed
        futures = {self.client.submit(run_unit, u, self.journal, key=f"{u.kind}-{u.key}", pure=False,
                                      retries=self.retries, resources=self.resources): u
                   for u in units}
        pending = set(futures)
        try:
            for f in as_completed(list(futures)):
                pending.discard(f)
                f.result()
                yield futures[f]
                if pending and should_stop():
                    raise _stopped()
        finally:
            if pending:
                self.client.cancel(list(pending))
            futures.clear()

    def close(self) -> None:
        if self._own:
            self.client.close()


@validate_params(name=Options(EXECUTORS), workers=Int(1, 1024, none=True))
def make_executor(name: str = "serial", *, workers: int | None = None, address: str | None = None,
                  device: str = "auto") -> Executor:
    """The executor the CLI's ``--executor/--workers/--address`` name (units ask for a GPU
    resource on Dask when ``device == "cuda"``)."""
    if name == "serial":
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    return DaskExecutor(address, resources={"GPU": 1} if device == "cuda" else None)


# ----------------------------------------------------------------------------- helpers
def run_minima(executor: Executor, model, data, train, seeds, cache, *, device="auto", force=False,
               progress: Progress | None = None, should_stop=None) -> list[str]:
    """Train the minima of ``seeds`` through ``executor`` into ``cache``; their keys."""
    from .training import minimum_key
    root = os.path.abspath(cache.root)
    return executor.run([MinimumUnit(minimum_key(model, data, train, s), root, model, data, train, s,
                                     device, force) for s in seeds],
                        progress=progress, should_stop=should_stop)


def fit_centers(executor: Executor, groups, spec, cache, *, device="auto",
                progress: Progress | None = None, should_stop=None) -> list:
    """The centers of several groups of cached minima, fitted through ``executor``."""
    from types import SimpleNamespace

    from .center import center_for_minima, center_key
    root = os.path.abspath(cache.root)
    groups = [list(g) for g in groups]
    executor.run([CenterUnit(center_key([SimpleNamespace(key=m.key) for m in g], spec), root,
                             tuple(m.key for m in g), spec, device) for g in groups],
                 progress=progress, should_stop=should_stop)
    return [center_for_minima(g, spec, cache=cache, device=device) for g in groups]


def run_sweep_values(executor: Executor, base, field, values, keys, cache, *, progress=None,
                     should_stop=None, **options) -> list[str]:
    """Compute the values of a sweep (their ``sweep_point`` entries, ``keys``) through
    ``executor``; ``options`` are ``sweep``'s keywords (center_spec, center_mode, ...)."""
    root, opts = os.path.abspath(cache.root), tuple(sorted(options.items()))
    sub = None if progress is None else (lambda f, m: progress(0.95 * f, m))
    return executor.run([SweepValueUnit(k, root, base, field, v, opts) for v, k in zip(values, keys)],
                        progress=sub, should_stop=should_stop)
