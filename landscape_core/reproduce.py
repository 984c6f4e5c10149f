"""Reproduce the CPU-sized experiments of Lin, Li, Wu (arXiv 2404.06391) and write JSON results.

``python -m landscape_core reproduce {fig3,fig3-sparsity,fig4,table1,table2,all} [--quick]
[--out-dir results] [--device auto] [--setting mnist-fnn]``

Each experiment is a function returning a JSON-able dict, also written to
``<out_dir>/<name>.json``. A result holds the settings used, the paper's numbers beside ours
(where the paper gives numbers), the settings the paper leaves unstated with what we chose,
labels for every run shortened to fit a CPU, the wall time, the machine and the date.

Caching: minima, centers and sweep points come from the package's disk cache, so an
interrupted run resumes where it stopped. The finished summary of an experiment is cached
too (kind ``reproduce``), so a rerun is instant; ``--refresh`` recomputes the summary from
the cached minima and centers. ``--quick`` uses tiny settings (seconds) for tests.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .progress import progress_bar
from . import paper, theory
from .cache import DiskCache, make_key
from .center import CenterSpec, center_for_minima
from .config import Experiment, preset, spec_dict
from .data import load_dataset
from .evaluate import Evaluator
from .geodesic import ngd_estimate
from .models import build_model
from .paths import linear_path
from .star import star_report
from .sweeps import sweep
from .training import train_minima

log = logging.getLogger(__name__)

DEFAULT_OUT = "results"
RESULTS_VERSION = 2          # bump when the summary format or an experiment's recipe changes
PAPER = "Lin, Li, Wu, 'Exploring Neural Network Landscapes: Star-Shaped and Geodesic Connectivity', arXiv 2404.06391 (v1)"
TABLE_SETTINGS = ("mnist-fnn", "cifar-vgg16", "cifar-resnet18")
TABLE1_COLUMN = {"mnist-fnn": "MNIST FNN", "cifar-vgg16": "CIFAR-10 VGG16",
                 "cifar-resnet18": "CIFAR-10 ResNet34"}
TABLE2_COLUMN = {"mnist-fnn": "FNN+MNIST", "cifar-vgg16": "VGG16+CIFAR10",
                 "cifar-resnet18": "ResNet18+CIFAR10"}
Progress = Callable[[float, str], None]


# ------------------------------------------------------------------------------------ helpers
def machine_info() -> dict:
    """CPU model, core count, threads, torch/python versions, GPU (if any) and load average."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _clean(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, torch.Tensor):
        return _clean(obj.detach().cpu().numpy())
    return obj


def _part(progress: Progress, lo: float, hi: float, prefix: str = "") -> Progress:
    """Map a sub-task's fraction in [0, 1] onto [lo, hi] of the parent bar."""
    return lambda f, m="": progress(lo + (hi - lo) * min(max(f, 0.0), 1.0),
                                    f"{prefix}{m}" if prefix else m)


def _mean_std(values) -> tuple:
    xs = np.array([v for v in values if v is not None and math.isfinite(v)], float)
    if not xs.size:
        return None, None
    return float(xs.mean()), float(xs.std())


