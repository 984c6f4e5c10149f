"""Theorem 6 and Lemma 7: the exact minima set of the two-layer ReLU student and its segments.

A student is W of shape (m, d), row i = neuron i, f(x; W) = sum_i relu(w_i . x); the teacher is
sum_{j<=M} relu(x_j), M <= d; x is uniform on S^{d-1} (Assumption 5). A neuron's *type* is 0 (zero
row), j in 1..M (positive multiple of e_j) or -1 (anything else).
"""
from __future__ import annotations

import numpy as np

from .._validation import Int, Real, validate_params
from ._checks import pair, weights


@validate_params(M=Int(1))
def population_risk(W, M: int) -> float:
    """Exact population risk R(W) of Assumption 5 (zero exactly on the minima set of Theorem 6).

    R(W) = E_x[(sum_i relu(w_i.x) - sum_{j<=M} relu(x_j))^2], x uniform on S^{d-1}. For a standard
    Gaussian g, E[relu(a.g) relu(b.g)] = |a||b| (sin th + (pi - th) cos th) / (2 pi) (arc-cosine
    kernel); relu is positively homogeneous and E|g|^2 = d, so the sphere value is that divided by d.

    Parameters
    ----------
    W : array_like, shape (m, d), d >= M
    M : int

    Returns
    -------
    float
        R(W) >= 0 (round-off below zero is clipped).
    """
    W = weights(W, M, "population_risk")
    d = W.shape[1]
    V = np.vstack([W, np.eye(d)[:M]])
    sign = np.concatenate([np.ones(len(W)), -np.ones(M)])
    norms = np.linalg.norm(V, axis=1)
    outer = np.outer(norms, norms)
    cos = np.where(outer > 0, (V @ V.T) / np.where(outer > 0, outer, 1.0), 1.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    kernel = outer * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return max(float(sign @ kernel @ sign) / d, 0.0)


@validate_params(M=Int(1), atol=Real(0.0))
def neuron_types(W, M: int, atol: float = 1e-9) -> np.ndarray:
    """Type of each neuron in the partition S = S_0 u ... u S_M of Theorem 6.

    Parameters
    ----------
    W : array_like, shape (m, d)
    M : int
    atol : float
        Entries with absolute value <= atol count as zero.

    Returns
    -------
    ndarray of int, shape (m,)
        0 (zero row), j in 1..M (only entry above atol is a positive j-th one), else -1. Negative
        multiples of e_j get -1: the proof of Theorem 6 shows the entries of a minimum are >= 0.
    """
    W = weights(W, M, "neuron_types")
    big = np.abs(W) > atol
    count, col = big.sum(axis=1), np.argmax(big, axis=1)
    single = (count == 1) & (col < M) & (W[np.arange(len(W)), col] > 0)
    return np.where(count == 0, 0, np.where(single, col + 1, -1)).astype(int)


@validate_params(M=Int(1), atol=Real(0.0))
def is_global_minimum(W, M: int, atol: float = 1e-8) -> bool:
    """Theorem 6 membership (equivalent to population_risk(W, M) == 0).

    Parameters
    ----------
    W : array_like, shape (m, d)
    M : int
    atol : float
        Zero tolerance of neuron_types; atol * m is the tolerance of the column sums.

    Returns
    -------
    bool
        True iff every type is >= 0 and the type-j rows' j-th entries sum to 1 for each j <= M.
    """
    types = neuron_types(W, M, atol=atol)
    if np.any(types < 0):
        return False
    W = np.asarray(W, dtype=np.float64)
    sums = np.array([W[types == j + 1, j].sum() for j in range(M)])
    return bool(np.all(np.abs(sums - 1.0) <= atol * max(1, len(W))))


@validate_params(M=Int(1), atol=Real(0.0))
def linearly_connected(W1, W2, M: int, atol: float = 1e-8) -> bool:
    """Lemma 7 test of W1 <-> W2: per neuron, one of the two rows is zero or both have the same type.

    Parameters
    ----------
    W1, W2 : array_like, shape (m, d)
    M : int
    atol : float
        Tolerance of is_global_minimum / neuron_types.

    Returns
    -------
    bool
        Whether the whole segment lies in the minima set (False if W1 or W2 is not a minimum).
    """
    W1, W2 = pair(W1, W2, M, "linearly_connected")
    if not (is_global_minimum(W1, M, atol) and is_global_minimum(W2, M, atol)):
        return False
    t1, t2 = neuron_types(W1, M, atol), neuron_types(W2, M, atol)
    return bool(np.all((t1 == 0) | (t2 == 0) | (t1 == t2)))



def require_minima(feet: list[np.ndarray], M: int, caller: str) -> None:
    """Raise a ValueError naming ``caller`` unless every foot is a global minimum (Theorem 6)."""
    if not all(is_global_minimum(f, M) for f in feet):
        raise ValueError(f"The minima passed to {caller} must be global minima (Theorem 6). Got a "
                         "non-minimum; check them with is_global_minimum.")
