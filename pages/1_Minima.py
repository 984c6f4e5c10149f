"""Minima: train independent minima (one seed each) or upload checkpoints; table and distances."""
import streamlit as st

st.set_page_config(page_title="Minima · Landscape Explorer", page_icon="⛰️", layout="wide")

from landscape_core import figures  # noqa: E402
from landscape_core.keylayout import expected_layout, layout_text  # noqa: E402
from ui import defaults, minima, state, widgets  # noqa: E402
from ui.errors import guarded  # noqa: E402

exp, spec, uploads = state.sidebar()
root = minima.cache_root()
st.title("Minima θ₁, θ₂, …")
st.markdown("Each minimum is an independent training run from its own seed (initialisation and "
            "data order). Finished minima are stored in the cache one by one, so stopping keeps "
            "everything already trained.")
st.subheader("Train")
ms, _ = defaults.prepare(exp, spec, uploads, "minima", preset=state.selection()["preset"],
                         center=False, n_min=0)
if not ms.missing_seeds:
    st.success(f"All {len(exp.seed_list)} minima of this selection are in the cache.")

st.subheader("Upload checkpoints")
files = st.file_uploader(
    "Weights for the selected architecture (.safetensors, or a PyTorch state dict). Files are read "
    "safely: nothing is unpickled, and a file that does not fit the model is refused. The same "
    "weights are one minimum however they arrive; the link of this page carries the uploads.",
    type=["safetensors", "pt", "pth", "bin"], accept_multiple_files=True, key="minima.upload")
with st.expander("The key layout a checkpoint must have (names may differ: a plain nn.Sequential "
                 "without the leading Flatten is matched by order and shape)"):
    st.code(guarded("Key layout", layout_text, guarded("Key layout", expected_layout, exp.model), 60))
for key in minima.read_uploads(exp, files):
    state.add_upload(key)
ms = minima.minima_set(exp, state.uploads_from(state.selection()))

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
    distances = guarded("Distances", minima.distance_matrix, ms.keys, root)
    fig = figures.distance_matrix_figure(distances, ms.names)
    widgets.chart(fig, "distances", "minima.dist",
                  caption="Euclidean distances between the flat vectors of trainable parameters "
                          "(BatchNorm running statistics excluded).",
                  explain="Independent minima are far apart: typically about √2 times the norm of one "
                          "minimum, as for random vectors. Yet the paper finds them all connected "
                          "through one center θ*, by a path only slightly longer than these "
                          "straight-line distances (NGD close to 1).")
