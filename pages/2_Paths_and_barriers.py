"""Paths and barriers: straight segment vs fold-line through the center; the NGD of a pair."""
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Paths and barriers · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import BARRIER_DEFINITIONS, figures  # noqa: E402
from landscape_core.checks import center_quality_flag  # noqa: E402
from landscape_core.recipes import NGD_LAMBDAS, recipe_spec  # noqa: E402
from landscape_core.refs import N_POINTS, CenterRef  # noqa: E402
from ui import calls, defaults, jobs, minima, state, widgets  # noqa: E402
from ui.state import ALIGN_CHOICES  # noqa: E402
from ui.errors import guarded  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Paths and barriers")
ms, _ = defaults.prepare(exp, spec, uploads, "paths", preset=state.selection()["preset"])
center_ref = CenterRef(ms.keys, spec)              # the star center of all minima, this recipe
fitted = calls.fitted(center_ref, root) is not None
st.caption(f"Center: {center_ref.label()}" + ("" if fitted else " (not fitted yet: press Run above)")
           + ". Change the recipe in the sidebar; every page uses it.")

c1, c2, c3, c4 = st.columns(4)
i = c1.selectbox("θᵢ (t = 0)", range(ms.n), format_func=lambda k: ms.names[k], key="paths.i")
j = c2.selectbox("θⱼ (t = 1)", range(ms.n), index=1, format_func=lambda k: ms.names[k], key="paths.j")
n_points = c3.slider("Points per straight piece", 5, 101, N_POINTS, step=2, key="paths.n")
split = c4.radio("Data", ["train", "test"], horizontal=True, key="paths.split")
log_loss = st.checkbox("Log scale for losses", True, key="paths.log")
if i == j:
    st.error("Choose two different minima.")
    st.stop()

res = guarded("Paths", calls.pair_paths, exp.model, exp.data, ms.keys[i], ms.keys[j],
              calls.fitted(center_ref, root), n_points, root)
profiles = [p for p in (res["segment"], res["fold_line"]) if p is not None]
recipe_line = widgets.provenance(center_ref=center_ref if res["fold_line"] is not None else None,
                                 n_points=n_points, bn_policy=profiles[0].bn_policy,
                                 barrier="the paper's (max loss, min accuracy along the path)")
fig = figures.path_profile_figure(profiles, split=split, log_loss=log_loss,
                                  title=f"{split} loss and accuracy: {ms.names[i]} → {ms.names[j]}")
widgets.chart(fig, "pair_paths", "paths.pair",
              caption="Orange dashed: the straight segment. Blue: the fold-line θᵢ → θ* → θⱼ, each leg "
                      "on half of the t-axis (θ* at t = 0.5). " + recipe_line,
              explain="The paper's Figure 1 (right) and Figure 5: the direct segment between two "
                      "independent minima crosses a high-loss, low-accuracy region, while the "
                      "fold-line through the fitted center stays at the minima's loss.")
rows = [{"path": p.label, **p.barriers(split)} for p in profiles]
if res["fold_line"] is not None:
    flag = center_quality_flag(res["fold_line"].barriers()["max_loss"], res["segment"].barriers()["max_loss"])
    if flag:
        st.warning(flag)
st.dataframe(pd.DataFrame(rows), hide_index=True, key="paths.pair_table")
st.caption(recipe_line + " · " + " · ".join(f"**{k}**: {v}" for k, v in BARRIER_DEFINITIONS.items()))

align = state.alignment()
if align != "none":
    st.subheader("Modulo permutation: raw, aligned and aligned + REPAIR")
    prof = guarded("Alignment", calls.aligned_pair, exp.model, exp.data, ms.keys[i], ms.keys[j], align,
                   n_points, root)
    labels = list(prof)
    fig = figures.path_profile_figure(list(prof.values()), split=split, log_loss=log_loss,
                                      names=labels, colors=[figures.SEGMENT_COLOR, "#2ca02c", "#9467bd"],
                                      dashes=["dash", "solid", "solid"],
                                      title=f"{split} loss and accuracy along the segment "
                                            f"{ms.names[i]} → {ms.names[j]}, modulo permutation")
    widgets.chart(fig, "aligned_segments", "paths.aligned",
                  caption=f"Orange dashed: the raw segment. Green: the segment to θⱼ with its hidden "
                          f"units reordered to match θᵢ ({ALIGN_CHOICES[align]}; the same function). "
                          "Purple: the aligned segment with REPAIR (each unit's statistics reset to the "
                          "interpolation of the endpoints'; BatchNorm networks use the recompute "
                          f"policy instead). {n_points} points per segment.",
                  explain="If most of the barrier disappears after alignment, the two minima are "
                          "largely one basin seen under two relabellings of the hidden units "
                          "(Entezari et al., Git Re-Basin). REPAIR (Jordan et al.) removes the "
                          "remaining drop caused by collapsing unit statistics along the path.")
    keys = ("max_loss", "min_acc", "barrier_height", "rebasin_barrier", "midpoint_loss", "midpoint_barrier")
    st.dataframe(pd.DataFrame([{"path": k, **{m: p.barriers(split).get(m) for m in keys}}
                               for k, p in prof.items()]).round(4), hide_index=True, key="paths.aligned_table")
    st.caption("Barrier definitions of the field side by side: " + " · ".join(
        f"**{m}**: {BARRIER_DEFINITIONS[m]}" for m in keys))

