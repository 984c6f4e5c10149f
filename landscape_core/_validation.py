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


# ------------------------------------------------------------------ declared constraints
# Constraints are declared once beside a function or a spec, never re-typed in its body:
#
#     @validate_params(n_points=Int(2, 10_000), split=Options("train", "test"))
#     def path(..., n_points=21, split="train"): ...
#
#     @validated_spec(width=Int(1, 1_000_000), lr=Real(0.0, 100.0, lo_open=True))  # checked, not cast
#     @dataclass(frozen=True)
#     class Spec: ...
#
# The caller's name in messages comes from the function or class itself.
class Constraint:
    """A declared constraint on one parameter; ``check`` returns the (possibly cast) value."""

    def check(self, value: Any, name: str, caller: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Int(Constraint):
    """An int in [lo, hi] (either bound may be None), optionally None."""

    def __init__(self, lo: int | None = None, hi: int | None = None, *, none: bool = False):
        self.lo, self.hi, self.none = lo, hi, none

    def check(self, value, name, caller):
        return check_int(value, name, caller, lo=self.lo, hi=self.hi, allow_none=self.none)


class Real(Constraint):
    """A finite real in [lo, hi] (or (lo, hi] with ``lo_open``), optionally None."""

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 none: bool = False):
        self.lo, self.hi, self.lo_open, self.none = lo, hi, lo_open, none

    def check(self, value, name, caller):
        return check_float(value, name, caller, lo=self.lo, hi=self.hi, lo_open=self.lo_open,
                           allow_none=self.none)


class Options(Constraint):
    """One of the given values."""

    def __init__(self, *options):
        self.options = tuple(options[0]) if len(options) == 1 and not isinstance(
            options[0], (str, int, float, bool, type(None))) else tuple(options)

    def check(self, value, name, caller):
        return check_options(value, name, caller, self.options)


def validate_params(**constraints: Constraint):
    """Decorator: check the named arguments of every call against their declared constraints.

    Values keep their type as passed (casts are not written back), so a function sees exactly
    what its caller gave, after the checks passed.
    """
    import functools
    import inspect

    def wrap(fn):
        sig = inspect.signature(fn)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate_params on {fn.__qualname__}: no parameter named "
                            f"{', '.join(sorted(unknown))}")
        caller = fn.__qualname__

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            for pname, con in constraints.items():
                con.check(bound.arguments[pname], pname, caller)
            return fn(*args, **kwargs)

        checked.__constraints__ = dict(constraints)
        return checked
    return wrap


def validated_spec(**constraints: Constraint):
    """Class decorator for frozen dataclasses (apply it above ``@dataclass``): check the declared
    fields right after ``__init__`` assigned them, before ``__post_init__`` runs. Values are kept
    as given (not cast), so a spec's canonical JSON, and so its cache key, is what the caller wrote."""
    import functools

    def wrap(cls):
        unknown = set(constraints) - set(getattr(cls, "__dataclass_fields__", {}))
        if unknown:
            raise TypeError(f"validated_spec on {cls.__name__}: no field named "
                            f"{', '.join(sorted(unknown))}")
        own_post = getattr(cls, "__post_init__", None)

        def __post_init__(self):
            for fname, con in constraints.items():
                con.check(getattr(self, fname), fname, cls.__name__)
            if own_post is not None:
                own_post(self)

        cls.__post_init__ = __post_init__
        if own_post is None:                      # dataclass's __init__ only calls a hook it saw
            init = cls.__init__

            @functools.wraps(init)
            def __init__(self, *args, **kwargs):
                init(self, *args, **kwargs)
                self.__post_init__()
            cls.__init__ = __init__
        cls.__constraints__ = dict(constraints)
        return cls
    return wrap
