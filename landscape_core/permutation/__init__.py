"""Modulo permutation: the hidden-unit symmetry of networks as a lens on every analysis.

- ``spec``: ``permutation_spec(model)`` derives which axes share a permutation (or refuses,
  and says how to write a ``PermutationSpec`` by hand);
- ``apply``: ``apply_permutation`` on flat vectors, ``permute_buffers`` for BatchNorm statistics;
- ``weight``: ``weight_matching`` (Git Re-Basin, coordinate descent with linear assignments);
- ``activation``: ``activation_matching`` (Git Re-Basin, correlations of activations on data);
- ``repair``: ``repair`` (REPAIR's corrected interpolation point) and ``repair_path``;
- ``aligned``: ``aligned_minimum`` / ``align_pair`` / ``align_feet``: aligned minima cached like
  minima, so every analysis runs on them unchanged;
- ``profiles``: ``pair_profiles``: raw, aligned and aligned + REPAIR segments of a pair;
- ``centers``: ``compare_star_centers``: raw-feet center, aligned-feet center, aligned average;
- ``result``: ``Alignment``, the record every result carries as ``.alignment``.
"""
from __future__ import annotations

from .activation import activation_matching
from .aligned import align_feet, align_pair, aligned_minimum, alignment_record, describe_align
from .centers import StarComparison, compare_star_centers
from .apply import apply_permutation, identity_perms, invert, permute_buffers, random_perms
from .profiles import pair_profiles
from .repair import endpoint_stats, repair, repair_path
from .result import ALIGN_METHODS, METHOD_LABELS, Alignment, describe_alignment
from .spec import PermutationSpec, UnsupportedModelError, permutation_spec
from .weight import weight_matching

__all__ = ["ALIGN_METHODS", "METHOD_LABELS", "Alignment", "PermutationSpec", "UnsupportedModelError",
           "StarComparison", "activation_matching", "compare_star_centers", "align_feet", "align_pair", "aligned_minimum", "alignment_record",
           "apply_permutation", "describe_align", "describe_alignment", "endpoint_stats",
           "identity_perms", "invert", "pair_profiles", "permute_buffers", "permutation_spec", "random_perms",
           "repair", "repair_path", "weight_matching"]
