"""The selection: experiment, center recipe and uploads, in the sidebar and mirrored in the URL.

Session-state keys: ``sel.<field>`` holds the selection (copied to and from the URL query
parameters, only where it differs from the preset or recipe), ``exp.<field>`` its widgets.
Every page reads the selection through ``sidebar()``, so every page asks the same question:
the same experiment, the same center recipe, the same uploaded minima.
"""
from __future__ import annotations

import dataclasses
import re

import streamlit as st

import landscape_core as lc
from landscape_core import usermodel
from landscape_core.config import ACTIVATIONS, ARCHS, DATASETS
from landscape_core.data import dataset_shape
from landscape_core.recipes import BARRIER_RECIPE, CENTER_RECIPES, recipe_spec

from .errors import guarded, plain
from . import jobs
from .jobs import configure_threads, device_label, model_size

PRESET_NOTES = {
    "digits-mlp": "Embedded default: scikit-learn digits, an MLP; every page answers in seconds on a CPU.",
    "tiny": "Test/teaching preset: 400 digits, one small hidden layer; seconds end to end.",
    "teacher-student": "The paper's Section 3 student (Fig. 3): d = M = 4, squared loss, no output weights.",
    "linear-net": "Deep linear network of Section 4 (Fig. 4): L = 2, d = m.",
    "mnist-fnn": "The paper's FNN 784-500-300-10 on MNIST (Tables 1-2). Minutes per minimum on a CPU.",
    "fashion-mlp": "Fashion-MNIST subset, a two-layer MLP.",
    "cifar-vgg16": "CIFAR-10 VGG16 with BatchNorm (Table 1): sized for a GPU.",
    "cifar-resnet18": "CIFAR-10 ResNet18 with BatchNorm (Table 2): sized for a GPU.",
    "cifar-resnet34": "CIFAR-10 ResNet34 with BatchNorm (Table 1): sized for a GPU.",
    "mnist-vgg16": "MNIST VGG16 with BatchNorm (Table 2): sized for a GPU.",
}
# selection field -> URL name
QUERY_NAMES = {"preset": "preset", "data.name": "data", "data.n_train": "n_train", "model.arch": "arch",
               "model.width": "width", "model.depth": "depth", "model.hidden": "hidden",
               "model.activation": "act", "model.init_scale": "init", "n_minima": "minima",
               "seeds": "seeds", "train.optimizer": "opt", "train.lr": "lr", "train.epochs": "epochs",
               "train.batch_size": "bs", "train.weight_decay": "wd",
               "center.recipe": "recipe", "center.epochs": "c_epochs", "center.lr": "c_lr",
               "center.lam": "c_lam", "center.seed": "c_seed", "uploads": "up", "user_model": "user",
               "align": "align", "executor": "exec"}
_KEY = re.compile(r"^[0-9a-f]{32}$")


SPECS = {"data": lc.DataSpec, "model": lc.ModelSpec, "train": lc.TrainSpec, "center": lc.CenterSpec,
         "": lc.Experiment}


def bounds(field: str) -> dict:
    """``min_value``/``max_value`` of a number widget: the limits the core declares for the field
    (one set of limits for widgets, links and the library)."""
    head, _, name = field.rpartition(".")
    con = getattr(SPECS[head], "__constraints__", {}).get(name)
    if con is None or not hasattr(con, "hi"):
        return {}
    cast = float if con.__class__.__name__ == "Real" else int
    lo = None if getattr(con, "lo_open", False) or con.lo is None else cast(con.lo)
    return {k: v for k, v in (("min_value", lo), ("max_value", None if con.hi is None else cast(con.hi)))
            if v is not None}


def _within(field: str, value) -> str | None:
    """Why a link's value is outside the field's limits, or None."""
    b = bounds(field)
    if "min_value" in b and value < b["min_value"]:
        return f"{value} is below the limit {b['min_value']}"
    if "max_value" in b and value > b["max_value"]:
        return f"{value} is above the limit {b['max_value']}"
    return None


