"""Permutations applied to flat parameter vectors and to BatchNorm statistics.

A permutation of group ``p`` is an index array ``perms[p]`` of its n units: after applying it,
unit ``j`` of the result is unit ``perms[p][j]`` of the input (``w_new = w[perms[p]]`` along
every axis the group acts on). An axis of size n * k (a Linear reading a flattened (C, H, W)
map) is permuted in blocks of k.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..params import ParamLayout
from .spec import PermutationSpec, permutation_spec


def _spec(model, spec):
    return spec if spec is not None else permutation_spec(model)


def permute_axis(w: torch.Tensor, axis: int, idx) -> torch.Tensor:
    """``w`` with units of ``axis`` reordered by ``idx`` (blocks of k when the axis is n * k long)."""
    idx = torch.as_tensor(np.asarray(idx), dtype=torch.long, device=w.device)
    n, size = len(idx), w.shape[axis]
    if size == n:
        return w.index_select(axis, idx)
    if size % n:
        raise ValueError(f"An axis of size {size} cannot carry a permutation of {n} units.")
    k = size // n
    shape = w.shape[:axis] + (n, k) + w.shape[axis + 1:]
    return w.reshape(shape).index_select(axis, idx).reshape(w.shape)


def permute_tensor(w: torch.Tensor, axes: tuple, perms: dict, skip: int | None = None) -> torch.Tensor:
    """``w`` with every axis's group applied (axis ``skip`` left alone)."""
    for i, p in enumerate(axes):
        if p is not None and i != skip and p in perms:
            w = permute_axis(w, i, perms[p])
    return w


def identity_perms(spec: PermutationSpec) -> dict:
    return {p: np.arange(n) for p, n in spec.perms.items()}


def random_perms(spec: PermutationSpec, seed: int = 0) -> dict:
    """A random permutation of every group (numpy Generator seeded by ``seed``)."""
    rng = np.random.default_rng(seed)
    return {p: rng.permutation(n) for p, n in spec.perms.items()}


def invert(perms: dict) -> dict:
    return {p: np.argsort(np.asarray(idx)) for p, idx in perms.items()}


def apply_permutation(model: nn.Module, theta: torch.Tensor, perms: dict, *,
                      spec: PermutationSpec | None = None) -> torch.Tensor:
    """A new flat vector: ``theta`` (the trainable parameters of ``model``) with ``perms`` applied.

    The permuted network computes the same function as the original (with BatchNorm buffers
    permuted alike, ``permute_buffers``). ``spec`` defaults to ``permutation_spec(model)``.
    """
    spec = _spec(model, spec)
    layout = ParamLayout.of(model)
    theta = torch.as_tensor(theta)
    if theta.shape != (layout.dim,):
        raise ValueError(f"The 'theta' parameter of apply_permutation must have shape ({layout.dim},) "
                         f"(the model's trainable parameters). Got {tuple(theta.shape)} instead.")
    out = theta.clone()
    for name, shape, a, b in zip(layout.names, layout.shapes, layout.offsets[:-1], layout.offsets[1:]):
        axes = spec.axes.get(name)
        if axes:
            out[a:b] = permute_tensor(theta[a:b].view(shape), axes, perms).reshape(-1)
    return out


def permute_buffers(model: nn.Module, buffers: dict, perms: dict, *,
                    spec: PermutationSpec | None = None) -> dict:
    """BatchNorm running statistics (``{name: tensor}``, e.g. ``Minimum.buffers``) permuted alike."""
    spec = _spec(model, spec)
    out = {}
    for name, value in buffers.items():
        axes = spec.axes.get(name)
        v = torch.as_tensor(value)
        out[name] = permute_tensor(v, axes, perms).clone() if axes and v.ndim == len(axes) else v.clone()
    return out
