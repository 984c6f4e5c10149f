"""``BatchedLoss``: the differentiable mean minibatch loss at P points sharing one minibatch.

Used by the trainers that move parameter vectors (center finding, curve fitting, path
shortening); gradients flow to the points through ``functional_call``.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, vmap

from .._validation import Options, validate_params
from ..config import BN_POLICIES
from ..models import has_batch_norm
from ..params import ParamLayout, unflatten
from .common import LOSSES, per_sample_loss, resolve_device


class BatchedLoss:
    """Mean minibatch loss at P parameter vectors sharing one data minibatch, differentiable.

    One vmapped ``functional_call`` over the (P, D) points, except for BatchNorm models with
    ``bn_policy="recompute"``: those run one point after another in train mode, each point
    normalised by its own minibatch statistics (vmap cannot batch those). With ``"eval"`` BN
    uses the running statistics stored in ``model``. Dropout is off. ``model`` is copied;
    its frozen parameters (``requires_grad=False``) keep their values and get no gradient.
    """

    @validate_params(loss=Options(LOSSES), bn_policy=Options(BN_POLICIES))
    def __init__(self, model: nn.Module, loss: str, bn_policy: str, device="auto"):
        device = resolve_device(device)
        self.model = copy.deepcopy(model).to(device).eval()
        self.layout = ParamLayout.of(self.model)
        self.loss = loss
        self.has_bn = has_batch_norm(self.model)
        self.loop = self.has_bn and bn_policy == "recompute"
        if self.loop:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
        self.mode = ("none" if not self.has_bn else
                     "batch statistics per point" if bn_policy == "recompute" else "stored statistics")

    def _one(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, unflatten(theta, self.layout), (x,))
        return per_sample_loss(out, y, self.loss).mean()

    def __call__(self, points: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """points (P, D), xb (B, ...), yb (B, ...) -> losses (P,)."""
        if self.loop:
            return torch.stack([self._one(p, xb, yb) for p in points])
        return vmap(self._one, in_dims=(0, None, None))(points, xb, yb)
