"""Shared input checks of the theory toolkit: seeds, weight matrices and constraints that relate
two parameters (the single-parameter ones are declared with ``validate_params`` beside each
function)."""
from __future__ import annotations

import numpy as np

from .._validation import Constraint, Real


def as_rng(seed) -> np.random.Generator:
    """A numpy Generator from None, an int or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"The 'seed' parameter must be None, an int or a numpy Generator. Got {seed!r} "
                    "instead.")


class OpenUnit(Constraint):
    """A real in the open interval (0, 1), or None: the dead-neuron probability r of SP(M, r)."""

    def check(self, value, name, caller):
        if value is None:
            return None
        value = Real(0.0, 1.0, lo_open=True).check(value, name, caller)
        if value >= 1.0:
            raise ValueError(f"The '{name}' parameter of {caller} must be in the open interval (0, 1). "
                             f"Got {value!r} instead.")
        return value


SPARSITY = OpenUnit()


def at_least(value, lo: int, name: str, caller: str, what: str):
    """``value`` if it is an int >= ``lo`` (a bound set by another parameter, named by ``what``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"The '{name}' parameter of {caller} must be an int. Got {value!r} instead.")
    if value < lo:
        raise ValueError(f"The '{name}' parameter of {caller} must be an int in the range [{lo}, inf] "
                         f"(at least {what}). Got {value!r} instead.")
    return int(value)


def weights(W, M: int, caller: str, name: str = "W") -> np.ndarray:
    """W as a finite float64 (m, d) array with d >= M, or a ValueError saying what was expected."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] < M or W.shape[0] < 1:
        raise ValueError(f"The '{name}' parameter of {caller} must be a 2-D array of shape (m, d) with "
                         f"m >= 1 and d >= M={M}. Got shape {W.shape} instead.")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"The '{name}' parameter of {caller} must be finite. Got NaN or inf entries.")
    return W


def feet_list(feet, M: int, caller: str) -> list[np.ndarray]:
    """A non-empty list of (m, d) weight matrices of one shape."""
    if isinstance(feet, np.ndarray) and feet.ndim == 2:
        feet = [feet]
    feet = [weights(f, M, caller, name=f"feet[{i}]") for i, f in enumerate(feet)]
    if not feet or any(f.shape != feet[0].shape for f in feet):
        raise ValueError(f"The 'feet' parameter of {caller} must be a non-empty list of arrays with one "
                         f"shape (m, d). Got shapes {[f.shape for f in feet]} instead.")
    return feet


def pair(W1, W2, M: int, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """Two weight matrices of one shape."""
    W1, W2 = weights(W1, M, caller, "W1"), weights(W2, M, caller, "W2")
    if W1.shape != W2.shape:
        raise ValueError(f"The 'W2' parameter of {caller} must have the shape of W1, {W1.shape}. Got "
                         f"shape {W2.shape} instead.")
    return W1, W2
