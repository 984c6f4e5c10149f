"""Train independent minima (one seed each), cached one by one on disk.

A minimum records its specs, seed, final train/test loss and accuracy and wall time. A run
that produces NaN/inf raises ``TrainingDivergedError`` and is never stored. Interrupting a
run of N minima keeps every minimum already finished (each is its own cache entry).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .cache import DiskCache, make_key
from .config import DataSpec, ModelSpec, TrainSpec, spec_dict
from .evaluate import Evaluator, per_sample_loss, resolve_device
from .models import build_model
from .params import bn_buffers, flatten

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


class TrainingDivergedError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class TrainingStopped(RuntimeError):
    """The caller asked to stop; minima finished before the request are kept in the cache."""


@dataclass(frozen=True)
class Minimum:
    """One trained (or loaded) minimum: a flat parameter vector and how it was obtained."""
    model: ModelSpec
    data: DataSpec
    train: TrainSpec | None      # None for uploaded checkpoints
    seed: int
    theta: torch.Tensor          # (D,) float32, CPU
    buffers: dict                # BatchNorm running statistics at the end of training
    train_loss: float
    train_acc: float | None
    test_loss: float
    test_acc: float | None
    wall_time: float
    epochs: int
    key: str
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"seed {self.seed}"

    def summary(self) -> dict:
        return {"name": self.name, "seed": self.seed, "train_loss": self.train_loss,
                "train_acc": self.train_acc, "test_loss": self.test_loss,
                "test_acc": self.test_acc, "epochs": self.epochs, "wall_time_s": self.wall_time,
                "key": self.key}


def minimum_key(model: ModelSpec, data: DataSpec, train: TrainSpec, seed: int) -> str:
    return make_key("minimum", {"model": spec_dict(model), "data": data.key_dict(),
                                "train": train.key_dict(), "seed": int(seed)})


def train_minima(model: ModelSpec, data: DataSpec, train: TrainSpec, *, seeds=None,
                 n_minima: int = 3, cache: DiskCache | None = None, use_cache: bool = True,
                 progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                 device="auto") -> list[Minimum]:
    """Train (or fetch from the cache) one minimum per seed.

    Parameters
    ----------
    seeds : iterable of int, optional
        Default ``range(n_minima)``. The seed fixes the initialisation and the data order.
    progress : callable(fraction, message), optional
    should_stop : callable() -> bool, optional
        Polled every step; when it returns True, ``TrainingStopped`` is raised after the
        minima already finished have been stored.
    """
    seeds = list(range(n_minima)) if seeds is None else [int(s) for s in seeds]
    cache = cache or DiskCache()
    out = []
    for i, seed in enumerate(seeds):
        def sub(f, msg, i=i):
            if progress is not None:
                progress((i + f) / len(seeds), f"minimum {i + 1}/{len(seeds)} (seed {seed}): {msg}")
        if not use_cache:
            out.append(train_minimum(model, data, train, seed, progress=sub,
                                     should_stop=should_stop, device=device))
            continue
        key = minimum_key(model, data, train, seed)
        entry = cache.load("minimum", key)
        if entry is None:
            with _training_lock(cache, key, sub, should_stop):
                entry = cache.load("minimum", key)      # another process may have trained it
                if entry is None:
                    m = train_minimum(model, data, train, seed, progress=sub,
                                      should_stop=should_stop, device=device)
                    entry = cache.save("minimum", key, _meta(m), _arrays(m))
        out.append(minimum_from_entry(entry))
        sub(1.0, "done")
    return out


@contextlib.contextmanager
def _training_lock(cache: DiskCache, key: str, progress, should_stop):
    """Per-minimum file lock: two processes asking for the same minimum train it once."""
    from filelock import FileLock, Timeout
    (cache.root / "minimum").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(cache.root / "minimum" / f"{key}.lock"))
    while True:
        try:
            lock.acquire(timeout=0.5)
            break
        except Timeout:
            progress(0.0, "another process is training this minimum; waiting for it")
            if should_stop is not None and should_stop():
                raise TrainingStopped("stopped while waiting for another process") from None
    try:
        yield
    finally:
        lock.release()


def _meta(m: Minimum) -> dict:
    return {"model": spec_dict(m.model), "data": spec_dict(m.data),
            "train": spec_dict(m.train) if m.train else None, "seed": m.seed,
            "train_loss": m.train_loss, "train_acc": m.train_acc, "test_loss": m.test_loss,
            "test_acc": m.test_acc, "wall_time": m.wall_time, "epochs": m.epochs, "label": m.label}


def _arrays(m: Minimum) -> dict:
    arrays = {"theta": m.theta.numpy()}
    arrays.update({f"buffer.{k}": v.cpu().numpy() for k, v in m.buffers.items()})
    return arrays


def minimum_from_entry(entry) -> Minimum:
    """Rebuild a ``Minimum`` from its cache entry."""
    meta = entry.meta
    strip = lambda d: {k: v for k, v in d.items() if k != "__type__"}
    train = TrainSpec(**strip(meta["train"])) if meta.get("train") else None
    buffers = {k[7:]: torch.from_numpy(np.array(v)) for k, v in entry.arrays.items()
               if k.startswith("buffer.")}
    return Minimum(ModelSpec(**strip(meta["model"])), DataSpec(**strip(meta["data"])), train,
                   meta["seed"], torch.from_numpy(np.array(entry.arrays["theta"])), buffers,
                   meta["train_loss"], meta["train_acc"], meta["test_loss"], meta["test_acc"],
                   meta["wall_time"], meta["epochs"], entry.key, meta.get("label", ""))


def store_minimum(m: Minimum, cache: DiskCache | None = None) -> Minimum:
    """Store an uploaded/loaded minimum in the cache under its own key."""
    (cache or DiskCache()).save("minimum", m.key, _meta(m), _arrays(m))
    return m


def train_minimum(model_spec: ModelSpec, data_spec: DataSpec, train: TrainSpec, seed: int, *,
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                  device="auto") -> Minimum:
    """Train one minimum from the seeded initialisation with Adam or SGD (no caching)."""
    from .data import load_dataset
    dev = resolve_device(train.device if device == "auto" else device)
    ds = load_dataset(data_spec)
    model = build_model(model_spec, seed).to(dev)
    X, y = ds.X_train.to(dev), ds.y_train.to(dev)
    gen = torch.Generator().manual_seed(10_000 + int(seed))
    opt = (torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
           if train.optimizer == "adam" else
           torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum,
                           weight_decay=train.weight_decay))
    steps_per_epoch = math.ceil(X.shape[0] / train.batch_size)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, train.epochs * steps_per_epoch)
             if train.lr_schedule == "cosine" else None)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):   # dropout noise seeded, global RNG untouched
        torch.manual_seed(20_000 + int(seed))
        epoch = _fit(model, opt, sched, X, y, ds, train, gen, seed, progress, should_stop, dev)
    wall = time.perf_counter() - t0
    model.eval()
    theta = flatten(model).cpu()
    stats = evaluate_minimum(model, ds, theta, dev)
    if not all(math.isfinite(v) for v in (stats[0], stats[2])):
        raise TrainingDivergedError(f"Seed {seed} ended with a non-finite loss; not stored.")
    key = minimum_key(model_spec, data_spec, train, seed)
    return Minimum(model_spec, data_spec, train, int(seed), theta,
                   {k: v.cpu() for k, v in bn_buffers(model).items()}, *stats, wall, epoch, key)


def _fit(model, opt, sched, X, y, ds, train: TrainSpec, gen, seed, progress, should_stop, dev) -> int:
    """The epoch loop; returns the number of epochs run."""
    steps_per_epoch = math.ceil(X.shape[0] / train.batch_size)
    epoch = 0
    for epoch in range(1, train.epochs + 1):
        model.train()
        perm = torch.randperm(X.shape[0], generator=gen).to(dev)
        for step in range(steps_per_epoch):
            idx = perm[step * train.batch_size:(step + 1) * train.batch_size]
            loss = per_sample_loss(model(X[idx]), y[idx], ds.loss).mean()
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"Training diverged (loss {loss.item()}) at epoch {epoch}, step {step + 1} "
                    f"for seed {seed} with {train.optimizer} lr={train.lr}. Lower the learning "
                    "rate or the init_scale; nothing was stored for this seed.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if should_stop is not None and should_stop():
                raise TrainingStopped(f"stopped during seed {seed}; finished minima are kept")
        if progress is not None:
            progress(epoch / train.epochs, f"epoch {epoch}/{train.epochs}, batch loss {loss.item():.3g}")
        if _target_reached(model, ds, train, dev):
            break
    return epoch


def _target_reached(model, ds, train: TrainSpec, dev) -> bool:
    if train.target_train_acc is None and train.target_train_loss is None:
        return False
    res = Evaluator(model, ds.X_train, ds.y_train, loss=ds.loss, device=dev,
                    bn_policy="eval").evaluate(flatten(model))
    ok_acc = train.target_train_acc is not None and res.accuracy is not None and \
        res.accuracy[0] >= train.target_train_acc
    ok_loss = train.target_train_loss is not None and res.loss[0] <= train.target_train_loss
    return bool(ok_acc or ok_loss)


def evaluate_minimum(model, ds, theta: torch.Tensor, dev="auto") -> tuple:
    """(train_loss, train_acc, test_loss, test_acc) with the model's own BN buffers."""
    out = []
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        r = Evaluator(model, X, y, loss=ds.loss, device=dev, bn_policy="eval").evaluate(theta)
        out += [float(r.loss[0]), None if r.accuracy is None else float(r.accuracy[0])]
    return tuple(out)


