"""The GPU presets (BatchNorm VGG16 / ResNet) end to end on a CPU: the BatchNorm round trip
through the cache, the --quick Table 1/2 runs checked against plain forward passes with the
statistics recomputed by hand, a command for every column of the paper's tables, and the
prepared GPU check saying "no CUDA" and exiting 0 on a machine without one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape_core import DiskCache, paper, recipes, reproduce
from landscape_core.cache import make_key
from landscape_core.center import CenterSpec, center_for_minima
from landscape_core.config import PRESETS, DataSpec, ModelSpec, TrainSpec, preset, spec_dict
from landscape_core.data import load_dataset
from landscape_core.models import build_model
from landscape_core.params import restore_buffer_shapes, unflatten
from landscape_core.refs import CenterRef, center
from landscape_core.reproduce import plans
from landscape_core.reproduce.tables import table_experiment
from landscape_core.training import cached_minima, minimum_payload, train_minima

ROOT = Path(__file__).resolve().parents[1]
BN_MODEL = ModelSpec("mlp", width=16, depth=1, input_shape=(64,), n_outputs=10, batch_norm=True)
BN_DATA = DataSpec("digits", n_train=200, n_test=100)
BN_TRAIN = TrainSpec("adam", lr=1e-2, batch_size=50, epochs=4)


# ----------------------------------------------------------------- the BatchNorm round trip
def _counters(m) -> dict:
    return {k: v for k, v in m.buffers.items() if k.endswith("num_batches_tracked")}


def test_batchnorm_minima_come_back_from_the_cache_with_0d_counters(tmp_cache):
    trained = train_minima(BN_MODEL, BN_DATA, BN_TRAIN, seeds=[0, 1], cache=tmp_cache)
    again = cached_minima(BN_MODEL, BN_DATA, tmp_cache)
    assert len(again) == 2 and _counters(trained[0])
    for a in again:
        b = next(m for m in trained if m.seed == a.seed)
        assert {k: tuple(v.shape) for k, v in a.buffers.items()} == \
               {k: tuple(v.shape) for k, v in b.buffers.items()}
        assert all(v.shape == () for v in _counters(a).values())
        assert all(torch.equal(a.buffers[k], b.buffers[k]) for k in a.buffers)
    entry = tmp_cache.load("minimum", again[0].key)
    assert entry.meta["buffer_shapes"]["2.num_batches_tracked"] == []


def _rewrite_as_old_entry(cache: DiskCache, m) -> None:
    """The entry as written before 0-d arrays were kept 0-d: counters of shape (1,), no record
    of the buffers' shapes."""
    entry = cache.load("minimum", m.key)
    arrays = {k: (np.ascontiguousarray(v).reshape(1) if k.endswith("num_batches_tracked") else v)
              for k, v in entry.arrays.items()}
    meta = {k: v for k, v in entry.meta.items()
            if k not in ("buffer_shapes", "schema_version", "created")}
    spec = minimum_payload(m.model, m.data, m.train, m.seed)
    assert make_key("minimum", spec) == m.key
    cache.save("minimum", m.key, meta, arrays, spec=spec)
    raw = cache.load("minimum", m.key)
    assert raw.arrays["buffer.2.num_batches_tracked"].shape == (1,)


def test_old_entries_with_1d_counters_are_tolerated_by_center_finding(tmp_cache):
    """Without restoring the counters' 0-d shape, center finding fails copying the first
    foot's buffers: 'output with shape [] doesn't match the broadcast shape [1]'."""
    minima = train_minima(BN_MODEL, BN_DATA, BN_TRAIN, seeds=[0, 1], cache=tmp_cache)
    for m in minima:
        _rewrite_as_old_entry(tmp_cache, m)
    old = train_minima(BN_MODEL, BN_DATA, BN_TRAIN, seeds=[0, 1], cache=tmp_cache)
    assert all(v.shape == () for m in old for v in _counters(m).values())
    c = center_for_minima(old, CenterSpec.fast(steps=2), cache=tmp_cache)
    assert c.theta.shape == minima[0].theta.shape and torch.isfinite(c.theta).all()


def test_restore_buffer_shapes_uses_the_record_and_otherwise_only_fixes_counters():
    stored = {"a.num_batches_tracked": torch.tensor([3]), "a.running_mean": torch.zeros(4),
              "w": torch.zeros(6), "one": torch.tensor([1.0])}
    out = restore_buffer_shapes(stored)
    assert out["a.num_batches_tracked"].shape == () and int(out["a.num_batches_tracked"]) == 3
    assert out["a.running_mean"].shape == (4,) and out["one"].shape == (1,)
    out = restore_buffer_shapes(stored, {"w": [2, 3], "one": [], "a.num_batches_tracked": [1]})
    assert out["w"].shape == (2, 3) and out["one"].shape == ()
    assert out["a.num_batches_tracked"].shape == (1,)          # the record wins


