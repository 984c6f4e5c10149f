"""Aligned minima, cached like minima, so every analysis runs on them unchanged.

``aligned_minimum(a, b, method, cache)`` is minimum ``b`` permuted towards ``a``. It is cached
twice: an ``aligned`` entry keyed by the two minimum keys, the method and its settings (holding
the permutations and what the alignment did), and an ordinary ``minimum`` entry under the key
of its weights (as an uploaded minimum is keyed), so ``refs.load_minimum``, ``CenterRef`` and
every page or command that takes minimum keys accept it. Its ``label`` names the alignment,
e.g. ``seed 1 aligned to seed 0 (weight matching)``; its ``minimum`` entry's metadata holds the
alignment record under ``alignment``. It computes the same function as ``b`` (its losses and
accuracies are ``b``'s).

``align_feet(minima, method, cache, mode=...)`` aligns a set of feet to a common reference:
``mode="reference"`` (default) aligns every foot to the first one (which is kept as it is);
``mode="mean"`` is MergeMany (Ainsworth et al.): each foot is matched, in turn, to the mean of
the other (aligned) feet until a round changes nothing (weight matching only).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from .._validation import Int, Options, validate_params
from ..cache import DiskCache, make_key
from ..config import spec_dict
from ..models import build_model
from ..training import Minimum, _arrays, _meta, check_minimum_entry, minimum_from_entry, upload_payload, weights_digest
from .activation import activation_matching
from .apply import apply_permutation, permute_buffers
from .result import ALIGN_METHODS, METHOD_LABELS
from .spec import permutation_spec
from .weight import weight_matching

SHORT = {"weight": "weight matching", "activation": "activation matching"}


def _inputs(m: Minimum, X, n_inputs):
    if X is not None:
        X = torch.as_tensor(X)
        digest = hashlib.sha256(X.detach().float().contiguous().cpu().numpy().tobytes()).hexdigest()
        return X, {"inputs": "given", "n": int(X.shape[0]), "shape": list(X.shape), "sha256": digest}
    from ..data import load_dataset
    X = load_dataset(m.data).X_train
    if n_inputs is not None:
        X = X[:n_inputs]
    return X, {"inputs": "train", "n": int(X.shape[0])}


def alignment_payload(a: Minimum, b: Minimum, method: str, settings: dict) -> dict:
    return {"reference": a.key, "moved": b.key, "method": method, **settings}


def _store(b: Minimum, theta: torch.Tensor, buffers: dict, label: str, record: dict,
           cache: DiskCache) -> Minimum:
    digest = weights_digest(theta, buffers)
    payload = upload_payload(b.model, b.data, digest)
    key = make_key("minimum", payload)
    m = Minimum(b.model, b.data, None, b.seed, theta, buffers, b.train_loss, b.train_acc, b.test_loss,
                b.test_acc, b.wall_time, b.epochs, key, label)
    if cache.load("minimum", key, validate=check_minimum_entry) is None:
        cache.save("minimum", key, {**_meta(m), "alignment": record}, _arrays(m), spec=payload)
    return m


@validate_params(method=Options(ALIGN_METHODS), seed=Int(0), n_inputs=Int(2, none=True))
def aligned_minimum(a: Minimum, b: Minimum, method: str, cache: DiskCache | None = None, *,
                    X=None, seed: int = 0, n_inputs: int | None = None) -> Minimum:
    """Minimum ``b`` permuted towards ``a`` by ``method`` ("none" returns ``b`` itself).

    Activation matching runs on ``X`` (default: ``b``'s training inputs, the first ``n_inputs``).
    """
    if method == "none":
        return b
    if spec_dict(a.model) != spec_dict(b.model):
        raise ValueError(f"aligned_minimum needs two minima of one architecture; {a.name!r} and "
                         f"{b.name!r} differ ({a.model} vs {b.model}).")
    cache = cache or DiskCache()
    model = build_model(b.model, 0)
    spec = permutation_spec(model)
    settings = {"seed": seed} if method == "weight" else {}
    if method == "activation":
        X, data = _inputs(b, X, n_inputs)
        settings["data"] = data
    payload = alignment_payload(a, b, method, settings)
    key = make_key("aligned", payload)
    label = f"{b.name} aligned to {a.name} ({SHORT[method]})"

    def compute():
        if method == "weight":
            theta = weight_matching(model, a.theta, b.theta, seed=seed, spec=spec)
        else:
            theta = activation_matching(model, a.theta, b.theta, X, spec=spec, buffers_a=a.buffers,
                                        buffers_b=b.buffers)
        rec = theta.alignment
        buffers = permute_buffers(model, b.buffers, rec.perms, spec=spec)
        m = _store(b, theta, buffers, label, {**rec.summary(), "reference": a.key, "moved": b.key}, cache)
        meta = {"alignment": rec.summary(), "minimum_key": m.key, "label": label,
                "reference": a.key, "moved": b.key}
        return meta, {f"perm.{p}": np.asarray(v, np.int64) for p, v in rec.perms.items()}

    entry = cache.get_or_compute("aligned", key, compute, spec=payload)
    stored = cache.load("minimum", entry.meta["minimum_key"], validate=check_minimum_entry)
    if stored is None:        # the minimum entry was removed: rebuild it from the permutations
        perms = {k[5:]: np.asarray(v) for k, v in entry.arrays.items() if k.startswith("perm.")}
        theta = apply_permutation(model, b.theta, perms, spec=spec)
        return _store(b, theta, permute_buffers(model, b.buffers, perms, spec=spec), label,
                      {**entry.meta["alignment"], "reference": a.key, "moved": b.key}, cache)
    return minimum_from_entry(stored)


def alignment_record(m: Minimum, cache: DiskCache | None = None) -> dict | None:
    """The alignment record of an aligned minimum (None for a minimum that is not aligned)."""
    entry = (cache or DiskCache()).load("minimum", m.key)
    return None if entry is None else entry.meta.get("alignment")


def align_pair(a: Minimum, b: Minimum, method: str, cache: DiskCache | None = None, X=None,
               **kwargs) -> Minimum:
    """The dashboard's call: ``b`` aligned to ``a`` (``aligned_minimum``)."""
    return aligned_minimum(a, b, method, cache, X=X, **kwargs)


@validate_params(method=Options(ALIGN_METHODS), mode=Options("reference", "mean"),
                 max_rounds=Int(1, 1000))
def align_feet(minima, method: str, cache: DiskCache | None = None, *, mode: str = "reference",
               X=None, seed: int = 0, max_rounds: int = 50) -> list[Minimum]:
    """The feet aligned to a common reference (see the module docstring), in the given order.

    ``mode="reference"``: every foot aligned to ``minima[0]`` (kept as it is).
    ``mode="mean"``: MergeMany by weight matching; every foot is moved (none is the reference).
    """
    minima = list(minima)
    if method == "none" or len(minima) < 2:
        return minima
    cache = cache or DiskCache()
    if mode == "reference":
        return [minima[0]] + [aligned_minimum(minima[0], m, method, cache, X=X, seed=seed)
                              for m in minima[1:]]
    if method != "weight":
        raise ValueError("The 'mode' parameter of align_feet must be 'reference' for activation "
                         "matching; MergeMany ('mean') is defined with weight matching. Got 'mean'.")
    payload = {"feet": [m.key for m in minima], "method": "merge_many", "seed": seed,
               "max_rounds": max_rounds}
    key = make_key("aligned", payload)
    model = build_model(minima[0].model, 0)
    spec = permutation_spec(model)

    def compute():
        rng = np.random.default_rng(seed)
        thetas = [m.theta.clone() for m in minima]
        perms = [None] * len(minima)
        rounds, converged = 0, False
        for rounds in range(1, max_rounds + 1):
            changed = False
            for i in rng.permutation(len(minima)):
                others = torch.stack([thetas[j] for j in range(len(minima)) if j != i]).mean(0)
                out = weight_matching(model, others, minima[i].theta, seed=seed, spec=spec,
                                      init_perms=perms[i])
                new = out.alignment.perms
                if perms[i] is None or any(not np.array_equal(new[p], perms[i][p]) for p in new):
                    changed = True
                perms[i], thetas[i] = new, out
            if not changed:
                converged = True
                break
        keys = []
        for m, th, pm in zip(minima, thetas, perms):
            rec = {"method": "weight", "label": "MergeMany (weight matching to the mean of the other feet)",
                   "rounds": rounds, "converged": converged, "moved": m.key}
            keys.append(_store(m, th.detach().clone(), permute_buffers(model, m.buffers, pm, spec=spec),
                               f"{m.name} (MergeMany, weight matching)", rec, cache).key)
        meta = {"minimum_keys": keys, "rounds": rounds, "converged": converged}
        return meta, {f"perm.{i}.{p}": np.asarray(v, np.int64) for i, pm in enumerate(perms)
                      for p, v in pm.items()}

    entry = cache.get_or_compute("aligned", key, compute, spec=payload)
    out = []
    for i, (m, k) in enumerate(zip(minima, entry.meta["minimum_keys"])):
        stored = cache.load("minimum", k, validate=check_minimum_entry)
        if stored is None:
            perms = {n.split(".", 2)[2]: np.asarray(v) for n, v in entry.arrays.items()
                     if n.startswith(f"perm.{i}.")}
            stored_m = _store(m, apply_permutation(model, m.theta, perms, spec=spec),
                              permute_buffers(model, m.buffers, perms, spec=spec),
                              f"{m.name} (MergeMany, weight matching)", {"method": "weight"}, cache)
            out.append(stored_m)
        else:
            out.append(minimum_from_entry(stored))
    return out


def describe_align(method: str, mode: str | None = None) -> str:
    """Caption text for an alignment option."""
    text = METHOD_LABELS[method]
    if method != "none" and mode:
        text += ("; all feet aligned to the first foot" if mode == "reference"
                 else "; feet aligned to their mean (MergeMany)")
    return text