def minimum_from_checkpoint(source, model_spec: ModelSpec, data_spec: DataSpec, *,
                            label: str = "uploaded", device="auto") -> Minimum:
    """Load an untrusted checkpoint for ``model_spec`` and evaluate it on ``data_spec``."""
    from .checkpoints import load_checkpoint
    from .data import load_dataset
    import hashlib
    raw = source.read_bytes() if hasattr(source, "read_bytes") else (
        open(source, "rb").read() if isinstance(source, str) else bytes(source))
    model = build_model(model_spec, 0)
    theta = load_checkpoint(raw, model)
    ds = load_dataset(data_spec)
    stats = evaluate_minimum(model, ds, theta, device)
    digest = hashlib.sha256(raw).hexdigest()[:12]
    key = make_key("minimum", {"model": spec_dict(model_spec), "data": data_spec.key_dict(),
                               "checkpoint": digest})
    return Minimum(model_spec, data_spec, None, -1, theta, bn_buffers(model), *stats, 0.0, 0, key,
                   label=f"{label} ({digest[:6]})")


def cached_minima(model: ModelSpec, data: DataSpec, cache: DiskCache | None = None) -> list[Minimum]:
    """All minima in the cache for this model and data (trained with any recipe, or uploaded)."""
    want_m, want_d = spec_dict(model), data.key_dict()
    found = []
    for e in (cache or DiskCache()).entries("minimum"):
        d = {k: v for k, v in e.meta["data"].items() if k not in ("__type__", "data_dir")}
        if e.meta["model"] == want_m and d == want_d:
            found.append(minimum_from_entry(e))
    return found
