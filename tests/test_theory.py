"""Tests of landscape_core.theory against independent oracles.

Oracles: Monte-Carlo risk vs the arc-cosine closed form, Lemma 7 vs the risk along the segment,
brute-force enumeration of centers, MC frequencies vs the bounds of Theorems 8/10, dense quadrature
and a closed form for Lemma 17, and products of matrices for Theorem 18.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from landscape_core.theory import (
    best_two_piece_ngd, bound_star, bound_two_piece, center_exists, construct_center, extended_star,
    integrated_segment_risk, is_global_minimum, lemma17_feet, linear_net_center, linear_segment_risk,
    linearly_connected, merge_path, monte_carlo_connectivity, network_product, neuron_norms,
    neuron_types, population_risk, sample_linear_minimum, sample_minimum,
)

T_GRID = np.linspace(0.0, 1.0, 11)


def from_types(types, M, d=None, rng=None):
    """A minimum with the given neuron types (Dirichlet weights if rng, else equal weights)."""
    types = np.asarray(types)
    W = np.zeros((len(types), d or M))
    for j in range(1, M + 1):
        rows = np.flatnonzero(types == j)
        W[rows, j - 1] = rng.dirichlet(np.ones(len(rows))) if rng is not None else 1.0 / len(rows)
    return W


def segment_max_risk(W1, W2, M, ts=T_GRID):
    return max(population_risk(t * W1 + (1 - t) * W2, M) for t in ts)


def mc_risk(W, M, n, rng):
    x = rng.standard_normal((n, W.shape[1]))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    r = (np.maximum(x @ W.T, 0).sum(1) - np.maximum(x[:, :M], 0).sum(1)) ** 2
    return r.mean(), r.std() / math.sqrt(n)


# ------------------------------------------------------------------------------ population risk
def test_population_risk_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for W, M in [(rng.standard_normal((3, 4)), 2), (np.vstack([np.zeros(5), rng.random((2, 5))]), 3),
                 (np.array([[2.0, 0.0, 0.0], [-1.0, 0.5, 0.0]]), 1)]:
        exact = population_risk(W, M)
        mc, se = mc_risk(W, M, 200_000, rng)
        assert abs(exact - mc) < 4 * se + 1e-12, (exact, mc, se)


def test_population_risk_closed_forms():
    for d, M in [(3, 1), (5, 3), (4, 4)]:
        expected = M / (2 * d) + M * (M - 1) / (2 * math.pi * d)  # E[(sum_j relu(x_j))^2]
        assert population_risk(np.zeros((2, d)), M) == pytest.approx(expected, rel=1e-12)
        teacher = np.eye(d)[:M]
        assert population_risk(teacher, M) < 1e-14
        assert population_risk(2 * teacher, M) == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------------------- Theorem 6 membership
def test_neuron_types_and_membership_examples():
    W = np.array([[0, 0, 0], [0.3, 0, 0], [0, 0.7, 0], [0, -1.0, 0], [0, 0, 1.0], [0.2, 0.2, 0]])
    assert neuron_types(W, 2).tolist() == [0, 1, 2, -1, -1, -1]
    assert is_global_minimum(np.array([[0.3, 0], [0.7, 0], [0, 1.0], [0, 0]]), 2)
    assert not is_global_minimum(np.array([[0.3, 0], [0.6, 0], [0, 1.0]]), 2)  # column sum 0.9
    assert not is_global_minimum(np.array([[2.0], [-1.0]]), 1)  # sums to 1 but has a negative row
    assert population_risk(np.array([[2.0], [-1.0]]), 1) > 1e-3


@pytest.mark.parametrize("sparsity", [None, 0.5])
def test_minima_have_zero_risk_and_perturbations_do_not(sparsity):
    rng = np.random.default_rng(1)
    for seed in range(40):
        M = 1 + seed % 3
        m, d = M + 1 + seed % 5, M + seed % 2
        W = sample_minimum(m, M, d, seed=seed, sparsity=sparsity)
        assert is_global_minimum(W, M) and population_risk(W, M) < 1e-13
        V = W.copy()
        V[rng.integers(m), rng.integers(d)] += rng.choice([-1, 1]) * 10 ** rng.uniform(-3, -1)
        assert not is_global_minimum(V, M)
        assert population_risk(V, M) > 1e-9


def test_sampler_distribution_and_seeding():
    W = sample_minimum(600, 3, seed=3)
    counts = np.bincount(neuron_types(W, 3), minlength=4) / 600
    assert np.allclose(counts, 0.25, atol=0.05)
    S = sample_minimum(600, 3, 5, seed=3, sparsity=0.7)
    assert S.shape == (600, 5) and abs(np.mean(neuron_types(S, 3) == 0) - 0.7) < 0.05
    assert np.array_equal(sample_minimum(9, 3, seed=4), sample_minimum(9, 3, seed=4))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(sample_minimum(9, 3, seed=g1), sample_minimum(9, 3, seed=g2))
    small = sample_minimum(3, 3, seed=6)  # m == M forces a permutation of e_1..e_3
    assert sorted(neuron_types(small, 3).tolist()) == [1, 2, 3] and np.allclose(small.sum(0), 1)


# ------------------------------------------------------------------------------------ Lemma 7
def test_lemma7_agrees_with_risk_along_segment():
    rng = np.random.default_rng(2)
    seen = set()
    for seed in range(60):
        M = 2 + seed % 2
        W1 = sample_minimum(M + 3, M, M + 1, seed=rng)
        W2 = sample_minimum(M + 3, M, M + 1, seed=rng)
        connected = linearly_connected(W1, W2, M)
        assert connected == (segment_max_risk(W1, W2, M) < 1e-12)
        seen.add(connected)
    assert seen == {True, False}
    assert not linearly_connected(np.array([[1.0], [0.0]]), np.array([[0.5], [0.4]]), 1)  # not a minimum


# --------------------------------------------------------------------------------- star centers
def merged_minima(m, M):
    for rows in itertools.permutations(range(m), M):
        B = np.zeros((m, M))
        B[list(rows), np.arange(M)] = 1.0
        yield B


def test_center_exists_matches_brute_force_and_construction():
    """Brute force over all merged minima (any center can be merged onto one row per column)."""
    rng = np.random.default_rng(4)
    outcomes = set()
    for _ in range(80):
        m, M, k = int(rng.integers(3, 6)), 2, int(rng.integers(2, 4))
        feet = [sample_minimum(m, M, seed=rng) for _ in range(k)]
        brute = any(all(linearly_connected(f, B, M) for f in feet) for B in merged_minima(m, M))
        assert center_exists(feet, M) == brute
        center = construct_center(feet, M)
        assert (center is not None) == brute
        if brute:
            assert is_global_minimum(center, M) and all(linearly_connected(f, center, M) for f in feet)
            assert all(segment_max_risk(f, center, M) < 1e-12 for f in feet)
        outcomes.add(brute)
    assert outcomes == {True, False}


def test_center_needs_distinct_rows():
    """Row 0 is the only row that could carry either column; one row cannot carry both."""
    feet = [from_types([0, 1, 2, 2], 2), from_types([0, 2, 1, 1], 2)]
    assert not center_exists(feet, 2) and construct_center(feet, 2) is None
    assert not any(all(linearly_connected(f, B, 2) for f in feet) for B in merged_minima(4, 2))
    assert center_exists([from_types([0, 0, 1, 2], 2), from_types([0, 0, 2, 1], 2)], 2)


# ------------------------------------------------------------------ Theorems 8 and 10 vs Monte Carlo
def test_bound_formulas():
    assert bound_two_piece(32, 4) == pytest.approx(1 - 4 * (15 / 16) ** 24)
    assert [round(bound_two_piece(m, 4), 3) for m in (8, 32, 64, 128)] == [0.0, 0.150, 0.892, 0.998]
    assert [round(bound_star(m, 4, 3), 3) for m in (64, 128, 256)] == [0.0, 0.356, 0.914]
    assert all(bound_two_piece(m, M) == bound_star(m, M, 2) for m in range(1, 40) for M in (1, 2, 5))
    assert bound_two_piece(3, 1) == 1.0 and bound_two_piece(2, 1) == 0.0
    values = [bound_star(m, 3, 3) for m in range(1, 400, 7)]
    assert all(0 <= v <= 1 for v in values) and values == sorted(values)
    with pytest.raises(ValueError, match=r"The 'm' parameter of bound_two_piece must be an int in the "
                                         r"range \[1, inf\]. Got 0 instead."):
        bound_two_piece(0, 2)


# exact (matching) criterion, 20000 trials each, seed 11; the spec's per-column criterion lets one
# all-dead row serve several columns and gives k=2: .35 .79 .98 1 1 and k=3: .03 .22 .61 .94 1.0
REFERENCE = {2: [0.243, 0.770, 0.984, 1.0, 1.0], 3: [0.0115, 0.158, 0.586, 0.945, 0.999]}
SPEC_TABLE = {2: [0.35, 0.79, 0.98, 1.0, 1.0], 3: [0.03, 0.22, 0.61, 0.94, 1.0]}


@pytest.mark.parametrize("k", [2, 3])
def test_monte_carlo_frequency_above_theorem_bounds(k):
    widths = (8, 16, 32, 64, 128)
    freqs = [monte_carlo_connectivity(m, 4, k, 300, seed=100 + k) for m in widths]
    for m, f, ref, spec in zip(widths, freqs, REFERENCE[k], SPEC_TABLE[k]):
        assert f >= bound_star(m, 4, k)
        assert abs(f - ref) < 0.08 and abs(f - spec) < 0.15
    assert all(b >= a - 0.03 for a, b in zip(freqs, freqs[1:]))  # rises with m
    if k == 3:
        assert all(f3 <= f2 + 0.03 for f3, f2 in zip(freqs, [monte_carlo_connectivity(m, 4, 2, 300, 9)
                                                             for m in widths]))  # falls with k


def test_sparse_minima_connect_more_often():
    dense = monte_carlo_connectivity(6, 3, 2, 400, seed=1)
    half = monte_carlo_connectivity(6, 3, 2, 400, seed=1, sparsity=0.5)
    sparse = monte_carlo_connectivity(6, 3, 2, 400, seed=1, sparsity=0.8)
    assert dense + 0.1 < half < sparse


# -------------------------------------------------------------------- Theorem 9 (4-PL construction)
def assert_valid_path(path, W1, W2, M):
    assert len(path) == 5 and path[0] is not W1 and np.array_equal(path[0], W1)
    assert np.array_equal(path[-1], W2)
    assert all(is_global_minimum(b, M) for b in path)
    assert all(linearly_connected(a, b, M) for a, b in zip(path, path[1:]))
    for b in path[1:4]:  # merged: exactly M rows, equal to e_1..e_M
        assert np.count_nonzero(np.abs(b).sum(1)) == M and sorted(np.abs(b).sum(0)[:M]) == [1.0] * M


def derangement_pair(M, s, rng):
    """Adversarial m = 2M - 1 pair: types 1..s sit on single neurons whose W2-types are a cyclic
    derangement of their W1-types; the other types K sit on neurons whose two types are different
    members of K when |K| >= 2 (case R3 of theory._repair), and dead neurons fill up when K is empty."""
    K = np.arange(s + 1, M + 1)
    rest = 2 * M - 1 - s
    if len(K) == 0:
        k1 = k2 = np.zeros(rest, dtype=int)
    else:
        k1 = np.concatenate([K, rng.choice(K, size=rest - len(K))])
        shift = rng.integers(1, len(K), size=rest) if len(K) > 1 else np.zeros(rest, dtype=int)
        shift[: len(K)] = 1 % len(K)  # the first |K| neurons cover K in both minima
        k2 = K[(k1 - K[0] + shift) % len(K)]
    t1 = np.concatenate([np.arange(1, s + 1), k1])
    t2 = np.concatenate([np.roll(np.arange(1, s + 1), 1), k2])
    return from_types(t1, M, rng=rng), from_types(t2, M, rng=rng)


def test_merge_path_exhaustive_small_case():
    M, m = 2, 3
    patterns = [t for t in itertools.product(range(3), repeat=m) if {1, 2} <= set(t)]
    for t1, t2 in itertools.product(patterns, patterns):
        W1, W2 = from_types(t1, M), from_types(t2, M)
        assert_valid_path(merge_path(W1, W2, M), W1, W2, M)


def test_merge_path_pairs_without_a_center():
    """m = 2M - 1 = 5: pairs with no common center, including the two hand-made repairs R1/R2."""
    M, rng = 3, np.random.default_rng(14)
    patterns = [np.array(t) for t in itertools.product(range(4), repeat=5) if {1, 2, 3} <= set(t)]
    pairs = [([1, 2, 3, 3, 3], [2, 1, 0, 3, 3]), ([2, 1, 0, 3, 3], [1, 2, 3, 3, 3])]
    while len(pairs) < 300:
        t1, t2 = (patterns[i] for i in rng.integers(len(patterns), size=2))
        if not center_exists([from_types(t1, M), from_types(t2, M)], M):
            pairs.append((t1, t2))
    for t1, t2 in pairs:
        W1, W2 = from_types(t1, M, rng=rng), from_types(t2, M, rng=rng)
        assert_valid_path(merge_path(W1, W2, M), W1, W2, M)


def test_merge_path_random_and_adversarial_pairs():
    rng = np.random.default_rng(5)
    n_not_2pl = 0
    for trial in range(150):
        M = int(rng.integers(1, 6))
        m = 2 * M - 1 + int(rng.integers(0, 3))
        sparsity = None if trial % 2 else 0.3
        W1, W2 = (sample_minimum(m, M, M + 1, seed=rng, sparsity=sparsity) for _ in range(2))
        assert_valid_path(merge_path(W1, W2, M), W1, W2, M)
        n_not_2pl += not center_exists([W1, W2], M)
    for M in (3, 4, 5, 6):
        for s in range(2, M + 1):
            W1, W2 = derangement_pair(M, s, rng)
            assert not center_exists([W1, W2], M)
            path = merge_path(W1, W2, M)
            assert_valid_path(path, W1, W2, M)
            assert max(segment_max_risk(a, b, M) for a, b in zip(path, path[1:])) < 1e-12
    assert n_not_2pl > 20  # the random pairs include many that need more than two pieces


def test_merge_path_rejects_narrow_students_and_non_minima():
    W = from_types([1, 2, 3, 0], 3)
    with pytest.raises(ValueError, match=r"m >= 2M - 1 \(Theorem 9\). Got m=4, M=3"):
        merge_path(W, W, 3)
    with pytest.raises(ValueError, match="must be global minima"):
        merge_path(np.ones((3, 2)), from_types([1, 2, 0], 2), 2)
    with pytest.raises(ValueError, match=r"shape \(m, d\).*Got shape \(3,\)"):
        merge_path(np.ones(3), np.ones(3), 2)


# ----------------------------------------------------------------------- Theorem 11 (extended star)
def test_extended_star_all_feet():
    rng = np.random.default_rng(6)
    for trial in range(60):
        M, k = int(rng.integers(1, 5)), int(rng.integers(2, 5))
        m = k * M + int(rng.integers(0, 3))
        feet = [sample_minimum(m, M, seed=rng) for _ in range(k)]
        center, legs = extended_star(feet, M)
        assert len(legs) == k and is_global_minimum(center, M)
        for foot, leg in zip(feet, legs):
            assert linearly_connected(foot, leg, M) and linearly_connected(leg, center, M)
    tight = [from_types(np.roll([1, 2, 3, 1, 2, 3], i), 3) for i in range(2)]
    assert not center_exists(tight, 3)  # yet the extended star exists (m = kM = 6)
    center, legs = extended_star(tight, 3)
    assert all(segment_max_risk(a, b, 3) < 1e-12 for f, l in zip(tight, legs) for a, b in
               [(f, l), (l, center)])
    with pytest.raises(ValueError, match=r"m >= k\*M \(Theorem 11\). Got m=5, k=2, M=3"):
        extended_star([from_types([1, 2, 3, 0, 0], 3)] * 2, 3)


# ----------------------------------------------------------------------------------- NGD bounds
def conflict_lower_bound(W1, W2, M):
    """sqrt(1 + 4 delta^2 / D^2): delta bounds the distance from any center to the line W1W2, since a
    center is zero on rows whose two types are different nonzero values."""
    t1, t2 = neuron_types(W1, M), neuron_types(W2, M)
    rows = (t1 > 0) & (t2 > 0) & (t1 != t2)
    A, B = np.sum(W1[rows] ** 2), np.sum(W2[rows] ** 2)
    delta2, D2 = (A * B / (A + B) if A + B > 0 else 0.0), np.sum((W1 - W2) ** 2)
    return math.sqrt(1 + 4 * delta2 / D2) if D2 > 0 else 1.0


def test_two_piece_ngd_properties():
    rng = np.random.default_rng(7)
    finite_seen = infinite_seen = 0
    for trial in range(120):
        M = int(rng.integers(1, 4))
        m = M + int(rng.integers(1, 6))
        W1, W2 = (sample_minimum(m, M, seed=rng, sparsity=0.4 if trial % 3 == 0 else None)
                  for _ in range(2))
        res = best_two_piece_ngd(W1, W2, M)
        assert math.isfinite(res.bound) == center_exists([W1, W2], M) and res.exhaustive
        if res.center is None:
            infinite_seen += 1
            continue
        finite_seen += 1
        c = res.center
        assert is_global_minimum(c, M) and linearly_connected(W1, c, M) and linearly_connected(c, W2, M)
        assert res.bound >= 1 - 1e-12 and res.bound >= conflict_lower_bound(W1, W2, M) - 1e-9
        dist = np.linalg.norm(W1 - W2)
        if dist > 0:
            assert res.bound == pytest.approx((np.linalg.norm(W1 - c) + np.linalg.norm(c - W2)) / dist)
        assert res.sum_sq <= best_two_piece_ngd(W1, W2, M, method="greedy").sum_sq + 1e-12
        if linearly_connected(W1, W2, M):
            assert res.bound == pytest.approx(1.0, abs=1e-9)
    assert finite_seen > 30 and infinite_seen > 5


def test_two_piece_ngd_equals_one_on_connected_pairs():
    rng = np.random.default_rng(8)
    for _ in range(20):
        types = rng.integers(0, 4, size=12)
        types[:3] = [1, 2, 3]
        W1, W2 = from_types(types, 3, rng=rng), from_types(types, 3, rng=rng)
        assert linearly_connected(W1, W2, 3)
        assert best_two_piece_ngd(W1, W2, 3).bound == pytest.approx(1.0, abs=1e-9)
    W = sample_minimum(6, 2, seed=0)
    assert best_two_piece_ngd(W, W, 2).bound == 1.0


def test_two_piece_ngd_assignment_search_is_exhaustive():
    """Brute force over every assignment of the all-dead rows to columns (or to none)."""
    rng = np.random.default_rng(9)
    checked = 0
    for _ in range(40):
        t1, t2 = rng.integers(0, 3, size=7), rng.integers(0, 3, size=7)
        t1[:2], t2[2:4], t1[4:6], t2[4:6] = [1, 2], [2, 1], 0, 0
        W1, W2 = from_types(t1, 2, rng=rng), from_types(t2, 2, rng=rng)
        res = best_two_piece_ngd(W1, W2, 2)
        if res.center is None:
            continue
        free = np.flatnonzero((t1 == 0) & (t2 == 0))
        best = math.inf
        for assignment in itertools.product(range(3), repeat=len(free)):
            best = min(best, brute_sum_sq(W1, W2, t1, t2, free, assignment))
        assert res.sum_sq == pytest.approx(best, abs=1e-12)
        checked += 1
    assert checked > 10


def brute_sum_sq(W1, W2, t1, t2, free, assignment):
    """Sum of squared distances of the best center for one assignment, by a generic SLSQP solve."""
    c = np.zeros_like(W1)
    for j in (1, 2):
        pure = np.flatnonzero(np.isin(t1, [0, j]) & np.isin(t2, [0, j]) & ((t1 == j) | (t2 == j)))
        rows = np.concatenate([pure, free[np.array(assignment, dtype=int) == j]]).astype(int)
        if len(rows) == 0:
            return math.inf
        target = (W1[rows, j - 1] + W2[rows, j - 1]) / 2
        sol = minimize(lambda x: np.sum((x - target) ** 2), np.full(len(rows), 1 / len(rows)),
                       bounds=[(0, 1)] * len(rows), method="SLSQP",
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 500})
        c[rows, j - 1] = sol.x
    return np.sum((W1 - c) ** 2) + np.sum((W2 - c) ** 2)


def test_two_piece_ngd_trend_with_sparsity():
    """Sparser minima (SP(M, r), Definition 13) have smaller bounds; uniform ones stay below sqrt(M)."""
    M, m = 4, 128
    means = {}
    for r in (None, 0.5, 0.9):
        bounds = [best_two_piece_ngd(sample_minimum(m, M, seed=2 * s, sparsity=r),
                                     sample_minimum(m, M, seed=2 * s + 1, sparsity=r), M).bound
                  for s in range(10)]
        means[r] = float(np.mean(bounds))
    assert 1 < means[0.9] < means[0.5] < means[None] < math.sqrt(M)


def test_neuron_norms():
    W = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    assert neuron_norms(W).tolist() == [5.0, 1.0, 0.0]


# ---------------------------------------------------------------------- deep linear nets (Section 4)
def test_sample_linear_minimum_multiplies_to_q():
    Q = np.array([[0.5, -1.0, 2.0]])
    for L in (2, 3, 4):
        theta = sample_linear_minimum(Q, 5, L, seed=L)
        assert [a.shape for a in theta] == [(5, 3)] + [(5, 5)] * (L - 2) + [(1, 5)]
        assert np.allclose(network_product(theta), Q, atol=1e-12)


@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize("r", [2, 3, 4])
def test_linear_net_center_every_segment_point_is_a_minimum(L, r):
    rng = np.random.default_rng(10 * L + r)
    d, m = 3, 2 + r * (L - 1)  # the narrowest width allowed by Theorem 18
    Q = rng.standard_normal((1, d))
    feet = [sample_linear_minimum(Q, m, L, seed=rng) for _ in range(r)]
    center = linear_net_center(feet, Q, seed=rng)
    assert np.allclose(network_product(center), Q, atol=1e-10)
    for foot in feet:
        for t in np.linspace(0, 1, 51):
            P = network_product([t * c + (1 - t) * f for c, f in zip(center, foot)])
            assert np.max(np.abs(P - Q)) < 1e-10 * max(1.0, np.abs(Q).max())
        assert integrated_segment_risk(center, foot, Q, np.eye(d)) < 1e-18
    random_center = [rng.standard_normal(a.shape) for a in center[:1]] + center[1:]
    assert max(linear_segment_risk(random_center, feet[0], Q, np.eye(d), T_GRID)) > 1e-3


def test_linear_net_center_width_condition():
    Q = np.array([[1.0, 2.0]])
    feet = [sample_linear_minimum(Q, 5, 3, seed=s) for s in range(2)]
    with pytest.raises(ValueError, match=r"m > 1 \+ r\(L - 1\) \(Theorem 18\). Got m=5, r=2, L=3"):
        linear_net_center(feet, Q)
    bad = [feet[0][0] * 2] + feet[0][1:]
    with pytest.raises(ValueError, match="global minima"):
        linear_net_center([bad], Q)


def lemma17_theta(x):
    """A minimum (a, b) with a.b = 1 parametrised by x in R^8: b = a/|a|^2 + (I - aa^T/|a|^2) z."""
    a, z = x[:4], x[4:]
    na = a @ a
    b = a / na + z - a * (a @ z) / na
    return [a[:, None], b[None, :]], a[0] + b[0]


def lemma17_objective(x, Sigma=np.eye(1)):
    theta, _ = lemma17_theta(x)
    theta1, theta2 = lemma17_feet()
    one = np.ones((1, 1))
    return (integrated_segment_risk(theta, theta1, one, Sigma)
            + integrated_segment_risk(theta, theta2, one, Sigma))


def test_lemma17_feet_and_closed_form():
    theta1, theta2 = lemma17_feet()
    assert network_product(theta1).item() == 1.0 and network_product(theta2).item() == 1.0
    rng = np.random.default_rng(11)
    for _ in range(100):
        x = rng.standard_normal(8)
        theta, s = lemma17_theta(x)
        assert network_product(theta).item() == pytest.approx(1.0)
        for ex2 in (1.0, 2.5):
            value = lemma17_objective(x, np.array([[ex2]]))
            assert value == pytest.approx((2 * s ** 2 + 8) / 30 * ex2, rel=1e-10)
            assert value >= 4 / 15 * ex2 - 1e-12


def test_lemma17_quadrature_is_exact():
    theta1, _ = lemma17_feet()
    rng = np.random.default_rng(12)
    theta, _ = lemma17_theta(rng.standard_normal(8))
    ts = np.linspace(0, 1, 20001)
    dense = np.trapezoid(linear_segment_risk(theta, theta1, [1.0], [[1.0]], ts), ts)
    assert integrated_segment_risk(theta, theta1, [1.0], [[1.0]]) == pytest.approx(dense, rel=1e-7)


def test_lemma17_center_search_fails():
    """Optimising over minima theta never goes below 4/15 E[x^2] and gets within 2% of it."""
    rng = np.random.default_rng(13)
    found = min(minimize(lemma17_objective, rng.standard_normal(8), method="Nelder-Mead",
                         options={"maxiter": 3000, "xatol": 1e-8, "fatol": 1e-12}).fun
                for _ in range(3))
    assert 4 / 15 - 1e-12 <= found <= 4 / 15 * 1.02


# ---------------------------------------------------------------------------------- validation
def test_validation_messages():
    with pytest.raises(ValueError, match=r"shape \(m, d\) with m >= 1 and d >= M=3. Got shape \(4, 2\)"):
        population_risk(np.ones((4, 2)), 3)
    with pytest.raises(ValueError, match=r"The 'W2' parameter of linearly_connected must have the shape"):
        linearly_connected(np.ones((3, 2)), np.ones((4, 2)), 2)
    with pytest.raises(ValueError, match="sparsity"):
        sample_minimum(5, 2, sparsity=1.0)
    with pytest.raises(ValueError, match=r"The 'm' parameter of sample_minimum"):
        sample_minimum(1, 2)
    with pytest.raises(TypeError, match="seed"):
        sample_minimum(5, 2, seed="abc")
    with pytest.raises(ValueError, match="'method' parameter"):
        best_two_piece_ngd(np.eye(2), np.eye(2), 2, method="milp")
    with pytest.raises(ValueError, match=r"Sigma.*shape \(1, 1\)"):
        linear_segment_risk(*lemma17_feet(), [1.0], np.eye(2), 0.5)
    with pytest.raises(ValueError, match="shapes"):
        network_product([np.ones((3, 2)), np.ones((2, 3))])


# ------------------------------------------------------------------ curves shared with the dashboard
def test_snap_to_minimum_returns_a_nearby_global_minimum():
    from landscape_core.theory import snap_to_minimum
    rng = np.random.default_rng(0)
    W = sample_minimum(16, 4, 4, seed=1)
    noisy = W + 1e-3 * rng.standard_normal((16, 4))
    S = snap_to_minimum(noisy, 4)
    assert is_global_minimum(S, 4)
    assert np.linalg.norm(S - noisy) < 0.05
    np.testing.assert_allclose(snap_to_minimum(W, 4), W, atol=1e-12)    # a minimum is its own snap


def test_connectivity_curves_pair_monte_carlo_with_the_bounds():
    from landscape_core.theory import connectivity_curves
    widths, ks = (6, 12, 40), (2, 3)
    out = connectivity_curves(2, ks, widths, 300, seed=3)
    assert out["bounds"] == {k: [bound_star(m, 2, k) for m in widths] for k in ks}
    for k in ks:
        for freq, lower in zip(out["mc"][k], out["bounds"][k]):
            assert freq >= lower - 4 * math.sqrt(0.25 / 300)       # Theorems 8/10, MC error allowed
    assert out["mc"][2][-1] == 1.0                                  # m = 40 >> M = 2: always a center


def test_two_piece_curve_replays_its_pairs():
    """Replaying the generator draws the same pairs; the row's fraction and mean are recomputed
    from center_exists and from the bounds of the pairs that have a center."""
    from landscape_core.theory import two_piece_ngd_curve
    rows = two_piece_ngd_curve([5, 9], 3, None, 12, seed=7)
    rng = np.random.default_rng(7)
    for row, m in zip(rows, (5, 9)):
        pairs = [(sample_minimum(m, 3, seed=rng), sample_minimum(m, 3, seed=rng)) for _ in range(12)]
        connected = [center_exists([a, b], 3) for a, b in pairs]
        assert row["fraction_2pl_connected"] == pytest.approx(np.mean(connected))
        bounds = [best_two_piece_ngd(a, b, 3).bound for (a, b), ok in zip(pairs, connected) if ok]
        assert row["ngd_2piece_mean"] == (pytest.approx(np.mean(bounds)) if bounds else None)


def test_toy_ngd_curves_hold_the_uniform_and_the_sparse_curve():
    from landscape_core.theory import toy_ngd_curves, two_piece_ngd_curve
    out = toy_ngd_curves(2, (4, 8), 5, 0.8, seed=1)
    assert list(out) == ["Unif(M)", "SP(M, r=0.8)"]
    sparse = two_piece_ngd_curve((4, 8), 2, 0.8, 5, 1)
    assert out["SP(M, r=0.8)"]["rows"] == sparse
    assert out["SP(M, r=0.8)"]["means"] == [r["ngd_2piece_mean"] if r["ngd_2piece_mean"] is not None
                                            else pytest.approx(float("nan"), nan_ok=True) for r in sparse]


def test_norm_concentration_counts_neurons():
    from landscape_core.theory import norm_concentration
    stats = norm_concentration([4.0, 3.0, 2.0, 1.0], 2)
    assert stats["neurons_for_50pct"] == 2 and stats["neurons_for_90pct"] == 3      # 4 + 3 + 2 = 90%
    assert stats["fraction_in_top_M"] == pytest.approx(0.7)
    assert stats["neurons_above_10pct_of_max"] == 4


def test_declared_constraints_name_the_function_and_the_field():
    from landscape_core.theory import connectivity_curves, two_piece_ngd_curve
    with pytest.raises(ValueError, match=r"The 'trials' parameter of connectivity_curves must be an int "
                                         r"in the range \[1, inf\]. Got 0 instead."):
        connectivity_curves(2, (2,), (4,), 0)
    with pytest.raises(ValueError, match=r"The 'sparsity' parameter of two_piece_ngd_curve must be in "
                                         r"the open interval \(0, 1\)"):
        two_piece_ngd_curve((4,), 2, 1.0, 3)
    with pytest.raises(ValueError, match=r"The 'm' parameter of monte_carlo_connectivity must be an int "
                                         r"in the range \[3, inf\] \(at least the teacher width M\)"):
        monte_carlo_connectivity(2, 3, 2, 5)
