"""The computations behind Figures 3 and 4 (their settings and recipes are in ``plans``)."""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import theory
from ..config import Experiment, preset, spec_dict
from ..sweeps import sweep
from ..training import train_minima
from .envelope import Progress, part


def minima_summary(minima) -> list[dict]:
    return [{k: v for k, v in m.summary().items() if k != "key"} for m in minima]


def _trend(lam: float, means: list) -> dict:
    known = None not in means
    return {"lam": lam, "first": means[0], "last": means[-1],
            "decreasing_overall": bool(means[-1] < means[0]) if known else None,
            "monotone_decreasing": bool(all(b <= a for a, b in zip(means, means[1:]))) if known else None}


# ------------------------------------------------------------------------------------ fig3
def fig3_base(s: dict) -> Experiment:
    return preset("teacher-student").replace(**{
        "data.n_train": s["n_train"], "train.lr": 1e-2, "train.lr_schedule": "cosine",
        "train.epochs": s["train_epochs"], "n_minima": s["n_minima"]})


def fig3_extra(s: dict) -> dict:
    base = fig3_base(s)
    return {"experiment": spec_dict(base), "seeds": list(base.seed_list)}


def fig3(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """NGD bound against width for each center choice, the exact 2-piece bound of the snapped
    trained minima and the sampled-minima theory curves."""
    base = fig3_base(s)
    M = base.data.teacher_neurons
    series, n_l = {}, len(centers)
    for k, (lam_text, choice) in enumerate(centers.items()):
        res = sweep(base, "model.width", s["widths"], center_spec=choice.spec, n_points=s["n_points"],
                    device=device, cache=cache,
                    progress=part(progress, 0.85 * k / n_l, 0.85 * (k + 1) / n_l, f"λ={lam_text}: "))
        series[lam_text] = [{
            "width": r["value"], "n_pairs": r["n_pairs"], "ngd_bound_mean": r["ngd_bound_mean"],
            "ngd_bound_std": r["ngd_bound_std"], "fold_max_loss_mean": r["fold_max_loss_mean"],
            "segment_max_loss_mean": r["segment_max_loss_mean"],
            "feet_train_loss_mean": r["feet_train_loss_mean"],
            "ngd_bound_per_pair": [x["ngd_bound"] for x in res.rows if x["value"] == r["value"]],
            "fold_max_loss_per_pair": [x["fold_max_loss"] for x in res.rows if x["value"] == r["value"]],
            "center_recipe": choice.record()["label"]} for r in res.summary()]
    minima_info, snapped = {}, []
    for w in s["widths"]:
        exp = base.replace(**{"model.width": w})
        ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device, cache=cache)
        minima_info[str(w)] = minima_summary(ms)
        Ws = [m.theta.double().numpy().reshape(w, -1) for m in ms]
        exact = [theory.best_two_piece_ngd(theory.snap_to_minimum(a, M), theory.snap_to_minimum(b, M),
                                           M).bound for a, b in itertools.combinations(Ws, 2)]
        mean, std = theory.finite_mean_std(exact)
        snapped.append({"width": w, "ngd_2piece_mean": mean, "ngd_2piece_std": std,
                        "fraction_2pl_connected": float(np.mean([math.isfinite(u) for u in exact])),
                        "snap_distance_mean": float(np.mean([np.linalg.norm(W - theory.snap_to_minimum(W, M))
                                                             for W in Ws]))})
    progress(0.9, "theory curves")
    curves = {theory.curve_label(r): theory.two_piece_ngd_curve(s["widths"], M, r, s["theory_trials"], 0)
              for r in s["theory_sparsities"]}
    main_lam = f"{s['main_lam']:g}"
    progress(1.0, "done")
    return {"ngd_vs_width": series, "main_lam": s["main_lam"],
            "trend": _trend(s["main_lam"], [row["ngd_bound_mean"] for row in series[main_lam]]),
            "minima": minima_info, "snapped_exact_2piece": snapped, "theory_reference": curves}


