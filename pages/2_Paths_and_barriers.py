"""Paths and barriers: straight segment vs fold-line through the center, per pair and for all pairs."""
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Paths and barriers · Landscape Explorer", page_icon="⛰️", layout="wide")

import ui_common as ui  # noqa: E402
from landscape_core import BARRIER_DEFINITIONS, figures  # noqa: E402

exp = ui.experiment_sidebar()
st.title("Paths and barriers")
ms = ui.minima_set(exp)
if ms.n < 2:
    st.info("This page needs at least two minima: train them on the *Minima* page.")
    st.stop()
center_ref = ui.current_center(exp, ms)

with st.expander("Center θ* (needed for fold-lines)", expanded=center_ref is None):
    st.caption(ui.center_caption(center_ref))
    spec = ui.center_spec_controls("paths")
    st.markdown(ui.cost_text("fitting a center to all minima", *ui.center_cost(exp, spec)))
    b1, b2 = st.columns([3, 1])
    should_stop = ui.stop_button("paths", b2)
    if b1.button("Fit a center to all minima", key="paths.fit"):
        if ui.run_core("Center finding", ui.fit_center, exp, ms.keys, spec, "paths", should_stop,
                       stop=False) is not None:
            st.rerun()

c1, c2, c3, c4 = st.columns(4)
i = c1.selectbox("θᵢ (t = 0)", range(ms.n), format_func=lambda k: ms.names[k], key="paths.i")
j = c2.selectbox("θⱼ (t = 1)", range(ms.n), index=1, format_func=lambda k: ms.names[k], key="paths.j")
n_points = c3.slider("Points per path", 5, 101, 21, step=2, key="paths.n")
split = c4.radio("Data", ["train", "test"], horizontal=True, key="paths.split")
log_loss = st.checkbox("Log scale for losses", True, key="paths.log")
if i == j:
    st.error("Choose two different minima.")
    st.stop()
n_eval = (ms.n * (ms.n - 1) // 2 + 1) * (n_points + (n_points // 2 + 1) * 2 * (center_ref is not None))
st.markdown(ui.cost_text(f"this pair and all {ms.n * (ms.n - 1) // 2} pairs ({n_eval} path points)",
                         *ui.eval_cost(exp, n_eval)))

res = ui.run_core("Paths", ui.pair_paths, exp.model, exp.data, ms.keys[i], ms.keys[j], center_ref,
                  n_points, ui.cache_root())
profiles = [p for p in (res["segment"], res["fold_line"]) if p is not None]
fig = figures.path_profile_figure(profiles, split=split, log_loss=log_loss,
                                  title=f"{split} loss and accuracy: {ms.names[i]} → {ms.names[j]}")
ui.chart(fig, "pair_paths", "paths.pair",
         caption="Orange dashed: the straight segment. Blue: the fold-line θᵢ → θ* → θⱼ, each "
                 "leg on half of the t-axis (θ* at t = 0.5).",
         explain="The paper's Figure 1 (right) and Figure 5: the direct segment between two "
                 "independent minima crosses a high-loss, low-accuracy region, while the fold-line "
                 "through the fitted center stays at the minima's loss. If no center exists yet, "
                 "fit one above.")
rows = [{"path": p.label, **p.barriers(split)} for p in profiles]
st.dataframe(pd.DataFrame(rows), hide_index=True, key="paths.pair_table")
st.caption(" · ".join(f"**{k}**: {v}" for k, v in BARRIER_DEFINITIONS.items()))
if res["ngd"] is not None:
    st.metric("NGD upper bound U(θ*) = (‖θᵢ − θ*‖ + ‖θ* − θⱼ‖) / ‖θᵢ − θⱼ‖", f"{res['ngd']:.4f}")
    st.caption("Valid as a bound on the NGD only if the fold-line stays low (check the chart).")

st.subheader("All pairs: direct segment vs through the center")
labels = {"max_loss": "max loss along the path (paper's barrier)",
          "barrier_height": "barrier height (endpoint-corrected)",
          "min_acc": "min accuracy along the path (paper's accuracy barrier)",
          "acc_drop": "accuracy drop (endpoint-corrected)"}
metric = st.selectbox("Barrier definition", list(labels), format_func=labels.get, key="paths.metric")
mats = ui.run_core("Barrier matrices", ui.barrier_matrices, exp.model, exp.data, ms.keys, center_ref,
                   n_points, metric, split, ui.cache_root())
fig = figures.barrier_matrices_figure(mats["direct"], mats["fold"], ms.names, metric_label=labels[metric],
                                      higher_is_better=metric == "min_acc")
ui.chart(fig, "barrier_matrices", "paths.matrix",
         caption=f"{split} {labels[metric]} for every pair; left the straight segments, right the "
                 "fold-lines through θ*." + ("" if center_ref else " Fit a center to see the right panel."),
         explain="The paper's Table 1 averages these matrices: the *maximum loss* and *minimum "
                 "accuracy* along each path (not endpoint-corrected). The endpoint-corrected barrier "
                 "height (Frankle et al.) subtracts the straight line between the two end losses, "
                 "so two equally good minima with a flat path score 0.")
