"""Pure figure builders: numpy arrays and result objects in, ``plotly.graph_objects.Figure`` out.

The only package of the core that imports plotly. Builders do no I/O, import neither torch nor
streamlit, never mutate their inputs and always return one ``go.Figure``.

Conventions shared by every page of the dashboard:

- the same minimum has the same colour everywhere: ``minimum_color(i)`` keyed by its index in
  the experiment's list of minima; the center theta* is black;
- as in the paper's Figures 1 and 5, direct segments are orange and fold-lines blue;
- titles and axes use the paper's terms (theta_i, center theta*, t, fold-line, NGD);
- losses go on a log axis when asked and when every value is positive; accuracies are stored
  as fractions in [0, 1] and shown as percentages;
- slice grids are indexed [alpha, beta] (``Slice2D``); plotly wants z[y][x], so heatmaps
  and surfaces show ``grid.T``.

One module per kind of figure; every name is re-exported here, so ``figures.<name>`` works:

- ``_style``: palette, colours, ``minimum_color`` and the shared layout/check helpers;
- ``paths``: path profiles, distance and barrier matrices;
- ``star``: the star diagram;
- ``slices``: 2-D loss slices (maps and surfaces) and the on/off-the-plane rule;
- ``sweeps``: means with std over a swept setting, the NGD / fold-line trade-off;
- ``theory``: connectivity probability, neuron norms, histories, paper comparison;
- ``export``: ``figure_data`` (long-form records for CSV/JSON).
"""
from __future__ import annotations

from ._style import (CENTER_COLOR, FOLD_COLOR, KIND_COLORS, KIND_NAMES, PALETTE, SEGMENT_COLOR,
                     TEMPLATE, minimum_color)
from .export import figure_data
from .paths import barrier_matrices_figure, distance_matrix_figure, matrix_figure, path_profile_figure
from .slices import (OFF_PLANE_REL, SLICE_KIND_TITLES, is_off_plane, slice_extent, slice_figure,
                     slice_surface_figure)
from .star import star_figure
from .sweeps import (FIELD_LABELS, SWEEP_SERIES, SWEEP_Y_TITLES, field_label, mean_std_figure,
                     ngd_tradeoff_figure, sweep_figure)
from .theory import connectivity_figure, history_figure, neuron_norms_figure, paper_comparison_figure

__all__ = [
    "PALETTE", "CENTER_COLOR", "SEGMENT_COLOR", "FOLD_COLOR", "minimum_color",
    "path_profile_figure", "matrix_figure", "distance_matrix_figure", "barrier_matrices_figure",
    "star_figure", "slice_figure", "slice_surface_figure", "mean_std_figure", "sweep_figure",
    "SWEEP_SERIES", "connectivity_figure", "neuron_norms_figure", "history_figure",
    "paper_comparison_figure", "figure_data",
]
