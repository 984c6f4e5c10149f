"""Center finding (the paper's Eq. 6-7): the spec, the fitted center, and the cached fit.

For feet S = {theta_1, ..., theta_r} the center minimises

    J_S(theta) = (1/r) sum_i ( E_t R(t theta + (1 - t) theta_i) + lam ||theta - theta_i||^2 ).

Each step draws ``n_feet_per_step`` feet (B_r), ``n_t`` values of t per foot (B_t) and ONE data
minibatch shared by all B_r * B_t interpolated points, and takes a gradient step on the mean
minibatch loss at those points plus (lam / B_r) sum_k ||theta - theta_{i_k}||^2. Autograd
supplies the chain-rule factor t of the paper (points near the foot barely move the center).

The points of one step are evaluated together. Where the model's first parametrised operation
is a Linear or Conv2d (``evaluate.split_first_layer``), ``evaluate.AffineLoss`` runs that layer
once for theta and reads the feet's outputs from a per-sample cache: on the segment the first
layer's output is t (W x + b) + (1 - t)(W_i x + b_i); only the rest runs per point (for MLPs
with a hand-written backward). Otherwise ``torch.func.functional_call`` is vectorised with
``vmap`` over the stacked points, the minibatch shared. Models with BatchNorm cannot be vmapped
with batch statistics, so for them the points are run one after another in train mode (each
point normalised by its own minibatch statistics, the analogue of recomputing BN statistics per
point; dropout is switched off). ``Center.meta["route"]`` says which route ran.

The trainer is ``pathloss.train_path_loss``, shared with Garipov curve fitting (``curves``).
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ._validation import Int, Options, Real, validated_spec
from .cache import DiskCache, make_key
from .config import BN_POLICIES, spec_dict
from .evaluate import Progress, resolve_device
from .models import build_model
from .params import ParamLayout, flatten
from .pathloss import Affine, as_feet, resolve_loss, train_path_loss

log = logging.getLogger(__name__)

T_DISTS = ("uniform", "beta22", "stratified")
INITS = ("mean", "random", "foot")
INIT_SEED_OFFSET = 7919   # "random" init uses seed + this, so it never equals a foot's own init


@validated_spec(lam=Real(0.0, 1e6), n_t=Int(1, 4096), n_feet_per_step=Int(1, 4096),
                t_dist=Options(T_DISTS), init=Options(INITS), optimizer=Options("adam", "sgd"),
                lr=Real(0.0, 100.0, lo_open=True), lr_schedule=Options("cosine", "constant"),
                epochs=Int(1, 100_000), batch_size=Int(1, 10_000_000), seed=Int(0),
                bn_policy=Options(BN_POLICIES), steps=Int(1, 10_000_000, none=True))
@dataclass(frozen=True)
class CenterSpec:
    """How a center (or a curve bend) is trained. The defaults equal ``fast()``.

    The paper states B_r = 1, B_t = 3, Adam lr 0.01 and 200 epochs (Table 1). It does NOT state
    the center's initialisation, the data batch size, lambda for the NGD runs, the lr schedule
    or the BatchNorm handling; ``paper()`` fills them with the spec's proposals (fresh random
    init, batch 200, lambda 0, constant lr). ``fast()`` (mean-of-feet init, lr 1e-3 cosine, 20
    epochs) is meant for data sets with hundreds of steps per epoch (MNIST: 300). On the small
    digits presets (2-7 steps per epoch) 20 epochs are too few: on "digits-mlp" (3 feet) the
    fold-line max train loss was 0.45 with ``fast()``, 0.079 with ``fast(lr=1e-2)`` and 0.025
    with ``paper()`` (1400 steps), against 1.06 on the direct segments.
    """
    lam: float = 0.0                 # lambda, weight of p(theta, theta_i) = ||theta - theta_i||^2
    n_t: int = 3                     # B_t: t samples per foot per step (paper: 3)
    n_feet_per_step: int = 1         # B_r: feet drawn per step (paper: 1)
    t_dist: str = "uniform"          # uniform U[0,1] (paper) | beta22 (Starlight variant) | stratified
    init: str = "mean"               # mean of the feet | random fresh init | foot (the first foot)
    optimizer: str = "adam"          # adam (paper) | sgd (momentum 0.9)
    lr: float = 1e-3                 # paper: 0.01
    lr_schedule: str = "cosine"      # cosine decay to 0 over all steps | constant (paper, presumably)
    epochs: int = 20                 # passes over the training data (paper: 200)
    batch_size: int = 200            # data minibatch shared by the B_r * B_t points (not stated; 200)
    seed: int = 0                    # fixes t, feet indices, data order and the "random" init
    bn_policy: str = "recompute"     # BN models: recompute = batch statistics per point; eval = stored
    steps: int | None = None         # total steps; overrides epochs (quick runs and tests)

    @classmethod
    def paper(cls, **changes) -> "CenterSpec":
        """The paper's recipe: Adam lr 0.01 constant, B_r = 1, B_t = 3, 200 epochs, lam = 0,
        with the unstated choices set to the spec's proposals (random init, batch 200)."""
        base = dict(lam=0.0, n_t=3, n_feet_per_step=1, init="random", lr=1e-2,
                    lr_schedule="constant", epochs=200)
        return cls(**{**base, **changes})

    @classmethod
    def fast(cls, **changes) -> "CenterSpec":
        """Our recipe: start from the mean of the feet, Adam lr 1e-3 with cosine decay, 20 epochs."""
        base = dict(init="mean", lr=1e-3, lr_schedule="cosine", epochs=20)
        return cls(**{**base, **changes})


