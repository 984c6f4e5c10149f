"""Datasets for loss-landscape experiments: synthetic sets, scikit-learn digits, offline images.

Nothing is ever downloaded. Image sets are read from the first folder that holds them among
those listed by :func:`resolve_data_dir`; when none does, :class:`DataNotFoundError` names
the files expected, the folders searched and where to put the files. Loaded datasets are
memoised in-process, so callers share tensors and must never modify them in place.
"""
from __future__ import annotations

import dataclasses
import gzip
import logging
import math
import os
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .config import DataSpec

logger = logging.getLogger(__name__)

_REPO_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_IDX_LAYOUTS = {"mnist": ("mnist", "MNIST/raw", "."),
                "fashion_mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw")}
_IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IDX_STATS = {"mnist": ("MNIST", "0.1307", "0.3081"),
              "fashion_mnist": ("Fashion-MNIST", "0.2860", "0.3530")}
_CIFAR_LAYOUTS = ("cifar-10-batches-bin", "cifar10", "cifar10-partial")
_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR_STD = (0.2470, 0.2435, 0.2616)
_CIFAR_TEXT = "mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616)"
_RECORD = 3073  # CIFAR-10 binary record: 1 label byte + 3 * 32 * 32 pixel bytes
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
    dirs = tuple(resolve_data_dir(spec.data_dir)) if spec.name in _LOADERS else ()
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
    ds = _load_digits(seed) if name == "digits" else _LOADERS[name](name, dirs)
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


def _not_found(title: str, files: str, layouts: tuple, dirs: tuple,
               notes: list) -> DataNotFoundError:
    where = "; ".join(f"{d}{'' if d.is_dir() else ' (does not exist)'}" for d in dirs)
    subs = ", ".join("the folder itself" if s == "." else f"{s}/" for s in layouts)
    parts = [f"{title} files not found. Expected {files} in one of the sub-folders [{subs}] of a "
             f"folder searched, in order: {where}.", *notes,
             f"To fix: put the files in {Path.cwd() / 'data' / layouts[0]}, or set the environment "
             f"variable LANDSCAPE_DATA_DIR (or pass --data-dir / DataSpec.data_dir) to the folder "
             f"that holds '{layouts[0]}/'. Nothing is ever downloaded."]
    return DataNotFoundError(" ".join(parts))


def _corrupt(path: Path, why: str) -> ValueError:
    return ValueError(f"The data file {path} is corrupted or truncated: {why}. "
                      f"Replace it with an intact copy of the official file.")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed or not), checking magic and size."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, f"cannot decompress it ({exc})") from exc
    head = 4 + 4 * ndim
    if len(raw) < head or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise _corrupt(path, f"expected the IDX magic number 0x{0x800 + ndim:08x}, found "
                             f"0x{raw[:4].hex() or 'nothing'}")
    dims = tuple(int(v) for v in np.frombuffer(raw, ">u4", ndim, 4))
    if len(raw) != head + math.prod(dims):
        raise _corrupt(path, f"its header announces shape {dims} ({head + math.prod(dims)} bytes) "
                             f"but it holds {len(raw)} bytes")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _find_idx(name: str, dirs: tuple) -> dict:
    """Map each IDX stem to a file in the first folder that has all four."""
    notes = []
    for folder in (d / sub for d in dirs for sub in _IDX_LAYOUTS[name]):
        found = {}
        for stem in _IDX_STEMS:
            dotted = stem.replace("-idx", ".idx")
            options = [folder / f for f in (stem + ".gz", stem, dotted + ".gz", dotted)]
            path = next((p for p in options if p.is_file()), None)
            if path is not None:
                found[stem] = path
        if len(found) == len(_IDX_STEMS):
            return found
        if found:
            notes.append(f"{folder} is incomplete: it lacks "
                         f"{', '.join(s for s in _IDX_STEMS if s not in found)}.")
    files = ", ".join(f"{s}.gz" for s in _IDX_STEMS) + " (or the same files uncompressed)"
    raise _not_found(_IDX_STATS[name][0], files, _IDX_LAYOUTS[name], dirs, notes)


def _load_idx_set(name: str, dirs: tuple) -> Dataset:
    title, mean_text, std_text = _IDX_STATS[name]
    mean, std = float(mean_text), float(std_text)
    files = _find_idx(name, dirs)
    tensors = []
    for split in ("train", "t10k"):
        img_path = files[f"{split}-images-idx3-ubyte"]
        lab_path = files[f"{split}-labels-idx1-ubyte"]
        X, y = _read_idx(img_path, 3), _read_idx(lab_path, 1)
        if X.shape[1:] != (28, 28) or len(X) != len(y) or len(y) == 0 or y.max() > 9:
            raise _corrupt(img_path, f"expected N 28x28 images matching the N labels (0..9) of "
                                     f"{lab_path.name}, found images {X.shape} and {len(y)} labels")
        x = torch.from_numpy(X.astype(np.float32)).mul_(1.0 / (255.0 * std)).sub_(mean / std)
        tensors += [x.unsqueeze(1), torch.from_numpy(y.astype(np.int64))]
    folder = files[_IDX_STEMS[0]].parent
    desc = (f"{title}: {len(tensors[0])} train / {len(tensors[2])} test 28x28 images from "
            f"{folder}; pixels scaled to [0, 1] then standardised with mean {mean_text}, "
            f"std {std_text}")
    return Dataset(*tensors, "classification", 10, (1, 28, 28), desc)


