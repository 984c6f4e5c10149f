"""The computations behind Tables 1 and 2 (their settings and recipes are in ``plans``)."""
from __future__ import annotations

import numpy as np

from .. import paper
from ..config import Experiment, preset, spec_dict
from ..center import center_for_minima
from ..data import load_dataset
from ..evaluate import evaluators_for
from ..models import build_model
from ..ngd import ngd_tradeoff
from ..paths import BARRIER_DEFINITIONS, linear_path
from ..recipes import QUOTE_RULE
from ..refs import CenterRef, center
from ..star import star_report
from ..training import train_minima
from .envelope import Progress, part
from .figures import minima_summary
from .plans import BN_SETTINGS, COLUMN_NOTES, QUICK_CHANGES, TABLE1_COLUMN, TABLE2_COLUMN, TABLE_SETTINGS

BARRIER = {k: BARRIER_DEFINITIONS[k] for k in ("max_loss", "min_acc", "barrier_height")}


def table_experiment(setting: str, quick: bool, n_minima: int | None = None) -> tuple[Experiment, dict]:
    """The minima's experiment for a Table 1/2 column and its labels."""
    if setting not in TABLE_SETTINGS:
        raise ValueError(f"The 'setting' parameter of the table experiments must be one of "
                         f"{list(TABLE_SETTINGS)}. Got {setting!r} instead.")
    exp = preset(setting)
    labels = {}
    if quick:
        exp = exp.replace(**QUICK_CHANGES[setting])
        if setting in BN_SETTINGS:
            labels["training_label"] = ("QUICK: a smoke run of every step (width multiplier 4, 64 "
                                        "training images, 12 epochs); not a reproduction")
    elif setting == "mnist-fnn":
        exp = exp.replace(**{"data.n_train": 10000, "train.epochs": 20, "train.target_train_acc": None})
        labels["training_label"] = ("SHORTENED/SUBSET: first 10,000 of the 60,000 MNIST training "
                                    "images, 20 Adam epochs (paper: full set, epochs not stated)")
    else:
        labels["training_label"] = "preset GPU settings (not run here: needs a GPU)"
    if n_minima is not None:
        exp = exp.replace(n_minima=n_minima, seeds=exp.seed_list[:n_minima])
    return exp, labels


def table_extra(setting: str, quick: bool, n_minima: int | None = None) -> dict:
    exp, labels = table_experiment(setting, quick, n_minima)
    note = COLUMN_NOTES.get(("table2" if n_minima == 2 else "table1", setting))
    return {"setting": setting, "experiment": spec_dict(exp), "seeds": list(exp.seed_list),
            "train_epochs": exp.train.epochs, **labels, **({"column_note": note} if note else {})}


def _evaluators(exp: Experiment, bn_policy: str, device):
    return evaluators_for(build_model(exp.model), load_dataset(exp.data), device=device,
                          bn_policy=bn_policy)


def center_facts(c, ev) -> dict:
    r = ev.evaluate(c.theta)
    return {"train_loss": float(r.loss[0]),
            "train_acc": None if r.accuracy is None else float(r.accuracy[0]),
            "distance_to_feet_mean": float(np.mean(c.distances)),
            "final_objective": float(c.history[-1]) if len(c.history) else None,
            "n_steps": c.n_steps, "wall_time_s": c.wall_time,
            "objective_history": [float(v) for v in c.history]}


