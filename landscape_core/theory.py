"""Exact theory of the paper's toy models: two-layer ReLU students (Section 3), deep linear nets (Section 4).

Teacher-student (Assumption 5): a student is W of shape (m, d), row i = neuron i, f(x; W) =
sum_i relu(w_i . x); the teacher is sum_{j<=M} relu(x_j), M <= d; x is uniform on S^{d-1}. A neuron's
*type* is 0 (zero row), j in 1..M (positive multiple of e_j) or -1 (anything else). Theorem 6: W is a
global minimum iff no type is -1 and, for each j, the type-j neurons' j-th entries sum to 1.

Deep linear nets (Assumption 15): a network is [A_1 (m, d), A_2 (m, m), ..., A_L (1, m)],
f(x) = A_L ... A_1 x; for y = Q x the minima are the networks whose product equals Q.

Everything is numpy float64; no torch. Reference: Lin, Li, Wu, arXiv 2404.06391.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_float, check_int

logger = logging.getLogger(__name__)

__all__ = [
    "population_risk", "neuron_types", "is_global_minimum", "linearly_connected", "sample_minimum",
    "center_exists", "construct_center", "bound_two_piece", "bound_star", "monte_carlo_connectivity",
    "merge_path", "extended_star", "TwoPieceBound", "best_two_piece_ngd", "neuron_norms",
    "network_product", "sample_linear_minimum", "linear_net_center", "lemma17_feet",
    "linear_segment_risk", "integrated_segment_risk",
]


# ----------------------------------------------------------------------------------------- helpers
def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"The 'seed' parameter must be None, an int or a numpy Generator. Got {seed!r} "
                    "instead.")


def _weights(W, M: int, caller: str, name: str = "W") -> np.ndarray:
    """W as a finite float64 (m, d) array with d >= M, or a ValueError saying what was expected."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] < M or W.shape[0] < 1:
        raise ValueError(f"The '{name}' parameter of {caller} must be a 2-D array of shape (m, d) with "
                         f"m >= 1 and d >= M={M}. Got shape {W.shape} instead.")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"The '{name}' parameter of {caller} must be finite. Got NaN or inf entries.")
    return W


def _feet(feet, M: int, caller: str) -> list[np.ndarray]:
    if isinstance(feet, np.ndarray) and feet.ndim == 2:
        feet = [feet]
    feet = [_weights(f, M, caller, name=f"feet[{i}]") for i, f in enumerate(feet)]
    if not feet or any(f.shape != feet[0].shape for f in feet):
        raise ValueError(f"The 'feet' parameter of {caller} must be a non-empty list of arrays with one "
                         f"shape (m, d). Got shapes {[f.shape for f in feet]} instead.")
    return feet


def _pair(W1, W2, M: int, caller: str) -> tuple[np.ndarray, np.ndarray]:
    W1, W2 = _weights(W1, M, caller, "W1"), _weights(W2, M, caller, "W2")
    if W1.shape != W2.shape:
        raise ValueError(f"The 'W2' parameter of {caller} must have the shape of W1, {W1.shape}. Got "
                         f"shape {W2.shape} instead.")
    return W1, W2


def _require_minima(feet: list[np.ndarray], M: int, caller: str) -> None:
    if not all(is_global_minimum(f, M) for f in feet):
        raise ValueError(f"The minima passed to {caller} must be global minima (Theorem 6). Got a "
                         "non-minimum; check them with is_global_minimum.")


