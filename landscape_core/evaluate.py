"""The evaluation engine: loss and accuracy at many parameter vectors over a whole dataset.

``Evaluator(model, X, y).evaluate(thetas)`` returns the exact dataset mean (per-batch sums
accumulated in float64, then divided once) at every row of ``thetas`` (shape (K, D)).

Two strategies evaluate a chunk of points on a data batch:
- ``vmap``: ``torch.func.functional_call`` vectorised over the chunk. Wins when each point's
  work is small (many small matmuls batched into a few large ones) and on a GPU.
- ``loop``: one ``functional_call`` per point. On a CPU with few cores it is as fast or
  faster once each point is already a large matrix product.

``evaluate_affine(origin, directions, coeffs)`` evaluates theta_k = origin + coeffs[k] @
directions — every line, fold-line, polygonal path, Bezier curve and plane is of this form.
When the model's first parametrised layer is a Linear/Conv2d applied to the input, its output
is linear in its weights, so for all K points it is a combination of J + 1 products computed
once per data batch; only the rest of the network runs per point.

BatchNorm policy (always named in results): ``recompute`` re-estimates running statistics at
every point on training inputs before evaluating (Garipov et al.); ``eval`` uses the buffers
stored in the model as they are.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from ._validation import check_int, check_options
from .config import BN_POLICIES
from .models import has_batch_norm
from .params import ParamLayout, load_flat, recompute_bn_stats, unflatten

Progress = Callable[[float, str], None]
# Parameter count below which vmap beats a Python loop on a 2-core CPU (bench/engine_strategies.py).
VMAP_MAX_PARAMS_CPU = 50_000


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when available, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("The 'device' parameter asks for CUDA, but torch.cuda.is_available() is "
                         "False on this machine. Use device='auto' or 'cpu'.")
    return dev


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


@dataclass(frozen=True)
class _Split:
    """A Sequential model cut after its first parametrised layer."""
    prefix: nn.Module    # parameter-free modules before the first layer (e.g. Flatten)
    first: nn.Module     # nn.Linear or nn.Conv2d
    rest: nn.Module      # everything after it
    d_first: int         # number of entries of theta owned by `first`


def _split_first_layer(model: nn.Module) -> _Split | None:
    if not isinstance(model, nn.Sequential):
        return None
    for i, module in enumerate(model):
        if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
            if not isinstance(module, (nn.Linear, nn.Conv2d)) or list(module.buffers()):
                return None
            if not all(p.requires_grad for p in model.parameters()):
                return None
            d_first = sum(p.numel() for p in module.parameters())
            return _Split(nn.Sequential(*model[:i]), module, nn.Sequential(*model[i + 1:]), d_first)
    return None


class Evaluator:
    """Evaluate a model's loss and accuracy over a fixed dataset at many parameter vectors.

    Parameters
    ----------
    model : nn.Module
        The architecture; a private copy is used, the caller's model is never modified.
    X, y : Tensor of shape (N, ...) and (N,) (class labels) or (N, n_outputs) (regression).
    loss : {"auto", "cross_entropy", "mse"}, default="auto"
        "auto" picks cross-entropy for integer labels, else squared error (summed over outputs).
    batch_size : int, optional
        Data batch; sums are accumulated per batch, so the mean does not depend on it.
    chunk_size : int, optional
        Points evaluated together; default from ``memory_mb``.
    device : "auto", "cpu" or "cuda"
    strategy : {"auto", "vmap", "loop"}
    bn_policy : {"recompute", "eval"}
        How BatchNorm statistics are obtained at a point (ignored for models without BN).
    bn_data : Tensor, optional
        Inputs for ``recompute`` (default: ``X``; pass training inputs when X is test data).
    """

    def __init__(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, loss: str = "auto",
                 batch_size: int | None = None, chunk_size: int | None = None, device="auto",
                 strategy: str = "auto", bn_policy: str = "recompute",
                 bn_data: torch.Tensor | None = None, memory_mb: int = 512):
        c = "Evaluator"
        if X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise ValueError(f"The 'X' and 'y' parameters of Evaluator must hold the same non-zero "
                             f"number of samples. Got {X.shape[0]} inputs and {y.shape[0]} targets.")
        check_options(strategy, "strategy", c, ("auto", "vmap", "loop"))
        check_options(bn_policy, "bn_policy", c, BN_POLICIES)
        check_int(batch_size, "batch_size", c, lo=1, allow_none=True)
        check_int(chunk_size, "chunk_size", c, lo=1, allow_none=True)
        if loss == "auto":
            loss = "mse" if y.is_floating_point() else "cross_entropy"
        check_options(loss, "loss", c, ("cross_entropy", "mse"))
        self.device = resolve_device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.layout = ParamLayout.of(self.model)
        self.loss_name = loss
        self.X = X.to(self.device, torch.float32)
        self.y = y.to(self.device)
        self.n = int(X.shape[0])
        self.classification = loss == "cross_entropy"
        self.has_bn = has_batch_norm(self.model)
        self.bn_policy = bn_policy if self.has_bn else "none"
        self.bn_data = (bn_data if bn_data is not None else X).to(self.device, torch.float32)
        self._act_per_sample = self._probe_activation_size()
        budget = memory_mb * 2 ** 20 // 4   # floats
        self.batch_size = batch_size or int(min(self.n, max(32, budget // (8 * self._act_per_sample))))
        self._chunk = chunk_size
        self._budget = budget
        if strategy == "auto":
            small = self.layout.dim <= VMAP_MAX_PARAMS_CPU
            strategy = "vmap" if (self.device.type == "cuda" or small) else "loop"
        self.strategy = strategy
        self._split = _split_first_layer(self.model)

    @property
    def dim(self) -> int:
        """D, the length of a flat parameter vector for this model."""
        return self.layout.dim

    # ----------------------------------------------------------------- public API
    @torch.no_grad()
    def evaluate(self, thetas: torch.Tensor, progress: Progress | None = None) -> EvalResult:
        """Loss and accuracy at every row of ``thetas`` (shape (K, D) or (D,))."""
        thetas = self._check_thetas(thetas, "evaluate")
        if self.bn_policy == "recompute":
            return self._evaluate_bn_recompute(thetas, progress)
        return self._accumulate(lambda xb, lo, hi: self._forward(thetas[lo:hi], xb),
                                thetas.shape[0], self._chunk_for(self._act_per_sample), progress)

    @torch.no_grad()
    def evaluate_affine(self, origin: torch.Tensor, directions: torch.Tensor, coeffs,
                        progress: Progress | None = None) -> EvalResult:
        """Evaluate theta_k = origin + coeffs[k] @ directions for k = 1..K.

        origin : (D,); directions : (J, D); coeffs : (K, J). Uses the first-layer shortcut
        when the model allows it, else materialises the points chunk by chunk.
        """
        origin = self._check_thetas(origin, "evaluate_affine")[0]
        directions = self._check_thetas(directions, "evaluate_affine")
        coeffs = torch.as_tensor(np.asarray(coeffs, dtype=np.float32), device=self.device)
        if coeffs.ndim != 2 or coeffs.shape[1] != directions.shape[0]:
            raise ValueError(f"The 'coeffs' parameter of evaluate_affine must have shape (K, "
                             f"{directions.shape[0]}). Got {tuple(coeffs.shape)} instead.")
        if self._split is None or self.bn_policy == "recompute":
            return self.evaluate(origin + coeffs @ directions, progress)
        return self._affine_shortcut(origin, directions, coeffs, progress)

    # ----------------------------------------------------------------- internals
    def _check_thetas(self, thetas, caller: str) -> torch.Tensor:
        thetas = torch.as_tensor(thetas)
        if thetas.ndim == 1:
            thetas = thetas[None]
        if thetas.ndim != 2 or thetas.shape[1] != self.dim:
            raise ValueError(f"The parameter vectors passed to {caller} must have shape (K, {self.dim}) "
                             f"for this model. Got {tuple(thetas.shape)} instead.")
        return thetas.to(self.device, torch.float32)

    def _probe_activation_size(self) -> int:
        """Floats of intermediate activations per sample (largest module output, times 2)."""
        sizes = []
        hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o[0].numel()))
                 for m in self.model.modules() if not list(m.children())]
        with torch.no_grad():
            self.model(self.X[:1])
        for h in hooks:
            h.remove()
        return max(16, 2 * max(sizes, default=16))

    def _chunk_for(self, act_per_sample: int) -> int:
        if self._chunk:
            return self._chunk
        return int(max(1, min(256, self._budget // (self.batch_size * act_per_sample))))

    def _reduce(self, out: torch.Tensor, yb: torch.Tensor):
        """(C, B, ...) outputs -> per-point loss sums and correct counts, shape (C,)."""
        C, B = out.shape[:2]
        flat = out.reshape(C * B, *out.shape[2:])
        yy = yb.repeat(C, *([1] * (yb.ndim - 1)))
        loss = per_sample_loss(flat, yy, self.loss_name).view(C, B).sum(1).double()
        correct = None
        if self.classification:
            correct = (flat.argmax(-1) == yy).view(C, B).sum(1).double()
        return loss, correct

    def _forward(self, thetas: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        """Outputs (C, B, ...) of the full model at C points on one data batch."""
        if self.strategy == "vmap":
            f = lambda th, x: functional_call(self.model, unflatten(th, self.layout), (x,))
            return vmap(f, in_dims=(0, None))(thetas, xb)
        return torch.stack([functional_call(self.model, unflatten(th, self.layout), (xb,))
                            for th in thetas])

    def _accumulate(self, forward, K: int, chunk: int, progress: Progress | None,
                    X: torch.Tensor | None = None) -> EvalResult:
        """Sum losses over data batches (outer) and point chunks (inner), then divide once."""
        X = self.X if X is None else X
        loss_sum = torch.zeros(K, dtype=torch.float64, device=self.device)
        correct = torch.zeros(K, dtype=torch.float64, device=self.device)
        n_batches = -(-self.n // self.batch_size)
        n_chunks = -(-K // chunk)
        for b, start in enumerate(range(0, self.n, self.batch_size)):
            xb, yb = X[start:start + self.batch_size], self.y[start:start + self.batch_size]
            for c, lo in enumerate(range(0, K, chunk)):
                hi = min(K, lo + chunk)
                ls, cs = self._reduce(forward(xb, lo, hi), yb)
                loss_sum[lo:hi] += ls
                if cs is not None:
                    correct[lo:hi] += cs
                if progress is not None:
                    progress((b * n_chunks + c + 1) / (n_batches * n_chunks),
                             f"evaluating {K} points")
        return self._result(loss_sum, correct)

    def _result(self, loss_sum, correct) -> EvalResult:
        loss = (loss_sum / self.n).cpu().numpy()
        acc = (correct / self.n).cpu().numpy() if self.classification else None
        return EvalResult(loss, acc, self.n, self.loss_name, self.bn_policy, self.strategy)

    def _evaluate_bn_recompute(self, thetas: torch.Tensor, progress: Progress | None) -> EvalResult:
        K = thetas.shape[0]
        loss_sum = torch.zeros(K, dtype=torch.float64, device=self.device)
        correct = torch.zeros(K, dtype=torch.float64, device=self.device)
        for k in range(K):
            load_flat(self.model, thetas[k])
            recompute_bn_stats(self.model, self.bn_data, self.batch_size)
            for start in range(0, self.n, self.batch_size):
                out = self.model(self.X[start:start + self.batch_size])[None]
                ls, cs = self._reduce(out, self.y[start:start + self.batch_size])
                loss_sum[k] += ls[0]
                if cs is not None:
                    correct[k] += cs[0]
            if progress is not None:
                progress((k + 1) / K, f"evaluating {K} points (BatchNorm statistics recomputed)")
        res = self._result(loss_sum, correct)
        return EvalResult(res.loss, res.accuracy, res.n_samples, res.loss_name, res.bn_policy, "loop+bn")

    def _affine_shortcut(self, origin, directions, coeffs, progress) -> EvalResult:
        split, d1 = self._split, self._split.d_first
        J = directions.shape[0]
        first_theta = torch.cat([origin[None, :d1], directions[:, :d1]])        # (J+1, d1)
        w_shape = split.first.weight.shape
        weights = first_theta[:, :w_shape.numel()].reshape(J + 1, *w_shape)
        w_cat = weights.reshape((J + 1) * w_shape[0], *w_shape[1:])            # stacked outputs
        b_cat = first_theta[:, w_shape.numel():].reshape(-1) if split.first.bias is not None else None
        rest_layout = ParamLayout.of(split.rest)
        rest_origin, rest_dirs = origin[d1:], directions[:, d1:]
        act = self._act_per_sample

        def forward(xb, lo, hi):
            key = xb.data_ptr()
            if cache.get("key") != key:   # first-layer products, once per data batch
                xp = split.prefix(xb)
                h = (F.linear(xp, w_cat, b_cat) if isinstance(split.first, nn.Linear)
                     else F.conv2d(xp, w_cat, b_cat, split.first.stride, split.first.padding,
                                   split.first.dilation, split.first.groups))
                h = h.reshape(h.shape[0], J + 1, w_shape[0], *h.shape[2:]).transpose(0, 1)
                cache.update(key=key, h0=h[0], hd=h[1:].reshape(J, -1))
            c = coeffs[lo:hi]                                                   # (C, J)
            hk = (cache["h0"].reshape(-1) + c @ cache["hd"]).reshape(hi - lo, *cache["h0"].shape)
            if rest_layout.dim == 0:
                C, B = hk.shape[:2]
                return split.rest(hk.reshape(C * B, *hk.shape[2:])).reshape(C, B, -1)
            rest_thetas = rest_origin + c @ rest_dirs                          # (C, D_rest)
            g = lambda th, h: functional_call(split.rest, unflatten(th, rest_layout), (h,))
            if self.strategy == "vmap":
                return vmap(g, in_dims=(0, 0))(rest_thetas, hk)
            return torch.stack([g(th, h) for th, h in zip(rest_thetas, hk)])

        cache: dict = {}
        res = self._accumulate(lambda xb, lo, hi: forward(xb, lo, hi), coeffs.shape[0],
                               self._chunk_for(act), progress)
        return EvalResult(res.loss, res.accuracy, res.n_samples, res.loss_name, res.bn_policy,
                          res.strategy + "+first-layer")