@dataclass(frozen=True)
class Center:
    """A fitted center and how it was obtained.

    theta : Tensor (D,), CPU float32. history : (E,) mean minibatch objective per epoch (or per
    logged chunk of steps). distances : (r,) ||theta - theta_i|| in float64, feet in the order
    used. meta : JSON-able facts (``interrupted``, ``n_feet``, ``loss``, ``bn_mode``, ...).
    """
    theta: torch.Tensor
    spec: CenterSpec
    history: np.ndarray
    distances: np.ndarray
    wall_time: float
    n_steps: int
    meta: dict = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return bool(self.meta.get("interrupted", False))


def _random_init(model: nn.Module, seed: int) -> torch.Tensor:
    """Flat parameters of a copy of ``model`` re-initialised with ``reset_parameters`` (seeded).

    ``ModelSpec.init_scale`` is unknown here; ``center_for_minima`` uses ``build_model`` instead.
    """
    fresh = copy.deepcopy(model).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + INIT_SEED_OFFSET)
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return flatten(fresh)


def center_points(feet: torch.Tensor) -> tuple[Callable, Affine]:
    """The points t * theta + (1 - t) * theta_i of one step on the segments to the drawn feet
    ``groups`` (t: (B_r, B_t)), as a function of theta and as ``pathloss.Affine`` coefficients."""
    dim = feet.shape[1]

    def points(theta, t, groups):                      # t (B_r, B_t) -> (B_r * B_t, D)
        ends = feet[groups]                            # (B_r, D)
        tt = t[..., None]
        return (tt * theta + (1 - tt) * ends[:, None, :]).reshape(-1, dim)

    def coeffs(t, groups):                             # the same points: A * theta + C @ feet[rows]
        A, g = t.reshape(-1, 1), groups.tolist()
        rows = sorted(set(g))
        if len(rows) == 1:
            return A, 1 - A, rows
        col = torch.tensor([rows.index(j) for j in g], device=A.device).repeat_interleave(t.shape[1])
        C = torch.zeros(A.shape[0], len(rows), dtype=A.dtype, device=A.device)
        return A, C.scatter_(1, col[:, None], 1 - A), rows
    return points, Affine(feet, coeffs)


def find_center(feet, *, model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                spec: CenterSpec = CenterSpec(), loss: str = "auto", progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None, device="auto",
                init_theta: torch.Tensor | None = None) -> Center:
    """Fit a center to ``feet`` by stochastic minimisation of the paper's Eq. 6-7 objective.

    Parameters
    ----------
    feet : Tensor (r, D) or list of r Tensors (D,)
        The minima theta_i (never modified).
    model : nn.Module
        The architecture (copied, never modified); D = its trainable parameter count.
    X, y : Tensor (N, ...) and (N,) or (N, n_outputs)
        Training data for the minibatch loss R-hat.
    spec : CenterSpec
    loss : {"auto", "cross_entropy", "mse"}
    progress : callable(fraction, message), optional
    should_stop : callable() -> bool, optional
        Polled every step; when True the current center is returned with meta["interrupted"].
    init_theta : Tensor (D,), optional
        Overrides ``spec.init`` (``center_for_minima`` passes a ``build_model`` init here).

    Returns
    -------
    Center
    """
    dim = ParamLayout.of(model).dim
    feet = as_feet(feet, dim, "find_center")
    loss = resolve_loss(loss, y, "find_center")
    if init_theta is not None:
        theta0 = torch.as_tensor(init_theta).detach().reshape(-1).cpu().float()
    else:
        theta0 = {"mean": lambda: feet.mean(0), "foot": lambda: feet[0],
                  "random": lambda: _random_init(model, spec.seed)}[spec.init]()
    dev = resolve_device(device)
    feet_dev = feet.to(dev)

    penalty = None
    if spec.lam > 0:
        penalty = lambda theta, groups: spec.lam * ((theta - feet_dev[groups]) ** 2).sum(1).mean()
    points, affine = center_points(feet_dev)
    run = train_path_loss(theta0, points, n_groups=len(feet), penalty_fn=penalty, model=model,
                           X=X, y=y, loss=loss, spec=spec, progress=progress,
                           should_stop=should_stop, device=dev, what="center finding",
                           affine=affine)
    distances = (run.theta.double() - feet.double()).norm(dim=1).numpy()
    meta = {"interrupted": run.interrupted, "n_feet": int(len(feet)), "loss": loss,
            "bn_mode": run.mode, "route": run.route, "device": str(dev),
            "init": "given" if init_theta is not None else spec.init,
            "sec_per_step": run.wall_time / max(run.n_steps, 1)}
    log.info("center finding: %d steps in %.1f s, final objective %.4g", run.n_steps,
             run.wall_time, run.history[-1] if len(run.history) else float("nan"))
    return Center(run.theta, spec, run.history, distances, run.wall_time, run.n_steps, meta)


