"""The reproduction: every experiment in --quick mode, checked against independent answers;
the plans' recipes; the result envelope; the reading side the dashboard calls."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from landscape_core import DiskCache, paper, recipes, reproduce, theory
from landscape_core.cli import main
from landscape_core.config import spec_dict
from landscape_core.data import load_dataset
from landscape_core.models import build_model
from landscape_core.params import unflatten
from landscape_core.refs import CenterRef, center
from landscape_core.training import train_minima

NAMES = ("fig3", "fig3-sparsity", "fig4", "table1", "table2")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """All five experiments in quick mode, sharing one private cache and one output folder."""
    root = tmp_path_factory.mktemp("reproduce")
    out, cache = root / "results", DiskCache(root / "cache")
    before = torch.get_num_threads()
    results = {name: reproduce.run(name, quick=True, out_dir=out, quiet=True, cache=cache)
               for name in NAMES}
    assert torch.get_num_threads() == before            # the runner restores torch's threads
    return out, results, cache


def _strict_load(path):
    def no_constants(name):
        raise AssertionError(f"{path.name} holds the non-JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=no_constants)


def test_every_experiment_writes_a_self_describing_json(quick):
    out, results, _ = quick
    for name in NAMES:
        data = _strict_load(out / f"{name}.json")
        assert data == json.loads(json.dumps(reproduce.clean(results[name])))
        assert data["experiment"] == name and data["settings"]["quick"] is True
        assert data["results_version"] == reproduce.RESULTS_VERSION
        assert data["machine"]["torch"] == torch.__version__
        assert {"cpu", "cores", "torch_threads", "python"} <= set(data["machine"])
        assert all(isinstance(v, str) and "{" not in v for v in data["unstated_settings"].values())


def test_every_center_is_a_named_recipe_with_visible_changes(quick):
    _, results, _ = quick
    for name in ("fig3", "fig4", "table1", "table2"):
        centers = results[name]["settings"]["centers"]
        assert centers, name
        for rec in centers.values():
            spec = recipes.recipe_spec(rec["recipe"], **rec["changes"])
            assert rec["spec"] == json.loads(json.dumps(spec_dict(spec)))
            assert rec["label"] == recipes.describe(spec)
    assert {r["recipe"] for r in results["table1"]["settings"]["centers"].values()} == {"paper", "fast"}
    assert {r["recipe"] for r in results["fig3"]["settings"]["centers"].values()} == {"ngd"}


def test_the_full_plans_keep_the_recorded_center_specs():
    """The published results/ were made with these exact specs; a plan edit that changes one
    would silently orphan the cached centers, so it is pinned here."""
    full = {n: reproduce.prepare(n, quick=False)[1] for n in ("fig3", "fig4", "table1", "table2")}
    assert full["table1"]["paper-recipe"].spec == recipes.recipe_spec("paper", epochs=20)
    assert full["table1"]["fast-recipe"].spec.lr == 1e-3 and full["table1"]["fast-recipe"].spec.epochs == 20
    assert [c.spec.lam for c in full["table2"].values()] == [0.0, 1e-4, 1e-3, 1e-2]
    assert all(c.spec.lr == 1e-3 and c.spec.epochs == 20 and c.spec.init == "mean"
               for c in full["table2"].values())
    assert [c.spec.epochs for c in full["fig4"].values()] == [500, 200, 200]
    assert all(c.spec.lr == 1e-2 for c in full["fig3"].values())


def _segment_max_losses(exp, minima, n_points):
    """Max train loss along each straight segment, by plain forward passes (no Evaluator)."""
    ds = load_dataset(exp.data)
    net = build_model(exp.model)
    out = []
    for a, b in itertools.combinations(minima, 2):
        worst = -math.inf
        for t in np.linspace(0.0, 1.0, n_points):
            params = unflatten((1 - t) * a.theta + t * b.theta, net)
            with torch.no_grad():
                logits = torch.func.functional_call(net, params, (ds.X_train,))
                worst = max(worst, float(torch.nn.functional.cross_entropy(logits, ds.y_train)))
        out.append(worst)
    return out


def test_table1_segments_match_plain_forward_passes(quick):
    _, results, cache = quick
    res = results["table1"]
    from landscape_core.reproduce.tables import table_experiment
    exp, _ = table_experiment("mnist-fnn", True)
    minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache)
    expected = float(np.mean(_segment_max_losses(exp, minima, res["settings"]["n_points"])))
    for rec in res["results"]["recipes"].values():
        rows = {r["key"]: r for r in rec["comparison"]}
        assert rows["segment_max_loss"]["ours"] == pytest.approx(expected, rel=1e-4)
        assert all(rows[k]["paper"] == paper.TABLE1["MNIST FNN"][k] for k in rows)
        assert rec["center_recipe"] in {c["label"] for c in res["settings"]["centers"].values()}
        assert rec["n_points"] == res["settings"]["n_points"]


def test_table2_bounds_and_quoted_point_from_scratch(quick):
    _, results, cache = quick
    res = results["table2"]
    from landscape_core.reproduce.tables import table_experiment
    exp, _ = table_experiment("mnist-fnn", True, n_minima=2)
    a, b = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache)
    rows = res["results"]["tradeoff"]
    for row, rec in zip(rows, res["settings"]["centers"].values()):
        spec = recipes.recipe_spec(rec["recipe"], **rec["changes"])
        c = center(CenterRef((a.key, b.key), spec), cache).theta.double()
        A, B = a.theta.double(), b.theta.double()
        u = float(((A - c).norm() + (c - B).norm()) / (A - B).norm())
        assert row["ngd_upper_bound"] == pytest.approx(u, rel=1e-9)
        assert row["center_recipe"] == rec["label"]
    limits = recipes.quote_limits([a.train_acc, b.train_acc], [a.train_loss, b.train_loss])
    k = recipes.quoted_point([{"ngd_bound": r["ngd_upper_bound"], "fold_min_acc": r["fold_min_acc"],
                               "fold_max_loss": r["fold_max_loss"]} for r in rows], **limits)
    selected = res["results"]["selected"]
    assert (selected is None) == (k is None)
    if k is not None:
        assert selected["lam"] == rows[k]["lam"] and selected["rule"] == recipes.QUOTE_RULE
    assert [m["seed"] for m in res["results"]["minima"]] == [0, 1]      # Table 1's first two


def test_fig4_means_are_the_means_of_the_runs(quick):
    _, res, _ = quick
    runs = res["fig4"]["settings"]["runs"]
    for rows in res["fig4"]["results"]["ngd_vs_width"].values():
        assert all(r["runs"] == runs and len(r["ngd_bound_per_run"]) == runs for r in rows)
        assert all(math.isclose(r["ngd_bound_mean"], np.mean(r["ngd_bound_per_run"])) for r in rows)
        assert all(math.isclose(r["fold_max_loss_mean"], np.mean(r["fold_max_loss_per_run"])) for r in rows)


def test_fig3_theory_reference_is_the_shared_curve(quick):
    _, res, _ = quick
    s = res["fig3"]["settings"]
    for r in s["theory_sparsities"]:
        curve = res["fig3"]["results"]["theory_reference"][theory.curve_label(r)]
        again = theory.two_piece_ngd_curve(s["widths"], 4, r, s["theory_trials"], 0)
        assert curve == json.loads(json.dumps(reproduce.clean(again)))


def test_sparsity_counts_match_a_brute_force_count(quick):
    _, res, _ = quick
    for sol in res["fig3-sparsity"]["results"]["solutions"].values():
        norms = np.array(sol["sorted_norms"])
        assert len(norms) == sol["n_neurons"] == res["fig3-sparsity"]["settings"]["width"]
        for share, key in ((0.5, "neurons_for_50pct"), (0.9, "neurons_for_90pct")):
            k = next(k for k in range(1, len(norms) + 1) if norms[:k].sum() >= share * norms.sum() - 1e-12)
            assert sol[key] == k
        assert sol["fraction_in_top_M"] == pytest.approx(norms[:4].sum() / norms.sum())


def test_load_results_reads_everything_back(quick, tmp_path):
    out, results, _ = quick
    loaded = reproduce.load_results(out)
    assert set(loaded) == set(NAMES)
    assert loaded["table2"]["results"]["tradeoff"] == json.loads(json.dumps(
        reproduce.clean(results["table2"]["results"]["tradeoff"])))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"unrelated": 1}')
    assert reproduce.load_results(tmp_path) == {}
    assert reproduce.load_results(tmp_path / "missing") == {}


def test_cli_reproduce_resumes_from_the_cache(tmp_path, capsys):
    out = tmp_path / "res"
    argv = ["reproduce", "fig4", "--quick", "--out-dir", str(out), "--quiet",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    first = json.loads((out / "fig4.json").read_text())
    assert main(argv) == 0
    second = json.loads((out / "fig4.json").read_text())
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert second["results"] == first["results"] and second["cache_key"] == first["cache_key"]
    printed = capsys.readouterr().out.splitlines()
    label = first["settings"]["centers"]["0.001"]["label"]
    assert printed[0].startswith(f"fig4: NGD bound ({label}) m=4: ")
    assert printed[1].endswith("summary from cache]")


def test_unknown_experiment_and_setting_are_refused():
    with pytest.raises(ValueError, match=r"The 'name' parameter of prepare must be one of 'fig3', "
                                         r"'fig3-sparsity', 'fig4', 'table1', 'table2', 'rebasin-mlp', 'repair-mlp', "
                                         r"'entezari-width'. Got 'fig5'"):
        reproduce.prepare("fig5")
    with pytest.raises(ValueError, match=r"The 'threads' parameter of run must be an int in the range "
                                         r"\[1, 4096\] or None. Got 0 instead."):
        reproduce.run("fig4", quick=True, threads=0)
    with pytest.raises(ValueError, match="--setting applies to table1 and table2 only"):
        reproduce.prepare("fig4", setting="cifar-vgg16")


def test_clean_makes_strict_json():
    obj = {"a": np.float32(1.5), "b": float("inf"), "c": (np.int64(3), np.nan),
           "d": np.arange(3), "e": torch.tensor([1.0])}
    text = json.dumps(reproduce.clean(obj), allow_nan=False)
    assert json.loads(text) == {"a": 1.5, "b": None, "c": [3, None], "d": [0, 1, 2], "e": [1.0]}


# ------------------------------------------------------------------ the reading side
def test_reading_the_published_results_names_every_recipe():
    res = reproduce.load_results("results")
    if {"table1", "table2"} - set(res):
        pytest.skip("results/ does not hold the table files")
    t1, t2 = reproduce.reproduce_tables(res)
    specs = res["table1"]["results"]["recipes"]
    from landscape_core.center import CenterSpec
    expected = {f"measured, {recipes.describe(CenterSpec(**{k: v for k, v in r['center_spec'].items() if k != '__type__'}))}"
                for r in specs.values()}
    if "table1-full" in res:                    # the full-data run's rows are labelled apart
        full = res["table1-full"]["results"]["recipes"]
        expected |= {f"measured, {recipes.describe(CenterSpec(**{k: v for k, v in r['center_spec'].items() if k != '__type__'}))} (full data)"
                     for r in full.values()}
    assert set(t1["MNIST FNN"]) == expected
    quoted = [k for k in t2["FNN+MNIST"] if k.endswith("(quoted)")]
    sel = res["table2"]["results"]["selected"]["lam"]
    assert len(quoted) == 1 and f"λ = {sel:g}" in quoted[0]
    assert t2["FNN+MNIST"][quoted[0]]["ngd_upper_bound"] == res["table2"]["results"]["selected"]["ngd_upper_bound"]


def test_reproduce_tables_reads_quick_runs_and_plain_uploads(quick):
    _, results, _ = quick
    t1, t2 = reproduce.reproduce_tables({k: results[k] for k in ("table1", "table2")})
    assert all(s.endswith("(quick test run)") for s in t1["MNIST FNN"])
    assert len(t1["MNIST FNN"]) == 2 and len(t2["FNN+MNIST"]) == len(results["table2"]["results"]["tradeoff"])
    upload = {"table1": {"my run": {"fold_min_acc": 0.97, "note": "text is dropped", "flag": True}}}
    u1, u2 = reproduce.reproduce_tables(upload)
    assert u1 == {"my run": {"measured (uploaded)": {"fold_min_acc": 0.97}}} and u2 == {}
    others = reproduce.other_experiments(results)
    assert sorted(n for n, _ in others) == ["fig3", "fig3-sparsity", "fig4"]


def test_comparison_frame_and_first_measured():
    measured = {"MNIST FNN": {"measured, fast recipe (λ = 0)": {"fold_min_acc": 0.99}},
                "extra": {"measured (uploaded)": {"fold_min_acc": 0.5}}}
    frame = reproduce.comparison_frame(paper.TABLE1, measured, {"fold_min_acc": "fold acc"},
                                       {"fold_min_acc": 0.7}, "this selection")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["setting", "source", "fold acc"]
    assert len(frame) == len(paper.TABLE1) + 2 + 1
    mine = frame[(frame.setting == "MNIST FNN") & (frame.source != "paper")]
    assert mine["fold acc"].tolist() == [0.99]
    assert frame.iloc[-1].tolist() == ["this selection", "measured now", 0.7]
    assert reproduce.first_measured(measured, ["MNIST FNN", "CIFAR-10 VGG16", "extra"],
                                    "fold_min_acc") == [0.99, None, 0.5]


def test_measured_now_from_a_star_table_and_a_tradeoff():
    from landscape_core.ngd import NGDTradeoff
    rows = [{"path": "direct segment", "max_loss": 1.0, "min_acc": 0.6},
            {"path": "fold-line", "max_loss": 0.1, "min_acc": 0.95}, {"path": "spoke", "max_loss": 9.0}]
    trade = NGDTradeoff(("a", "b"), [{"lam": 1e-3, "ngd_bound": 1.2, "fold_min_acc": 0.9},
                                     {"lam": 1e-2, "ngd_bound": 1.1, "fold_min_acc": 0.8}], 1, "ngd", 21, "none")
    t1, t2 = reproduce.measured_now(rows, trade)
    assert t1 == {"segment_max_loss": 1.0, "segment_min_acc": 0.6, "fold_max_loss": 0.1, "fold_min_acc": 0.95}
    assert t2 == {"ngd_upper_bound": 1.1, "fold_min_acc": 0.8}
    assert reproduce.measured_now() == ({}, {})


@pytest.mark.parametrize("bad,needle", [
    ([1, 2], "must be a JSON object. Got list"),
    ({"experiment": "table1", "settings": {}}, "must hold the keys experiment, settings, results"),
    ({"experiment": 3, "settings": {}, "results": {}}, "needs a text 'experiment'"),
    ({}, "holds no reproduction result"),
])
def test_check_result_names_what_was_expected(bad, needle):
    with pytest.raises(ValueError, match=needle):
        reproduce.check_result(bad)


def test_check_result_accepts_what_the_command_writes(quick):
    _, results, _ = quick
    assert reproduce.check_result(results["fig4"]) is results["fig4"]
    assert reproduce.check_result({"table1": {"x": {"fold_min_acc": 1.0}}})


# ----------------------------------------------------------------------------- modulo permutation
ALIGN_NAMES = ("rebasin-mlp", "repair-mlp", "entezari-width")


@pytest.fixture(scope="module")
def quick_alignment(tmp_path_factory):
    """The three modulo-permutation reproductions in quick mode (digits, seconds)."""
    root = tmp_path_factory.mktemp("reproduce-align")
    out, cache = root / "results", DiskCache(root / "cache")
    return out, cache, {n: reproduce.run(n, quick=True, out_dir=out, quiet=True, cache=cache)
                        for n in ALIGN_NAMES}


def test_alignment_reproductions_write_self_describing_json(quick_alignment):
    out, _, results = quick_alignment
    for name in ALIGN_NAMES:
        data = _strict_load(out / f"{name}.json")
        assert data["experiment"] == name and data["settings"]["quick"] is True
        assert data["paper_numbers"]["source"] and data["paper_numbers"]["claim"]
        assert all(isinstance(v, str) and "{" not in v for v in data["unstated_settings"].values())
        assert reproduce.headline(results[name]).startswith(name)
    reb = results["rebasin-mlp"]["results"]
    assert set(reb["summary"]) == {"none", "weight", "activation", "weight+repair"}
    for v in reb["summary"].values():
        assert {"train_barrier_height", "test_rebasin_barrier", "train_midpoint_barrier"} <= set(v)
    row = reb["per_pair"][0]["weight"]
    assert row["alignment"]["method"] == "weight" and row["max_output_change"] < 1e-4
    assert "train_weight_reduction_vs_raw" in reb["findings"]
    assert [e["width"] for e in results["entezari-width"]["results"]["by_width"]] == [8, 32]
    assert [e["depth"] for e in results["repair-mlp"]["results"]["by_depth"]] == [1, 2]


def test_alignment_reproduction_resumes_from_the_cache(quick_alignment):
    out, cache, results = quick_alignment
    again = reproduce.run("rebasin-mlp", quick=True, out_dir=out, quiet=True, cache=cache)
    assert again["from_cache"] and again["results"] == json.loads(json.dumps(reproduce.clean(
        results["rebasin-mlp"]["results"])))
    fresh = reproduce.run("rebasin-mlp", quick=True, out_dir=None, quiet=True, cache=cache, refresh=True)
    assert fresh["results"]["summary"] == json.loads(json.dumps(reproduce.clean(
        results["rebasin-mlp"]["results"]["summary"])))     # pairs come from their cache entries


def test_table1_full_is_accepted_and_names_the_papers_recipe(tmp_path, capsys):
    from landscape_core.cli import build_parser
    args = build_parser().parse_args(["reproduce", "table1", "--full", "--threads", "1"])
    assert args.full and not args.quick
    body, centers = reproduce.prepare("table1", full=True)
    s = body["settings"]
    assert list(centers) == ["paper-recipe", "fast-recipe"] and centers["paper-recipe"].recipe == "paper"
    assert s["centers"]["paper-recipe"]["changes"] == {}
    assert s["centers"]["paper-recipe"]["spec"] == spec_dict(recipes.recipe_spec("paper"))
    assert s["centers"]["paper-recipe"]["spec"]["epochs"] == 200
    assert s["experiment"]["data"]["n_train"] is None and s["full"] is True
    assert s["training_label"].startswith("FULL:")
    assert reproduce.runner.result_name("table1", "mnist-fnn", True) == "table1-full"
    # refused before any work: other plans, other columns, --quick together with --full
    with pytest.raises(ValueError, match="--full applies to table1"):
        reproduce.prepare("fig4", full=True)
    with pytest.raises(ValueError, match="--full applies to table1"):
        reproduce.prepare("table1", setting="cifar-vgg16", full=True)
    with pytest.raises(ValueError, match="exclude each other"):
        reproduce.prepare("table1", quick=True, full=True)
    assert main(["reproduce", "fig4", "--full", "--out-dir", str(tmp_path)]) != 0
    assert "--full applies to table1 only" in capsys.readouterr().err
