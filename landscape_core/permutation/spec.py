"""Which axes of which tensors share a permutation of hidden units, derived from the model.

A ``PermutationSpec`` names every permutation group (``perms``: name -> number of units) and,
for every parameter and buffer that a group touches, the group acting on each of its axes
(``axes``: tensor name -> tuple with a group name or None per axis). ``sites`` records where a
group's units can be observed in a forward pass (module names whose output carries the group
on dimension 1), which activation matching and REPAIR use.

``permutation_spec(model)`` derives the spec by walking the module tree, never from a table:
Linear / Conv2d outputs start a new group; BatchNorm, activations, dropout and pooling pass
the current group through; Flatten keeps it (an axis of size n * k is permuted in blocks of k,
the (C, H, W) -> C*H*W order of ``nn.Flatten``); the paper's ``SumNeurons`` read-out is
invariant (it sums the units); a ResNet ``BasicBlock`` with an identity shortcut ties its
second convolution's output to its input's group (the residual addition); a projection
shortcut starts a new group shared by the shortcut and the second convolution. Whatever group
reaches the network's output is removed (outputs are never permuted).

Any other module is refused with a message naming it. A spec can be written by hand for such
models: ``PermutationSpec(perms={"P0": 64}, axes={"0.weight": ("P0", None), "0.bias": ("P0",),
"2.weight": (None, "P0")}, sites={"P0": ("1",)})``, using the names of ``model.named_parameters()``
and ``model.named_buffers()``; pass it as ``spec=`` to every function of this package.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

# parameter-free modules that act on every unit (or channel) separately
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.SiLU, nn.Softplus,
                nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d,
                nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                nn.AdaptiveMaxPool2d)
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.SiLU, nn.Softplus)
HOW_TO_PASS = ("Write the spec by hand (see landscape_core.permutation.spec: PermutationSpec(perms=..., "
               "axes=..., sites=...)) and pass it as spec=... .")


class UnsupportedModelError(ValueError):
    """``permutation_spec`` cannot derive the permutation structure of this model."""


@dataclass(frozen=True)
class PermutationSpec:
    """Permutation groups of a model: sizes, the axes they act on, where they are observed.

    perms : {group: number of units}
    axes : {parameter or buffer name: tuple of group-or-None, one per axis}
    sites : {group: tuple of module names whose output carries the group on dim 1}
    prefer : {group: module name} the site used by activation matching (post-activation when
        the group has one)
    repair_sites : tuple of (module name of a Linear/Conv, group of its output) in forward order,
        the pre-activations that REPAIR re-normalises
    """
    perms: dict
    axes: dict
    sites: dict = field(default_factory=dict)
    prefer: dict = field(default_factory=dict)
    repair_sites: tuple = ()

    def __post_init__(self):
        for name, ax in self.axes.items():
            for p in ax:
                if p is not None and p not in self.perms:
                    raise ValueError(f"The 'axes' of PermutationSpec name the group {p!r} for "
                                     f"{name!r}, which is not in 'perms' ({sorted(self.perms)}).")

    def tensors_of(self, perm: str) -> list[tuple[str, int]]:
        """(tensor name, axis) pairs that ``perm`` acts on."""
        return [(n, i) for n, ax in self.axes.items() for i, p in enumerate(ax) if p == perm]

    def describe(self) -> str:
        return f"{len(self.perms)} permutation groups ({sum(self.perms.values())} units)"


class _Walk:
    """Mutable state of the module walk."""

    def __init__(self):
        self.perms: dict = {}
        self.axes: dict = {}
        self.sites: dict = {}
        self.prefer: dict = {}
        self._rank: dict = {}
        self.repair: list = []

    def new(self, size: int) -> str:
        name = f"P{len(self.perms)}"
        self.perms[name] = int(size)
        return name

    def site(self, module_name: str, perm, rank: int = 0):
        """Record a site; the preferred one is the latest of the highest rank
        (0 = Linear/Conv output, 1 = after BatchNorm, 2 = after an activation)."""
        if perm is None:
            return
        self.sites.setdefault(perm, [])
        if module_name not in self.sites[perm]:
            self.sites[perm].append(module_name)
        if rank >= self._rank.get(perm, -1):
            self.prefer[perm], self._rank[perm] = module_name, rank

    def layer(self, prefix: str, m: nn.Module, cur, out=None):
        """A Linear or Conv layer reading group ``cur``; its output group (new unless given)."""
        if isinstance(m, nn.Conv2d) and (m.groups != 1 or m.padding_mode != "zeros"):
            raise UnsupportedModelError(f"The Conv2d {prefix!r} has groups={m.groups}, padding_mode="
                                        f"{m.padding_mode!r}; only groups=1 with zero padding is "
                                        f"supported. {HOW_TO_PASS}")
        n_out = m.out_features if isinstance(m, nn.Linear) else m.out_channels
        out = out if out is not None else self.new(n_out)
        extra = (None, None) if isinstance(m, nn.Conv2d) else ()
        self.axes[f"{prefix}weight"] = (out, cur) + extra
        if m.bias is not None:
            self.axes[f"{prefix}bias"] = (out,)
        self.repair.append((prefix[:-1], out))
        self.site(prefix[:-1], out)
        return out

    def norm(self, prefix: str, m: nn.Module, cur):
        for name, _ in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            if name != "num_batches_tracked":
                self.axes[f"{prefix}{name}"] = (cur,)
        self.site(prefix[:-1], cur, rank=1)
        return cur


def _walk(w: _Walk, module: nn.Module, prefix: str, cur):
    from ..models import BasicBlock, SumNeurons
    name = prefix[:-1]
    if isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            cur = _walk(w, child, f"{prefix}{child_name}.", cur)
        return cur
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return w.layer(prefix, module, cur)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return w.norm(prefix, module, cur)
    if isinstance(module, nn.Flatten):
        return cur
    if isinstance(module, _ELEMENTWISE):
        if isinstance(module, _ACTIVATIONS):
            w.site(name, cur, rank=2)
        return cur
    if isinstance(module, SumNeurons):
        return None                                  # the sum over units is invariant
    if isinstance(module, BasicBlock):
        inner = w.layer(f"{prefix}conv1.", module.conv1, cur)
        if isinstance(module.bn1, nn.modules.batchnorm._BatchNorm):
            w.norm(f"{prefix}bn1.", module.bn1, inner)
        if isinstance(module.shortcut, nn.Identity):
            out = cur if cur is not None else None
        else:
            sc = module.shortcut
            out = w.layer(f"{prefix}shortcut.0.", sc[0], cur)
            if len(sc) > 1 and isinstance(sc[1], nn.modules.batchnorm._BatchNorm):
                w.norm(f"{prefix}shortcut.1.", sc[1], out)
        if out is None:                              # identity shortcut on the raw input
            out = w.new(module.conv2.out_channels)
        w.layer(f"{prefix}conv2.", module.conv2, inner, out=out)
        if isinstance(module.bn2, nn.modules.batchnorm._BatchNorm):
            w.norm(f"{prefix}bn2.", module.bn2, out)
        w.site(name, out, rank=2)           # the block's output (after the addition)
        return out
    raise UnsupportedModelError(
        f"permutation_spec cannot derive the permutation structure of the module {name or '<root>'!r} "
        f"({type(module).__name__}): it supports nn.Sequential models of Linear, Conv2d, BatchNorm, "
        f"activation, dropout, pooling and Flatten layers and the model zoo's ResNet blocks and "
        f"student read-out. {HOW_TO_PASS}")


def permutation_spec(model: nn.Module) -> PermutationSpec:
    """Derive the permutation structure of ``model`` (see the module docstring)."""
    w = _Walk()
    final = _walk(w, model, "", None)
    drop = {final} if final is not None else set()
    axes = {k: tuple(None if p in drop else p for p in ax) for k, ax in w.axes.items()}
    axes = {k: ax for k, ax in axes.items() if any(p is not None for p in ax)}
    perms = {p: n for p, n in w.perms.items() if p not in drop}
    sites = {p: tuple(s) for p, s in w.sites.items() if p in perms}
    prefer = {p: s for p, s in w.prefer.items() if p in perms}
    repair = tuple((m, p) for m, p in w.repair if p in perms)
    return PermutationSpec(perms, axes, sites, prefer, repair)