def _flat(exp: lc.Experiment, preset_name: str, recipe: str = BARRIER_RECIPE) -> dict:
    """An experiment and a recipe as the plain values shown in the widgets."""
    spec = recipe_spec(recipe)
    return {"preset": preset_name, "data.name": exp.data.name, "data.n_train": exp.data.n_train or 0,
            "model.arch": exp.model.arch, "model.width": exp.model.width, "model.depth": exp.model.depth,
            "model.hidden": ",".join(str(h) for h in exp.model.hidden or ()),
            "model.activation": exp.model.activation, "model.init_scale": float(exp.model.init_scale),
            "n_minima": exp.n_minima, "seeds": ",".join(str(s) for s in exp.seeds or ()),
            "train.optimizer": exp.train.optimizer, "train.lr": float(exp.train.lr),
            "train.epochs": exp.train.epochs, "train.batch_size": exp.train.batch_size,
            "train.weight_decay": float(exp.train.weight_decay),
            "center.recipe": recipe, "center.epochs": spec.epochs, "center.lr": float(spec.lr),
            "center.lam": float(spec.lam), "center.seed": spec.seed, "uploads": "", "user_model": 0,
            "align": "none", "executor": "serial"}


def _int_list(text: str, what: str) -> tuple:
    try:
        return tuple(int(v) for v in str(text).replace(" ", "").split(",") if v != "")
    except ValueError:
        raise ValueError(f"The '{what}' setting must be a comma-separated list of integers. "
                         f"Got {text!r} instead.") from None


@st.cache_resource(show_spinner=False)
def server_model():
    """The user's own model builder, named by whoever started the server (``--model-file`` after
    ``--`` on the streamlit command line, or $LANDSCAPE_MODEL_FILE); never by a visitor."""
    return usermodel.configured()


def experiment_from(sel: dict, um=None) -> lc.Experiment:
    """Build (and so validate) the Experiment that the selection describes; with ``um`` (the
    server's own model builder, when the selection asks for it) the model is the user's."""
    base = lc.preset(sel["preset"])
    data = dataclasses.replace(base.data, name=sel["data.name"], n_train=int(sel["data.n_train"]) or None)
    shape, n_out, _ = dataset_shape(data)
    if um is not None and int(sel.get("user_model") or 0):
        train = dataclasses.replace(base.train, optimizer=sel["train.optimizer"], lr=float(sel["train.lr"]),
                                    epochs=int(sel["train.epochs"]), batch_size=int(sel["train.batch_size"]),
                                    weight_decay=float(sel["train.weight_decay"]))
        shaped = dataclasses.replace(base.model, input_shape=shape, n_outputs=n_out,
                                     init_scale=float(sel["model.init_scale"]))
        model = um.spec(shaped, width=int(sel["model.width"]) if um.takes_width else None)
        seeds = _int_list(sel["seeds"], "seeds") or None
        return lc.Experiment(data, model, train, n_minima=int(sel["n_minima"]), seeds=seeds)
    hidden = _int_list(sel["model.hidden"], "hidden sizes") or None
    model = dataclasses.replace(
        base.model, arch=sel["model.arch"], width=int(sel["model.width"]), depth=int(sel["model.depth"]),
        hidden=hidden if sel["model.arch"] == "mlp" else None, activation=sel["model.activation"],
        init_scale=float(sel["model.init_scale"]), input_shape=shape, n_outputs=n_out)
    train = dataclasses.replace(
        base.train, optimizer=sel["train.optimizer"], lr=float(sel["train.lr"]),
        epochs=int(sel["train.epochs"]), batch_size=int(sel["train.batch_size"]),
        weight_decay=float(sel["train.weight_decay"]))
    seeds = _int_list(sel["seeds"], "seeds") or None
    return lc.Experiment(data, model, train, n_minima=int(sel["n_minima"]), seeds=seeds)


def center_spec_from(sel: dict) -> lc.CenterSpec:
    """The selection's center recipe: a named recipe with the fields the user changed."""
    return recipe_spec(sel["center.recipe"], epochs=int(sel["center.epochs"]), lr=float(sel["center.lr"]),
                       lam=float(sel["center.lam"]), seed=int(sel["center.seed"]))


def uploads_from(sel: dict) -> tuple:
    """Cache keys (content hashes) of uploaded minima carried by the selection."""
    return tuple(k for k in str(sel.get("uploads", "")).split(",") if _KEY.match(k))


def _load(values: dict) -> None:
    for k, v in values.items():
        st.session_state[f"sel.{k}"] = v


def _load_preset(name: str) -> None:
    keep = {k: st.session_state.get(f"sel.{k}") for k in
            ("center.recipe", "center.epochs", "center.lr", "center.lam", "center.seed", "uploads")}
    _load(_flat(lc.preset(name), name))
    _load({k: v for k, v in keep.items() if v is not None})


def _load_recipe(name: str) -> None:
    spec = recipe_spec(name)
    _load({"center.epochs": spec.epochs, "center.lr": float(spec.lr), "center.lam": float(spec.lam),
           "center.seed": spec.seed})


