"""Checkpoint key layouts: what a model's state dict holds, and matching a file's tensors to
it by order and shape when the names differ.

A plain ``nn.Sequential(Linear, ReLU, Linear, ...)`` saved without the zoo's leading ``Flatten``
names its tensors ``0.weight, 0.bias, 2.weight, ...`` where the zoo model has ``1.weight,
1.bias, 3.weight, ...``. Such a file is matched one to one when that is unambiguous: the same
number of tensors (BatchNorm counters aside), and, paired in the order they were saved with the
model's order and paired in name order (numbers compared as numbers), the same shapes and the
same last name parts (``weight``, ``bias``, ``running_mean``...), one module of the file per
module of the model. When both pairings are valid they must agree; otherwise the file is refused
(``checkpoints`` says why and shows both layouts). Only names and shapes are used, so matching
runs on a safetensors header before any tensor data is read.
"""
from __future__ import annotations

import re

import torch
from torch import nn


def is_optional(name: str) -> bool:
    return name.endswith("num_batches_tracked")       # BatchNorm counters: may be left out


def _natural(name: str) -> list:
    """Sort key: numeric parts compare as numbers (``2.weight`` before ``10.weight``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"[.]", name)]


def _split(name: str) -> tuple[str, str]:
    head, _, last = name.rpartition(".")
    return head, last


def _pairing(pairs: list, found: dict, expected: dict) -> str | None:
    """Why ``pairs`` [(file name, model name)] is not a valid match, or None if it is: equal
    shapes, equal last name parts (weight/bias/...), one module of the file per module of
    the model."""
    fwd, back = {}, {}
    for i, (f, m) in enumerate(pairs):
        fshape, mshape = tuple(found[f][1]), tuple(expected[m].shape)
        (fmod, flast), (mmod, mlast) = _split(f), _split(m)
        if fshape != mshape or flast != mlast:
            return f"tensor #{i + 1} is {f} {fshape} in the file but {m} {mshape} in the model"
        if fwd.setdefault(fmod, mmod) != mmod or back.setdefault(mmod, fmod) != fmod:
            return f"{f} and {m} would split or merge modules"
    return None


def match_by_order(found: dict, expected: dict) -> tuple[dict | None, str]:
    """{file name: model name} matched by order and shape, or (None, why not).

    ``found``: {name in the file: (is_floating, shape, dtype text)}; ``expected``: the
    model's state dict."""
    fnames = [n for n in found if not is_optional(n)]
    mnames = [n for n in expected if not is_optional(n)]
    if len(fnames) != len(mnames):
        return None, (f"the file has {len(fnames)} tensors, the architecture {len(mnames)} "
                      "(BatchNorm counters aside)")
    orders = (("name order", sorted(fnames, key=_natural), sorted(mnames, key=_natural)),
              ("saved order", fnames, mnames))            # the file's order / the model's order
    valid, why = [], ""
    for what, forder, morder in orders:
        pairs = list(zip(forder, morder))
        problem = _pairing(pairs, found, expected)
        if problem is None:
            valid.append(dict(pairs))
        elif not why:
            why = f"in {what}, {problem}"
    if not valid:
        return None, why
    if len(valid) == 2 and valid[0] != valid[1]:
        f = next(k for k in valid[0] if valid[0][k] != valid[1][k])
        return None, (f"the saved order and the name order disagree ({f} -> {valid[0][f]} "
                      f"or {valid[1][f]}), so the match is ambiguous")
    mapping = valid[0]
    modules = {_split(f)[0]: _split(m)[0] for f, m in mapping.items()}
    for f in found:
        if is_optional(f):
            head, last = _split(f)
            target = f"{modules[head]}.{last}" if head in modules else None
            if target not in expected:
                return None, f"{f} has no counterpart in the architecture"
            mapping[f] = target
    return mapping, ""


def layout_text(layout, limit: int = 12) -> str:
    """``name (shape), ...`` of a list of (name, shape), the first ``limit`` then a count."""
    items = [f"{n} {tuple(s)}" for n, s in layout]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f", ... ({more} more)" if more > 0 else "")


def mapping_text(renamed) -> str:
    """``0.weight -> 1.weight, ...`` of (file name, model name) pairs."""
    return ", ".join(f"{f} -> {m}" for f, m in renamed)


def expected_layout(model_spec) -> list[tuple[str, tuple]]:
    """The tensors a checkpoint for ``model_spec`` (a ModelSpec, or a built ``nn.Module``)
    must hold: [(name, shape)] in the model's order, BatchNorm counters left out (optional).

    Files with these names load as they are; files whose tensors match these one to one by
    order and shape load too (e.g. ``0.weight`` for ``1.weight``: no leading Flatten), and the
    match is reported.
    """
    if isinstance(model_spec, nn.Module):
        model = model_spec
    else:
        from .models import build_model
        try:
            with torch.device("meta"):
                model = build_model(model_spec, 0)
        except Exception:                      # a user builder that cannot run on meta tensors
            model = build_model(model_spec, 0)
    return [(n, tuple(t.shape)) for n, t in model.state_dict().items() if not is_optional(n)]


__all__ = ["expected_layout", "is_optional", "layout_text", "mapping_text", "match_by_order"]
