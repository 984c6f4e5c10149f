"""What every part of the engine shares: devices, losses, results, sizing constants, scratch.

Losses are reduced per (point, data batch) as float64 sums of per-sample losses; the driver
divides once by the number of samples, so a mean never depends on batch or chunk sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import Options, validate_params

Progress = Callable[[float, str], None]
LOSSES = ("cross_entropy", "mse")
# Parameter count below which vmap beats a Python loop on a 2-core CPU using both cores
# (bench/bench_engine.py, "strategy crossover" in docs/benchmarks.md: vmap ahead up to ~50k
# parameters, even at ~85k, loop ahead from ~300k). With one intra-op thread the loop (write
# the point into the model, call it) is ahead from ~4k parameters: the student (D = 4,096,
# 64 points, 4,000 samples) 1.4x faster than vmap, an MLP 64-32-32-10 (D = 3,466, 512 digits)
# 0.84x ("Engine rewrite: new vs old" in docs/benchmarks.md).
VMAP_MAX_PARAMS_CPU = 50_000
VMAP_MAX_PARAMS_CPU_1THREAD = 4_000
# CPU sizing (bench/bench_engine.py): data batches of at most CPU_MAX_BATCH samples and chunks
# of points whose widest activation holds about CPU_CHUNK_FLOATS floats (4 MB) per intra-op
# thread, so that a chunk's tensors stay in cache; larger chunks only add memory traffic.
CPU_MAX_BATCH = 512
CPU_CHUNK_FLOATS = 1 << 20


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when available, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("The 'device' parameter asks for CUDA, but torch.cuda.is_available() is "
                         "False on this machine. Use device='auto' or 'cpu'.")
    return dev


@validate_params(loss=Options("auto", *LOSSES))
def resolve_loss(loss: str, y: torch.Tensor) -> str:
    """``"auto"`` picks cross-entropy for integer targets, squared error for float targets."""
    if loss == "auto":
        return "mse" if y.is_floating_point() else "cross_entropy"
    return loss


def per_sample_loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-sample loss: cross-entropy of logits, or squared error summed over outputs."""
    if loss == "cross_entropy":
        return F.cross_entropy(out, y, reduction="none")
    diff = (out - y.view_as(out)).reshape(out.shape[0], -1)
    return (diff * diff).sum(dim=1)


@dataclass(frozen=True)
class EvalResult:
    """Dataset-mean loss (and accuracy for classification) at K points, as numpy arrays."""
    loss: np.ndarray                 # (K,)
    accuracy: np.ndarray | None      # (K,) in [0, 1], None for regression
    n_samples: int
    loss_name: str
    bn_policy: str                   # "recompute" | "eval" | "none" (model has no BatchNorm)
    strategy: str


def reduce_outputs(out: torch.Tensor, yb: torch.Tensor, classification: bool):
    """Outputs (C, B, ...) of C points on one batch -> (loss sums, correct counts or None), (C,)."""
    C, B = out.shape[:2]
    if not classification:   # squared error, broadcast over the C points
        diff = (out - yb.view(1, *out.shape[1:])).reshape(C, -1)
        return (diff * diff).sum(1).double(), None
    flat = out.reshape(C * B, *out.shape[2:])
    yy = yb.expand(C, *yb.shape).reshape(C * B, *yb.shape[1:])
    if flat.ndim == 2:   # cross-entropy as logsumexp - logit of the label: 3x cheaper on a CPU
        ce = torch.logsumexp(flat, 1) - flat.gather(1, yy[:, None])[:, 0]
    else:
        ce = F.cross_entropy(flat, yy, reduction="none")
    loss = ce.view(C, -1).sum(1).double()
    correct = (flat.argmax(1) == yy).view(C, -1).sum(1).double()
    return loss, correct


class Scratch:
    """Named reusable output tensors: a fresh multi-MB tensor per chunk costs page faults."""

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, rows: int, like: torch.Tensor) -> torch.Tensor:
        """A (rows, like.shape[1]) tensor of ``like``'s dtype and device (grown on demand)."""
        cols = like.shape[1]
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < rows * cols:
            buf = self._buffers[name] = torch.empty(rows * cols, dtype=like.dtype, device=like.device)
        return buf[:rows * cols].view(rows, cols)