def _run(name: str, settings: dict, compute: Callable[[Progress], dict], *, out_dir, quiet: bool,
         refresh: bool, threads: int | None = 1, cache: DiskCache | None = None) -> dict:
    """Run ``compute`` (or load its cached summary), add the envelope and write the JSON file.

    ``threads`` sets torch's intra-op threads for the run (restored afterwards): on our two
    shared cores one thread made a training step 9x (MNIST FNN) to 50x (toy nets) faster
    than two. None leaves torch's setting alone.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run_inner(name, settings, compute, out_dir=out_dir, quiet=quiet, refresh=refresh,
                          cache=cache)
    finally:
        torch.set_num_threads(previous)


def _run_inner(name, settings, compute, *, out_dir, quiet, refresh, cache) -> dict:
    cache = cache or DiskCache()
    key = make_key("reproduce", {"name": name, "version": RESULTS_VERSION, "settings": _clean(settings)})
    progress = progress_bar(name, quiet)
    entry = None if refresh else cache.load("reproduce", key)
    if entry is None:
        start = time.perf_counter()
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        machine = machine_info()
        body = _clean(compute(progress))
        record = {"body": body, "compute_wall_time_s": round(time.perf_counter() - start, 2),
                  "date": started, "machine": machine}
        cache.save("reproduce", key, record, {})
        from_cache = False
    else:
        record, from_cache = entry.meta, True
        progress(1.0, "summary loaded from the cache")
    result = {"experiment": name, "paper": PAPER, **record["body"],
              "wall_time_s": record["compute_wall_time_s"],
              "wall_time_note": ("seconds spent computing this summary on the machine below; "
                                 "minima, centers and sweep points already in the disk cache "
                                 "were read, not recomputed (fresh-cache timings: "
                                 "docs/reproduction.md)"),
              "date": record["date"],
              "machine": record["machine"], "from_cache": from_cache, "cache_key": key}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(_clean(result), indent=1, allow_nan=False) + "\n")
    return result


def _center_label(spec: CenterSpec, paper_epochs: int | None = None) -> str:
    n = f"{spec.steps} steps" if spec.steps else f"{spec.epochs} epochs"
    short = f" (SHORTENED: the paper trains {paper_epochs} epochs)" if paper_epochs else ""
    return (f"Adam lr {spec.lr:g} {spec.lr_schedule}, init {spec.init}, B_r={spec.n_feet_per_step}, "
            f"B_t={spec.n_t}, data batch {spec.batch_size}, lam={spec.lam:g}, {n}{short}")


def _minima_summary(minima) -> list[dict]:
    return [{k: v for k, v in m.summary().items() if k != "key"} for m in minima]


# ------------------------------------------------------------------------------------ fig3
def _fig3_settings(quick: bool) -> dict:
    if quick:
        return dict(widths=[8, 16], n_minima=2, n_train=200, train_epochs=10, center_steps=20,
                    center_epochs=None, lams=[1e-3], main_lam=1e-3, theory_trials=3,
                    theory_sparsities=[0.9], n_points=5)
    return dict(widths=[8, 16, 32, 64, 128, 256, 512], n_minima=3, n_train=2000, train_epochs=300,
                center_steps=None, center_epochs=200, lams=[1e-4, 1e-3], main_lam=1e-4,
                theory_trials=50, theory_sparsities=[None, 0.5, 0.9], n_points=21)


def _fig3_base(s: dict) -> Experiment:
    return preset("teacher-student").replace(**{
        "data.n_train": s["n_train"], "train.lr": 1e-2, "train.lr_schedule": "cosine",
        "train.epochs": s["train_epochs"], "n_minima": s["n_minima"]})


def _ngd_center_spec(s: dict, lam: float) -> CenterSpec:
    """Center for an NGD estimate: mean-of-feet init, Adam lr 1e-2 cosine, the lam's epochs."""
    epochs = s["center_epochs"]
    if isinstance(epochs, (list, tuple)):
        epochs = epochs[s["lams"].index(lam)]
    return CenterSpec.fast(lam=lam, lr=1e-2, epochs=epochs or 1, steps=s["center_steps"])


def _snap_to_minimum(W: np.ndarray, M: int) -> np.ndarray:
    """Nearest-looking exact minimum (Theorem 6): keep each row's largest positive teacher
    coordinate, zero the rest, rescale every column to sum to 1."""
    S = np.zeros_like(W)
    rows = np.arange(len(W))
    j = np.argmax(W[:, :M], axis=1)
    S[rows, j] = np.maximum(W[rows, j], 0.0)
    sums = S[:, :M].sum(0)
    S[:, :M] /= np.where(sums > 0, sums, 1.0)
    return S


def _theory_curve(widths, M: int, sparsity, trials: int, seed: int = 0) -> list[dict]:
    """Exact best 2-piece NGD bound for pairs of sampled minima (Unif(M) or SP(M, r))."""
    rng = np.random.default_rng(seed)
    out = []
    for m in widths:
        us = [theory.best_two_piece_ngd(theory.sample_minimum(m, M, seed=rng, sparsity=sparsity),
                                        theory.sample_minimum(m, M, seed=rng, sparsity=sparsity),
                                        M).bound for _ in range(trials)]
        mean, std = _mean_std(us)
        out.append({"width": m, "ngd_2piece_mean": mean, "ngd_2piece_std": std,
                    "fraction_2pl_connected": float(np.mean([math.isfinite(u) for u in us])),
                    "trials": trials})
    return out


