"""The computations behind the modulo-permutation reproductions (plans in ``alignment_plans``):
Git Re-Basin's MNIST MLP barrier before and after matching, REPAIR's finding that matching alone
leaves a barrier which REPAIR mostly removes, and Entezari et al.'s trend with width.

Every pair of minima gives the straight segment a -> b for each variant (raw, weight matching,
activation matching, and each matching followed by REPAIR), evaluated on train and test with
every barrier definition of ``paths.BARRIER_DEFINITIONS``. A pair's rows are one cache entry
(kind ``reproduce_pair``), so an interrupted run resumes pair by pair; minima and aligned minima
are cached as everywhere else.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from ..cache import make_key
from ..config import Experiment, preset, spec_dict
from ..data import load_dataset
from ..evaluate import evaluators_for
from ..models import build_model
from ..paths import linear_path
from ..permutation import aligned_minimum, permutation_spec, repair_path
from ..permutation.observe import network_at
from ..training import train_minima
from .envelope import Progress, part
from .figures import minima_summary

PAIR_VERSION = 1
VARIANT_LABELS = {"none": "raw (no alignment)", "weight": "weight matching",
                  "activation": "activation matching", "weight+repair": "weight matching + REPAIR",
                  "activation+repair": "activation matching + REPAIR"}
KEY_METRICS = ("barrier_height", "rebasin_barrier", "midpoint_barrier", "max_loss", "min_acc",
               "midpoint_acc_drop", "acc_drop")


def mnist_mlp(s: dict, hidden: tuple) -> Experiment:
    """The MNIST MLP of these reproductions: ``hidden`` ReLU layers, Adam, settings from ``s``."""
    return preset("mnist-fnn").replace(**{
        "model.hidden": tuple(hidden), "data.n_train": s["n_train"], "data.n_test": s["n_test"],
        "train.epochs": s["train_epochs"], "train.batch_size": s["batch_size"], "train.lr": s["lr"],
        "train.target_train_acc": None, "n_minima": s["n_minima"]}) if s["data"] == "mnist" else \
        preset("tiny").replace(**{"model.hidden": tuple(hidden), "train.epochs": s["train_epochs"],
                                  "n_minima": s["n_minima"]})


def _max_output_change(model, b, aligned, X) -> float:
    with torch.no_grad():
        return float((network_at(model, b.theta)(X) - network_at(model, aligned.theta)(X)).abs().max())


def pair_rows(exp: Experiment, a, b, variants, s: dict, cache, device, progress: Progress) -> dict:
    """Barriers of every variant's segment a -> b on train and test (cached per pair)."""
    payload = {"v": PAIR_VERSION, "a": a.key, "b": b.key, "variants": list(variants),
               "n_points": s["n_points"], "n_repair": s["n_repair"], "exp": spec_dict(exp)}

    def compute():
        model = build_model(exp.model)
        ds = load_dataset(exp.data)
        ev, tev = evaluators_for(model, ds, device=device)
        X_rep = ds.X_train[:s["n_repair"]]
        out = {}
        for k, v in enumerate(variants):
            method, _, rep = v.partition("+")
            progress(k / len(variants), VARIANT_LABELS[v])
            b2 = aligned_minimum(a, b, method, cache)
            if rep:
                prof = repair_path(model, a.theta, b2.theta, X_rep, evaluator=ev, test_evaluator=tev,
                                   n_points=s["n_points"])
            else:
                prof = linear_path(a.theta, b2.theta, evaluator=ev, test_evaluator=tev,
                                   n_points=s["n_points"])
            row = {"variant": v, "label": VARIANT_LABELS[v], "train": prof.barriers("train"),
                   "test": prof.barriers("test"), "distance": prof.distance,
                   "profile": {"t": prof.t, "train_loss": prof.train_loss, "test_acc": prof.test_acc}}
            if method != "none" and not rep:
                from ..permutation import alignment_record
                row["alignment"] = alignment_record(b2, cache)
                row["max_output_change"] = _max_output_change(model, b, b2, ds.X_test[:2000])
            out[v] = row
        return {"rows": _clean(out)}, {}
    entry = cache.get_or_compute("reproduce_pair", make_key("reproduce_pair", payload), compute,
                                 spec=payload)
    return entry.meta["rows"]


def _clean(obj):
    from .envelope import clean
    return clean(obj)


def _pairs_of(exp, s, cache, device, progress):
    ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device, cache=cache,
                      progress=progress)
    return ms, list(itertools.combinations(range(len(ms)), 2))


