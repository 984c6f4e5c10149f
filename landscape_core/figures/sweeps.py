"""Sweeps: means with std error bars against a setting, and the NGD / fold-line trade-off over lambda."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import CENTER_COLOR, FOLD_COLOR, PALETTE, SEGMENT_COLOR, _positive, _style


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
