"""Theory: the paper's teacher-student model (Section 3): connectivity bounds, NGD, sparse SGD minima."""
import streamlit as st

st.set_page_config(page_title="Theory · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402
from landscape_core import theory as lc_theory  # noqa: E402
from ui import defaults, jobs, minima, state, widgets  # noqa: E402
from ui import paper as paper_calls  # noqa: E402
from ui.errors import guarded  # noqa: E402

state.sidebar()
root = minima.cache_root()
st.sidebar.info("This page does not use the experiment selected above: the teacher-student "
                "model has its own settings on the page.")
st.title("Theory: a two-layer ReLU student and an orthonormal teacher")
st.markdown("The student f(x) = Σᵢ relu(wᵢ·x) with m neurons learns the teacher Σⱼ≤M relu(xⱼ). "
            "Its global minima are known exactly (Theorem 6): every neuron is dead or aligned with "
            "one teacher direction eⱼ. This makes connectivity checkable by counting neuron types.")

st.subheader("How likely is a center? Monte Carlo vs the paper's bounds")
c1, c2, c3, c4 = st.columns(4)
M = c1.number_input("Teacher neurons M", 1, 8, 4, key="theory.M")
widths_text = c2.text_input("Student widths m", "8,16,32,64,128,256,512", key="theory.widths")
ks = c3.multiselect("Feet k", [2, 3, 4], default=[2, 3], key="theory.k")
trials = c4.number_input("Trials per point", 10, 5000, 200, step=50, key="theory.trials")
widths = guarded("Widths", paper_calls.parse_int_list, widths_text, "student widths", lo=int(M))
if ks:
    curves = guarded("Monte Carlo", paper_calls.connectivity_curves, int(M), tuple(sorted(ks)),
                         tuple(widths), int(trials), 0)
    fig = figures.connectivity_figure(widths, curves["mc"], curves["bounds"], M=int(M))
    widgets.chart(fig, "connectivity", "theory.connect",
             caption="Solid: frequency with which k random minima (uniform neuron types) have a "
                     "center linearly connected to all of them (exact test via Lemma 7). Dashed: "
                     "the paper's lower bounds (Theorem 8 for k = 2, Theorem 10 for k ≥ 3).",
             explain="With more neurons than needed, random minima almost surely share a center. "
                     "The bounds only count neurons of the same type in every foot, so they are "
                     "conservative: the Monte-Carlo curve must lie above them.")

st.subheader("NGD of random minima: uniform vs neuron-sparse")
c1, c2 = st.columns(2)
pairs = c1.number_input("Pairs per width", 2, 500, 20, key="theory.pairs")
sparsity = c2.slider("Dead-neuron probability r of SP(M, r)", 0.05, 0.95, 0.8, key="theory.r")
series = guarded("NGD bounds", paper_calls.toy_ngd_curves, int(M), tuple(widths), int(pairs),
                     float(sparsity), 0)
fig = figures.mean_std_figure(widths, series, x_title="student width m", y_title="best 2-piece NGD bound U",
                              title="NGD upper bound of random minima vs width", log_x=True,
                              ref_line=1.0, ref_label="NGD = 1")
widgets.chart(fig, "toy_ngd", "theory.ngd",
         caption="Best 2-piece bound U (Eq. 8) through the optimal center, mean ± std over pairs "
                 "(exact, from the minima set of Theorem 6; no training).",
         explain="Theorem 12: for uniform minima the NGD stays bounded (≈ √M) whatever the width. "
                 "Theorem 14: for neuron-sparse minima it tends to 1 as m grows, the paper's "
                 "explanation of the NGD → 1 trend of SGD solutions.")

st.subheader("Are SGD solutions sparse? Sorted neuron norms")
c1, c2, c3, c4, c5 = st.columns(5)
width = c1.number_input("Width m (paper: 512)", 4, 4096, 128, key="theory.width")
epochs = c2.number_input("Epochs (at most)", 1, 2000, 200, key="theory.epochs")
optimizer = c3.selectbox("Optimizer", ["adam", "sgd"], key="theory.opt",
                         help="The paper calls its solutions 'SGD solutions'; the preset uses Adam.")
lr = c4.number_input("Learning rate", 1e-5, 1.0, 3e-3, format="%.4g", key="theory.lr")
init_scale = c5.number_input("Init scale", 0.0001, 10.0, 0.5, format="%.4f", key="theory.init",
                             help="Small initialisations favour sparse (few active neurons) solutions, "
                                  "e.g. SGD, lr 0.02, init scale 0.001.")
student = guarded("Student", paper_calls.student_experiment, int(width), int(epochs), optimizer,
                      float(init_scale), float(lr))
norms = paper_calls.student_norms(student, root)
if norms is None:
    est = guarded("Cost estimate", jobs.estimate, "training", student, n_minima=1)
    st.markdown(jobs.cost_line(est))
    b1, b2 = st.columns([3, 1])
    should_stop = jobs.stop_button("theory", b2)
    tried = f"theory.tried.{width}.{epochs}.{optimizer}.{lr}.{init_scale}"
    auto = est.seconds <= defaults.AUTO_SECONDS and not st.session_state.get(tried)
    if b1.button("Train the student", key="theory.train", type="primary") or auto:
        st.session_state[tried] = True
        if guarded("Training", minima.train_missing, student, "theory", should_stop,
                   stop=False) is not None:
            st.rerun()
    st.info("Train the teacher-student preset at this width to see its neuron norms.")
else:
    conc = lc_theory.norm_concentration(norms, student.data.teacher_neurons)
    sparse = conc["neurons_for_90pct"] <= 2 * student.data.teacher_neurons
    fig = figures.neuron_norms_figure(norms, teacher_neurons=student.data.teacher_neurons)
    widgets.chart(fig, "neuron_norms", "theory.norms",
             caption=f"‖wᵢ‖₂ of the {len(norms)} neurons of one trained student, largest first. "
                     f"{conc['neurons_for_90pct']} of {conc['n_neurons']} neurons carry 90% of the "
                     f"summed norm (M = {student.data.teacher_neurons}): this run is "
                     f"{'neuron-sparse, as' if sparse else 'dense, unlike'} the SGD solution of the "
                     "paper's Figure 3 (right). Small initialisations and SGD favour sparse runs.",
             explain="The paper's Figure 3 (right) shows an SGD solution with m = 512 in which a "
                     "few neurons carry the whole function and the rest are close to zero: a "
                     "neuron-sparse minimum, the setting of Theorem 14 in which the NGD tends to 1. "
                     "Whether a run is sparse depends on the optimizer, the initialisation scale and "
                     "the training length; compare settings here. The dotted line marks M.")
