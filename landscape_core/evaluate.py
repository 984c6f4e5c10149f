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
once per data batch; only the rest of the network runs per point. A chunk's first-layer
outputs are one GEMM ``[1, c] @ [h_0; ...; h_J]`` into a reused buffer, the activation after
the first layer is applied in place, and when every batch's products fit the memory budget
the chunks of points form the outer loop, so the rest's parameters are built once per chunk.

CPU sizing: data batches of at most ``CPU_MAX_BATCH`` samples and chunks whose widest
activation is about ``CPU_CHUNK_FLOATS`` floats keep a chunk's tensors in cache; on a GPU the
``memory_mb`` budget alone decides. Measurements: ``bench/bench_engine.py``,
``docs/benchmarks.md``.

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
# Parameter count below which vmap beats a Python loop on a 2-core CPU using both cores
# (bench/bench_engine.py, "strategy crossover" in docs/benchmarks.md: vmap ahead up to ~50k
# parameters, even at ~85k, loop ahead from ~300k; with a single thread the crossover is ~15k).
VMAP_MAX_PARAMS_CPU = 50_000
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
        Default: from ``memory_mb``, and at most ``CPU_MAX_BATCH`` samples on a CPU.
    chunk_size : int, optional
        Points evaluated together; default from ``memory_mb`` on a GPU, cache-sized on a CPU
        (``CPU_CHUNK_FLOATS`` per thread).
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
        _activations_in_place(self.model)
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
        cap = self.n if self.device.type == "cuda" else CPU_MAX_BATCH
        self.batch_size = batch_size or int(min(self.n, cap, max(32, budget // (8 * self._act_per_sample))))
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
                                thetas.shape[0], self._chunk_for(self._act_per_sample // 2), progress)

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

    def _first_out_numel(self, first: nn.Module) -> int:
        """Floats of the first parametrised layer's output per sample."""
        with torch.no_grad():
            return int(first(self._split.prefix(self.X[:1])).numel())

    def _chunk_for(self, out_per_sample: int) -> int:
        """Points evaluated together, given the floats of the widest activation per sample.

        On a GPU the memory budget decides. On a CPU a chunk's widest activation is kept near
        ``CPU_CHUNK_FLOATS`` per intra-op thread: tensors that stay in cache, reused allocations,
        and few enough operations that each thread's share is worth a parallel region.
        """
        if self._chunk:
            return self._chunk
        if self.device.type == "cuda":
            n = self._budget // (self.batch_size * 2 * out_per_sample)
        else:   # each intra-op thread gets about CPU_CHUNK_FLOATS of the chunk
            n = CPU_CHUNK_FLOATS * torch.get_num_threads() // (self.batch_size * out_per_sample)
        return int(max(1, min(256, n)))

    def _reduce(self, out: torch.Tensor, yb: torch.Tensor):
        """(C, B, ...) outputs -> per-point loss sums and correct counts, shape (C,)."""
        C, B = out.shape[:2]
        if not self.classification:   # squared error, broadcast over the C points
            diff = (out - yb.view(1, *out.shape[1:])).reshape(C, -1)
            return (diff * diff).sum(1).double(), None
        flat = out.reshape(C * B, *out.shape[2:])
        yy = yb.expand(C, *yb.shape).reshape(C * B, *yb.shape[1:])
        if flat.ndim == 2:   # cross-entropy as logsumexp - logit of the label: 3x cheaper on a CPU
            ce = torch.logsumexp(flat, 1) - flat.gather(1, yy[:, None])[:, 0]
        else:
            ce = F.cross_entropy(flat, yy, reduction="none")
        loss = ce.view(C, -1).sum(1).double()
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
                    chunks_outer: bool = False) -> EvalResult:
        """Sum losses over data batches and point chunks, then divide once.

        Data batches are the outer loop unless ``chunks_outer`` (then each chunk of points
        visits every batch in turn, so per-chunk work is done once per chunk).
        """
        loss_sum = torch.zeros(K, dtype=torch.float64, device=self.device)
        correct = torch.zeros(K, dtype=torch.float64, device=self.device)
        batches = range(0, self.n, self.batch_size)
        chunks = range(0, K, chunk)
        total = len(batches) * len(chunks)
        order = (((start, lo) for lo in chunks for start in batches) if chunks_outer else
                 ((start, lo) for start in batches for lo in chunks))
        for i, (start, lo) in enumerate(order):
            hi = min(K, lo + chunk)
            xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
            ls, cs = self._reduce(forward(xb, lo, hi), yb)
            loss_sum[lo:hi] += ls
            if cs is not None:
                correct[lo:hi] += cs
            if progress is not None:
                progress((i + 1) / total, f"evaluating {K} points")
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
        first = split.first
        w_shape = first.weight.shape
        n_w = w_shape.numel()
        first_theta = torch.cat([origin[None, :d1], directions[:, :d1]])        # (J+1, d1)
        weights = first_theta[:, :n_w].reshape(J + 1, *w_shape)
        biases = first_theta[:, n_w:].reshape(J + 1, -1) if first.bias is not None else None
        is_linear = isinstance(first, nn.Linear)
        act_, rest = _leading_activation(split.rest)
        rest_layout = ParamLayout.of(rest)
        h_stack = torch.cat([origin[None, d1:], directions[:, d1:]]) if rest_layout.dim else None
        # Keep every batch's products (and loop over chunks outside) when they fit: the rest's
        # parameters at a chunk of points are then built once per chunk, not once per batch.
        out_per_sample = self._first_out_numel(first)
        keep_all = (rest_layout.dim > 0 and self.n > self.batch_size
                    and (J + 1) * self.n * out_per_sample <= self._budget // 4)
        products: dict = {}
        rest_cache: dict = {}
        buffers: dict = {}   # reused outputs: a fresh multi-MB tensor per chunk costs page faults

        def first_layer(xb, c1):
            """Outputs (C, B, ...) of the first layer at C points (activation applied in place)."""
            key = xb.data_ptr()
            if key not in products:   # the J + 1 products, once per data batch
                if not keep_all:
                    products.clear()
                w_cat = weights.reshape((J + 1) * w_shape[0], *w_shape[1:])
                b_cat = biases.reshape(-1) if biases is not None else None
                xp = split.prefix(xb)
                h = (F.linear(xp, w_cat, b_cat) if is_linear
                     else F.conv2d(xp, w_cat, b_cat, first.stride, first.padding,
                                   first.dilation, first.groups))
                h = h.reshape(h.shape[0], J + 1, w_shape[0], *h.shape[2:]).transpose(0, 1)
                products[key] = (h.shape[1:], h.reshape(J + 1, -1))   # contiguous copy
            shape, h = products[key]
            # [1, c] @ [h_0; ...; h_J]: one GEMM with inner dimension J + 1 writes the C outputs
            hk = torch.mm(c1, h, out=_buffer(buffers, "h", c1.shape[0], h))
            hk = hk.view(c1.shape[0], *shape)
            if act_ is not None:
                act_(hk)
            return hk

        def forward(xb, lo, hi):
            c1 = coeffs1[lo:hi]                                                 # (C, J + 1)
            hk = first_layer(xb, c1)
            if rest_layout.dim == 0:
                C, B = hk.shape[:2]
                return rest(hk.reshape(C * B, *hk.shape[2:])).reshape(C, B, -1)
            if rest_cache.get("lo") != (lo, hi):
                rest_cache.update(lo=(lo, hi), thetas=torch.mm(   # (C, D_rest)
                    c1, h_stack, out=_buffer(buffers, "rest", c1.shape[0], h_stack)))
            rest_thetas = rest_cache["thetas"]
            if plan is not None and self.strategy == "loop" and hk.ndim == 3:
                return torch.stack([plan(th, h) for th, h in zip(rest_thetas, hk)])
            g = lambda th, h: functional_call(rest, unflatten(th, rest_layout), (h,))
            if self.strategy == "vmap":
                return vmap(g, in_dims=(0, 0))(rest_thetas, hk)
            return torch.stack([g(th, h) for th, h in zip(rest_thetas, hk)])

        plan = _mlp_plan(rest, rest_layout, buffers)
        coeffs1 = torch.cat([torch.ones_like(coeffs[:, :1]), coeffs], dim=1)    # (K, J + 1)
        res = self._accumulate(forward, coeffs.shape[0], self._chunk_for(out_per_sample), progress,
                               chunks_outer=keep_all)
        return EvalResult(res.loss, res.accuracy, res.n_samples, res.loss_name, res.bn_policy,
                          res.strategy + "+first-layer")


def _mlp_plan(rest: nn.Sequential, layout: ParamLayout, buffers: dict):
    """For a rest made only of Linear layers, activations and no-ops: ``run(theta, h)``.

    It does what ``functional_call(rest, unflatten(theta), (h,))`` does for a 2-D ``h``, but
    writes every hidden Linear output into a reused buffer and applies activations in place:
    on a CPU a fresh multi-hundred-kB output per layer and point costs more than its copy.
    Returns None for any other rest (the general path is used).
    """
    steps = []
    for name, m in rest.named_children():
        if isinstance(m, nn.Linear):
            i = layout.names.index(f"{name}.weight")
            w = (layout.offsets[i], layout.offsets[i + 1], layout.shapes[i])
            b = (layout.offsets[i + 1], layout.offsets[i + 2]) if m.bias is not None else None
            steps.append((w, b))
        elif type(m) in _INPLACE_ACTIVATIONS:
            steps.append(_INPLACE_ACTIVATIONS[type(m)](m))
        elif not (isinstance(m, nn.Identity) or (isinstance(m, nn.Dropout) and not m.training)):
            return None
    linears = [k for k, st in enumerate(steps) if isinstance(st, tuple)]
    if not linears:
        return None

    def run(theta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x = h
        for k, st in enumerate(steps):
            if not isinstance(st, tuple):
                x = st(x)
                continue
            (w0, w1, shape), b = st
            wt = theta[w0:w1].view(shape).t()
            out = _buffer(buffers, f"mlp{k}", x.shape[0], wt) if k < linears[-1] else None
            x = (torch.addmm(theta[b[0]:b[1]], x, wt, out=out) if b is not None
                 else torch.mm(x, wt, out=out))
        return x   # the last Linear's output is a fresh tensor: it outlives the call
    return run


def _buffer(buffers: dict, name: str, rows: int, like: torch.Tensor) -> torch.Tensor:
    """A (rows, like.shape[1]) scratch tensor kept in ``buffers`` (grown on demand)."""
    cols = like.shape[1]
    buf = buffers.get(name)
    if buf is None or buf.numel() < rows * cols:
        buf = buffers[name] = torch.empty(rows * cols, dtype=like.dtype, device=like.device)
    return buf[:rows * cols].view(rows, cols)


_INPLACE_ACTIVATIONS = {
    nn.ReLU: lambda m: torch.relu_,
    nn.Tanh: lambda m: torch.tanh_,
    nn.Sigmoid: lambda m: torch.sigmoid_,
    nn.LeakyReLU: lambda m: (lambda h: F.leaky_relu_(h, m.negative_slope)),
}


_FRESH_OUTPUT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.modules.batchnorm._BatchNorm)


def _activations_in_place(model: nn.Module) -> None:
    """Let ReLUs that directly follow a Linear/Conv/BatchNorm in a Sequential overwrite its output.

    That output is a fresh tensor nothing else reads, so on the engine's private copy of the
    model the activation can skip allocating (and page-faulting) a new one. No grads flow here.
    """
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            mods = list(seq)
            for prev, mod in zip(mods[:-1], mods[1:]):
                if type(mod) in (nn.ReLU, nn.LeakyReLU) and isinstance(prev, _FRESH_OUTPUT):
                    mod.inplace = True


def _leading_activation(rest: nn.Sequential):
    """(in-place activation or None, the modules after it) for the first-layer shortcut.

    The first layer's output at a point is a fresh tensor owned by the engine, so an
    elementwise activation right after it can overwrite it instead of allocating a copy.
    """
    if len(rest) and type(rest[0]) in _INPLACE_ACTIVATIONS:
        return _INPLACE_ACTIVATIONS[type(rest[0])](rest[0]), rest[1:]
    return None, rest


def evaluators_for(model: nn.Module, dataset, *, device="auto", bn_policy: str = "recompute",
                   **kwargs) -> tuple["Evaluator", "Evaluator"]:
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
