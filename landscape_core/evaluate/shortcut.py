"""The first-layer shortcut for affine families of points theta_k = origin + coeffs[k] @ directions.

When a model's first parametrised operation on its input is an ``nn.Linear`` or ``nn.Conv2d``,
that operation's output is linear in its weights, so at all K points it is a combination of
the J + 1 products of the origin's and the directions' first-layer weights with the input:
``h_k = [1, coeffs[k]] @ [h_0; ...; h_J]``. Those products are computed once per data batch;
only the rest of the network runs per point.

``split_first_layer`` finds that operation by tracing the module with ``torch.fx`` (any module,
not only ``nn.Sequential``) and cuts the traced graph into a parameter-free ``prefix`` (input
-> the layer's input), the layer, and the ``rest`` (input, layer output -> model output). It
returns None, and the engine takes the plain route, when tracing fails, when the first
parametrised operation is anything else, when the layer is shared or hooked, or when the cut
graph does not reproduce the model's output on a probe batch.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.func import functional_call, vmap

from ..params import ParamLayout, unflatten
from .common import Scratch
from .kernels import ChainPlan, ParamSlots, inplace_activation

H_NAME = "first_layer_out"


@dataclass(frozen=True)
class FirstLayerSplit:
    """A model cut after its first parametrised operation (a Linear or Conv2d on the input)."""
    prefix: fx.GraphModule         # input -> the first layer's input (no parameters)
    layer: nn.Module               # the nn.Linear or nn.Conv2d
    layer_name: str                # its qualified name in the model ("1", "fc1", ...)
    activation: Callable | None    # in-place elementwise activation fused after the layer
    rest: fx.GraphModule           # (input, activated first-layer output) -> model output
    rest_layout: ParamLayout       # the rest's trainable parameters, in theta's order
    rest_index: torch.Tensor       # their positions inside theta (D_rest,)
    per_sample: bool = False       # rest reads only h, sample by sample (checked on the probe)

    def out_numel(self, x1: torch.Tensor) -> int:
        """Floats of the first layer's output per sample (``x1``: one sample, batched)."""
        with torch.no_grad():
            return int(self.layer(self.prefix(x1)).numel())


