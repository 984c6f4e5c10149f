"""Train independent minima (one seed each), cached one by one on disk.

A minimum records its specs, seed, final train/test loss and accuracy and wall time. A run
that produces NaN/inf raises ``TrainingDivergedError``; a run that ends far from a minimum
(train loss above its initial loss, or a classifier at chance) raises ``NotAMinimumError``;
neither is stored. Interrupting a run of N minima keeps every minimum already finished (each
is its own cache entry). A model above the size limits of ``cost.check_model`` is refused
before it is built unless ``force=True``.

Keys: a trained minimum is keyed by its specs and seed; an uploaded one by its specs and the
sha256 of its weights in a canonical order and dtype, so the same weights arriving as .pt or
.safetensors are one minimum. Every cache read checks that the entry rebuilds to its key.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._validation import Int, validate_params
from .cache import DiskCache, Entry, make_key
from .checks import fit_problem
from .config import DataSpec, ModelSpec, TrainSpec, spec_dict
from .cost import check_model
from .evaluate import Evaluator, per_sample_loss, resolve_device
from .models import build_model
from .params import bn_buffers, flatten, restore_buffer_shapes

Progress = Callable[[float, str], None]


class TrainingDivergedError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class NotAMinimumError(TrainingDivergedError):
    """Training ended with finite numbers but far from a minimum (see ``checks.fit_problem``)."""


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
    renamed: tuple = ()          # uploads: (name in the file, name in the model) matched by order

    @property
    def name(self) -> str:
        return self.label or f"seed {self.seed}"

    def summary(self) -> dict:
        return {"name": self.name, "seed": self.seed, "train_loss": self.train_loss,
                "train_acc": self.train_acc, "test_loss": self.test_loss,
                "test_acc": self.test_acc, "epochs": self.epochs, "wall_time_s": self.wall_time,
                "key": self.key}


def minimum_payload(model: ModelSpec, data: DataSpec, train: TrainSpec, seed: int) -> dict:
    """What a trained minimum's key is made from."""
    return {"model": spec_dict(model), "data": data.key_dict(), "train": train.key_dict(),
            "seed": int(seed)}


def minimum_key(model: ModelSpec, data: DataSpec, train: TrainSpec, seed: int) -> str:
    return make_key("minimum", minimum_payload(model, data, train, seed))


def weights_digest(theta: torch.Tensor, buffers: dict) -> str:
    """sha256 of the weights in a canonical form: the flat float32 parameter vector (model order),
    then the float buffers by sorted name as float32 (``num_batches_tracked``, other ints left out)."""
    h = hashlib.sha256()
    t = theta.detach().to(torch.float32).contiguous().cpu()
    h.update(b"theta" + str(tuple(t.shape)).encode() + t.numpy().astype("<f4").tobytes())
    for name in sorted(buffers):
        b = torch.as_tensor(buffers[name])
        if not b.is_floating_point():
            continue
        b = b.detach().to(torch.float32).contiguous().cpu()
        h.update(name.encode() + str(tuple(b.shape)).encode() + b.numpy().astype("<f4").tobytes())
    return h.hexdigest()


def upload_payload(model: ModelSpec, data: DataSpec, digest: str) -> dict:
    """What an uploaded minimum's key is made from: specs and the weights' digest."""
    return {"model": spec_dict(model), "data": data.key_dict(), "weights": digest}


def _payload_of(m: "Minimum") -> dict:
    if m.train is None:
        return upload_payload(m.model, m.data, weights_digest(m.theta, m.buffers))
    return minimum_payload(m.model, m.data, m.train, m.seed)


