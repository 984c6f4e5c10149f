"""Content-addressed disk cache: the disk is the source of truth, Streamlit only memoises.

An entry is one safetensors file ``<root>/<kind>/<key>.safetensors``: its tensors are the
arrays of the result; its header records the entry's kind and key, optionally the spec the
key was made from, the JSON metadata, and one sha256 checksum over all of them and the tensor
bytes. Every read checks that checksum and that the entry belongs to the key it was read
under (and, where a spec is recorded or a ``validate`` hook is given, that it rebuilds to that
key), so a copied, renamed or edited file is never returned as someone else's result.

- key = sha256 of (kind, schema version, canonical JSON of the spec);
- writes go to a temporary file in the same folder, then ``os.replace`` (atomic), under the
  entry's file lock; stale temporary files of killed writers are removed;
- a per-key file lock makes two processes asking for the same key compute it once;
- an entry that fails a check is moved aside as ``<key>.corrupt`` under its lock (tolerating
  another process that moved or rewrote it first), with a warning naming the reason, and is
  recomputed; an entry this user may not read raises ``CacheError`` and is left in place;
- a cache location that cannot work (a file, read-only, full disk) raises ``CacheError``
  naming the path and what to do.

Longer than 400 lines: reading, checking, setting aside, writing and listing entries share
one lock discipline and one header format, so they stay together in one module.
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from .config import SCHEMA_VERSION

log = logging.getLogger(__name__)
ENV_VAR = "LANDSCAPE_CACHE_DIR"
FORMAT = "2"                       # header layout: kind/key/spec recorded, checksum covers all
MAX_HEADER_BYTES = 100_000_000     # safetensors' own limit on the JSON header
STALE_TMP_SECONDS = 3600           # temporary files older than this belong to killed writers


class CacheError(OSError):
    """A cache location that cannot work, or an entry this user is not allowed to read."""


class _Unusable(Exception):
    """Internal: an entry that fails a check; the message is the reason."""


@dataclass(frozen=True)
class Entry:
    """A cache entry: JSON-able metadata and named numpy arrays."""
    key: str
    meta: dict
    arrays: dict


@dataclass(frozen=True)
class EntryInfo:
    """What ``DiskCache.list`` reads from a header: no tensor is read, nothing is verified."""
    kind: str
    key: str
    meta: dict
    path: Path
    size: int

    @property
    def created(self) -> str:
        return str(self.meta.get("created", ""))


def default_root() -> Path:
    """``$LANDSCAPE_CACHE_DIR`` if set, else ``./cache``."""
    return Path(os.environ.get(ENV_VAR) or "cache")


def canonical_json(payload) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True,
                                                               separators=(",", ":"))


def make_key(kind: str, payload) -> str:
    """Hex key of a payload (a dict or a JSON string); field order does not matter."""
    h = hashlib.sha256(f"{kind}|v{SCHEMA_VERSION}|{canonical_json(payload)}".encode())
    return h.hexdigest()[:32]


def _checksum(kind: str, key: str, spec: str, meta_json: str, arrays: dict) -> str:
    h = hashlib.sha256()
    for part in (FORMAT, kind, key, spec, meta_json):
        h.update(len(part).to_bytes(8, "little") + part.encode())
    for name in sorted(arrays):
        a = np.require(arrays[name], requirements="C")      # keeps 0-d arrays 0-d
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


_LOCKS: dict[str, FileLock] = {}
_LOCKS_GUARD = threading.Lock()


def _why(exc: OSError) -> tuple[str, str]:
    """(what went wrong, what to do) for an OSError raised on the cache folder."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return "a file stands where a folder is needed", "Remove or rename that file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (no space left or quota exceeded)", "Free some space"
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return ("this user cannot write there (read-only or permission denied)",
                "Fix the folder's permissions")
    return (exc.strerror or str(exc)), "Check that the folder can be created"


