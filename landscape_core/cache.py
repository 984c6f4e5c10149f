"""Content-addressed disk cache: the disk is the source of truth, Streamlit only memoises.

An entry is one safetensors file ``<root>/<kind>/<key>.safetensors``: its tensors are the
arrays of the result, its header metadata holds the JSON description (spec, schema version,
versions, date) and a sha256 checksum of the tensor bytes, verified on every read.

- key = sha256 of (kind, schema version, canonical JSON of the spec);
- writes go to a temporary file in the same folder, then ``os.replace`` (atomic);
- a per-key file lock makes two processes asking for the same key compute it once;
- a corrupted or truncated entry is reported (logged), moved aside as ``*.corrupt`` and
  recomputed, never returned.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from .config import SCHEMA_VERSION

log = logging.getLogger(__name__)
ENV_VAR = "LANDSCAPE_CACHE_DIR"


@dataclass(frozen=True)
class Entry:
    """A cache entry: JSON-able metadata and named numpy arrays."""
    key: str
    meta: dict
    arrays: dict


def default_root() -> Path:
    """``$LANDSCAPE_CACHE_DIR`` if set, else ``./cache``."""
    return Path(os.environ.get(ENV_VAR) or "cache")


def make_key(kind: str, payload) -> str:
    """Hex key of a payload (a dict or a JSON string); field order does not matter."""
    text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True,
                                                               separators=(",", ":"))
    h = hashlib.sha256(f"{kind}|v{SCHEMA_VERSION}|{text}".encode())
    return h.hexdigest()[:32]


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.require(arrays[name], requirements="C")      # keeps 0-d arrays 0-d
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class DiskCache:
    """A folder of cache entries grouped by kind (``minimum``, ``profile``, ``slice``, ...)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.safetensors"

    def load(self, kind: str, key: str) -> Entry | None:
        """The entry, or None if absent or corrupted (a corrupted file is moved aside)."""
        from safetensors.numpy import load_file
        from safetensors import safe_open
        path = self.path(kind, key)
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="np") as f:
                header = f.metadata() or {}
            arrays = load_file(str(path))
            meta = json.loads(header["meta"])
            if header.get("checksum") != _checksum(arrays):
                raise ValueError("checksum mismatch")
        except Exception as exc:  # any damage: truncated, garbled header, bad checksum
            bad = path.with_suffix(".corrupt")
            log.warning("cache entry %s is corrupted (%s); moved to %s and will be recomputed",
                        path, exc, bad.name)
            os.replace(path, bad)
            return None
        return Entry(key, meta, arrays)

    def save(self, kind: str, key: str, meta: dict, arrays: dict) -> Entry:
        """Write an entry atomically (temporary file + rename)."""
        from safetensors.numpy import save_file
        arrays = {k: np.require(np.asarray(v), requirements="C") for k, v in arrays.items()}
        if not arrays:
            arrays = {"_empty": np.zeros(0, np.float32)}
        meta = {**meta, "schema_version": SCHEMA_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(arrays, tmp, metadata={"meta": json.dumps(meta, default=str),
                                             "checksum": _checksum(arrays)})
            os.replace(tmp, self.path(kind, key))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return Entry(key, meta, arrays)

    def get_or_compute(self, kind: str, key: str,
                       compute: Callable[[], tuple[dict, dict]]) -> Entry:
        """Load ``key`` or, under a file lock, compute ``(meta, arrays)`` and store it."""
        entry = self.load(kind, key)
        if entry is not None:
            return entry
        (self.root / kind).mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / kind / f"{key}.lock")):
            entry = self.load(kind, key)     # another process may have finished meanwhile
            if entry is not None:
                return entry
            meta, arrays = compute()
            return self.save(kind, key, meta, arrays)

    def entries(self, kind: str) -> list[Entry]:
        """Every readable entry of a kind, newest first."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        found = [self.load(kind, p.stem) for p in folder.glob("*.safetensors")]
        found = [e for e in found if e is not None]
        return sorted(found, key=lambda e: e.meta.get("created", ""), reverse=True)

    def delete(self, kind: str, key: str) -> bool:
        path = self.path(kind, key)
        if path.exists():
            path.unlink()
            return True
        return False
