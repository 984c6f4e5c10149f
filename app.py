"""Landscape Explorer home page: what the tool is, the device, the cache, and a first chart."""
import streamlit as st

st.set_page_config(page_title="Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402  (set_page_config must come first)
from landscape_core.refs import N_POINTS, CenterRef  # noqa: E402
from ui import calls, jobs, minima, state, widgets  # noqa: E402
from ui.errors import guarded  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Landscape Explorer")
st.markdown(
    "Explore the loss landscapes of neural networks as in Lin, Li & Wu, *Exploring Neural Network "
    "Landscapes: Star-Shaped and Geodesic Connectivity* (arXiv 2404.06391). Independently trained "
    "minima θ₁, θ₂, … are usually separated by a loss **barrier** on the straight segment between "
    "them, yet a single **center** θ* joins them all by low-loss two-piece **fold-lines** "
    "θᵢ → θ* → θⱼ (a *star*). The path through θ* is barely longer than the segment: the "
    "**normalized geodesic distance** (NGD) tends to 1 as networks get wider.")
st.markdown(
    "**Pages:** *Minima* (train or upload) · *Paths and barriers* (segment vs fold-line, NGD) · "
    "*Star* (fit a center, star diagram) · *Loss slices* (2-D planes, geodesics) · "
    "*Geodesic vs width* (sweeps) · *Theory* (teacher-student bounds) · *Paper reproduction*. "
    "Choose the experiment and the center recipe in the sidebar; the URL keeps the selection so a "
    "view can be shared.")

c1, c2 = st.columns(2)
c1.metric("Device", jobs.device_label())
c2.markdown(f"**Cache:** `{root}`  \n" + widgets.cache_summary(widgets.cache_status(root))
            + "  \nResults are written here as they finish; a reload or another tab finds them.")

ms = minima.minima_set(exp, uploads)
center_ref = calls.fitted(CenterRef(ms.keys, spec), root) if ms.n >= 2 else None
st.subheader("A first look: loss along a straight segment" + (" and a fold-line" if center_ref else ""))
if ms.n >= 2:
    res = guarded("Paths", calls.pair_paths, exp.model, exp.data, ms.keys[0], ms.keys[1], center_ref,
                  N_POINTS, root)
    profiles = [p for p in (res["segment"], res["fold_line"]) if p is not None]
    what = f"between the trained minima {ms.names[0]} and {ms.names[1]}"
    caption = widgets.provenance(center_ref=center_ref if res["fold_line"] is not None else None,
                                 n_points=N_POINTS, bn_policy=profiles[0].bn_policy)
else:
    profiles = [guarded("Segment", calls.init_segment, exp.model, exp.data, N_POINTS)]
    what = "between two random initialisations (no trained minima for this selection yet)"
    caption = f"{N_POINTS} points along the segment; train loss (log scale) and accuracy."
fig = figures.path_profile_figure(profiles, title=f"Loss along the path {what}")
widgets.chart(fig, "home_segment", "home.segment", caption=caption,
              explain="The straight segment (1 − t)·θ_a + t·θ_b leaves one model at t = 0 and reaches "
                      "the other at t = 1. Between two *independently trained minima* the loss usually "
                      "rises in the middle: a **barrier**. The paper shows that a bent path through a "
                      "well-chosen center θ* avoids it; see *Paths and barriers* and *Star*.")

if ms.missing_seeds:
    est = guarded("Cost estimate", jobs.estimate, "training", exp, n_minima=len(ms.missing_seeds))
    st.markdown(jobs.cost_line(est))
    b1, b2 = st.columns([3, 1])
    should_stop = jobs.stop_button("home", b2)
    if b1.button(f"Train the {len(ms.missing_seeds)} missing minima of this selection",
                 key="home.train", type="primary"):
        if guarded("Training", minima.train_missing, exp, "home", should_stop, stop=False) is not None:
            st.rerun()
else:
    st.success(f"All {ms.n} minima of this selection are trained: open *Paths and barriers* "
               "or *Star* next.")
