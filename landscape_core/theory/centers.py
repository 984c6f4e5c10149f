"""Star-shaped linear connectivity of student minima (Definition 3, Lemma 7): the exact test, a
constructed center, the probability bounds of Theorems 8 and 10 and their Monte-Carlo check."""
from __future__ import annotations

import numpy as np

from .._validation import Int, validate_params
from ._checks import SPARSITY, as_rng, at_least, feet_list
from .minima import is_global_minimum, neuron_types
from .sampling import sample_types


def pure_rows(types: np.ndarray, j: int) -> np.ndarray:
    """Rows whose type is 0 or j in every foot and j in at least one (types has shape (k, m))."""
    return np.flatnonzero(np.all((types == 0) | (types == j), axis=0) & np.any(types == j, axis=0))


def center_plan(types: np.ndarray, M: int) -> list[np.ndarray] | None:
    """Rows carrying each column of a center of feet with these types, or None if there is no center.

    By Lemma 7 column j may sit on a row only if the row's type is 0 or j in every foot: the pure rows
    of j, or rows dead in every foot, which can serve any one column. A center exists iff the columns
    without pure rows can get distinct all-dead rows (a matching, not just one candidate per column).
    """
    free = list(np.flatnonzero(np.all(types == 0, axis=0)))
    plan = []
    for j in range(1, M + 1):
        pure = pure_rows(types, j)
        if len(pure) == 0:
            if not free:
                return None
            pure = np.array([free.pop(0)])
        plan.append(pure)
    return plan


def types_of_minima(feet: list[np.ndarray], M: int) -> np.ndarray | None:
    if not all(is_global_minimum(f, M) for f in feet):
        return None
    return np.stack([neuron_types(f, M) for f in feet])


@validate_params(M=Int(1))
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
    types = types_of_minima(feet_list(feet, M, "center_exists"), M)
    return types is not None and center_plan(types, M) is not None


@validate_params(M=Int(1))
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
    feet = feet_list(feet, M, "construct_center")
    types = types_of_minima(feet, M)
    plan = None if types is None else center_plan(types, M)
    if plan is None:
        return None
    center = np.zeros_like(feet[0])
    for j, rows in enumerate(plan):
        center[rows, j] = 1.0 / len(rows)
    return center


# ---------------------------------------------------------------- Theorems 8 and 10, Monte Carlo
@validate_params(m=Int(1), M=Int(1), k=Int(1))
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
    if m - k * M <= 0:  # the base is <= 1, so M * base**exponent >= M >= 1
        return 0.0
    base = (float(M) ** k - 1.0) / float(M) ** k
    return float(min(1.0, max(0.0, 1.0 - M * base ** (m - k * M))))


@validate_params(m=Int(1), M=Int(1))
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
    return bound_star(m, M, 2)


@validate_params(m=Int(1), M=Int(1), k=Int(1), trials=Int(1), sparsity=SPARSITY)
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
    at_least(m, M, "m", "monte_carlo_connectivity", "the teacher width M")
    rng = as_rng(seed)
    hits = sum(center_plan(np.stack([sample_types(rng, m, M, sparsity) for _ in range(k)]), M)
               is not None for _ in range(trials))
    return hits / trials

