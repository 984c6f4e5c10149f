"""The reading side of the reproduction: result files back into plain dicts and pandas frames,
for the dashboard's Paper-reproduction page and the CLI (nothing here knows about Streamlit).

Every measured row is labelled with the center recipe that produced it (``recipes.describe``),
for files of this version and for older ones (their full CenterSpec is rebuilt and described).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

from .envelope import DEFAULT_OUT

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("experiment", "settings", "results")


def load_results(out_dir=DEFAULT_OUT) -> dict:
    """Every result JSON written to ``out_dir``: ``{file stem: result dict}``; {} if there is none.

    Unreadable files and JSON that is not a result are skipped with a logged warning.
    """
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


def check_result(data) -> dict:
    """``data`` if it has the shape the reproduce command writes (one result, or {name: result});
    otherwise a ValueError that says what was expected and what arrived."""
    if not isinstance(data, dict):
        raise ValueError(f"A reproduction result must be a JSON object. Got {type(data).__name__}.")
    results = [data] if "experiment" in data else list(data.values())
    if not results and not any(find_table(data, t) for t in ("table1", "table2")):
        raise ValueError("The JSON holds no reproduction result: expected the file written by "
                         "`python -m landscape_core reproduce` (keys experiment, settings, results).")
    for r in results:
        if not isinstance(r, dict) or any(k not in r for k in REQUIRED_KEYS):
            if isinstance(r, dict) and all(isinstance(v, dict) for v in r.values()):
                continue              # a plain {setting: {metric: value}} table
            raise ValueError(f"A reproduction result must hold the keys {', '.join(REQUIRED_KEYS)}. "
                             f"Got {sorted(r) if isinstance(r, dict) else type(r).__name__}.")
        if not isinstance(r["experiment"], str) or not isinstance(r["results"], dict) \
                or not isinstance(r["settings"], dict):
            raise ValueError("A reproduction result needs a text 'experiment' and objects "
                             "'settings' and 'results'. Got other types.")
    return data


def find_table(results, name: str) -> dict:
    """A plain ``{setting: {metric: number}}`` table stored under a key like 'table1'."""
    if not isinstance(results, dict):
        return {}
    for k, v in results.items():
        if str(k).lower().replace("_", "").replace(" ", "") == name and isinstance(v, dict) \
                and v and all(isinstance(m, dict) for m in v.values()):
            return {s: {mk: mv for mk, mv in m.items()
                        if isinstance(mv, (int, float)) and not isinstance(mv, bool)}
                    for s, m in v.items()}
    return {}


def experiments(results) -> list:
    """The result dicts in ``results`` (one result, or ``{name: result}``)."""
    if not isinstance(results, dict):
        return []
    if "experiment" in results:
        return [results]
    return [r for r in results.values() if isinstance(r, dict) and isinstance(r.get("experiment"), str)]


def center_label(obj) -> str | None:
    """The recipe caption of a center as a result file records it (new record or old spec dict)."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("label"), str):
        return obj["label"]
    if obj.get("__type__") == "CenterSpec":
        from ..center import CenterSpec
        from ..recipes import describe
        try:
            return describe(CenterSpec(**{k: v for k, v in obj.items() if k != "__type__"}))
        except (TypeError, ValueError):
            return None
    return None


def recipe_of_result(res: dict, key: str) -> str | None:
    """The recipe caption of center ``key`` (a lambda like ``0.001`` or a name like
    ``paper-recipe``) in a result's settings (``centers``, or ``center_specs`` of older files)."""
    settings = res.get("settings") or {}
    for field in ("centers", "center_specs"):
        label = center_label((settings.get(field) or {}).get(key))
        if label:
            return label
    return None


def reproduce_tables(results) -> tuple[dict, dict]:
    """Measured rows for Tables 1 and 2: ``({column: {source: {metric: value}}}, same for Table 2)``.

    Table 1: one source per center recipe, ``"measured, <recipe caption>"``; Table 2: one per
    lambda, ``"measured, <recipe caption>"`` with `` (quoted)`` on the selected row. Sources of
    a quick run end in `` (quick test run)``. A plain uploaded ``{"table1": {...}}`` becomes the
    source ``"measured (uploaded)"``. Metrics use the keys of ``paper.TABLE1`` / ``paper.TABLE2``.
    """
    t1, t2 = {}, {}
    for r in experiments(results):
        name = r["experiment"]
        column = (r.get("paper_numbers") or {}).get("column", name)
        body = r.get("results") or {}
        settings = r.get("settings") or {}
        quick = " (quick test run)" if settings.get("quick") else ""
        if name.endswith("-full"):                  # the same column on all the data: its own rows
            quick += " (full data)"
        if name.startswith("table1"):
            for recipe, rec in (body.get("recipes") or {}).items():
                label = rec.get("center_recipe") or center_label(rec.get("center_spec")) or recipe
                t1.setdefault(column, {})[f"measured, {label}{quick}"] = {
                    c["key"]: c.get("ours") for c in rec.get("comparison", []) if "key" in c}
        elif name.startswith("table2"):
            chosen = (body.get("selected") or {}).get("lam")
            for row in body.get("tradeoff", []):
                lam = row.get("lam")
                label = row.get("center_recipe") or recipe_of_result(r, f"{lam:g}") or f"λ = {lam:g}"
                mark = " (quoted)" if lam == chosen else ""
                t2.setdefault(column, {})[f"measured, {label}{mark}{quick}"] = {
                    "ngd_upper_bound": row.get("ngd_upper_bound"), "fold_min_acc": row.get("fold_min_acc")}
    for table, out in (("table1", t1), ("table2", t2)):
        for setting, metrics in find_table(results, table).items():
            out.setdefault(setting, {})["measured (uploaded)"] = metrics
    return t1, t2


