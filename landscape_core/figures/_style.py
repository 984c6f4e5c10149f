"""Palette, colours and the helpers every figure builder shares (layout, checks)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728",
           "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39")
CENTER_COLOR = "#111111"
SEGMENT_COLOR = "#ff7f0e"     # the paper's orange: direct segment theta_i -- theta_j
FOLD_COLOR = "#1f77b4"        # the paper's blue: fold-line theta_i -> theta* -> theta_j
KIND_COLORS = {"segment": SEGMENT_COLOR, "fold_line": FOLD_COLOR, "spoke": "#6a3d9a",
               "polygonal": "#6a3d9a", "bezier": "#b15928"}
KIND_NAMES = {"segment": "direct segment", "fold_line": "fold-line through θ*", "spoke": "spoke",
              "polygonal": "polygonal path", "bezier": "Bezier curve"}
TEMPLATE = "plotly_white"
_TINY = 1e-12


def minimum_color(index: int) -> str:
    """Colour of the minimum with this index (stable across pages)."""
    return PALETTE[int(index) % len(PALETTE)]


def _style(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None,
           height: int = 420) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, height=height, hovermode="closest",
                      margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=-0.3, x=0))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _positive(*arrays) -> bool:
    vals = [np.asarray(a, float) for a in arrays if a is not None]
    return bool(vals) and all(np.all(np.isfinite(v) & (v > 0)) for v in vals if v.size)


def _array(x, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != ndim:
        raise ValueError(f"The '{name}' argument must be a {ndim}-D array. Got shape {a.shape} instead.")
    return a


def log_ticks(*arrays) -> dict:
    """Tick settings for a log axis over these values: one labelled tick per decade when the
    values span two decades or more (no crowded 2 and 5 minor labels), else 1-2-5 ticks."""
    vals = np.concatenate([np.asarray(a, float).ravel() for a in arrays if a is not None])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size and np.log10(vals.max() / vals.min()) >= 2:
        return {"dtick": 1, "exponentformat": "power"}
    return {"dtick": "D2"}
