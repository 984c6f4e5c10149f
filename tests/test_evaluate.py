"""The evaluation engine against a naive per-point load_state_dict loop (the oracle)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape_core import Evaluator, ModelSpec, build_model, flatten
from landscape_core.params import load_flat


def naive(model, thetas, X, y):
    """Oracle: copy every point into a model and run one full-batch forward pass."""
    m = copy.deepcopy(model).eval()
    losses, accs = [], []
    for theta in thetas:
        load_flat(m, theta)
        with torch.no_grad():
            out = m(X)
        if y.is_floating_point():
            losses.append(((out - y) ** 2).sum(1).mean().item())
        else:
            losses.append(F.cross_entropy(out, y).item())
            accs.append((out.argmax(1) == y).float().mean().item())
    return np.array(losses), (np.array(accs) if accs else None)


CASES = [
    ("mlp", ModelSpec("mlp", width=12, depth=2, input_shape=(1, 4, 4), n_outputs=5), (60, 1, 4, 4), 5),
    ("student", ModelSpec("two_layer_relu", width=20, input_shape=(6,), n_outputs=1, bias=False), (60, 6), None),
    ("linear", ModelSpec("deep_linear", width=5, depth=3, input_shape=(3,), n_outputs=2), (60, 3), None),
    ("vgg", ModelSpec("vgg", width=2, input_shape=(3, 8, 8), n_outputs=4), (24, 3, 8, 8), 4),
    ("resnet-bn", ModelSpec("resnet", width=8, input_shape=(3, 8, 8), n_outputs=4, batch_norm=True),
     (24, 3, 8, 8), 4),
    ("tanh-dropout", ModelSpec("mlp", width=9, depth=1, input_shape=(7,), n_outputs=3,
                               activation="tanh", dropout=0.3), (60, 7), 3),
]


def _data(shape, n_classes, n_out, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(*shape, generator=g)
    y = (torch.randint(0, n_classes, (shape[0],), generator=g) if n_classes
         else torch.randn(shape[0], n_out, generator=g))
    return X, y


@pytest.mark.parametrize("name,spec,shape,n_classes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_evaluate_matches_naive_loop(name, spec, shape, n_classes, strategy):
    X, y = _data(shape, n_classes, spec.n_outputs)
    models = [build_model(spec, s) for s in range(3)]
    thetas = torch.stack([flatten(m) for m in models])
    ev = Evaluator(models[0], X, y, strategy=strategy, batch_size=17, bn_policy="eval")
    got = ev.evaluate(thetas)
    ref_loss, ref_acc = naive(models[0], thetas, X, y)
    np.testing.assert_allclose(got.loss, ref_loss, rtol=1e-4, atol=1e-6)
    if n_classes:
        np.testing.assert_allclose(got.accuracy, ref_acc, atol=1e-9)
    else:
        assert got.accuracy is None


@pytest.mark.parametrize("name,spec,shape,n_classes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_affine_shortcut_matches_materialised_points(name, spec, shape, n_classes, strategy):
    X, y = _data(shape, n_classes, spec.n_outputs, seed=1)
    models = [build_model(spec, s) for s in range(3)]
    th = torch.stack([flatten(m) for m in models])
    coeffs = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.3, 0.4], [-0.5, 1.5], [2.0, -1.0]])
    ev = Evaluator(models[0], X, y, batch_size=13, bn_policy="eval", strategy=strategy)
    got = ev.evaluate_affine(th[0], th[1:] - th[0], coeffs)
    points = th[0] + torch.as_tensor(coeffs, dtype=torch.float32) @ (th[1:] - th[0])
    ref_loss, _ = naive(models[0], points, X, y)
    np.testing.assert_allclose(got.loss, ref_loss, rtol=1e-4, atol=1e-6)
    if name != "resnet-bn":
        assert got.strategy.endswith("+first-layer")


def test_batch_and_chunk_sizes_do_not_change_means():
    spec = ModelSpec("mlp", width=10, depth=1, input_shape=(5,), n_outputs=3)
    X, y = _data((101, 5), 3, 3)
    thetas = torch.stack([flatten(build_model(spec, s)) for s in range(5)])
    model = build_model(spec)
    a = Evaluator(model, X, y, batch_size=101, chunk_size=5).evaluate(thetas)
    b = Evaluator(model, X, y, batch_size=7, chunk_size=2).evaluate(thetas)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)


def test_bn_recompute_matches_train_mode_statistics():
    """Recompute policy: running stats equal to the data's batch statistics (full batch)."""
    spec = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=2, batch_norm=True)
    X, y = _data((50, 4), 2, 2)
    X = 3 * X + 2          # far from the fresh buffers (mean 0, var 1): stale stats would show
    model = build_model(spec, 3)
    theta = flatten(model)
    ev = Evaluator(model, X, y, bn_policy="recompute", batch_size=50)
    got = ev.evaluate(theta)
    # oracle: set the running statistics by hand to the mean and (unbiased, as PyTorch
    # stores it) variance of the BatchNorm layer's input over the whole set
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        h = ref[1](ref[0](X))
        ref[2].running_mean.copy_(h.mean(0))
        ref[2].running_var.copy_(h.var(0, unbiased=True))
        expected = F.cross_entropy(ref(X), y).item()
    assert got.bn_policy == "recompute" and got.strategy == "loop+bn"
    assert got.loss[0] == pytest.approx(expected, rel=1e-4)
    stale = Evaluator(model, X, y, bn_policy="eval").evaluate(theta)
    assert stale.bn_policy == "eval" and abs(stale.loss[0] - expected) > 1e-3


def test_caller_model_and_thetas_are_not_modified(blobs):
    X, y = blobs
    model = build_model(ModelSpec("mlp", width=8, depth=1, input_shape=(4,), n_outputs=3), 0)
    before = flatten(model)
    thetas = torch.randn(4, before.numel())
    saved = thetas.clone()
    Evaluator(model, X, y).evaluate_affine(thetas[0], thetas[1:3], [[0.5, 0.5]])
    assert torch.equal(flatten(model), before) and torch.equal(thetas, saved)


@pytest.mark.parametrize("bad", [torch.zeros(3, 7), torch.zeros(2, 3, 4)])
def test_wrong_theta_shape_is_a_clear_error(blobs, bad):
    X, y = blobs
    ev = Evaluator(build_model(ModelSpec("mlp", width=8, depth=1, input_shape=(4,), n_outputs=3)), X, y)
    with pytest.raises(ValueError, match=r"must have shape \(K, 67\)"):
        ev.evaluate(bad)


def test_mismatched_data_lengths_are_rejected(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="same non-zero number of samples"):
        Evaluator(nn.Linear(4, 3), X, y[:10])


def test_user_module_without_sequential_structure():
    """Any nn.Module works through the Python API (no first-layer shortcut)."""
    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(3, 4)

        def forward(self, x):
            return self.a(x) * torch.tanh(self.b(x))

    X, y = _data((30, 3), 4, 4)
    torch.manual_seed(0)
    models = [Twin() for _ in range(3)]
    th = torch.stack([flatten(m) for m in models])
    got = Evaluator(models[0], X, y).evaluate_affine(th[0], th[1:] - th[0], [[0.5, 0.25]])
    ref, _ = naive(models[0], (th[0] + 0.5 * (th[1] - th[0]) + 0.25 * (th[2] - th[0]))[None], X, y)
    np.testing.assert_allclose(got.loss, ref, rtol=1e-5)
    assert "first-layer" not in got.strategy