class DiskCache:
    """A folder of cache entries grouped by kind (``minimum``, ``profile``, ``slice``, ...)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.safetensors"

    # ------------------------------------------------------------------ folders and locks
    def _unusable_location(self, exc: OSError, action: str) -> CacheError:
        why, todo = _why(exc)
        culprit = getattr(exc, "filename", None)
        if isinstance(exc, (FileExistsError, NotADirectoryError)) and culprit:
            culprit = next((str(p) for p in reversed(Path(culprit).parents) if p.is_file()), culprit)
        where = f" at {culprit}" if culprit else ""
        return CacheError(f"The cache folder {self.root} cannot be used to {action}: {why}{where}. "
                          f"{todo}, or point {ENV_VAR} at a writable folder.")

    def folder(self, kind: str) -> Path:
        """``<root>/<kind>``, created if needed; ``CacheError`` when that cannot work."""
        folder = self.root / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "permission denied", str(folder))
        except OSError as exc:
            raise self._unusable_location(exc, "store results") from exc
        return folder

    def lock(self, kind: str, key: str) -> FileLock:
        """The entry's inter-process lock (re-entrant within a thread; one object per file)."""
        path = str((self.folder(kind) / f"{key}.lock").resolve())
        with _LOCKS_GUARD:
            if path not in _LOCKS:
                _LOCKS[path] = FileLock(path)
            return _LOCKS[path]

    class _Held:
        def __init__(self, cache: "DiskCache", kind: str, key: str):
            self.cache, self.lock = cache, cache.lock(kind, key)

        def __enter__(self):
            try:
                self.lock.acquire()
            except OSError as exc:
                raise self.cache._unusable_location(exc, "lock an entry") from exc
            return self

        def __exit__(self, *exc):
            self.lock.release()

    def locked(self, kind: str, key: str) -> "DiskCache._Held":
        """``with cache.locked(kind, key):`` holds the entry's lock (CacheError if impossible)."""
        return DiskCache._Held(self, kind, key)

    # ------------------------------------------------------------------------- reading
    def _read(self, kind: str, key: str, path: Path, validate) -> Entry:
        """Read and check one entry; raises _Unusable, FileNotFoundError or PermissionError."""
        from safetensors.numpy import load as load_bytes
        with open(path, "rb") as f:
            data = f.read()
        try:
            header = _parse_header(data)
        except ValueError as exc:
            raise _Unusable(f"unreadable header: {exc}") from None
        meta_h = header.get("__metadata__") or {}
        if meta_h.get("format") != FORMAT:
            raise _Unusable("written by an older version that did not bind entries to their keys")
        if meta_h.get("kind") != kind or meta_h.get("key") != key:
            raise _Unusable(f"it is the entry of {meta_h.get('kind')}/{meta_h.get('key')}, not of "
                            f"{kind}/{key} (a file was copied or renamed)")
        try:
            arrays = load_bytes(data)
        except Exception as exc:     # truncated or garbled tensor section
            raise _Unusable(f"unreadable tensors: {str(exc)[:120]}") from None
        spec, meta_json = meta_h.get("spec", ""), meta_h.get("meta", "")
        if meta_h.get("checksum") != _checksum(kind, key, spec, meta_json, arrays):
            raise _Unusable("checksum mismatch: its metadata or tensors changed after writing")
        if spec and make_key(kind, spec) != key:
            raise _Unusable("its recorded spec does not rebuild to its key")
        try:
            meta = json.loads(meta_json)
        except ValueError:
            raise _Unusable("its metadata is not JSON") from None
        if not isinstance(meta, dict):
            raise _Unusable(f"its metadata is a {type(meta).__name__}, not an object")
        entry = Entry(key, meta, arrays)
        if validate is not None:
            try:
                validate(entry)
            except Exception as exc:     # invalid spec, missing field, key does not rebuild
                raise _Unusable(f"invalid metadata: {type(exc).__name__}: {str(exc)[:160]}") from None
        return entry

    def load(self, kind: str, key: str, *, validate: Callable[[Entry], object] | None = None
             ) -> Entry | None:
        """The entry, or None if absent or unusable (an unusable file is moved aside).

        ``validate(entry)`` may raise to declare the metadata invalid (for example when the
        specs it names do not rebuild to ``key``); the entry is then moved aside too.
        Raises ``CacheError`` for an entry this user may not read (left in place) and for a
        cache root that is not a folder.
        """
        path = self.path(kind, key)
        try:
            return self._read(kind, key, path, validate)
        except FileNotFoundError:
            return None
        except NotADirectoryError as exc:
            raise self._unusable_location(exc, "read results") from exc
        except PermissionError as exc:
            raise CacheError(
                f"The cache entry {path} exists but this user may not read it (permission "
                f"denied); it was left in place. Ask its owner to make it readable, or point "
                f"{ENV_VAR} at a cache folder of your own.") from exc
        except _Unusable as bad:
            return self._set_aside(kind, key, path, str(bad), validate)

    def _set_aside(self, kind, key, path: Path, reason: str, validate) -> Entry | None:
        with self.locked(kind, key):
            try:                       # another process may have moved or rewritten it first
                return self._read(kind, key, path, validate)
            except FileNotFoundError:
                return None
            except _Unusable as bad:
                reason = str(bad)
            aside = path.with_suffix(".corrupt")
            try:
                os.replace(path, aside)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise self._unusable_location(exc, "move an unusable entry aside") from exc
            log.warning("cache entry %s is unusable (%s); moved aside to %s and will be "
                        "recomputed", path, reason, aside.name)
        return None

    # ------------------------------------------------------------------------- writing
    def save(self, kind: str, key: str, meta: dict, arrays: dict, *, spec=None) -> Entry:
        """Write an entry atomically (temporary file + rename) under its lock.

        ``spec`` (a dict or canonical JSON), when given, must be what ``key`` was made from:
        it is recorded and every later read checks ``make_key(kind, spec) == key``.
        """
        from safetensors.numpy import save as to_bytes
        arrays = {k: np.require(np.asarray(v), requirements="C") for k, v in arrays.items()}
        if not arrays:
            arrays = {"_empty": np.zeros(0, np.float32)}
        spec_json = "" if spec is None else canonical_json(spec)
        if spec_json and make_key(kind, spec_json) != key:
            raise ValueError(f"DiskCache.save: the spec given for {kind}/{key} makes the key "
                             f"{make_key(kind, spec_json)}; pass the key made from that spec.")
        meta = {**meta, "schema_version": SCHEMA_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        meta_json = json.dumps(meta, default=str)
        header = {"format": FORMAT, "kind": kind, "key": key, "spec": spec_json, "meta": meta_json,
                  "checksum": _checksum(kind, key, spec_json, meta_json, arrays)}
        payload = to_bytes(arrays, metadata=header)
        folder = self.folder(kind)
        with self.locked(kind, key):
            self._clean_tmp(folder, key, max_age=0)          # we hold the lock: all are stale
            tmp = folder / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # honours umask
                try:
                    _write_all(fd, payload)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path(kind, key))
            except OSError as exc:
                raise self._unusable_location(exc, f"store a {kind} entry") from exc
            finally:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
        return Entry(key, meta, arrays)

    def _clean_tmp(self, folder: Path, key: str | None = None, max_age: float = STALE_TMP_SECONDS):
        pattern = f".{key}.*.tmp" if key else ".*.tmp"
        now = time.time()
        for p in folder.glob(pattern):
            try:
                if now - p.stat().st_mtime >= max_age:
                    p.unlink()
                    log.info("removed the stale temporary file %s of an interrupted write", p)
            except OSError:
                pass

    def get_or_compute(self, kind: str, key: str, compute: Callable[[], tuple[dict, dict]], *,
                       validate: Callable[[Entry], object] | None = None, spec=None) -> Entry:
        """Load ``key`` or, under a file lock, compute ``(meta, arrays)`` and store it.

        The cache location is checked (and the lock taken) before ``compute`` runs, so an
        unusable cache fails before any work is done.
        """
        entry = self.load(kind, key, validate=validate)
        if entry is not None:
            return entry
        with self.locked(kind, key):
            entry = self.load(kind, key, validate=validate)   # another process may have finished
            if entry is not None:
                return entry
            meta, arrays = compute()
            return self.save(kind, key, meta, arrays, spec=spec)

    # ------------------------------------------------------------------------- listing
    def list(self, kind: str) -> list[EntryInfo]:
        """Every entry of a kind as (key, metadata) read from its header only, newest first.

        No tensor is read and no checksum verified (``load`` does that); files whose header
        is unreadable or names another kind or key are skipped. Stale temporary files are
        removed on the way.
        """
        folder = self.root / kind
        if not folder.is_dir():
            return []
        self._clean_tmp(folder)
        found = []
        for p in folder.glob("*.safetensors"):
            try:
                with open(p, "rb") as f:
                    head = f.read(8)
                    n = int.from_bytes(head, "little") if len(head) == 8 else -1
                    if not 0 < n <= MAX_HEADER_BYTES:
                        continue
                    header = _parse_header(head + f.read(n), max_len=None)
                size = p.stat().st_size
            except (OSError, ValueError):
                continue
            meta_h = header.get("__metadata__") or {}
            if meta_h.get("format") != FORMAT or meta_h.get("kind") != kind or \
                    meta_h.get("key") != p.stem:
                continue
            try:
                meta = json.loads(meta_h.get("meta", ""))
            except ValueError:
                continue
            if isinstance(meta, dict):
                found.append(EntryInfo(kind, p.stem, meta, p, size))
        return sorted(found, key=lambda e: e.created, reverse=True)

    def entries(self, kind: str, *, validate: Callable[[Entry], object] | None = None
                ) -> list[Entry]:
        """Every usable entry of a kind (fully read and checked), newest first."""
        found = [self.load(kind, info.key, validate=validate) for info in self.list(kind)]
        return [e for e in found if e is not None]

    def delete(self, kind: str, key: str) -> bool:
        path = self.path(kind, key)
        if path.exists():
            path.unlink()
            return True
        return False


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]


def _parse_header(data: bytes, max_len: int | None = MAX_HEADER_BYTES) -> dict:
    """The JSON header of safetensors bytes; ValueError when it is not one."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, shorter than a header length")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or (max_len is not None and n > max_len) or 8 + n > len(data):
        raise ValueError(f"header length {n} does not fit a file of {len(data)} bytes")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and
                                 all(isinstance(v, str) for v in meta.values())):
        raise ValueError("header metadata is not a map of strings")
    return header
