"""Charts with captions, teaching notes and downloads; the cache summary line."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from landscape_core import figures


def figure_png(fig) -> bytes:
    """PNG bytes through kaleido (needs a Chromium; errors propagate to the caller)."""
    return fig.to_image(format="png", width=1100, height=int(fig.layout.height or 500), scale=2)


def downloads(fig, name: str, key: str, data=None) -> None:
    """HTML / PNG / CSV / JSON download buttons for a figure and its data (full precision).

    ``data``: a DataFrame or list of records; default: every trace's points (``figure_data``).
    """
    records = data if data is not None else figures.figure_data(fig)
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("HTML (interactive)", lambda: fig.to_html(include_plotlyjs=True), f"{name}.html",
                       "text/html", key=f"{key}.html", on_click="ignore")
    c3.download_button("Data (CSV)", lambda: frame.to_csv(index=False), f"{name}.csv", "text/csv",
                       key=f"{key}.csv", on_click="ignore")
    c4.download_button("Data (JSON)", lambda: frame.to_json(orient="records", indent=1),
                       f"{name}.json", "application/json", key=f"{key}.json", on_click="ignore")
    if c2.button("PNG", key=f"{key}.png", help="Render a static PNG (takes a few seconds)."):
        try:
            png = figure_png(fig)
        except Exception as exc:   # noqa: BLE001 - kaleido/Chromium problems must not break the page
            st.warning(f"PNG export failed ({type(exc).__name__}). Use the HTML download or the "
                       "camera icon in the chart's toolbar instead.")
        else:
            c2.download_button("Save PNG", png, f"{name}.png", "image/png", key=f"{key}.png_dl",
                               on_click="ignore")


def chart(fig, name: str, key: str, *, caption: str = "", explain: str = "", data=None) -> None:
    """Show a figure with its caption (the recipe of its numbers), a teaching note and downloads."""
    st.plotly_chart(fig, key=f"{key}.chart")
    if caption:
        st.caption(caption)
    if explain:
        with st.expander("What am I looking at?"):
            st.markdown(explain)
    downloads(fig, name, key, data)


_NOUNS = {"minimum": ("minimum", "minima"), "center": ("center", "centers"),
          "reproduce": ("reproduction result", "reproduction results"),
          "sweep_point": ("sweep point", "sweep points")}
_ORDER = ("minimum", "center", "sweep_point", "reproduce")


def cache_status(root: str) -> dict:
    """Number of cached entries per kind (minimum, center, ...)."""
    folder = Path(root)
    if not folder.is_dir():
        return {}
    return {p.name: len(list(p.glob("*.safetensors"))) for p in sorted(folder.iterdir()) if p.is_dir()}


def cache_summary(status: dict) -> str:
    """'3 minima · 1 center' from ``cache_status()``; 'empty' when nothing is cached."""
    kinds = sorted(status, key=lambda k: (_ORDER.index(k) if k in _ORDER else 99, k))
    parts = []
    for kind in kinds:
        n = int(status[kind])
        if n:
            one, many = _NOUNS.get(kind, (kind.replace("_", " "), kind.replace("_", " ") + " entries"))
            parts.append(f"{n} {one if n == 1 else many}")
    return " · ".join(parts) or "empty"


def provenance(*, center_ref=None, n_points: int | None = None, bn_policy: str | None = None,
               barrier: str | None = None, extra: str = "") -> str:
    """The recipe line printed beside numbers: center, barrier definition, BatchNorm, points."""
    parts = []
    if center_ref is not None:
        parts.append(f"center: {center_ref.label()}")
    if barrier:
        parts.append(f"barrier: {barrier}")
    if bn_policy:
        parts.append(f"BatchNorm: {bn_policy}")
    if n_points:
        parts.append(f"{n_points} points per straight piece")
    if extra:
        parts.append(extra)
    return "Recipe · " + " · ".join(parts)
