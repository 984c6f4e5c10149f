"""Deep linear networks (Section 4, Assumption 15): a network is [A_1 (m, d), A_2 (m, m), ...,
A_L (1, m)], f(x) = A_L ... A_1 x; for y = Q x the minima are the networks whose product is Q.
Random minima, the center of Theorem 18, Lemma 17's counterexample and exact segment risks."""
from __future__ import annotations

import logging
import math

import numpy as np

from .._validation import Int, validate_params
from ._checks import as_rng, at_least

logger = logging.getLogger(__name__)


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


@validate_params(m=Int(1), L=Int(2))
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
    rng = as_rng(seed)
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


@validate_params(max_tries=Int(1))
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
    rng = as_rng(seed)
    for _ in range(int(max_tries)):
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


@validate_params(n=Int(1, none=True))
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
    n = L + 1 if n is None else at_least(n, L + 1, "n", "integrated_segment_risk", "L + 1")
    x, w = np.polynomial.legendre.leggauss(n)
    return float(np.sum(w / 2 * linear_segment_risk(center, foot, Q, Sigma, (x + 1) / 2)))
