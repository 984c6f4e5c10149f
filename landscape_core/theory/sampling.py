"""Random global minima of the two-layer ReLU student: Unif(M) (Theorems 8, 10, 12) and SP(M, r)
(Definition 13)."""
from __future__ import annotations

import numpy as np

from .._validation import Int, validate_params
from ._checks import SPARSITY, as_rng, at_least


def sample_types(rng: np.random.Generator, m: int, M: int, sparsity: float | None) -> np.ndarray:
    """I.i.d. neuron types conditioned on every j in 1..M appearing (rejection in growing batches)."""
    probs = np.full(M + 1, 1.0 / (M + 1)) if sparsity is None else \
        np.concatenate([[sparsity], np.full(M, (1.0 - sparsity) / M)])
    cdf = np.cumsum(probs)[:-1]
    for batch in range(1, 100_000):
        types = np.searchsorted(cdf, rng.random((min(2 ** batch, 256), m)), side="right")
        covered = np.all([np.any(types == j, axis=1) for j in range(1, M + 1)], axis=0)
        if covered.any():
            return types[np.argmax(covered)]
    raise RuntimeError(f"sample_minimum: no type pattern covering all {M} teacher directions was drawn "
                       f"with m={m}; use a larger m.")


@validate_params(m=Int(1), M=Int(1), d=Int(1, none=True), sparsity=SPARSITY)
def sample_minimum(m: int, M: int, d: int | None = None, *, seed=None,
                   sparsity: float | None = None) -> np.ndarray:
    """Random global minimum (Theorem 6): "Unif(M)" of Theorems 8, 10, 12 or SP(M, r) of Definition 13.

    Types are i.i.d. per neuron, uniform on {0..M} (or 0 with probability r and each j with
    probability (1 - r)/M when ``sparsity=r``), redrawn until every j >= 1 appears; the j-th entries
    of the type-j neurons are a flat Dirichlet draw. The magnitude law is the spec's proposal: the
    paper does not state one.

    Parameters
    ----------
    m, M : int
        Student and teacher widths, m >= M.
    d : int, optional
        Input dimension, d >= M (default M).
    seed : None, int or numpy.random.Generator
    sparsity : float in (0, 1), optional

    Returns
    -------
    ndarray, shape (m, d)
    """
    at_least(m, M, "m", "sample_minimum", "the teacher width M")
    d = M if d is None else at_least(d, M, "d", "sample_minimum", "the teacher width M")
    rng = as_rng(seed)
    types = sample_types(rng, m, M, sparsity)
    W = np.zeros((m, d))
    for j in range(1, M + 1):
        rows = np.flatnonzero(types == j)
        W[rows, j - 1] = rng.dirichlet(np.ones(len(rows)))
    return W