def _fig3_compute(s: dict, device, progress: Progress) -> dict:
    base = _fig3_base(s)
    M = base.data.teacher_neurons
    series, n_l = {}, len(s["lams"])
    for k, lam in enumerate(s["lams"]):
        res = sweep(base, "model.width", s["widths"], center_spec=_ngd_center_spec(s, lam),
                    n_points=s["n_points"], device=device,
                    progress=_part(progress, 0.85 * k / n_l, 0.85 * (k + 1) / n_l, f"lam={lam:g}: "))
        series[f"{lam:g}"] = [{
            "width": r["value"], "n_pairs": r["n_pairs"], "ngd_bound_mean": r["ngd_bound_mean"],
            "ngd_bound_std": r["ngd_bound_std"], "fold_max_loss_mean": r["fold_max_loss_mean"],
            "segment_max_loss_mean": r["segment_max_loss_mean"],
            "feet_train_loss_mean": r["feet_train_loss_mean"],
            "ngd_bound_per_pair": [x["ngd_bound"] for x in res.rows if x["value"] == r["value"]],
            "fold_max_loss_per_pair": [x["fold_max_loss"] for x in res.rows
                                       if x["value"] == r["value"]]} for r in res.summary()]
    minima_info, snapped = {}, []
    for w in s["widths"]:
        exp = base.replace(**{"model.width": w})
        ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device)
        minima_info[str(w)] = _minima_summary(ms)
        Ws = [m.theta.double().numpy().reshape(w, -1) for m in ms]
        exact = [theory.best_two_piece_ngd(_snap_to_minimum(a, M), _snap_to_minimum(b, M), M).bound
                 for a, b in itertools.combinations(Ws, 2)]
        mean, std = _mean_std(exact)
        snapped.append({"width": w, "ngd_2piece_mean": mean, "ngd_2piece_std": std,
                        "fraction_2pl_connected": float(np.mean([math.isfinite(u) for u in exact])),
                        "snap_distance_mean": float(np.mean([np.linalg.norm(W - _snap_to_minimum(W, M))
                                                             for W in Ws]))})
    progress(0.9, "theory curves")
    curves = {("Unif(M)" if r is None else f"SP(M, r={r:g})"):
              _theory_curve(s["widths"], M, r, s["theory_trials"]) for r in s["theory_sparsities"]}
    main = [row["ngd_bound_mean"] for row in series[f"{s['main_lam']:g}"]]
    trend = {"lam": s["main_lam"], "first": main[0], "last": main[-1],
             "decreasing_overall": bool(main[-1] < main[0]) if None not in main else None,
             "monotone_decreasing": bool(all(b <= a for a, b in zip(main, main[1:])))
             if None not in main else None}
    progress(1.0, "done")
    return {"ngd_vs_width": series, "main_lam": s["main_lam"], "trend": trend,
            "minima": minima_info, "snapped_exact_2piece": snapped, "theory_reference": curves}


def run_fig3(*, quick: bool = False, out_dir=DEFAULT_OUT, device="auto", quiet: bool = False,
             refresh: bool = False, threads: int | None = 1) -> dict:
    """Figure 3 (left): NGD upper bound U of teacher-student minima against the width m."""
    s = _fig3_settings(quick)
    base = _fig3_base(s)
    centers = {f"{lam:g}": spec_dict(_ngd_center_spec(s, lam)) for lam in s["lams"]}
    settings = {"quick": quick, **s, "experiment": spec_dict(base), "center_specs": centers,
                "seeds": list(base.seed_list),
                "center_recipe": {f"{lam:g}": _center_label(_ngd_center_spec(s, lam))
                                  for lam in s["lams"]}}
    unstated = {
        "widths": f"not stated (read off an image): we use {s['widths']}",
        "training": ("the paper says 'SGD solutions' without settings; we train with Adam lr 1e-2, "
                     f"cosine decay, batch 200, up to {s['train_epochs']} epochs, stopping once the "
                     "train loss <= 1e-6; init = PyTorch default x 0.5 (preset init_scale)"),
        "data": (f"d = M = 4 (as Fig. 3 right); {s['n_train']} training points x ~ Unif(S^3), "
                 "data seed 0; squared loss (mean over samples)"),
        "pairs": f"{s['n_minima']} minima per width (seeds {list(base.seed_list)}), every pair",
        "lambda": (f"not stated; we report lam in {s['lams']} (main {s['main_lam']:g}), a center per "
                   "pair, init = mean of the two feet"),
        "loss level": ("the paper does not say how low the fold-line loss must be for U to count; "
                       "we report the fold-line's max train loss next to every U"),
    }
    paper_ref = {"figure": "Fig. 3 left", "claim": "NGD (upper bound) decreases monotonically "
                 "towards 1 as the width m grows (teacher M = 4)",
                 "numbers": None, "note": "plotted values are not available (image only)"}
    body = lambda progress: {"settings": settings, "unstated_settings": unstated,
                             "paper_numbers": paper_ref, "results": _fig3_compute(s, device, progress)}
    return _run("fig3", settings, body, out_dir=out_dir, quiet=quiet, refresh=refresh,
                threads=threads)


