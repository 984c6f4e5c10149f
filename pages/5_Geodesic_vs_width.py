"""Geodesic vs width: NGD bounds, distances and barriers as one setting varies (width first)."""
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Geodesic vs width · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402
from landscape_core.checks import center_quality_flag  # noqa: E402
from landscape_core.recipes import NGD_LAMBDA, NGD_LAMBDAS, describe, recipe_spec  # noqa: E402
from landscape_core.refs import N_POINTS  # noqa: E402
from landscape_core.config import spec_json as lc_json  # noqa: E402
from ui import calls, defaults, jobs, state, widgets  # noqa: E402
from ui.state import ALIGN_CHOICES  # noqa: E402
from ui.errors import guarded  # noqa: E402

SWEEP_FIELDS = ("model.width", "model.depth", "model.activation", "model.init_scale",
                "train.weight_decay", "train.lr", "train.epochs", "train.batch_size", "data.n_train")
exp, sidebar_spec, _ = state.sidebar()
st.title("Geodesic distance vs width (and other settings)")
st.markdown("For every value of the chosen setting, the selection's minima are trained (or read from "
            "the cache), a center is fitted (per pair with the *ngd* recipe and its penalty λ, or one "
            "star center with the sidebar's recipe), and for every pair the "
            "**NGD upper bound** U(θ*) = (‖θᵢ − θ*‖ + ‖θ* − θⱼ‖) / ‖θᵢ − θⱼ‖ and the barriers are "
            "measured. The paper finds U → 1 as the width grows.")
VALUE_DEFAULTS = {"model.width": "8,16,32,64", "model.depth": "1,2,3", "model.activation": "relu,tanh,gelu",
            "model.init_scale": "0.5,1,2", "train.weight_decay": "0,0.0001,0.001",
            "train.lr": "0.001,0.003,0.01", "train.epochs": "5,10,20", "train.batch_size": "32,64,128",
            "data.n_train": "200,400,800"}
c1, c2, c3 = st.columns([1, 2, 1])
field = c1.selectbox("Setting to vary", SWEEP_FIELDS, key="sweep.field", format_func=figures.field_label)
text = c2.text_input("Values (comma-separated)", VALUE_DEFAULTS[field], key=f"sweep.values.{field}")
mode = c3.radio("Centers", ["pair", "star"], horizontal=True, key="sweep.mode",
                help="pair: one center per pair of minima with the ngd recipe (the paper's NGD runs); "
                     "star: one shared center for all minima with the sidebar's recipe (Table 1).")
if exp.n_minima < 2:
    st.error("A sweep needs at least two minima per value: raise *Number of minima* in the sidebar.")
    st.stop()
k = st.number_input("Minima per value (the first of the selection's seeds)", 2, int(exp.n_minima),
                    2, key="sweep.k", help="Each value trains this many minima: k (k − 1) / 2 pairs.")
exp = exp.replace(n_minima=int(k), seeds=exp.seed_list[:int(k)])
values = guarded("Sweep values", calls.parse_values, exp, field, text)
if mode == "pair":
    lam = st.select_slider("λ of the ngd recipe", list(NGD_LAMBDAS), value=NGD_LAMBDA, key="sweep.lam",
                           format_func=lambda v: f"{v:g}",
                           help="The NGD bound depends on λ; the Paths page shows the trade-off for "
                                "one pair. The sweep uses one λ for every value, named below.")
    spec = recipe_spec("ngd", lam=lam)
else:
    spec = sidebar_spec
st.caption(f"Centers: {describe(spec)} ({'one per pair' if mode == 'pair' else 'one star center per value'}).")
est = guarded("Cost estimate", jobs.estimate, "sweep", exp, field=field, values=values, spec=spec, mode=mode)
st.markdown(jobs.cost_line(est) + " Upper bound: nothing cached.")

b1, b2 = st.columns([3, 1])
should_stop = jobs.stop_button("sweep", b2)
result = calls.stored_sweep(exp, field, values, spec, mode)
tried = f"sweep.tried.{hash((lc_json(exp), field, tuple(map(str, values)), spec, mode))}"
auto = (result is None and est.seconds <= defaults.AUTO_SECONDS and not st.session_state.get(tried)
        and not defaults.gpu_sized(exp, state.selection()["preset"]))
if b1.button("Run or load the sweep", key="sweep.run", type="primary") or auto:
    st.session_state[tried] = True                         # one automatic try per setting
    result = guarded("Sweep", calls.run_sweep, exp, field, values, spec, mode, "sweep", should_stop,
                     stop=False)
if result is None:
    st.info("Press **Run or load the sweep**. Values already computed (by any session) load from "
            "the cache at once; an interrupted sweep resumes where it stopped.")
    st.stop()

summary, rows = result.summary(), result.rows
flagged = [r for r in rows if center_quality_flag(r.get("fold_max_loss"), r.get("segment_max_loss"))]
if flagged:
    st.warning(f"{len(flagged)} of {len(rows)} pairs have a center whose fold-line is worse than the "
               "direct segment: their NGD bounds are not meaningful (see the table; refit with more "
               "epochs or another recipe).")
recipe_line = widgets.provenance(n_points=result.meta.get("n_points", N_POINTS),
                                 bn_policy=result.meta.get("bn_policy"),
                                 extra=f"centers: {describe(spec)}, {mode} mode")
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
    widgets.chart(fig, f"sweep_{quantity}", f"sweep.{quantity}",
                  caption="Lines: mean over pairs, error bars ±1 std; open circles: individual pairs. "
                          + recipe_line, explain=note)
align = state.alignment()
if align != "none":
    st.subheader("Barrier against the setting, with and without alignment")
    aligned = calls.stored_sweep(exp, field, values, spec, mode, align)
    a_tried = tried + f".{align}"
    if aligned is None and (st.button(f"Run the sweep modulo permutation ({align} matching)",
                                      key="sweep.run_aligned")
                            or (auto or st.session_state.get(tried)) and not st.session_state.get(a_tried)):
        st.session_state[a_tried] = True
        aligned = guarded("Aligned sweep", calls.run_sweep, exp, field, values, spec, mode, "sweep",
                          should_stop, align, stop=False)
    if aligned is not None:
        series = {}
        for label, res in (("raw minima", result), (ALIGN_CHOICES[align], aligned)):
            summ = res.summary()
            series[label] = ([r["segment_barrier_height_mean"] for r in summ],
                             [r["segment_barrier_height_std"] for r in summ])
        fig = figures.mean_std_figure(list(values), series, x_title=figures.field_label(field),
                                      y_title="segment barrier height (endpoint-corrected)",
                                      title="Direct-segment barrier, raw and modulo permutation",
                                      log_x=log_x)
        widgets.chart(fig, "sweep_aligned_barrier", "sweep.aligned",
                      caption="Mean ± std over pairs of the endpoint-corrected barrier on the straight "
                              "segment θᵢ — θⱼ, before and after matching θⱼ's units to θᵢ's. Entezari et "
                              "al. find the aligned barrier falling with width. " + recipe_line,
                      explain="Alignment only relabels hidden units, so each aligned network computes "
                              "the same function as before; what changes is where it sits in parameter "
                              "space, and so the straight segment between the pair.")

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
           "Barriers as in the paper (max loss, min accuracy) and endpoint-corrected heights. "
           + recipe_line)
