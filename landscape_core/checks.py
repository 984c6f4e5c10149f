"""Small pure checks that say when a result is not what it claims to be.

- ``fit_problem``: a training run that ended far from a minimum (train loss above its initial
  loss or far above a constant prediction's, or a classifier at chance accuracy).
  ``training.train_minimum`` refuses such runs.
- ``center_quality_flag``: a center whose fold-line is worse than the direct segment it is
  meant to improve on. Every report that shows a center should show this flag beside it.

Both take plain numbers and return None (fine) or a one-line message.
"""
from __future__ import annotations

import math

from ._validation import Real, validate_params

CHANCE_MARGIN = 0.01       # accuracy within this of chance counts as chance
BLOWUP_FACTOR = 2.0        # a loss this many times the best constant prediction's is a blow-up


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@validate_params(initial_loss=Real(), final_loss=Real(), accuracy=Real(0.0, 1.0, none=True),
                 chance=Real(0.0, 1.0, none=True), baseline_loss=Real(0.0, none=True))
def fit_problem(initial_loss: float, final_loss: float, *, accuracy: float | None = None,
                chance: float | None = None, baseline_loss: float | None = None) -> str | None:
    """Why a finished training run is not a minimum, or None.

    initial_loss, final_loss : train loss at the initialisation and at the end.
    accuracy, chance : final train accuracy and the chance level (the frequency of the most
        common class) for a classifier; None for regression.
    baseline_loss : train loss of the best constant prediction (the label entropy for
        cross-entropy, the summed variance of the targets for squared error).

    A run is refused when its loss rose above the initial loss, when its loss is more than
    ``BLOWUP_FACTOR`` times the constant prediction's (a blow-up, as with a huge init scale),
    or when a classifier ends at chance accuracy.
    """
    if final_loss > initial_loss * (1 + 1e-6) + 1e-12:
        return (f"the train loss rose from {_fmt(initial_loss)} at initialisation to "
                f"{_fmt(final_loss)}")
    if baseline_loss is not None and final_loss > BLOWUP_FACTOR * baseline_loss + 1e-12:
        return (f"the train loss {_fmt(final_loss)} is more than {BLOWUP_FACTOR:g} times that of "
                f"a constant prediction ({_fmt(baseline_loss)})")
    if accuracy is not None and chance is not None and accuracy <= chance + CHANCE_MARGIN:
        return f"the train accuracy {accuracy:.1%} is at chance ({chance:.1%})"
    return None


@validate_params(fold_max_loss=Real(none=True), segment_max_loss=Real(none=True),
                 tolerance=Real(0.0, 1.0))
def center_quality_flag(fold_max_loss: float | None, segment_max_loss: float | None, *,
                        tolerance: float = 0.0) -> str | None:
    """A warning when the fold-line through a center is worse than the direct segment, else None.

    fold_max_loss : the largest loss along the fold-line theta_i -> center -> theta_j (or the
        mean of those maxima over pairs, as long as both arguments are the same statistic).
    segment_max_loss : the same statistic along the direct segments theta_i -> theta_j.
    tolerance : relative slack; the flag is raised when fold > segment * (1 + tolerance).
    A missing value (None) gives no flag. A NaN is passed through the validator as an error,
    so callers must compute finite statistics first.
    """
    if fold_max_loss is None or segment_max_loss is None:
        return None
    if fold_max_loss > segment_max_loss * (1 + tolerance) and fold_max_loss > segment_max_loss:
        return (f"Center is worse than the direct segment: fold-line max loss "
                f"{_fmt(fold_max_loss)} > segment max loss {_fmt(segment_max_loss)}. "
                "It is not a useful center; refit it (more epochs, a smaller learning rate or "
                "another recipe) before reading its NGD.")
    return None


def is_finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