# ------------------------------------------------------------------------------------ fig3-sparsity
def _sparsity_stats(norms: np.ndarray, M: int) -> dict:
    total = float(norms.sum())
    cum = np.cumsum(norms) / max(total, 1e-300)
    return {"n_neurons": int(len(norms)), "total_norm": total,
            "neurons_for_50pct": int(np.searchsorted(cum, 0.5) + 1),
            "neurons_for_90pct": int(np.searchsorted(cum, 0.9) + 1),
            "fraction_in_top_M": float(norms[:M].sum() / max(total, 1e-300)),
            "neurons_above_10pct_of_max": int((norms > 0.1 * norms[0]).sum()),
            "top10": norms[:10].tolist(), "sorted_norms": norms.tolist()}


def _sparsity_recipes(quick: bool) -> dict:
    m, ep = (64, 20) if quick else (512, 300)
    common = {"model.width": m, "train.epochs": ep}
    return {
        "sgd-small-init": {**common, "train.optimizer": "sgd", "train.lr": 2e-2,
                           "train.momentum": 0.9, "model.init_scale": 1e-3},
        "sgd-default-init": {**common, "train.optimizer": "sgd", "train.lr": 2e-2,
                             "train.momentum": 0.9, "model.init_scale": 0.5},
        "adam-fig3-recipe": {**common, "train.lr": 1e-2, "train.lr_schedule": "cosine",
                             "model.init_scale": 0.5},
    }


def run_fig3_sparsity(*, quick: bool = False, out_dir=DEFAULT_OUT, device="auto",
                      quiet: bool = False, refresh: bool = False, threads: int | None = 1) -> dict:
    """Figure 3 (right): sorted neuron norms of one trained student (m = 512, M = d = 4)."""
    base = preset("teacher-student").replace(**({"data.n_train": 200} if quick else {}))
    recipes = _sparsity_recipes(quick)
    exps = {name: base.replace(**ch) for name, ch in recipes.items()}
    M = base.data.teacher_neurons
    settings = {"quick": quick, "recipes": {k: spec_dict(e) for k, e in exps.items()}, "seed": 0}

    def compute(progress):
        out = {}
        for k, (name, exp) in enumerate(exps.items()):
            m = train_minima(exp.model, exp.data, exp.train, seeds=[0], device=device,
                             progress=_part(progress, k / (len(exps) + 1), (k + 1) / (len(exps) + 1),
                                            f"{name}: "))[0]
            W = m.theta.double().numpy().reshape(exp.model.width, -1)
            out[name] = {"minimum": _minima_summary([m])[0], "init_scale": exp.model.init_scale,
                         "optimizer": exp.train.optimizer, "lr": exp.train.lr,
                         **_sparsity_stats(theory.neuron_norms(W), M)}
        width = next(iter(exps.values())).model.width
        refs = {}
        for label, r in (("SP(M, r=0.9) sampled minimum", 0.9), ("Unif(M) sampled minimum", None)):
            W = theory.sample_minimum(width, M, 4, seed=0, sparsity=r)
            st = _sparsity_stats(theory.neuron_norms(W), M)
            refs[label] = {k: v for k, v in st.items() if k != "sorted_norms"}
        progress(1.0, "done")
        return {"solutions": out, "theory_reference": refs}

    unstated = {
        "optimizer": "the paper says 'SGD solution' and gives no lr, batch, steps or init",
        "choice": ("three recipes, seed 0, 2000 training points, batch 200, stop at train loss "
                   "<= 1e-6 or after the epoch budget: SGD (momentum 0.9, lr 0.02) from a small init "
                   "(PyTorch default x 1e-3), the same SGD from the preset init (x 0.5), and the "
                   "Adam recipe of our Fig. 3 left"),
        "sparsity measure": "not defined in the paper; we report how many neurons carry 50% and 90% "
                            "of the summed neuron norms, and how many exceed 10% of the largest",
    }
    paper_ref = {"figure": "Fig. 3 right", "claim": "only a few of the 512 neurons have a large norm; "
                 "most are close to 0 (sparse)", "numbers": None,
                 "note": "plotted values are not available (image only)"}
    body = lambda progress: {"settings": settings, "unstated_settings": unstated,
                             "paper_numbers": paper_ref, "results": compute(progress)}
    return _run("fig3-sparsity", settings, body, out_dir=out_dir, quiet=quiet, refresh=refresh,
                threads=threads)


# ------------------------------------------------------------------------------------ fig4
def _fig4_settings(quick: bool) -> dict:
    if quick:
        return dict(widths=[4, 8], runs=2, train_epochs=5, center_steps=20, center_epochs=None,
                    lams=[1e-3], main_lam=1e-3, n_points=5)
    return dict(widths=[4, 8, 16, 32, 64], runs=5, train_epochs=200, center_steps=None,
                center_epochs=[500, 200, 200], lams=[1e-5, 1e-4, 1e-3], main_lam=1e-5,
                n_points=21)


