"""Exporting a figure's data as long-form records (for CSV/JSON)."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go


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