# ----------------------------------------------------------------- every column has a command
def test_every_column_of_tables_1_and_2_has_a_setting_and_a_preset():
    assert set(plans.TABLE1_COLUMN.values()) == set(paper.TABLE1)
    assert set(plans.TABLE2_COLUMN.values()) == set(paper.TABLE2)
    assert set(plans.TABLE_SETTINGS) <= set(PRESETS)
    assert preset("cifar-resnet34").model.variant == "resnet34"
    assert preset("mnist-vgg16").model.variant == "vgg16"
    assert preset("mnist-vgg16").model.input_shape == (1, 28, 28)
    for name, column in (("table1", plans.TABLE1_COLUMN), ("table2", plans.TABLE2_COLUMN)):
        for setting in plans.TABLE_SETTINGS:
            body, _ = reproduce.prepare(name, quick=False, setting=setting)
            assert body["paper_numbers"]["column"] == column[setting]
            assert body["settings"]["experiment"]["model"] == spec_dict(preset(setting))["model"]
    note = reproduce.prepare("table2", setting="cifar-resnet34")[0]["settings"]["column_note"]
    assert "ResNet18" in note


def test_quick_shrinks_the_batchnorm_settings_and_leaves_the_full_recipes_alone():
    for setting in plans.BN_SETTINGS:
        full, _ = table_experiment(setting, False)
        quick, labels = table_experiment(setting, True)
        assert full == preset(setting) and full.model.batch_norm and quick.model.batch_norm
        assert quick.model.arch == full.model.arch and quick.model.variant == full.model.variant
        assert quick.model.width == 4 and quick.data.n_train == 64
        assert "QUICK" in labels["training_label"]


def test_the_cli_accepts_the_new_settings(tmp_path):
    from landscape_core.cli import main
    for setting in ("mnist-vgg16", "cifar-resnet34"):
        try:
            rc = main(["reproduce", "table1", "--setting", setting, "--help"])
        except SystemExit as e:
            rc = e.code
        assert rc == 0
    try:
        rc = main(["reproduce", "table1", "--setting", "cifar-resnet50", "--help"])
    except SystemExit as e:
        rc = e.code
    assert rc == 2


# ----------------------------------------------------------------- quick runs, checked by hand
def _loss_by_hand(model_spec, theta, X, y) -> float:
    """Train loss at one point with the recompute policy done by hand: fresh statistics from
    one train-mode pass over all training inputs (cumulative average), then eval mode."""
    model = build_model(model_spec)
    with torch.no_grad():
        for name, view in unflatten(theta.float(), model).items():
            model.get_parameter(name).copy_(view)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        model(X)
        model.eval()
        return float(F.cross_entropy(model(X), y))


def _max_loss(model_spec, points, X, y) -> float:
    return max(_loss_by_hand(model_spec, p, X, y) for p in points)


def _segment(a, b, n):
    return [(1 - t) * a + t * b for t in np.linspace(0, 1, n)]


def _fold(a, c, b, n):
    return _segment(a, c, n) + _segment(c, b, n)


@pytest.fixture(scope="module", params=["cifar-vgg16", "cifar-resnet18"])
def quick_tables(request, tmp_path_factory):
    """Quick Table 1 then Table 2 of one BatchNorm setting in one private cache: Table 2's two
    minima are read back from the cache (the round trip) before its centers are fitted."""
    setting = request.param
    root = tmp_path_factory.mktemp(setting)
    cache = DiskCache(root / "cache")
    t1 = reproduce.run("table1", quick=True, setting=setting, out_dir=root, quiet=True, cache=cache)
    t2 = reproduce.run("table2", quick=True, setting=setting, out_dir=root, quiet=True, cache=cache)
    return setting, cache, t1, t2, root


