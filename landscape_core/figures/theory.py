"""Theory and paper figures: connectivity probability, neuron norms, histories, paper vs ours."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ._style import FOLD_COLOR, PALETTE, _array, _positive, _style, log_ticks


def connectivity_figure(widths, mc: Mapping[int, Sequence[float]], bounds: Mapping[int, Sequence[float]],
                        *, M: int) -> go.Figure:
    """Probability that k random teacher-student minima have a common center, vs width m.

    mc : k -> Monte-Carlo frequencies (exact test of Lemma 7); bounds : k -> the paper's lower
    bound (Theorem 8 for k = 2, Theorem 10 for k > 2). Same colour per k; bounds dashed.
    """
    fig = go.Figure()
    widths = list(widths)
    for n, k in enumerate(sorted(set(mc) | set(bounds))):
        color = PALETTE[n % len(PALETTE)]
        what = "2-piece (fold-line)" if k == 2 else f"star, k = {k} feet"
        if k in mc:
            fig.add_trace(go.Scatter(x=widths, y=list(mc[k]), mode="lines+markers", name=f"{what}: Monte Carlo",
                                     line=dict(color=color),
                                     hovertemplate="m=%{x}: %{y:.3f}<extra>Monte Carlo</extra>"))
        if k in bounds:
            thm = "Thm 8" if k == 2 else "Thm 10"
            fig.add_trace(go.Scatter(x=widths, y=list(bounds[k]), mode="lines", name=f"{what}: bound ({thm})",
                                     line=dict(color=color, dash="dash"),
                                     hovertemplate="m=%{x}: %{y:.3f}<extra>paper's bound</extra>"))
    _style(fig, f"Probability of linear connectivity through a center (teacher M = {M})",
           "student width m", "probability")
    fig.update_xaxes(type="log", tickmode="array", tickvals=widths, ticktext=[str(w) for w in widths])
    fig.update_yaxes(range=[-0.02, 1.02])
    return fig


def neuron_norms_figure(norms, *, teacher_neurons: int | None = None, log_y: bool = False,
                        title: str = "Sorted neuron norms ‖w_i‖₂ of an SGD solution") -> go.Figure:
    """Neuron norms in descending order (the paper's Figure 3, right); sparse solutions drop fast."""
    norms = _array(norms, "norms", 1)
    fig = go.Figure(go.Bar(x=np.arange(1, len(norms) + 1), y=norms, name="‖w_i‖₂",
                           marker_color=FOLD_COLOR,
                           hovertemplate="rank %{x}: %{y:.4g}<extra></extra>"))
    if teacher_neurons:
        fig.add_vline(x=teacher_neurons + 0.5, line=dict(color="#555555", dash="dot"),
                      annotation_text=f"M = {teacher_neurons} teacher neurons")
    _style(fig, title, "neuron rank (largest first)", "‖w_i‖₂")
    if log_y and _positive(norms):
        fig.update_yaxes(type="log")
    return fig


def history_figure(x, curves: Mapping[str, Sequence[float]], *, x_title: str, y_title: str,
                   title: str, log_y: bool = True) -> go.Figure:
    """Line plot of one or more curves against x (e.g. the center's training objective)."""
    fig = go.Figure()
    for k, (label, y) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(x), y=np.asarray(y, float), mode="lines", name=label,
                                 line=dict(color=PALETTE[k % len(PALETTE)])))
    _style(fig, title, x_title, y_title)
    if log_y and _positive(*curves.values()):
        fig.update_yaxes(type="log", **log_ticks(*curves.values()))
    return fig


def paper_comparison_figure(settings: Sequence[str], paper: Sequence[float], ours: Sequence[float | None],
                            *, y_title: str, title: str, log_y: bool = False,
                            percent: bool = False) -> go.Figure:
    """Dot plot: the paper's published value beside ours (None = not measured) per setting.

    Markers, not bars: on a log axis a bar's height depends on where the axis starts.
    """
    ours_arr = np.array([np.nan if v is None else float(v) for v in ours])
    fmt = ".2%" if percent else ".4g"
    fig = go.Figure([go.Scatter(x=list(settings), y=np.asarray(paper, float), name="paper (Lin et al.)",
                                mode="markers", marker=dict(color="#777777", size=13, symbol="diamond"),
                                hovertemplate="%{x}<br>paper: %{y:" + fmt + "}<extra></extra>"),
                     go.Scatter(x=list(settings), y=ours_arr, name="measured here", mode="markers",
                                marker=dict(color=FOLD_COLOR, size=13, symbol="circle"),
                                hovertemplate="%{x}<br>measured: %{y:" + fmt + "}<extra></extra>")])
    _style(fig, title, None, y_title)
    fig.update_layout(scattermode="group", scattergap=0.6)
    fig.update_xaxes(type="category", showgrid=True)
    if log_y:
        fig.update_yaxes(type="log", **log_ticks(paper, [v for v in ours_arr if v == v]))
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return fig
