"""The evaluation engine against a naive per-point load_state_dict loop (the oracle)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape_core import Evaluator, ModelSpec, build_model, flatten
from landscape_core.evaluate import BatchedLoss, split_first_layer
from landscape_core.params import ParamLayout, unflatten


def naive(model, thetas, X, y, batch_size=7):
    """Oracle: load every point with load_state_dict, forward it batch by batch, and divide
    the exact float64 sum of per-sample losses (and of correct predictions) once."""
    m = copy.deepcopy(model).eval()
    base = {k: v.clone() for k, v in m.state_dict().items()}
    losses, accs = [], []
    for theta in thetas:
        state = dict(base)
        state.update({k: v.clone() for k, v in unflatten(theta, m).items()})
        m.load_state_dict(state)
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                out, yb = m(X[i:i + batch_size]), y[i:i + batch_size]
                if y.is_floating_point():
                    loss_sum += ((out - yb) ** 2).sum(1).double().sum().item()
                else:
                    loss_sum += F.cross_entropy(out, yb, reduction="sum").double().item()
                    correct += int((out.argmax(1) == yb).sum())
        losses.append(loss_sum / X.shape[0])
        accs.append(correct / X.shape[0])
    return np.array(losses), (np.array(accs) if not y.is_floating_point() else None)


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


# ----------------------------------------------------------------- hand-written modules
class Student(nn.Module):
    """The two-layer ReLU student written by hand: f(x) = sum_i relu(w_i . x)."""

    def __init__(self, d=6, width=20):
        super().__init__()
        self.hidden = nn.Linear(d, width, bias=False)

    def forward(self, x):
        return torch.relu(self.hidden(x)).sum(dim=-1, keepdim=True)


class SkipMLP(nn.Module):
    """Linear first, then more layers and a skip connection that reads the raw input again."""

    def __init__(self, d=5, width=7, n_out=3):
        super().__init__()
        self.inp = nn.Linear(d, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)
        self.skip = nn.Linear(d, n_out, bias=False)

    def forward(self, x):
        h = F.gelu(self.inp(x.flatten(1)))
        return self.out(torch.tanh(self.mid(h))) + self.skip(x.flatten(1))


class TokenLinear(nn.Module):
    """First Linear applied to a 3-D input (tokens x features), then pooled."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 6)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(F.relu(self.embed(x)).mean(dim=1))


class GroupedConv(nn.Module):
    """A grouped Conv2d first (its products cannot be stacked along output channels)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, groups=2)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))


CUSTOM = [("student", Student, (40, 6), None, 1),
          ("skip-mlp", SkipMLP, (40, 5), 3, 3),
          ("tokens", TokenLinear, (30, 5, 3), 4, 4),
          ("grouped-conv", GroupedConv, (20, 2, 5, 5), 3, 3)]


@pytest.mark.parametrize("name,cls,shape,n_classes,n_out", CUSTOM, ids=[c[0] for c in CUSTOM])
@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_affine_shortcut_on_traced_custom_modules(name, cls, shape, n_classes, n_out, strategy):
    """Hand-written forward(): the shortcut is found by tracing and matches the oracle."""
    X, y = _data(shape, n_classes, n_out, seed=2)
    torch.manual_seed(0)
    models = [cls() for _ in range(3)]
    th = torch.stack([flatten(m) for m in models])
    coeffs = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, 0.4], [-0.5, 1.5], [2.0, -1.0]])
    ev = Evaluator(models[0], X, y, batch_size=9, chunk_size=2, strategy=strategy, bn_policy="eval")
    got = ev.evaluate_affine(th[0], th[1:] - th[0], coeffs)
    points = th[0] + torch.as_tensor(coeffs, dtype=torch.float32) @ (th[1:] - th[0])
    ref_loss, ref_acc = naive(models[0], points, X, y)
    assert got.strategy == f"{strategy}+first-layer"
    np.testing.assert_allclose(got.loss, ref_loss, rtol=1e-4, atol=1e-6)
    if n_classes:
        np.testing.assert_allclose(got.accuracy, ref_acc, atol=1e-9)
    # the plain route over the same points agrees too
    np.testing.assert_allclose(ev.evaluate(points).loss, ref_loss, rtol=1e-4, atol=1e-6)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)


class OutputBranch(Branchy):
    """Control flow on the outputs: neither fx nor vmap can handle it (the loop takes over)."""

    def forward(self, x):
        h = self.fc(x)
        return h if h.max() < 100 else torch.zeros_like(h)


class ScaledFirst(nn.Module):
    """The first parametrised operation is an elementwise scale, not a Linear/Conv2d."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x * self.scale)


class NormFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.norm(x))


@pytest.mark.parametrize("cls", [Branchy, OutputBranch, ScaledFirst, NormFirst])
def test_no_shortcut_falls_back_to_the_plain_route(cls):
    X, y = _data((30, 4), 3, 3, seed=3)
    torch.manual_seed(1)
    models = [cls() for _ in range(3)]
    th = torch.stack([flatten(m) for m in models])
    ev = Evaluator(models[0], X, y, batch_size=7, strategy="vmap")   # Branchy: batch-dependent
    assert ev.split is None
    got = ev.evaluate_affine(th[0], th[1:] - th[0], [[0.5, 0.25], [1.0, -1.0]])
    points = th[0] + torch.tensor([[0.5, 0.25], [1.0, -1.0]]) @ (th[1:] - th[0])
    np.testing.assert_allclose(got.loss, naive(models[0], points, X, y)[0], rtol=1e-5)
    assert "first-layer" not in got.strategy


