"""Save and load checkpoints safely: safetensors, or a state dict read with ``weights_only``.

Uploaded checkpoints are untrusted. Nothing here unpickles arbitrary objects: PyTorch files
are read with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers; a file that tries more is refused with a ``CheckpointError``.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch import nn

from .params import ParamLayout, flatten


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


def read_state_dict(source) -> dict:
    """Read tensors from a path or bytes: safetensors, or a torch file with weights_only=True."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) < 16:
        raise CheckpointError(f"The checkpoint is {len(data)} bytes long, too short to hold "
                              "weights. Expected a .safetensors file or a PyTorch state dict.")
    if _looks_like_safetensors(data):
        from safetensors.torch import load
        try:
            return load(data)
        except Exception as exc:
            raise CheckpointError(f"The file looks like safetensors but cannot be read ({exc}). "
                                  "It may be truncated; export it again.") from exc
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            "Refused to load the checkpoint: it is not a safetensors file and not a plain "
            f"PyTorch state dict that loads with weights_only=True ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Only tensors are accepted; save with "
            "torch.save(model.state_dict(), path) or safetensors.") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"The checkpoint holds a {type(obj).__name__}, not a state dict of "
                              "tensors. Save with torch.save(model.state_dict(), path).")
    return obj


def _looks_like_safetensors(data: bytes) -> bool:
    n = int.from_bytes(data[:8], "little")
    return 0 < n < len(data) and data[8:9] == b"{"


def load_checkpoint(source, model: nn.Module) -> torch.Tensor:
    """Read a checkpoint for ``model``'s architecture and return its flat parameter vector.

    Keys may carry a ``module.`` prefix (DataParallel). BatchNorm buffers, if present, are
    loaded into ``model``. A mismatch raises ``CheckpointError`` naming the first tensor
    that does not fit and both shapes.
    """
    state = read_state_dict(source)
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = model.state_dict()
    for name, ref in expected.items():
        if name not in state:
            if name.endswith("num_batches_tracked"):
                continue
            raise CheckpointError(f"The checkpoint does not fit this architecture: tensor '{name}' "
                                  f"(shape {tuple(ref.shape)}) is missing. It has "
                                  f"{len(state)} tensors, e.g. {sorted(state)[:3]}.")
        if tuple(state[name].shape) != tuple(ref.shape):
            raise CheckpointError(f"The checkpoint does not fit this architecture: tensor '{name}' "
                                  f"has shape {tuple(state[name].shape)} in the file but "
                                  f"{tuple(ref.shape)} in the model. Check width/depth settings.")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"The checkpoint does not fit this architecture: unexpected tensor "
                              f"'{extra[0]}' (shape {tuple(state[extra[0]].shape)}).")
    for k, v in state.items():
        if not torch.isfinite(v.float()).all():
            raise CheckpointError(f"The checkpoint's tensor '{k}' holds NaN or infinite values.")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    return flatten(model)


def checkpoint_spec(source) -> dict | None:
    """The ModelSpec JSON stored by ``save_checkpoint`` in a safetensors header, if any."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if not _looks_like_safetensors(data):
        return None
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    raw = header.get("__metadata__", {}).get("model_spec")
    return json.loads(raw) if raw else None


__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_state_dict",
           "checkpoint_spec", "ParamLayout"]
