"""Constructive paths through student minima: Theorem 9 (a 4-piece path for m >= 2M - 1) and
Theorem 11 (a center 2-PL connected to k minima for m >= kM)."""
from __future__ import annotations

import logging

import numpy as np

from .._validation import Int, validate_params
from ._checks import feet_list, pair
from .centers import construct_center
from .minima import neuron_types, require_minima

logger = logging.getLogger(__name__)


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


@validate_params(M=Int(1))
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
    W1, W2 = pair(W1, W2, M, "merge_path")
    m = W1.shape[0]
    if m < 2 * M - 1:
        raise ValueError(f"merge_path needs m >= 2M - 1 (Theorem 9). Got m={m}, M={M}; widen the student, "
                         "or use construct_center for a 2-piece path when one exists.")
    require_minima([W1, W2], M, "merge_path")
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


@validate_params(M=Int(1))
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
    feet = feet_list(feet, M, "extended_star")
    m, k = feet[0].shape[0], len(feet)
    if m < k * M:
        raise ValueError(f"extended_star needs m >= k*M (Theorem 11). Got m={m}, k={k}, M={M}.")
    require_minima(feet, M, "extended_star")
    legs = []
    for foot in feet:
        types = neuron_types(foot, M)
        legs.append(_merged([int(np.flatnonzero(types == j)[0]) for j in range(1, M + 1)], foot.shape))
    return construct_center(legs, M), legs

