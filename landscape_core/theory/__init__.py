"""Exact theory of the paper's toy models: two-layer ReLU students (Section 3) and deep linear
nets (Section 4). Everything is numpy float64; nothing here imports torch (tests/test_imports.py
keeps it so). Reference: Lin, Li, Wu, arXiv 2404.06391.

Modules, one concept each:

- ``minima``: the minima set (Theorem 6), population risk, neuron types, Lemma 7's segment test;
- ``sampling``: random minima, Unif(M) and SP(M, r);
- ``centers``: star centers (Definition 3), the bounds of Theorems 8/10 and their Monte Carlo;
- ``paths``: the constructive paths of Theorems 9 and 11;
- ``ngd``: the best 2-piece NGD bound (Eq. 8) and neuron norms;
- ``linear``: deep linear nets (Assumption 15, Lemma 17, Theorem 18);
- ``curves``: curves over width shared by the reproduction and the dashboard.

``from landscape_core import theory; theory.<name>`` reaches every public name below.
"""
from .centers import bound_star, bound_two_piece, center_exists, construct_center, monte_carlo_connectivity
from .curves import (connectivity_curves, curve_label, finite_mean_std, norm_concentration, snap_to_minimum,
                     toy_ngd_curves, two_piece_ngd_curve)
from .linear import (integrated_segment_risk, lemma17_feet, linear_net_center, linear_segment_risk,
                     network_product, sample_linear_minimum)
from .minima import is_global_minimum, linearly_connected, neuron_types, population_risk
from .ngd import TwoPieceBound, best_two_piece_ngd, neuron_norms
from .paths import extended_star, merge_path
from .sampling import sample_minimum

__all__ = [
    "population_risk", "neuron_types", "is_global_minimum", "linearly_connected", "sample_minimum",
    "center_exists", "construct_center", "bound_two_piece", "bound_star", "monte_carlo_connectivity",
    "merge_path", "extended_star", "TwoPieceBound", "best_two_piece_ngd", "neuron_norms",
    "network_product", "sample_linear_minimum", "linear_net_center", "lemma17_feet",
    "linear_segment_risk", "integrated_segment_risk", "connectivity_curves", "two_piece_ngd_curve",
    "toy_ngd_curves", "curve_label", "snap_to_minimum", "norm_concentration", "finite_mean_std",
]
