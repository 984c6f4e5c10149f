"""Paper reproduction: the paper's Tables 1 and 2 beside our measured numbers."""
import streamlit as st

st.set_page_config(page_title="Paper reproduction · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures, paper, reproduce  # noqa: E402
from landscape_core.recipes import NGD_LAMBDAS, describe  # noqa: E402
from landscape_core.refs import N_POINTS, CenterRef  # noqa: E402
from ui import calls, minima, state, widgets  # noqa: E402
from ui import paper as paper_calls  # noqa: E402
from ui.errors import guarded, plain  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Paper reproduction: Tables 1–2, Figures 3–4")
st.markdown("Lin, Li & Wu report, for five Adam minima per setting, the mean over the 10 pairs of the "
            "**maximum training loss** and **minimum training accuracy** along the direct segments "
            "and along the fold-lines through a fitted center (Table 1), and for two minima the NGD "
            "upper bound U(θ̃) with the fold-line's minimum accuracy (Table 2). Their barriers are "
            "raw maxima/minima, not endpoint-corrected.")

upload = st.file_uploader("Or open a results JSON written by the reproduce command", type=["json"],
                          key="repro.upload")
results, source = guarded("Reproduction results", paper_calls.reproduction_results, upload, stop=False) \
    or ({}, "")
measured1, measured2 = reproduce.reproduce_tables(results)

# "measured now": the selection's star center (sidebar recipe) and the NGD of its first pair,
# only where both are already fitted (nothing is fitted or guessed here)
ms = minima.minima_set(exp, uploads)
here1 = here2 = {}
here_label = ""
if ms.n >= 2:
    star_ref = calls.fitted(CenterRef(ms.keys, spec), root)
    rows = []
    if star_ref is not None:
        report = guarded("Star report", calls.star_report, exp.model, exp.data, star_ref, (), ms.names, (),
                         N_POINTS, root, stop=False)
        rows = report.table() if report is not None else []
    done = calls.ngd_fitted_lams(ms.keys[0], ms.keys[1], tuple(NGD_LAMBDAS), root)
    trade = guarded("NGD", calls.ngd_rows, exp.model, exp.data, ms.keys[0], ms.keys[1], done, N_POINTS,
                    root, stop=False) if done else None
    here1, here2 = reproduce.measured_now(rows, trade)
    here_label = (f"this selection ({plain(state.selection()['preset'])}, {ms.n} minima; "
                  f"Table 1: {describe(spec)}; Table 2: ngd recipe, quoted λ)")

if not measured1 and not measured2:
    st.info("No reproduction results for Tables 1–2 found yet. Produce them with "
            "`python -m landscape_core reproduce table1` and `... reproduce table2` (MNIST FNN on a "
            "CPU; add `--setting cifar-vgg16` or `cifar-resnet18` on a GPU; `--quick` for a "
            "seconds-long smoke run). The JSON files in `results/` are read here automatically, "
            "or upload one above.")
elif source:
    st.caption(f"Measured results read from {plain(source)}. Each row names its center recipe; "
               "shortened runs are labelled.")

st.subheader("Table 1: star connectivity (5 minima, 10 pairs)")
TABLE1_SHORT = {"segment_max_loss": "segment max loss", "fold_max_loss": "fold-line max loss",
                "segment_min_acc": "segment min acc.", "fold_min_acc": "fold-line min acc."}
t1 = reproduce.comparison_frame(paper.TABLE1, measured1, TABLE1_SHORT, here1, here_label)
st.dataframe(t1.round(4), hide_index=True, key="repro.table1")
st.caption("Means over the pairs of minima: *max loss* = the largest train loss along the path "
           "(loss barrier); *min acc.* = the lowest train accuracy along it (accuracy 'barrier'). "
           "Accuracies are fractions (1.0 = 100%). 'measured now' is the sidebar's experiment with "
           "the center of all its minima for the sidebar's recipe, when that center is fitted.")

st.subheader("Table 2: NGD upper bounds (2 minima)")
rows2 = {"ngd_upper_bound": "NGD upper bound U(θ̃)",
         "fold_min_acc": "'barrier': min train accuracy along the fold-line"}
t2 = reproduce.comparison_frame(paper.TABLE2, measured2, rows2, here2, here_label)
st.dataframe(t2.round(4), hide_index=True, key="repro.table2")

st.subheader("Paper vs measured")
choices = {**{("t1", k): v for k, v in paper.TABLE1_ROWS.items()},
           **{("t2", k): v for k, v in rows2.items()}}
which = st.selectbox("Quantity", list(choices), format_func=choices.get, key="repro.metric")
table, ours = (paper.TABLE1, measured1) if which[0] == "t1" else (paper.TABLE2, measured2)
settings = list(table)
fig = figures.paper_comparison_figure(
    settings, [table[s][which[1]] for s in settings], reproduce.first_measured(ours, settings, which[1]),
    y_title=choices[which], title=choices[which], log_y=which[1].endswith("max_loss"),
    percent=which[1].endswith("acc"))
widgets.chart(fig, "paper_vs_measured", "repro.figure",
              caption="Grey diamonds: the paper's published value. Blue dots: the first measured row "
                      "of the table above for that setting (no dot: not measured yet).",
              explain="A faithful reproduction shows direct segments far below the endpoints' "
                      "accuracy (tens of %) and fold-lines at ≥ 99.5% train accuracy with max loss "
                      "≤ ~1e-2, and NGD bounds between 1.0 and 1.06.")

others = reproduce.other_experiments(results)
for name, res in others:
    if name not in ("fig3", "fig4") or not (res.get("results") or {}).get("ngd_vs_width"):
        continue
    claim = (res.get("paper_numbers") or {}).get("claim", "")
    trend = (res.get("results") or {}).get("trend") or {}
    quick = " (quick test run)" if (res.get("settings") or {}).get("quick") else ""
    st.subheader(f"{'Figure 3 (left): teacher-student' if name == 'fig3' else 'Figure 4: deep linear nets'}"
                 f", NGD bound against width{quick}")
    widths, series, points = paper_calls.ngd_width_series(res)
    fig = figures.mean_std_figure(widths, series, points=points, x_title="width m",
                                  y_title="NGD upper bound U", log_x=True, ref_line=1.0,
                                  ref_label="NGD = 1", title=f"{name}: NGD bound against width")
    verdict = ("reproduced: the bound falls with width" if trend.get("decreasing_overall") and
               trend.get("monotone_decreasing") else
               "partly: the bound falls overall but not at every step" if trend.get("decreasing_overall")
               else "not reproduced: the bound does not fall with width in our run")
    widgets.chart(fig, f"{name}_ngd_vs_width", f"repro.{name}",
                  caption=f"The paper: {plain(claim)}. Ours (λ = {trend.get('lam', '?')}, mean ± std over "
                          f"pairs, open circles: each pair): {verdict}. Details and reasons in "
                          "docs/reproduction.md.")
if others:
    st.subheader("All reproduced experiments (raw results)")
    for name, res in others:
        with st.expander(f"{plain(name)}: {plain(res.get('date', ''))}, {plain(res.get('wall_time_s', '?'))} s"):
            st.json(res.get("results", res), expanded=False)
