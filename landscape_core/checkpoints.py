"""Save and load checkpoints safely: safetensors, or a state dict read with ``weights_only``.

Uploaded checkpoints are untrusted, so loading checks before it reads:

1. the size, against what the architecture's weights can take;
2. the header (names, shapes and dtypes; for safetensors read without touching the data)
   against the model: every tensor present, no extra one, shapes equal, floating-point
   weights where the model has floating-point weights;
3. the values: finite once cast to the model's dtype and, given a ``probe`` batch, finite
   model outputs.

Nothing here unpickles arbitrary objects: PyTorch files are read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers;
a refused file is reported with the global it asked for. Every failure is a
``CheckpointError`` saying what was expected, what arrived and what to do.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import torch
from torch import nn

from .keylayout import is_optional, expected_layout, layout_text, mapping_text, match_by_order
from .params import ParamLayout, flatten

MIN_SAFE_TORCH = (2, 10)           # weights_only bypasses: CVE-2025-32434 (<=2.5.1), CVE-2026-24747 (<2.10)
MAX_CHECKPOINT_BYTES = 4 * 2**30   # without a model to size against
MAX_HEADER_BYTES = 100_000_000
_SLACK_BYTES = 1 << 20             # headers, names, zip directory
_FLOAT_CODES = {"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is unsafe, or does not fit the architecture."""


def save_checkpoint(model: nn.Module, path: str | Path, *, spec=None) -> Path:
    """Write ``model``'s state dict as safetensors; ``spec`` (a ModelSpec) goes in the header."""
    from safetensors.torch import save_file
    from .config import spec_json
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": "landscape_core"}
    if spec is not None:
        meta["model_spec"] = spec_json(spec)
    save_file(state, str(path), metadata=meta)
    return path


# ------------------------------------------------------------------------------ sources
def _as_source(source):
    """(path or None, bytes or None): paths are not read here, bytes-likes are taken as is."""
    if isinstance(source, (str, Path)):
        return Path(source), None
    if hasattr(source, "getvalue"):            # an upload (BytesIO-like)
        return None, bytes(source.getvalue())
    return None, bytes(source)


def _size(path: Path | None, data: bytes | None) -> int:
    if path is None:
        return len(data)
    try:
        return path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"Cannot read the checkpoint {path}: {exc.strerror or exc}. "
                              "Check the path and its permissions.") from exc


def _head(path: Path | None, data: bytes | None, n: int) -> bytes:
    if data is not None:
        return data[:n]
    with open(path, "rb") as f:
        return f.read(n)


def _safetensors_header(path: Path | None, data: bytes | None, size: int) -> dict | None:
    """The parsed safetensors header, None if the file is not safetensors; CheckpointError if
    it looks like safetensors but the header is damaged."""
    first = _head(path, data, 9)
    if len(first) < 9 or first[8:9] != b"{":
        return None
    n = int.from_bytes(first[:8], "little")
    if not 0 < n < size - 8 + 1 or n > MAX_HEADER_BYTES:
        raise CheckpointError(f"The file looks like safetensors but its header length ({n} bytes) "
                              f"does not fit a {size}-byte file. It may be truncated; export it again.")
    raw = _head(path, data, 8 + n)[8:]
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"The file looks like safetensors but its header is not valid JSON "
                              f"({type(exc).__name__}). It may be damaged; export it again.") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"The safetensors header is a JSON {type(header).__name__}, not an "
                              "object. Export the checkpoint again with safetensors.")
    return header


def _header_tensors(header: dict) -> dict:
    """{name: (dtype code, shape)} from a safetensors header, checked for shape."""
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(info, dict) and isinstance(info.get("dtype"), str)
                and isinstance(info.get("shape"), list)
                and all(isinstance(s, int) and s >= 0 for s in info["shape"])):
            raise CheckpointError(f"The safetensors header entry for '{str(name)[:80]}' is not a "
                                  "tensor description (dtype, shape, offsets). Export it again.")
        out[name] = (info["dtype"], tuple(info["shape"]))
    return out


def _expected_bytes(model: nn.Module) -> int:
    return sum(8 * t.numel() for t in model.state_dict().values()) + _SLACK_BYTES


def _strip(name: str) -> str:
    return name[7:] if name.startswith("module.") else name


def _misfit(first: str, found: dict, expected: dict, why: str) -> CheckpointError:
    want = [(n, tuple(t.shape)) for n, t in expected.items() if not is_optional(n)]
    got = [(n, tuple(v[1])) for n, v in found.items()]
    return CheckpointError(
        f"The checkpoint does not fit this architecture: {first}. Matching by order and shape "
        f"failed too: {why}. Expected {len(want)} tensors: {layout_text(want)}; the file has "
        f"{len(got)}: {layout_text(got)}. Check the model type, depth and width settings, or "
        "save a model with the expected layout.")