def _init_selection() -> None:
    """First run of a session: the preset and recipe from the URL (or the defaults), then overrides."""
    ss = st.session_state
    if ss.get("sel._ready"):
        return
    notes = ss.setdefault("sel._notes", [])             # shown on every run, not only the first
    qp = st.query_params.to_dict()
    name = qp.get("preset") or lc.DEFAULT_PRESET
    if name not in lc.PRESETS:
        notes.append(f"Unknown preset {plain(name)} in the link; using {lc.DEFAULT_PRESET}.")
        name = lc.DEFAULT_PRESET
    recipe = qp.get("recipe") or BARRIER_RECIPE
    if recipe not in CENTER_RECIPES:
        notes.append(f"Unknown center recipe {plain(recipe)} in the link; using {BARRIER_RECIPE}.")
        recipe = BARRIER_RECIPE
    defaults = _flat(lc.preset(name), name, recipe)
    _load(defaults)
    for field, q in QUERY_NAMES.items():
        if q not in qp or field in ("preset", "center.recipe"):
            continue
        if field == "executor" and qp[q] not in jobs.EXECUTORS:
            notes.append(f"Ignored the link's executor {plain(qp[q][:20])}: expected one of "
                         f"{', '.join(jobs.EXECUTORS)}.")
            continue
        if field == "align" and qp[q] not in ALIGN_CHOICES:
            notes.append(f"Ignored the link's alignment {plain(qp[q][:20])}: expected one of "
                         f"{', '.join(ALIGN_CHOICES)}.")
            continue
        kind = type(defaults[field])
        try:
            value = kind(float(qp[q])) if kind is int else kind(qp[q])
        except ValueError:
            notes.append(f"Ignored the link's value for {q}: expected a {kind.__name__}, got "
                         f"{plain(qp[q][:40])}.")
            continue
        why = _within(field, value) if kind in (int, float) and field != "data.n_train" else None
        if why:
            notes.append(f"Ignored the link's value for {q}: {plain(why)}.")
            continue
        ss[f"sel.{field}"] = value
    bad = [k for k in str(ss["sel.uploads"]).split(",") if k and not _KEY.match(k)]
    if bad:
        notes.append(f"Ignored {len(bad)} malformed uploaded-minimum reference(s) in the link.")
        ss["sel.uploads"] = ",".join(k for k in str(ss["sel.uploads"]).split(",") if _KEY.match(k))
    ss["sel._ready"] = True


ALIGN_CHOICES = {"none": "none (raw minima)", "weight": "weight matching (Git Re-Basin)",
                 "activation": "activation matching (Git Re-Basin)"}


def alignment() -> str:
    """The selection's alignment: "none", "weight" or "activation"."""
    value = st.session_state.get("sel.align", "none")
    return value if value in ALIGN_CHOICES else "none"


def selection() -> dict:
    return {k: st.session_state[f"sel.{k}"] for k in QUERY_NAMES}


def _sync_query_params() -> None:
    """Write the selection to the URL (only fields that differ from the preset and recipe)."""
    sel = selection()
    base = _flat(lc.preset(sel["preset"]), sel["preset"], sel["center.recipe"])
    want = {"preset": sel["preset"]}
    if sel["center.recipe"] != BARRIER_RECIPE:
        want["recipe"] = sel["center.recipe"]
    want.update({QUERY_NAMES[k]: str(v) for k, v in sel.items()
                 if k not in ("preset", "center.recipe") and v != base[k]})
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)


def add_upload(key: str) -> None:
    """Remember an uploaded minimum (by its content-hash key) in the selection and the URL."""
    keys = list(uploads_from(selection()))
    if key not in keys:
        keys.append(key)
    st.session_state["sel.uploads"] = ",".join(keys)
    _sync_query_params()


def _widget(container, fn, field: str, label: str, on_change=None, **kw):
    """A widget bound to ``sel.<field>``, which survives page changes."""
    wkey, skey = f"exp.{field}", f"sel.{field}"
    st.session_state[wkey] = st.session_state[skey]

    def store():
        st.session_state[skey] = st.session_state[wkey]
        if on_change is not None:
            on_change()
    return getattr(container, fn)(label, key=wkey, on_change=store, **kw)


