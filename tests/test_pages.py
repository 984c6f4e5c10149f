"""Every page runs headless (streamlit.testing AppTest) on the "tiny" preset, and what it shows
is checked against the core asked directly (the same question asked another way).

Minima are trained once per module into a temporary cache (LANDSCAPE_CACHE_DIR); Streamlit's
caches are cleared between tests. Widget keys follow the pages' "<page>.<name>" convention; the
selection (experiment, center recipe, uploads) lives in the sidebar and the URL.
"""
import base64
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import landscape_core as lc
import landscape_core.paper  # noqa: F401  (lc.paper)

ROOT = Path(__file__).resolve().parents[1]
QUERY = {"preset": "tiny", "epochs": "4", "c_epochs": "2"}   # tiny preset, short training and centers


@pytest.fixture(scope="module")
def trained_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    exp = lc.preset("tiny").replace(**{"train.epochs": 4})
    lc.train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=lc.DiskCache(root))
    return root


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def app(path, cache_dir, monkeypatch, state=None, **query):
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(cache_dir))
    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    for k, v in {**QUERY, **query}.items():
        at.query_params[k] = str(v)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at.run()


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def figs(at) -> list:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(v) -> np.ndarray:
    """Plotly JSON arrays are lists or base64 typed arrays {dtype, bdata, shape}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v.get("shape", len(a))).split(",")])
    return np.asarray(v, dtype=float)


def trace_names(fig) -> list:
    return [tr.get("name") for tr in fig["data"]]


def test_home_page_shows_figure_1_cold(tmp_path, monkeypatch):
    """Empty cache, no click: the page trains the minima, fits the center and shows the paper's
    Figure 1 (segment and fold-line between two minima, loss and accuracy)."""
    at = ok(app("app.py", tmp_path, monkeypatch))
    (fig,) = figs(at)
    names = trace_names(fig)
    assert names.count("direct segment") == 2 and names.count("fold-line through θ*") == 2
    seg = next(t for t in fig["data"] if t["name"] == "direct segment")
    fold = next(t for t in fig["data"] if t["name"] == "fold-line through θ*")
    assert len(array(seg["y"])) == 21 and len(array(fold["y"])) == 41      # 21 points per piece
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("t")
    assert len(list((tmp_path / "minimum").glob("*.safetensors"))) == 3
    assert len(list((tmp_path / "center").glob("*.safetensors"))) == 1
    assert any("paper recipe (λ = 0, epochs = 2)" in c.value for c in at.caption)
    assert dict(at.query_params)["preset"] in ("tiny", ["tiny"])


@pytest.mark.parametrize("page", ["app.py", "pages/1_Minima.py", "pages/2_Paths_and_barriers.py",
                                  "pages/3_Star.py", "pages/4_Loss_slices.py",
                                  "pages/5_Geodesic_vs_width.py", "pages/6_Theory.py",
                                  "pages/7_Paper_reproduction.py"])
def test_every_page_shows_a_chart_on_first_load(page, tmp_path, monkeypatch):
    at = ok(app(page, tmp_path / "empty-cache", monkeypatch, epochs=2))
    assert figs(at), f"{page} shows no chart on an empty cache"
    assert all(any(len(array(tr.get("z", tr.get("y", [])))) for tr in f["data"]) for f in figs(at))


def test_gpu_sized_preset_starts_nothing_by_itself(tmp_path, monkeypatch):
    at = ok(app("app.py", tmp_path, monkeypatch, preset="cifar-vgg16"))
    assert not figs(at) and not (tmp_path / "minimum").exists()
    assert any("sized for a GPU" in w.value for w in at.warning)
    assert at.button(key="home.prepare").disabled                       # until confirmed


def test_minima_page_trains_cheap_minima_at_once(tmp_path, monkeypatch):
    at = ok(app("pages/1_Minima.py", tmp_path, monkeypatch, minima=2, seeds="10,11", epochs=2))
    table = at.dataframe[0].value
    assert len(table) == 2 and {"train loss", "test acc"} <= set(table.columns)
    (fig,) = figs(at)
    assert fig["data"][0]["type"] == "heatmap" and array(fig["data"][0]["z"]).shape == (2, 2)
    assert len(list((tmp_path / "minimum").glob("*.safetensors"))) == 2


def test_hostile_pickle_upload_is_refused_without_running_code(tmp_path, monkeypatch, trained_cache):
    marker, probe = tmp_path / "pwned.txt", tmp_path / "probe.txt"

    class Evil:
        def __init__(self, path):
            self.path = path

        def __reduce__(self):
            return open, (str(self.path), "w")
    pickle.loads(pickle.dumps(Evil(probe)))           # the payload is live: plain pickle runs it
    assert probe.exists()
    import torch
    evil = tmp_path / "evil.pt"
    torch.save({"0.weight": Evil(marker)}, evil)
    at = app("pages/1_Minima.py", trained_cache, monkeypatch)
    at.file_uploader(key="minima.upload").upload("evil.pt", evil.read_bytes()).run()
    assert not at.exception
    assert any("Checkpoint refused" in e.value for e in at.error)
    assert not marker.exists()
    assert len(at.dataframe[0].value) == 3                 # the trained minima are still listed


def test_checkpoint_uploads_good_and_mismatched(tmp_path, monkeypatch, trained_cache):
    exp = lc.preset("tiny")
    good, bad = tmp_path / "good.safetensors", tmp_path / "bad.safetensors"
    lc.save_checkpoint(lc.build_model(exp.model, 5), good)
    lc.save_checkpoint(lc.build_model(exp.model.__class__(**{**exp.model.__dict__, "width": 7}), 0), bad)
    at = app("pages/1_Minima.py", trained_cache, monkeypatch)
    at.file_uploader(key="minima.upload").upload("bad.safetensors", bad.read_bytes()).run()
    assert not at.exception and any("does not fit" in e.value for e in at.error)
    at.file_uploader(key="minima.upload").clear().upload("good.safetensors", good.read_bytes()).run()
    ok(at)
    assert len(at.dataframe[0].value) == 4 and "uploaded" in set(at.dataframe[0].value["source"])
    at.file_uploader(key="minima.upload").clear().upload("notes.pt", b"just some text, no weights").run()
    assert not at.exception and any("Checkpoint refused" in e.value for e in at.error)


def test_uploads_are_one_minimum_per_weights_and_survive_a_reload(tmp_path, monkeypatch, trained_cache):
    import torch
    exp = lc.preset("tiny")
    net = lc.build_model(exp.model, 5)
    st_file, pt_file = tmp_path / "w.safetensors", tmp_path / "w.pt"
    lc.save_checkpoint(net, st_file)
    torch.save(net.state_dict(), pt_file)
    at = app("pages/1_Minima.py", trained_cache, monkeypatch)
    at.file_uploader(key="minima.upload").upload("w.safetensors", st_file.read_bytes()).run()
    at.file_uploader(key="minima.upload").upload("w.pt", pt_file.read_bytes()).run()
    ok(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and list(table["source"]).count("uploaded") == 1
    up = dict(at.query_params)["up"]
    up = up[0] if isinstance(up, list) else up
    assert up in set(table["cache key"])
    st.cache_data.clear()
    st.cache_resource.clear()
    again = ok(app("pages/1_Minima.py", trained_cache, monkeypatch, up=up))    # a fresh session
    assert list(again.dataframe[0].value["source"]).count("uploaded") == 1


def test_link_values_are_shown_as_text_not_markdown(tmp_path, monkeypatch):
    evil = "[click me](http://example.invalid/x) ![img](http://example.invalid/i.png)"
    at = app("pages/1_Minima.py", tmp_path, monkeypatch, preset=evil, width="![](http://x.invalid/a)")
    assert not at.exception
    shown = " ".join(w.value for w in at.warning)
    assert "click me" in shown and "](" not in shown.replace("\\]\\(", "")
    assert "\\[click me\\]\\(http" in shown


def test_upload_file_names_are_shown_as_text(tmp_path, monkeypatch, trained_cache):
    at = app("pages/1_Minima.py", trained_cache, monkeypatch)
    name = "![x](http://example.invalid/p.png)[y](http://example.invalid).pt"
    at.file_uploader(key="minima.upload").upload(name, b"not a checkpoint").run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert "Checkpoint refused" in err and "](" not in err and "\\]\\(http" in err


def _tiny_minima(root):
    exp = lc.preset("tiny").replace(**{"train.epochs": 4})
    return lc.train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=lc.DiskCache(root))


def test_paths_page_fold_line_is_the_recipe_s_center(monkeypatch, trained_cache):
    from landscape_core.recipes import recipe_spec
    at = ok(app("pages/2_Paths_and_barriers.py", trained_cache, monkeypatch, state={"paths.n": 7}))
    profile, matrix = figs(at)[0], figs(at)[-1]
    assert trace_names(profile)[0] == "direct segment" and len(array(profile["data"][0]["x"])) == 7
    fold = next(t for t in profile["data"] if t.get("name") == "fold-line through θ*")
    assert len(array(fold["x"])) == 2 * 7 - 1                 # 7 points per straight piece
    assert len([t for t in matrix["data"] if t["type"] == "heatmap"]) == 2
    assert any("paper recipe (λ = 0, epochs = 2)" in c.value for c in at.caption)
    # the oracle: the same center asked of the core, in a fresh cache
    minima = _tiny_minima(trained_cache)
    c = lc.center_for_minima(minima, recipe_spec("paper", epochs=2), use_cache=False)
    ds = lc.load_dataset(minima[0].data)
    ev = lc.Evaluator(lc.build_model(minima[0].model), ds.X_train, ds.y_train, loss=ds.loss)
    want = lc.fold_line_path(minima[0].theta, c.theta, minima[1].theta, evaluator=ev, n_points=7)
    table = at.dataframe[0].value.set_index("path")
    assert table.loc["fold-line through θ*", "max_loss"] == pytest.approx(want.barriers()["max_loss"], rel=1e-5)


def test_paths_page_ngd_tradeoff_quotes_a_named_point(monkeypatch, trained_cache):
    from landscape_core.geodesic import ngd_upper_bound
    from landscape_core.recipes import NGD_LAMBDAS, recipe_spec
    at = ok(app("pages/2_Paths_and_barriers.py", trained_cache, monkeypatch, state={"paths.n": 5}))
    fig = figs(at)[1]                                      # cheap: fitted on first load
    lams = list(array(fig["data"][0]["x"]))
    assert lams == pytest.approx(list(NGD_LAMBDAS))
    minima = _tiny_minima(trained_cache)
    for lam, u in zip(lams, array(fig["data"][0]["y"])):       # U from the centers, by hand
        c = lc.center_for_minima(minima[:2], recipe_spec("ngd", lam=lam), cache=lc.DiskCache(trained_cache))
        assert u == pytest.approx(ngd_upper_bound(minima[0].theta, c.theta, minima[1].theta), rel=1e-9)
    (metric,) = at.metric
    assert "quoted" in metric.label and "λ =" in metric.label
    assert any("ngd recipe (λ =" in c.value and "Quoted point" in c.value for c in at.caption)


def test_star_fit_button_produces_center_and_star(monkeypatch, trained_cache):
    at = ok(app("pages/3_Star.py", trained_cache, monkeypatch, state={"star.n": 5}))
    names = at.multiselect(key="star.feet").options
    at.multiselect(key="star.feet").set_value(names[:2]).run()    # a new center, fitted at once
    ok(at)
    star = next(f for f in figs(at) if "center θ*" in trace_names(f))
    assert "held-out minima" in trace_names(star) and "feet θᵢ (fit the center)" in trace_names(star)
    assert "MDS" in star["layout"]["xaxis"]["title"]["text"]
    table = at.dataframe[0].value.set_index("path")
    assert set(table.index) >= {"direct segment", "fold-line", "spoke", "held-out spoke"}
    assert table.loc["direct segment", "n_paths"] == 1 and table.loc["held-out spoke", "n_paths"] == 1
    assert any("θ* of 2 minima, paper recipe" in c.value for c in at.caption)


def test_slices_page_heatmap_shape_and_grid_limit(monkeypatch, trained_cache):
    at = ok(app("pages/4_Loss_slices.py", trained_cache, monkeypatch, state={"slices.res": 7}))
    heat, surface = figs(at)[:2]
    assert heat["data"][0]["type"] == "heatmap" and array(heat["data"][0]["z"]).shape == (7, 7)
    assert surface["data"][0]["type"] == "surface"
    assert len(at.dataframe[0].value) >= 3                  # anchors and projected models
    import math
    from landscape_core.cost import MAX_SLICE_POINTS
    assert at.number_input(key="slices.res").max == math.isqrt(MAX_SLICE_POINTS)   # the core's limit
    at.number_input(key="slices.res").set_value(9).run()   # computes on Run only
    assert array(figs(at)[0]["data"][0]["z"]).shape == (7, 7)
    at.button(key="slices.run").click().run()
    assert array(figs(at)[0]["data"][0]["z"]).shape == (9, 9)


def test_slices_random_plane_and_geodesic(monkeypatch, trained_cache):
    at = ok(app("pages/4_Loss_slices.py", trained_cache, monkeypatch,
                state={"slices.res": 9, "slices.geo": True, "slices.margin": 0.5}))
    # epsilon defaults to 5% above the level that joins the two points, so they are joined
    assert "fast-marching geodesic" in trace_names(figs(at)[0])
    at.radio(key="slices.mode").set_value(at.radio(key="slices.mode").options[1]).run()
    at.button(key="slices.run").click().run()
    ok(at)
    heat = figs(at)[0]
    assert array(heat["data"][0]["z"]).shape == (9, 9)


def test_sweep_page_runs_a_small_width_sweep_with_the_ngd_recipe(tmp_path, monkeypatch):
    from landscape_core.geodesic import ngd_upper_bound
    from landscape_core.recipes import recipe_spec
    at = ok(app("pages/5_Geodesic_vs_width.py", tmp_path, monkeypatch, minima=2, epochs=2,
                state={"sweep.values.model.width": "6,10"}))
    assert any("ngd recipe (λ = 0.001)" in c.value for c in at.caption)
    fig = figs(at)[0]                                       # cheap: run on first load
    assert fig["layout"]["xaxis"]["title"]["text"] == "width (hidden units)"
    assert list(array(fig["data"][0]["x"])) == [6, 10]
    table = at.dataframe[0].value
    assert len(table) == 2                                  # one pair per width
    for width, u in zip((6, 10), table["NGD bound U"]):     # U recomputed from the cached center
        exp = lc.preset("tiny").replace(**{"model.width": width, "train.epochs": 2, "n_minima": 2})
        mins = lc.train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list,
                               cache=lc.DiskCache(tmp_path))
        c = lc.center_for_minima(mins, recipe_spec("ngd"), cache=lc.DiskCache(tmp_path))
        assert u == pytest.approx(ngd_upper_bound(mins[0].theta, c.theta, mins[1].theta), rel=1e-9)


def test_theory_page_bounds_and_student(tmp_path, monkeypatch):
    at = ok(app("pages/6_Theory.py", tmp_path, monkeypatch,
                state={"theory.widths": "8,16", "theory.trials": 20, "theory.pairs": 3,
                       "theory.width": 8, "theory.epochs": 3}))
    connect = figs(at)[0]
    assert len(connect["data"]) == 4 and connect["layout"]["yaxis"]["title"]["text"] == "probability"
    norms = figs(at)[-1]                                   # the cheap student is trained at once
    assert norms["data"][0]["type"] == "bar" and len(array(norms["data"][0]["y"])) == 8
    exp = lc.preset("teacher-student").replace(**{"model.width": 8, "train.epochs": 3, "n_minima": 1,
                                                  "model.init_scale": 0.5, "train.lr": 3e-3})
    (m,) = lc.train_minima(exp.model, exp.data, exp.train, seeds=[0], cache=lc.DiskCache(tmp_path))
    W = m.theta.reshape(8, 4).numpy()                      # first-layer rows, by hand
    assert sorted(np.linalg.norm(W, axis=1), reverse=True) == pytest.approx(array(norms["data"][0]["y"]))


def test_paper_page_tables_reproduce_results_and_upload(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                             # no results/ folder here
    at = ok(app("pages/7_Paper_reproduction.py", tmp_path, monkeypatch))
    assert any("reproduce table1" in i.value for i in at.info)
    assert not any("Measured results" in c.value for c in at.caption)
    loss = "segment max loss"                               # short column header
    t1 = at.dataframe[0].value.set_index(["setting", "source"])
    assert t1.loc[("MNIST FNN", "paper"), loss] == 1.25
    results = {"table1": {"MNIST FNN": {"segment_max_loss": 1.5, "fold_min_acc": 0.999}}}
    at.file_uploader(key="repro.upload").upload("r.json", json.dumps(results).encode()).run()
    ok(at)
    t1 = at.dataframe[0].value.set_index(["setting", "source"])
    assert t1.loc[("MNIST FNN", "measured (uploaded)"), loss] == 1.5
    # the reproduce command's own format, read from ./results
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table1.json").write_text(json.dumps({
        "experiment": "table1", "paper_numbers": {"column": "MNIST FNN"}, "settings": {"quick": True},
        "results": {"recipes": {"paper-recipe": {"comparison": [
            {"key": "segment_max_loss", "paper": 1.25, "ours": 1.75}]}}}}))
    (tmp_path / "results" / "table2.json").write_text(json.dumps({
        "experiment": "table2", "paper_numbers": {"column": "FNN+MNIST"}, "settings": {},
        "results": {"selected": {"lam": 0.001}, "tradeoff": [
            {"lam": 0.001, "ngd_upper_bound": 1.02, "fold_min_acc": 0.995}]}}))
    at = ok(app("pages/7_Paper_reproduction.py", tmp_path, monkeypatch))
    t1 = at.dataframe[0].value.set_index(["setting", "source"])
    assert t1.loc[("MNIST FNN", "measured, paper-recipe (quick test run)"), loss] == 1.75
    t2 = at.dataframe[1].value.set_index(["setting", "source"])
    assert t2.loc[("FNN+MNIST", "measured, λ = 0.001 (quoted)"), "NGD upper bound U(θ̃)"] == 1.02
    bars = figs(at)[0]["data"]
    assert [b["name"] for b in bars] == ["paper (Lin et al.)", "measured here"]


def test_bad_inputs_show_errors_not_tracebacks(tmp_path, monkeypatch):
    at = app("pages/1_Minima.py", tmp_path, monkeypatch, width=10 ** 9, minima=1000)
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)          # the core's limits, applied to links
    assert "width: 1000000000 is above the limit 1000000" in notes
    assert "minima: 1000 is above the limit 100" in notes
    at = app("pages/1_Minima.py", tmp_path, monkeypatch, width=10 ** 6)      # valid, but 76M params
    assert not at.exception and any("trainable parameters" in e.value for e in at.error)
    at = app("pages/1_Minima.py", tmp_path, monkeypatch, seeds="1,x")
    assert not at.exception and any("seeds" in e.value for e in at.error)
    import landscape_core.data as data
    monkeypatch.setattr(data, "resolve_data_dir", lambda data_dir=None: [tmp_path / "nowhere"])
    at = app("pages/1_Minima.py", tmp_path, monkeypatch, preset="mnist-fnn")
    assert not at.exception and any("dataset not found" in e.value for e in at.error)


def test_png_export_failure_shows_a_message(monkeypatch, trained_cache):
    import ui.widgets

    def broken(fig):
        raise RuntimeError("no Chromium here")
    monkeypatch.setattr(ui.widgets, "figure_png", broken)
    at = ok(app("pages/1_Minima.py", trained_cache, monkeypatch))
    at.button(key="minima.dist.png").click().run()
    assert not at.exception and any("PNG export failed" in w.value for w in at.warning)
    assert {b.label for b in at.download_button} >= {"HTML (interactive)", "Data (CSV)", "Data (JSON)"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium for kaleido")
def test_png_export_with_kaleido():
    import ui.widgets
    from landscape_core import figures
    png = ui.widgets.figure_png(figures.distance_matrix_figure(np.eye(2), ["a", "b"]))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_server_s_own_model_works_on_the_pages(tmp_path, monkeypatch):
    """A builder named by whoever starts the server (here $LANDSCAPE_MODEL_FILE) is offered in the
    sidebar; chosen through the link (user=1), pages train, fit and draw with it. The link can
    only pick it, never name a file."""
    monkeypatch.setenv("LANDSCAPE_MODEL_FILE", str(ROOT / "examples" / "my_model.py"))
    at = ok(app("pages/2_Paths_and_barriers.py", tmp_path, monkeypatch, user=1, width=12))
    names = trace_names(figs(at)[0])
    assert "direct segment" in names and "fold-line through θ*" in names
    keys = [p.stem for p in (tmp_path / "minimum").glob("*.safetensors")]
    assert len(keys) == 3
    m = lc.DiskCache(tmp_path).load("minimum", keys[0]).meta
    assert m["model"]["arch"] == "user" and m["model"]["width"] == 12
    assert any("my_model.py:build" in o for o in at.sidebar.radio(key="exp.user_model").options)


def test_plain_sequential_checkpoint_uploads(tmp_path, monkeypatch, trained_cache):
    """The most natural plain-PyTorch model for the default architecture (no leading Flatten)."""
    import torch
    from torch import nn
    exp = lc.preset("tiny")
    net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    torch.manual_seed(3)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    f = tmp_path / "plain.pt"
    torch.save(net.state_dict(), f)
    at = app("pages/1_Minima.py", trained_cache, monkeypatch)
    assert "0.weight" not in at.get("code")[0].value and "(16, 64)" in at.get("code")[0].value
    at.file_uploader(key="minima.upload").upload("plain.pt", f.read_bytes()).run()
    ok(at)
    assert any("0.weight -> 1.weight" in s.value.replace("\\", "") for s in at.success)
    zoo = lc.build_model(exp.model, 0)                     # the oracle: copy the weights by hand
    with torch.no_grad():
        for (_, p), q in zip(zoo.named_parameters(), net.parameters()):
            p.copy_(q)
    ds = lc.load_dataset(exp.data)
    want = lc.Evaluator(zoo, ds.X_train, ds.y_train).evaluate(lc.flatten(zoo)[None]).loss[0]
    table = at.dataframe[0].value
    assert table[table["source"] == "uploaded"]["train loss"].iloc[0] == pytest.approx(want, rel=1e-5)


def test_alignment_lens_on_paths_star_and_sweep(tmp_path, monkeypatch, trained_cache):
    """align=weight (from the link): the Paths page adds raw / aligned / aligned+REPAIR segments
    (alignment only relabels units, so both ends keep their losses), the Star page compares three
    centers, the sweep page plots the barrier with and without alignment."""
    at = ok(app("pages/2_Paths_and_barriers.py", trained_cache, monkeypatch, align="weight",
                state={"paths.n": 5}))
    fig = next(f for f in figs(at) if any("REPAIR" in (n or "") for n in trace_names(f)))
    loss = {t["name"]: array(t["y"]) for t in fig["data"] if t.get("xaxis", "x") == "x" and t.get("y") is not None
            and len(array(t["y"]))}
    raw, aligned = loss["raw"], loss["weight matching"]
    assert aligned[0] == pytest.approx(raw[0], rel=1e-5) and aligned[-1] == pytest.approx(raw[-1], rel=1e-4)
    table = next(d.value for d in at.dataframe if "path" in d.value.columns and "raw" in list(d.value["path"]))
    assert {"rebasin_barrier", "midpoint_barrier"} <= set(table.columns)
    assert list(table["path"]) == ["raw", "weight matching", "weight matching + REPAIR"]
    assert table["max_loss"].iloc[0] == pytest.approx(raw.max(), rel=1e-3)      # 4 significant digits
    at = ok(app("pages/3_Star.py", trained_cache, monkeypatch, align="weight", state={"star.n": 5}))
    at.button(key="star.compare").click().run()
    ok(at)
    frame = next(d.value for d in at.dataframe if "center" in d.value.columns)
    assert set(frame["center"]) == {"paper's center, raw feet", "center fitted to aligned feet",
                                    "average of aligned feet"}
    at = ok(app("pages/5_Geodesic_vs_width.py", tmp_path, monkeypatch, minima=2, epochs=2, align="weight",
                state={"sweep.values.model.width": "6,10"}))
    series = trace_names(next(f for f in figs(at) if "modulo permutation" in f["layout"]["title"]["text"]))
    assert "raw minima" in series and "weight matching (Git Re-Basin)" in series


def test_sweep_page_on_local_workers_equals_the_serial_sweep(tmp_path, monkeypatch):
    """exec=local (the sidebar's executor, from the link): the page's sweep runs its values as
    units in worker processes and shows the rows a serial run in another cache computes."""
    from landscape_core.recipes import recipe_spec
    at = ok(app("pages/5_Geodesic_vs_width.py", tmp_path / "page", monkeypatch, minima=2, epochs=2,
                exec="local", state={"sweep.values.model.width": "6,10"}))
    table = at.dataframe[-1].value
    base = lc.preset("tiny").replace(**{"train.epochs": 2, "n_minima": 2, "seeds": (0, 1)})
    serial = lc.sweep(base, "model.width", [6, 10], center_spec=recipe_spec("ngd"),
                      cache=lc.DiskCache(tmp_path / "serial"))
    assert list(table["NGD bound U"]) == pytest.approx([r["ngd_bound"] for r in serial.rows], rel=1e-6)
