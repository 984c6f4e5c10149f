"""Command line: ``python -m landscape_core <command> [options]``, one parser for every command.

Every command works on an experiment (a preset, optionally changed with ``--set``), shows a
progress bar on stderr, stores results in the disk cache, and writes JSON/CSV/NPZ when
``--out`` is given. Commands that fit a center take ``--recipe {paper,fast,ngd}`` with the
dashboard's defaults (``recipes.BARRIER_RECIPE`` for fold-lines, centers and star reports,
``recipes.NGD_RECIPE`` for NGD bounds and sweeps); every number printed or written carries its
recipe, lambda, barrier definition, BatchNorm policy and points per straight piece.

One error boundary (``main``): a user-facing failure is one line on stderr (``error: ...``) and
exit status 2; anything unexpected is one line and status 1 (``LANDSCAPE_DEBUG=1`` shows the
traceback); Ctrl-C is status 130 with finished work kept in the cache.
"""
from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import inspect
import json
import logging
import math
import os
import sys
from pathlib import Path

import numpy as np

from . import recipes
from .refs import N_POINTS

OUT_SUFFIXES = (".json", ".csv", ".npz")
SHAPE_FIELDS = ("data.name", "data.input_dim", "data.output_dim")


class CLIError(Exception):
    """A user error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``error: ... (see --help)``."""

    def error(self, message):
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


# ----------------------------------------------------------------------------- argument types
def _int_at_least(lo: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, an integer >= {lo}; got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"expected {what}, an integer >= {lo}; got {value}")
        return value
    return parse


def _positive_finite(what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, a finite number > 0; got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"expected {what}, a finite number > 0; got {text!r}")
        return value
    return parse


def _nonneg_finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"lambda must be a finite number >= 0; got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"lambda must be a finite number >= 0; got {text!r}")
    return value


_INDEX = _int_at_least(0, "a minimum index")


# ----------------------------------------------------------------------------- experiment
def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _field_type(key: str) -> str | None:
    """The annotation (as text) of a dotted Experiment field, or None if there is none."""
    from .config import DataSpec, Experiment, ModelSpec, TrainSpec
    head, _, tail = key.partition(".")
    cls, name = ({"data": DataSpec, "model": ModelSpec, "train": TrainSpec}.get(head), tail) if tail \
        else (Experiment, head)
    if cls is None:
        return None
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return types.get(name)


def _coerce(key: str, value):
    """``value`` checked against the declared type of field ``key`` (lists become tuples)."""
    ann = _field_type(key)
    if ann is None:
        return value
    options = [a.strip() for a in ann.split("|")]
    if value is None and "None" in options:
        return None
    base = options[0]
    ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
          "tuple": lambda v: isinstance(v, (list, tuple))}.get(base)
    if ok is None or ok(value):
        return tuple(value) if base == "tuple" else value
    names = {"int": "an integer", "float": "a number", "str": "a text value", "bool": "True or False",
             "tuple": "a list such as [64] or [1, 28, 28]"}
    expected = names[base] + (" or None" if "None" in options else "")
    raise CLIError(f"--set {key}: expected {expected}, got {value!r} ({type(value).__name__}). "
                   f"Example: --set {key}={ {'int': 32, 'float': 0.01, 'str': 'mnist', 'bool': True, 'tuple': [64]}[base]}")


def experiment_from_args(args):
    """The preset named by --preset with every --set field=value applied.

    When ``--set`` changes the data (name, input_dim, output_dim) but not ``model.input_shape``
    or ``model.n_outputs``, those two are derived from the data, as the dashboard does; a model
    that still does not fit the data is refused with a message that names both shapes.
    """
    from .config import preset
    exp = preset(args.preset)
    changes = {}
    for item in args.set or []:
        if "=" not in item:
            raise CLIError(f"--set expects field=value (e.g. model.width=32). Got {item!r}.")
        key, value = (s.strip() for s in item.split("=", 1))
        if _field_type(key) is None:
            raise CLIError(f"--set: unknown field {key!r}. Fields are data.*, model.*, train.*, "
                           "n_minima and seeds (see `python -m landscape_core presets --out x.json`).")
        changes[key] = _coerce(key, _parse_value(value))
    if getattr(args, "data_dir", None):
        changes["data.data_dir"] = args.data_dir
    if any(k in changes for k in SHAPE_FIELDS):
        from .data import dataset_shape
        data = exp.replace(**{k: v for k, v in changes.items() if k.startswith("data.")}).data
        shape, n_out, _ = dataset_shape(data)
        changes.setdefault("model.input_shape", tuple(shape))
        changes.setdefault("model.n_outputs", n_out)
    exp = exp.replace(**changes)
    _check_fits(exp)
    return exp