def _check_against(found: dict, model: nn.Module) -> dict:
    """``found``: {name: (is_floating, shape, dtype text)}; raise on the first misfit.

    Returns {name in the file: name in the model}. Names must be the model's (a ``module.``
    prefix is dropped), or else the tensors must match the model's one to one by order and
    shape, as for a plain ``nn.Sequential`` saved without the zoo's leading ``Flatten``
    (``0.weight`` -> ``1.weight``): same count, same shapes and last name parts in the order
    they were saved and in name order, and one module of the file per module of the model.
    """
    raw = found
    found = {_strip(k): v for k, v in raw.items()}
    expected = model.state_dict()
    missing = next((n for n in expected if n not in found and not is_optional(n)), None)
    extra = sorted(set(found) - set(expected))
    if missing is None and not extra:
        mapping = {n: n for n in found}
    else:
        mapping, why = match_by_order(found, expected)
        if mapping is None:
            first = (f"tensor '{missing}' (shape {tuple(expected[missing].shape)}) is missing"
                     if missing is not None else
                     f"unexpected tensor '{extra[0][:80]}' (shape {tuple(found[extra[0]][1])})")
            raise _misfit(first, found, expected, why)
    rank = {n: i for i, n in enumerate(expected)}
    for fname, name in sorted(mapping.items(), key=lambda fm: rank[fm[1]]):   # the model's order
        ref = expected[name]
        is_float, shape, dtype = found[fname]
        if tuple(shape) != tuple(ref.shape):
            raise CheckpointError(f"The checkpoint does not fit this architecture: tensor '{name}' "
                                  f"has shape {tuple(shape)} in the file but "
                                  f"{tuple(ref.shape)} in the model. Check width/depth settings.")
        if ref.is_floating_point() and not is_float:
            raise CheckpointError(f"The checkpoint's tensor '{fname}' holds {dtype} values; the model "
                                  f"expects floating-point weights ({ref.dtype}). Values are never "
                                  "cast silently: export the trained float weights.")
    return {k: mapping[_strip(k)] for k in raw}


def _refusal(exc: Exception) -> CheckpointError:
    text = str(exc)
    m = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"global[: ]+'?([\w.]+)'?", text)
    if m:
        why = (f"it is a pickle that asks to load '{m.group(1)}', which a file of plain tensors "
               "never needs; nothing in it was run")
    else:
        why = (f"it is neither safetensors nor a PyTorch file of plain tensors "
               f"({type(exc).__name__})")
    return CheckpointError(f"Refused to load the checkpoint: {why}. Only tensors are accepted: "
                           "save with torch.save(model.state_dict(), path) or as .safetensors.")


def _torch_is_safe() -> bool:
    nums = re.findall(r"\d+", torch.__version__)[:2]
    return tuple(int(x) for x in nums) >= MIN_SAFE_TORCH


# ------------------------------------------------------------------------------ reading
def read_state_dict(source, model: nn.Module | None = None) -> dict:
    """Read tensors from a path or bytes: safetensors, or a torch file with weights_only=True.

    With ``model``, the size, names, shapes and dtypes are checked against it before any
    tensor data is read, and the tensors come back under the model's names (matched by
    order and shape when the file's names differ; see ``expected_layout``).
    """
    return _read(source, model)[0]


def _read(source, model: nn.Module | None) -> tuple[dict, dict]:
    """(tensors, {name in the file: name in the model}; {} without a model)."""
    path, data = _as_source(source)
    size = _size(path, data)
    limit = _expected_bytes(model) if model is not None else MAX_CHECKPOINT_BYTES
    if size < 16:
        raise CheckpointError(f"The checkpoint is {size} bytes long, too short to hold "
                              "weights. Expected a .safetensors file or a PyTorch state dict.")
    if size > limit:
        raise CheckpointError(
            f"The checkpoint is {size / 2**20:.1f} MiB, more than the {limit / 2**20:.1f} MiB "
            f"{'this architecture' + chr(39) + 's weights can take' if model is not None else 'allowed'}; "
            "it was not read. Check that the file and the model settings belong together.")
    try:
        header = _safetensors_header(path, data, size)
    except OSError as exc:
        raise CheckpointError(f"Cannot read the checkpoint {path}: {exc.strerror or exc}.") from exc
    if header is not None:
        return _read_safetensors(path, data, header, model)
    return _read_torch(path, data, model)


def _read_safetensors(path, data, header, model) -> tuple[dict, dict]:
    tensors = _header_tensors(header)
    mapping = None
    if model is not None:
        mapping = _check_against({k: (d in _FLOAT_CODES, s, d) for k, (d, s) in tensors.items()},
                                 model)
    try:
        if data is not None:
            from safetensors.torch import load
            state = load(data)
        else:
            from safetensors import safe_open
            with safe_open(str(path), framework="pt") as f:
                state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise CheckpointError(f"The file looks like safetensors but cannot be read "
                              f"({str(exc)[:160]}). It may be truncated; export it again.") from None
    return _renamed(state, mapping)