class _Interrupted(Exception):
    """Raised inside the cache's compute so that an interrupted center is never stored."""

    def __init__(self, center: Center):
        super().__init__("center finding interrupted")
        self.center = center


def center_payload(minima, spec: CenterSpec) -> dict:
    """What a center's key is made from: the spec and the set of foot keys (order does not matter)."""
    return {"spec": spec_dict(spec), "feet": sorted(m.key for m in minima)}


def center_key(minima, spec: CenterSpec) -> str:
    """Cache key of a center (``make_key("center", center_payload(...))``)."""
    return make_key("center", center_payload(minima, spec))


def _check_minima(minima) -> list:
    minima = list(minima)
    if not minima:
        raise ValueError("The 'minima' parameter of center_for_minima must hold at least one "
                         "Minimum. Got an empty list.")
    ref_m, ref_d = spec_dict(minima[0].model), minima[0].data.key_dict()
    for m in minima[1:]:
        if spec_dict(m.model) != ref_m or m.data.key_dict() != ref_d:
            raise ValueError(f"The 'minima' parameter of center_for_minima must hold minima of one "
                             f"model and one dataset. {m.name!r} differs from {minima[0].name!r} "
                             f"(model {m.model} vs {minima[0].model}; data {m.data} vs "
                             f"{minima[0].data}). Pass minima of a single experiment.")
    return sorted(minima, key=lambda m: m.key)


def center_for_minima(minima, spec: CenterSpec = CenterSpec(), *, cache: DiskCache | None = None,
                      progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                      device="auto", use_cache: bool = True) -> Center:
    """Find (or load from the disk cache) the center of trained ``minima``.

    Feet are taken in the order of their cache keys, so the result depends on the set of
    minima only. An interrupted run is returned but never stored.

    Parameters
    ----------
    minima : list of training.Minimum
        All of one ModelSpec and DataSpec (else ValueError).
    spec : CenterSpec
    cache : DiskCache, optional (default: ``DiskCache()``)
    """
    from .data import load_dataset
    minima = _check_minima(minima)
    key = center_key(minima, spec)

    def compute():
        m0 = minima[0]
        model = build_model(m0.model, 0)
        with torch.no_grad():
            for name, buf in model.named_buffers():      # "eval" BN policy: the first foot's statistics
                if name in m0.buffers:
                    buf.copy_(m0.buffers[name])
        ds = load_dataset(m0.data)
        init = (flatten(build_model(m0.model, spec.seed + INIT_SEED_OFFSET))
                if spec.init == "random" else None)
        c = find_center([m.theta for m in minima], model=model, X=ds.X_train, y=ds.y_train,
                        spec=spec, loss=ds.loss, progress=progress, should_stop=should_stop,
                        device=device, init_theta=init)
        c = Center(c.theta, c.spec, c.history, c.distances, c.wall_time, c.n_steps,
                   {**c.meta, "init": spec.init, "feet_keys": [m.key for m in minima],
                    "feet_names": [m.name for m in minima]})
        if c.interrupted:
            raise _Interrupted(c)
        meta = {"spec": spec_dict(spec), "wall_time": c.wall_time, "n_steps": c.n_steps,
                "meta": c.meta}
        return meta, {"theta": c.theta.numpy(), "history": c.history, "distances": c.distances}

    if not use_cache:
        try:
            return _center_from(*compute())
        except _Interrupted as stop:
            return stop.center
    try:
        entry = (cache or DiskCache()).get_or_compute("center", key, compute,
                                                      spec=center_payload(minima, spec))
    except _Interrupted as stop:
        return stop.center
    return _center_from(entry.meta, entry.arrays)


def _center_from(meta: dict, arrays: dict) -> Center:
    """Rebuild a Center from cache metadata and arrays."""
    fields = {k: v for k, v in meta["spec"].items() if k != "__type__"}
    return Center(torch.from_numpy(np.array(arrays["theta"], dtype=np.float32)),
                  CenterSpec(**fields), np.array(arrays["history"], dtype=float),
                  np.array(arrays["distances"], dtype=float), float(meta["wall_time"]),
                  int(meta["n_steps"]), dict(meta["meta"]))