def check_minimum_entry(entry: Entry) -> "Minimum":
    """Rebuild a Minimum from a cache entry and check that it belongs to the entry's key;
    raises (KeyError, TypeError, ValueError) otherwise. Used as the cache's ``validate`` hook."""
    m = minimum_from_entry(entry)
    for name, v in (("train_loss", m.train_loss), ("test_loss", m.test_loss)):
        if not (isinstance(v, (int, float)) and math.isfinite(v)):
            raise ValueError(f"{name} is {v!r}, not a finite number")
    want = make_key("minimum", _payload_of(m))
    if want != entry.key:
        raise ValueError(f"its specs, seed and weights make the key {want}, not {entry.key}")
    return m


@validate_params(n_minima=Int(1, 100_000))
def train_minima(model: ModelSpec, data: DataSpec, train: TrainSpec, *, seeds=None,
                 n_minima: int = 3, cache: DiskCache | None = None, use_cache: bool = True,
                 progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                 device="auto", force: bool = False, executor=None) -> list[Minimum]:
    """Train (or fetch from the cache) one minimum per seed.

    Parameters
    ----------
    seeds : iterable of int, optional
        Default ``range(n_minima)``. The seed fixes the initialisation and the data order.
    progress : callable(fraction, message), optional
    should_stop : callable() -> bool, optional
        Polled every step; when it returns True, ``TrainingStopped`` is raised after the
        minima already finished have been stored.
    force : bool, default False
        Train even a model above ``cost.check_model``'s limits (otherwise ``BudgetError``
        before anything is allocated).
    executor : an ``executor.Executor`` that first trains the uncached minima as parallel units.
    """
    seeds = list(range(n_minima)) if seeds is None else [int(s) for s in seeds]
    check_model(model, train.device if device == "auto" else device, force=force)
    cache = cache or DiskCache()
    if executor is not None and use_cache:       # units in parallel; the loop below reads them back
        executor.minima(model, data, train, seeds, cache, device=device, force=force,
                        progress=progress, should_stop=should_stop)
    out = []
    for i, seed in enumerate(seeds):
        def sub(f, msg, i=i):
            if progress is not None:
                progress((i + f) / len(seeds), f"minimum {i + 1}/{len(seeds)} (seed {seed}): {msg}")
        if not use_cache:
            out.append(train_minimum(model, data, train, seed, progress=sub,
                                     should_stop=should_stop, device=device, force=True))
            continue
        key = minimum_key(model, data, train, seed)
        entry = cache.load("minimum", key, validate=check_minimum_entry)
        if entry is None:
            with _training_lock(cache, key, sub, should_stop):
                # another process may have trained it meanwhile
                entry = cache.load("minimum", key, validate=check_minimum_entry)
                if entry is None:
                    m = train_minimum(model, data, train, seed, progress=sub,
                                      should_stop=should_stop, device=device, force=True)
                    entry = cache.save("minimum", key, _meta(m), _arrays(m),
                                       spec=minimum_payload(model, data, train, seed))
        out.append(minimum_from_entry(entry))
        sub(1.0, "done")
    return out


@contextlib.contextmanager
def _training_lock(cache: DiskCache, key: str, progress, should_stop):
    """Per-minimum file lock: two processes asking for the same minimum train it once."""
    from filelock import Timeout
    lock = cache.lock("minimum", key)          # the entry's own lock (re-entrant, shared object)
    while True:
        try:
            lock.acquire(timeout=0.5)
            break
        except Timeout:
            progress(0.0, "another process is training this minimum; waiting for it")
            if should_stop is not None and should_stop():
                raise TrainingStopped("stopped while waiting for another process") from None
        except OSError as exc:
            raise cache._unusable_location(exc, "lock an entry") from exc
    try:
        yield
    finally:
        lock.release()


def _meta(m: Minimum) -> dict:
    return {"model": spec_dict(m.model), "data": spec_dict(m.data),
            "train": spec_dict(m.train) if m.train else None, "seed": m.seed,
            "train_loss": m.train_loss, "train_acc": m.train_acc, "test_loss": m.test_loss,
            "test_acc": m.test_acc, "wall_time": m.wall_time, "epochs": m.epochs, "label": m.label,
            "buffer_shapes": {k: list(v.shape) for k, v in m.buffers.items()},   # 0-d stays 0-d
            **({"renamed": [list(p) for p in m.renamed]} if m.renamed else {})}


