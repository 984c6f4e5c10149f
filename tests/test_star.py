"""Tests of landscape_core.star: path counts, orientation, Table-1 rows and barrier matrices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape_core.center import CenterSpec, find_center
from landscape_core.data import load_dataset
from landscape_core.evaluate import Evaluator
from landscape_core.models import build_model
from landscape_core.paths import barrier_metrics
from landscape_core.star import star_report


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def star(tiny_minima):
    """Center of the first two tiny minima; the third is held out."""
    ds = load_dataset(tiny_minima[0].data)
    model = build_model(tiny_minima[0].model)
    feet = torch.stack([m.theta for m in tiny_minima[:2]])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        center = find_center(feet, model=model, X=ds.X_train, y=ds.y_train,
                             spec=CenterSpec(steps=60, lr=1e-2))
    finally:
        torch.set_num_threads(before)
    ev = Evaluator(model, ds.X_train, ds.y_train)
    test_ev = Evaluator(model, ds.X_test, ds.y_test)
    return feet, center, tiny_minima[2].theta, ev, test_ev


def test_counts_orientation_and_held_out(star):
    feet, center, held, ev, test_ev = star
    three = torch.cat([feet, (feet[0] + feet[1])[None] / 2 + 0.1])
    rep = star_report(three, center, evaluator=ev, test_evaluator=test_ev, n_points=5,
                      names=["a", "b", "c"], held_out=[held], held_out_names=["h"])
    r = 3
    assert len(rep.segments) == len(rep.fold_lines) == r * (r - 1) // 2 and len(rep.spokes) == r
    assert set(rep.segments) == {(0, 1), (0, 2), (1, 2)}
    assert list(rep.held_out) == ["h"] and "h" not in rep.names
    spoke = rep.spokes[1]                      # foot at t = 0, center at t = 1
    end_losses = ev.evaluate(torch.stack([three[1], center.theta])).loss
    assert np.allclose([spoke.train_loss[0], spoke.train_loss[-1]], end_losses, rtol=1e-5)
    held_loss = ev.evaluate(torch.stack([held, center.theta])).loss
    assert np.allclose(rep.held_out["h"].train_loss[[0, -1]], held_loss, rtol=1e-5)
    fold = rep.fold_lines[(0, 1)]
    assert fold.t[len(fold.t) // 2] == 0.5 and np.isclose(fold.train_loss[len(fold.t) // 2],
                                                          end_losses[1], rtol=1e-5)
    assert np.allclose(rep.center_distances, (three.double() - center.theta.double()).norm(dim=1))


def test_table_rows_match_profiles(star):
    feet, center, held, ev, test_ev = star
    rep = star_report(feet, center, evaluator=ev, test_evaluator=test_ev, n_points=7,
                      held_out=torch.stack([held]))
    rows = {row["path"]: row for row in rep.table()}
    assert set(rows) == {"direct segment", "fold-line", "spoke", "held-out spoke"}
    assert [rows[k]["n_paths"] for k in ("direct segment", "fold-line", "spoke")] == [1, 1, 2]
    seg = rep.segments[(0, 1)]
    expected = barrier_metrics(seg.t, seg.train_loss, seg.train_acc)
    assert rows["direct segment"]["max_loss"] == pytest.approx(expected["max_loss"])
    assert rows["direct segment"]["min_acc"] == pytest.approx(expected["min_acc"])
    assert rows["direct segment"]["barrier_height_std"] == 0.0
    assert rows["direct segment"]["test_max_loss"] == pytest.approx(seg.test_loss.max())
    spokes = [p.train_loss.max() for p in rep.spokes.values()]
    assert rows["spoke"]["max_loss"] == pytest.approx(np.mean(spokes))
    assert rows["spoke"]["max_loss_std"] == pytest.approx(np.std(spokes))
    no_test = star_report(feet, center, evaluator=ev, n_points=3).table()
    assert "test_max_loss" not in no_test[0] and len(no_test) == 3


def test_barrier_matrix_is_symmetric_with_nan_diagonal(star):
    feet, center, held, ev, _ = star
    three = torch.cat([feet, held[None]])
    rep = star_report(three, center, evaluator=ev, n_points=5)
    for kind in ("segment", "fold_line"):
        for metric in ("max_loss", "barrier_height", "min_acc"):
            M = rep.barrier_matrix(kind, metric)
            assert M.shape == (3, 3) and np.all(np.isnan(np.diag(M)))
            off = ~np.eye(3, dtype=bool)
            assert np.array_equal(M[off], M.T[off]) and np.all(np.isfinite(M[off]))
    assert rep.barrier_matrix("segment")[0, 2] == pytest.approx(rep.segments[(0, 2)].train_loss.max())
    with pytest.raises(ValueError, match="'kind' parameter of StarReport.barrier_matrix"):
        rep.barrier_matrix("spoke")
    with pytest.raises(ValueError, match="no test values"):
        rep.barrier_matrix("segment", split="test")


def test_input_errors(star):
    feet, center, _, ev, _ = star
    with pytest.raises(ValueError, match="must have D ="):
        star_report(feet[:, :10], center, evaluator=ev)
    with pytest.raises(ValueError, match="2 distinct names"):
        star_report(feet, center, evaluator=ev, names=["a", "a"])
    as_list = star_report(list(feet), center.theta, evaluator=ev, n_points=3).table()
    as_stack = star_report(feet, center, evaluator=ev, n_points=3).table()
    assert as_list == as_stack                  # the same question asked with a list or a stack


def test_quality_flag_names_a_center_worse_than_the_segments(star):
    feet, center, _, ev, _ = star
    good = star_report(feet, center, evaluator=ev, n_points=5)
    seg, fold = (good.table()[k]["max_loss"] for k in (0, 1))
    assert (good.quality_flag is None) == (fold <= seg)
    far = center.theta + 50.0 * torch.randn_like(center.theta)      # nowhere near a center
    bad = star_report(feet, far, evaluator=ev, n_points=5)
    assert bad.table()[1]["max_loss"] > bad.table()[0]["max_loss"]
    assert bad.quality_flag is not None and "worse than the direct segment" in bad.quality_flag


def test_fold_lines_assembled_from_spokes_equal_fold_lines_evaluated(star):
    """The report builds each fold-line from two spokes (nothing evaluated twice); the oracle is
    the fold-line evaluated directly through the engine."""
    from landscape_core.paths import fold_line_path
    feet, center, held, ev, test_ev = star
    three = torch.cat([feet, held[None]])
    rep = star_report(three, center, evaluator=ev, test_evaluator=test_ev, n_points=6)
    for (i, j), fold in rep.fold_lines.items():
        direct = fold_line_path(three[i], center.theta, three[j], evaluator=ev, test_evaluator=test_ev,
                                n_points=6)
        np.testing.assert_allclose(fold.t, direct.t)
        np.testing.assert_allclose(fold.train_loss, direct.train_loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(fold.test_acc, direct.test_acc, atol=1e-9)
        assert fold.length == pytest.approx(direct.length, rel=1e-5)
        assert fold.distance == pytest.approx(direct.distance, rel=1e-5)
        assert fold.barriers() == pytest.approx(direct.barriers(), rel=1e-4, abs=1e-6)