# ------------------------------------------------------------------------ Theorem 6 and Lemma 7
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
    M = check_int(M, "M", "population_risk", lo=1)
    W = _weights(W, M, "population_risk")
    d = W.shape[1]
    V = np.vstack([W, np.eye(d)[:M]])
    sign = np.concatenate([np.ones(len(W)), -np.ones(M)])
    norms = np.linalg.norm(V, axis=1)
    outer = np.outer(norms, norms)
    cos = np.where(outer > 0, (V @ V.T) / np.where(outer > 0, outer, 1.0), 1.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    kernel = outer * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return max(float(sign @ kernel @ sign) / d, 0.0)


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
    M = check_int(M, "M", "neuron_types", lo=1)
    atol = check_float(atol, "atol", "neuron_types", lo=0.0)
    W = _weights(W, M, "neuron_types")
    big = np.abs(W) > atol
    count, col = big.sum(axis=1), np.argmax(big, axis=1)
    single = (count == 1) & (col < M) & (W[np.arange(len(W)), col] > 0)
    return np.where(count == 0, 0, np.where(single, col + 1, -1)).astype(int)


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
    M = check_int(M, "M", "is_global_minimum", lo=1)
    types = neuron_types(W, M, atol=atol)
    if np.any(types < 0):
        return False
    W = np.asarray(W, dtype=np.float64)
    sums = np.array([W[types == j + 1, j].sum() for j in range(M)])
    return bool(np.all(np.abs(sums - 1.0) <= atol * max(1, len(W))))


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
    M = check_int(M, "M", "linearly_connected", lo=1)
    W1, W2 = _pair(W1, W2, M, "linearly_connected")
    if not (is_global_minimum(W1, M, atol) and is_global_minimum(W2, M, atol)):
        return False
    t1, t2 = neuron_types(W1, M, atol), neuron_types(W2, M, atol)
    return bool(np.all((t1 == 0) | (t2 == 0) | (t1 == t2)))


# ------------------------------------------------------------------------------------ sampling
def _check_sparsity(r, caller: str) -> float | None:
    if r is not None and check_float(r, "sparsity", caller, lo=0.0, hi=1.0, lo_open=True) >= 1.0:
        raise ValueError(f"The 'sparsity' parameter of {caller} must be in the open interval (0, 1). Got "
                         f"{r!r} instead.")
    return None if r is None else float(r)


def _sample_types(rng: np.random.Generator, m: int, M: int, sparsity: float | None) -> np.ndarray:
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
    M = check_int(M, "M", "sample_minimum", lo=1)
    m = check_int(m, "m", "sample_minimum", lo=M)
    d = M if d is None else check_int(d, "d", "sample_minimum", lo=M)
    sparsity = _check_sparsity(sparsity, "sample_minimum")
    rng = _rng(seed)
    types = _sample_types(rng, m, M, sparsity)
    W = np.zeros((m, d))
    for j in range(1, M + 1):
        rows = np.flatnonzero(types == j)
        W[rows, j - 1] = rng.dirichlet(np.ones(len(rows)))
    return W


# ------------------------------------------------------------------------------- star centers
def _pure_rows(types: np.ndarray, j: int) -> np.ndarray:
    """Rows whose type is 0 or j in every foot and j in at least one (types has shape (k, m))."""
    return np.flatnonzero(np.all((types == 0) | (types == j), axis=0) & np.any(types == j, axis=0))


def _center_plan(types: np.ndarray, M: int) -> list[np.ndarray] | None:
    """Rows carrying each column of a center of feet with these types, or None if there is no center.

    By Lemma 7 column j may sit on a row only if the row's type is 0 or j in every foot: the pure rows
    of j, or rows dead in every foot, which can serve any one column. A center exists iff the columns
    without pure rows can get distinct all-dead rows (a matching, not just one candidate per column).
    """
    free = list(np.flatnonzero(np.all(types == 0, axis=0)))
    plan = []
    for j in range(1, M + 1):
        pure = _pure_rows(types, j)
        if len(pure) == 0:
            if not free:
                return None
            pure = np.array([free.pop(0)])
        plan.append(pure)
    return plan


def _types_of_minima(feet: list[np.ndarray], M: int) -> np.ndarray | None:
    if not all(is_global_minimum(f, M) for f in feet):
        return None
    return np.stack([neuron_types(f, M) for f in feet])


def center_exists(feet, M: int) -> bool:
    """Exact test for star-shaped linear connectivity (Definition 3), derived from Lemma 7.

    For two feet this is 2-PL connectivity, whose probability Theorem 8 bounds (Theorem 10 for k).
    Unlike a per-column check, one row dead in every foot is not allowed to serve two columns.

    Parameters
    ----------
    feet : sequence of array_like, each of shape (m, d)
    M : int

    Returns
    -------
    bool
        Whether some minimum is linearly connected to every foot (False if a foot is no minimum).
    """
    M = check_int(M, "M", "center_exists", lo=1)
    types = _types_of_minima(_feet(feet, M, "center_exists"), M)
    return types is not None and _center_plan(types, M) is not None


def construct_center(feet, M: int) -> np.ndarray | None:
    """A center linearly connected to every foot (Definition 3, Lemma 7), or None if none exists.

    Column j's unit mass is split equally over its pure rows (type 0 or j in every foot, j in one),
    or put on one row dead in every foot when there are none.

    Parameters
    ----------
    feet : sequence of array_like, each of shape (m, d)
    M : int

    Returns
    -------
    ndarray of shape (m, d), or None
    """
    M = check_int(M, "M", "construct_center", lo=1)
    feet = _feet(feet, M, "construct_center")
    types = _types_of_minima(feet, M)
    plan = None if types is None else _center_plan(types, M)
    if plan is None:
        return None
    center = np.zeros_like(feet[0])
    for j, rows in enumerate(plan):
        center[rows, j] = 1.0 / len(rows)
    return center


# --------------------------------------------------------------------- Theorems 8 and 10, Monte Carlo
def bound_star(m: int, M: int, k: int) -> float:
    """Theorem 10: P(k i.i.d. uniform minima have a linearly connected center) >= this value.

    Parameters
    ----------
    m, M, k : int
        Student width, teacher width, number of feet.

    Returns
    -------
    float
        1 - M((M^k - 1)/M^k)^(m - kM), clipped to [0, 1].
    """
    M = check_int(M, "M", "bound_star", lo=1)
    m = check_int(m, "m", "bound_star", lo=1)
    k = check_int(k, "k", "bound_star", lo=1)
    if m - k * M <= 0:  # the base is <= 1, so M * base**exponent >= M >= 1
        return 0.0
    base = (float(M) ** k - 1.0) / float(M) ** k
    return float(min(1.0, max(0.0, 1.0 - M * base ** (m - k * M))))


def bound_two_piece(m: int, M: int) -> float:
    """Theorem 8: P(two i.i.d. uniform minima are 2-PL connected) >= this value.

    Parameters
    ----------
    m, M : int

    Returns
    -------
    float
        1 - M((M^2 - 1)/M^2)^(m - 2M), clipped to [0, 1] (= bound_star(m, M, 2)).
    """
    check_int(m, "m", "bound_two_piece", lo=1)
    check_int(M, "M", "bound_two_piece", lo=1)
    return bound_star(m, M, 2)


def monte_carlo_connectivity(m: int, M: int, k: int, trials: int, seed=None, *,
                             sparsity: float | None = None) -> float:
    """Monte-Carlo frequency of center_exists for k i.i.d. minima, the quantity of Theorems 8 and 10.

    Feet follow sample_minimum; center_exists depends only on the types, so only types are drawn.

    Parameters
    ----------
    m, M, k, trials : int
    seed : None, int or numpy.random.Generator
    sparsity : float in (0, 1), optional
        Draw SP(M, r) feet instead of uniform ones.

    Returns
    -------
    float
        Fraction of trials whose k feet have a linearly connected center.
    """
    M = check_int(M, "M", "monte_carlo_connectivity", lo=1)
    m = check_int(m, "m", "monte_carlo_connectivity", lo=M)
    k = check_int(k, "k", "monte_carlo_connectivity", lo=1)
    trials = check_int(trials, "trials", "monte_carlo_connectivity", lo=1)
    sparsity = _check_sparsity(sparsity, "monte_carlo_connectivity")
    rng = _rng(seed)
    hits = sum(_center_plan(np.stack([_sample_types(rng, m, M, sparsity) for _ in range(k)]), M)
               is not None for _ in range(trials))
    return hits / trials


# ------------------------------------------------------------------- Theorems 9 and 11 (constructive)
def _merged(rows, shape: tuple[int, int]) -> np.ndarray:
    """The "merged" minimum whose row rows[j] is e_{j+1}, all other rows zero."""
    B = np.zeros(shape)
    B[list(rows), np.arange(len(rows))] = 1.0
    return B


def _bad_and_free(P: list, Q: list, m: int) -> tuple[list, list]:
    """Columns j for which neither p_j nor q_j is usable by a common neighbour; rows used by neither."""
    sp, sq = set(P), set(Q)
    bad = [j for j in range(len(P)) if P[j] != Q[j] and P[j] in sq and Q[j] in sp]
    return bad, [i for i in range(m) if i not in sp and i not in sq]


def _repair(P: list, Q: list, t1: np.ndarray, t2: np.ndarray) -> None:
    """One in-place move after which merged P and Q have a common neighbour (needed only if m = 2M - 1).

    On failure the s shared rows are exactly {p_l} = {q_l} over the bad columns l in L, matched by a
    derangement, and s - 1 rows are free. (R1) Re-seat some p_l on another row W1 allows for l: if it
    was free, bad and free both drop by at most (2, 1); if it was some q_c (c not in L), bad drops by
    one and free stays. (R2) The same for Q. (R3) Otherwise a free row f has W1-type a and W2-type b,
    both outside L and nonzero; seat p_a and q_b on f: one more shared row, no new bad column.
    """
    bad, free = _bad_and_free(P, Q, len(t1))
    for reps, types in ((P, t1), (Q, t2)):
        for l in bad:
            spare = [i for i in np.flatnonzero((types == 0) | (types == l + 1)) if i not in reps]
            if spare:
                reps[l] = int(spare[0])
                return
    f = free[0]
    P[t1[f] - 1], Q[t2[f] - 1] = f, f


def merge_path(W1, W2, M: int) -> list[np.ndarray]:
    """Theorem 9: a 4-piece linear path W1 <-> b1 <-> b2 <-> b3 <-> W2 through minima, for m >= 2M - 1.

    b1 (b3) is a merged minimum, row p_j (q_j) = e_j with p_j of W1-type j or 0 (q_j of W2-type j or
    0), so W1 <-> b1 <-> ... by Lemma 7. The common neighbour b2 is merged as well: column j sits on
    p_j or q_j unless that row carries another column in the other merged point, else on a row used
    by neither. This works iff #bad columns <= #free rows; s shared rows give at most s bad columns
    and m - 2M + s >= s - 1 free rows, so only m = 2M - 1 can fail, and one ``_repair`` move fixes it.

    Parameters
    ----------
    W1, W2 : array_like, shape (m, d)
        Global minima.
    M : int

    Returns
    -------
    list of ndarray
        [W1, b1, b2, b3, W2]; consecutive entries are linearly connected minima.

    Raises
    ------
    ValueError
        If m < 2M - 1, or W1 or W2 is not a global minimum.
    """
    M = check_int(M, "M", "merge_path", lo=1)
    W1, W2 = _pair(W1, W2, M, "merge_path")
    m = W1.shape[0]
    if m < 2 * M - 1:
        raise ValueError(f"merge_path needs m >= 2M - 1 (Theorem 9). Got m={m}, M={M}; widen the student, "
                         "or use construct_center for a 2-piece path when one exists.")
    _require_minima([W1, W2], M, "merge_path")
    t1, t2 = neuron_types(W1, M), neuron_types(W2, M)
    P = [int(min(np.flatnonzero(t1 == j), key=lambda i: t2[i] not in (0, j))) for j in range(1, M + 1)]
    Q = [int(min(np.flatnonzero(t2 == j), key=lambda i: (i != P[j - 1], i in P))) for j in range(1, M + 1)]
    bad, free = _bad_and_free(P, Q, m)
    if len(bad) > len(free):
        logger.debug("merge_path: repairing merged rows P=%s Q=%s (bad columns %s)", P, Q, bad)
        _repair(P, Q, t1, t2)
        bad, free = _bad_and_free(P, Q, m)
        if len(bad) > len(free):  # pragma: no cover - excluded by the argument in _repair
            raise RuntimeError(f"merge_path: internal error, no common neighbour for P={P}, Q={Q}.")
    sp, sq = set(P), set(Q)
    R = [P[j] if P[j] == Q[j] or P[j] not in sq else Q[j] if Q[j] not in sp else free.pop()
         for j in range(M)]
    return [W1.copy(), _merged(P, W1.shape), _merged(R, W1.shape), _merged(Q, W1.shape), W2.copy()]


def extended_star(feet, M: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Theorem 11: for m >= kM, a center 2-PL connected to each of k minima.

    legs[i] merges foot i onto its first type-j row per column (foot_i <-> legs[i], Lemma 7). The legs
    have a center: a column without a pure row maps injectively to a row of legs[0] that another leg
    uses for another column; there are at most kM - |U| such rows (U = rows used by any leg) and
    m - |U| >= kM - |U| rows unused by every leg to carry those columns.

    Parameters
    ----------
    feet : sequence of array_like, each of shape (m, d)
        k global minima.
    M : int

    Returns
    -------
    center : ndarray, shape (m, d)
    legs : list of ndarray
        foot_i <-> legs[i] <-> center for every i.

    Raises
    ------
    ValueError
        If m < kM or some foot is not a global minimum.
    """
    M = check_int(M, "M", "extended_star", lo=1)
    feet = _feet(feet, M, "extended_star")
    m, k = feet[0].shape[0], len(feet)
    if m < k * M:
        raise ValueError(f"extended_star needs m >= k*M (Theorem 11). Got m={m}, k={k}, M={M}.")
    _require_minima(feet, M, "extended_star")
    legs = []
    for foot in feet:
        types = neuron_types(foot, M)
        legs.append(_merged([int(np.flatnonzero(types == j)[0]) for j in range(1, M + 1)], foot.shape))
    return construct_center(legs, M), legs


# ------------------------------------------------------------------------------- NGD upper bounds
@dataclass(frozen=True)
class TwoPieceBound:
    """Result of best_two_piece_ngd.

    bound : U = (|W1 - c| + |c - W2|) / |W1 - W2| (Eq. 8); inf when no center exists.
    center : the center c, or None.
    exhaustive : whether every split of the all-dead rows over the columns was searched.
    sum_sq : |W1 - c|^2 + |W2 - c|^2, which c minimises for its split.
    """
    bound: float
    center: np.ndarray | None
    exhaustive: bool
    sum_sq: float


def _project_simplex(y: np.ndarray) -> np.ndarray:
    """Euclidean projection of y onto {x >= 0, sum x = 1}."""
    u = np.sort(y)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.flatnonzero(u - css / np.arange(1, len(u) + 1) > 0)[-1]
    return np.maximum(y - css[rho] / (rho + 1), 0.0)


def _column_costs(v: np.ndarray, n_max: int) -> tuple[np.ndarray, list]:
    """For n = 0..n_max extra zero-target rows: min over the simplex of sum 2(c - v)^2 - 2v^2, and c."""
    costs, sols = np.full(n_max + 1, np.inf), []
    for n in range(n_max + 1):
        y = np.concatenate([v, np.zeros(n)])
        c = _project_simplex(y) if len(y) else None
        if c is not None:
            costs[n] = 2 * np.sum((c - y) ** 2) - 2 * np.sum(y ** 2)
        sols.append(c)
    return costs, sols


def _allocate(costs: list[np.ndarray], n_free: int) -> list[int]:
    """Split of n_free interchangeable rows over the columns minimising sum_j costs[j][n_j] (exact DP)."""
    best, choice = np.zeros(n_free + 1), []
    for cost in costs:
        total = np.full((n_free + 1, n_free + 1), np.inf)  # total[f, n]: f rows used, n of them here
        for n in range(n_free + 1):
            total[n:, n] = best[: n_free + 1 - n] + cost[n]
        choice.append(np.argmin(total, axis=1))
        best = total.min(axis=1)
    f, counts = int(np.argmin(best)), []
    for ch in reversed(choice):
        counts.append(int(ch[f]))
        f -= counts[-1]
    return counts[::-1]


def best_two_piece_ngd(W1, W2, M: int, *, method: str = "exact") -> TwoPieceBound:
    """Best 2-piece upper bound on NGD (Definition 4, Eq. 8) through a center connected to both minima.

    Column j of the center may use j's pure rows and rows dead in both minima, each of which serves
    one column (Lemma 7). For a fixed split of the dead rows, minimising |c - W1|^2 + |c - W2|^2 is a
    projection of each column of (W1 + W2)/2 onto a simplex over its rows (the quantity of the paper's
    Lemmas 19/21). The dead rows are interchangeable, so ``method="exact"`` finds the best split by a
    dynamic programme over their counts; ``"greedy"`` gives one to each column without pure rows. U is
    evaluated at that center, which minimises the squared sum, not U: it is an upper bound on both
    the best 2-piece value and NGD.

    Parameters
    ----------
    W1, W2 : array_like, shape (m, d)
    M : int
    method : {"exact", "greedy"}

    Returns
    -------
    TwoPieceBound
        bound = inf and center = None without a center (or if an input is no minimum); 1 if W1 == W2.
    """
    M = check_int(M, "M", "best_two_piece_ngd", lo=1)
    if method not in ("exact", "greedy"):
        raise ValueError(f"The 'method' parameter of best_two_piece_ngd must be 'exact' or 'greedy'. Got "
                         f"{method!r} instead.")
    W1, W2 = _pair(W1, W2, M, "best_two_piece_ngd")
    types = _types_of_minima([W1, W2], M)
    if types is None or _center_plan(types, M) is None:
        return TwoPieceBound(math.inf, None, True, math.inf)
    free = list(np.flatnonzero(np.all(types == 0, axis=0)))
    pure = [_pure_rows(types, j) for j in range(1, M + 1)]
    mid = (W1 + W2) / 2
    tables = [_column_costs(mid[rows, j], len(free) if method == "exact" else 1)
              for j, rows in enumerate(pure)]
    counts = _allocate([t[0] for t in tables], len(free)) if method == "exact" else \
        [0 if len(rows) else 1 for rows in pure]
    center = np.zeros_like(W1)
    for j, (rows, n) in enumerate(zip(pure, counts)):
        extra, free = free[:n], free[n:]
        center[np.concatenate([rows, extra]).astype(int), j] = tables[j][1][n]
    a, b, dist = np.linalg.norm(W1 - center), np.linalg.norm(W2 - center), np.linalg.norm(W1 - W2)
    bound = 1.0 if dist == 0 else float((a + b) / dist)
    return TwoPieceBound(bound, center, method == "exact", float(a ** 2 + b ** 2))


def neuron_norms(W) -> np.ndarray:
    """Neuron (row) L2 norms in descending order: the sparsity plot of Figure 3 (right).

    Parameters
    ----------
    W : array_like, shape (m, d)

    Returns
    -------
    ndarray, shape (m,)
    """
    return np.sort(np.linalg.norm(_weights(W, 1, "neuron_norms"), axis=1))[::-1]


# ------------------------------------------------------------------------ deep linear nets (Section 4)
def _layers(theta, caller: str, name: str = "theta") -> list[np.ndarray]:
    A = [np.asarray(a, dtype=np.float64) for a in theta]
    ok = len(A) >= 2 and all(a.ndim == 2 for a in A) and A[-1].shape == (1, A[0].shape[0])
    ok = ok and all(a.shape == (A[0].shape[0],) * 2 for a in A[1:-1]) and all(np.isfinite(a).all() for a in A)
    if not ok:
        raise ValueError(f"The '{name}' parameter of {caller} must be a list of L >= 2 finite matrices of "
                         f"shapes (m, d), (m, m), ..., (1, m). Got shapes {[a.shape for a in A]} instead.")
    return A


def _row(Q, caller: str) -> np.ndarray:
    Q = np.asarray(Q, dtype=np.float64)
    Q = Q[None, :] if Q.ndim == 1 else Q
    if Q.ndim != 2 or Q.shape[0] != 1:
        raise ValueError(f"The 'Q' parameter of {caller} must have shape (d,) or (1, d). Got shape "
                         f"{Q.shape} instead.")
    return Q


def network_product(theta) -> np.ndarray:
    """End-to-end matrix A_L ... A_1 of a deep linear net (Section 4: a minimum iff it equals Q).

    Parameters
    ----------
    theta : sequence of array_like
        [A_1 (m, d), A_2 (m, m), ..., A_L (1, m)], L >= 2.

    Returns
    -------
    ndarray, shape (1, d)
    """
    A = _layers(theta, "network_product")
    P = A[0]
    for a in A[1:]:
        P = a @ P
    return P


def _upper_layers(rng: np.random.Generator, m: int, L: int) -> list[np.ndarray]:
    """Gaussian A_2..A_L with variance 1/m."""
    return [rng.standard_normal((m if l < L else 1, m)) / math.sqrt(m) for l in range(2, L + 1)]


def sample_linear_minimum(Q, m: int, L: int, seed=None) -> list[np.ndarray]:
    """Random global minimum of a deep linear net (Assumption 15): A_L ... A_1 = Q exactly.

    A_2..A_L are Gaussian; A_1 = B^+ Q + (I - B^+ B) Z with B = A_L ... A_2 and Gaussian Z, the
    minimal-norm solution plus a random null-space part.

    Parameters
    ----------
    Q : array_like, shape (d,) or (1, d)
    m, L : int
        Hidden width and depth, L >= 2.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    list of ndarray
        [A_1, ..., A_L].
    """
    Q = _row(Q, "sample_linear_minimum")
    m = check_int(m, "m", "sample_linear_minimum", lo=1)
    L = check_int(L, "L", "sample_linear_minimum", lo=2)
    rng = _rng(seed)
    upper = _upper_layers(rng, m, L)
    B = np.eye(m)
    for a in upper:
        B = a @ B
    Bp = B.T / (B @ B.T).item()
    return [Bp @ Q + (np.eye(m) - Bp @ B) @ rng.standard_normal((m, Q.shape[1]))] + upper


def _mixed_sums(upper: list[np.ndarray], foot: list[np.ndarray]) -> list[np.ndarray]:
    """S[c]: sum of the products of layers L..2 with c factors from the center (upper) and L-1-c from foot."""
    S = [foot[-1], upper[-1]]
    for l in range(len(foot) - 2, 0, -1):
        S = [(S[c] @ foot[l] if c < len(S) else 0) + (S[c - 1] @ upper[l - 1] if c else 0)
             for c in range(len(S) + 1)]
    return S


def linear_net_center(feet, Q, seed=None, max_tries: int = 10) -> list[np.ndarray]:
    """Theorem 18: a center linearly connected to r deep-linear minima, for m > 1 + r(L - 1).

    A*_L..A*_2 are random; A*_1 solves sigma_{i,k} = binom(L, k) Q for each foot i and k = 1..L, where
    sigma_{i,k} sums the layer-ordered products with k factors from the center and L - k from foot i.
    Then prod_l (t A*_l + (1 - t) A^i_l) = sum_k t^k (1 - t)^(L-k) sigma_{i,k} = Q for every t, since
    the Bernstein polynomials sum to one. The system has r(L - 1) + 1 distinct rows (k = L is shared
    by all feet), so m >= r(L - 1) + 1 would do for the algebra; the paper's condition is enforced.

    Parameters
    ----------
    feet : sequence of networks
        r minima [A_1, ..., A_L] with equal layer shapes.
    Q : array_like, shape (d,) or (1, d)
    seed : None, int or numpy.random.Generator
    max_tries : int
        Redraws of A*_L..A*_2 if the system is singular (a null set).

    Returns
    -------
    list of ndarray
        The center [A*_1, ..., A*_L].
    """
    Q = _row(Q, "linear_net_center")
    feet = [_layers(f, "linear_net_center", f"feet[{i}]") for i, f in enumerate(feet)]
    if not feet or any([a.shape for a in f] != [a.shape for a in feet[0]] for f in feet):
        raise ValueError("The 'feet' parameter of linear_net_center must be a non-empty list of networks "
                         "with equal layer shapes.")
    (m, d), L, r = feet[0][0].shape, len(feet[0]), len(feet)
    if d != Q.shape[1] or any(not np.allclose(network_product(f), Q, atol=1e-8) for f in feet):
        raise ValueError("The 'feet' parameter of linear_net_center must hold global minima: every "
                         "product A_L ... A_1 must equal Q (shape (1, d)).")
    if m <= 1 + r * (L - 1):
        raise ValueError(f"linear_net_center needs m > 1 + r(L - 1) (Theorem 18). Got m={m}, r={r}, "
                         f"L={L}; use fewer feet or a wider network.")
    rng = _rng(seed)
    for _ in range(check_int(max_tries, "max_tries", "linear_net_center", lo=1)):
        upper = _upper_layers(rng, m, L)
        rows, rhs = [], []
        for i, foot in enumerate(feet):
            S = _mixed_sums(upper, foot)
            for k in range(1, L if i else L + 1):
                rows.append(S[k - 1])
                rhs.append(math.comb(L, k) * Q - (S[k] @ foot[0] if k < L else 0))
        G, H = np.vstack(rows), np.vstack(rhs)
        if np.linalg.matrix_rank(G) == len(G):
            return [np.linalg.lstsq(G, H, rcond=None)[0]] + upper
        logger.debug("linear_net_center: singular system, redrawing A*_L..A*_2")
    raise RuntimeError("linear_net_center: the linear system stayed singular; the feet lie in the "
                       "measure-zero exceptional set of Theorem 18.")


def lemma17_feet() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lemma 17's minima (m = 4, d = 1, L = 2, y = x): theta1 = (e_1, e_1), theta2 = (-e_1, -e_1).

    No minimum theta = (a, b), a.b = 1, is linearly connected to both: the two integrated segment risks
    add up to (2 s^2 + 8)/30 E[x^2] with s = a_1 + b_1, so their infimum 4/15 E[x^2] is attained at
    s = 0 (e.g. a = b = e_2) and is never 0.

    Returns
    -------
    theta1, theta2 : list of ndarray
        Each [A_1 (4, 1), A_2 (1, 4)].
    """
    e1 = np.zeros((4, 1))
    e1[0, 0] = 1.0
    return [e1.copy(), e1.T.copy()], [-e1, -e1.T]


def linear_segment_risk(A_center, A_foot, Q, Sigma, t):
    """Exact risk (P - Q) Sigma (P - Q)^T = E[(f(x) - Qx)^2] at t * center + (1 - t) * foot (Assumption 15).

    Parameters
    ----------
    A_center, A_foot : sequence of array_like
        Networks with equal layer shapes; P is the product of their layerwise interpolation.
    Q : array_like, shape (d,) or (1, d)
    Sigma : array_like, shape (d, d)
        E[x x^T].
    t : float or array_like

    Returns
    -------
    float, or ndarray shaped like t
    """
    C = _layers(A_center, "linear_segment_risk", "A_center")
    F = _layers(A_foot, "linear_segment_risk", "A_foot")
    if [a.shape for a in C] != [a.shape for a in F]:
        raise ValueError("The 'A_foot' parameter of linear_segment_risk must have the layer shapes of "
                         f"A_center, {[a.shape for a in C]}. Got {[a.shape for a in F]} instead.")
    Q = _row(Q, "linear_segment_risk")
    Sigma = np.asarray(Sigma, dtype=np.float64)
    if Sigma.shape != (Q.shape[1],) * 2:
        raise ValueError(f"The 'Sigma' parameter of linear_segment_risk must have shape "
                         f"{(Q.shape[1],) * 2}. Got shape {Sigma.shape} instead.")
    ts = np.asarray(t, dtype=np.float64)
    out = np.empty(ts.size)
    for n, tn in enumerate(ts.ravel()):
        D = network_product([tn * c + (1 - tn) * f for c, f in zip(C, F)]) - Q
        out[n] = (D @ Sigma @ D.T).item()
    return float(out[0]) if ts.ndim == 0 else out.reshape(ts.shape)


def integrated_segment_risk(center, foot, Q, Sigma, n: int | None = None) -> float:
    """Integral over t in [0, 1] of linear_segment_risk, the quantity bounded in Lemma 17.

    The integrand is a polynomial of degree 2L in t, so n-point Gauss-Legendre quadrature is exact for
    n >= L + 1 (the default).

    Parameters
    ----------
    center, foot : sequence of array_like
    Q, Sigma : array_like
        As in linear_segment_risk.
    n : int, optional
        Number of quadrature nodes, >= L + 1.

    Returns
    -------
    float
    """
    L = len(center)
    n = L + 1 if n is None else check_int(n, "n", "integrated_segment_risk", lo=L + 1)
    x, w = np.polynomial.legendre.leggauss(n)
    return float(np.sum(w / 2 * linear_segment_risk(center, foot, Q, Sigma, (x + 1) / 2)))
