"""Unit activations of a network at a parameter vector, observed at named modules on data.

Helpers shared by activation matching and REPAIR: a private copy of the model carrying a flat
vector (and, optionally, BatchNorm running statistics), run in eval mode batch by batch, with
forward hooks that hand each observed module's output, channels last, as a (rows, units) matrix.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn

from ..params import load_flat


def network_at(model: nn.Module, theta, buffers: dict | None = None) -> nn.Module:
    """A private eval-mode copy of ``model`` holding ``theta`` (and ``buffers`` when given)."""
    net = copy.deepcopy(model).cpu().eval()
    load_flat(net, torch.as_tensor(theta).detach().float().cpu())
    if buffers:
        with torch.no_grad():
            for name, buf in net.named_buffers():
                if name in buffers:
                    buf.copy_(torch.as_tensor(buffers[name]))
    return net


def units_last(out: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (N * ..., C): one row per position, one column per unit/channel."""
    if out.ndim == 2:
        return out
    return out.movedim(1, -1).reshape(-1, out.shape[1])


@contextmanager
def observing(net: nn.Module, names):
    """Collect the outputs of modules ``names`` into the dict the context yields (last batch)."""
    seen: dict = {}
    modules = dict(net.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"The model has no module named {missing[0]!r}; check the spec's sites.")
    handles = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: seen.__setitem__(n, units_last(o.detach().double())))
        for n in dict.fromkeys(names)]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def unit_stats(net: nn.Module, X: torch.Tensor, names, batch_size: int = 1000) -> dict:
    """{module name: (mean, std)} of every unit of the modules' outputs over all of ``X``."""
    sums: dict = {}
    with observing(net, names) as seen:
        for i in range(0, X.shape[0], batch_size):
            net(X[i:i + batch_size].float())
            for n, z in seen.items():
                s = sums.setdefault(n, [0.0, 0.0, 0])
                s[0] = s[0] + z.sum(0)
                s[1] = s[1] + (z * z).sum(0)
                s[2] += z.shape[0]
    out = {}
    for n, (s1, s2, c) in sums.items():
        mean = s1 / c
        out[n] = (mean, (s2 / c - mean * mean).clamp_min(0).sqrt())
    return out
