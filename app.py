"""Landscape Explorer home page: what the tool is, the device, the cache, and a first chart."""
import streamlit as st

st.set_page_config(page_title="Landscape Explorer", page_icon="⛰️", layout="wide")

import ui_common as ui  # noqa: E402  (set_page_config must come first)
from landscape_core import figures  # noqa: E402

exp = ui.experiment_sidebar()
st.title("Landscape Explorer")
st.markdown(
    "Explore the loss landscapes of neural networks as in Lin, Li & Wu, *Exploring Neural Network "
    "Landscapes: Star-Shaped and Geodesic Connectivity* (arXiv 2404.06391). Independently trained "
    "minima θ₁, θ₂, … are usually separated by a loss **barrier** on the straight segment between "
    "them, yet a single **center** θ* joins them all by low-loss two-piece **fold-lines** "
    "θᵢ → θ* → θⱼ (a *star*). The path through θ* is barely longer than the segment: the "
    "**normalized geodesic distance** (NGD) tends to 1 as networks get wider.")
st.markdown(
    "**Pages:** *Minima* (train or upload) · *Paths and barriers* (segment vs fold-line) · "
    "*Star* (fit a center, star diagram) · *Loss slices* (2-D planes, geodesics) · "
    "*Geodesic vs width* (sweeps) · *Theory* (teacher-student bounds) · *Paper reproduction*. "
    "Choose the experiment in the sidebar; the URL keeps the selection so a view can be shared.")

c1, c2 = st.columns(2)
c1.metric("Device", ui.device_label())
status = ui.cache_status()
c2.markdown(f"**Cache:** `{ui.cache_root()}`  \n" + (
    ui.cache_summary(status))
    + "  \nResults are written here as they finish; a reload or another tab finds them.")

ms = ui.minima_set(exp)
st.subheader("A first look: loss along a straight segment")
if ms.n >= 2:
    res = ui.run_core("Segment", ui.pair_paths, exp.model, exp.data, ms.keys[0], ms.keys[1], None,
                      21, ui.cache_root())
    profile, what = res["segment"], f"between the trained minima {ms.names[0]} and {ms.names[1]}"
else:
    profile = ui.run_core("Segment", ui.init_segment, exp.model, exp.data, 21)
    what = "between two random initialisations (no trained minima for this selection yet)"
fig = figures.path_profile_figure([profile], title=f"Loss along the segment {what}")
ui.chart(fig, "home_segment", "home.segment",
         caption=f"Train loss (log scale) and accuracy at 21 points of the segment {what}.",
         explain="The straight segment (1 − t)·θ_a + t·θ_b leaves one model at t = 0 and reaches "
                 "the other at t = 1. Between two *independently trained minima* the loss usually "
                 "rises in the middle: a **barrier**. The paper shows that a bent path through a "
                 "well-chosen center θ* avoids it; see *Paths and barriers* and *Star*.")

if ms.missing_seeds:
    passes, secs = ui.run_core("Cost estimate", ui.training_cost, exp, len(ms.missing_seeds))
    st.markdown(ui.cost_text(f"training {len(ms.missing_seeds)} minima", passes, secs))
    b1, b2 = st.columns([3, 1])
    should_stop = ui.stop_button("home", b2)
    if b1.button(f"Train the {len(ms.missing_seeds)} missing minima of this selection",
                 key="home.train", type="primary"):
        if ui.run_core("Training", ui.train_minima, exp, "home", should_stop, stop=False) is not None:
            st.rerun()
else:
    st.success(f"All {ms.n} minima of this selection are trained: open *Paths and barriers* "
               "or *Star* next.")
