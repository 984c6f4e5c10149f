"""Loss slices: the plane through three models, or a random filter-normalised plane; geodesics."""
import math

import pandas as pd
import streamlit as st

st.set_page_config(page_title="Loss slices · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import cost, figures  # noqa: E402
from landscape_core.geodesic import bottleneck_level, slice_geodesic  # noqa: E402
from landscape_core.refs import CenterRef  # noqa: E402
from ui import calls, defaults, jobs, minima, state, widgets  # noqa: E402
from ui.errors import guarded  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Loss slices")
ms, _ = defaults.prepare(exp, spec, uploads, "slices", preset=state.selection()["preset"])
center_ref = calls.fitted(CenterRef(ms.keys, spec), root) if ms.n >= 2 else None
if center_ref is None:
    st.caption("The center θ* of all minima with the sidebar's recipe is not fitted yet; the slice "
               "shows minima only.")
else:
    st.caption(f"center θ* = {center_ref.label()}")
refs = {**dict(zip(ms.names, ms.keys)), **({"center θ*": center_ref} if center_ref else {})}
names = list(refs)
MAX_RES = math.isqrt(cost.MAX_SLICE_POINTS)          # the core's limit, not a page's own

modes = ["plane through three models", "random filter-normalised plane around one minimum"]
mode = st.radio("Plane", modes, horizontal=True, key="slices.mode",
                index=0 if len(names) >= 3 else 1)
c1, c2, c3 = st.columns(3)
resolution = c1.number_input("Resolution (grid points per axis)", 3, MAX_RES, 21, key="slices.res",
                             help=f"At most {MAX_RES} × {MAX_RES} = {cost.MAX_SLICE_POINTS:,} points, "
                                  "the library's pre-flight limit.")
style = c2.radio("Map", ["heatmap", "contour"], horizontal=True, key="slices.style")
log_scale = c3.checkbox("log₁₀ loss", True, key="slices.log")
if mode == modes[0]:
    if len(names) < 3:
        st.error("A plane through three models needs three of them (minima or the center θ*).")
        st.stop()
    cols = st.columns(4)
    default = [0, 1, names.index("center θ*") if "center θ*" in names else 2]
    chosen = [cols[k].selectbox(f"Model {'ABC'[k]}", names, index=default[k], key=f"slices.p{k}")
              for k in range(3)]
    margin = cols[3].slider("Margin", 0.0, 1.0, 0.25, key="slices.margin")
    if len(set(chosen)) < 3:
        st.error("Choose three different models.")
        st.stop()
    current = {"mode": mode, "resolution": int(resolution), "chosen": tuple(chosen), "margin": margin}
else:
    c1, c2, c3 = st.columns(3)
    origin = c1.selectbox("Minimum at the origin", ms.names, key="slices.origin")
    seed = c2.number_input("Direction seed", 0, 10_000, 0, key="slices.seed")
    span = c3.number_input("Half-width of the square (α, β ∈ [−s, s])", 0.01, 100.0, 1.0,
                           key="slices.span")
    current = {"mode": mode, "resolution": int(resolution), "origin": origin, "seed": int(seed),
               "span": float(span)}

est = guarded("Cost estimate", jobs.estimate, "slice", exp, resolution=int(resolution))
applied = st.session_state.get("slices.applied")
if applied is None and est.seconds <= defaults.AUTO_SECONDS:
    applied = current                                  # first load: cheap defaults at once
b1, b2 = st.columns([3, 1])
b2.markdown(jobs.cost_line(est))
if b1.button("Compute the slice", key="slices.run", type="primary"):
    applied = current
if applied is None or any(n not in refs for n in applied.get("chosen", ())) or \
        applied.get("origin", ms.names[0]) not in ms.names:
    st.info("Press **Compute the slice** to evaluate the loss on this plane.")
    st.stop()
st.session_state["slices.applied"] = applied
if applied != current:
    st.caption("The settings above changed: the chart still shows the last computed slice; press "
               "**Compute the slice** to update it.")
if applied["mode"] == modes[0]:
    chosen = list(applied["chosen"])
    res = guarded("Slice", calls.plane_slice, exp.model, exp.data, tuple(refs[n] for n in chosen),
                  tuple(chosen), tuple(refs.values()), tuple(names), applied["resolution"],
                  applied["margin"], root)
else:
    origin = applied["origin"]
    res = guarded("Slice", calls.random_plane, exp.model, exp.data, refs[origin], origin,
                  applied["seed"], applied["span"], applied["resolution"], root)
mode = applied["mode"]

sl, points = res["slice"], res["points"]
shown = [n for n in (chosen if mode == modes[0] else []) if n in ms.names]
paths = calls.projected_paths(points, shown, "center θ*" if center_ref else None)
colors = {**dict(zip(ms.names, ms.colors())), "center θ*": figures.CENTER_COLOR}

geodesic = None
with st.expander("Fast-marching geodesic on the slice"):
    candidates = [n for n in points if calls.in_grid(sl, points[n])]
    if len(candidates) >= 2:
        g1, g2, g3 = st.columns(3)
        start = g1.selectbox("From", candidates, key="slices.g_start")
        end = g2.selectbox("To", candidates, index=1, key="slices.g_end")
        level = bottleneck_level(sl, points[start], points[end])
        st.caption(f"Lowest loss level joining them in this plane: {level:.4g} (the barrier within "
                   "the slice, at grid resolution); ε defaults to 5% above it.")
        eps = g3.number_input("Loss level ε (free region: loss ≤ ε)", 0.0, 1e6, 1.05 * level,
                              format="%.4g", key=f"slices.eps.{start}.{end}")
        if st.checkbox("Draw the geodesic", key="slices.geo") and start != end:
            geo = guarded("Geodesic", slice_geodesic, sl, points[start], points[end], epsilon=eps,
                          stop=False)
            if geo is not None and geo.reachable:
                geodesic = geo.path
                st.metric("Length / straight distance inside the slice (NGD bound at level ε)",
                          f"{geo.ngd_bound:.4f}")
            elif geo is not None:
                st.warning(f"{end} cannot be reached from {start} inside loss ≤ {eps:.4g}: raise ε.")
        st.caption("Shortest path inside {loss ≤ ε} of this plane (scikit-fmm); an upper bound on "
                   "the NGD at level ε only up to the grid resolution.")
    else:
        st.caption("Needs two models inside the slice's grid.")

value_label = "log₁₀ train loss" if log_scale else "train loss"
plane_title = (f"Plane through {chosen[0]}, {chosen[1]} and {chosen[2]}" if mode == modes[0]
               else f"Random filter-normalised plane around {origin}")
fig = figures.slice_figure(sl, log_scale=log_scale, style=style, points=points, point_colors=colors,
                           paths=paths, geodesic=geodesic, off_plane=res["off_plane"],
                           title=f"{plane_title}: {value_label}")
widgets.chart(fig, "slice", "slices.map",
         caption=widgets.provenance(center_ref=center_ref, bn_policy=sl.bn_policy) + ". "
                 "Train loss on the plane. Models off the plane are drawn hollow at their orthogonal "
                 "projection, with their distance from the plane: the loss under a hollow marker is "
                 "not that model's loss. Orange dashed: straight segments; blue: fold-lines through θ*.",
         explain="A 2-D slice shows the loss at origin + α·u + β·v. Through three models, u and v "
                 "are orthonormal, so α and β are true parameter-space distances. Li et al.'s "
                 "random plane uses filter-normalised Gaussian directions instead (units are "
                 "relative to the weights' own scale). Valleys joining minima through θ* are the "
                 "star of the paper, seen in one plane.")
fig3d = figures.slice_surface_figure(sl, log_scale=log_scale, points=points, point_colors=colors,
                                     title=f"{plane_title}: {value_label} as a surface")
widgets.chart(fig3d, "slice_surface", "slices.surface",
         caption="The same slice as a 3-D surface; hover a marker for the model's name.")
extent = figures.slice_extent(sl)


def _rounded(d):
    """4 significant digits; 0 below 1e-6 of the plane's extent (round-off)."""
    if d is None:
        return None
    return 0.0 if abs(d) < 1e-6 * extent else float(f"{d:.4g}")


st.dataframe(pd.DataFrame([{"model": n, "α": _rounded(a), "β": _rounded(b),
                            "distance from the plane": _rounded(res["off_plane"].get(n)),
                            "on the plane": not figures.is_off_plane(res["off_plane"].get(n), extent)}
                           for n, (a, b) in points.items()]), hide_index=True, key="slices.points")
