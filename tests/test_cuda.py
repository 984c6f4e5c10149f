"""Tests that need CUDA: device placement, the engine against a naive loop on the GPU, the
BatchNorm recompute policy on the GPU, and a quick GPU-preset run. Skipped on a CPU machine
with a visible reason; ``bash bench/gpu_check.sh`` runs them on a GPU and records the result."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import vector_to_parameters

from landscape_core import (DataSpec, DiskCache, Evaluator, ModelSpec, TrainSpec, build_model,
                            flatten, load_dataset, reproduce, train_minima)
from landscape_core.center import CenterSpec, center_for_minima

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs CUDA: run bash bench/gpu_check.sh on a GPU machine")

MLP = ModelSpec("mlp", width=32, depth=2, input_shape=(64,), n_outputs=10)
BN_VGG = ModelSpec("vgg", width=4, variant="small", input_shape=(1, 8, 8), n_outputs=10,
                   batch_norm=True)
DIGITS = DataSpec("digits", n_train=300, n_test=100)
TRAIN = TrainSpec("adam", lr=1e-2, batch_size=50, epochs=5)


@pytest.fixture(autouse=True)
def exact_float32():
    """No TF32: CUDA matmuls and convolutions in full float32, comparable with the CPU."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _plane(spec, seeds=(0, 1, 2), steps=5):
    thetas = [flatten(build_model(spec, s)) for s in seeds]
    dirs = torch.stack([thetas[1] - thetas[0], thetas[2] - thetas[0]])
    a = np.linspace(-0.5, 1.5, steps)
    coeffs = np.array([[x, y] for x in a for y in a], dtype=np.float32)
    return thetas[0], dirs, coeffs


def test_evaluator_keeps_model_and_data_on_the_gpu_and_returns_cpu_numbers():
    ds = load_dataset(DIGITS)
    ev = Evaluator(build_model(MLP), ds.X_train, ds.y_train, device="cuda")
    assert ev.device.type == "cuda" and ev.X.is_cuda
    assert all(p.is_cuda for p in ev.model.parameters())
    r = ev.evaluate(flatten(build_model(MLP, 1)))
    assert isinstance(r.loss, np.ndarray) and np.isfinite(r.loss).all()


def test_training_and_center_finding_on_the_gpu_give_cpu_tensors(tmp_cache):
    minima = train_minima(MLP, DIGITS, TRAIN, seeds=[0, 1], cache=tmp_cache, device="cuda")
    assert all(not m.theta.is_cuda and m.train_acc > 0.5 for m in minima)
    c = center_for_minima(minima, CenterSpec.fast(steps=5), cache=tmp_cache, device="cuda")
    assert not c.theta.is_cuda and torch.isfinite(c.theta).all()


def test_engine_on_the_gpu_matches_a_naive_loop_and_the_cpu():
    ds = load_dataset(DIGITS)
    origin, dirs, coeffs = _plane(MLP)
    gpu = Evaluator(build_model(MLP), ds.X_train, ds.y_train, device="cuda")
    got = gpu.evaluate_affine(origin, dirs, coeffs)
    cpu = Evaluator(build_model(MLP), ds.X_train, ds.y_train, device="cpu").evaluate_affine(
        origin, dirs, coeffs)
    m = copy.deepcopy(build_model(MLP)).cuda().eval()
    X, y = ds.X_train.cuda(), ds.y_train.cuda()
    naive = []
    with torch.no_grad():
        for c in torch.as_tensor(coeffs):
            vector_to_parameters((origin + c @ dirs).cuda(), m.parameters())
            naive.append(F.cross_entropy(m(X), y).item())
    np.testing.assert_allclose(got.loss, naive, rtol=1e-4)
    np.testing.assert_allclose(got.loss, cpu.loss, rtol=1e-4)
    np.testing.assert_allclose(got.accuracy, cpu.accuracy, atol=1.5 / ds.X_train.shape[0])


def test_batchnorm_recompute_on_the_gpu_matches_the_cpu():
    ds = load_dataset(DataSpec("digits", n_train=200, n_test=50))
    X = ds.X_train.reshape(-1, 1, 8, 8)
    origin, dirs, coeffs = _plane(BN_VGG, steps=3)
    kw = dict(bn_policy="recompute")
    gpu = Evaluator(build_model(BN_VGG), X, ds.y_train, device="cuda", **kw)
    cpu = Evaluator(build_model(BN_VGG), X, ds.y_train, device="cpu", **kw)
    g, c = gpu.evaluate_affine(origin, dirs, coeffs), cpu.evaluate_affine(origin, dirs, coeffs)
    assert g.bn_policy == "recompute"
    np.testing.assert_allclose(g.loss, c.loss, rtol=1e-4)


def test_mixed_precision_where_offered():
    pytest.skip("mixed precision: the engine and training run in float32 only (no autocast "
                "option is offered), so there is nothing to check")


def test_quick_gpu_preset_table2_runs_on_cuda(tmp_path):
    res = reproduce.run("table2", quick=True, setting="cifar-vgg16", device="cuda", quiet=True,
                        out_dir=tmp_path, cache=DiskCache(tmp_path / "cache"))
    row = res["results"]["tradeoff"][0]
    assert row["bn_policy"] == "recompute" and np.isfinite(row["ngd_upper_bound"])
