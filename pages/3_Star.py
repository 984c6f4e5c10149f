"""Star: fit a center θ* to chosen feet; star diagram, spoke profiles, held-out minima, Table-1 rows."""
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Star · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402
from landscape_core.refs import N_POINTS, CenterRef  # noqa: E402
from landscape_core.recipes import describe  # noqa: E402
from ui import calls, defaults, jobs, minima, state, widgets  # noqa: E402
from ui.state import ALIGN_CHOICES  # noqa: E402
from ui.errors import guarded  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Star-shaped connectivity")
st.markdown("A **center** θ* is fitted to the *feet* θ₁, θ₂, … by minimising the mean loss along the "
            "segments θᵢ — θ* (the paper's Eq. 6–7). Minima left out of the fit (*held-out*) test "
            "whether the same θ* also reaches new minima.")
preset = state.selection()["preset"]
ms, _ = defaults.prepare(exp, spec, uploads, "star_minima", preset=preset, center=False)
if ms.n < 2:
    st.info("This page needs at least two minima: train them on the *Minima* page.")
    st.stop()

default = list(ms.names[:-1] if ms.n >= 4 else ms.names)
feet_names = st.multiselect("Feet θᵢ used to fit θ*", ms.names, default=default, key="star.feet")
held_names = [n for n in ms.names if n not in feet_names]
st.caption("Held-out minima: " + (", ".join(held_names) if held_names else "none (train more minima "
                                                                           "to test held-out minima)"))
if len(feet_names) < 2:
    st.error("Choose at least two feet.")
    st.stop()
feet_keys = tuple(ms.keys[ms.names.index(n)] for n in feet_names)
held_keys = tuple(ms.keys[ms.names.index(n)] for n in held_names)

center_ref = CenterRef(feet_keys, spec)
defaults.prepare(exp, spec, uploads, "star", preset=preset, feet=feet_keys)
if calls.fitted(center_ref, root) is None:
    st.info("No center for these feet and this recipe yet: press **Run** above.")
    st.stop()
st.caption(f"Center: {center_ref.label()}. Change the recipe in the sidebar; every page uses it.")

c1, c2, c3 = st.columns(3)
n_points = c1.slider("Points per straight piece", 5, 61, N_POINTS, step=2, key="star.n")
metric = c2.selectbox("Spoke colour", ["max_loss", "barrier_height"], key="star.metric",
                      format_func={"max_loss": "max train loss (paper)",
                                   "barrier_height": "barrier height (endpoint-corrected)"}.get)