def _summary(rows_per_pair: list) -> dict:
    """Mean over pairs of every key metric, per variant and split."""
    out = {}
    for v in rows_per_pair[0]:
        entry = {"label": VARIANT_LABELS[v], "n_pairs": len(rows_per_pair)}
        for split in ("train", "test"):
            for m in KEY_METRICS:
                xs = [r[v][split][m] for r in rows_per_pair if r[v][split].get(m) is not None]
                entry[f"{split}_{m}"] = float(np.mean(xs)) if xs else None
                entry[f"{split}_{m}_per_pair"] = xs
        out[v] = entry
    return out


def rebasin_extra(s: dict) -> dict:
    exp = mnist_mlp(s, s["hidden"])
    return {"experiment": spec_dict(exp), "seeds": list(exp.seed_list),
            "permutation_groups": len(permutation_spec(build_model(exp.model)).perms)}


def rebasin(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """Git Re-Basin's MNIST MLP (and REPAIR's finding on it): barriers before/after matching."""
    exp = mnist_mlp(s, s["hidden"])
    ms, pairs = _pairs_of(exp, s, cache, device, part(progress, 0, 0.4, "minima: "))
    rows = []
    for k, (i, j) in enumerate(pairs):
        rows.append(pair_rows(exp, ms[i], ms[j], s["variants"], s, cache, device,
                              part(progress, 0.4 + 0.6 * k / len(pairs), 0.4 + 0.6 * (k + 1) / len(pairs),
                                   f"pair {i}-{j}: ")))
    summary = _summary(rows)
    progress(1.0, "done")
    return {"minima": minima_summary(ms), "pairs": [[ms[i].seed, ms[j].seed] for i, j in pairs],
            "summary": summary, "per_pair": rows, "findings": _findings(summary)}


def _findings(summary: dict) -> dict:
    """The claims in numbers: barrier removed by matching, and the part of it REPAIR removes."""
    out = {}
    for split in ("train", "test"):
        raw = summary["none"][f"{split}_barrier_height"]
        for m in ("weight", "activation"):
            if m in summary:
                after = summary[m][f"{split}_barrier_height"]
                out[f"{split}_{m}_reduction_vs_raw"] = None if not raw else 1 - after / raw
                if f"{m}+repair" in summary and after:
                    rep = summary[f"{m}+repair"][f"{split}_barrier_height"]
                    out[f"{split}_{m}_repair_reduction_vs_matched"] = 1 - rep / after
    return out


def repair_depth_extra(s: dict) -> dict:
    return {"experiments": {str(d): spec_dict(mnist_mlp(s, (s["width"],) * d)) for d in s["depths"]},
            "seeds": list(range(s["n_minima"]))}


def repair_depth(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """REPAIR's MNIST MLP finding over depth: matched barrier, and after REPAIR."""
    series = []
    for n, d in enumerate(s["depths"]):
        exp = mnist_mlp(s, (s["width"],) * d)
        sub = part(progress, n / len(s["depths"]), (n + 1) / len(s["depths"]), f"depth {d}: ")
        ms, pairs = _pairs_of(exp, s, cache, device, part(sub, 0, 0.5))
        rows = [pair_rows(exp, ms[i], ms[j], s["variants"], s, cache, device, part(sub, 0.5, 1.0))
                for i, j in pairs]
        summary = _summary(rows)
        series.append({"depth": d, "width": s["width"], "summary": summary, "findings": _findings(summary),
                       "minima": minima_summary(ms)})
    progress(1.0, "done")
    return {"by_depth": series}


def width_extra(s: dict) -> dict:
    return {"experiments": {str(w): spec_dict(mnist_mlp(s, (w,) * s["depth"])) for w in s["widths"]},
            "seeds": list(range(s["n_minima"]))}


def width_trend(s: dict, centers: dict, device, progress: Progress, cache) -> dict:
    """Entezari et al.'s trend: barrier against width, raw and after weight matching."""
    series = []
    for n, w in enumerate(s["widths"]):
        exp = mnist_mlp(s, (w,) * s["depth"])
        sub = part(progress, n / len(s["widths"]), (n + 1) / len(s["widths"]), f"width {w}: ")
        ms, pairs = _pairs_of(exp, s, cache, device, part(sub, 0, 0.5))
        rows = [pair_rows(exp, ms[i], ms[j], s["variants"], s, cache, device, part(sub, 0.5, 1.0))
                for i, j in pairs]
        series.append({"width": w, "summary": _summary(rows), "minima": minima_summary(ms)})
    trend = {}
    for v in s["variants"]:
        for split in ("train", "test"):
            ys = [e["summary"][v][f"{split}_barrier_height"] for e in series]
            trend[f"{v}_{split}"] = {"values": ys, "first": ys[0], "last": ys[-1],
                                     "decreasing_overall": bool(ys[-1] < ys[0]),
                                     "monotone_decreasing": bool(all(b <= a for a, b in zip(ys, ys[1:])))}
    progress(1.0, "done")
    return {"by_width": series, "trend": trend}
