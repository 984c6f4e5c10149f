"""Geodesic vs width: NGD bounds, distances and barriers as one setting varies (width first)."""
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Geodesic vs width · Landscape Explorer", page_icon="⛰️", layout="wide")

import ui_common as ui  # noqa: E402
from landscape_core import figures  # noqa: E402

exp = ui.experiment_sidebar()
st.title("Geodesic distance vs width (and other settings)")
st.markdown("For every value of the chosen setting, the selection's minima are trained (or read from "
            "the cache), a center is fitted with the distance penalty λ, and for every pair the "
            "**NGD upper bound** U(θ*) = (‖θᵢ − θ*‖ + ‖θ* − θⱼ‖) / ‖θᵢ − θⱼ‖ and the barriers are "
            "measured. The paper finds U → 1 as the width grows.")
ui.require("sweeps", "Sweeps")
defaults = {"model.width": "8,16,32,64", "model.depth": "1,2,3", "model.activation": "relu,tanh,gelu",
            "model.init_scale": "0.5,1,2", "train.weight_decay": "0,0.0001,0.001",
            "train.lr": "0.001,0.003,0.01", "train.epochs": "5,10,20", "train.batch_size": "32,64,128",
            "data.n_train": "200,400,800"}
c1, c2, c3 = st.columns([1, 2, 1])
field = c1.selectbox("Setting to vary", ui.SWEEP_FIELDS, key="sweep.field", format_func=figures.field_label)
text = c2.text_input("Values (comma-separated)", defaults[field], key=f"sweep.values.{field}")
mode = c3.radio("Centers", ["pair", "star"], horizontal=True, key="sweep.mode",
                help="pair: one center per pair of minima (the paper's NGD runs); star: one shared "
                     "center for all minima (Table 1).")
values = ui.run_core("Sweep values", ui.parse_values, exp, field, text)
if exp.n_minima < 2:
    st.error("A sweep needs at least two minima per value: raise *Number of minima* in the sidebar.")
    st.stop()
with st.expander("Center settings", expanded=False):
    spec = ui.center_spec_controls("sweep", lam=1e-3)
st.markdown(ui.cost_text(f"the sweep over {len(values)} values (upper bound: nothing cached)",
                         *ui.sweep_cost(exp, field, values, spec, mode)))

b1, b2 = st.columns([3, 1])
should_stop = ui.stop_button("sweep", b2)
result = ui.stored_sweep(exp, field, values, spec, mode)
if b1.button("Run or load the sweep", key="sweep.run", type="primary"):
    result = ui.run_core("Sweep", ui.run_sweep, exp, field, values, spec, mode, "sweep", should_stop,
                         stop=False)
if result is None:
    st.info("Press **Run or load the sweep**. Values already computed (by any session) load from "
            "the cache at once; an interrupted sweep resumes where it stopped.")
    st.stop()

summary, rows = result.summary(), result.rows
numeric = all(isinstance(v, (int, float)) for v in values)
log_x = numeric and field in ("model.width", "train.weight_decay", "train.lr", "data.n_train") and \
    min(values) > 0
notes = {"ngd": "U ≥ 1 always; U = 1 means θ* lies on the straight segment. The paper's Figure 3 "
                "(teacher-student) and Table 2 show U close to 1 and falling with width.",
         "distance": "Independent minima move apart as the network grows (more parameters).",
         "max_loss": "The paper's loss barrier: the maximum train loss along each path (log scale).",
         "min_acc": "The paper's accuracy barrier: the minimum train accuracy along each path."}
for quantity, note in notes.items():
    if quantity == "min_acc" and summary[0].get("segment_min_acc_mean") is None:
        continue
    fig = figures.sweep_figure(summary, rows, field=field, quantity=quantity, log_x=log_x)
    ui.chart(fig, f"sweep_{quantity}", f"sweep.{quantity}",
             caption="Lines: mean over pairs, error bars ±1 std; open circles: individual pairs.",
             explain=note)
st.subheader("All pairs")
SWEEP_COLUMNS = {"value": figures.field_label(field), "pair": "pair (seeds)", "dim": "parameters D",
                 "ngd_bound": "NGD bound U", "euclidean": "distance ‖θᵢ − θⱼ‖",
                 "euclidean_per_sqrt_dim": "distance / √D",
                 "segment_max_loss": "segment max loss", "fold_max_loss": "fold-line max loss",
                 "segment_min_acc": "segment min acc.", "fold_min_acc": "fold-line min acc.",
                 "segment_barrier_height": "segment barrier height",
                 "fold_barrier_height": "fold-line barrier height",
                 "feet_train_loss": "minima train loss", "feet_train_acc": "minima train acc.",
                 "feet_test_acc": "minima test acc."}
table = pd.DataFrame(rows).rename(columns=lambda c: SWEEP_COLUMNS.get(c, c.replace("_", " ")))
st.dataframe(table, hide_index=True, key="sweep.table")
st.caption(f"NGD: {result.meta.get('ngd', 'upper bound U through the fitted center')}. "
           "Barriers as in the paper (max loss, min accuracy) and endpoint-corrected heights.")
