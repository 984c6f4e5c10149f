"""Curves over student width computed from the toy theory: the one implementation that the
reproduction (``reproduce fig3``) and the dashboard's Theory page both call.

- ``connectivity_curves``: Monte-Carlo frequency of a linearly connected center for k feet
  against the lower bounds of Theorems 8/10;
- ``two_piece_ngd_curve``: mean/std of the best 2-piece NGD bound of pairs of sampled minima
  (Theorem 12 for Unif(M), Theorem 14 for SP(M, r)), one row per width;
- ``toy_ngd_curves``: the uniform and one sparse curve side by side, as the dashboard plots them;
- ``snap_to_minimum`` and ``norm_concentration``: comparing a trained student with the minima set.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import Int, validate_params
from ._checks import SPARSITY, as_rng
from .centers import bound_star, monte_carlo_connectivity
from .ngd import best_two_piece_ngd
from .sampling import sample_minimum


def finite_mean_std(values) -> tuple:
    """(mean, std) of the finite values (None and inf/NaN dropped); (None, None) if none is left."""
    xs = np.array([v for v in values if v is not None and math.isfinite(v)], float)
    if not xs.size:
        return None, None
    return float(xs.mean()), float(xs.std())


@validate_params(M=Int(1), trials=Int(1))
def connectivity_curves(M: int, ks, widths, trials: int, seed=0) -> dict:
    """Star connectivity of k random Unif(M) minima against the width m.

    Returns
    -------
    dict
        ``{"mc": {k: [frequency per width]}, "bounds": {k: [Theorem 8/10 bound per width]}}``.
        Each (k, m) point draws its own trials from one generator seeded by ``seed``.
    """
    rng = as_rng(seed)
    ks, widths = [int(k) for k in ks], [int(m) for m in widths]
    mc = {k: [monte_carlo_connectivity(m, M, k, trials, rng) for m in widths] for k in ks}
    bounds = {k: [bound_star(m, M, k) for m in widths] for k in ks}
    return {"mc": mc, "bounds": bounds}


@validate_params(M=Int(1), sparsity=SPARSITY, trials=Int(1))
def two_piece_ngd_curve(widths, M: int, sparsity=None, trials: int = 20, seed=0) -> list[dict]:
    """Best 2-piece NGD bound of pairs of sampled minima (Unif(M), or SP(M, r) with ``sparsity=r``).

    Returns
    -------
    list of dict
        One row per width: ``width``, ``ngd_2piece_mean``, ``ngd_2piece_std`` (over the pairs
        that have a center; None when none has), ``fraction_2pl_connected`` and ``trials``.
    """
    rng = as_rng(seed)
    out = []
    for m in widths:
        us = [best_two_piece_ngd(sample_minimum(m, M, seed=rng, sparsity=sparsity),
                                 sample_minimum(m, M, seed=rng, sparsity=sparsity), M).bound
              for _ in range(trials)]
        mean, std = finite_mean_std(us)
        out.append({"width": int(m), "ngd_2piece_mean": mean, "ngd_2piece_std": std,
                    "fraction_2pl_connected": float(np.mean([math.isfinite(u) for u in us])),
                    "trials": int(trials)})
    return out


def curve_label(sparsity) -> str:
    """The name of a 2-piece NGD curve, e.g. ``Unif(M)`` or ``SP(M, r=0.9)``."""
    return "Unif(M)" if sparsity is None else f"SP(M, r={sparsity:g})"


@validate_params(M=Int(1), pairs=Int(1), sparsity=SPARSITY)
def toy_ngd_curves(M: int, widths, pairs: int, sparsity: float, seed=0) -> dict:
    """The uniform (Theorem 12) and the sparse SP(M, r) (Theorem 14) 2-piece NGD curves.

    Returns
    -------
    dict
        ``{label: {"means": [...], "stds": [...], "rows": [...]}}`` with labels ``Unif(M)`` and
        ``SP(M, r=<sparsity>)``; means/stds are NaN where no sampled pair had a center.
    """
    out = {}
    for r in (None, sparsity):
        rows = two_piece_ngd_curve(widths, M, r, pairs, seed)
        nan = float("nan")
        out[curve_label(r)] = {
            "means": [nan if x["ngd_2piece_mean"] is None else x["ngd_2piece_mean"] for x in rows],
            "stds": [nan if x["ngd_2piece_std"] is None else x["ngd_2piece_std"] for x in rows],
            "rows": rows}
    return out


@validate_params(M=Int(1))
def snap_to_minimum(W, M: int) -> np.ndarray:
    """A nearby exact minimum (Theorem 6): keep each row's largest positive teacher coordinate,
    zero the rest, rescale every teacher column to sum to 1."""
    W = np.asarray(W, dtype=np.float64)
    S = np.zeros_like(W)
    rows = np.arange(len(W))
    j = np.argmax(W[:, :M], axis=1)
    S[rows, j] = np.maximum(W[rows, j], 0.0)
    sums = S[:, :M].sum(0)
    S[:, :M] /= np.where(sums > 0, sums, 1.0)
    return S


@validate_params(M=Int(1))
def norm_concentration(norms, M: int) -> dict:
    """How concentrated sorted (descending) neuron norms are: the sparsity of Figure 3 (right).

    Returns
    -------
    dict
        n_neurons, total_norm, neurons_for_50pct / neurons_for_90pct (fewest neurons that carry
        that share of the summed norms), fraction_in_top_M, neurons_above_10pct_of_max, top10
        and sorted_norms.
    """
    norms = np.asarray(norms, dtype=np.float64)
    total = float(norms.sum())
    cum = np.cumsum(norms) / max(total, 1e-300)
    return {"n_neurons": int(len(norms)), "total_norm": total,
            "neurons_for_50pct": int(np.searchsorted(cum, 0.5) + 1),
            "neurons_for_90pct": int(np.searchsorted(cum, 0.9) + 1),
            "fraction_in_top_M": float(norms[:M].sum() / max(total, 1e-300)),
            "neurons_above_10pct_of_max": int((norms > 0.1 * norms[0]).sum()),
            "top10": norms[:10].tolist(), "sorted_norms": norms.tolist()}
