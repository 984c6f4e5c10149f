"""The commands: each builds an experiment, calls the library and prints/writes its numbers
with their provenance (center recipe, lambda, barrier definition, BatchNorm policy, points per
straight piece)."""
from __future__ import annotations

import inspect
import json
import sys

import numpy as np

from .. import recipes
from .args import (CLIError, _coerce, _field_type, _parse_value, executor_from_args,
                   experiment_from_args, write_output)


def _call(args, fn, *a, **kw):
    """``fn(*a, **kw)``, with ``force=True`` added when --force was given and ``fn`` accepts it."""
    if getattr(args, "force", False) and "force" in inspect.signature(fn).parameters:
        kw["force"] = True
    return fn(*a, **kw)


def _progress(desc: str, quiet: bool):
    from ..progress import progress_bar
    return progress_bar(desc, quiet, width=60)


def _cache(args):
    from ..cache import DiskCache
    return DiskCache(args.cache_dir) if getattr(args, "cache_dir", None) else DiskCache()


def _minima(exp, args, need: int = 1):
    from ..training import train_minima
    if exp.n_minima < need:
        raise CLIError(f"This command needs at least {need} minima; the experiment has n_minima="
                       f"{exp.n_minima}. Raise it with --set n_minima={need}.")
    return _call(args, train_minima, exp.model, exp.data, exp.train, seeds=exp.seed_list,
                 cache=_cache(args), progress=_progress("minima", args.quiet), device=args.device)


def _evaluators(exp, device, bn_policy: str = "recompute"):
    from ..data import load_dataset
    from ..evaluate import evaluators_for
    from ..models import build_model
    model = build_model(exp.model)
    train_ev, test_ev = evaluators_for(model, load_dataset(exp.data), device=device, bn_policy=bn_policy)
    return train_ev, test_ev, model


def _pick(minima, indices, what="--pair"):
    if len(set(indices)) != len(indices):
        raise CLIError(f"{what} {' '.join(map(str, indices))} repeats a minimum; give different indices.")
    bad = [i for i in indices if i >= len(minima)]
    if bad:
        raise CLIError(f"{what} {' '.join(map(str, indices))} refers to minima 0..{len(minima) - 1} only; "
                       "raise n_minima with --set n_minima=N.")
    return [minima[i] for i in indices]


def _center_spec(args):
    """The CenterSpec of --recipe with the changes given on the command line."""
    changes = {k: v for k, v in (("lam", getattr(args, "lam", None)), ("epochs", args.epochs),
                                 ("lr", args.lr), ("steps", args.steps),
                                 ("seed", args.center_seed)) if v is not None}
    return recipes.recipe_spec(args.recipe, **changes)


def provenance(spec=None, *, bn_policy=None, n_points=None, **extra) -> dict:
    """What every printed or written number rests on."""
    from ..paths import BARRIER_DEFINITIONS
    out = {"barrier_definitions": {k: BARRIER_DEFINITIONS[k] for k in ("max_loss", "min_acc",
                                                                        "barrier_height")}}
    if spec is not None:
        from ..config import spec_dict
        out.update(center_recipe=recipes.describe(spec), lam=spec.lam, center_spec=spec_dict(spec))
    if bn_policy is not None:
        out["bn_policy"] = bn_policy
    if n_points is not None:
        out["n_points_per_piece"] = n_points
    return {**out, **extra}


def _caption(p: dict) -> str:
    parts = [p["center_recipe"]] if "center_recipe" in p else ["no center"]
    if "n_points_per_piece" in p:
        parts.append(f"{p['n_points_per_piece']} points per piece")
    if "bn_policy" in p:
        parts.append(f"BatchNorm {p['bn_policy']}")
    parts.append("barrier = max train loss / min train accuracy along the path (Lin et al.)")
    if p.get("align", "none") != "none":
        parts.append(p["alignment"])
    return "; ".join(parts)


