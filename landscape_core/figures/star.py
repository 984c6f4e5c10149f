"""The star diagram: feet, center theta* and spokes coloured by their barrier."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from ._style import _TINY, CENTER_COLOR, _array, _style, minimum_color


def star_figure(feet_xy, center_xy, feet_names: Sequence[str], *, spoke_values=None,
                value_label: str = "max train loss along the spoke", feet_colors=None,
                held_out_xy=None, held_out_names: Sequence[str] = (), held_out_values=None,
                held_out_colors=None, method: str = "MDS", log_color: bool = False) -> go.Figure:
    """The star diagram: feet θᵢ and center θ* in a 2-D embedding, spokes coloured by barrier.

    Parameters
    ----------
    feet_xy : array of shape (r, 2); center_xy : array of shape (2,)
    spoke_values : array of shape (r,), the barrier of each spoke θᵢ — θ* (colours the spoke)
    held_out_xy : array of shape (h, 2), minima not used to fit θ* (dashed spokes, diamonds)
    method : name of the embedding, shown in the axis titles
    """
    feet_xy, center_xy = _array(feet_xy, "feet_xy", 2), np.asarray(center_xy, float).reshape(2)
    held_xy = np.zeros((0, 2)) if held_out_xy is None else _array(held_out_xy, "held_out_xy", 2)
    vals = [np.asarray(v, float) for v in (spoke_values, held_out_values) if v is not None]
    allv = np.concatenate(vals) if vals else np.zeros(0)
    use_log = log_color and allv.size and np.all(allv > 0)
    tr = (lambda v: np.log10(np.maximum(v, _TINY))) if use_log else (lambda v: v)
    lo, hi = (float(tr(allv).min()), float(tr(allv).max())) if allv.size else (0.0, 1.0)
    scale = "Cividis"         # perceptually uniform; blue-grey-yellow stays apart from the minima colours

    def color_of(v):
        if v is None or not np.isfinite(v):
            return "#999999"
        x = 0.5 if hi == lo else (float(tr(np.asarray(v))) - lo) / (hi - lo)
        return sample_colorscale(scale, [min(1.0, max(0.0, x))])[0]

    fig = go.Figure()
    groups = [(feet_xy, feet_names, spoke_values, "solid", "spoke", feet_colors, "circle"),
              (held_xy, held_out_names, held_out_values, "dash", "held-out spoke", held_out_colors,
               "diamond")]
    for xy, names, values, dash, what, colors, symbol in groups:
        for i in range(len(xy)):
            v = None if values is None else float(np.asarray(values)[i])
            fig.add_trace(go.Scatter(
                x=[center_xy[0], xy[i, 0]], y=[center_xy[1], xy[i, 1]], mode="lines",
                line=dict(color=color_of(v), width=4, dash=dash), showlegend=False,
                name=f"{what} θ* — {names[i]}",
                hovertemplate=f"{what} θ* — {names[i]}<br>{value_label}: "
                              f"{'n/a' if v is None else f'{v:.4g}'}<extra></extra>"))
    for xy, names, colors, symbol, label in ((feet_xy, feet_names, feet_colors, "circle",
                                              "feet θᵢ (fit the center)"),
                                             (held_xy, held_out_names, held_out_colors, "diamond",
                                              "held-out minima")):
        if len(xy):
            cols = list(colors) if colors is not None else [minimum_color(i) for i in range(len(xy))]
            fig.add_trace(go.Scatter(
                x=xy[:, 0], y=xy[:, 1], mode="markers+text", text=list(names),
                textposition="top center", name=label, showlegend=False,
                marker=dict(size=16, color=cols, symbol=symbol, line=dict(color="white", width=1)),
                hovertemplate="%{text}<extra></extra>"))
            # legend key in neutral grey: each minimum keeps its own colour on the chart
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, hoverinfo="skip",
                                     marker=dict(size=12, color="#888888", symbol=symbol)))
    fig.add_trace(go.Scatter(x=[center_xy[0]], y=[center_xy[1]], mode="markers+text",
                             text=["θ*"], textposition="bottom center", name="center θ*",
                             marker=dict(size=22, color=CENTER_COLOR, symbol="star"),
                             hovertemplate="center θ*<extra></extra>"))
    if allv.size:
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, name="colour scale",
            marker=dict(colorscale=scale, cmin=lo, cmax=hi, color=[lo], showscale=True,
                        colorbar=dict(title=dict(text=("log₁₀ " if use_log else "") + value_label,
                                                 side="right")))))
    _style(fig, f"Star: feet and center θ* ({method} embedding of parameter space)",
           f"{method} axis 1", f"{method} axis 2", height=520)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig
