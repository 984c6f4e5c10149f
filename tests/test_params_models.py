"""Flat parameter vectors, the model zoo and the spec validation."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.func import functional_call, vmap

from landscape_core import (DataSpec, Experiment, ModelSpec, TrainSpec, build_model, count_parameters,
                            flatten, preset, unflatten)
from landscape_core.cache import make_key
from landscape_core.config import PRESETS, spec_dict

ALL_ARCHS = [
    ModelSpec("two_layer_relu", width=7, input_shape=(5,), n_outputs=1, bias=False),
    ModelSpec("deep_linear", width=4, depth=3, input_shape=(5,), n_outputs=2),
    ModelSpec("mlp", hidden=(9, 6), input_shape=(1, 3, 3), n_outputs=4, batch_norm=True, dropout=0.1),
    ModelSpec("vgg", width=2, variant="vgg16", input_shape=(1, 28, 28), n_outputs=10, batch_norm=True),
    ModelSpec("vgg", width=2, variant="vgg11", input_shape=(3, 32, 32), n_outputs=10),
    ModelSpec("resnet", width=4, variant="resnet18", input_shape=(3, 16, 16), n_outputs=10, batch_norm=True),
    ModelSpec("resnet", width=4, variant="resnet34", input_shape=(3, 8, 8), n_outputs=3),
]


@pytest.mark.parametrize("spec", ALL_ARCHS, ids=lambda s: f"{s.arch}-{s.variant}")
def test_models_build_run_and_round_trip(spec):
    model = build_model(spec, seed=1)
    x = torch.randn(2, *spec.input_shape)
    assert model(x).shape == (2, spec.n_outputs)
    theta = flatten(model)
    assert theta.shape == (count_parameters(model),)
    views = unflatten(theta, model)
    for name, p in model.named_parameters():
        assert torch.equal(views[name], p.detach())


def test_build_is_deterministic_per_seed_and_leaves_global_rng_alone():
    spec = ModelSpec("mlp", width=8, depth=2, input_shape=(3,), n_outputs=2)
    state = torch.random.get_rng_state()
    a, b, c = (flatten(build_model(spec, s)) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_init_scale_multiplies_every_parameter():
    spec = ModelSpec("mlp", width=8, depth=1, input_shape=(3,), n_outputs=2)
    base = flatten(build_model(spec, 4))
    scaled = flatten(build_model(dataclasses.replace(spec, init_scale=0.25), 4))
    torch.testing.assert_close(scaled, 0.25 * base)


def test_unflatten_is_vmap_safe_and_differentiable():
    spec = ModelSpec("mlp", width=5, depth=1, input_shape=(3,), n_outputs=2)
    model = build_model(spec)
    thetas = torch.stack([flatten(build_model(spec, s)) for s in range(4)]).requires_grad_(True)
    x = torch.randn(6, 3)
    out = vmap(lambda th: functional_call(model, unflatten(th, model), (x,)))(thetas)
    assert out.shape == (4, 6, 2)
    out.sum().backward()
    assert thetas.grad is not None and thetas.grad.abs().sum() > 0


def test_student_is_sum_of_relu_neurons():
    spec = ModelSpec("two_layer_relu", width=3, input_shape=(2,), n_outputs=1, bias=False)
    model = build_model(spec)
    W = model[1].weight.detach()
    x = torch.randn(5, 2)
    torch.testing.assert_close(model(x)[:, 0], torch.relu(x @ W.T).sum(1))


@pytest.mark.parametrize("field,value,cls", [
    ("width", 0, ModelSpec), ("arch", "transformer", ModelSpec), ("dropout", 1.5, ModelSpec),
    ("activation", "swish", ModelSpec), ("init_scale", -1.0, ModelSpec),
    ("lr", 0.0, TrainSpec), ("optimizer", "lbfgs", TrainSpec), ("batch_size", 0, TrainSpec),
    ("target_train_acc", 1.5, TrainSpec), ("name", "imagenet", DataSpec), ("n_train", 0, DataSpec),
])
def test_invalid_spec_values_name_the_field(field, value, cls):
    with pytest.raises((ValueError, TypeError), match=rf"'{field}' parameter of {cls.__name__}"):
        cls(**{field: value})


def test_vgg_needs_an_image_shape():
    with pytest.raises(ValueError, match="input_shape"):
        ModelSpec("vgg", input_shape=(784,))


def test_cache_keys_ignore_field_order_and_change_with_any_field():
    spec = ModelSpec("mlp", width=8)
    d = spec_dict(spec)
    shuffled = dict(reversed(list(d.items())))
    assert make_key("minimum", d) == make_key("minimum", shuffled)
    for field, value in [("width", 9), ("depth", 3), ("activation", "tanh"), ("init_scale", 0.5)]:
        assert make_key("minimum", spec_dict(dataclasses.replace(spec, **{field: value}))) != make_key("minimum", d)


def test_presets_are_valid_and_replace_reaches_nested_fields():
    for name in PRESETS:
        assert isinstance(preset(name), Experiment)
    e = preset("tiny").replace(**{"model.width": 5, "train.lr": 0.5, "n_minima": 2})
    assert e.model.width == 5 and e.train.lr == 0.5 and e.n_minima == 2 and e.seed_list == (0, 1)
    with pytest.raises(ValueError, match="name"):
        preset("nope")


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_frozen_parameters_are_not_part_of_theta(strategy):
    """requires_grad=False: D excludes the tensor, the module's value is used at every point,
    the engine evaluates flatten(model) to the model's own loss, and no flag is changed."""
    import copy

    import torch.nn.functional as F

    from landscape_core import Evaluator
    from landscape_core.evaluate import BatchedLoss
    from landscape_core.params import ParamLayout, load_flat

    model = build_model(ModelSpec("mlp", width=8, depth=1, input_shape=(4,), n_outputs=3), 0)
    model[1].weight.requires_grad_(False)          # freeze the first layer's 8 x 4 weight
    flags = [p.requires_grad for p in model.parameters()]
    total = sum(p.numel() for p in model.parameters())
    layout = ParamLayout.of(model)
    assert layout.dim == count_parameters(model) == total - 32
    assert "1.weight" not in layout.names
    theta = flatten(model)
    assert theta.shape == (total - 32,)
    assert set(unflatten(theta, model)) == {"1.bias", "3.weight", "3.bias"}

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(37, 4, generator=g), torch.randint(0, 3, (37,), generator=g)
    ev = Evaluator(model, X, y, batch_size=10, strategy=strategy, bn_policy="eval")
    assert ev.dim == layout.dim
    got = ev.evaluate(flatten(model))
    with torch.no_grad():   # the model's own loss, by hand
        expected = F.cross_entropy(model(X), y).item()
    assert got.loss[0] == pytest.approx(expected, rel=1e-5)

    # another theta changes only the trainable tensors; the frozen weight keeps its value
    other = copy.deepcopy(model)
    load_flat(other, torch.zeros_like(theta))
    assert torch.equal(other[1].weight, model[1].weight) and float(other[3].weight.detach().abs().sum()) == 0
    with torch.no_grad():
        expected0 = F.cross_entropy(other(X), y).item()
    assert ev.evaluate(torch.zeros_like(theta)).loss[0] == pytest.approx(expected0, rel=1e-5)

    BatchedLoss(model, "cross_entropy", "eval", "cpu")(theta[None], X, y)
    assert [p.requires_grad for p in model.parameters()] == flags   # the user's flags untouched
    assert [p.requires_grad for p in ev.model.parameters()] == flags
