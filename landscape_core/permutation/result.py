"""What an alignment did: the record every alignment function attaches to its result.

Every function of this package returns a flat parameter vector (a ``torch.Tensor`` of shape
(D,)); the vector carries this record as its ``.alignment`` attribute (``describe_alignment``
reads it back, or says "no alignment" for a plain tensor).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

ALIGN_METHODS = ("none", "weight", "activation")
METHOD_LABELS = {
    "none": "no alignment (raw minima)",
    "weight": "weight matching (Ainsworth et al., Git Re-Basin)",
    "activation": "activation matching (Ainsworth et al., Git Re-Basin; correlations of unit activations)",
    "repair": "REPAIR (Jordan et al.): unit statistics reset to the interpolation of the endpoints'",
}


@dataclass(frozen=True)
class Alignment:
    """What produced an aligned (or repaired) vector.

    method : "weight" | "activation" | "repair"
    perms : {group: index array}; unit j of the result is unit perms[g][j] of theta_b
    iterations : coordinate-descent sweeps (weight matching), 1 for one-shot methods
    objective, objective_start : the method's objective at the end and at the identity
        (weight matching: sum of <W_a, P W_b> over all permuted tensors; activation matching:
        sum of the matched correlations)
    converged : a full sweep changed no permutation (weight matching), True otherwise
    solver_time_s : seconds in the assignment solver (scipy.optimize.linear_sum_assignment)
    wall_time_s : seconds for the whole call
    note : one sentence a caption can show
    """
    method: str
    perms: dict
    iterations: int
    objective: float
    objective_start: float
    converged: bool
    solver_time_s: float
    wall_time_s: float
    note: str = ""
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-safe dict (the permutations left out)."""
        return {"method": self.method, "label": METHOD_LABELS.get(self.method, self.method),
                "iterations": self.iterations, "objective": self.objective,
                "objective_start": self.objective_start, "converged": self.converged,
                "solver_time_s": self.solver_time_s, "wall_time_s": self.wall_time_s,
                "note": self.note, **self.extra}


def tag(theta: torch.Tensor, record: Alignment) -> torch.Tensor:
    """``theta`` with ``record`` attached as ``theta.alignment``."""
    theta.alignment = record
    return theta


def describe_alignment(theta) -> str:
    rec = getattr(theta, "alignment", None)
    return METHOD_LABELS["none"] if rec is None else rec.note or METHOD_LABELS[rec.method]
