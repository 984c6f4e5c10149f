"""Datasets for loss-landscape experiments: synthetic sets, scikit-learn digits, offline images.

Nothing is ever downloaded. Image sets are read from the first folder that holds them among
those listed by :func:`resolve_data_dir`; when none does, :class:`DataNotFoundError` names
the files expected, the folders searched and where to put the files. Loaded datasets are
memoised in-process, so callers share tensors and must never modify them in place.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .config import DataSpec

logger = logging.getLogger(__name__)
FILE_SETS = ("mnist", "fashion_mnist", "cifar10", "mnist1d")   # read by datafiles.py

_REPO_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_FIXED_SHAPES = {"digits": (64,), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
                 "cifar10": (3, 32, 32), "mnist1d": (40,)}


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train and test tensors with what a model and a loss need to know about them.

    Attributes
    ----------
    X_train, X_test : torch.Tensor
        float32 inputs of shape ``(N, *input_shape)``.
    y_train, y_test : torch.Tensor
        int64 labels ``(N,)`` (classification), float32 targets ``(N, n_outputs)`` (regression).
    task, n_outputs, input_shape : str, int, tuple
        ``"classification"``/``"regression"``, classes or outputs, shape of one input.
    description : str
        Name, sizes, source files, normalisation and notes, for people.
    extras : dict
        Generating objects of synthetic sets (``Q`` of linear regression, ``teacher`` rows).

    Notes
    -----
    Instances from :func:`load_dataset` are shared through its cache: treat every tensor
    as read-only (copy before any in-place change).
    """
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    task: str
    n_outputs: int
    input_shape: tuple
    description: str
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in ("classification", "regression"):
            raise ValueError(f"The 'task' parameter of Dataset must be 'classification' or "
                             f"'regression'. Got {self.task!r} instead.")
        for split, X, y in (("train", self.X_train, self.y_train),
                            ("test", self.X_test, self.y_test)):
            if tuple(X.shape[1:]) != tuple(self.input_shape) or len(X) != len(y):
                raise ValueError(f"Dataset {split} tensors do not fit input_shape="
                                 f"{self.input_shape}: X has shape {tuple(X.shape)} and y has "
                                 f"shape {tuple(y.shape)}.")

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return len(self.X_train)

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return len(self.X_test)

    @property
    def loss(self) -> str:
        """``"cross_entropy"`` for classification, ``"mse"`` for regression."""
        return "cross_entropy" if self.task == "classification" else "mse"

    def __repr__(self) -> str:
        return f"Dataset({self.description!r})"


class DataNotFoundError(FileNotFoundError):
    """Data files are absent from every folder searched; the message says what to do."""


def resolve_data_dir(data_dir: str | None = None) -> list[Path]:
    """Folders searched for data files, in order, without duplicates.

    Parameters
    ----------
    data_dir : str or None
        Folder given by the caller (``DataSpec.data_dir`` or ``--data-dir``); searched first.

    Returns
    -------
    list of Path
        ``data_dir``, ``$LANDSCAPE_DATA_DIR``, ``./data``, ``<repo>/../shared/data`` and
        ``../shared/data`` relative to the working directory; absolute, some may not exist.
    """
    found = [] if data_dir is None else [Path(data_dir).expanduser()]
    if os.environ.get("LANDSCAPE_DATA_DIR"):
        found.append(Path(os.environ["LANDSCAPE_DATA_DIR"]).expanduser())
    found += [Path.cwd() / "data", _REPO_SHARED_DATA, Path.cwd().parent / "shared" / "data"]
    unique: list[Path] = []
    for path in (p.resolve() for p in found):
        if path not in unique:
            unique.append(path)
    return unique


def dataset_shape(spec: DataSpec) -> tuple[tuple, int, str]:
    """``(input_shape, n_outputs, task)`` of a dataset, without reading any file.

    Parameters
    ----------
    spec : DataSpec
        The dataset description.

    Returns
    -------
    tuple
        Per-sample input shape, number of classes or outputs, and the task.
    """
    if spec.name == "teacher_student":
        return (spec.input_dim,), 1, "regression"
    if spec.name == "linear_regression":
        return (spec.input_dim,), spec.output_dim, "regression"
    return _FIXED_SHAPES[spec.name], 10, "classification"


