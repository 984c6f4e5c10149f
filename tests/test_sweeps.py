"""Sweeps: rows per value and pair, NGD bounds >= 1, resumption without recomputation."""
from __future__ import annotations

import pytest

from landscape_core import preset
from landscape_core.center import CenterSpec
from landscape_core.sweeps import sweep, width_sweep

QUICK = CenterSpec.fast(lam=1e-3, steps=30)
BASE = preset("tiny").replace(**{"train.epochs": 4, "n_minima": 3, "data.n_train": 200})


def test_width_sweep_rows_summary_and_resume(tmp_cache, monkeypatch):
    res = width_sweep(BASE, [4, 12], center_spec=QUICK, n_points=5, cache=tmp_cache)
    assert [r["value"] for r in res.rows] == [4, 4, 4, 12, 12, 12]          # 3 pairs per width
    assert all(r["ngd_bound"] >= 1.0 for r in res.rows)
    assert all(r["euclidean"] > 0 for r in res.rows)
    dims = {s["value"]: s["dim"] for s in res.summary()}
    assert dims == {4: 64 * 4 + 4 + 4 * 10 + 10, 12: 64 * 12 + 12 + 12 * 10 + 10}
    s = res.summary()[0]
    assert s["n_pairs"] == 3 and s["ngd_bound_mean"] >= 1 and s["ngd_bound_std"] >= 0
    # resume: a finished value is read back, nothing is trained or fitted again
    import landscape_core.sweeps as sw
    monkeypatch.setattr(sw, "train_minima", lambda *a, **k: pytest.fail("retrained"))
    monkeypatch.setattr(sw, "center_for_minima", lambda *a, **k: pytest.fail("refitted"))
    again = width_sweep(BASE, [4, 12], center_spec=QUICK, n_points=5, cache=tmp_cache)
    assert again.rows == res.rows


def test_sweep_over_activation_with_one_star_center(tmp_cache):
    res = sweep(BASE.replace(n_minima=3), "model.activation", ["relu", "tanh"], center_spec=QUICK,
                center_mode="star", n_points=5, cache=tmp_cache)
    assert [s["value"] for s in res.summary()] == ["relu", "tanh"]
    assert all(r["fold_min_acc"] is not None for r in res.rows)


@pytest.mark.parametrize("kwargs,needle", [
    ({"field": "model.width", "values": [0]}, "'width' parameter of ModelSpec"),
    ({"field": "model.width", "values": []}, "at least one value"),
    ({"field": "model.width", "values": [4], "center_mode": "ring"}, "'center_mode' parameter"),
])
def test_bad_sweeps_fail_before_any_work(kwargs, needle, tmp_cache):
    with pytest.raises(ValueError, match=needle):
        sweep(BASE, cache=tmp_cache, center_spec=QUICK, **kwargs)


def test_sweep_needs_pairs(tmp_cache):
    with pytest.raises(ValueError, match="at least two minima"):
        width_sweep(BASE.replace(n_minima=1), [4], cache=tmp_cache)