@pytest.mark.slow
def test_quick_table1_of_a_batchnorm_setting_matches_plain_forward_passes(quick_tables):
    setting, cache, t1, _, root = quick_tables
    assert (root / f"table1-{setting}.json").exists()
    exp, _ = table_experiment(setting, True)
    ds = load_dataset(exp.data)
    minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache)
    assert all(_counters(m) and all(v.shape == () for v in _counters(m).values()) for m in minima)
    n = t1["settings"]["n_points"]
    pairs = [(i, j) for i in range(len(minima)) for j in range(i + 1, len(minima))]
    seg = np.mean([_max_loss(exp.model, _segment(minima[i].theta, minima[j].theta, n),
                             ds.X_train, ds.y_train) for i, j in pairs])
    assert t1["paper_numbers"]["column"] == plans.TABLE1_COLUMN[setting]
    for rname, rec in t1["results"]["recipes"].items():
        assert rec["bn_policy"] == "recompute"
        ours = {r["key"]: r["ours"] for r in rec["comparison"]}
        assert ours["segment_max_loss"] == pytest.approx(seg, rel=1e-3)
        choice = t1["settings"]["centers"][rname]
        spec = recipes.recipe_spec(choice["recipe"], **choice["changes"])
        c = center(CenterRef(tuple(m.key for m in minima), spec), cache).theta
        fold = np.mean([_max_loss(exp.model, _fold(minima[i].theta, c, minima[j].theta, n),
                                  ds.X_train, ds.y_train) for i, j in pairs])
        assert ours["fold_max_loss"] == pytest.approx(fold, rel=1e-3)


@pytest.mark.slow
def test_quick_table2_of_a_batchnorm_setting_reads_minima_back_and_matches(quick_tables):
    setting, cache, t1, t2, _ = quick_tables
    exp, _ = table_experiment(setting, True, n_minima=2)
    ds = load_dataset(exp.data)
    a, b = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache)
    assert t2["results"]["minima"] == t1["results"]["minima"][:2]     # Table 1's, from the cache
    assert [m["train_loss"] for m in t2["results"]["minima"]] == [a.train_loss, b.train_loss]
    n = t2["settings"]["n_points"]
    seg = _max_loss(exp.model, _segment(a.theta, b.theta, n), ds.X_train, ds.y_train)
    assert t2["results"]["segment"]["max_loss"] == pytest.approx(seg, rel=1e-3)
    for row, rec in zip(t2["results"]["tradeoff"], t2["settings"]["centers"].values()):
        assert row["bn_policy"] == "recompute"
        c = center(CenterRef((a.key, b.key), recipes.recipe_spec(rec["recipe"], **rec["changes"])),
                   cache).theta
        fold = _max_loss(exp.model, _fold(a.theta, c, b.theta, n), ds.X_train, ds.y_train)
        assert row["fold_max_loss"] == pytest.approx(fold, rel=1e-3)
        A, B, C = a.theta.double(), b.theta.double(), c.double()
        assert row["ngd_upper_bound"] == pytest.approx(
            float(((A - C).norm() + (C - B).norm()) / (A - B).norm()), rel=1e-9)


# ----------------------------------------------------------------- the prepared GPU check
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_gpu_check_says_no_cuda_in_one_line_and_exits_0():
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    lines = [s for s in r.stdout.splitlines() if s.strip()]
    assert len(lines) == 1 and "no CUDA" in lines[0]


def test_gpu_check_dry_run_on_cpu_measures_and_writes_its_blocks(tmp_path):
    """The Python part of the GPU check, shrunk (--dry-run) and on the CPU, writing into
    copies of the two docs: every figure it promises is there, between its markers."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("benchmarks.md", "reproduction.md"):
        (docs / name).write_text("# existing\n\nkept text\n")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu",
                        "--dry-run", "--docs-dir", str(docs), "--cache-dir", str(tmp_path / "c"),
                        "--results-dir", str(tmp_path / "r"),
                        "--skip-tests"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    bench = (docs / "benchmarks.md").read_text()
    repro = (docs / "reproduction.md").read_text()
    assert bench.startswith("# existing\n\nkept text\n") and repro.startswith("# existing")
    for text, block in ((bench, "benchmarks"), (repro, "reproduction")):
        assert text.count(f"<!-- gpu_check:{block}:cpu-dry-run -->") == 1
        assert text.count(f"<!-- /gpu_check:{block}:cpu-dry-run -->") == 1
    for figure in ("batched", "point-by-point", "training step", "center step", "vgg16", "resnet18"):
        assert figure in bench
    assert "CIFAR-10 VGG16" in repro and "segment" in repro
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu",
                            "--dry-run", "--docs-dir", str(docs), "--cache-dir", str(tmp_path / "c"),
                        "--results-dir", str(tmp_path / "r"),
                            "--skip-tests", "--skip-bench"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr[-2000:]
    assert (docs / "reproduction.md").read_text().count("<!-- gpu_check:reproduction:cpu-dry-run -->") == 1