def _fig4_experiment(m: int, run: int, s: dict) -> Experiment:
    """Linear net L = 2 with d = m; run k uses data seed k and minima seeds 2k, 2k+1."""
    return preset("linear-net").replace(**{
        "model.width": m, "data.input_dim": m, "model.input_shape": (m,), "data.seed": run,
        "train.epochs": s["train_epochs"], "n_minima": 2, "seeds": (2 * run, 2 * run + 1)})


def run_fig4(*, quick: bool = False, out_dir=DEFAULT_OUT, device="auto", quiet: bool = False,
             refresh: bool = False, threads: int | None = 1) -> dict:
    """Figure 4: NGD upper bound of deep linear nets (L = 2, d = m) against m, runs averaged."""
    s = _fig4_settings(quick)
    settings = {"quick": quick, **s,
                "experiment_example": spec_dict(_fig4_experiment(s["widths"][0], 0, s)),
                "center_specs": {f"{lam:g}": spec_dict(_ngd_center_spec(s, lam)) for lam in s["lams"]},
                "center_recipe": {f"{lam:g}": _center_label(_ngd_center_spec(s, lam))
                                  for lam in s["lams"]}}

    def compute(progress):
        series, minima = {}, {}
        jobs = [(lam, m, k) for lam in s["lams"] for m in s["widths"] for k in range(s["runs"])]
        rows = {}
        for n, (lam, m, k) in enumerate(jobs):
            exp = _fig4_experiment(m, k, s)
            res = sweep(exp, "model.width", [m], center_spec=_ngd_center_spec(s, lam),
                        n_points=s["n_points"], device=device,
                        progress=_part(progress, n / len(jobs), (n + 1) / len(jobs),
                                       f"lam={lam:g} m={m} run {k}: "))
            rows.setdefault((lam, m), []).extend(res.rows)
            if lam == s["lams"][0]:
                ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device)
                minima.setdefault(str(m), []).extend(_minima_summary(ms))
        for lam in s["lams"]:
            series[f"{lam:g}"] = []
            for m in s["widths"]:
                rs = rows[(lam, m)]
                entry = {"width": m, "runs": len(rs)}
                for key in ("ngd_bound", "fold_max_loss", "segment_max_loss", "feet_train_loss"):
                    entry[f"{key}_mean"], entry[f"{key}_std"] = _mean_std([r[key] for r in rs])
                entry["ngd_bound_per_run"] = [r["ngd_bound"] for r in rs]
                entry["fold_max_loss_per_run"] = [r["fold_max_loss"] for r in rs]
                series[f"{lam:g}"].append(entry)
        main = [e["ngd_bound_mean"] for e in series[f"{s['main_lam']:g}"]]
        trend = {"lam": s["main_lam"], "first": main[0], "last": main[-1],
                 "decreasing_overall": bool(main[-1] < main[0]),
                 "monotone_decreasing": bool(all(b <= a for a, b in zip(main, main[1:])))}
        progress(1.0, "done")
        return {"ngd_vs_width": series, "main_lam": s["main_lam"], "trend": trend, "minima": minima}

    unstated = {
        "widths": f"not stated; we use d = m in {s['widths']}",
        "data": ("not stated; x ~ N(0, I_d), y = Q x with Q ~ N(0, 1/d) (1 x d), 1000 training "
                 "points; run k uses data seed k, so every run has its own Q"),
        "training": ("not stated; Adam lr 3e-3, batch 100, no bias, PyTorch default init, up to "
                     f"{s['train_epochs']} epochs, stop at train loss <= 1e-7 (preset 'linear-net'); "
                     "run k trains minima with seeds 2k and 2k+1"),
        "lambda": f"not stated; lam in {s['lams']} (main {s['main_lam']:g})",
        "center": ("not stated; init = mean of the two feet, Adam lr 1e-2 cosine, B_r = 1, B_t = 3, "
                   "data batch 200; epochs per lam in center_recipe (the smallest lam gets more "
                   "steps: its fold-line only reaches the feet's loss level after ~2500 steps)"),
    }
    paper_ref = {"figure": "Fig. 4", "claim": "NGD of the 2-PL center is close to 1 and decreases "
                 "with m (L = 2, d = m, average of 5 runs)", "numbers": None,
                 "note": "plotted values are not available (image only)"}
    body = lambda progress: {"settings": settings, "unstated_settings": unstated,
                             "paper_numbers": paper_ref, "results": compute(progress)}
    return _run("fig4", settings, body, out_dir=out_dir, quiet=quiet, refresh=refresh,
                threads=threads)