def _arrays(m: Minimum) -> dict:
    arrays = {"theta": m.theta.numpy()}
    arrays.update({f"buffer.{k}": v.cpu().numpy() for k, v in m.buffers.items()})
    return arrays


def minimum_from_entry(entry) -> Minimum:
    """Rebuild a ``Minimum`` from its cache entry."""
    meta = entry.meta
    strip = lambda d: {k: v for k, v in d.items() if k != "__type__"}
    train = TrainSpec(**strip(meta["train"])) if meta.get("train") else None
    buffers = restore_buffer_shapes({k[7:]: torch.from_numpy(np.array(v)) for k, v in entry.arrays.items()
                                     if k[:7] == "buffer."}, meta.get("buffer_shapes"))
    return Minimum(ModelSpec(**strip(meta["model"])), DataSpec(**strip(meta["data"])), train,
                   meta["seed"], torch.from_numpy(np.array(entry.arrays["theta"])), buffers,
                   meta["train_loss"], meta["train_acc"], meta["test_loss"], meta["test_acc"],
                   meta["wall_time"], meta["epochs"], entry.key, meta.get("label", ""),
                   tuple(map(tuple, meta.get("renamed") or ())))


def store_minimum(m: Minimum, cache: DiskCache | None = None) -> Minimum:
    """Store an uploaded/loaded minimum in the cache under its own key. Refused (ValueError,
    nothing written) when its losses are not finite or its key is not the one its specs, seed
    and weights make."""
    for name, v in (("train loss", m.train_loss), ("test loss", m.test_loss)):
        if not math.isfinite(v):
            raise ValueError(f"The minimum '{m.name}' has a {name} of {v}; only minima with finite "
                             "losses are stored. Check the checkpoint and the data settings.")
    spec = _payload_of(m)
    if make_key("minimum", spec) != m.key:
        raise ValueError(f"The minimum '{m.name}' carries the key {m.key}, but its specs and "
                         f"weights make {make_key('minimum', spec)}; build it with train_minimum "
                         "or minimum_from_checkpoint instead of editing it.")
    (cache or DiskCache()).save("minimum", m.key, _meta(m), _arrays(m), spec=spec)
    return m


def _chance(ds) -> tuple[float | None, float | None]:
    """(chance accuracy or None, train loss of the best constant prediction)."""
    if ds.loss != "cross_entropy":
        y = ds.y_train.double().reshape(ds.y_train.shape[0], -1)
        return None, float(y.var(dim=0, unbiased=False).sum())
    counts = torch.bincount(ds.y_train.reshape(-1).long().cpu()).double()
    p = counts[counts > 0] / counts.sum()
    return float(p.max()), float(-(p * p.log()).sum())


def train_minimum(model_spec: ModelSpec, data_spec: DataSpec, train: TrainSpec, seed: int, *,
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                  device="auto", force: bool = False) -> Minimum:
    """Train one minimum from the seeded initialisation with Adam or SGD (no caching).

    Raises ``BudgetError`` (before allocating) for a model above ``cost.check_model``'s limits
    unless ``force``; ``TrainingDivergedError`` for NaN/inf; ``NotAMinimumError`` when the run
    ends with its train loss above the initial loss or a classifier at chance."""
    from .data import load_dataset
    dev = resolve_device(train.device if device == "auto" else device)
    check_model(model_spec, dev, force=force)
    ds = load_dataset(data_spec)
    model = build_model(model_spec, seed).to(dev)
    model.eval()
    initial_loss = evaluate_minimum(model, ds, flatten(model).cpu(), dev, train_only=True)[0]
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
        raise TrainingDivergedError(
            f"Seed {seed} ended with a non-finite loss (train {stats[0]}, test {stats[2]}) with "
            f"{train.optimizer} lr={train.lr:g}; nothing was stored. Lower the learning rate "
            "or the init_scale.")
    chance, baseline = _chance(ds)
    why = fit_problem(initial_loss, stats[0], accuracy=stats[1], chance=chance,
                      baseline_loss=baseline) if math.isfinite(initial_loss) else None
    if why is not None:
        raise NotAMinimumError(
            f"Seed {seed} did not end at a minimum: {why} ({train.optimizer}, lr={train.lr:g}, "
            f"{epoch} epoch{'s' if epoch != 1 else ''}); it was not stored. Try a smaller learning "
            f"rate (e.g. lr={train.lr / 10:g}) or a smaller init_scale; if the loss was still "
            "falling, train for more epochs.")
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


