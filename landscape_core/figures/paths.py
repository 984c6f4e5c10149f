"""Path profiles (loss and accuracy against t) and pairwise matrices (distances, barriers)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import CENTER_COLOR, KIND_COLORS, KIND_NAMES, _array, _positive, _style, log_ticks, minimum_color


def path_profile_figure(profiles: Sequence, *, split: str = "train", log_loss: bool = True,
                        colors: Sequence[str] | None = None, names: Sequence[str] | None = None,
                        dashes: Sequence[str] | None = None,
                        title: str = "Loss and accuracy along the paths",
                        x_title: str = "t  (t = 0: first end, t = 1: last end)") -> go.Figure:
    """Loss (left) and accuracy (right) against t for one or more ``PathProfile``.

    Parameters
    ----------
    profiles : sequence of PathProfile
        Each needs ``t`` (T,), ``{split}_loss`` (T,), optionally ``{split}_acc`` (T,), ``kind``,
        ``label`` and ``vertices_t``.
    split : "train" or "test"
    colors, names, dashes : per-profile colour, legend name and line dash (default: by kind,
        orange dashed segment, blue solid fold-line; name = label or kind).
    """
    if split not in ("train", "test"):
        raise ValueError(f"The 'split' argument must be 'train' or 'test'. Got {split!r} instead.")
    profiles = list(profiles)
    losses = [getattr(p, f"{split}_loss") for p in profiles]
    if any(v is None for v in losses):
        raise ValueError(f"Every profile needs {split} values; evaluate the paths on the {split} set.")
    accs = [getattr(p, f"{split}_acc") for p in profiles]
    has_acc = any(a is not None for a in accs)
    fig = make_subplots(rows=1, cols=2 if has_acc else 1, horizontal_spacing=0.12,
                        subplot_titles=(f"{split} loss", f"{split} accuracy") if has_acc else None)
    pivots = set()
    for k, p in enumerate(profiles):
        color = colors[k] if colors else KIND_COLORS.get(p.kind, minimum_color(k))
        name = names[k] if names else (p.label or KIND_NAMES.get(p.kind, p.kind))
        dash = dashes[k] if dashes else ("dash" if p.kind == "segment" else "solid")
        fig.add_trace(go.Scatter(
            x=np.asarray(p.t), y=np.asarray(losses[k]), mode="lines+markers", name=name,
            legendgroup=name, line=dict(color=color, dash=dash), marker=dict(size=4),
            hovertemplate="t=%{x:.3f}<br>loss=%{y:.4g}<extra>%{fullData.name}</extra>"), row=1, col=1)
        if has_acc and accs[k] is not None:
            fig.add_trace(go.Scatter(
                x=np.asarray(p.t), y=np.asarray(accs[k]), mode="lines+markers", name=name,
                legendgroup=name, showlegend=False, line=dict(color=color, dash=dash),
                marker=dict(size=4),
                hovertemplate="t=%{x:.3f}<br>accuracy=%{y:.2%}<extra>%{fullData.name}</extra>"),
                row=1, col=2)
        if p.kind == "fold_line":
            pivots.update(float(v) for v in p.vertices_t[1:-1])
    for n, v in enumerate(sorted(pivots)):
        # no text annotation: it would sit on the subplot titles; a legend entry names the line
        fig.add_vline(x=v, line=dict(color=CENTER_COLOR, dash="dot", width=1))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"θ* (t = {v:g})",
                                 showlegend=n == 0 or len(pivots) > 1, hoverinfo="skip",
                                 line=dict(color=CENTER_COLOR, dash="dot", width=1)), row=1, col=1)
    _style(fig, title, x_title)
    fig.update_xaxes(title_text=x_title)
    log = log_loss and _positive(*losses)
    fig.update_yaxes(title_text=f"{split} loss", row=1, col=1, type="log" if log else "linear",
                     **(log_ticks(*losses) if log else {}))
    if has_acc:
        fig.update_yaxes(title_text=f"{split} accuracy", tickformat=".0%", row=1, col=2)
    return fig


# ------------------------------------------------------------------------------------ matrices
def matrix_figure(matrix, names: Sequence[str], *, title: str, colorbar_title: str,
                  colorscale: str = "Viridis", fmt: str = ".3g", zmin=None, zmax=None) -> go.Figure:
    """Annotated heatmap of a square matrix indexed [row i, column j] over ``names``."""
    m = _array(matrix, "matrix", 2)
    if m.shape != (len(names), len(names)):
        raise ValueError(f"The 'matrix' argument must have shape ({len(names)}, {len(names)}) for "
                         f"{len(names)} names. Got {m.shape} instead.")
    fig = go.Figure(go.Heatmap(
        z=m, x=list(names), y=list(names), colorscale=colorscale, zmin=zmin, zmax=zmax,
        texttemplate=f"%{{z:{fmt}}}", colorbar=dict(title=colorbar_title),
        hovertemplate="%{y} → %{x}<br>" + colorbar_title + ": %{z:.4g}<extra></extra>"))
    _style(fig, title, "θⱼ", "θᵢ", height=max(320, 60 * len(names) + 160))
    fig.update_yaxes(autorange="reversed")
    return fig


def distance_matrix_figure(distances, names: Sequence[str]) -> go.Figure:
    """Pairwise Euclidean distances ||θᵢ − θⱼ||₂ between minima (flat trainable parameters)."""
    return matrix_figure(distances, names, title="Pairwise distances ‖θᵢ − θⱼ‖₂",
                         colorbar_title="L2 distance", colorscale="Blues")


def barrier_matrices_figure(direct, through_center, names: Sequence[str], *, metric_label: str,
                            colorscale: str = "Reds", higher_is_better: bool = False) -> go.Figure:
    """Side-by-side pairwise barrier heatmaps: direct segment vs fold-line through θ*.

    ``through_center`` may be None (no center yet): only the direct matrix is drawn. Both panels
    share one colour range so they can be compared by eye.
    """
    direct = _array(direct, "direct", 2)
    mats = [direct] + ([_array(through_center, "through_center", 2)] if through_center is not None else [])
    finite = np.concatenate([m[np.isfinite(m)] for m in mats]) if mats else np.zeros(1)
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    titles = ["direct segment θᵢ — θⱼ", "fold-line θᵢ → θ* → θⱼ"][:len(mats)]
    fig = make_subplots(rows=1, cols=len(mats), subplot_titles=titles, horizontal_spacing=0.15)
    scale = (colorscale + "_r") if higher_is_better and not colorscale.endswith("_r") else colorscale
    for k, m in enumerate(mats):
        fig.add_trace(go.Heatmap(
            z=m, x=list(names), y=list(names), zmin=zmin, zmax=zmax, colorscale=scale,
            texttemplate="%{z:.3g}", showscale=k == len(mats) - 1, colorbar=dict(title=metric_label),
            hovertemplate="%{y} → %{x}<br>" + metric_label + ": %{z:.4g}<extra>" + titles[k] +
                          "</extra>"), row=1, col=k + 1)
    _style(fig, f"Pairwise barriers: {metric_label}", "θⱼ", None,
           height=max(340, 60 * len(names) + 180))
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title_text="θᵢ", row=1, col=1)
    return fig