# ------------------------------------------------------------------------------------ tables
def _table_experiment(setting: str, quick: bool) -> tuple[Experiment, dict]:
    """The minima's experiment for a Table 1/2 column and its labels."""
    if setting not in TABLE_SETTINGS:
        raise ValueError(f"The 'setting' parameter of the table experiments must be one of "
                         f"{list(TABLE_SETTINGS)}. Got {setting!r} instead.")
    exp = preset(setting)
    if quick:
        return exp.replace(**{"data.n_train": 500 if setting == "mnist-fnn" else 100,
                              "data.n_test": 200, "train.epochs": 1,
                              "train.target_train_acc": None}), {"quick": True}
    if setting == "mnist-fnn":
        exp = exp.replace(**{"data.n_train": 10000, "train.epochs": 20,
                             "train.target_train_acc": None})
        return exp, {"training_label": "SHORTENED/SUBSET: first 10,000 of the 60,000 MNIST training "
                     "images, 20 Adam epochs (paper: full set, epochs not stated)"}
    return exp, {"training_label": "preset GPU settings (not run here: needs a GPU)"}


def _table_centers(quick: bool, setting: str) -> dict:
    if quick:
        return {"paper-recipe": CenterSpec.paper(steps=5), "fast-recipe": CenterSpec.fast(steps=5)}
    return {"paper-recipe": CenterSpec.paper(epochs=20), "fast-recipe": CenterSpec.fast(epochs=20)}


def _evaluator(exp: Experiment, device) -> Evaluator:
    ds = load_dataset(exp.data)
    return Evaluator(build_model(exp.model), ds.X_train, ds.y_train, loss=ds.loss, device=device)


def _center_facts(center, ev: Evaluator) -> dict:
    r = ev.evaluate(center.theta)
    return {"train_loss": float(r.loss[0]),
            "train_acc": None if r.accuracy is None else float(r.accuracy[0]),
            "distance_to_feet_mean": float(np.mean(center.distances)),
            "final_objective": float(center.history[-1]) if len(center.history) else None,
            "n_steps": center.n_steps, "wall_time_s": center.wall_time,
            "objective_history": [float(v) for v in center.history]}


def run_table1(*, setting: str = "mnist-fnn", quick: bool = False, out_dir=DEFAULT_OUT,
               device="auto", quiet: bool = False, refresh: bool = False,
               threads: int | None = 1) -> dict:
    """Table 1 (one column): star connectivity of 5 minima through one center, two recipes."""
    exp, labels = _table_experiment(setting, quick)
    n_points = 3 if quick else 21
    centers = _table_centers(quick, setting)
    name = "table1" if setting == "mnist-fnn" else f"table1-{setting}"
    column = TABLE1_COLUMN[setting]
    settings = {"quick": quick, "setting": setting, "experiment": spec_dict(exp),
                "seeds": list(exp.seed_list), "n_points_per_segment_or_leg": n_points,
                "centers": {k: spec_dict(c) for k, c in centers.items()},
                "center_labels": {"paper-recipe": _center_label(centers["paper-recipe"], 200),
                                  "fast-recipe": _center_label(centers["fast-recipe"])}, **labels}

    def compute(progress):
        minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device,
                              progress=_part(progress, 0.0, 0.35, "minima: "))
        ev = _evaluator(exp, device)
        out = {"minima": _minima_summary(minima), "recipes": {}}
        for k, (rname, spec) in enumerate(centers.items()):
            lo = 0.35 + 0.65 * k / len(centers)
            c = center_for_minima(minima, spec, device=device,
                                  progress=_part(progress, lo, lo + 0.45 / len(centers), f"{rname}: "))
            rep = star_report([m.theta for m in minima], c, evaluator=ev, n_points=n_points,
                              names=[m.name for m in minima],
                              progress=_part(progress, lo + 0.45 / len(centers),
                                             lo + 0.65 / len(centers), f"{rname} report: "))
            rows = {row["path"]: row for row in rep.table()}
            seg, fold = rows["direct segment"], rows["fold-line"]
            ours = {"segment_max_loss": seg["max_loss"], "fold_max_loss": fold["max_loss"],
                    "segment_min_acc": seg["min_acc"], "fold_min_acc": fold["min_acc"]}
            out["recipes"][rname] = {
                "center_spec": spec_dict(spec), "center": _center_facts(c, ev),
                "comparison": [{"row": paper.TABLE1_ROWS[key], "key": key,
                                "paper": paper.TABLE1[column][key], "ours": ours[key]}
                               for key in paper.TABLE1_ROWS],
                "endpoint_corrected_barrier": {"segment": seg["barrier_height"],
                                               "fold_line": fold["barrier_height"]},
                "rows": list(rows.values())}
        progress(1.0, "done")
        return out

    unstated = {
        "minima training": ("epochs, schedule, weight decay, augmentation and the FNN activation "
                            "are not stated; we use Adam lr 1e-3 (paper), batch 200 (paper), ReLU, "
                            f"constant lr, no weight decay, {exp.train.epochs} epochs, seeds "
                            f"{list(exp.seed_list)}"),
        "center init": "not stated; paper-recipe: a fresh random init (seed 0 + 7919); "
                       "fast-recipe: the mean of the feet",
        "center data batch": "not stated; 200 (the training batch), one minibatch shared by the 3 t's",
        "center lr schedule": "not stated; paper-recipe constant lr 0.01, fast-recipe cosine from 1e-3",
        "points per path": f"not stated; {n_points} per segment and per fold-line leg",
        "barrier": "the paper's: mean over the 10 pairs of the max train loss / min train accuracy "
                   "along each path (not endpoint-corrected); we add the endpoint-corrected height",
        "center length": "paper 200 epochs on all 60k images; ours is labelled in center_labels",
    }
    paper_ref = {"table": "Table 1", "column": column, "numbers": paper.TABLE1[column],
                 "rows": paper.TABLE1_ROWS,
                 "note": ("the paper's ResNet34 column is compared with our ResNet18 preset"
                          if setting == "cifar-resnet18" else "")}
    body = lambda progress: {"settings": settings, "unstated_settings": unstated,
                             "paper_numbers": paper_ref, "results": compute(progress)}
    return _run(name, settings, body, out_dir=out_dir, quiet=quiet, refresh=refresh,
                threads=threads)


