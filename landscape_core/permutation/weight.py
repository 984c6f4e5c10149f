"""Weight matching (Ainsworth et al., Git Re-Basin): permute theta_b's units towards theta_a.

Objective: maximise sum over permuted tensors of <W_a, P(W_b)> (equivalently minimise
||theta_a - P(theta_b)||^2). Coordinate descent: in a seeded random order, each group's
permutation is the exact linear assignment (``scipy.optimize.linear_sum_assignment``) given the
others; sweeps repeat until a whole sweep changes nothing (or ``max_iter`` sweeps). A group
whose neighbours (the groups acting on the same tensors) have not changed since it was last
solved has the same assignment problem, so it is not solved again (same result, less time).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._validation import Int, validate_params
from ..params import ParamLayout, unflatten
from .apply import apply_permutation, identity_perms, permute_tensor
from .result import Alignment, tag
from .spec import PermutationSpec, permutation_spec


def _weights(model, theta_a, theta_b, spec):
    layout = ParamLayout.of(model)
    for name, th in (("theta_a", theta_a), ("theta_b", theta_b)):
        if torch.as_tensor(th).shape != (layout.dim,):
            raise ValueError(f"The '{name}' parameter of weight_matching must have shape "
                             f"({layout.dim},). Got {tuple(torch.as_tensor(th).shape)} instead.")
    Wa = unflatten(torch.as_tensor(theta_a).detach().double().cpu(), layout)
    Wb = unflatten(torch.as_tensor(theta_b).detach().double().cpu(), layout)
    groups = {p: [(n, i) for n, i in spec.tensors_of(p) if n in Wa] for p in spec.perms}
    return Wa, Wb, groups


def _rows(w: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    return w.movedim(axis, 0).reshape(n, -1)


def similarity(p: str, n: int, groups, Wa, Wb, spec, perms) -> torch.Tensor:
    """(n, n) matrix S[i, j] = <unit i of A, unit j of B> over every tensor group ``p`` acts on,
    B's other axes permuted by ``perms``."""
    S = torch.zeros(n, n, dtype=torch.float64)
    for name, axis in groups[p]:
        wb = permute_tensor(Wb[name], spec.axes[name], perms, skip=axis)
        S += _rows(Wa[name], axis, n) @ _rows(wb, axis, n).T
    return S


def objective(Wa, Wb, spec, perms) -> float:
    """sum over permuted tensors of <W_a, P(W_b)>."""
    total = 0.0
    for name, axes in spec.axes.items():
        if name in Wa:
            total += float((Wa[name] * permute_tensor(Wb[name], axes, perms)).sum())
    return total


@validate_params(seed=Int(0), max_iter=Int(1, 100_000))
def weight_matching(model: nn.Module, theta_a, theta_b, *, seed: int = 0, max_iter: int = 1000,
                    spec: PermutationSpec | None = None, init_perms: dict | None = None) -> torch.Tensor:
    """``theta_b`` permuted towards ``theta_a`` by weight matching (a flat vector, shape (D,)).

    The result carries ``.alignment`` (``result.Alignment``: permutations, sweeps, objective,
    solver time). Only trainable parameters enter the objective; BatchNorm running statistics
    follow with ``apply.permute_buffers(model, buffers, out.alignment.perms)``.
    """
    start = time.perf_counter()
    spec = spec if spec is not None else permutation_spec(model)
    Wa, Wb, groups = _weights(model, theta_a, theta_b, spec)
    perms = {p: np.asarray(v) for p, v in (init_perms or identity_perms(spec)).items()}
    rng = np.random.default_rng(seed)
    names = list(spec.perms)
    obj0 = objective(Wa, Wb, spec, perms)
    solver, solver_cpu, sweeps, converged, n_solves = 0.0, 0.0, 0, not names, 0
    near = {p: sorted({q for name, _ in groups[p] for q in spec.axes[name] if q not in (None, p)})
            for p in names}
    version = {p: 0 for p in names}
    seen: dict = {}
    for sweeps in range(1, max_iter + 1):
        changed = False
        for k in rng.permutation(len(names)):
            p = names[k]
            n = spec.perms[p]
            state = tuple(version[q] for q in near[p])
            if seen.get(p) == state:
                continue                          # same problem as last time: same answer
            seen[p] = state
            S = similarity(p, n, groups, Wa, Wb, spec, perms).numpy()
            n_solves += 1
            t0, c0 = time.perf_counter(), time.process_time()
            _, col = linear_sum_assignment(S, maximize=True)
            solver += time.perf_counter() - t0
            solver_cpu += time.process_time() - c0
            rows = np.arange(n)
            old, new = S[rows, perms[p]].sum(), S[rows, col].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                perms[p], changed = col, True
                version[p] += 1
        if not changed:
            converged = True
            break
    theta = apply_permutation(model, torch.as_tensor(theta_b).detach().float().cpu(), perms, spec=spec)
    obj = objective(Wa, Wb, spec, perms)
    wall = time.perf_counter() - start
    note = (f"weight matching (Git Re-Basin): {len(names)} groups, {sweeps} sweeps"
            f"{'' if converged else ' (max_iter reached, not converged)'}, seed {seed}")
    return tag(theta, Alignment("weight", perms, sweeps, obj, obj0, converged, solver, wall, note,
                                {"seed": seed, "groups": len(names), "assignments_solved": n_solves,
                                 "solver_cpu_s": solver_cpu}))