def split_first_layer(model: nn.Module, layout: ParamLayout, probe: torch.Tensor) -> FirstLayerSplit | None:
    """Cut ``model`` (eval mode) at its first parametrised operation; None if the shortcut cannot apply.

    ``probe`` (a few inputs) checks that prefix -> layer -> rest reproduces ``model(probe)``.
    """
    if any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return None   # a traced graph would skip the root's hooks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = fx.symbolic_trace(model)
    except Exception:   # data-dependent control flow, unsupported Python: the plain route
        return None
    nodes = list(gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    first = _first_parametrised(gm, nodes)
    if len(inputs) != 1 or first is None:
        return None
    layer = gm.get_submodule(first.target)
    if not _cuttable(model, gm, nodes, first, layer):
        return None
    users = list(first.users)
    fused = users[0] if len(users) == 1 else None
    activation = inplace_activation(fused, gm) if fused is not None else None
    if activation is None:
        fused = None
    prefix, rest = _prefix_graph(gm, nodes, first), _rest_graph(gm, nodes, first, fused)
    rest_layout, rest_index = _rest_params(layout, rest, first.target)
    split = FirstLayerSplit(prefix, layer, first.target, activation, rest, rest_layout, rest_index)
    if not _reproduces(model, split, probe):
        return None
    reads_input = any(n.op == "placeholder" and n.name != H_NAME and n.users for n in rest.graph.nodes)
    if not reads_input and _per_sample(split, probe):
        split = dataclasses.replace(split, per_sample=True)
    return split


def _first_parametrised(gm: fx.GraphModule, nodes: list) -> fx.Node | None:
    for node in nodes:
        if node.op == "get_attr" or node.op == "output":
            return None   # a parameter or constant read directly, or no parameters at all
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if any(True for _ in mod.parameters()) or any(True for _ in mod.buffers()):
                return node
    return None


def _cuttable(model, gm, nodes, first: fx.Node, layer: nn.Module) -> bool:
    if type(layer) not in (nn.Linear, nn.Conv2d) or len(first.args) != 1 or first.kwargs:
        return False
    if isinstance(layer, nn.Conv2d) and layer.padding_mode != "zeros":
        return False
    if sum(n.op == "call_module" and n.target == first.target for n in nodes) != 1:
        return False   # the same layer applied twice
    if any(n.op == "get_attr" and n.target.startswith(first.target + ".") for n in nodes):
        return False   # its weights read elsewhere in forward
    own = {id(p) for p in layer.parameters()}
    shared = sum(id(p) in own for _, p in model.named_parameters(remove_duplicate=False))
    return shared == len(own)


def _prefix_graph(gm: fx.GraphModule, nodes: list, first: fx.Node) -> fx.GraphModule:
    g, env = fx.Graph(), {}
    for node in nodes:
        if node is first:
            break
        env[node] = g.node_copy(node, lambda n: env[n])
    g.output(env[first.args[0]])
    return _module(gm, g)


def _rest_graph(gm: fx.GraphModule, nodes: list, first: fx.Node, fused: fx.Node | None) -> fx.GraphModule:
    g, env = fx.Graph(), {}
    for node in nodes:
        if node.op == "placeholder":
            env[node] = g.node_copy(node, lambda n: env[n])
    h = g.placeholder(H_NAME)
    for node in nodes:
        if node.op == "placeholder":
            continue
        env[node] = h if node is first or node is fused else g.node_copy(node, lambda n: env[n])
    return _module(gm, g)


def _module(root: fx.GraphModule, graph: fx.Graph) -> fx.GraphModule:
    module = fx.GraphModule(root, graph)
    module.graph.eliminate_dead_code()
    module.recompile()
    return module


def _rest_params(layout: ParamLayout, rest: fx.GraphModule, layer_name: str):
    used = {name for name, _ in rest.named_parameters()}
    keep = [i for i, name in enumerate(layout.names)
            if name in used and not name.startswith(layer_name + ".")]
    names, shapes, offsets, index, pos = [], [], [], [], 0
    for i in keep:
        names.append(layout.names[i])
        shapes.append(layout.shapes[i])
        offsets.append(pos)
        pos += layout.offsets[i + 1] - layout.offsets[i]
        index.append(torch.arange(layout.offsets[i], layout.offsets[i + 1]))
    index = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
    return ParamLayout(tuple(names), tuple(shapes), tuple(offsets + [pos])), index


@torch.no_grad()
def _reproduces(model: nn.Module, split: FirstLayerSplit, probe: torch.Tensor) -> bool:
    try:
        want = model(probe)
        h = split.layer(split.prefix(probe))
        if split.activation is not None:
            split.activation(h)
        got = split.rest(probe, h)
        return (isinstance(got, torch.Tensor) and got.shape == want.shape
                and torch.allclose(got, want, rtol=1e-4, atol=1e-5))
    except Exception:
        return False


@torch.no_grad()
def _per_sample(split: FirstLayerSplit, probe: torch.Tensor) -> bool:
    """Whether the rest maps each sample on its own (then C points x B samples can be stacked)."""
    if probe.shape[0] < 2:
        return False
    try:
        h = split.layer(split.prefix(probe))
        if split.activation is not None:
            split.activation(h)
        whole = split.rest(None, h)
        parts = torch.cat([split.rest(None, h[i:i + 1]) for i in range(h.shape[0])])
        return whole.shape == parts.shape and torch.allclose(whole, parts, rtol=1e-5, atol=1e-6)
    except Exception:
        return False


class AffineShortcutKernel:
    """Outputs (C, B, ...) at the points ``lo:hi`` of an affine family, via the first-layer split.

    State, all explicit: the J + 1 first-layer products per data batch (``products``, keyed
    by batch number; all batches are kept when ``keep_all``), and the rest's parameters at the
    current chunk of points (``chunk`` and ``rest_thetas``).
    """

    def __init__(self, split: FirstLayerSplit, origin: torch.Tensor, directions: torch.Tensor,
                 coeffs: torch.Tensor, *, strategy: str, keep_all: bool, layout: ParamLayout):
        self.split, self.strategy, self.keep_all = split, strategy, keep_all
        self.name = strategy + "+first-layer"
        J = directions.shape[0]
        self.coeffs1 = torch.cat([torch.ones_like(coeffs[:, :1]), coeffs], dim=1)   # (K, J + 1)
        self.weight = self._rows("weight", origin, directions, layout)              # (J+1, *w)
        self.bias = self._rows("bias", origin, directions, layout)                  # or None
        idx = split.rest_index.to(origin.device)
        self.rest_stack = (torch.cat([origin[None, idx], directions[:, idx]])      # (J+1, D_rest)
                           if split.rest_layout.dim else None)
        self.J = J
        self.scratch = Scratch()
        self.products: dict[int, tuple] = {}
        self.chunk: tuple[int, int] | None = None
        self.rest_thetas: torch.Tensor | None = None
        self.plan = (ChainPlan.of(split.rest, H_NAME, split.rest_layout, self.scratch)
                     if strategy == "loop" and split.rest_layout.dim else None)
        self.slots = ParamSlots(split.rest, split.rest_layout) if split.rest_layout.dim else None

    def _rows(self, attr: str, origin, directions, layout: ParamLayout) -> torch.Tensor | None:
        """(J + 1, *shape) values of the layer's weight or bias: origin row, then directions.

        A frozen tensor (not in theta) keeps the module's value at every point: the origin row
        holds it and the direction rows are zero.
        """
        value = getattr(self.split.layer, attr)
        if value is None:
            return None
        name = f"{self.split.layer_name}.{attr}"
        if name in layout.names:
            sl = layout.slice_of(name)
            return torch.cat([origin[None, sl], directions[:, sl]]).view(-1, *value.shape)
        zeros = value.new_zeros(directions.shape[0], *value.shape)
        return torch.cat([value.detach()[None], zeros])

    def _first_products(self, xb: torch.Tensor):
        """(per-point output shape, (J + 1, numel) products) of the first layer on one batch."""
        layer, n_rows = self.split.layer, self.J + 1
        xp = self.split.prefix(xb)
        w, b = self.weight, self.bias
        if isinstance(layer, nn.Linear):
            h = F.linear(xp, w.reshape(-1, w.shape[-1]), b.reshape(-1) if b is not None else None)
            h = h.unflatten(-1, (n_rows, w.shape[1])).movedim(-2, 0)
        elif layer.groups == 1:
            h = F.conv2d(xp, w.reshape(-1, *w.shape[2:]), b.reshape(-1) if b is not None else None,
                         layer.stride, layer.padding, layer.dilation, 1)
            h = h.unflatten(1, (n_rows, w.shape[1])).movedim(1, 0)
        else:   # grouped: stacking the rows along output channels would regroup them
            h = torch.stack([F.conv2d(xp, w[j], b[j] if b is not None else None, layer.stride,
                                      layer.padding, layer.dilation, layer.groups)
                             for j in range(n_rows)])
        return h.shape[1:], h.reshape(n_rows, -1)   # a contiguous copy

    def __call__(self, b: int, xb: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        if b not in self.products:   # the J + 1 products, once per data batch
            if not self.keep_all:
                self.products.clear()
            self.products[b] = self._first_products(xb)
        shape, h = self.products[b]
        c1 = self.coeffs1[lo:hi]
        # [1, c] @ [h_0; ...; h_J]: one GEMM with inner dimension J + 1 writes the C outputs
        hk = torch.mm(c1, h, out=self.scratch.get("h", c1.shape[0], h)).view(c1.shape[0], *shape)
        if self.split.activation is not None:
            self.split.activation(hk)
        rest = self.split.rest
        if self.rest_stack is None:   # no parameters after the first layer
            if self.split.per_sample:   # the C points' outputs as C * B samples: one call
                out = rest(None, hk.view(-1, *shape[1:]))
                return out.view(c1.shape[0], -1, *out.shape[1:])
            return vmap(lambda hh: rest(xb, hh))(hk)
        if self.chunk != (lo, hi):
            self.chunk = (lo, hi)
            self.rest_thetas = torch.mm(c1, self.rest_stack,
                                        out=self.scratch.get("rest", c1.shape[0], self.rest_stack))
        layout = self.split.rest_layout
        if self.plan is not None and hk.ndim == 3:
            return torch.stack([self.plan(th, hh) for th, hh in zip(self.rest_thetas, hk)])
        if self.strategy == "vmap":
            g = lambda th, hh: functional_call(rest, unflatten(th, layout), (xb, hh))
            try:
                return vmap(g)(self.rest_thetas, hk)
            except Exception:   # not vmappable: loop over the points from now on
                self.strategy, self.name = "loop", "loop+first-layer"
        outs = []
        for th, hh in zip(self.rest_thetas, hk):   # write the point into the rest, call it
            self.slots.load(th)
            outs.append(rest(xb, hh))
        return torch.stack(outs)
