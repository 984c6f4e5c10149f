"""Point kernels: the outputs of C parameter vectors on one data batch, shape (C, B, ...).

A kernel is called as ``kernel(b, xb, lo, hi)`` for data batch number ``b`` (inputs ``xb``) and
the points ``lo:hi``; the driver (``engine.accumulate``) owns the loops and the sums. Kernels:

- ``VmapKernel``: ``functional_call`` vectorised over the chunk of points;
- ``LoopKernel``: one ``functional_call`` per point;
- ``BnRecomputeKernel``: one point at a time, its BatchNorm statistics recomputed first;
- ``ChainPlan``: a chain of Linear layers and elementwise activations run with reused output
  buffers (used by the first-layer shortcut for the part of a model after its first layer).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.func import functional_call, vmap

from ..params import ParamLayout, load_flat, recompute_bn_stats, unflatten
from .common import Scratch

# Elementwise activations that may overwrite a tensor the engine owns (module classes)
INPLACE_MODULES = {
    nn.ReLU: lambda m: torch.relu_,
    nn.Tanh: lambda m: torch.tanh_,
    nn.Sigmoid: lambda m: torch.sigmoid_,
    nn.LeakyReLU: lambda m: (lambda h: F.leaky_relu_(h, m.negative_slope)),
}
# ... and the same as functions or tensor methods in a traced graph
INPLACE_FUNCTIONS = {torch.relu: torch.relu_, F.relu: torch.relu_, torch.tanh: torch.tanh_,
                     torch.sigmoid: torch.sigmoid_, "relu": torch.relu_, "tanh": torch.tanh_,
                     "sigmoid": torch.sigmoid_}
_FRESH_OUTPUT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.modules.batchnorm._BatchNorm)


def inplace_activation(node: fx.Node, root: nn.Module):
    """The in-place version of ``node`` if it is an elementwise activation of its only input."""
    if len(node.args) != 1 or any(k != "inplace" for k in node.kwargs):
        return None
    if node.op == "call_module":
        mod = root.get_submodule(node.target)
        return INPLACE_MODULES[type(mod)](mod) if type(mod) in INPLACE_MODULES else None
    if node.op in ("call_function", "call_method"):
        try:
            return INPLACE_FUNCTIONS.get(node.target)
        except TypeError:   # unhashable target
            return None
    return None


def activations_in_place(model: nn.Module) -> None:
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


class VmapKernel:
    """All points of a chunk in one vectorised ``functional_call`` of the whole model.

    A model that vmap cannot batch (data-dependent control flow on the outputs, ``.item()``)
    makes the kernel fall back to ``LoopKernel`` for good; ``name`` then says "loop".
    """
    name = "vmap"

    def __init__(self, model: nn.Module, layout: ParamLayout, thetas: torch.Tensor):
        self.model, self.layout, self.thetas = model, layout, thetas
        self.fallback: LoopKernel | None = None

    def __call__(self, b: int, xb: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        if self.fallback is None:
            f = lambda th: functional_call(self.model, unflatten(th, self.layout), (xb,))
            try:
                return vmap(f)(self.thetas[lo:hi])
            except Exception:   # not vmappable: the loop gives the same numbers (or the real error)
                self.fallback = LoopKernel(self.model, self.layout, self.thetas)
                self.name = "loop"
        return self.fallback(b, xb, lo, hi)


class ParamSlots:
    """Where each trainable parameter of a module sits in theta: ``load(theta)`` writes a point.

    Writing a point into the engine's private copy and calling it costs one copy of D floats;
    a ``functional_call`` per point and batch costs more in Python than small layers compute.
    """

    def __init__(self, module: nn.Module, layout: ParamLayout):
        self.slots = [(module.get_parameter(name), slice(a, b), shape) for name, shape, a, b
                      in zip(layout.names, layout.shapes, layout.offsets[:-1], layout.offsets[1:])]

    def load(self, theta: torch.Tensor) -> None:
        for p, sl, shape in self.slots:
            p.copy_(theta[sl].view(shape))


class LoopKernel:
    """One point after another: write it into the private model, then call the model."""
    name = "loop"

    def __init__(self, model: nn.Module, layout: ParamLayout, thetas: torch.Tensor):
        self.model, self.thetas = model, thetas
        self.slots = ParamSlots(model, layout)

    def __call__(self, b: int, xb: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        outs = []
        for th in self.thetas[lo:hi]:
            self.slots.load(th)
            outs.append(self.model(xb))
        return torch.stack(outs)


class BnRecomputeKernel:
    """One point at a time (chunks of one): load it, recompute BatchNorm statistics, forward.

    The driver visits every data batch of a point before the next point (chunks outer), so the
    statistics are recomputed once per point.
    """
    name = "loop+bn"

    def __init__(self, model: nn.Module, thetas: torch.Tensor, bn_data: torch.Tensor, batch_size: int):
        self.model, self.thetas, self.bn_data, self.batch_size = model, thetas, bn_data, batch_size
        self.loaded: int | None = None

    def __call__(self, b: int, xb: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        assert hi == lo + 1, "BnRecomputeKernel evaluates one point per call"
        if self.loaded != lo:
            load_flat(self.model, self.thetas[lo])
            recompute_bn_stats(self.model, self.bn_data, self.batch_size)
            self.loaded = lo
        return self.model(xb)[None]


class ChainPlan:
    """``run(theta, h)`` for a traced graph ``h -> Linear/activation/no-op -> ... -> output``.

    Does what ``functional_call(graph_module, unflatten(theta), (x, h))`` does for a 2-D ``h``,
    but writes every hidden Linear output into a reused buffer and applies activations in place:
    on a CPU a fresh multi-hundred-kB output per layer and point costs more than its copy.
    ``ChainPlan.of`` returns None for any graph that is not such a chain.
    """

    def __init__(self, steps: list, scratch: Scratch):
        self.steps, self.scratch = steps, scratch
        self.last_linear = max(k for k, st in enumerate(steps) if isinstance(st, tuple))

    @classmethod
    def of(cls, gm: fx.GraphModule, h_name: str, layout: ParamLayout, scratch: Scratch):
        nodes = list(gm.graph.nodes)
        h = next((n for n in nodes if n.op == "placeholder" and n.name == h_name), None)
        if h is None:
            return None
        steps, prev = [], h
        for node in nodes:
            if node.op == "placeholder":
                if node is not h and node.users:
                    return None   # the chain must not read the raw input
                continue
            if node.op == "output":
                if node.args[0] is not prev:
                    return None
                break
            if len(node.args) < 1 or node.args[0] is not prev or len(node.users) != 1:
                return None
            step = cls._step(node, gm, layout)
            if step is None:
                return None
            if step != "skip":
                steps.append(step)
            prev = node
        if not any(isinstance(st, tuple) for st in steps):
            return None
        return cls(steps, scratch)

    @staticmethod
    def _step(node: fx.Node, gm: fx.GraphModule, layout: ParamLayout):
        act = inplace_activation(node, gm)
        if act is not None:
            return act
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            return None
        mod = gm.get_submodule(node.target)
        if isinstance(mod, nn.Identity) or (isinstance(mod, nn.Dropout) and not mod.training):
            return "skip"
        if type(mod) is not nn.Linear:
            return None
        names = [f"{node.target}.weight"] + ([f"{node.target}.bias"] if mod.bias is not None else [])
        if not all(n in layout.names for n in names):
            return None   # a frozen weight: the general route handles it
        w = layout.slice_of(names[0]), tuple(mod.weight.shape)
        b = layout.slice_of(names[1]) if len(names) > 1 else None
        return (w, b)

    def __call__(self, theta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x = h
        for k, st in enumerate(self.steps):
            if not isinstance(st, tuple):
                x = st(x)
                continue
            (w, shape), b = st
            wt = theta[w].view(shape).t()
            out = self.scratch.get(f"chain{k}", x.shape[0], wt) if k < self.last_linear else None
            x = torch.addmm(theta[b], x, wt, out=out) if b is not None else torch.mm(x, wt, out=out)
        return x   # the last Linear's output is a fresh tensor: it outlives the call


__all__ = ["VmapKernel", "LoopKernel", "ParamSlots", "BnRecomputeKernel", "ChainPlan", "activations_in_place",
           "inplace_activation", "INPLACE_MODULES"]