def _check_fits(exp) -> None:
    """Refuse a model whose input or output size does not fit the data."""
    from .data import dataset_shape
    shape, n_out, task = dataset_shape(exp.data)
    want = tuple(exp.model.input_shape)
    conv = exp.model.arch in ("vgg", "resnet")
    fits = want == tuple(shape) if conv else math.prod(want) == math.prod(shape)
    if not fits:
        raise CLIError(f"model.input_shape {list(want)} does not fit the data {exp.data.name!r}, whose "
                       f"inputs have shape {list(shape)}: set --set model.input_shape={list(shape)} "
                       "(or leave it out to derive it from the data).")
    if exp.model.n_outputs != n_out:
        what = "classes" if task == "classification" else "outputs"
        raise CLIError(f"model.n_outputs = {exp.model.n_outputs} does not fit the data "
                       f"{exp.data.name!r}, which has {n_out} {what}: set --set model.n_outputs={n_out}.")


def _call(args, fn, *a, **kw):
    """``fn(*a, **kw)``, with ``force=True`` added when --force was given and ``fn`` accepts it."""
    if getattr(args, "force", False) and "force" in inspect.signature(fn).parameters:
        kw["force"] = True
    return fn(*a, **kw)


def check_output_path(path: str | None) -> None:
    """Refuse a bad --out before any work: wrong suffix, a folder, or a place we cannot write."""
    if not path:
        return
    out = Path(path)
    if out.suffix not in OUT_SUFFIXES:
        raise CLIError(f"--out must end in .json, .csv or .npz. Got {out.name!r}.")
    if out.is_dir():
        raise CLIError(f"--out {out} is a folder; give a file name ending in {', '.join(OUT_SUFFIXES)}.")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".landscape-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write in {parent} ({exc.strerror or exc}); choose another "
                       "place.") from None


def write_output(path: str | None, arrays: dict, meta: dict) -> None:
    """Write results by extension: .json (meta + arrays as lists), .csv (1-D columns), .npz."""
    if not path:
        return
    check_output_path(path)
    out = Path(path)
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if out.suffix == ".json":
        out.write_text(json.dumps({"meta": meta, **{k: v.tolist() for k, v in arrays.items()}},
                                  indent=1, default=str))
    elif out.suffix == ".npz":
        np.savez(out, meta=json.dumps(meta, default=str), **arrays)
    else:
        cols = {k: v.ravel() for k, v in arrays.items()}
        if not cols:
            cols = {"meta": np.asarray([json.dumps(meta, default=str)])}
        n = max(len(v) for v in cols.values())
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(cols))
            for i in range(n):
                w.writerow([v[i] if i < len(v) else "" for v in cols.values()])
    print(f"wrote {out}", file=sys.stderr)


def _progress(desc: str, quiet: bool):
    from .progress import progress_bar
    return progress_bar(desc, quiet, width=60)


def _cache(args):
    from .cache import DiskCache
    return DiskCache(args.cache_dir) if getattr(args, "cache_dir", None) else DiskCache()


def _minima(exp, args, need: int = 1):
    from .training import train_minima
    if exp.n_minima < need:
        raise CLIError(f"This command needs at least {need} minima; the experiment has n_minima="
                       f"{exp.n_minima}. Raise it with --set n_minima={need}.")
    return _call(args, train_minima, exp.model, exp.data, exp.train, seeds=exp.seed_list,
                 cache=_cache(args), progress=_progress("minima", args.quiet), device=args.device)


