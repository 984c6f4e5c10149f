"""``Evaluator``: one driver loop over data batches and chunks of points, with a kernel chosen once.

``accumulate`` is the only loop: for every (data batch, chunk of points) pair it asks the
kernel for the chunk's outputs on the batch and adds per-point loss sums (float64); the means
are divided once at the end. The kernel is picked once per call: ``VmapKernel``/``LoopKernel``
(the plain route), ``BnRecomputeKernel`` (BatchNorm statistics recomputed per point) or
``AffineShortcutKernel`` (the first-layer shortcut for affine families of points).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .._validation import Int, Options, validate_params
from ..config import BN_POLICIES
from ..models import has_batch_norm
from ..params import ParamLayout
from .common import (CPU_CHUNK_FLOATS, CPU_MAX_BATCH, LOSSES, VMAP_MAX_PARAMS_CPU,
                     VMAP_MAX_PARAMS_CPU_1THREAD, EvalResult,
                     Progress, reduce_outputs, resolve_device, resolve_loss)
from .kernels import BnRecomputeKernel, LoopKernel, VmapKernel, activations_in_place
from .shortcut import AffineShortcutKernel, FirstLayerSplit, split_first_layer

_UNSET = object()


def accumulate(kernel, X: torch.Tensor, y: torch.Tensor, *, K: int, batch_size: int, chunk: int,
               classification: bool, chunks_outer: bool = False, progress: Progress | None = None,
               what: str = ""):
    """Exact dataset sums at K points: (loss sums, correct counts), float64 tensors of shape (K,).

    Data batches are the outer loop unless ``chunks_outer`` (then each chunk of points visits
    every batch in turn, so per-chunk work is done once per chunk).
    """
    loss_sum = torch.zeros(K, dtype=torch.float64, device=X.device)
    correct = torch.zeros(K, dtype=torch.float64, device=X.device)
    n = X.shape[0]
    batches = list(enumerate(range(0, n, batch_size)))
    chunks = [(lo, min(K, lo + chunk)) for lo in range(0, K, chunk)]
    order = ([(bt, ch) for ch in chunks for bt in batches] if chunks_outer
             else [(bt, ch) for bt in batches for ch in chunks])
    for i, ((b, start), (lo, hi)) in enumerate(order):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        ls, cs = reduce_outputs(kernel(b, xb, lo, hi), yb, classification)
        loss_sum[lo:hi] += ls
        if cs is not None:
            correct[lo:hi] += cs
        if progress is not None:
            progress((i + 1) / len(order), what or f"evaluating {K} points")
    return loss_sum, correct


class Evaluator:
    """Evaluate a model's loss and accuracy over a fixed dataset at many parameter vectors.

    ``Evaluator(model, X, y).evaluate(thetas)`` returns the exact dataset mean (per-batch sums
    accumulated in float64, then divided once) at every row of ``thetas`` (shape (K, D)). A
    parameter vector holds the model's trainable parameters (``params.flatten``); frozen
    parameters (``requires_grad=False``) and buffers keep the model's values at every point.

    Parameters
    ----------
    model : nn.Module
        The architecture; a private copy is used, the caller's model is never modified.
    X, y : Tensor of shape (N, ...) and (N,) (class labels) or (N, n_outputs) (regression).
    loss : {"auto", "cross_entropy", "mse"}, default="auto"
        "auto" picks cross-entropy for integer labels, else squared error (summed over outputs).
    batch_size : int, optional
        Data batch; sums are accumulated per batch, so the mean does not depend on it.
        Default: from ``memory_mb``, and at most ``CPU_MAX_BATCH`` samples on a CPU.
    chunk_size : int, optional
        Points evaluated together; default from ``memory_mb`` on a GPU, cache-sized on a CPU
        (``CPU_CHUNK_FLOATS`` per thread).
    device : "auto", "cpu" or "cuda"
    strategy : {"auto", "vmap", "loop"}
        ``vmap`` batches a chunk's points into one vectorised call (small models, GPUs);
        ``loop`` runs one point after another (large per-point products on a CPU).
    bn_policy : {"recompute", "eval"}
        How BatchNorm statistics are obtained at a point (ignored for models without BN):
        ``recompute`` re-estimates them at every point on ``bn_data`` (Garipov et al.);
        ``eval`` uses the buffers stored in the model.
    bn_data : Tensor, optional
        Inputs for ``recompute`` (default: ``X``; pass training inputs when X is test data).
    memory_mb : int
        Memory budget that sizes batches and chunks on a GPU.
    """

    @validate_params(loss=Options("auto", *LOSSES), batch_size=Int(1, none=True),
                     chunk_size=Int(1, none=True), strategy=Options("auto", "vmap", "loop"),
                     bn_policy=Options(BN_POLICIES), memory_mb=Int(1))
    def __init__(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, loss: str = "auto",
                 batch_size: int | None = None, chunk_size: int | None = None, device="auto",
                 strategy: str = "auto", bn_policy: str = "recompute",
                 bn_data: torch.Tensor | None = None, memory_mb: int = 512):
        if X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise ValueError(f"The 'X' and 'y' parameters of Evaluator must hold the same non-zero "
                             f"number of samples. Got {X.shape[0]} inputs and {y.shape[0]} targets.")
        self.loss_name = resolve_loss(loss, y)
        self.device = resolve_device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()   # requires_grad flags kept
        activations_in_place(self.model)
        self.layout = ParamLayout.of(self.model)
        self.X = X.to(self.device, torch.float32)
        self.y = y.to(self.device)
        self.n = int(X.shape[0])
        self.classification = self.loss_name == "cross_entropy"
        self.has_bn = has_batch_norm(self.model)
        self.bn_policy = bn_policy if self.has_bn else "none"
        self.bn_data = (bn_data if bn_data is not None else X).to(self.device, torch.float32)
        self.act_per_sample = self._probe_activation_size()
        self.budget = memory_mb * 2 ** 20 // 4   # floats
        cap = self.n if self.device.type == "cuda" else CPU_MAX_BATCH
        by_budget = max(32, self.budget // (8 * self.act_per_sample))
        self.batch_size = batch_size or int(min(self.n, cap, by_budget))
        self.chunk_size = chunk_size
        if strategy == "auto":
            limit = VMAP_MAX_PARAMS_CPU if torch.get_num_threads() > 1 else VMAP_MAX_PARAMS_CPU_1THREAD
            small = self.layout.dim <= limit
            strategy = "vmap" if (self.device.type == "cuda" or small) else "loop"
        self.strategy = strategy
        self._split = _UNSET

    @property
    def dim(self) -> int:
        """D, the length of a flat parameter vector for this model (trainable parameters)."""
        return self.layout.dim

    @property
    def split(self) -> FirstLayerSplit | None:
        """The model cut after its first Linear/Conv2d (traced once, lazily), or None."""
        if self._split is _UNSET:
            self._split = split_first_layer(self.model, self.layout, self.X[:4])
        return self._split

    # ----------------------------------------------------------------- public API
    @torch.no_grad()
    def evaluate(self, thetas: torch.Tensor, progress: Progress | None = None) -> EvalResult:
        """Loss and accuracy at every row of ``thetas`` (shape (K, D) or (D,))."""
        thetas = self._as_points(thetas, "thetas", "evaluate")
        K = thetas.shape[0]
        if self.bn_policy == "recompute":
            kernel = BnRecomputeKernel(self.model, thetas, self.bn_data, self.batch_size)
            return self._run(kernel, K, 1, progress, chunks_outer=True,
                             what=f"evaluating {K} points (BatchNorm statistics recomputed)")
        kernel = (VmapKernel if self.strategy == "vmap" else LoopKernel)(self.model, self.layout, thetas)
        return self._run(kernel, K, self.chunk_for(self.act_per_sample // 2), progress)

    @torch.no_grad()
    def evaluate_affine(self, origin: torch.Tensor, directions: torch.Tensor, coeffs,
                        progress: Progress | None = None) -> EvalResult:
        """Evaluate theta_k = origin + coeffs[k] @ directions for k = 1..K.

        origin : (D,); directions : (J, D); coeffs : (K, J). Uses the first-layer shortcut
        when the model allows it, else materialises the points chunk by chunk.
        """
        origin = self._as_points(origin, "origin", "evaluate_affine")[0]
        directions = self._as_points(directions, "directions", "evaluate_affine")
        coeffs = torch.as_tensor(np.asarray(coeffs, dtype=np.float32), device=self.device)
        if coeffs.ndim != 2 or coeffs.shape[1] != directions.shape[0]:
            raise ValueError(f"The 'coeffs' parameter of evaluate_affine must have shape (K, "
                             f"{directions.shape[0]}), one coefficient per direction. Got "
                             f"{tuple(coeffs.shape)} instead.")
        split = self.split if self.bn_policy != "recompute" else None
        if split is None:
            return self.evaluate(origin + coeffs @ directions, progress)
        out_per_sample = split.out_numel(self.X[:1])
        J = directions.shape[0]
        # Keep every batch's products (and loop over chunks outside) when they fit: the rest's
        # parameters at a chunk of points are then built once per chunk, not once per batch.
        keep_all = (split.rest_layout.dim > 0 and self.n > self.batch_size
                    and (J + 1) * self.n * out_per_sample <= self.budget // 4)
        kernel = AffineShortcutKernel(split, origin, directions, coeffs, strategy=self.strategy,
                                      keep_all=keep_all, layout=self.layout)
        return self._run(kernel, coeffs.shape[0], self.chunk_for(out_per_sample), progress,
                         chunks_outer=keep_all)

    def chunk_for(self, out_per_sample: int) -> int:
        """Points evaluated together, given the floats of the widest activation per sample.

        On a GPU the memory budget decides. On a CPU a chunk's widest activation is kept near
        ``CPU_CHUNK_FLOATS`` per intra-op thread: tensors that stay in cache, reused allocations,
        and few enough operations that each thread's share is worth a parallel region.
        """
        if self.chunk_size:
            return self.chunk_size
        if self.device.type == "cuda":
            n = self.budget // (self.batch_size * 2 * out_per_sample)
        else:
            n = CPU_CHUNK_FLOATS * torch.get_num_threads() // (self.batch_size * out_per_sample)
        return int(max(1, min(256, n)))

    # ----------------------------------------------------------------- internals
    def _run(self, kernel, K: int, chunk: int, progress, chunks_outer=False, what="") -> EvalResult:
        loss_sum, correct = accumulate(kernel, self.X, self.y, K=K, batch_size=self.batch_size,
                                       chunk=chunk, classification=self.classification,
                                       chunks_outer=chunks_outer, progress=progress, what=what)
        loss = (loss_sum / self.n).cpu().numpy()
        acc = (correct / self.n).cpu().numpy() if self.classification else None
        return EvalResult(loss, acc, self.n, self.loss_name, self.bn_policy, kernel.name)

    def _as_points(self, thetas, name: str, caller: str) -> torch.Tensor:
        thetas = torch.as_tensor(thetas)
        if thetas.ndim == 1:
            thetas = thetas[None]
        if thetas.ndim != 2 or thetas.shape[1] != self.dim:
            raise ValueError(f"The '{name}' parameter of {caller} must have shape (K, {self.dim}) "
                             f"(or ({self.dim},)): one vector of this model's trainable parameters "
                             f"per row, as params.flatten builds (frozen parameters, requires_grad="
                             f"False, are not part of it). Got {tuple(thetas.shape)} instead.")
        return thetas.to(self.device, torch.float32)

    def _probe_activation_size(self) -> int:
        """Floats of intermediate activations per sample (largest module output, times 2)."""
        sizes = []

        def hook(m, i, o):
            if isinstance(o, torch.Tensor):
                sizes.append(o[0].numel())
        hooks = [m.register_forward_hook(hook) for m in self.model.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                self.model(self.X[:1])
        finally:
            for h in hooks:
                h.remove()
        return max(16, 2 * max(sizes, default=16))


def evaluators_for(model: nn.Module, dataset, *, device="auto", bn_policy: str = "recompute",
                   **kwargs) -> tuple[Evaluator, Evaluator]:
    """The (train, test) evaluators of ``model`` on a ``data.Dataset``: the one place they are built.

    The test evaluator recomputes BatchNorm statistics on the TRAIN inputs (``bn_data``), so a
    point's test loss uses the same statistics as its train loss. Extra keyword arguments
    (batch_size, chunk_size, strategy, memory_mb) go to both.
    """
    train = Evaluator(model, dataset.X_train, dataset.y_train, loss=dataset.loss, device=device,
                      bn_policy=bn_policy, **kwargs)
    test = Evaluator(model, dataset.X_test, dataset.y_test, loss=dataset.loss, device=device,
                     bn_policy=bn_policy, bn_data=dataset.X_train, **kwargs)
    return train, test