def test_split_of_a_sequential_and_of_its_hand_written_twin_agree():
    spec = ModelSpec("two_layer_relu", width=8, input_shape=(5,), n_outputs=1, bias=False)
    seq = build_model(spec, 0)
    own = Student(5, 8)
    own.hidden.weight.data.copy_(seq[1].weight.data)
    X = torch.randn(6, 5)
    for model, layer_name in ((seq, "1"), (own, "hidden")):
        split = split_first_layer(model.eval(), ParamLayout.of(model), X)
        assert split is not None and split.layer_name == layer_name
        assert split.activation is not None and split.rest_layout.dim == 0


def test_bn_recompute_through_evaluate_affine_equals_evaluate():
    spec = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=2, batch_norm=True)
    X, y = _data((40, 4), 2, 2)
    th = torch.stack([flatten(build_model(spec, s)) for s in range(3)])
    ev = Evaluator(build_model(spec), 2 * X + 1, y, bn_policy="recompute", batch_size=16)
    coeffs = torch.tensor([[0.2, 0.3], [0.5, 0.5]])
    a = ev.evaluate_affine(th[0], th[1:] - th[0], coeffs.numpy())
    b = ev.evaluate(th[0] + coeffs @ (th[1:] - th[0]))
    assert a.strategy == b.strategy == "loop+bn"
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6)


def test_hand_written_module_gets_the_shortcut_and_the_loop_s_answer(one_thread):
    """Hand-written student (d=16, width 256, 2,000 samples, 21 x 21 plane): the engine takes the
    first-layer shortcut (found by tracing, no nn.Sequential needed) and agrees with what a user
    would write (load the weights, forward). Its speed against that loop is measured in
    bench/bench_engine.py (case C), not here: timed tests do not belong in the suite."""
    torch.manual_seed(0)
    models = [Student(16, 256) for _ in range(3)]
    X = torch.randn(2000, 16)
    y = torch.randn(2000, 1)
    th = torch.stack([flatten(m) for m in models])
    g = np.linspace(-0.5, 1.5, 21)
    coeffs = np.array([[a, b] for a in g for b in g], dtype=np.float32)
    points = th[0] + torch.as_tensor(coeffs) @ (th[1:] - th[0])
    res = Evaluator(models[0], X, y, bn_policy="eval").evaluate_affine(th[0], th[1:] - th[0], coeffs)
    assert res.strategy.endswith("+first-layer"), res.strategy

    with torch.no_grad():
        m = copy.deepcopy(models[0])
        loop = []
        for p in points:
            m.hidden.weight.copy_(p.view(256, 16))
            loop.append(((m(X) - y) ** 2).sum(1).mean().item())
    np.testing.assert_allclose(res.loss, np.array(loop), rtol=1e-4)


# ----------------------------------------------------------------- BatchedLoss
def _per_point_autograd(model, points, xb, yb, loss, train_bn=False):
    """Plain autograd, one point at a time: load it, forward, mean loss, backward."""
    grads, values = [], []
    for theta in points:
        m = copy.deepcopy(model)
        m.eval()
        if train_bn:
            for mod in m.modules():
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    mod.train()
        with torch.no_grad():
            for name, view in unflatten(theta.detach(), m).items():
                m.get_parameter(name).copy_(view)
        out = m(xb)
        value = (F.cross_entropy(out, yb) if loss == "cross_entropy"
                 else ((out - yb) ** 2).sum(1).mean())
        value.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters() if p.requires_grad]))
        values.append(value.detach())
    return torch.stack(values), torch.stack(grads)


@pytest.mark.parametrize("case", ["mlp", "bn-recompute", "frozen", "custom"])
def test_batched_loss_gradients_equal_per_point_autograd(case):
    torch.manual_seed(0)
    if case == "custom":
        model, X, y, loss = SkipMLP(), torch.randn(12, 5), torch.randint(0, 3, (12,)), "cross_entropy"
    else:
        spec = ModelSpec("mlp", width=6, depth=1, input_shape=(4,), n_outputs=2,
                         batch_norm=case == "bn-recompute")
        model, X, y, loss = build_model(spec, 0), torch.randn(12, 4), torch.randn(12, 2), "mse"
    if case == "frozen":
        model[1].weight.requires_grad_(False)
    theta = flatten(model)
    points = (theta + 0.1 * torch.randn(3, theta.numel())).requires_grad_(True)
    batched = BatchedLoss(model, loss, "recompute", torch.device("cpu"))
    values = batched(points, X, y)
    (grad,) = torch.autograd.grad(values.sum(), points)
    ref_values, ref_grads = _per_point_autograd(model, points, X, y, loss, train_bn=case == "bn-recompute")
    torch.testing.assert_close(values.detach(), ref_values, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref_grads, rtol=1e-4, atol=1e-6)
    assert batched.loop == (case == "bn-recompute")


def test_frozen_first_layer_shortcut_keeps_module_values():
    """A frozen first-layer weight is not in theta; the shortcut uses the module's value."""
    torch.manual_seed(0)
    models = [SkipMLP() for _ in range(3)]
    for m in models:
        m.inp.weight.requires_grad_(False)
    X, y = _data((30, 5), 3, 3, seed=4)
    th = torch.stack([flatten(m) for m in models])
    ev = Evaluator(models[0], X, y, bn_policy="eval")
    assert ev.dim == th.shape[1] == sum(p.numel() for p in models[0].parameters()) - 35
    coeffs = np.array([[0.5, 0.5], [1.0, -0.5]])
    got = ev.evaluate_affine(th[0], th[1:] - th[0], coeffs)
    assert got.strategy.endswith("+first-layer")
    points = th[0] + torch.as_tensor(coeffs, dtype=torch.float32) @ (th[1:] - th[0])
    np.testing.assert_allclose(got.loss, naive(models[0], points, X, y)[0], rtol=1e-5)
    assert not models[0].inp.weight.requires_grad
