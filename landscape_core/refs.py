"""References: every result is named by what produced it, never by "the newest one".

- a minimum is named by its cache key (a trained seed or the content hash of uploaded weights);
- a center by ``CenterRef``: the set of its feet (minimum keys) and its full recipe (CenterSpec);
- a path by ``PathRef``: its vertices (minimum keys or CenterRefs) and ``n_points``, the number
  of points per straight piece (a segment has ``n_points``, a fold-line ``2 * n_points - 1``).

These are plain, hashable values: the dashboard's state, its URL, the CLI and the cache pass
them around, and ``resolve`` turns one into parameters (loading, never fitting, unless asked).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import torch

from .cache import DiskCache
from .center import Center, CenterSpec, center_for_minima
from .config import spec_dict
from .cache import make_key
from .recipes import describe
from .training import Minimum, minimum_from_entry

N_POINTS = 21            # default points per straight piece, everywhere


@dataclass(frozen=True)
class CenterRef:
    """The center fitted to ``feet`` (minimum keys; order does not matter) with ``spec``."""
    feet: tuple
    spec: CenterSpec

    def __post_init__(self):
        feet = tuple(sorted(str(k) for k in self.feet))
        if len(feet) < 1 or len(set(feet)) != len(feet):
            raise ValueError(f"A center needs at least one foot, each once. Got feet {self.feet!r}.")
        object.__setattr__(self, "feet", feet)

    @property
    def key(self) -> str:
        """The center's cache key (the one ``center.center_key`` gives for these feet)."""
        return make_key("center", {"spec": spec_dict(self.spec), "feet": list(self.feet)})

    def label(self) -> str:
        """E.g. ``θ* of 4 minima, paper recipe (λ = 0)``."""
        n = len(self.feet)
        return f"θ* of {n} minim{'um' if n == 1 else 'a'}, {describe(self.spec)}"


PointRef = Union[str, CenterRef]


@dataclass(frozen=True)
class PathRef:
    """A polygonal path through ``vertices`` with ``n_points`` per straight piece."""
    vertices: tuple
    n_points: int = N_POINTS

    def __post_init__(self):
        if len(self.vertices) < 2:
            raise ValueError(f"A path needs at least two vertices. Got {len(self.vertices)}.")
        if not 2 <= int(self.n_points) <= 10_000:
            raise ValueError(f"A path needs 2..10000 points per piece. Got {self.n_points}.")
        object.__setattr__(self, "vertices", tuple(self.vertices))

    @property
    def total_points(self) -> int:
        return (len(self.vertices) - 1) * (self.n_points - 1) + 1


def load_minimum(key: str, cache: DiskCache) -> Minimum | None:
    """The minimum stored under ``key``, or None when the cache does not hold it."""
    entry = cache.load("minimum", key)
    return None if entry is None else minimum_from_entry(entry)


def load_minima(keys, cache: DiskCache) -> list[Minimum]:
    """The minima of ``keys`` in that order; a clear error naming any that is missing."""
    out = []
    for k in keys:
        m = load_minimum(k, cache)
        if m is None:
            raise ValueError(f"The minimum {k} is not in the cache at {cache.root}: train or "
                             "upload it again (or point to the cache that holds it).")
        out.append(m)
    return out


def center_is_cached(ref: CenterRef, cache: DiskCache) -> bool:
    return cache.path("center", ref.key).exists()


def center(ref: CenterRef, cache: DiskCache, *, fit: bool = False,
           progress: Callable[[float, str], None] | None = None,
           should_stop: Callable[[], bool] | None = None, device="auto") -> Center | None:
    """The center ``ref`` names: loaded from the cache; fitted (and stored) only if ``fit``.

    Returns None when it is not cached and ``fit`` is False. A fit that was stopped returns the
    partial center with ``interrupted`` set; it is never stored.
    """
    if not fit and not center_is_cached(ref, cache):
        return None
    return center_for_minima(load_minima(ref.feet, cache), ref.spec, cache=cache,
                             progress=progress, should_stop=should_stop, device=device)


def resolve(ref: PointRef, cache: DiskCache) -> torch.Tensor:
    """The flat parameters (D,) that a point reference names (nothing is fitted here)."""
    if isinstance(ref, CenterRef):
        c = center(ref, cache)
        if c is None:
            raise ValueError(f"The center ({ref.label()}) is not in the cache: fit it first.")
        return c.theta
    return load_minima([ref], cache)[0].theta
