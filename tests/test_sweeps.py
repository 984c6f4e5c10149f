"""Sweeps: rows per value and pair, each number recomputed by hand from the cached minima and
centers, resumption without recomputation, and bad sweeps refused before any work."""
from __future__ import annotations

import pytest

from landscape_core import preset, train_minima
from landscape_core.center import CenterSpec, center_for_minima
from landscape_core.geodesic import ngd_upper_bound
from landscape_core.sweeps import sweep, width_sweep

QUICK = CenterSpec.fast(lam=1e-3, steps=30)
BASE = preset("tiny").replace(**{"train.epochs": 15, "n_minima": 3, "data.n_train": 200})


def test_width_sweep_rows_summary_and_resume(tmp_cache, monkeypatch):
    res = width_sweep(BASE, [4, 12], center_spec=QUICK, n_points=5, cache=tmp_cache)
    assert [r["value"] for r in res.rows] == [4, 4, 4, 12, 12, 12]          # 3 pairs per width
    for width in (4, 12):                       # every U and distance, recomputed by hand
        exp = BASE.replace(**{"model.width": width})
        mins = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=tmp_cache)
        rows = [r for r in res.rows if r["value"] == width]
        for r in rows:
            a, b = (next(m for m in mins if m.seed == s) for s in r["pair"])
            c = center_for_minima([a, b], QUICK, cache=tmp_cache)
            assert r["ngd_bound"] == pytest.approx(ngd_upper_bound(a.theta, c.theta, b.theta), rel=1e-12)
            assert r["euclidean"] == pytest.approx(float((a.theta - b.theta).double().norm()), rel=1e-9)
    dims = {s["value"]: s["dim"] for s in res.summary()}
    assert dims == {4: 64 * 4 + 4 + 4 * 10 + 10, 12: 64 * 12 + 12 + 12 * 10 + 10}
    s = res.summary()[0]
    u4 = [r["ngd_bound"] for r in res.rows if r["value"] == 4]
    assert s["n_pairs"] == 3 and s["ngd_bound_mean"] == pytest.approx(sum(u4) / 3)
    # resume: a finished value is read back, nothing is trained or fitted again
    import landscape_core.sweeps as sw
    monkeypatch.setattr(sw, "train_minima", lambda *a, **k: pytest.fail("retrained"))
    monkeypatch.setattr(sw, "center_for_minima", lambda *a, **k: pytest.fail("refitted"))
    again = width_sweep(BASE, [4, 12], center_spec=QUICK, n_points=5, cache=tmp_cache)
    assert again.rows == res.rows


def test_sweep_over_activation_with_one_star_center(tmp_cache):
    res = sweep(BASE.replace(n_minima=3), "model.activation", ["relu", "gelu"], center_spec=QUICK,
                center_mode="star", n_points=5, cache=tmp_cache)
    assert [s["value"] for s in res.summary()] == ["relu", "gelu"]
    exp = BASE.replace(**{"model.activation": "gelu"})          # one center for all three pairs
    mins = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=tmp_cache)
    c = center_for_minima(mins, QUICK, cache=tmp_cache)
    for r in (r for r in res.rows if r["value"] == "gelu"):
        a, b = (next(m for m in mins if m.seed == s) for s in r["pair"])
        assert r["ngd_bound"] == pytest.approx(ngd_upper_bound(a.theta, c.theta, b.theta), rel=1e-12)


@pytest.mark.parametrize("kwargs,needle", [
    ({"field": "model.width", "values": [0]}, "'width' parameter of ModelSpec"),
    ({"field": "model.width", "values": []}, "at least one value"),
    ({"field": "model.width", "values": [4], "center_mode": "ring"}, "'center_mode' parameter"),
    ({"field": "model.width", "values": [8, 8]}, "distinct values"),
    ({"field": "n_minima", "values": [1, 2]}, "at least two minima"),
])
def test_bad_sweeps_fail_before_any_work(kwargs, needle, tmp_cache):
    with pytest.raises(ValueError, match=needle):
        sweep(BASE, cache=tmp_cache, center_spec=QUICK, **kwargs)


def test_sweep_needs_pairs(tmp_cache):
    with pytest.raises(ValueError, match="at least two minima"):
        width_sweep(BASE.replace(n_minima=1), [4], cache=tmp_cache)
