"""Two-dimensional loss slices: heatmap / contour maps and 3-D surfaces with models on top."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ._style import _TINY, FOLD_COLOR, SEGMENT_COLOR, _array, _style, minimum_color


def _slice_grid(slice2d, metric: str, log_scale: bool):
    grid = getattr(slice2d, metric, None)
    if grid is None:
        raise ValueError(f"This slice has no '{metric}' values. Available: train_loss"
                         + (", train_acc" if slice2d.train_acc is not None else "")
                         + (", test_loss" if slice2d.test_loss is not None else "") + ".")
    grid = _array(grid, metric, 2)
    if grid.shape != (len(slice2d.alphas), len(slice2d.betas)):
        raise ValueError(f"The slice grid has shape {grid.shape}, expected (len(alphas), len(betas)) "
                         f"= ({len(slice2d.alphas)}, {len(slice2d.betas)}).")
    is_loss = metric.endswith("loss")
    label = metric.replace("_", " ")
    if log_scale and is_loss:
        return np.log10(np.maximum(grid, _TINY)), grid, f"log₁₀ {label}"
    return grid, grid, label


SLICE_KIND_TITLES = {"three_models": "Plane through three models",
                     "random (filter-normalised)": "Random filter-normalised plane"}
OFF_PLANE_REL = 1e-3      # farther than this × the plane's extent: the model is drawn as off the plane


def slice_extent(slice2d) -> float:
    """The larger side of the slice's (α, β) square: the scale for 'on / off the plane'."""
    a, b = np.asarray(slice2d.alphas, float), np.asarray(slice2d.betas, float)
    return float(max(np.ptp(a) if a.size else 0.0, np.ptp(b) if b.size else 0.0, _TINY))


def is_off_plane(distance, scale: float) -> bool:
    """True when ``distance`` from the plane exceeds ``OFF_PLANE_REL`` × ``scale``."""
    return distance is not None and np.isfinite(distance) and distance > OFF_PLANE_REL * scale


