"""NGD upper bounds of student minima: the best 2-piece bound through a center (Definition 4,
Eq. 8; the quantity of Theorems 12 and 14) and the neuron norms of Figure 3 (right)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import Int, Options, validate_params
from ._checks import pair, weights
from .centers import center_plan, pure_rows, types_of_minima

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


@validate_params(M=Int(1), method=Options("exact", "greedy"))
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
    W1, W2 = pair(W1, W2, M, "best_two_piece_ngd")
    types = types_of_minima([W1, W2], M)
    if types is None or center_plan(types, M) is None:
        return TwoPieceBound(math.inf, None, True, math.inf)
    free = list(np.flatnonzero(np.all(types == 0, axis=0)))
    pure = [pure_rows(types, j) for j in range(1, M + 1)]
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
    return np.sort(np.linalg.norm(weights(W, 1, "neuron_norms"), axis=1))[::-1]