def _evaluators(exp, device, bn_policy: str = "recompute"):
    from .data import load_dataset
    from .evaluate import evaluators_for
    from .models import build_model
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
    from .paths import BARRIER_DEFINITIONS
    out = {"barrier_definitions": {k: BARRIER_DEFINITIONS[k] for k in ("max_loss", "min_acc",
                                                                        "barrier_height")}}
    if spec is not None:
        from .config import spec_dict
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
    return "; ".join(parts)


# ----------------------------------------------------------------------------- commands
def cmd_presets(args):
    from .config import PRESETS, spec_dict
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
    from .refs import CenterRef, center
    ref = CenterRef(tuple(m.key for m in minima), spec)
    return _call(args, center, ref, _cache(args), fit=True, progress=_progress(label, args.quiet),
                 device=args.device), ref


def cmd_path(args):
    from .paths import fold_line_path, linear_path
    exp = experiment_from_args(args)
    minima = _minima(exp, args, need=2)
    a, b = _pick(minima, args.pair)
    spec = _center_spec(args) if args.kind == "fold_line" else None
    ev, tev, _ = _evaluators(exp, args.device, spec.bn_policy if spec else "recompute")
    prog = _progress("path", args.quiet)
    extra = {}
    if spec is not None:
        c, ref = _fit_center(args, minima, spec)
        prof = _call(args, fold_line_path, a.theta, c.theta, b.theta, evaluator=ev, test_evaluator=tev,
                     n_points=args.n_points, progress=prog)
        extra["center"] = ref.label()
    else:
        prof = _call(args, linear_path, a.theta, b.theta, evaluator=ev, test_evaluator=tev,
                     n_points=args.n_points, progress=prog)
    prov = provenance(spec, bn_policy=prof.bn_policy, n_points=args.n_points, **extra)
    bars = {"train": prof.barriers("train"), "test": prof.barriers("test")}
    print(json.dumps({"kind": prof.kind, "pair": args.pair, "length": prof.length,
                      "distance": prof.distance, "barriers": bars, "provenance": prov}, indent=1,
                     default=str, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    write_output(args.out, prof.as_arrays(), {"kind": prof.kind, "pair": args.pair, "barriers": bars,
                                              **prov})


def cmd_slice(args):
    from .slices import plane_slice, random_directions, three_model_slice
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
    minima = _minima(exp, args, need=2)
    spec = _center_spec(args)
    c, ref = _fit_center(args, minima, spec)
    prov = provenance(spec, center=ref.label(), center_key=ref.key)
    print(f"{ref.label()}: distances to feet {np.round(c.distances, 4).tolist()}, {c.wall_time:.1f} s")
    write_output(args.out, {"theta": c.theta.numpy(), "history": c.history},
                 {"distances": c.distances.tolist(), **prov})


def cmd_star(args):
    from .star import star_report
    exp = experiment_from_args(args)
    minima = _minima(exp, args, need=2)
    spec = _center_spec(args)
    c, ref = _fit_center(args, minima, spec)
    ev, tev, _ = _evaluators(exp, args.device, spec.bn_policy)
    rep = _call(args, star_report, [m.theta for m in minima], c.theta, evaluator=ev, test_evaluator=tev,
                n_points=args.n_points, names=[m.name for m in minima],
                progress=_progress("star", args.quiet))
    prov = provenance(spec, bn_policy=rep.bn_policy, n_points=args.n_points, center=ref.label())
    rows = rep.table()
    for r in rows:
        print(json.dumps({**r, "center_recipe": prov["center_recipe"]}, default=float, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    write_output(args.out, {}, {"table": rows, **prov})


def cmd_ngd(args):
    from .ngd import ngd_tradeoff
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
                  progress=_progress("ngd", args.quiet), **changes)
    for k, r in enumerate(trade.rows):
        acc = "" if r["fold_min_acc"] is None else f", fold-line min train acc {r['fold_min_acc']:.4f}"
        mark = "  <- quoted" if k == trade.quoted else ""
        print(f"λ = {r['lam']:g}: NGD ≤ {r['ngd_bound']:.5f}; fold-line max train loss "
              f"{r['fold_max_loss']:.4g}{acc} [{r['center']}]{mark}")
    print(trade.caption())
    prov = provenance(spec, bn_policy=trade.bn_policy, n_points=args.n_points,
                      lambdas=list(lams), quote_rule=trade.rule)
    prov.pop("lam")
    write_output(args.out, {}, {"pair": args.pair, "rows": trade.rows, "quoted": trade.quoted,
                                "caption": trade.caption(), **prov})


def cmd_sweep(args):
    from .sweeps import sweep
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
    res = _call(args, sweep, exp, args.field, values, center_spec=spec, n_points=args.n_points,
                cache=_cache(args), progress=_progress("sweep", args.quiet), device=args.device)
    prov = provenance(spec, bn_policy=spec.bn_policy, n_points=args.n_points)
    for row in res.summary():
        print(json.dumps({**row, "center_recipe": prov["center_recipe"]}, default=float, ensure_ascii=False))
    print(_caption(prov), file=sys.stderr)
    write_output(args.out, {}, {"field": args.field, "rows": res.rows, "summary": res.summary(), **prov})


def cmd_reproduce(args):
    from . import reproduce
    names = list(reproduce.PLANS) if args.experiment == "all" else [args.experiment]
    if args.setting != "mnist-fnn" and not set(names) & {"table1", "table2"}:
        raise CLIError("--setting applies to table1 and table2 only.")
    reproduce.check_out_dir(args.out_dir)
    for name in names:
        setting = args.setting if name in ("table1", "table2") else "mnist-fnn"
        res = _call(args, reproduce.run, name, quick=args.quick, setting=setting, out_dir=args.out_dir,
                    device=args.device, quiet=args.quiet, refresh=args.refresh,
                    threads=args.threads or None, cache=_cache(args))
        print(f"{reproduce.headline(res)}  [{res['wall_time_s']:.0f} s"
              f"{', summary from cache' if res['from_cache'] else ''}]")


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m landscape_core",
                description="Landscape Explorer: minima, barriers, slices, star centers and geodesic "
                            "distances (Lin, Li, Wu 2024).")
    p.add_argument("--force", action="store_true",
                   help="run even when a pre-flight check finds the job too large")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def base(name, func, hlp):
        sp = sub.add_parser(name, help=hlp, description=hlp)
        sp.add_argument("--force", action="store_true", default=argparse.SUPPRESS,
                        help="run even when a pre-flight check finds the job too large")
        sp.add_argument("--out", help="write results to .json, .csv or .npz")
        sp.set_defaults(func=func)
        return sp

    def common(sp):
        sp.add_argument("--preset", default="digits-mlp", help="experiment preset (see `presets`)")
        sp.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="change a spec field, e.g. --set model.width=32 --set train.epochs=5")
        sp.add_argument("--data-dir", help="folder with the dataset files (never downloaded)")
        sp.add_argument("--cache-dir", help="cache folder (default ./cache or $LANDSCAPE_CACHE_DIR)")
        sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    def center_opts(sp, default, lam=True):
        sp.add_argument("--recipe", choices=list(recipes.CENTER_RECIPES), default=default,
                        help=f"center recipe (default {default}, as on the dashboard): "
                             + "; ".join(f"{k}: {r.purpose}" for k, r in recipes.CENTER_RECIPES.items()))
        if lam:
            sp.add_argument("--lam", type=_nonneg_finite, help="distance-penalty weight lambda")
        sp.add_argument("--epochs", type=_int_at_least(1, "a number of epochs"), help="center epochs (recipe change)")
        sp.add_argument("--steps", type=_int_at_least(1, "a number of steps"),
                        help="center steps, overrides epochs (recipe change)")
        sp.add_argument("--lr", type=_positive_finite("a learning rate"), help="center learning rate (recipe change)")
        sp.add_argument("--center-seed", type=_int_at_least(0, "a seed"))

    def n_points(sp):
        sp.add_argument("--n-points", type=_int_at_least(2, "a number of points per piece"), default=N_POINTS,
                        help=f"points per straight piece (default {N_POINTS})")

    sp = sub.add_parser("presets", help="list the named experiments")
    sp.add_argument("--out")
    sp.set_defaults(func=cmd_presets)
    common(base("train", cmd_train, "train (or load from cache) the minima of an experiment"))
    sp = base("path", cmd_path, "loss/accuracy along a segment or fold-line between two minima")
    common(sp)
    center_opts(sp, recipes.BARRIER_RECIPE)
    sp.add_argument("--pair", type=_INDEX, nargs=2, default=[0, 1])
    sp.add_argument("--kind", choices=["segment", "fold_line"], default="segment")
    n_points(sp)
    sp = base("slice", cmd_slice, "2-D loss slice through three minima or a random plane")
    common(sp)
    sp.add_argument("--models", type=_INDEX, nargs=3, default=[0, 1, 2])
    sp.add_argument("--random", action="store_true", help="filter-normalised random plane")
    sp.add_argument("--around", type=_INDEX, default=0)
    sp.add_argument("--span", type=_positive_finite("a half-width of the plane"), default=1.0)
    sp.add_argument("--seed", type=_int_at_least(0, "a seed"), default=0)
    sp.add_argument("--resolution", type=_int_at_least(2, "a number of grid points per axis"), default=21)
    sp = base("center", cmd_center, "fit a star center for all minima")
    common(sp)
    center_opts(sp, recipes.BARRIER_RECIPE)
    sp = base("star", cmd_star, "star connectivity report (paper's Table 1)")
    common(sp)
    center_opts(sp, recipes.BARRIER_RECIPE)
    n_points(sp)
    sp = base("ngd", cmd_ngd, "NGD upper bound of a pair against lambda (paper's Table 2)")
    common(sp)
    center_opts(sp, recipes.NGD_RECIPE, lam=False)
    sp.add_argument("--lam", type=_nonneg_finite,
                    help=f"one lambda instead of the trade-off over {list(recipes.NGD_LAMBDAS)}")
    sp.add_argument("--pair", type=_INDEX, nargs=2, default=[0, 1])
    n_points(sp)
    sp = base("sweep", cmd_sweep, "NGD, distances and barriers as one setting varies")
    common(sp)
    center_opts(sp, recipes.NGD_RECIPE)
    sp.add_argument("--field", default="model.width", help="e.g. model.width, model.depth")
    sp.add_argument("--values", nargs="+", required=True)
    n_points(sp)
    sp = base("reproduce", cmd_reproduce, "reproduce the paper's figures and tables (docs/reproduction.md)")
    from .reproduce.plans import PLANS, TABLE_SETTINGS
    sp.add_argument("experiment", choices=list(PLANS) + ["all"])
    sp.add_argument("--quick", action="store_true", help="tiny settings (seconds), for tests")
    sp.add_argument("--out-dir", default="results", help="folder of the JSON results")
    sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sp.add_argument("--setting", default="mnist-fnn", choices=list(TABLE_SETTINGS),
                    help="column of Tables 1-2 (table1/table2 only; the CIFAR ones need a GPU)")
    sp.add_argument("--refresh", action="store_true",
                    help="recompute the summary (minima and centers still come from the cache)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument("--cache-dir", help="cache folder (default ./cache or $LANDSCAPE_CACHE_DIR)")
    sp.add_argument("--threads", type=_int_at_least(0, "a number of threads (0 = torch default)"), default=1,
                    help="torch intra-op threads (default 1: faster on small shared CPUs; 0 = torch's default)")
    return p


def _user_errors() -> tuple:
    from .checkpoints import CheckpointError
    from .training import TrainingDivergedError, TrainingStopped
    return (CLIError, ValueError, TypeError, OSError, CheckpointError, TrainingDivergedError,
            TrainingStopped)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv=None) -> int:
    """Parse, run one command, and turn every failure into one line on stderr and an exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if getattr(args, "cache_dir", None):
        os.environ["LANDSCAPE_CACHE_DIR"] = args.cache_dir
    try:
        check_output_path(getattr(args, "out", None))
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: finished results are kept in the cache", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; choose a smaller model, data set or grid", file=sys.stderr)
        return 2
    except Exception as exc:                         # the one error boundary
        if os.environ.get("LANDSCAPE_DEBUG"):
            raise
        if isinstance(exc, _user_errors()):
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return 2
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (set LANDSCAPE_DEBUG=1 "
              "for the traceback and please report it)", file=sys.stderr)
        return 1