def table1(s: dict, centers: dict, device, progress: Progress, cache, *, setting: str,
           quick: bool, exp: Experiment | None = None) -> dict:
    """Segments and fold-lines of 5 minima through one center per recipe, beside the paper.

    ``exp`` replaces the column's experiment (``bench/gpu_check.py``: a reduced column)."""
    exp = exp if exp is not None else table_experiment(setting, quick)[0]
    column, n_points = TABLE1_COLUMN[setting], s["n_points"]
    minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device,
                          cache=cache, progress=part(progress, 0.0, 0.35, "minima: "))
    out = {"minima": minima_summary(minima), "recipes": {}}
    for k, (rname, choice) in enumerate(centers.items()):
        spec, lo, w = choice.spec, 0.35 + 0.65 * k / len(centers), 0.65 / len(centers)
        ev, _ = _evaluators(exp, spec.bn_policy, device)
        c = center_for_minima(minima, spec, device=device, cache=cache,
                              progress=part(progress, lo, lo + 0.7 * w, f"{rname}: "))
        rep = star_report([m.theta for m in minima], c, evaluator=ev, n_points=n_points,
                          names=[m.name for m in minima],
                          progress=part(progress, lo + 0.7 * w, lo + w, f"{rname} report: "))
        rows = {row["path"]: row for row in rep.table()}
        seg, fold = rows["direct segment"], rows["fold-line"]
        ours = {"segment_max_loss": seg["max_loss"], "fold_max_loss": fold["max_loss"],
                "segment_min_acc": seg["min_acc"], "fold_min_acc": fold["min_acc"]}
        out["recipes"][rname] = {
            "center_spec": spec_dict(spec), "center_recipe": choice.record()["label"],
            "n_points": n_points, "bn_policy": rep.bn_policy, "barrier": BARRIER,
            "center": center_facts(c, ev),
            "comparison": [{"row": paper.TABLE1_ROWS[key], "key": key,
                            "paper": paper.TABLE1[column][key], "ours": ours[key]}
                           for key in paper.TABLE1_ROWS],
            "endpoint_corrected_barrier": {"segment": seg["barrier_height"],
                                           "fold_line": fold["barrier_height"]},
            "rows": list(rows.values())}
    progress(1.0, "done")
    return out


def table2(s: dict, centers: dict, device, progress: Progress, cache, *, setting: str,
           quick: bool) -> dict:
    """The NGD trade-off over lambda of the first two minima (``ngd.ngd_tradeoff``), the quoted
    point by ``recipes.QUOTE_RULE``, beside the paper's one number."""
    exp, _ = table_experiment(setting, quick, n_minima=2)
    column, n_points = TABLE2_COLUMN[setting], s["n_points"]
    minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device=device,
                          cache=cache, progress=part(progress, 0.0, 0.2, "minima: "))
    a, b = minima
    choices = list(centers.values())
    recipe, changes = choices[0].recipe, {k: v for k, v in choices[0].changes.items() if k != "lam"}
    if any(c.recipe != recipe or {k: v for k, v in c.changes.items() if k != "lam"} != changes
           for c in choices):
        raise ValueError("Table 2's centers must differ in lambda only (one recipe, one set of changes).")
    ev, _ = _evaluators(exp, choices[0].spec.bn_policy, device)
    seg = linear_path(a.theta, b.theta, evaluator=ev, n_points=n_points).barriers()
    trade = ngd_tradeoff(a, b, evaluator=ev, cache=cache, lams=[c.spec.lam for c in choices],
                         recipe=recipe, n_points=n_points, device=device,
                         progress=part(progress, 0.2, 1.0), **changes)
    curve = []
    for row, choice in zip(trade.rows, choices):
        c = center(CenterRef((a.key, b.key), choice.spec), cache)
        curve.append({"lam": row["lam"], "ngd_upper_bound": row["ngd_bound"],
                      "fold_min_acc": row["fold_min_acc"], "fold_max_loss": row["fold_max_loss"],
                      "fold_barrier_height": row["fold_barrier_height"],
                      "center_recipe": row["center"], "n_points": n_points,
                      "bn_policy": trade.bn_policy, "center": center_facts(c, ev)})
    q = trade.quoted_row
    progress(1.0, "done")
    return {"minima": minima_summary(minima), "segment": seg, "tradeoff": curve,
            "feet_min_train_acc": min((m.train_acc for m in minima if m.train_acc is not None),
                                      default=None),
            "caption": trade.caption(),
            "selected": None if q is None else {
                "rule": QUOTE_RULE, "lam": q["lam"], "ngd_upper_bound": q["ngd_bound"],
                "fold_min_acc": q["fold_min_acc"], "center_recipe": q["center"],
                "paper": paper.TABLE2[column]}}