def other_experiments(results) -> list:
    """``[(name, result)]`` of the reproduced experiments other than the tables (Figures 3, 4)."""
    return [(r["experiment"], r) for r in experiments(results)
            if not r["experiment"].startswith(("table1", "table2"))]


def measured_now(star_rows: Sequence[dict] = (), tradeoff=None) -> tuple[dict, dict]:
    """Table-1 and Table-2 metrics of a live selection.

    star_rows : ``StarReport.table()`` rows (the "direct segment" and "fold-line" rows are used).
    tradeoff : an ``ngd.NGDTradeoff``; its quoted row gives the Table-2 numbers.
    Returns ``(t1, t2)`` with the keys of ``paper.TABLE1`` / ``paper.TABLE2`` ({} when absent).
    """
    t1 = {}
    for row in star_rows:
        prefix = {"direct segment": "segment", "fold-line": "fold"}.get(row.get("path"))
        if prefix:
            t1[f"{prefix}_max_loss"], t1[f"{prefix}_min_acc"] = row.get("max_loss"), row.get("min_acc")
    q = None if tradeoff is None else tradeoff.quoted_row
    t2 = {} if q is None else {"ngd_upper_bound": q["ngd_bound"], "fold_min_acc": q["fold_min_acc"]}
    return t1, t2


def comparison_frame(paper_table: dict, measured: dict, row_labels: dict, here: dict | None = None,
                     here_label: str = ""):
    """A pandas DataFrame, one row per (setting, source): ``setting``, ``source`` ("paper", each
    measured source, "measured now") and one column per metric, named by ``row_labels``."""
    import pandas as pd
    rows = []
    for setting in list(paper_table) + [s for s in measured if s not in paper_table]:
        sources = {"paper": paper_table[setting]} if setting in paper_table else {}
        for source, values in {**sources, **measured.get(setting, {})}.items():
            rows.append({"setting": setting, "source": source,
                         **{label: values.get(k) for k, label in row_labels.items()}})
    if here:
        rows.append({"setting": here_label, "source": "measured now",
                     **{label: here.get(k) for k, label in row_labels.items()}})
    return pd.DataFrame(rows, columns=["setting", "source", *row_labels.values()])


def first_measured(measured: dict, settings: Sequence[str], key: str) -> list:
    """Per setting, the first measured value of ``key`` (None when not measured)."""
    return [next((v.get(key) for v in measured.get(s, {}).values() if v.get(key) is not None), None)
            for s in settings]


def headline(res: dict) -> str:
    """One line of key numbers for the terminal, each with its center recipe."""
    name, r = res["experiment"], res["results"]
    if name in ("fig3", "fig4"):
        key = f"{r['main_lam']:g}"
        rows = r["ngd_vs_width"][key]
        label = rows[0].get("center_recipe") if rows else None
        label = label or recipe_of_result(res, key) or f"λ = {key}"
        pts = ", ".join(f"m={e['width']}: {e['ngd_bound_mean']:.3f}" for e in rows
                        if e["ngd_bound_mean"] is not None)
        return f"{name}: NGD bound ({label}) {pts}"
    if name == "fig3-sparsity":
        return "fig3-sparsity: neurons for 90% of the norm: " + ", ".join(
            f"{k} {v['neurons_for_90pct']}/{v['n_neurons']}" for k, v in r["solutions"].items())
    if name.startswith("table1"):
        parts = []
        for k, v in r["recipes"].items():
            c = {row["key"]: row for row in v["comparison"]}
            label = v.get("center_recipe") or center_label(v.get("center_spec")) or k
            parts.append(f"{label}: segment acc {c['segment_min_acc']['ours']:.4f} (paper "
                         f"{c['segment_min_acc']['paper']}), fold acc {c['fold_min_acc']['ours']:.4f} "
                         f"(paper {c['fold_min_acc']['paper']})")
        return f"{name}: " + "; ".join(parts)
    if name in ("rebasin-mlp", "repair-mlp", "entezari-width"):
        return alignment_headline(name, r)
    if name.startswith("table2"):
        parts = []
        for e in r["tradeoff"]:
            label = e.get("center_recipe") or recipe_of_result(res, f"{e['lam']:g}") or f"λ = {e['lam']:g}"
            parts.append(f"{label}: U={e['ngd_upper_bound']:.4f} acc={e['fold_min_acc']}")
        return f"{name}: " + ", ".join(parts)
    return name


def alignment_headline(name: str, r: dict) -> str:
    """The modulo-permutation reproductions in one line (endpoint-corrected train loss barrier)."""
    def bars(summary):
        return ", ".join(f"{v['label']} {v['train_barrier_height']:.3f}" for v in summary.values())
    if name == "rebasin-mlp":
        return f"{name}: train loss barrier (endpoint-corrected): {bars(r['summary'])}"
    if name == "repair-mlp":
        return f"{name}: " + "; ".join(f"depth {e['depth']}: {bars(e['summary'])}" for e in r["by_depth"])
    return f"{name}: " + "; ".join(f"width {e['width']}: {bars(e['summary'])}" for e in r["by_width"])