def run_table2(*, setting: str = "mnist-fnn", quick: bool = False, out_dir=DEFAULT_OUT,
               device="auto", quiet: bool = False, refresh: bool = False,
               threads: int | None = 1, lams=None) -> dict:
    """Table 2 (one column): NGD upper bound U and fold-line accuracy of 2 minima as lam varies."""
    exp, labels = _table_experiment(setting, quick)
    exp = exp.replace(n_minima=2, seeds=exp.seed_list[:2])
    lams = list(lams) if lams is not None else ([1e-3] if quick else [0.0, 1e-4, 1e-3, 1e-2])
    specs = {f"{lam:g}": (CenterSpec.fast(lam=lam, steps=5) if quick else
                          CenterSpec.fast(lam=lam, epochs=20)) for lam in lams}
    n_points = 3 if quick else 21
    name = "table2" if setting == "mnist-fnn" else f"table2-{setting}"
    column = TABLE2_COLUMN[setting]
    settings = {"quick": quick, "setting": setting, "experiment": spec_dict(exp),
                "seeds": list(exp.seed_list), "lams": lams, "n_points_per_leg": n_points,
                "centers": {k: spec_dict(c) for k, c in specs.items()},
                "center_labels": {k: _center_label(c) for k, c in specs.items()}, **labels}

    def compute(progress):
        minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device,
                              progress=_part(progress, 0.0, 0.2, "minima: "))
        a, b = minima
        ev = _evaluator(exp, device)
        seg = linear_path(a.theta, b.theta, evaluator=ev, n_points=n_points).barriers()
        curve = []
        for k, (lam_text, spec) in enumerate(specs.items()):
            lo = 0.2 + 0.8 * k / len(specs)
            c = center_for_minima(minima, spec, device=device,
                                  progress=_part(progress, lo, lo + 0.8 / len(specs),
                                                 f"lam={lam_text}: "))
            est = ngd_estimate(a.theta, b.theta, c, evaluator=ev, n_points=n_points)
            fold = est.profile.barriers()
            curve.append({"lam": spec.lam, "ngd_upper_bound": est.value,
                          "fold_min_acc": est.path_min_acc, "fold_max_loss": est.path_max_loss,
                          "fold_barrier_height": fold["barrier_height"],
                          "center": _center_facts(c, ev), "computed_from": est.computed_from})
        feet_acc = min((m.train_acc for m in minima if m.train_acc is not None), default=None)
        ok = [r for r in curve if r["fold_min_acc"] is None or r["fold_min_acc"] >= 0.99]
        best = min(ok, key=lambda r: r["ngd_upper_bound"]) if ok else None
        progress(1.0, "done")
        return {"minima": _minima_summary(minima), "segment": seg, "tradeoff": curve,
                "feet_min_train_acc": feet_acc,
                "selected": None if best is None else {
                    "rule": "smallest U among the lam values whose fold-line keeps >= 99% train accuracy",
                    "lam": best["lam"], "ngd_upper_bound": best["ngd_upper_bound"],
                    "fold_min_acc": best["fold_min_acc"],
                    "paper": paper.TABLE2[column]}}

    unstated = {
        "lambda": f"not stated; we sweep lam in {lams} and report the whole trade-off",
        "minima": "the first two minima of our Table 1 run (same specs, so read from the cache)",
        "center": "not stated beyond Adam and the squared-distance penalty; init = mean of the two "
                  "feet, Adam lr 1e-3 cosine, B_r = 1, B_t = 3, data batch 200",
        "points per leg": f"not stated; {n_points}",
    }
    paper_ref = {"table": "Table 2", "column": column, "numbers": paper.TABLE2[column],
                 "note": "the paper gives one U per setting and does not say which lam produced it"}
    body = lambda progress: {"settings": settings, "unstated_settings": unstated,
                             "paper_numbers": paper_ref, "results": compute(progress)}
    return _run(name, settings, body, out_dir=out_dir, quiet=quiet, refresh=refresh,
                threads=threads)


