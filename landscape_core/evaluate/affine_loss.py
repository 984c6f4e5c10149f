"""``AffineLoss``: the differentiable minibatch loss at points that are affine combinations
``theta_k = A[k] @ Theta + C[k] @ F`` of trainable rows ``Theta`` (m, D) and fixed rows ``F``
(a bank, n x D), for the trainers (center finding, curve fitting, path shortening).

The first layer's output is affine in its weights, so at every point it is the same
combination of the rows' first-layer outputs: ``h_k = A[k] @ h(Theta) + C[k] @ h(F)``. Per step
the first layer runs once per trainable row; the fixed rows' outputs are kept per data sample
(``FirstLayerCache``) while they fit ``FIRST_LAYER_CACHE_BYTES``. Only the rest of the network
runs per point. The cut is ``shortcut.split_first_layer``'s. Two routes:

- ``"chain"``: a Linear first layer followed by a chain of Linear / ReLU / tanh / sigmoid (MLPs):
  a hand-written forward and backward (batched GEMMs, one flat gradient, nothing per parameter);
- ``"autograd"``: any other cut (e.g. a Conv2d first layer): the combined first-layer outputs
  and ``functional_call`` of the rest, vectorised over the points, differentiated by autograd.

``AffineLoss.build`` returns None with the reason (BatchNorm, no cuttable first layer, a frozen
first-layer weight) where the trainers must keep the plain route (``BatchedLoss``).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.func import functional_call, vmap

from ..models import has_batch_norm
from ..params import ParamLayout, unflatten
from .kernels import ChainPlan
from .common import Scratch, per_sample_loss, resolve_device
from .shortcut import FirstLayerSplit, split_first_layer

# Fixed rows' first-layer outputs kept per data sample: 1 GiB holds the 500 hidden units of
# the MNIST FNN for 60,000 images and 4 feet; a CIFAR-10 conv layer (64 x 32 x 32) for none.
FIRST_LAYER_CACHE_BYTES = 2 ** 30
_ACTS = {torch.relu_: "relu", torch.tanh_: "tanh", torch.sigmoid_: "sigmoid"}


class FirstLayerCache:
    """First-layer outputs of the fixed rows per data sample, filled lazily, within a byte budget.

    Row j of the bank gets an (N, numel) store on first use while the budget allows; its
    samples are computed the first time a batch holds them (once all are known, a lookup is
    one ``index_select``). Rows beyond the budget are computed per call.
    """

    def __init__(self, first, n_samples: int, numel: int, budget: int = FIRST_LAYER_CACHE_BYTES):
        self.first, self.n, self.numel = first, n_samples, numel
        self.max_rows = budget // max(1, n_samples * numel * 4)
        self.store: dict[int, list] = {}      # row -> [values (N, numel), known (N,) or None]

    def __call__(self, rows: list[int], idx: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        """(len(rows), B, numel) outputs of the bank rows ``rows`` on the samples ``idx``."""
        out = [self._row(j, idx, xp) for j in rows]
        return out[0][None] if len(out) == 1 else torch.stack(out)

    def _row(self, j: int, idx: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        entry = self.store.get(j)
        if entry is None:
            if len(self.store) >= self.max_rows:
                return self.first(j, xp).reshape(xp.shape[0], -1)
            entry = self.store[j] = [xp.new_empty(self.n, self.numel),
                                     torch.zeros(self.n, dtype=torch.bool, device=xp.device)]
        values, known = entry
        if known is not None:
            missing = ~known[idx]
            if bool(missing.any()):
                new = idx[missing]
                values[new] = self.first(j, xp[missing]).reshape(len(new), -1)
                known[new] = True
                if bool(known.all()):
                    entry[1] = None            # complete: no more bookkeeping
        return values.index_select(0, idx)


class AffineLoss:
    """``loss(Theta, A, C, idx) -> (P,)`` mean minibatch losses at ``A @ Theta + C @ bank`` on
    the samples ``idx`` of ``X, y``; differentiable in ``Theta`` (m, D) only."""

    def __init__(self, model: nn.Module, split: FirstLayerSplit, layout: ParamLayout, loss: str,
                 X: torch.Tensor, y: torch.Tensor, bank: torch.Tensor):
        self.model, self.split, self.layout, self.loss = model, split, layout, loss
        self.X, self.y, self.bank = X, y, bank
        name = split.layer_name
        self.w_sl = layout.slice_of(f"{name}.weight")
        self.b_sl = layout.slice_of(f"{name}.bias") if split.layer.bias is not None else None
        self.w_shape = tuple(split.layer.weight.shape)
        idx = split.rest_index.to(X.device)
        contiguous = len(idx) > 0 and bool((idx == torch.arange(int(idx[0]), int(idx[0]) + len(idx),
                                                                 device=idx.device)).all())
        self.rest_index = slice(int(idx[0]), int(idx[0]) + len(idx)) if contiguous else idx
        self.n_rest = len(idx)
        self.bank_rest = bank[:, self.rest_index]
        covered = len(idx) + (self.w_sl.stop - self.w_sl.start) + (
            self.b_sl.stop - self.b_sl.start if self.b_sl is not None else 0)
        self.covers_all = contiguous and covered == layout.dim   # every gradient entry written
        self.plan = self._chain_plan()
        self.route = "chain" if self.plan is not None else "autograd"
        self.trivial_prefix = [n.op for n in split.prefix.graph.nodes] == ["placeholder", "output"]
        with torch.no_grad():
            numel = split.out_numel(X[:1])
        self.cache = FirstLayerCache(self._bank_first, X.shape[0], numel)

    @classmethod
    def build(cls, model: nn.Module, loss: str, bn_policy: str, device, X: torch.Tensor,
              y: torch.Tensor, bank: torch.Tensor) -> tuple["AffineLoss | None", str]:
        """(an AffineLoss, its route) or (None, why the plain route is kept)."""
        dev = resolve_device(device)
        model = copy.deepcopy(model).to(dev).eval()
        if has_batch_norm(model):
            return None, f"plain (BatchNorm, bn_policy={bn_policy!r}: no first-layer shortcut)"
        layout = ParamLayout.of(model)
        split = split_first_layer(model, layout, X[:4].to(dev, torch.float32))
        if split is None:
            return None, "plain (no cuttable Linear/Conv2d first layer)"
        names = [f"{split.layer_name}.weight"] + ([f"{split.layer_name}.bias"]
                                                  if split.layer.bias is not None else [])
        if not all(n in layout.names for n in names):
            return None, "plain (frozen first-layer weights)"
        fast = cls(model, split, layout, loss, X, y, bank.to(dev, torch.float32))
        return fast, f"first-layer shortcut ({fast.route})"

    def _chain_plan(self):
        sp = self.split
        if not isinstance(sp.layer, nn.Linear) or sp.rest_layout.dim == 0:
            return None
        if sp.activation is not None and sp.activation not in _ACTS:
            return None
        with torch.no_grad():
            if sp.prefix(self.X[:2]).ndim != 2:
                return None
        plan = ChainPlan.of(sp.rest, "first_layer_out", sp.rest_layout, Scratch())
        if plan is None or not all(isinstance(s, tuple) or s in _ACTS for s in plan.steps):
            return None
        if not isinstance(plan.steps[-1], tuple):
            return None
        acts = ([_ACTS[sp.activation]] if sp.activation is not None else [])
        steps = [s if isinstance(s, tuple) else _ACTS[s] for s in plan.steps]
        return acts + steps

    def _layer(self, xp: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        layer = self.split.layer
        if isinstance(layer, nn.Linear):
            return F.linear(xp, w, b)
        return F.conv2d(xp, w, b, layer.stride, layer.padding, layer.dilation, layer.groups)

    def _bank_first(self, j: int, xp: torch.Tensor) -> torch.Tensor:
        row = self.bank[j]
        b = row[self.b_sl] if self.b_sl is not None else None
        return self._layer(xp, row[self.w_sl].view(self.w_shape), b)

    def __call__(self, theta: torch.Tensor, A: torch.Tensor, C: torch.Tensor, idx: torch.Tensor,
                 rows: list[int] | None = None) -> torch.Tensor:
        """theta (m, D), A (P, m), C (P, k) coefficients of the bank rows ``rows`` (default: all
        n_bank rows), idx (B,) sample indices -> losses (P,)."""
        xb, yb = self.X.index_select(0, idx), self.y.index_select(0, idx)
        with torch.no_grad():
            xp = xb if self.trivial_prefix else self.split.prefix(xb)
            if rows is None:
                rows = list(range(len(self.bank)))
            C = C if C.dtype == theta.dtype else C.to(theta.dtype)
            hF = self.cache(rows, idx, xp)                       # (k, B, numel)
            rest_F = [self.bank_rest[j] for j in rows]           # k views (D_rest,)
        A = A if A.dtype == theta.dtype else A.to(theta.dtype)
        if self.plan is not None:
            return _ChainLoss.apply(theta, A, C, hF, rest_F, xp, yb, self)
        return self._autograd(theta, A, C, hF, rest_F, xb, xp, yb)

    def _autograd(self, theta, A, Cu, hF, rest_F, xb, xp, yb) -> torch.Tensor:
        sp = self.split
        bias = theta[:, self.b_sl] if self.b_sl is not None else [None] * len(theta)
        hT = torch.stack([self._layer(xp, w.view(self.w_shape), b)
                          for w, b in zip(theta[:, self.w_sl], bias)])
        shape = hT.shape[1:]
        H = _combine(A, hT.reshape(len(theta), -1), Cu, hF.reshape(hF.shape[0], -1)).view(-1, *shape)
        if sp.activation is not None:
            H = sp.activation(H.clone())
        R = _combine(A, theta[:, self.rest_index], Cu, rest_F)
        layout, loss = sp.rest_layout, self.loss

        def one(th, hh):
            out = functional_call(sp.rest, unflatten(th, layout), (xb, hh))
            return per_sample_loss(out, yb, loss).mean()
        try:
            return vmap(one)(R, H)
        except Exception:   # not vmappable: one point after another
            return torch.stack([one(th, hh) for th, hh in zip(R, H)])


def _combine(A: torch.Tensor, rows: torch.Tensor, Cu: torch.Tensor, fixed) -> torch.Tensor:
    """A @ rows + Cu @ fixed, (P, N), for A (P, m), rows (m, N), Cu (P, n), fixed n rows (N,):
    elementwise for a few rows (a GEMM with inner dimension 1-2 is several times slower)."""
    m, n = A.shape[1], Cu.shape[1]
    if m == 1 and n == 1 and torch.equal(Cu, 1 - A):   # a segment (the center): one lerp
        return torch.lerp(fixed[0], rows[0], A)
    if m + n > 8:
        return torch.addmm(Cu @ torch.stack(list(fixed)), A, rows)
    out = torch.mul(A[:, :1], rows[0])
    for j in range(1, m):
        out.addcmul_(A[:, j:j + 1], rows[j])
    for i in range(n):
        out.addcmul_(Cu[:, i:i + 1], fixed[i])
    return out


def _act(kind: str, z: torch.Tensor) -> torch.Tensor:
    return {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}[kind](z)


def _act_grad(kind: str, out: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    if kind == "relu":   # autograd's own ReLU backward (masked_fill_ is ~10x slower on CPU)
        return torch.ops.aten.threshold_backward.grad_input(g, out, 0, grad_input=g)
    if kind == "tanh":
        return g.mul_(1 - out * out)
    return g.mul_(out * (1 - out))


class _ChainLoss(torch.autograd.Function):
    """Forward and backward of the "chain" route; the gradient flows to ``theta`` only."""

    @staticmethod
    def forward(ctx, theta, A, Cu, hF, rest_F, xp, yb, fast: AffineLoss):
        m, P, B = theta.shape[0], A.shape[0], xp.shape[0]
        w1 = theta[:, fast.w_sl].view(m, *fast.w_shape)
        if m == 1:
            b1 = theta[0, fast.b_sl] if fast.b_sl is not None else None
            hT = F.linear(xp, w1[0], b1)[None]
        else:
            hT = torch.matmul(xp, w1.transpose(1, 2))
            if fast.b_sl is not None:
                hT += theta[:, None, fast.b_sl]
        n1 = hT.shape[-1]
        H = _combine(A, hT.reshape(m, -1), Cu, hF.reshape(hF.shape[0], -1)).view(P, B, n1)
        R = _combine(A, theta[:, fast.rest_index], Cu, rest_F)
        saved, x = [], H
        for st in fast.plan:
            if isinstance(st, str):   # in place on a fresh GEMM output, else out of place
                x = _act(st, x if not saved or not isinstance(saved[-1], torch.Tensor) else x.clone())
                saved.append(x)
                continue
            (w, shape), b = st
            W = R[:, w].view(P, *shape)
            z = (torch.baddbmm(R[:, None, b], x, W.transpose(1, 2)) if b is not None
                 else torch.bmm(x, W.transpose(1, 2)))
            saved.append((x, W))
            x = z
        out = x
        if fast.loss == "cross_entropy":   # by hand: log_softmax is slow on (P * B, few) on a CPU
            yi = yb.view(1, B, 1).expand(P, B, 1)
            mx = out.amax(2, keepdim=True)
            e = torch.sub(out, mx).exp_()
            s = e.sum(2, keepdim=True)
            per = torch.log(s).add_(mx).sub_(out.gather(2, yi)).view(P, B)
            ctx.dout = e.div_(s).scatter_add_(2, yi, torch.full_like(s, -1.0))
        else:
            diff = out - yb.view(1, B, -1).to(out.dtype)
            per = (diff * diff).reshape(P, B, -1).sum(-1)
            ctx.dout = diff.mul_(2.0)
        ctx.fast, ctx.saved, ctx.xp, ctx.m, ctx.P, ctx.B, ctx.n1 = fast, saved, xp, m, P, B, n1
        ctx.save_for_backward(A)
        return per.mean(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_loss):
        A, = ctx.saved_tensors
        fast, m, P, B = ctx.fast, ctx.m, ctx.P, ctx.B
        g = ctx.dout.mul_((g_loss / B).reshape(P, 1, 1))
        grad = (torch.empty if fast.covers_all else torch.zeros)(m, fast.layout.dim, dtype=g.dtype,
                                                                 device=g.device)
        g_rest = grad[:, fast.rest_index] if isinstance(fast.rest_index, slice) else grad.new_empty(
            m, fast.n_rest)
        for st, sv in zip(reversed(fast.plan), reversed(ctx.saved)):
            if isinstance(st, str):
                g = _act_grad(st, sv, g)
                continue
            (w, shape), b = st
            x, W = sv
            if m == 1:   # sum_k A_k g_k' x_k as one GEMM over the stacked points
                ga = (g * A[:, 0].view(P, 1, 1)).reshape(P * B, -1)
                torch.mm(ga.t(), x.reshape(P * B, -1), out=g_rest[0, w].view(shape))
                if b is not None:
                    torch.sum(ga, 0, out=g_rest[0, b])
            else:
                g_rest[:, w] = A.t() @ torch.bmm(g.transpose(1, 2), x).reshape(P, -1)
                if b is not None:
                    g_rest[:, b] = A.t() @ g.sum(1)
            g = torch.bmm(g, W)
        if not isinstance(fast.rest_index, slice):
            grad[:, fast.rest_index] = g_rest
        gT = (A.t() @ g.reshape(P, -1)).view(m, B, ctx.n1)              # d loss / d h(Theta)
        if m == 1:   # written in place: no (n1, n_in) temporary
            torch.mm(gT[0].t(), ctx.xp, out=grad[0, fast.w_sl].view(fast.w_shape))
        else:
            grad[:, fast.w_sl] = torch.matmul(gT.transpose(1, 2), ctx.xp).reshape(m, -1)
        if fast.b_sl is not None:
            grad[:, fast.b_sl] = gT.sum(1)
        ctx.saved = ctx.dout = None
        return grad, None, None, None, None, None, None, None
