"""Pure figure builders: numpy arrays and result objects in, ``plotly.graph_objects.Figure`` out.

The only module of the core that imports plotly. Builders do no I/O, import neither torch nor
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
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

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


# ------------------------------------------------------------------------------- path profiles
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
    fig.update_yaxes(title_text=f"{split} loss", row=1, col=1,
                     type="log" if log_loss and _positive(*losses) else "linear")
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


# ----------------------------------------------------------------------------------------- star
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


# --------------------------------------------------------------------------------------- slices
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


# ------------------------------------------------------------------------- sweeps and theory
def mean_std_figure(x, series: Mapping[str, tuple], *, x_title: str, y_title: str,
                    title: str, log_x: bool = False, log_y: bool = False,
                    points: Mapping[str, tuple] | None = None, ref_line: float | None = None,
                    ref_label: str = "", colors: Mapping[str, str] | None = None) -> go.Figure:
    """Lines of means with ±1 std error bars against x; optional raw points per series.

    series : label -> (mean (n,), std (n,) or None)
    points : label -> (x_points, y_points), e.g. one value per pair of minima
    """
    xs = list(x)
    categorical = any(not isinstance(v, (int, float, np.integer, np.floating)) for v in xs)
    fig = go.Figure()
    for k, (label, (mean, std)) in enumerate(series.items()):
        color = (colors or {}).get(label, PALETTE[k % len(PALETTE)])
        err = None if std is None else dict(type="data", array=np.asarray(std, float), visible=True)
        fig.add_trace(go.Scatter(x=xs, y=np.asarray(mean, float), error_y=err, mode="lines+markers",
                                 name=label, line=dict(color=color),
                                 hovertemplate="%{x}: %{y:.4g}<extra>" + label + "</extra>"))
        if points and label in points:
            px, py = points[label]
            fig.add_trace(go.Scatter(x=list(px), y=np.asarray(py, float), mode="markers",
                                     name=f"{label} (each pair)", showlegend=False, opacity=0.45,
                                     marker=dict(color=color, size=6, symbol="circle-open"),
                                     hovertemplate="%{x}: %{y:.4g}<extra>one pair</extra>"))
    if ref_line is not None:
        # label at the left end, under the line: the right end is where the last error bar sits
        fig.add_hline(y=ref_line, line=dict(color="#555555", dash="dot"), annotation_text=ref_label,
                      annotation_position="bottom left")
    _style(fig, title, x_title, y_title)
    if categorical:
        fig.update_xaxes(type="category")
    elif log_x:
        fig.update_xaxes(type="log", tickmode="array", tickvals=xs, ticktext=[f"{v:g}" for v in xs])
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def ngd_tradeoff_figure(rows: Sequence[Mapping], *, quoted: int | None = None,
                        title: str = "NGD bound against fold-line quality over λ") -> go.Figure:
    """Two panels over lambda: the NGD upper bound U (left) and the fold-line's quality (right:
    min train accuracy for classification, else max train loss); the quoted point ringed."""
    lams = [float(r["lam"]) for r in rows]
    acc = all(r.get("fold_min_acc") is not None for r in rows)
    quality = [r["fold_min_acc"] if acc else r["fold_max_loss"] for r in rows]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("NGD upper bound U", "fold-line min train accuracy" if acc
                                        else "fold-line max train loss"))
    fig.add_trace(go.Scatter(x=lams, y=[r["ngd_bound"] for r in rows], mode="lines+markers",
                             name="U(θ*)", line=dict(color=FOLD_COLOR),
                             hovertemplate="λ = %{x:g}: U = %{y:.4f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=lams, y=quality, mode="lines+markers", name="fold-line",
                             line=dict(color=SEGMENT_COLOR),
                             hovertemplate="λ = %{x:g}: %{y:.4g}<extra></extra>"), row=1, col=2)
    if quoted is not None:
        for col, y in ((1, rows[quoted]["ngd_bound"]), (2, quality[quoted])):
            fig.add_trace(go.Scatter(x=[lams[quoted]], y=[y], mode="markers", name="quoted point",
                                     showlegend=col == 1, marker=dict(size=16, color="rgba(0,0,0,0)",
                                                                      line=dict(color=CENTER_COLOR, width=2)),
                                     hoverinfo="skip"), row=1, col=col)
    fig.add_hline(y=1.0, line=dict(color="#555555", dash="dot"), row=1, col=1)
    _style(fig, title, None, None)
    fig.update_xaxes(type="log", title_text="λ (distance penalty)", tickvals=lams,
                     ticktext=[f"{v:g}" for v in lams])
    if acc:
        fig.update_yaxes(tickformat=".1%", row=1, col=2)
    elif _positive(quality):
        fig.update_yaxes(type="log", row=1, col=2)
    return fig


SWEEP_SERIES = {
    "ngd": {"NGD upper bound U(θ*)": "ngd_bound"},
    "distance": {"‖θᵢ − θⱼ‖₂": "euclidean"},
    "max_loss": {"direct segment": "segment_max_loss", "fold-line": "fold_max_loss"},
    "min_acc": {"direct segment": "segment_min_acc", "fold-line": "fold_min_acc"},
    "barrier_height": {"direct segment": "segment_barrier_height",
                       "fold-line": "fold_barrier_height"},
}
SWEEP_Y_TITLES = {"ngd": "NGD upper bound U", "distance": "Euclidean distance ‖θᵢ − θⱼ‖₂",
                  "max_loss": "max train loss along the path (paper's barrier)",
                  "min_acc": "min train accuracy along the path (paper's barrier)",
                  "barrier_height": "endpoint-corrected loss barrier height"}


FIELD_LABELS = {"model.width": "width (hidden units)", "model.depth": "depth (hidden layers)",
                "model.activation": "activation", "model.init_scale": "init scale",
                "model.arch": "architecture", "train.weight_decay": "weight decay",
                "train.lr": "learning rate", "train.epochs": "epochs", "train.batch_size": "batch size",
                "train.optimizer": "optimizer", "data.n_train": "training examples"}


def field_label(field: str) -> str:
    """Readable name of an experiment setting: 'model.width' -> 'width (hidden units)'."""
    return FIELD_LABELS.get(field, field.split(".")[-1].replace("_", " "))


def sweep_figure(summary: Sequence[Mapping], rows: Sequence[Mapping] | None = None, *, field: str,
                 quantity: str = "ngd", log_x: bool = False) -> go.Figure:
    """One quantity of a sweep (``SweepResult.summary()`` rows) against the swept setting.

    quantity : key of ``SWEEP_SERIES``: "ngd", "distance", "max_loss", "min_acc", "barrier_height".
    Means with ±1 std across pairs; ``rows`` (one per value and pair) adds the raw points.
    """
    if quantity not in SWEEP_SERIES:
        raise ValueError(f"The 'quantity' argument must be one of {sorted(SWEEP_SERIES)}. "
                         f"Got {quantity!r} instead.")
    summary = list(summary)
    x = [s["value"] for s in summary]
    series, points, colors = {}, {}, {}
    for label, key in SWEEP_SERIES[quantity].items():
        if not summary or f"{key}_mean" not in summary[0]:
            continue
        series[label] = ([s[f"{key}_mean"] for s in summary], [s.get(f"{key}_std", 0.0) for s in summary])
        colors[label] = (FOLD_COLOR if "fold" in key or key == "ngd_bound" else
                         SEGMENT_COLOR if "segment" in key else "#555555")
        if rows:
            points[label] = ([r["value"] for r in rows], [r[key] for r in rows])
    log_y = quantity == "max_loss" and all(_positive(m) for m, _ in series.values())
    fig = mean_std_figure(x, series, x_title=field_label(field), y_title=SWEEP_Y_TITLES[quantity],
                          title=f"{SWEEP_Y_TITLES[quantity]} vs {field_label(field)} (mean ± std over pairs)",
                          log_x=log_x, log_y=log_y, points=points or None, colors=colors,
                          ref_line=1.0 if quantity == "ngd" else None,
                          ref_label="NGD = 1 (straight segment)" if quantity == "ngd" else "")
    if quantity == "min_acc":
        fig.update_yaxes(tickformat=".0%")
    return fig


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
        fig.update_yaxes(type="log")
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
        fig.update_yaxes(type="log")
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return fig


# ----------------------------------------------------------------------------------- exporting
def figure_data(fig: go.Figure) -> list[dict]:
    """Long-form records of every trace's data (for CSV/JSON export).

    One record per point: ``trace``, ``x``, ``y`` (and ``z`` for heatmaps, contours and
    surfaces, flattened with their x/y coordinates). Traces without data are skipped.
    """
    records: list[dict] = []
    for k, tr in enumerate(fig.data):
        name = tr.name or f"trace {k}"
        z = getattr(tr, "z", None)
        if z is not None and getattr(tr, "type", "") in ("heatmap", "contour", "surface"):
            z = np.asarray(z, dtype=object)
            xs = list(tr.x) if tr.x is not None else list(range(z.shape[1]))
            ys = list(tr.y) if tr.y is not None else list(range(z.shape[0]))
            for i, yv in enumerate(ys):
                for j, xv in enumerate(xs):
                    records.append({"trace": name, "x": _plain(xv), "y": _plain(yv),
                                    "z": _plain(z[i, j])})
            continue
        x, y = getattr(tr, "x", None), getattr(tr, "y", None)
        if y is None:
            continue
        xs = list(x) if x is not None else list(range(len(y)))
        zs = list(z) if z is not None else None
        for i, (xv, yv) in enumerate(zip(xs, y)):
            if xv is None and yv is None:
                continue
            rec = {"trace": name, "x": _plain(xv), "y": _plain(yv)}
            if zs is not None:
                rec["z"] = _plain(zs[i])
            records.append(rec)
    return records


def _plain(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return None if math.isnan(v) else v
    if isinstance(v, np.integer):
        return int(v)
    return v


__all__ = [
    "PALETTE", "CENTER_COLOR", "SEGMENT_COLOR", "FOLD_COLOR", "minimum_color",
    "path_profile_figure", "matrix_figure", "distance_matrix_figure", "barrier_matrices_figure",
    "star_figure", "slice_figure", "slice_surface_figure", "mean_std_figure", "sweep_figure",
    "SWEEP_SERIES", "connectivity_figure", "neuron_norms_figure", "history_figure",
    "paper_comparison_figure", "figure_data",
]
