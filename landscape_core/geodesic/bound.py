"""The paper's NGD upper bound through a center (Eq. 8) and the fold-line estimate that checks it."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..evaluate import Evaluator
from ..paths import PathProfile, fold_line_path


def ngd_upper_bound(theta_1, center, theta_2) -> float:
    """Eq. 8: U = (||theta_1 - center|| + ||center - theta_2||) / ||theta_1 - theta_2||.

    Norms in float64. U >= 1, with equality iff the center lies on the segment. It bounds the
    NGD only if both legs stay in the minima set (check the fold-line's loss).
    """
    a, c, b = (torch.as_tensor(getattr(v, "theta", v)).detach().double().reshape(-1).cpu()
               for v in (theta_1, center, theta_2))
    if not (a.shape == b.shape == c.shape):
        raise ValueError(f"ngd_upper_bound needs three vectors of one length. Got {tuple(a.shape)}, "
                         f"{tuple(c.shape)} and {tuple(b.shape)}.")
    euclid = float((a - b).norm())
    if euclid == 0.0:
        raise ValueError("ngd_upper_bound needs two distinct feet: theta_1 == theta_2, so the NGD "
                         "is undefined (0/0). Pass two different minima.")
    return (float((a - c).norm()) + float((c - b).norm())) / euclid


@dataclass(frozen=True)
class NGDEstimate:
    """An upper bound on the NGD and what it rests on.

    value : path length / Euclidean distance. kind : "fold_line" | "k_piece" | "slice_fmm".
    computed_from : one sentence naming the path, lam and the path's loss/accuracy.
    path_max_loss, path_min_acc : worst training loss / accuracy along the evaluated path.
    """
    value: float
    kind: str
    computed_from: str
    euclidean: float
    length: float
    lam: float | None = None
    path_max_loss: float | None = None
    path_min_acc: float | None = None
    is_upper_bound: bool = True
    profile: PathProfile | None = None
    meta: dict = field(default_factory=dict)


def _acc_text(acc) -> str:
    return "" if acc is None else f", min train accuracy {100 * acc:.2f}%"


def ngd_estimate(theta_1, theta_2, center, *, evaluator: Evaluator,
                 test_evaluator: Evaluator | None = None, n_points: int = 26) -> NGDEstimate:
    """The paper's NGD bound U(center) with the fold-line theta_1 -> center -> theta_2 evaluated.

    center : center.Center (its lam is reported) or Tensor (D,). n_points : points per leg.
    """
    theta_c = getattr(center, "theta", center)
    spec = getattr(center, "spec", None)
    lam = None if spec is None else float(spec.lam)
    value = ngd_upper_bound(theta_1, theta_c, theta_2)
    prof = fold_line_path(theta_1, theta_c, theta_2, evaluator=evaluator,
                          test_evaluator=test_evaluator, n_points=n_points, label="NGD fold-line")
    bars = prof.barriers("train")
    lam_text = "a given center" if lam is None else f"a center fitted with lam={lam:g}"
    text = (f"2-piece path through {lam_text}; fold-line max train loss {bars['max_loss']:.3g}"
            f"{_acc_text(bars.get('min_acc'))} ({n_points} points per leg, BN {prof.bn_policy}).")
    return NGDEstimate(value, "fold_line", text, prof.distance, prof.length, lam, bars["max_loss"],
                       bars.get("min_acc"), True, prof, {"n_points": n_points})
