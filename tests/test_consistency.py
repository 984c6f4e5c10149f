"""One question, one answer: the same question asked through the Python API, the CLI and a
dashboard page gives the same numbers.

Each route works in its OWN empty cache, so nothing is shared but the recipe defaults: if a
route used another default recipe, lambda or number of points, it would fit another center and
the numbers would differ.
"""
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import landscape_core as lc
from landscape_core.cli import main as cli_main
from landscape_core.evaluate import evaluators_for
from landscape_core.ngd import ngd_tradeoff
from landscape_core.recipes import NGD_LAMBDAS, recipe_spec
from landscape_core.refs import N_POINTS

ROOT = Path(__file__).resolve().parents[1]
EXP = lc.preset("tiny").replace(**{"train.epochs": 4})
LAM = 1e-3

pytestmark = pytest.mark.usefixtures("one_thread")


def _minima(root):
    return lc.train_minima(EXP.model, EXP.data, EXP.train, seeds=EXP.seed_list, cache=lc.DiskCache(root))


def _cli(tmp_path, name, *args):
    out = tmp_path / f"{name}.json"
    code = cli_main([*args, "--preset", "tiny", "--set", "train.epochs=4", "--quiet",
                     "--cache-dir", str(tmp_path / f"cli-{name}"), "--out", str(out)])
    assert code == 0
    return json.loads(out.read_text())["meta"]


def _page(path, cache, monkeypatch, **query):
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(cache))
    _minima(cache)
    at = AppTest.from_file(str(ROOT / path), default_timeout=300)
    for k, v in {"preset": "tiny", "epochs": "4", **query}.items():
        at.query_params[k] = str(v)
    return at.run()


def test_ngd_of_a_pair_is_one_number(tmp_path, monkeypatch):
    # 1. Python API, cache A
    a, b = _minima(tmp_path / "api")[:2]
    ev, _ = evaluators_for(lc.build_model(EXP.model), lc.load_dataset(EXP.data))
    api = ngd_tradeoff(a, b, evaluator=ev, cache=lc.DiskCache(tmp_path / "api"), lams=(LAM,)).rows[0]
    assert api["center"] == "ngd recipe (λ = 0.001)"
    seg = lc.linear_path(a.theta, b.theta, evaluator=ev, n_points=N_POINTS).barriers()["max_loss"]
    assert api["segment_max_loss"] == pytest.approx(seg)
    assert (api["flag"] is not None) == (api["fold_max_loss"] > seg)        # the bad-center flag
    # 2. CLI with its defaults, cache B
    cli = _cli(tmp_path, "ngd", "ngd", "--pair", "0", "1", "--lam", str(LAM))
    (row,) = cli["rows"]
    # 3. the Paths page with its defaults, cache C
    at = _page("pages/2_Paths_and_barriers.py", tmp_path / "page", monkeypatch)   # fits at once
    assert not at.exception and not at.error
    fig = json.loads(at.get("plotly_chart")[1].proto.spec)
    lams, bounds = fig["data"][0]["x"], fig["data"][0]["y"]
    page_u = dict(zip(lams, bounds))[LAM] if isinstance(bounds, list) else None
    if page_u is None:                                   # plotly may encode arrays as typed buffers
        import base64
        import numpy as np
        dec = lambda v: np.frombuffer(base64.b64decode(v["bdata"]), v["dtype"]) if isinstance(v, dict) else v
        page_u = dict(zip(dec(lams).tolist(), dec(bounds).tolist()))[LAM]
    assert list(NGD_LAMBDAS).count(LAM) == 1
    assert row["ngd_bound"] == pytest.approx(api["ngd_bound"], rel=1e-6)
    assert page_u == pytest.approx(api["ngd_bound"], rel=1e-6)
    assert row["fold_max_loss"] == pytest.approx(api["fold_max_loss"], rel=1e-5)


def test_fold_line_barrier_is_one_number(tmp_path, monkeypatch):
    spec = recipe_spec("paper", epochs=2)
    # 1. Python API: the center of all minima with the paper recipe, cache A
    minima = _minima(tmp_path / "api")
    c = lc.center_for_minima(minima, spec, cache=lc.DiskCache(tmp_path / "api"))
    ev, _ = evaluators_for(lc.build_model(EXP.model), lc.load_dataset(EXP.data))
    api = lc.fold_line_path(minima[0].theta, c.theta, minima[1].theta, evaluator=ev,
                            n_points=N_POINTS).barriers()
    # 2. CLI: path --kind fold_line with its default recipe, cache B
    cli = _cli(tmp_path, "path", "path", "--pair", "0", "1", "--kind", "fold_line", "--epochs", "2")
    assert cli["center_recipe"] == "paper recipe (λ = 0, epochs = 2)"
    # 3. the Paths page with the sidebar's default recipe, cache C
    at = _page("pages/2_Paths_and_barriers.py", tmp_path / "page", monkeypatch, c_epochs=2)
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("path")
    assert any("paper recipe (λ = 0, epochs = 2)" in cap.value for cap in at.caption)
    assert cli["barriers"]["train"]["max_loss"] == pytest.approx(api["max_loss"], rel=1e-5)
    assert table.loc["fold-line through θ*", "max_loss"] == pytest.approx(api["max_loss"], rel=1e-5)
    assert table.loc["fold-line through θ*", "min_acc"] == pytest.approx(api["min_acc"], abs=1e-9)
