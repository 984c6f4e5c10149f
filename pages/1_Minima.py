"""Minima: train independent minima (one seed each) or upload checkpoints; table and distances."""
import streamlit as st

st.set_page_config(page_title="Minima · Landscape Explorer", page_icon="⛰️", layout="wide")

import ui_common as ui  # noqa: E402
from landscape_core import figures  # noqa: E402

exp = ui.experiment_sidebar()
st.title("Minima θ₁, θ₂, …")
st.markdown("Each minimum is an independent training run from its own seed (initialisation and "
            "data order). Finished minima are stored in the cache one by one, so stopping keeps "
            "everything already trained.")
ms = ui.minima_set(exp)

st.subheader("Train")
if ms.missing_seeds:
    passes, secs = ui.run_core("Cost estimate", ui.training_cost, exp, len(ms.missing_seeds))
    st.markdown(ui.cost_text(f"training {len(ms.missing_seeds)} minima (seeds "
                             f"{', '.join(map(str, ms.missing_seeds))}; early stopping may shorten it)",
                             passes, secs))
else:
    st.success(f"All {len(exp.seed_list)} minima of this selection are in the cache.")
c1, c2 = st.columns([3, 1])
should_stop = ui.stop_button("minima", c2)
_n_missing = len(ms.missing_seeds)
_train_label = (f"Train {_n_missing} missing minim{'um' if _n_missing == 1 else 'a'}" if _n_missing
                else "All minima trained")
if c1.button(_train_label, key="minima.train", type="primary",
             disabled=not ms.missing_seeds):
    if ui.run_core("Training", ui.train_minima, exp, "minima", should_stop, stop=False) is not None:
        st.rerun()

st.subheader("Upload checkpoints")
files = st.file_uploader(
    "Weights for the selected architecture (.safetensors, or a PyTorch state dict). Files are read "
    "safely: nothing is unpickled, and a file that does not fit the model is refused.",
    type=["safetensors", "pt", "pth", "bin"], accept_multiple_files=True, key="minima.upload")
ui.add_uploads(exp, files)
ms = ui.minima_set(exp)

st.subheader("Minima of this selection")
if not ms.n:
    st.info("No minima yet: train them above or upload checkpoints.")
    st.stop()
table = ms.frame()
st.dataframe(table, hide_index=True, key="minima.table")
st.download_button("Table (CSV)", table.to_csv(index=False), "minima.csv", "text/csv",
                   key="minima.table_csv", on_click="ignore")
st.caption("Loss and accuracy on the full training and test sets with the final weights. "
           "Uploaded minima are evaluated on the selected dataset.")

if ms.n >= 2:
    distances = ui.run_core("Distances", ui.distance_matrix, ms.keys, ui.cache_root())
    fig = figures.distance_matrix_figure(distances, ms.names)
    ui.chart(fig, "distances", "minima.dist",
             caption="Euclidean distances between the flat vectors of trainable parameters "
                     "(BatchNorm running statistics excluded).",
             explain="Independent minima are far apart: typically about √2 times the norm of one "
                     "minimum, as for random vectors. Yet the paper finds them all connected through "
                     "one center θ*, by a path only slightly longer than these straight-line "
                     "distances (NGD close to 1).")