def evaluate_minimum(model, ds, theta: torch.Tensor, dev="auto", *, train_only: bool = False) -> tuple:
    """(train_loss, train_acc, test_loss, test_acc) with the model's own BN buffers."""
    out = []
    sets = ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test))[:1 if train_only else 2]
    for X, y in sets:
        r = Evaluator(model, X, y, loss=ds.loss, device=dev, bn_policy="eval").evaluate(theta)
        out += [float(r.loss[0]), None if r.accuracy is None else float(r.accuracy[0])]
    return tuple(out)


def minimum_from_checkpoint(source, model_spec: ModelSpec, data_spec: DataSpec, *,
                            label: str = "uploaded", device="auto") -> Minimum:
    """Load an untrusted checkpoint for ``model_spec`` and evaluate it on ``data_spec``.

    ``source``: a path, bytes, or an upload object with ``getvalue()``. The key is made from
    the specs and the sha256 of the weights (``weights_digest``), not from the file's bytes,
    so the same weights saved as .pt and as .safetensors give one minimum; tensors matched by
    order and shape (``keylayout``) are in ``Minimum.renamed``. ``CheckpointError`` when the file
    is refused or its losses are not finite (nothing is stored; ``store_minimum`` stores one)."""
    from .checkpoints import CheckpointError, load_checkpoint
    from .data import load_dataset
    ds = load_dataset(data_spec)
    model = build_model(model_spec, 0)
    theta = load_checkpoint(source, model, probe=ds.X_train[:256], renamed=(renamed := {}))
    model.eval()
    stats = evaluate_minimum(model, ds, theta, device)
    if not all(math.isfinite(v) for v in (stats[0], stats[2])):
        raise CheckpointError(f"The checkpoint's train loss is {stats[0]} and test loss {stats[2]} "
                              f"on {data_spec.name}; expected finite losses. It was not stored: "
                              "check that it was trained on this data with these model settings.")
    buffers = bn_buffers(model)
    digest = weights_digest(theta, buffers)
    key = make_key("minimum", upload_payload(model_spec, data_spec, digest))
    return Minimum(model_spec, data_spec, None, -1, theta, buffers, *stats, 0.0, 0, key,
                   label=f"{label} ({digest[:6]})", renamed=tuple(renamed.items()))


def cached_minima(model: ModelSpec, data: DataSpec, cache: DiskCache | None = None) -> list[Minimum]:
    """All minima in the cache for this model and data (trained with any recipe, or uploaded)."""
    want_m, want_d = spec_dict(model), data.key_dict()
    cache = cache or DiskCache()
    found = []
    for info in cache.list("minimum"):          # headers only; matching entries are then read
        meta = info.meta
        if not (isinstance(meta.get("data"), dict) and meta.get("model") == want_m):
            continue
        d = {k: v for k, v in meta["data"].items() if k not in ("__type__", "data_dir")}
        if d != want_d:
            continue
        entry = cache.load("minimum", info.key, validate=check_minimum_entry)
        if entry is not None:
            found.append(minimum_from_entry(entry))
    return found