st.subheader("NGD of this pair: the bound against λ")
st.markdown("The NGD upper bound U = (‖θᵢ − θ*‖ + ‖θ* − θⱼ‖) / ‖θᵢ − θⱼ‖ comes from a center fitted "
            "to **this pair** with a distance penalty λ (the *ngd* recipe). A larger λ gives a smaller "
            "U but a worse fold-line, so the bound is shown over λ and one point is quoted.")
lams = tuple(NGD_LAMBDAS)
done = calls.ngd_fitted_lams(ms.keys[i], ms.keys[j], lams, root)
trade = guarded("NGD", calls.ngd_rows, exp.model, exp.data, ms.keys[i], ms.keys[j], done, n_points, root) \
    if done else None
missing = len(lams) - len(done)
if missing:
    est = guarded("Cost estimate", jobs.estimate, "center", exp, spec=recipe_spec("ngd"))
    st.markdown(jobs.cost_line(est) + f" Per center; {missing} of {len(lams)} to fit.")
    n1, n2 = st.columns([3, 1])
    ngd_stop = jobs.stop_button("paths_ngd", n2)
    tried = f"paths.ngd_tried.{ms.keys[i]}.{ms.keys[j]}"
    auto = (missing * est.seconds <= defaults.AUTO_SECONDS and not st.session_state.get(tried)
            and not defaults.gpu_sized(exp, state.selection()["preset"]))
    if n1.button(f"Fit the pair's {missing} NGD center(s), λ ∈ {list(lams)}", key="paths.ngd_fit") or auto:
        st.session_state[tried] = True                     # one automatic try per pair and session
        if guarded("NGD centers", calls.fit_ngd, exp.model, exp.data, ms.keys[i], ms.keys[j], lams,
                   n_points, "paths_ngd", ngd_stop, stop=False) is not None:
            st.rerun()
if trade is not None and trade.rows:
    q = trade.quoted_row
    if q is not None:
        st.metric(f"NGD ≤ (quoted, λ = {q['lam']:g})", f"{q['ngd_bound']:.4f}")
    fig = figures.ngd_tradeoff_figure(trade.rows, quoted=trade.quoted,
                                      title=f"NGD bound and fold-line quality over λ: "
                                            f"{ms.names[i]} — {ms.names[j]}")
    widgets.chart(fig, "ngd_tradeoff", "paths.ngd", caption=trade.caption(),
                  data=pd.DataFrame(trade.rows),
                  explain="U ≥ 1 always (triangle inequality); U = 1 means θ* lies on the segment. U "
                          "bounds the NGD only where the fold-line stays in the low-loss set, which "
                          "is why the right panel matters. The paper's Table 2 reports U with the "
                          "fold-line's minimum accuracy.")

st.subheader("All pairs: direct segment vs through the center")
labels = {"max_loss": "max loss along the path (paper's barrier)",
          "barrier_height": "barrier height (endpoint-corrected)",
          "min_acc": "min accuracy along the path (paper's accuracy barrier)",
          "acc_drop": "accuracy drop (endpoint-corrected)"}
metric = st.selectbox("Barrier definition", list(labels), format_func=labels.get, key="paths.metric")
mats = guarded("Barrier matrices", calls.barrier_matrices, exp.model, exp.data, ms.keys,
               calls.fitted(center_ref, root), n_points, metric, split, root)
fig = figures.barrier_matrices_figure(mats["direct"], mats["fold"], ms.names, metric_label=labels[metric],
                                      higher_is_better=metric == "min_acc")
widgets.chart(fig, "barrier_matrices", "paths.matrix",
              caption=f"{split} {labels[metric]} for every pair; left the straight segments, right the "
                      "fold-lines through θ*." + ("" if fitted else " Fit the center to see the right "
                                                                    "panel.") + " " +
                      widgets.provenance(center_ref=center_ref if fitted else None, n_points=n_points,
                                         barrier=labels[metric]),
              explain="The paper's Table 1 averages these matrices: the *maximum loss* and *minimum "
                      "accuracy* along each path (not endpoint-corrected). The endpoint-corrected "
                      "barrier height (Frankle et al.) subtracts the straight line between the two "
                      "end losses, so two equally good minima with a flat path score 0.")