def load_dataset(spec: DataSpec) -> Dataset:
    """Load (or generate) the dataset that ``spec`` describes; memoised in-process.

    Parameters
    ----------
    spec : DataSpec
        Name, sizes, seed and synthetic-set parameters; ``data_dir`` adds a folder to search.

    Returns
    -------
    Dataset
        Shared with other callers of the same spec: never modify its tensors in place.

    Raises
    ------
    DataNotFoundError
        If the files of an image set are in none of the folders searched.
    ValueError
        If a file is corrupted or truncated, or ``n_train``/``n_test`` exceed what exists.
    """
    if not isinstance(spec, DataSpec):
        raise TypeError(f"The 'spec' parameter of load_dataset must be a DataSpec. "
                        f"Got {type(spec).__name__} instead.")
    dirs = tuple(resolve_data_dir(spec.data_dir)) if spec.name in FILE_SETS else ()
    return _load_cached(dataclasses.replace(spec, data_dir=None), dirs)


def clear_data_cache() -> None:
    """Forget every memoised dataset (frees memory; the next load reads the files again)."""
    _load_cached.cache_clear()
    _load_full.cache_clear()


@lru_cache(maxsize=32)
def _load_cached(spec: DataSpec, dirs: tuple) -> Dataset:
    if spec.name == "teacher_student":
        return _teacher_student(spec)
    if spec.name == "linear_regression":
        return _linear_regression(spec)
    return _truncate(_load_full(spec.name, spec.seed if spec.name == "digits" else 0, dirs), spec)


@lru_cache(maxsize=6)
def _load_full(name: str, seed: int, dirs: tuple) -> Dataset:
    start = time.perf_counter()
    from .datafiles import LOADERS
    ds = _load_digits(seed) if name == "digits" else LOADERS[name](name, dirs)
    logger.info("Loaded %s in %.2f s: %s", name, time.perf_counter() - start, ds.description)
    return ds


def _truncate(ds: Dataset, spec: DataSpec) -> Dataset:
    for split, n, avail in (("train", spec.n_train, ds.n_train), ("test", spec.n_test, ds.n_test)):
        if n is not None and n > avail:
            raise ValueError(f"The 'n_{split}' parameter of DataSpec must be at most {avail} for "
                             f"name={spec.name!r}: only {avail} {split} examples exist. "
                             f"Got {n} instead.")
    if spec.n_train is None and spec.n_test is None:
        return ds
    ntr, nte = spec.n_train or ds.n_train, spec.n_test or ds.n_test
    return dataclasses.replace(
        ds, X_train=ds.X_train[:ntr], y_train=ds.y_train[:ntr], X_test=ds.X_test[:nte],
        y_test=ds.y_test[:nte], description=f"{ds.description}; kept the first {ntr} of "
        f"{ds.n_train} train and {nte} of {ds.n_test} test examples")


def _generator(seed: int, stream: int) -> torch.Generator:
    """Independent torch generator for each (seed, stream) pair."""
    state = int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
    return torch.Generator().manual_seed(state)


def _teacher_student(spec: DataSpec) -> Dataset:
    d, m = spec.input_dim, spec.teacher_neurons
    tensors = []
    for stream, n in ((1, spec.n_train or 2000), (2, spec.n_test or 1000)):
        x = torch.randn(n, d, generator=_generator(spec.seed, stream))
        x = x / x.norm(dim=1, keepdim=True)
        tensors += [x, torch.relu(x[:, :m]).sum(dim=1, keepdim=True)]
    desc = (f"teacher-student (Assumption 5): x uniform on the unit sphere S^{d - 1} (d={d}), "
            f"y = sum of relu(x_j) over the first M={m} coordinates (teacher e_1..e_M); "
            f"{len(tensors[0])} train / {len(tensors[2])} test, seed {spec.seed}")
    return Dataset(*tensors, "regression", 1, (d,), desc, {"teacher": torch.eye(m, d)})


def _linear_regression(spec: DataSpec) -> Dataset:
    d, k = spec.input_dim, spec.output_dim
    q = torch.randn(k, d, generator=_generator(spec.seed, 0)) / math.sqrt(d)
    tensors = []
    for stream, n in ((1, spec.n_train or 1000), (2, spec.n_test or 500)):
        x = torch.randn(n, d, generator=_generator(spec.seed, stream))
        tensors += [x, x @ q.T]
    desc = (f"linear regression: x ~ N(0, I_{d}), y = Q x with Q of shape ({k}, {d}) drawn "
            f"N(0, 1/{d}) (in extras['Q']); {len(tensors[0])} train / {len(tensors[2])} test, "
            f"seed {spec.seed}")
    return Dataset(*tensors, "regression", k, (d,), desc, {"Q": q})


def _load_digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, bunch.target.astype(np.int64), test_size=500,
                                          stratify=bunch.target, random_state=seed)
    desc = (f"digits (scikit-learn's embedded 8x8 images): {len(Xtr)} train / {len(Xte)} test, "
            f"stratified split with seed {seed}; pixels divided by 16 into [0, 1]")
    return Dataset(torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xte),
                   torch.from_numpy(yte), "classification", 10, (64,), desc)
