"""The reproduce command: every experiment in --quick mode, JSON layout, paper numbers, caching."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from landscape_core import paper, reproduce, theory

NAMES = ("fig3", "fig3-sparsity", "fig4", "table1", "table2")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """All five experiments in quick mode, sharing one private cache and one output folder."""
    root = tmp_path_factory.mktemp("reproduce")
    out = root / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANDSCAPE_CACHE_DIR", str(root / "cache"))
        results = {name: fn(quick=True, out_dir=out, quiet=True)
                   for name, fn in reproduce.EXPERIMENTS.items()}
    return out, results


def _strict_load(path):
    def no_constants(name):
        raise AssertionError(f"{path.name} holds the non-JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=no_constants)


def test_every_experiment_writes_a_self_describing_json(quick):
    out, results = quick
    for name in NAMES:
        data = _strict_load(out / f"{name}.json")
        assert data["experiment"] == name
        for key in ("settings", "unstated_settings", "paper_numbers", "results", "wall_time_s",
                    "date", "machine", "paper"):
            assert key in data, (name, key)
        assert data["settings"]["quick"] is True
        assert data["unstated_settings"], name
        assert data["wall_time_s"] >= 0
        assert {"cpu", "cores", "torch"} <= set(data["machine"])
        assert data["machine"]["torch"] == torch.__version__


def test_ngd_bounds_are_at_least_one(quick):
    _, res = quick
    for name in ("fig3", "fig4"):
        series = res[name]["results"]["ngd_vs_width"]
        assert series
        for rows in series.values():
            assert [r["width"] for r in rows] == res[name]["settings"]["widths"]
            for r in rows:
                assert r["ngd_bound_mean"] >= 1.0 - 1e-9
                assert r["fold_max_loss_mean"] >= 0
    for curve in res["fig3"]["results"]["theory_reference"].values():
        assert all(r["ngd_2piece_mean"] is None or r["ngd_2piece_mean"] >= 1.0 - 1e-9 for r in curve)
    for row in res["table2"]["results"]["tradeoff"]:
        assert row["ngd_upper_bound"] >= 1.0 - 1e-9
        assert 0.0 <= row["fold_min_acc"] <= 1.0


def test_fig4_averages_the_requested_runs(quick):
    _, res = quick
    runs = res["fig4"]["settings"]["runs"]
    for rows in res["fig4"]["results"]["ngd_vs_width"].values():
        assert all(r["runs"] == runs and len(r["ngd_bound_per_run"]) == runs for r in rows)
        assert all(math.isclose(r["ngd_bound_mean"], np.mean(r["ngd_bound_per_run"])) for r in rows)


def test_tables_put_the_paper_numbers_beside_ours(quick):
    _, res = quick
    t1 = res["table1"]
    assert t1["paper_numbers"]["numbers"] == paper.TABLE1["MNIST FNN"]
    assert set(t1["results"]["recipes"]) == {"paper-recipe", "fast-recipe"}
    for recipe in t1["results"]["recipes"].values():
        rows = {r["key"]: r for r in recipe["comparison"]}
        assert set(rows) == set(paper.TABLE1_ROWS)
        for key, row in rows.items():
            assert row["paper"] == paper.TABLE1["MNIST FNN"][key]
            assert row["ours"] is not None
        assert 0.0 <= rows["fold_min_acc"]["ours"] <= 1.0
        assert recipe["endpoint_corrected_barrier"]["segment"] >= 0
    assert len(t1["results"]["minima"]) == 5
    t2 = res["table2"]
    assert t2["paper_numbers"]["numbers"] == paper.TABLE2["FNN+MNIST"]
    assert len(t2["results"]["minima"]) == 2
    # Table 2 reuses Table 1's first two minima (same specs and seeds, same cache keys)
    assert [m["seed"] for m in t2["results"]["minima"]] == [0, 1]


def test_sparsity_statistics_are_consistent(quick):
    _, res = quick
    for sol in res["fig3-sparsity"]["results"]["solutions"].values():
        norms = np.array(sol["sorted_norms"])
        assert len(norms) == sol["n_neurons"] == 64
        assert np.all(np.diff(norms) <= 0)
        assert 1 <= sol["neurons_for_50pct"] <= sol["neurons_for_90pct"] <= sol["n_neurons"]
        assert 0 < sol["fraction_in_top_M"] <= 1


def test_load_results_reads_everything_back(quick, tmp_path):
    out, results = quick
    loaded = reproduce.load_results(out)
    assert set(loaded) == set(NAMES)
    assert loaded["table2"]["results"]["tradeoff"][0]["ngd_upper_bound"] == pytest.approx(
        results["table2"]["results"]["tradeoff"][0]["ngd_upper_bound"])
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"unrelated": 1}')
    assert reproduce.load_results(tmp_path) == {}
    assert reproduce.load_results(tmp_path / "missing") == {}


def test_main_fig4_quick_returns_zero_then_reads_the_cache(tmp_path, capsys):
    out = tmp_path / "res"
    assert reproduce.main(["fig4", "--quick", "--out-dir", str(out), "--quiet"]) == 0
    first = json.loads((out / "fig4.json").read_text())
    assert first["from_cache"] is False
    assert reproduce.main(["fig4", "--quick", "--out-dir", str(out), "--quiet"]) == 0
    second = json.loads((out / "fig4.json").read_text())
    assert second["from_cache"] is True
    assert second["results"] == first["results"]
    assert "fig4: NGD bound" in capsys.readouterr().out


def test_main_rejects_bad_arguments(tmp_path, capsys):
    assert reproduce.main(["fig3", "--quick", "--setting", "cifar-vgg16",
                           "--out-dir", str(tmp_path)]) == 2
    assert "--setting" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.main(["fig5"])


def test_threads_are_restored(tmp_path):
    before = torch.get_num_threads()
    reproduce.run_fig3_sparsity(quick=True, out_dir=None, quiet=True, threads=1)
    assert torch.get_num_threads() == before


def test_snapped_minimum_is_a_global_minimum():
    rng = np.random.default_rng(0)
    W = theory.sample_minimum(16, 4, 4, seed=1) + 1e-3 * rng.standard_normal((16, 4))
    S = reproduce._snap_to_minimum(W, 4)
    assert theory.is_global_minimum(S, 4)
    assert np.linalg.norm(S - W) < 0.05


def test_clean_makes_strict_json():
    obj = {"a": np.float32(1.5), "b": float("inf"), "c": (np.int64(3), np.nan),
           "d": np.arange(3), "e": torch.tensor([1.0])}
    text = json.dumps(reproduce._clean(obj), allow_nan=False)
    assert json.loads(text) == {"a": 1.5, "b": None, "c": [3, None], "d": [0, 1, 2], "e": [1.0]}