# ----------------------------------------------------------------------------- commands
def cmd_presets(args):
    from ..config import PRESETS, spec_dict
    for name, exp in PRESETS.items():
        print(f"{name:16s} {exp.data.name:18s} {exp.model.arch:15s} width={exp.model.width} "
              f"n_minima={exp.n_minima}")
    write_output(args.out, {}, {k: spec_dict(v) for k, v in PRESETS.items()})


def cmd_train(args):
    exp = experiment_from_args(args)
    rows = [m.summary() for m in _minima(exp, args)]
    for r in rows:
        acc = "" if r["train_acc"] is None else f" train_acc={r['train_acc']:.4f} test_acc={r['test_acc']:.4f}"
        print(f"{r['name']}: train_loss={r['train_loss']:.4g} test_loss={r['test_loss']:.4g}{acc} "
              f"({r['wall_time_s']:.1f} s, {r['epochs']} epochs)")
    write_output(args.out, {k: [r[k] if r[k] is not None else np.nan for r in rows]
                            for k in ("seed", "train_loss", "train_acc", "test_loss", "test_acc")},
                 {"minima": rows})


def _fit_center(args, minima, spec, label="center"):
    from ..refs import CenterRef, center
    ref = CenterRef(tuple(m.key for m in minima), spec)
    return _call(args, center, ref, _cache(args), fit=True, progress=_progress(label, args.quiet),
                 device=args.device), ref


def _aligned(args, minima, first=0):
    """(minima aligned to minima[first] by --align, provenance fields); unchanged for none."""
    method = getattr(args, "align", "none")
    if method == "none":
        return list(minima), {"align": "none"}
    from ..permutation import align_feet, describe_align
    order = [first] + [i for i in range(len(minima)) if i != first]
    feet = align_feet([minima[i] for i in order], method, _cache(args))
    out = [None] * len(minima)
    for i, m in zip(order, feet):
        out[i] = m
    return out, {"align": method, "alignment": describe_align(method, "reference"),
                 "aligned_to": minima[first].name}