# ------------------------------------------------------------------------------------ fig3-sparsity
def sparsity_experiments(s: dict) -> dict:
    base = preset("teacher-student").replace(**({"data.n_train": s["n_train"]} if s["n_train"] else {}))
    common = {"model.width": s["width"], "train.epochs": s["epochs"]}
    return {name: base.replace(**common, **ch) for name, ch in s["runs"].items()}


def fig3_sparsity_extra(s: dict) -> dict:
    return {"recipes": {k: spec_dict(e) for k, e in sparsity_experiments(s).items()}}


def fig3_sparsity(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """Neuron-norm concentration of trained students beside sampled Unif(M) and SP(M, 0.9) minima."""
    exps = sparsity_experiments(s)
    M = next(iter(exps.values())).data.teacher_neurons
    out = {}
    for k, (name, exp) in enumerate(exps.items()):
        m = train_minima(exp.model, exp.data, exp.train, seeds=[s["seed"]], device=device, cache=cache,
                         progress=part(progress, k / (len(exps) + 1), (k + 1) / (len(exps) + 1),
                                       f"{name}: "))[0]
        W = m.theta.double().numpy().reshape(exp.model.width, -1)
        out[name] = {"minimum": minima_summary([m])[0], "init_scale": exp.model.init_scale,
                     "optimizer": exp.train.optimizer, "lr": exp.train.lr,
                     **theory.norm_concentration(theory.neuron_norms(W), M)}
    refs = {}
    for label, r in (("SP(M, r=0.9) sampled minimum", 0.9), ("Unif(M) sampled minimum", None)):
        W = theory.sample_minimum(s["width"], M, 4, seed=0, sparsity=r)
        stats = theory.norm_concentration(theory.neuron_norms(W), M)
        refs[label] = {k: v for k, v in stats.items() if k != "sorted_norms"}
    progress(1.0, "done")
    return {"solutions": out, "theory_reference": refs}


# ------------------------------------------------------------------------------------ fig4
def fig4_experiment(m: int, run: int, s: dict) -> Experiment:
    """Linear net L = 2 with d = m; run k uses data seed k and minima seeds 2k, 2k+1."""
    return preset("linear-net").replace(**{
        "model.width": m, "data.input_dim": m, "model.input_shape": (m,), "data.seed": run,
        "train.epochs": s["train_epochs"], "n_minima": 2, "seeds": (2 * run, 2 * run + 1)})


def fig4_extra(s: dict) -> dict:
    return {"experiment_example": spec_dict(fig4_experiment(s["widths"][0], 0, s))}


def fig4(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """NGD bound of deep linear nets against width, averaged over runs with their own data."""
    series, minima, rows = {}, {}, {}
    jobs = [(lam, m, k) for lam in centers for m in s["widths"] for k in range(s["runs"])]
    first = next(iter(centers))
    for n, (lam, m, k) in enumerate(jobs):
        exp = fig4_experiment(m, k, s)
        res = sweep(exp, "model.width", [m], center_spec=centers[lam].spec, n_points=s["n_points"],
                    device=device, cache=cache,
                    progress=part(progress, n / len(jobs), (n + 1) / len(jobs), f"λ={lam} m={m} run {k}: "))
        rows.setdefault((lam, m), []).extend(res.rows)
        if lam == first:
            ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device,
                              cache=cache)
            minima.setdefault(str(m), []).extend(minima_summary(ms))
    for lam, choice in centers.items():
        series[lam] = []
        for m in s["widths"]:
            rs = rows[(lam, m)]
            entry = {"width": m, "runs": len(rs), "center_recipe": choice.record()["label"]}
            for key in ("ngd_bound", "fold_max_loss", "segment_max_loss", "feet_train_loss"):
                entry[f"{key}_mean"], entry[f"{key}_std"] = theory.finite_mean_std([r[key] for r in rs])
            entry["ngd_bound_per_run"] = [r["ngd_bound"] for r in rs]
            entry["fold_max_loss_per_run"] = [r["fold_max_loss"] for r in rs]
            series[lam].append(entry)
    main = [e["ngd_bound_mean"] for e in series[f"{s['main_lam']:g}"]]
    progress(1.0, "done")
    return {"ngd_vs_width": series, "main_lam": s["main_lam"], "trend": _trend(s["main_lam"], main),
            "minima": minima}