# ------------------------------------------------------------------------------------ entry points
EXPERIMENTS = {"fig3": run_fig3, "fig3-sparsity": run_fig3_sparsity, "fig4": run_fig4,
               "table1": run_table1, "table2": run_table2}


def run_all(**kwargs) -> dict:
    """Every experiment in turn (MNIST setting for the tables); returns {name: result}."""
    return {name: fn(**kwargs) for name, fn in EXPERIMENTS.items()}


def load_results(out_dir=DEFAULT_OUT) -> dict:
    """Every result JSON written to ``out_dir``: {name: result dict}; {} if there is none."""
    folder = Path(out_dir)
    out = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("could not read %s: %s", path, exc)
            continue
        if isinstance(data, dict) and "experiment" in data:
            out[path.stem] = data
    return out


def _headline(res: dict) -> str:
    """One line of key numbers for the terminal."""
    name, r = res["experiment"], res["results"]
    if name == "fig3" or name == "fig4":
        rows = r["ngd_vs_width"][f"{r['main_lam']:g}"]
        pts = ", ".join(f"m={e['width']}: {e['ngd_bound_mean']:.3f}" for e in rows
                        if e["ngd_bound_mean"] is not None)
        return f"{name}: NGD bound (lam={r['main_lam']:g}) {pts}"
    if name == "fig3-sparsity":
        return "fig3-sparsity: neurons for 90% of the norm: " + ", ".join(
            f"{k} {v['neurons_for_90pct']}/{v['n_neurons']}" for k, v in r["solutions"].items())
    if name.startswith("table1"):
        parts = []
        for k, v in r["recipes"].items():
            c = {row["key"]: row for row in v["comparison"]}
            parts.append(f"{k}: segment acc {c['segment_min_acc']['ours']:.4f} (paper "
                         f"{c['segment_min_acc']['paper']}), fold acc {c['fold_min_acc']['ours']:.4f} "
                         f"(paper {c['fold_min_acc']['paper']})")
        return f"{name}: " + "; ".join(parts)
    if name.startswith("table2"):
        return f"{name}: " + ", ".join(
            f"lam={e['lam']:g}: U={e['ngd_upper_bound']:.4f} acc={e['fold_min_acc']}"
            for e in r["tradeoff"])
    return name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m landscape_core reproduce",
                                description="Reproduce the paper's CPU-sized figures and tables.")
    p.add_argument("experiment", choices=list(EXPERIMENTS) + ["all"])
    p.add_argument("--quick", action="store_true", help="tiny settings (seconds), for tests")
    p.add_argument("--out-dir", default=DEFAULT_OUT, help="folder of the JSON results")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--setting", default="mnist-fnn", choices=list(TABLE_SETTINGS),
                   help="column of Tables 1-2 (table1/table2 only; the CIFAR ones need a GPU)")
    p.add_argument("--refresh", action="store_true",
                   help="recompute the summary (minima and centers still come from the cache)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: faster on small shared CPUs; 0 = "
                        "leave torch's default)")
    return p


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    kwargs = dict(quick=args.quick, out_dir=args.out_dir, device=args.device, quiet=args.quiet,
                  refresh=args.refresh, threads=args.threads or None)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    if args.setting != "mnist-fnn" and not set(names) & {"table1", "table2"}:
        print("error: --setting applies to table1 and table2 only", file=sys.stderr)
        return 2
    from .data import DataNotFoundError
    for name in names:
        extra = {"setting": args.setting} if name in ("table1", "table2") else {}
        try:
            res = EXPERIMENTS[name](**kwargs, **extra)
        except (ValueError, DataNotFoundError) as exc:
            print(f"error: {name}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        print(f"{_headline(res)}  [{res['wall_time_s']:.0f} s"
              f"{', summary from cache' if res['from_cache'] else ''}]")
    return 0