def cmd_path(args):
    from ..paths import fold_line_path, linear_path
    exp = experiment_from_args(args)
    minima = _minima(exp, args, need=2)
    a, b = _pick(minima, args.pair)
    if getattr(args, "repair", False) and args.kind != "segment":
        raise CLIError("--repair applies to --kind segment (REPAIR corrects points of a straight "
                       "segment); drop --repair or use --kind segment.")
    if getattr(args, "align", "none") != "none":
        minima, align_prov = _aligned(args, minima, args.pair[0])
        a, b = _pick(minima, args.pair)
    else:
        align_prov = {"align": "none"}
    spec = _center_spec(args) if args.kind == "fold_line" else None
    ev, tev, _ = _evaluators(exp, args.device, spec.bn_policy if spec else "recompute")
    prog = _progress("path", args.quiet)
    extra = {}
    if spec is not None:
        c, ref = _fit_center(args, minima, spec)
        prof = _call(args, fold_line_path, a.theta, c.theta, b.theta, evaluator=ev, test_evaluator=tev,
                     n_points=args.n_points, progress=prog)
        extra["center"] = ref.label()
    elif getattr(args, "repair", False):
        from ..data import load_dataset
        from ..models import build_model
        from ..permutation import repair_path
        X = load_dataset(exp.data).X_train[:5000]
        prof = repair_path(build_model(exp.model), a.theta, b.theta, X, evaluator=ev, test_evaluator=tev,
                           n_points=args.n_points)
        extra["repair"] = prof.meta["repair"]
    else:
        prof = _call(args, linear_path, a.theta, b.theta, evaluator=ev, test_evaluator=tev,
                     n_points=args.n_points, progress=prog)
    extra.update(align_prov)
    prov = provenance(spec, bn_policy=prof.bn_policy, n_points=args.n_points, **extra)
    bars = {"train": prof.barriers("train"), "test": prof.barriers("test")}
    print(json.dumps({"kind": prof.kind, "pair": args.pair, "length": prof.length,
                      "distance": prof.distance, "barriers": bars, "provenance": prov}, indent=1,
                     default=str, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    write_output(args.out, prof.as_arrays(), {"kind": prof.kind, "pair": args.pair, "barriers": bars,
                                              **prov})


def cmd_slice(args):
    from ..slices import plane_slice, random_directions, three_model_slice
    exp = experiment_from_args(args)
    ev, _, model = _evaluators(exp, args.device)
    prog = _progress("slice", args.quiet)
    if args.random:
        minima = _minima(exp, args)
        (m,) = _pick(minima, [args.around], "--around")
        u, v = random_directions(model, m.theta, seed=args.seed)
        grid = np.linspace(-args.span, args.span, args.resolution)
        sl = _call(args, plane_slice, ev, m.theta, u, v, grid, grid, kind="random_filter_normalised",
                   anchors={m.name: (0.0, 0.0)}, progress=prog)
    else:
        minima = _minima(exp, args, need=3)
        chosen = _pick(minima, args.models, "--models")
        sl, _ = _call(args, three_model_slice, ev, *(m.theta for m in chosen),
                      resolution=args.resolution, names=tuple(m.name for m in chosen), progress=prog)
    prov = provenance(bn_policy=sl.bn_policy, resolution=args.resolution)
    print(f"{sl.kind} slice {sl.train_loss.shape}: train loss in [{sl.train_loss.min():.4g}, "
          f"{sl.train_loss.max():.4g}], anchors {sl.anchors}; BatchNorm {sl.bn_policy}")
    write_output(args.out, sl.as_arrays(), {"kind": sl.kind, "anchors": sl.anchors,
                                            "index": "[alpha, beta]", **prov})


def cmd_center(args):
    exp = experiment_from_args(args)
    minima, align_prov = _aligned(args, _minima(exp, args, need=2))
    spec = _center_spec(args)
    c, ref = _fit_center(args, minima, spec)
    prov = provenance(spec, center=ref.label(), center_key=ref.key, **align_prov)
    print(f"{ref.label()}: distances to feet {np.round(c.distances, 4).tolist()}, {c.wall_time:.1f} s")
    if align_prov["align"] != "none":
        print(f"feet modulo permutation: {align_prov['alignment']}")
    write_output(args.out, {"theta": c.theta.numpy(), "history": c.history},
                 {"distances": c.distances.tolist(), **prov})


def cmd_star(args):
    from ..star import star_report
    exp = experiment_from_args(args)
    minima, align_prov = _aligned(args, _minima(exp, args, need=2))
    spec = _center_spec(args)
    c, ref = _fit_center(args, minima, spec)
    ev, tev, _ = _evaluators(exp, args.device, spec.bn_policy)
    rep = _call(args, star_report, [m.theta for m in minima], c.theta, evaluator=ev, test_evaluator=tev,
                n_points=args.n_points, names=[m.name for m in minima],
                progress=_progress("star", args.quiet), align=align_prov["align"])
    prov = provenance(spec, bn_policy=rep.bn_policy, n_points=args.n_points, center=ref.label(),
                      **align_prov)
    rows = rep.table()
    for r in rows:
        print(json.dumps({**r, "center_recipe": prov["center_recipe"]}, default=float, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    if rep.quality_flag:
        print(f"warning: {rep.quality_flag}", file=sys.stderr)
    write_output(args.out, {}, {"table": rows, "center_flag": rep.quality_flag, **prov})


def cmd_ngd(args):
    from ..ngd import ngd_tradeoff
    exp = experiment_from_args(args)
    minima = _minima(exp, args, need=2)
    a, b = _pick(minima, args.pair)
    lams = recipes.NGD_LAMBDAS if args.lam is None else (args.lam,)
    changes = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("steps", args.steps),
                                 ("seed", args.center_seed)) if v is not None}
    spec = recipes.recipe_spec(args.recipe, lam=lams[0], **changes)
    ev, _, _ = _evaluators(exp, args.device, spec.bn_policy)
    trade = _call(args, ngd_tradeoff, a, b, evaluator=ev, cache=_cache(args), lams=lams,
                  recipe=args.recipe, n_points=args.n_points, device=args.device,
                  progress=_progress("ngd", args.quiet), align=args.align, **changes)
    for k, r in enumerate(trade.rows):
        acc = "" if r["fold_min_acc"] is None else f", fold-line min train acc {r['fold_min_acc']:.4f}"
        mark = "  <- quoted" if k == trade.quoted else ""
        print(f"λ = {r['lam']:g}: NGD ≤ {r['ngd_bound']:.5f}; fold-line max train loss "
              f"{r['fold_max_loss']:.4g}{acc} [{r['center']}]{mark}"
              + (f"  FLAG: fold-line worse than the segment (max loss {r['segment_max_loss']:.4g})"
                 if r.get("flag") else ""))
    print(trade.caption())
    prov = provenance(spec, bn_policy=trade.bn_policy, n_points=args.n_points,
                      lambdas=list(lams), quote_rule=trade.rule, align=trade.align,
                      **({"alignment": trade.meta["alignment"]} if trade.align != "none" else {}))
    prov.pop("lam")
    write_output(args.out, {}, {"pair": args.pair, "rows": trade.rows, "quoted": trade.quoted,
                                "caption": trade.caption(), **prov})


def cmd_sweep(args):
    from ..sweeps import sweep
    exp = experiment_from_args(args)
    values = [_coerce(args.field, _parse_value(v)) for v in args.values]
    if _field_type(args.field) is None:
        raise CLIError(f"--field {args.field!r} is not a spec field; use e.g. model.width or model.depth.")
    seen = [json.dumps(v, default=str) for v in values]
    if len(set(seen)) != len(seen):
        raise CLIError(f"--values {' '.join(args.values)} repeats a value; each value is swept once.")
    if args.field == "n_minima" and any(isinstance(v, int) and v < 2 for v in values):
        raise CLIError("--field n_minima needs values >= 2: a sweep measures pairs of minima.")
    if args.field != "n_minima" and exp.n_minima < 2:
        raise CLIError(f"A sweep needs at least 2 minima per value; the experiment has n_minima="
                       f"{exp.n_minima}. Raise it with --set n_minima=2.")
    spec = _center_spec(args)
    executor = executor_from_args(args)
    try:
        res = _call(args, sweep, exp, args.field, values, center_spec=spec, n_points=args.n_points,
                    cache=_cache(args), progress=_progress("sweep", args.quiet), device=args.device,
                    align=args.align, executor=executor)
    finally:
        if executor is not None:
            executor.close()
    prov = provenance(spec, bn_policy=spec.bn_policy, n_points=args.n_points, align=args.align,
                      **({"alignment": res.meta["alignment"]} if args.align != "none" else {}))
    for row in res.summary():
        print(json.dumps({**row, "center_recipe": prov["center_recipe"]}, default=float, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    write_output(args.out, {}, {"field": args.field, "rows": res.rows, "summary": res.summary(), **prov})


def cmd_reproduce(args):
    from .. import reproduce
    names = list(reproduce.PLANS) if args.experiment == "all" else [args.experiment]
    if args.setting != "mnist-fnn" and not set(names) & {"table1", "table2"}:
        raise CLIError("--setting applies to table1 and table2 only.")
    if getattr(args, "full", False) and names != ["table1"]:
        raise CLIError("--full applies to table1 only.")
    reproduce.check_out_dir(args.out_dir)
    for name in names:
        setting = args.setting if name in ("table1", "table2") else "mnist-fnn"
        res = _call(args, reproduce.run, name, quick=args.quick, setting=setting, out_dir=args.out_dir,
                    device=args.device, quiet=args.quiet, refresh=args.refresh,
                    threads=args.threads or None, cache=_cache(args),
                    **({"full": True} if getattr(args, "full", False) else {}))
        print(f"{reproduce.headline(res)}  [{res['wall_time_s']:.0f} s"
              f"{', summary from cache' if res['from_cache'] else ''}]")
