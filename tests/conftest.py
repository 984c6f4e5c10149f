"""Shared fixtures: a private cache folder per test and small seeded minima."""
from __future__ import annotations

import pytest
import torch

from landscape_core import DataSpec, DiskCache, ModelSpec, TrainSpec, train_minima

TINY_MODEL = ModelSpec("mlp", width=16, depth=1, input_shape=(64,), n_outputs=10)
TINY_DATA = DataSpec("digits", n_train=400, n_test=200)
TINY_TRAIN = TrainSpec("adam", lr=1e-2, batch_size=100, epochs=15)


@pytest.fixture(autouse=True)
def main_module_restored():
    """Streamlit's AppTest runs a page as ``__main__`` and leaves it in ``sys.modules``; processes
    started later with "spawn" (process pools, Dask workers) would then re-run that page on
    start. Every test gets the session's own ``__main__`` back."""
    import sys
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache folder (also seen by code that uses the default)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(root))
    return DiskCache(root)


@pytest.fixture
def one_thread():
    """Tiny per-step work: one intra-op thread is faster and immune to CPU oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_minima(tmp_path_factory):
    """Three independently trained minima of a tiny MLP on 400 digits (a few seconds)."""
    cache = DiskCache(tmp_path_factory.mktemp("minima-cache"))
    return train_minima(TINY_MODEL, TINY_DATA, TINY_TRAIN, seeds=[0, 1, 2], cache=cache)


@pytest.fixture
def blobs():
    """128 labelled points in 4-D, 3 classes, from a fixed generator."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (128,), generator=g)
    X = torch.randn(128, 4, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 4).float()
    return X, y
