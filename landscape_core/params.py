"""Parameters as flat vectors, and the BatchNorm policy for interpolated points.

Conventions: a flat vector ``theta`` of shape (D,) holds every *trainable* parameter
(``requires_grad=True``) in ``named_parameters`` order. Frozen parameters
(``requires_grad=False``) are not part of theta: like BatchNorm running statistics and other
buffers they keep the module's own values at every point, so D, distances and path lengths
count trainable parameters only. Nothing here changes a module's ``requires_grad`` flags.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ParamLayout:
    """Names, shapes and offsets of a model's trainable parameters inside a flat vector.

    Frozen parameters (``requires_grad=False``) are left out; a parameter shared by several
    modules appears once, under its first name (as ``named_parameters`` lists it).
    """
    names: tuple
    shapes: tuple
    offsets: tuple   # start of each tensor; offsets[-1] + numel[-1] == dim

    @classmethod
    def of(cls, model: nn.Module) -> "ParamLayout":
        names, shapes, offsets, pos = [], [], [], 0
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            names.append(name)
            shapes.append(tuple(p.shape))
            offsets.append(pos)
            pos += p.numel()
        return cls(tuple(names), tuple(shapes), tuple(offsets + [pos]))

    @property
    def dim(self) -> int:
        return self.offsets[-1]

    def slice_of(self, name: str) -> slice:
        i = self.names.index(name)
        return slice(self.offsets[i], self.offsets[i + 1])


def _layout(model_or_layout) -> ParamLayout:
    return model_or_layout if isinstance(model_or_layout, ParamLayout) else ParamLayout.of(model_or_layout)


def flatten(model: nn.Module) -> torch.Tensor:
    """Copy a model's trainable parameters into one new vector of shape (D,) (frozen ones left out)."""
    parts = [p.detach().reshape(-1) for _, p in model.named_parameters() if p.requires_grad]
    if not parts:
        raise ValueError("flatten needs a model with at least one trainable parameter "
                         "(requires_grad=True). Got a model whose parameters are all frozen.")
    return torch.cat(parts).clone()


def unflatten(theta: torch.Tensor, model_or_layout) -> dict:
    """Views of ``theta`` (shape (D,)) shaped like the model's parameters, keyed by name.

    Only slicing and ``view`` are used, so the function works under ``torch.func.vmap`` and
    keeps gradients flowing to ``theta``. Frozen parameters are not in the dict: passed to
    ``functional_call`` (non-strict), the module's own values are used for them.
    """
    layout = _layout(model_or_layout)
    if theta.shape[-1] != layout.dim:
        raise ValueError(f"The 'theta' parameter of unflatten must have {layout.dim} entries (the "
                         f"model's trainable parameters). Got shape {tuple(theta.shape)} instead.")
    return {name: theta[start:stop].view(shape)
            for name, shape, start, stop in zip(layout.names, layout.shapes, layout.offsets[:-1],
                                                layout.offsets[1:])}


def load_flat(model: nn.Module, theta: torch.Tensor) -> nn.Module:
    """Write ``theta`` into ``model``'s trainable parameters in place (frozen ones are kept)."""
    with torch.no_grad():
        for name, view in unflatten(theta, model).items():
            model.get_parameter(name).copy_(view)
    return model


def bn_buffers(model: nn.Module) -> dict:
    """BatchNorm running statistics (and any other buffers) as a dict of tensors."""
    return {k: v.detach().clone() for k, v in model.named_buffers()}


def restore_buffer_shapes(buffers: dict, shapes: dict | None = None) -> dict:
    """Buffers read back from storage, each in the shape it had when it was stored.

    ``shapes`` (name -> list of ints) is the record written beside the buffers; a buffer whose
    stored array has the same number of entries is reshaped to it. Entries written before that
    record (and before 0-d arrays were kept 0-d: ``np.ascontiguousarray`` turns a 0-d array
    into shape (1,)) hold BatchNorm's 0-d counter ``num_batches_tracked`` as shape (1,); with
    no record such a counter is made 0-d again, so copying it into a module's buffer works.
    """
    out = {}
    for name, b in buffers.items():
        b = torch.as_tensor(b)
        want = (shapes or {}).get(name)
        if want is not None and b.numel() == math.prod(want):
            b = b.reshape(tuple(int(s) for s in want))
        elif want is None and name.rsplit(".", 1)[-1] == "num_batches_tracked" and b.numel() == 1:
            b = b.reshape(())
        out[name] = b
    return out


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, X: torch.Tensor, batch_size: int = 500) -> nn.Module:
    """Recompute BatchNorm running statistics of ``model`` on inputs ``X`` (exact averages).

    Running statistics are reset and accumulated with ``momentum=None`` (a cumulative
    average over batches), the policy of Garipov et al. and Sonthalia et al. for evaluating
    interpolated networks. The model is returned in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model.eval()
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for m in model.modules():  # statistics of the deterministic network: no dropout noise
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()
    for i in range(0, X.shape[0], batch_size):
        model(X[i:i + batch_size])
    for m, mom in saved:
        m.momentum = mom
    return model.eval()