def _renamed(state: dict, mapping: dict | None) -> tuple[dict, dict]:
    if mapping is None:
        return state, {}
    return {mapping[k]: v for k, v in state.items()}, mapping


def _read_torch(path, data, model) -> tuple[dict, dict]:
    if not _torch_is_safe():
        raise CheckpointError(
            f"This PyTorch ({torch.__version__}) has published weights_only bypasses "
            "(CVE-2025-32434, CVE-2026-24747), so PyTorch files are not read. Upgrade to "
            "torch>=2.10, or convert the checkpoint to .safetensors on a trusted machine.")
    try:
        src = str(path) if path is not None else io.BytesIO(data)
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _refusal(exc) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"The checkpoint holds a {type(obj).__name__}, not a state dict of "
                              "tensors. Save with torch.save(model.state_dict(), path).")
    bad_key = next((k for k in obj if not isinstance(k, str)), None)
    if bad_key is not None:
        raise CheckpointError(f"The checkpoint's state dict has a key of type "
                              f"{type(bad_key).__name__} ({str(bad_key)[:40]!r}); expected tensor "
                              "names as strings. Save with torch.save(model.state_dict(), path).")
    bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise CheckpointError(f"The checkpoint's entry '{bad[:80]}' is a {type(obj[bad]).__name__}, "
                              "not a tensor. Save with torch.save(model.state_dict(), path).")
    if model is not None:
        return _renamed(obj, _check_against({k: (v.is_floating_point(), tuple(v.shape), str(v.dtype))
                                             for k, v in obj.items()}, model))
    return obj, {}


def load_checkpoint(source, model: nn.Module, *, probe: torch.Tensor | None = None,
                    renamed: dict | None = None) -> torch.Tensor:
    """Read a checkpoint for ``model``'s architecture and return its flat parameter vector.

    Keys may carry a ``module.`` prefix (DataParallel). Keys named differently from the
    model's (e.g. a plain ``nn.Sequential`` without the zoo's leading ``Flatten``: ``0.weight``
    for ``1.weight``) are matched one to one by order and shape where that is unambiguous;
    pass a dict as ``renamed`` to receive {name in the file: name in the model} for each
    renamed tensor. BatchNorm buffers, if present, are loaded into ``model``. Size, names,
    shapes and dtypes are checked before the data is read; values must be finite in the
    model's dtype, and with ``probe`` (a batch of inputs) the model's outputs must be finite
    too. Any failure raises ``CheckpointError``.
    """
    state, mapping = _read(source, model)
    if renamed is not None:
        renamed.update({f: m for f, m in mapping.items() if _strip(f) != m})
    expected = model.state_dict()
    cast = {k: v.to(expected[k].dtype) for k, v in state.items()}
    for k, v in cast.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            was = "" if torch.isfinite(state[k]).all() else " in the file"
            raise CheckpointError(f"The checkpoint's tensor '{k}' holds NaN or infinite values{was} "
                                  f"(in {expected[k].dtype}); expected finite trained weights. "
                                  "Export the weights of a run that did not diverge.")
    model.load_state_dict(cast, strict=False)
    if probe is not None:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(probe)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise CheckpointError(
                f"The model cannot run on the data: inputs of shape {tuple(probe.shape[1:])} "
                f"({str(exc).splitlines()[0][:120]}). Check that the model settings (input shape, "
                "number of outputs) match the data set.") from None
        finally:
            model.train(was_training)
        if not torch.isfinite(out).all():
            big = max(float(v.abs().max()) for v in cast.values() if v.is_floating_point() and v.numel())
            raise CheckpointError(
                f"The checkpoint's weights are finite but make the model's outputs NaN or infinite "
                f"on the data (largest |weight| {big:.3g}); expected the weights of a trained "
                "model. Check that the file is the right one and was not rescaled.")
    return flatten(model)


def checkpoint_spec(source) -> dict | None:
    """The ModelSpec JSON stored by ``save_checkpoint`` in a safetensors header, if any.

    Only the header is read. None when the file is not safetensors or has no spec;
    ``CheckpointError`` when the header or the stored spec is damaged.
    """
    path, data = _as_source(source)
    size = _size(path, data)
    try:
        header = _safetensors_header(path, data, size) if size >= 9 else None
    except OSError as exc:
        raise CheckpointError(f"Cannot read the checkpoint {path}: {exc.strerror or exc}.") from exc
    if header is None:
        return None
    meta = header.get("__metadata__") or {}
    raw = meta.get("model_spec") if isinstance(meta, dict) else None
    if raw is None:
        return None
    try:
        spec = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        spec = None
    if not isinstance(spec, dict):
        raise CheckpointError("The checkpoint's stored model spec is not a JSON object; set the "
                              "model settings by hand, or export the file again with "
                              "save_checkpoint(model, path, spec=spec).")
    return spec


__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_state_dict",
           "checkpoint_spec", "expected_layout", "layout_text", "mapping_text", "ParamLayout"]