def sidebar() -> tuple[lc.Experiment, lc.CenterSpec, tuple]:
    """Render the selection in the sidebar; return (experiment, center recipe, upload keys)."""
    configure_threads()
    _init_selection()
    for note in st.session_state.get("sel._notes", []):
        st.warning(note)
    sb = st.sidebar
    sb.header("Experiment")
    _widget(sb, "selectbox", "preset", "Preset", options=list(lc.PRESETS),
            on_change=lambda: _load_preset(st.session_state["sel.preset"]),
            help="Named settings; changing the preset resets the fields below.")
    sb.caption(PRESET_NOTES.get(st.session_state["sel.preset"], ""))
    um = guarded("Your model file", server_model, stop=False)
    if um is not None:
        _widget(sb, "radio", "user_model", "Model", options=[0, 1],
                format_func=lambda v: f"your model: {um.name}" if v else "the preset's architecture",
                help="A model builder named by whoever started this server (--model-file); "
                     "its file's hash is part of every cache key.")
    with sb.expander("Data and model"):
        _widget(st, "selectbox", "data.name", "Dataset", options=list(DATASETS))
        _widget(st, "number_input", "data.n_train", "Training examples (0 = all)", min_value=0, step=100)
        _widget(st, "selectbox", "model.arch", "Architecture", options=list(ARCHS))
        _widget(st, "number_input", "model.width", "Width (hidden units / channels)", **bounds("model.width"),
                step=8)
        _widget(st, "number_input", "model.depth", "Depth (hidden layers)", **bounds("model.depth"), step=1)
        _widget(st, "text_input", "model.hidden", "MLP hidden sizes (e.g. 500,300; overrides width/depth)")
        _widget(st, "selectbox", "model.activation", "Activation", options=list(ACTIVATIONS))
        _widget(st, "number_input", "model.init_scale", "Init scale", min_value=1e-3, format="%.3f")
    with sb.expander("Minima and training"):
        _widget(st, "number_input", "n_minima", "Number of minima", **bounds("n_minima"), step=1)
        _widget(st, "text_input", "seeds", "Seeds (comma list; blank = 0..n-1)")
        _widget(st, "selectbox", "train.optimizer", "Optimizer", options=["adam", "sgd"])
        _widget(st, "number_input", "train.lr", "Learning rate", min_value=1e-6, format="%.4g")
        _widget(st, "number_input", "train.epochs", "Epochs (at most)", **bounds("train.epochs"), step=5)
        _widget(st, "number_input", "train.batch_size", "Batch size", **bounds("train.batch_size"), step=16)
        _widget(st, "number_input", "train.weight_decay", "Weight decay", **bounds("train.weight_decay"),
                format="%.4g")
    _widget(sb, "selectbox", "align", "Alignment (modulo permutation)", options=list(ALIGN_CHOICES),
            format_func=ALIGN_CHOICES.get,
            help="Hidden units can be reordered without changing the function: with an alignment, "
                 "the pages also show every barrier after matching the second network's units to "
                 "the first's (Git Re-Basin), and with REPAIR.")
    _widget(sb, "selectbox", "executor", "Run minima and sweeps on", options=list(jobs.EXECUTORS),
            format_func=jobs.EXECUTORS.get,
            help="Independent minima and sweep values run as parallel units; the cluster is the "
                 "one whoever started this server named ($LANDSCAPE_DASK_ADDRESS), never a link.")
    with sb.expander("Center θ* recipe (fold-lines, star)"):
        _widget(st, "selectbox", "center.recipe", "Recipe", options=list(CENTER_RECIPES),
                on_change=lambda: _load_recipe(st.session_state["sel.center.recipe"]),
                format_func=lambda n: f"{n}: {CENTER_RECIPES[n].purpose}",
                help="The same recipe is used by every page, the CLI and the reproduction; "
                     "changing it resets the fields below to the recipe's values.")
        _widget(st, "number_input", "center.epochs", "Epochs", **bounds("center.epochs"), step=10)
        _widget(st, "number_input", "center.lr", "Learning rate", min_value=1e-6, max_value=1.0,
                format="%.4g")
        _widget(st, "number_input", "center.lam", "λ (distance penalty)", **bounds("center.lam"),
                format="%.4g")
        _widget(st, "number_input", "center.seed", "Seed", min_value=0, max_value=10_000)
    sel = selection()
    _sync_query_params()
    exp = guarded("Experiment settings", experiment_from, sel, um)
    spec = guarded("Center recipe", center_spec_from, sel)
    dim = guarded("Experiment settings", model_size, exp.model)
    sb.caption(f"D = {dim:,} trainable parameters · device: {device_label()} · "
               "the URL holds this selection: copy it to share the view.")
    return exp, spec, uploads_from(sel)
