"""Activation matching (Ainsworth et al., Git Re-Basin): match units by the correlation of their
activations on data.

For every permutation group, the activations of A and B at the group's preferred site (after
the activation function where there is one, else after BatchNorm, else the layer's output; a
ResNet's tied group is observed at its last block output) are collected on ``X``; the Pearson
correlation matrix C[i, j] = corr(a_i, b_j) is accumulated over all rows (and spatial
positions for convolutions), and the permutation is the linear assignment maximising the sum of
matched correlations. Activations of B do not depend on B's own permutation, so one pass decides
every group (no iteration).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._validation import Int, validate_params
from .apply import apply_permutation
from .observe import network_at, observing
from .result import Alignment, tag
from .spec import PermutationSpec, permutation_spec

EPS = 1e-8


@torch.no_grad()
def correlations(model: nn.Module, theta_a, theta_b, X: torch.Tensor, spec: PermutationSpec, *,
                 buffers_a: dict | None = None, buffers_b: dict | None = None,
                 batch_size: int = 1000) -> dict:
    """{group: (n, n) correlation matrix between A's units (rows) and B's units (columns)}."""
    sites = {p: spec.prefer[p] for p in spec.perms}
    net_a, net_b = network_at(model, theta_a, buffers_a), network_at(model, theta_b, buffers_b)
    acc: dict = {}
    names = list(dict.fromkeys(sites.values()))
    with observing(net_a, names) as seen_a, observing(net_b, names) as seen_b:
        for i in range(0, X.shape[0], batch_size):
            xb = X[i:i + batch_size].float().cpu()
            net_a(xb)
            net_b(xb)
            for n in names:
                za, zb = seen_a[n], seen_b[n]
                s = acc.setdefault(n, [0, 0, 0, 0, 0, 0])
                s[0] = s[0] + za.sum(0)
                s[1] = s[1] + zb.sum(0)
                s[2] = s[2] + (za * za).sum(0)
                s[3] = s[3] + (zb * zb).sum(0)
                s[4] = s[4] + za.T @ zb
                s[5] += za.shape[0]
    out = {}
    for p, n in sites.items():
        sa, sb, qa, qb, cross, c = acc[n]
        ma, mb = sa / c, sb / c
        va, vb = (qa / c - ma * ma).clamp_min(0), (qb / c - mb * mb).clamp_min(0)
        cov = cross / c - ma[:, None] * mb[None, :]
        out[p] = cov / ((va.sqrt()[:, None] + EPS) * (vb.sqrt()[None, :] + EPS))
    return out


@validate_params(batch_size=Int(1))
def activation_matching(model: nn.Module, theta_a, theta_b, X: torch.Tensor, *,
                        spec: PermutationSpec | None = None, buffers_a: dict | None = None,
                        buffers_b: dict | None = None, batch_size: int = 1000) -> torch.Tensor:
    """``theta_b`` permuted towards ``theta_a`` by activation matching on inputs ``X``.

    ``buffers_a`` / ``buffers_b``: BatchNorm running statistics of the two networks (e.g.
    ``Minimum.buffers``); the networks run in eval mode. The result (shape (D,)) carries
    ``.alignment`` (the objective is the sum of matched correlations; ``objective_start`` the
    same at the identity).
    """
    start = time.perf_counter()
    spec = spec if spec is not None else permutation_spec(model)
    X = torch.as_tensor(X)
    if X.shape[0] < 2:
        raise ValueError(f"The 'X' parameter of activation_matching must hold at least 2 inputs. "
                         f"Got {X.shape[0]}.")
    corr = correlations(model, theta_a, theta_b, X, spec, buffers_a=buffers_a, buffers_b=buffers_b,
                        batch_size=batch_size)
    perms, solver, obj, obj0 = {}, 0.0, 0.0, 0.0
    for p, C in corr.items():
        C = C.numpy()
        t0 = time.perf_counter()
        _, col = linear_sum_assignment(C, maximize=True)
        solver += time.perf_counter() - t0
        perms[p] = col
        obj += float(C[np.arange(len(col)), col].sum())
        obj0 += float(np.trace(C))
    theta = apply_permutation(model, torch.as_tensor(theta_b).detach().float().cpu(), perms, spec=spec)
    n_units = sum(spec.perms.values())
    note = (f"activation matching (Git Re-Basin) on {X.shape[0]} inputs: mean matched correlation "
            f"{obj / max(1, n_units):.3f} (identity {obj0 / max(1, n_units):.3f})")
    return tag(theta, Alignment("activation", perms, 1, obj, obj0, True, solver,
                                time.perf_counter() - start, note, {"n_inputs": int(X.shape[0])}))