def slice_figure(slice2d, *, metric: str = "train_loss", log_scale: bool = True,
                 style: str = "heatmap", points: Mapping[str, Sequence[float]] | None = None,
                 point_colors: Mapping[str, str] | None = None,
                 paths: Mapping[str, np.ndarray] | None = None,
                 path_colors: Mapping[str, str] | None = None, geodesic=None,
                 title: str | None = None,
                 off_plane: Mapping[str, float] | None = None) -> go.Figure:
    """Heatmap or contour map of a ``Slice2D`` with projected models and paths on top.

    points : name -> (alpha, beta) of models projected onto the plane
    off_plane : name -> distance of the model from the plane; models farther than
        ``OFF_PLANE_REL`` × the plane's extent are drawn hollow, with the distance in the label
    paths : name -> array (K, 2) of projected path points (segments, fold-lines)
    geodesic : array (P, 2), the fast-marching geodesic drawn in white
    """
    if style not in ("heatmap", "contour"):
        raise ValueError(f"The 'style' argument must be 'heatmap' or 'contour'. Got {style!r} instead.")
    z, raw, label = _slice_grid(slice2d, metric, log_scale)
    common = dict(x=np.asarray(slice2d.alphas), y=np.asarray(slice2d.betas), z=z.T,
                  customdata=raw.T, name=label, colorscale="Viridis" if metric.endswith("loss") else "Viridis_r",
                  colorbar=dict(title=label),
                  hovertemplate="α=%{x:.3g}<br>β=%{y:.3g}<br>" + metric.replace("_", " ") +
                                "=%{customdata:.4g}<extra></extra>")
    fig = go.Figure(go.Heatmap(**common) if style == "heatmap" else
                    go.Contour(**common, contours=dict(coloring="heatmap"), ncontours=25))
    for name, xy in (paths or {}).items():
        xy = _array(xy, f"paths[{name!r}]", 2)
        color = (path_colors or {}).get(name, FOLD_COLOR if "fold" in name else SEGMENT_COLOR)
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines", name=name,
                                 line=dict(color=color, width=2,
                                           dash="dash" if "segment" in name else "solid"),
                                 hovertemplate=name + "<br>α=%{x:.3g}, β=%{y:.3g}<extra></extra>"))
    if geodesic is not None:
        g = _array(geodesic, "geodesic", 2)
        fig.add_trace(go.Scatter(x=g[:, 0], y=g[:, 1], mode="lines", name="fast-marching geodesic",
                                 line=dict(color="white", width=3),
                                 hovertemplate="geodesic<br>α=%{x:.3g}, β=%{y:.3g}<extra></extra>"))
    if points:
        names = list(points)
        cols = {n: (point_colors or {}).get(n, minimum_color(i)) for i, n in enumerate(names)}
        scale = slice_extent(slice2d)
        off = {n: float((off_plane or {}).get(n) or 0.0) for n in names}
        groups = (("models", [n for n in names if not is_off_plane(off[n], scale)], False),
                  ("models off the plane (projected)",
                   [n for n in names if is_off_plane(off[n], scale)], True))
        for trace_name, group, hollow in groups:
            if not group:
                continue
            xy = np.array([points[n] for n in group], float).reshape(-1, 2)
            text = [f"{n} ({off[n]:.3g} off the plane)" if hollow else n for n in group]
            marker = (dict(size=13, symbol="circle-open", color=[cols[n] for n in group],
                           line=dict(width=3)) if hollow else
                      dict(size=13, color=[cols[n] for n in group], line=dict(color="white", width=1.5)))
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", text=text,
                                     textposition="top center", name=trace_name, showlegend=False,
                                     textfont=dict(color="white"), marker=marker,
                                     hovertemplate="%{text}<br>α=%{x:.3g}, β=%{y:.3g}<extra></extra>"))
            # legend key in neutral grey: the markers themselves carry each model's own colour
            fig.add_trace(go.Scatter(
                x=[None], y=[None], mode="markers", hoverinfo="skip",
                name="model off the plane (hollow: projection)" if hollow else "model on the plane",
                marker=dict(size=11, color="#888888", symbol="circle-open" if hollow else "circle",
                            line=dict(width=2.5 if hollow else 1, color="#888888"))))
    _style(fig, title or f"{SLICE_KIND_TITLES.get(getattr(slice2d, 'kind', ''), 'Loss slice')}: {label}",
           "α (coordinate along u)", "β (coordinate along v)", height=560)
    fig.update_xaxes(range=[float(np.min(slice2d.alphas)), float(np.max(slice2d.alphas))])
    fig.update_yaxes(range=[float(np.min(slice2d.betas)), float(np.max(slice2d.betas))])
    if getattr(slice2d, "kind", "") == "three_models":     # true distances: keep the aspect
        fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
        fig.update_xaxes(constrain="domain")
    return fig


def slice_surface_figure(slice2d, *, metric: str = "train_loss", log_scale: bool = True,
                         points: Mapping[str, Sequence[float]] | None = None,
                         point_colors: Mapping[str, str] | None = None,
                         title: str | None = None) -> go.Figure:
    """3-D surface of a ``Slice2D``; models are drawn at the value of their nearest grid node."""
    z, raw, label = _slice_grid(slice2d, metric, log_scale)
    alphas, betas = np.asarray(slice2d.alphas, float), np.asarray(slice2d.betas, float)
    fig = go.Figure(go.Surface(x=alphas, y=betas, z=z.T, customdata=raw.T, colorscale="Viridis",
                               colorbar=dict(title=label), name=label,
                               hovertemplate="α=%{x:.3g}<br>β=%{y:.3g}<br>value=%{customdata:.4g}"
                                             "<extra></extra>"))
    if points:
        names = list(points)
        xy = np.array([points[n] for n in names], float).reshape(-1, 2)
        ia = np.abs(alphas[None, :] - xy[:, :1]).argmin(1)
        ib = np.abs(betas[None, :] - xy[:, 1:]).argmin(1)
        cols = [(point_colors or {}).get(n, minimum_color(i)) for i, n in enumerate(names)]
        # labels only in the hover: text on a 3-D surface is hidden by it or overlaps
        fig.add_trace(go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=z[ia, ib], mode="markers",
                                   text=names, name="models", marker=dict(size=6, color=cols),
                                   hovertemplate="%{text}<br>α=%{x:.3g}, β=%{y:.3g}<extra></extra>"))
    _style(fig, title or f"Loss surface: {label}", height=620)
    fig.update_layout(scene=dict(xaxis_title="α", yaxis_title="β", zaxis_title=label,
                                 domain=dict(x=[0.04, 0.9], y=[0.04, 0.96])),
                      margin=dict(l=40, r=40, b=50))
    return fig