method = c3.radio("Embedding", ["MDS", "PCA"], horizontal=True, key="star.method")
r = len(feet_keys)
order = {k: n for k, n in zip(feet_keys, feet_names)}
feet_names = [order[k] for k in center_ref.feet]          # the center's (sorted) foot order
est = guarded("Cost estimate", jobs.estimate, "evaluation", exp,
              n_points=(r * (r - 1) // 2) * (2 * n_points - 1 + n_points) + (r + len(held_keys)) * n_points)
st.markdown(jobs.cost_line(est))
report = guarded("Star report", calls.star_report, exp.model, exp.data, center_ref, held_keys,
                 tuple(feet_names), tuple(held_names), n_points, root)
if report.quality_flag:
    st.warning(report.quality_flag)
emb = guarded("Embedding", calls.star_embedding, center_ref, held_keys, method, root)
recipe_line = widgets.provenance(center_ref=center_ref, n_points=n_points, bn_policy=report.bn_policy,
                                 barrier="the paper's (max loss, min accuracy along the path)")
colors = {n: c for n, c in zip(ms.names, ms.colors())}
fig = figures.star_figure(
    emb["xy"][:r], emb["xy"][-1], feet_names, held_out_xy=emb["xy"][r:-1], held_out_names=held_names,
    spoke_values=[report.spokes[i].barriers()[metric] for i in range(r)],
    held_out_values=[report.held_out[n].barriers()[metric] for n in held_names],
    feet_colors=[colors[n] for n in feet_names], held_out_colors=[colors[n] for n in held_names],
    method=method, value_label={"max_loss": "max train loss along the spoke",
                                "barrier_height": "barrier height along the spoke"}[metric])
widgets.chart(fig, "star", "star.diagram",
         caption=(f"{'Metric MDS (SMACOF)' if method == 'MDS' else 'PCA (classical MDS)'} on the "
                  f"exact pairwise Euclidean distances of feet, held-out minima and θ*; the largest "
                  f"relative distance error of the 2-D picture is {emb['distortion']:.1%}. "
                  + recipe_line),
         explain="Each line is a *spoke* θᵢ — θ*, coloured by the loss barrier along it (dark blue = low, yellow = high). "
                 "A star means every spoke is low. Dashed spokes go to held-out minima that did not "
                 "take part in the fit: the paper does not test these; if they are high, θ* is a "
                 "center of its feet only. The 2-D positions only approximate distances in a space "
                 "of thousands of dimensions.")

spokes = list(report.spokes.values()) + list(report.held_out.values())
fig = figures.path_profile_figure(spokes, colors=[colors[n] for n in feet_names + held_names],
                                  names=[f"{n} → θ*" for n in feet_names + held_names],
                                  dashes=["solid"] * r + ["dash"] * len(held_names),
                                  title="Loss and accuracy along the spokes θᵢ → θ*",
                                  x_title="t  (t = 0: the minimum, t = 1: the center θ*)")
widgets.chart(fig, "spokes", "star.spokes",
         caption="One curve per foot (solid) and per held-out minimum (dashed), in that minimum's "
                 "colour. " + recipe_line,
         explain="If θ* is a center, every spoke stays at the minima's loss and accuracy from "
                 "t = 0 to t = 1 (linear connectivity to θ*, the paper's Definition 3).")

st.subheader("Table 1 form: mean over paths")
table = calls.barrier_table(report)
st.dataframe(table, hide_index=True, key="star.table")
st.caption(recipe_line + " · max_loss / min_acc: the paper's barriers (max train loss, min train accuracy along each "
           "path, averaged over pairs); barrier_height: endpoint-corrected; *_std: spread over paths.")

history = calls.center(center_ref, root).history
if len(history):
    fig = figures.history_figure(range(1, len(history) + 1), {"objective J(θ)": history},
                                 x_title="epoch (or logged chunk of steps)", y_title="mean objective",
                                 title="Center finding: training objective")
    widgets.chart(fig, "center_history", "star.history",
             caption="Mean minibatch objective of Eq. 6–7 while fitting θ*. " + recipe_line)

align = state.alignment()
if align != "none":
    st.subheader("Modulo permutation: three centers compared")
    st.caption(f"Every foot is aligned to the first foot ({ALIGN_CHOICES[align]}); then the paper's "
               "center of the raw feet, a center fitted (same recipe) to the aligned feet, and the plain "
               "average of the aligned feet (as in aligned model merging) are each evaluated on their own "
               "feet.")
    go = st.button("Compare the three centers", key="star.compare") or \
        st.session_state.get("star.compared") == (center_ref.key, align)
    if go:
        st.session_state["star.compared"] = (center_ref.key, align)
        comp = guarded("Three centers", calls.star_comparison, exp.model, exp.data, center_ref.feet, align,
                       spec, n_points, root)
        rows = [r for r in comp.table() if r["path"] in ("direct segment", "fold-line", "spoke")]
        frame = pd.DataFrame(rows)[["center", "path", "max_loss", "min_acc", "barrier_height"]]
        st.dataframe(frame.round(4), hide_index=True, key="star.compare_table")
        st.caption(f"Alignment: {comp.meta['alignment']}. Centers: {describe(spec)}. Direct segments "
                   "between aligned feet show how much of the barrier is only a relabelling; spokes and "
                   "fold-lines show which center reaches its feet at low loss. " + recipe_line)

