"""Boundary validation with one message shape for every parameter.

Messages follow the form "The 'name' parameter of caller must be ... Got ... instead."
so that users see what was expected, what arrived and, where useful, what to do next.
"""
from __future__ import annotations

import math
from typing import Any, Iterable


def _fail(name: str, caller: str, expected: str, value: Any, hint: str = "", exc=ValueError):
    msg = f"The '{name}' parameter of {caller} must be {expected}. Got {value!r} instead."
    if hint:
        msg += f" {hint}"
    raise exc(msg)


def check_int(value: Any, name: str, caller: str, *, lo: int | None = None, hi: int | None = None,
              allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an int inside [lo, hi]; raise TypeError/ValueError otherwise."""
    if value is None and allow_none:
        return None
    rng = f" in the range [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    expected = f"an int{rng}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        _fail(name, caller, expected, value, exc=TypeError)
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(name, caller, expected, value)
    return value


def _is_integral(value: Any) -> bool:
    try:
        import numpy as np
        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover
        return False


def check_float(value: Any, name: str, caller: str, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, allow_none: bool = False) -> float | None:
    """Return ``float(value)`` if it is a finite real inside the interval; raise otherwise."""
    if value is None and allow_none:
        return None
    left = "(" if lo_open else "["
    expected = (f"a finite float in the range {left}{'-inf' if lo is None else lo}, "
                f"{'inf' if hi is None else hi}]" + (" or None" if allow_none else ""))
    if isinstance(value, bool):
        _fail(name, caller, expected, value, exc=TypeError)
    try:
        f = float(value)
    except (TypeError, ValueError):
        _fail(name, caller, expected, value, exc=TypeError)
    if not math.isfinite(f):
        _fail(name, caller, expected, value)
    if lo is not None and (f < lo or (lo_open and f == lo)):
        _fail(name, caller, expected, value)
    if hi is not None and f > hi:
        _fail(name, caller, expected, value)
    return f


def check_options(value: Any, name: str, caller: str, options: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``options``."""
    options = tuple(options)
    if value not in options:
        _fail(name, caller, "one of " + ", ".join(repr(o) for o in options), value)
    return value


def check_shape(tensor: Any, name: str, caller: str, expected: tuple, hint: str = "") -> None:
    """Check a tensor/array shape; ``None`` entries in ``expected`` match any size."""
    shape = tuple(getattr(tensor, "shape", ()))
    ok = len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    if not ok:
        pretty = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        _fail(name, caller, f"of shape {pretty}", shape, hint=hint)
