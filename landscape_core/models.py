"""Model zoo built from a frozen ``ModelSpec``, deterministic per seed.

Every zoo model is an ``nn.Sequential`` whose first parametrised module is a ``Linear`` or a
``Conv2d`` applied (after parameter-free reshaping) to the raw input. ``arch="user"`` calls the
builder of the user's own file (``usermodel``), any ``nn.Module``. The evaluation engine
uses that structure: on a line or plane of parameters the first layer's output is an affine
combination of 2-3 products, computed once (see ``evaluate.Evaluator.evaluate_affine``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import USER_ARCH, ModelSpec

VGG_LAYOUTS = {  # channel multipliers of `width`; "M" = 2x2 max-pool
    "small": (1, "M", 2, "M", 4, "M"),
    "vgg11": (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"),
    "vgg16": (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"),
}
RESNET_LAYOUTS = {  # blocks per stage; stage s has width * 2**s channels
    "small": (1, 1, 1),
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}


class SumNeurons(nn.Module):
    """Sum over hidden units: the paper's student f(x) = sum_i act(w_i . x), no output weights."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.sum(dim=-1, keepdim=True)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs) with an optional 1x1 projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: type, bn: bool):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not bn)
        self.bn1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not bn)
        self.bn2 = norm(c_out)
        self.act = act()
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=not bn), norm(c_out))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(out)) + self.shortcut(x))


def activation(name: str) -> type:
    """Module class for an activation name of ``config.ACTIVATIONS``."""
    return {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "gelu": nn.GELU, "linear": nn.Identity}[name]


def build_model(spec: ModelSpec, seed: int = 0) -> nn.Module:
    """Build the architecture of ``spec`` with a seeded default initialisation.

    The global RNG is left untouched (the build runs inside ``torch.random.fork_rng``).
    ``spec.init_scale`` multiplies every parameter after the default initialisation.

    Examples
    --------
    >>> m = build_model(ModelSpec("mlp", width=8, depth=1, input_shape=(4,), n_outputs=3), seed=0)
    >>> m(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        builder = {"two_layer_relu": _student, "deep_linear": _deep_linear, "mlp": _mlp,
                   "vgg": _vgg, "resnet": _resnet, USER_ARCH: _user}[spec.arch]
        model = builder(spec)
        if spec.init_scale != 1.0:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(spec.init_scale)
    return model.eval()


def _user(spec: ModelSpec) -> nn.Module:
    from .usermodel import build_user_model
    return build_user_model(spec)


def _in_features(spec: ModelSpec) -> int:
    return int(math.prod(spec.input_shape))


def _student(spec: ModelSpec) -> nn.Sequential:
    act = activation(spec.activation)
    return nn.Sequential(nn.Flatten(), nn.Linear(_in_features(spec), spec.width, bias=spec.bias),
                         act(), SumNeurons())


def _deep_linear(spec: ModelSpec) -> nn.Sequential:
    sizes = [_in_features(spec)] + [spec.width] * (spec.depth - 1) + [spec.n_outputs]
    layers = [nn.Linear(a, b, bias=spec.bias) for a, b in zip(sizes[:-1], sizes[1:])]
    return nn.Sequential(nn.Flatten(), *layers)


def _mlp(spec: ModelSpec) -> nn.Sequential:
    hidden = spec.hidden if spec.hidden is not None else (spec.width,) * spec.depth
    act = activation(spec.activation)
    layers: list[nn.Module] = [nn.Flatten()]
    prev = _in_features(spec)
    for h in hidden:
        layers.append(nn.Linear(prev, h, bias=spec.bias))
        if spec.batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(act())
        if spec.dropout > 0:
            layers.append(nn.Dropout(spec.dropout))
        prev = h
    layers.append(nn.Linear(prev, spec.n_outputs, bias=spec.bias))
    return nn.Sequential(*layers)


def _vgg(spec: ModelSpec) -> nn.Sequential:
    c_in, size, _ = spec.input_shape
    act = activation(spec.activation)
    base = max(1, spec.width)
    layers: list[nn.Module] = []
    for item in VGG_LAYOUTS[spec.variant]:
        if item == "M":
            if size >= 2:  # 28x28 inputs run out of resolution before the 5th pool
                layers.append(nn.MaxPool2d(2))
                size //= 2
            continue
        c_out = base * item
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not spec.batch_norm))
        if spec.batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(act())
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if spec.dropout > 0:
        layers.append(nn.Dropout(spec.dropout))
    layers.append(nn.Linear(c_in, spec.n_outputs))
    return nn.Sequential(*layers)


def _resnet(spec: ModelSpec) -> nn.Sequential:
    c_in = spec.input_shape[0]
    act = activation(spec.activation)
    width = max(1, spec.width if spec.variant != "small" else spec.width // 4)
    layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1, bias=not spec.batch_norm)]
    layers.append(nn.BatchNorm2d(width) if spec.batch_norm else nn.Identity())
    layers.append(act())
    c = width
    for stage, n_blocks in enumerate(RESNET_LAYOUTS[spec.variant]):
        c_out = width * 2 ** stage
        for b in range(n_blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            layers.append(BasicBlock(c, c_out, stride, act, spec.batch_norm))
            c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, spec.n_outputs)]
    return nn.Sequential(*layers)


def has_batch_norm(model: nn.Module) -> bool:
    """True if any module of ``model`` keeps BatchNorm running statistics."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
               for m in model.modules())


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (the dimension D of a flat parameter vector)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
