"""Offline dataset files: MNIST / Fashion-MNIST (IDX), CIFAR-10 (binary batches), MNIST-1D.

Readers only: they check magic numbers, sizes and shapes before use and never download. The
folders they search come from ``data.resolve_data_dir``; a missing set raises
``DataNotFoundError`` naming the files expected and the folders searched.
"""
from __future__ import annotations

import gzip
import logging
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .data import DataNotFoundError, Dataset

logger = logging.getLogger("landscape_core.data")   # one logger for loading data

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


LOADERS = {"mnist": _load_idx_set, "fashion_mnist": _load_idx_set, "cifar10": _load_cifar,
            "mnist1d": _load_mnist1d}