def _cifar_files(folder: Path) -> tuple[list, Path | None]:
    """Train batches 1..5 (a full file preferred over a partial one) and the test batch."""
    train = []
    for i in range(1, 6):
        full, partial = folder / f"data_batch_{i}.bin", f"data_batch_{i}_first*.bin"
        train += [full] if full.is_file() else sorted(folder.glob(partial))[:1]
    test = folder / "test_batch.bin"
    partial_test = sorted(folder.glob("test_batch_first*.bin"))
    return train, test if test.is_file() else (partial_test[0] if partial_test else None)


def _read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    size = path.stat().st_size
    if size == 0 or size % _RECORD:
        raise _corrupt(path, f"its size, {size} bytes, is not a positive multiple of the "
                             f"{_RECORD}-byte CIFAR-10 record (1 label byte + 3072 pixel bytes)")
    records = np.fromfile(path, np.uint8).reshape(-1, _RECORD)
    if records[:, 0].max() > 9:
        raise _corrupt(path, "a label byte is above 9")
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def _find_cifar(dirs: tuple) -> tuple[list, Path]:
    notes = []
    for d in dirs:
        if (d / "cifar-10-batches-py").is_dir():
            notes.append(f"{d / 'cifar-10-batches-py'} holds the pickled python batches, which are "
                         f"never loaded (unpickling can run code): use the binary version.")
        for folder in (d / sub for sub in _CIFAR_LAYOUTS):
            train, test = _cifar_files(folder) if folder.is_dir() else ([], None)
            if train and test:
                return train, test
            if train or test:
                notes.append(f"{folder} is incomplete: it needs at least one training batch "
                             f"and a test batch.")
    files = ("data_batch_1.bin .. data_batch_5.bin and test_batch.bin of the binary version "
             "(partial files such as data_batch_1_first4000.bin and test_batch_first1000.bin are "
             "accepted; the pickled python batches are never loaded)")
    raise _not_found("CIFAR-10", files, _CIFAR_LAYOUTS, dirs, notes)


def _load_cifar(name: str, dirs: tuple) -> Dataset:
    train_files, test_file = _find_cifar(dirs)
    parts = [_read_cifar(p) for p in train_files]
    Xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    Xte, yte = _read_cifar(test_file)
    mean, std = torch.tensor(_CIFAR_MEAN).view(3, 1, 1), torch.tensor(_CIFAR_STD).view(3, 1, 1)
    norm = [torch.from_numpy(X.astype(np.float32)).div_(255.0).sub_(mean).div_(std)
            for X in (Xtr, Xte)]
    names = ", ".join(p.name for p in [*train_files, test_file])
    desc = (f"CIFAR-10 (binary batches {names} in {test_file.parent}): {len(ytr)} train / "
            f"{len(yte)} test 32x32 RGB images; pixels scaled to [0, 1] then standardised per "
            f"channel with {_CIFAR_TEXT}")
    if len(ytr) < 50000 or len(yte) < 10000:
        partial = (f"partial CIFAR-10: {len(ytr)} of 50000 training images and {len(yte)} of "
                   f"10000 test images")
        logger.warning("Loaded a %s from %s.", partial, test_file.parent)
        desc = f"{desc}; {partial}"
    return Dataset(norm[0], torch.from_numpy(ytr), norm[1], torch.from_numpy(yte),
                   "classification", 10, (3, 32, 32), desc)


def _load_mnist1d(name: str, dirs: tuple) -> Dataset:
    options = [d / sub / "mnist1d_data.npz" for d in dirs for sub in ("mnist1d", ".")]
    path = next((p for p in options if p.is_file()), None)
    if path is None:
        raise _not_found("MNIST-1D", "mnist1d_data.npz (arrays x, y, x_test, y_test)",
                         ("mnist1d", "."), dirs, [])
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y, x_test, y_test = (npz[k] for k in ("x", "y", "x_test", "y_test"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupt(path, f"expected an npz of plain arrays x, y, x_test, y_test "
                             f"({exc})") from exc
    if x.shape[1:] != (40,) or x_test.shape[1:] != (40,) or y.shape != (len(x),) \
            or y_test.shape != (len(x_test),):
        raise _corrupt(path, f"expected x (N, 40) with N labels, found x {x.shape}, y {y.shape}, "
                             f"x_test {x_test.shape}, y_test {y_test.shape}")
    tensors = [torch.from_numpy(np.ascontiguousarray(a, dtype=t)) for a, t in
               ((x, np.float32), (y, np.int64), (x_test, np.float32), (y_test, np.int64))]
    desc = (f"MNIST-1D: {len(x)} train / {len(x_test)} test signals of length 40 from {path}; "
            f"values used as stored (no normalisation)")
    return Dataset(*tensors, "classification", 10, (40,), desc)


_LOADERS = {"mnist": _load_idx_set, "fashion_mnist": _load_idx_set, "cifar10": _load_cifar,
            "mnist1d": _load_mnist1d}
