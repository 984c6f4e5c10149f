"""Home: what the tool is, the device, the cache, and the paper's Figure 1 computed on arrival."""
import streamlit as st

st.set_page_config(page_title="Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402  (set_page_config must come first)
from landscape_core.refs import N_POINTS  # noqa: E402
from ui import calls, defaults, jobs, minima, state, widgets  # noqa: E402
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

preset = state.selection()["preset"]
st.subheader("The paper's Figure 1: a straight segment and a fold-line between two minima")
ms, center_ref = defaults.prepare(exp, spec, uploads, "home", preset=preset)
center_ref = calls.fitted(center_ref, root)
if ms.n >= 2:
    res = guarded("Paths", calls.pair_paths, exp.model, exp.data, ms.keys[0], ms.keys[1], center_ref,
                  N_POINTS, root)
    profiles = [p for p in (res["segment"], res["fold_line"]) if p is not None]
    fig = figures.path_profile_figure(profiles, title=f"Train loss and accuracy from {ms.names[0]} "
                                                      f"(t = 0) to {ms.names[1]} (t = 1)")
    widgets.chart(fig, "home_figure1", "home.segment",
                  caption="Two independently trained minima: the straight segment between them "
                          "(orange) climbs a loss barrier, while the two-piece fold-line through the "
                          "center θ* (blue, θ* at t = 0.5) stays low. "
                          + widgets.provenance(center_ref=center_ref, n_points=N_POINTS,
                                               bn_policy=profiles[0].bn_policy,
                                               barrier="the paper's (max loss, min accuracy)"),
                  explain="The straight segment (1 − t)·θ_a + t·θ_b leaves one minimum at t = 0 and "
                          "reaches the other at t = 1; in between the loss usually rises (a "
                          "**barrier**). The center θ* was fitted so that the segments from it to "
                          "every minimum stay low (the paper's Eq. 6–7): one θ* joins all of them, a "
                          "*star*. See *Paths and barriers* for every pair and the NGD, *Star* for "
                          "held-out minima.")
