"""Tests of landscape_core.data: synthetic sets, digits, offline image files and their errors."""
from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape_core import data as data_mod
from landscape_core.config import DataSpec
from landscape_core.data import (DataNotFoundError, Dataset, dataset_shape, load_dataset,
                                 resolve_data_dir)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def needs_shared(sub: str) -> Path:
    """The shared data sub-folder, or skip with the reason when it is absent."""
    folder = SHARED / sub
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent (it sits beside the checkout in CI)")
    return folder


def real(name: str, **kw) -> Dataset:
    needs_shared({"mnist": "mnist", "fashion_mnist": "fashion-mnist", "cifar10": "cifar10-partial",
                  "mnist1d": "mnist1d"}[name])
    return load_dataset(DataSpec(name, data_dir=str(SHARED), **kw))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Search only folders inside tmp_path: env dir, ./data and the repo-relative shared folder."""
    env_dir, cwd = tmp_path / "env", tmp_path / "cwd"
    env_dir.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("LANDSCAPE_DATA_DIR", str(env_dir))
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(data_mod, "_REPO_SHARED_DATA", tmp_path / "no-shared")
    return env_dir


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    head = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = head + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)


def write_tiny_idx_set(folder: Path, compress: bool, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10
    suffix = ".gz" if compress else ""
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels


# ---------------------------------------------------------------- folders, shapes, Dataset


def test_resolve_data_dir_order_and_dedup(isolated, tmp_path):
    arg = tmp_path / "arg"
    dirs = resolve_data_dir(str(arg))
    assert dirs[:3] == [arg.resolve(), isolated.resolve(), (tmp_path / "cwd" / "data").resolve()]
    assert dirs[3] == (tmp_path / "no-shared").resolve()
    assert dirs[4] == (tmp_path / "shared" / "data").resolve()
    assert resolve_data_dir(str(isolated)).count(isolated.resolve()) == 1


def test_dataset_shape_reads_no_file(isolated):
    # No data file can be found here, yet the shapes are known.
    assert dataset_shape(DataSpec("mnist")) == ((1, 28, 28), 10, "classification")
    assert dataset_shape(DataSpec("cifar10")) == ((3, 32, 32), 10, "classification")
    assert dataset_shape(DataSpec("mnist1d")) == ((40,), 10, "classification")
    spec = DataSpec("linear_regression", input_dim=7, output_dim=3)
    assert dataset_shape(spec) == ((7,), 3, "regression")


@pytest.mark.parametrize("spec", [DataSpec("digits", n_train=50, n_test=20),
                                  DataSpec("teacher_student", input_dim=6, teacher_neurons=2),
                                  DataSpec("linear_regression", input_dim=5, output_dim=2)])
def test_dataset_shape_agrees_with_loaded_data(spec):
    ds = load_dataset(spec)
    assert dataset_shape(spec) == (ds.input_shape, ds.n_outputs, ds.task)
    assert ds.X_train.shape == (ds.n_train, *ds.input_shape) and ds.X_train.dtype == torch.float32
    assert ds.loss == ("cross_entropy" if ds.task == "classification" else "mse")


def test_dataset_rejects_inconsistent_tensors():
    with pytest.raises(ValueError, match="input_shape"):
        Dataset(torch.zeros(3, 4), torch.zeros(3), torch.zeros(2, 5), torch.zeros(2),
                "classification", 10, (4,), "bad")


def test_load_is_memoised_and_type_checked():
    spec = DataSpec("teacher_student", n_train=10, n_test=5)
    assert load_dataset(spec) is load_dataset(DataSpec("teacher_student", n_train=10, n_test=5))
    with pytest.raises(TypeError, match="DataSpec"):
        load_dataset("digits")


# ---------------------------------------------------------------- synthetic sets and digits


def test_teacher_student_sphere_and_teacher_formula():
    ds = load_dataset(DataSpec("teacher_student", input_dim=6, teacher_neurons=3, seed=1))
    assert (ds.n_train, ds.n_test, ds.y_train.shape) == (2000, 1000, (2000, 1))
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        assert torch.allclose(X.norm(dim=1), torch.ones(len(X)), atol=1e-5)
        expected = X[:, :3].clamp(min=0).sum(dim=1, keepdim=True)
        assert torch.allclose(y, expected, atol=1e-6)
        assert not torch.allclose(y, X.clamp(min=0).sum(dim=1, keepdim=True))  # only M coords
    # Uniform on the sphere: each coordinate has mean 0 and second moment 1/d.
    assert ds.X_train.mean(0).abs().max() < 0.05
    assert torch.allclose((ds.X_train ** 2).mean(0), torch.full((6,), 1 / 6), atol=0.02)
    assert torch.equal(ds.extras["teacher"], torch.eye(3, 6))


def test_teacher_student_seeding():
    spec = DataSpec("teacher_student", n_train=40, n_test=40, seed=3)
    a, again = load_dataset(spec), data_mod._teacher_student(spec)  # again: not from the cache
    b = load_dataset(DataSpec("teacher_student", n_train=40, n_test=40, seed=4))
    assert torch.equal(a.X_train, again.X_train) and torch.equal(a.X_test, again.X_test)
    assert not torch.allclose(a.X_train, b.X_train) and not torch.allclose(a.X_test, b.X_test)
    assert not torch.allclose(a.X_train, a.X_test)  # train and test are separate draws


def test_linear_regression_is_exactly_q_x():
    ds = load_dataset(DataSpec("linear_regression", input_dim=8, output_dim=3, seed=2))
    Q = ds.extras["Q"]
    assert Q.shape == (3, 8) and (ds.n_train, ds.n_test) == (1000, 500)
    assert torch.allclose(ds.y_train, ds.X_train @ Q.T, atol=1e-6, rtol=0)
    assert torch.allclose(ds.y_test, ds.X_test @ Q.T, atol=1e-6, rtol=0)
    other = load_dataset(DataSpec("linear_regression", input_dim=8, output_dim=3, seed=5))
    assert not torch.allclose(other.extras["Q"], Q)
    big = load_dataset(DataSpec("linear_regression", input_dim=400, output_dim=50)).extras["Q"]
    assert abs(float(big.std()) * 20 - 1) < 0.05  # entries N(0, 1/d)


def test_digits_split_and_scaling():
    ds = load_dataset(DataSpec("digits"))
    assert (ds.n_train, ds.n_test, ds.input_shape, ds.n_outputs) == (1297, 500, (64,), 10)
    assert ds.X_train.min() == 0 and ds.X_train.max() == 1
    # Stratified: each class holds its share of the 500 test images, to within one image.
    share = 500 * torch.bincount(torch.cat([ds.y_train, ds.y_test])) / 1797
    assert (torch.bincount(ds.y_test, minlength=10) - share).abs().max() <= 1
    other = load_dataset(DataSpec("digits", seed=1))
    assert not torch.equal(ds.y_test, other.y_test)
    assert torch.equal(ds.X_test, load_dataset(DataSpec("digits", n_test=500)).X_test)


def test_n_train_keeps_the_first_examples_and_rejects_too_many():
    full = load_dataset(DataSpec("digits"))
    part = load_dataset(DataSpec("digits", n_train=100, n_test=7))
    assert torch.equal(part.X_train, full.X_train[:100])
    assert torch.equal(part.y_test, full.y_test[:7])
    assert "first 100" in part.description
    with pytest.raises(ValueError, match="at most 1297"):
        load_dataset(DataSpec("digits", n_train=1298))
    with pytest.raises(ValueError, match="at most 500"):
        load_dataset(DataSpec("digits", n_test=501))


# ---------------------------------------------------------------- real data files


def test_mnist_known_facts():
    ds = real("mnist")
    assert ds.X_train.shape == (60000, 1, 28, 28) and ds.X_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                    6265, 5851, 5949]
    assert torch.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                   974, 1009]
    pixels = (ds.X_train[:200] * 0.3081 + 0.1307) * 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-3)
    assert pixels.min().round() == 0 and pixels.max().round() == 255
    assert "0.1307" in ds.description and "0.3081" in ds.description


def test_fashion_mnist_balanced_classes():
    ds = real("fashion_mnist", n_train=60000)
    assert torch.bincount(ds.y_train).tolist() == [6000] * 10
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    pixels = (ds.X_test[:100] * 0.3530 + 0.2860) * 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-3)


def test_cifar_partial_known_pixels(caplog):
    data_mod.clear_data_cache()
    with caplog.at_level(logging.WARNING, logger="landscape_core.data"):
        ds = real("cifar10")
    assert any("partial CIFAR-10" in r.getMessage() for r in caplog.records)
    assert (ds.n_train, ds.n_test, ds.input_shape) == (4000, 1000, (3, 32, 32))
    assert "4000 of 50000" in ds.description and "1000 of 10000" in ds.description
    assert ds.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert ds.y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2470, 0.2435, 0.2616])
    raw = lambda x: ((x[:, 0, 0] * std + mean) * 255).round().tolist()
    assert raw(ds.X_train[0]) == [59, 62, 63]
    assert raw(ds.X_test[0]) == [158, 112, 49]


def test_mnist1d_npz():
    ds = real("mnist1d")
    assert (ds.n_train, ds.n_test, ds.input_shape) == (4000, 1000, (40,))
    assert ds.y_train.dtype == torch.int64 and set(ds.y_train.unique().tolist()) == set(range(10))


def test_torchvision_raw_layout(isolated):
    src = needs_shared("mnist")
    raw = isolated / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_NAMES:
        (raw / name).symlink_to(src / name)
    ds = load_dataset(DataSpec("mnist", n_train=1000))
    assert str(raw) in ds.description and ds.n_train == 1000 and ds.n_test == 10000
    assert torch.equal(ds.y_train, real("mnist").y_train[:1000])


# ---------------------------------------------------------------- small files written here


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_flat_layout_and_values(isolated, compress):
    images, labels = write_tiny_idx_set(isolated, compress)
    ds = load_dataset(DataSpec("mnist"))
    assert (ds.n_train, ds.n_test) == (6, 6) and ds.y_train.tolist() == labels.tolist()
    back = (ds.X_train[:, 0] * 0.3081 + 0.1307) * 255
    assert torch.allclose(back, torch.from_numpy(images).float(), atol=1e-3)
    with pytest.raises(ValueError, match="at most 6 .*only 6 train"):
        load_dataset(DataSpec("mnist", n_train=7))


def test_cifar_binary_record_layout(isolated):
    rng = np.random.default_rng(1)
    records = rng.integers(0, 256, (5, 3073)).astype(np.uint8)
    records[:, 0] = [3, 1, 4, 1, 5]
    folder = isolated / "cifar-10-batches-bin"
    folder.mkdir()
    for name in [f"data_batch_{i}.bin" for i in (1, 2)] + ["test_batch.bin"]:
        (folder / name).write_bytes(records.tobytes())
    ds = load_dataset(DataSpec("cifar10"))
    assert ds.n_train == 10 and ds.y_train.tolist() == [3, 1, 4, 1, 5] * 2
    mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2470, 0.2435, 0.2616])
    back = (ds.X_test[2] * std.view(3, 1, 1) + mean.view(3, 1, 1)) * 255
    expected = torch.from_numpy(records[2, 1:].reshape(3, 32, 32).astype(np.float32))
    assert torch.allclose(back, expected, atol=1e-3)  # R plane, then G, then B, row-major


@pytest.mark.parametrize("name, expected_files", [
    ("mnist", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "MNIST/raw/"]),
    ("fashion_mnist", ["train-labels-idx1-ubyte.gz", "fashion-mnist/", "FashionMNIST/raw/"]),
    ("cifar10", ["data_batch_1.bin", "test_batch.bin", "pickled", "cifar-10-batches-bin/"]),
    ("mnist1d", ["mnist1d_data.npz", "mnist1d/"]),
])
def test_missing_files_message(isolated, tmp_path, name, expected_files):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(DataSpec(name, data_dir=str(tmp_path / "given")))
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for part in expected_files + [str(tmp_path / "given"), str(isolated), "LANDSCAPE_DATA_DIR",
                                  "--data-dir", "does not exist"]:
        assert part in msg, part
    assert msg.index(str(tmp_path / "given")) < msg.index(str(isolated))


def test_incomplete_folder_and_pickles_are_reported(isolated):
    write_tiny_idx_set(isolated / "mnist", compress=True)
    (isolated / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="incomplete: it lacks t10k-labels-idx1-ubyte"):
        load_dataset(DataSpec("mnist"))
    (isolated / "cifar-10-batches-py").mkdir()
    (isolated / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"not read")
    with pytest.raises(DataNotFoundError, match="never loaded"):
        load_dataset(DataSpec("cifar10"))


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_idx_file_names_the_file(isolated, compress):
    write_tiny_idx_set(isolated / "mnist", compress)
    victim = isolated / "mnist" / ("train-images-idx3-ubyte" + (".gz" if compress else ""))
    victim.write_bytes(victim.read_bytes()[:-40])
    with pytest.raises(ValueError, match="corrupted or truncated") as info:
        load_dataset(DataSpec("mnist"))
    assert str(victim) in str(info.value)


def test_wrong_idx_magic_or_extra_bytes_names_the_file(isolated):
    write_tiny_idx_set(isolated / "mnist", compress=False)
    victim = isolated / "mnist" / "t10k-labels-idx1-ubyte"
    good = victim.read_bytes()
    victim.write_bytes(b"\x00\x00\x08\x03" + good[4:])
    with pytest.raises(ValueError, match="magic number 0x00000801") as info:
        load_dataset(DataSpec("mnist"))
    assert str(victim) in str(info.value)
    victim.write_bytes(good + b"\x01")
    with pytest.raises(ValueError, match="holds 15 bytes") as info:
        load_dataset(DataSpec("mnist"))
    assert str(victim) in str(info.value)


def test_truncated_cifar_file_names_the_file(isolated):
    folder = isolated / "cifar10"
    folder.mkdir()
    (folder / "data_batch_1.bin").write_bytes(bytes(3073 * 2))
    (folder / "test_batch.bin").write_bytes(bytes(3073 * 2 - 100))
    with pytest.raises(ValueError, match="not a positive multiple of the 3073") as info:
        load_dataset(DataSpec("cifar10"))
    assert str(folder / "test_batch.bin") in str(info.value)


def test_mnist1d_with_pickled_content_is_refused(isolated):
    folder = isolated / "mnist1d"
    folder.mkdir()
    x = np.zeros((5, 40)).astype(object)  # right shapes, but object arrays need pickle to load
    y = np.zeros(5, np.int64)
    np.savez(folder / "mnist1d_data.npz", x=x, y=y, x_test=x, y_test=y)
    with pytest.raises(ValueError, match="mnist1d_data.npz"):
        load_dataset(DataSpec("mnist1d"))
