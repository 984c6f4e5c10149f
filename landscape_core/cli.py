"""Command line: ``python -m landscape_core <command> --preset NAME [--set field=value ...]``.

Every command works on an experiment (a preset, optionally changed with ``--set``), shows a
progress bar on stderr, stores results in the disk cache, and writes JSON/CSV/NPZ when
``--out`` is given. Bad arguments exit with status 2 and a one-line reason.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np


class CLIError(Exception):
    """A user error: reported as one line, exit status 2."""


# ----------------------------------------------------------------------------- helpers
def _progress(desc: str, quiet: bool):
    from .progress import progress_bar
    return progress_bar(desc, quiet, width=60)


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def experiment_from_args(args):
    """The preset named by --preset with every --set field=value applied."""
    from .config import preset
    try:
        exp = preset(args.preset)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    changes = {}
    for item in args.set or []:
        if "=" not in item:
            raise CLIError(f"--set expects field=value (e.g. model.width=32). Got {item!r}.")
        key, value = item.split("=", 1)
        changes[key.strip()] = _parse_value(value.strip())
    if args.data_dir:
        changes["data.data_dir"] = args.data_dir
    try:
        return exp.replace(**changes)
    except TypeError as exc:
        raise CLIError(f"--set: {exc}. Fields are data.*, model.*, train.*, n_minima, seeds.") from None


def write_output(path: str | None, arrays: dict, meta: dict) -> None:
    """Write results by extension: .json (meta + arrays as lists), .csv (1-D columns), .npz."""
    if not path:
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if out.suffix == ".json":
        out.write_text(json.dumps({"meta": meta, **{k: v.tolist() for k, v in arrays.items()}},
                                  indent=1, default=str))
    elif out.suffix == ".npz":
        np.savez(out, meta=json.dumps(meta, default=str), **arrays)
    elif out.suffix == ".csv":
        cols = {k: v.ravel() for k, v in arrays.items()}
        n = max(len(v) for v in cols.values())
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(cols))
            for i in range(n):
                w.writerow([v[i] if i < len(v) else "" for v in cols.values()])
    else:
        raise CLIError(f"--out must end in .json, .csv or .npz. Got {out.name!r}.")
    print(f"wrote {out}", file=sys.stderr)


def _minima(exp, args):
    from .training import train_minima
    return train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list,
                        progress=_progress("minima", args.quiet), device=args.device)


def _evaluators(minima, device):
    from .data import load_dataset
    from .evaluate import Evaluator
    from .models import build_model
    ds = load_dataset(minima[0].data)
    model = build_model(minima[0].model)
    ev = Evaluator(model, ds.X_train, ds.y_train, loss=ds.loss, device=device)
    tev = Evaluator(model, ds.X_test, ds.y_test, loss=ds.loss, device=device, bn_data=ds.X_train)
    return ev, tev, ds, model


def _pick(minima, indices, what="--pair"):
    try:
        return [minima[i] for i in indices]
    except IndexError:
        raise CLIError(f"{what} {indices} refers to minima 0..{len(minima) - 1} only; raise "
                       "n_minima with --set n_minima=N.") from None


def _center_spec(args):
    from .center import CenterSpec
    base = CenterSpec.paper() if args.recipe == "paper" else CenterSpec.fast()
    import dataclasses
    changes = {k: v for k, v in (("lam", args.lam), ("epochs", args.epochs), ("lr", args.lr),
                                 ("steps", args.steps), ("seed", args.center_seed)) if v is not None}
    return dataclasses.replace(base, **changes)


# ----------------------------------------------------------------------------- commands
def cmd_presets(args):
    from .config import PRESETS, spec_dict
    for name, exp in PRESETS.items():
        print(f"{name:16s} {exp.data.name:18s} {exp.model.arch:15s} width={exp.model.width} "
              f"n_minima={exp.n_minima}")
    if args.out:
        write_output(args.out, {}, {k: spec_dict(v) for k, v in PRESETS.items()})


def cmd_train(args):
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    rows = [m.summary() for m in minima]
    for r in rows:
        acc = "" if r["train_acc"] is None else f" train_acc={r['train_acc']:.4f} test_acc={r['test_acc']:.4f}"
        print(f"{r['name']}: train_loss={r['train_loss']:.4g} test_loss={r['test_loss']:.4g}{acc} "
              f"({r['wall_time_s']:.1f} s, {r['epochs']} epochs)")
    write_output(args.out, {k: [r[k] if r[k] is not None else np.nan for r in rows]
                            for k in ("seed", "train_loss", "train_acc", "test_loss", "test_acc")},
                 {"minima": rows})


def cmd_path(args):
    from .paths import fold_line_path, linear_path
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    a, b = _pick(minima, args.pair)
    ev, tev, _, _ = _evaluators(minima, args.device)
    prog = _progress("path", args.quiet)
    if args.kind == "fold_line":
        from .center import center_for_minima
        center = center_for_minima(minima, _center_spec(args), progress=_progress("center", args.quiet))
        prof = fold_line_path(a.theta, center.theta, b.theta, evaluator=ev, test_evaluator=tev,
                              n_points=args.n_points, progress=prog)
    else:
        prof = linear_path(a.theta, b.theta, evaluator=ev, test_evaluator=tev,
                           n_points=args.n_points, progress=prog)
    bars = {"train": prof.barriers("train"), "test": prof.barriers("test")}
    print(json.dumps({"kind": prof.kind, "bn_policy": prof.bn_policy, "length": prof.length,
                      "distance": prof.distance, "barriers": bars}, indent=1))
    from .paths import BARRIER_DEFINITIONS
    write_output(args.out, prof.as_arrays(), {"kind": prof.kind, "pair": args.pair, "barriers": bars,
                                              "barrier_definitions": BARRIER_DEFINITIONS,
                                              "bn_policy": prof.bn_policy})


def cmd_slice(args):
    from .slices import plane_slice, random_directions, three_model_slice
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    ev, _, _, model = _evaluators(minima, args.device)
    prog = _progress("slice", args.quiet)
    if args.random:
        (m,) = _pick(minima, [args.around], "--around")
        u, v = random_directions(model, m.theta, seed=args.seed)
        grid = np.linspace(-args.span, args.span, args.resolution)
        sl = plane_slice(ev, m.theta, u, v, grid, grid, kind="random_filter_normalised",
                         anchors={m.name: (0.0, 0.0)}, progress=prog)
    else:
        chosen = _pick(minima, args.models, "--models")
        if len(chosen) != 3:
            raise CLIError(f"--models needs three indices. Got {args.models}.")
        sl, _ = three_model_slice(ev, *(m.theta for m in chosen), resolution=args.resolution,
                                  names=tuple(m.name for m in chosen), progress=prog)
    print(f"{sl.kind} slice {sl.train_loss.shape}: loss in [{sl.train_loss.min():.4g}, "
          f"{sl.train_loss.max():.4g}], anchors {sl.anchors}")
    write_output(args.out, sl.as_arrays(), {"kind": sl.kind, "anchors": sl.anchors,
                                            "bn_policy": sl.bn_policy, "index": "[alpha, beta]"})


def cmd_center(args):
    from .center import center_for_minima
    from .config import spec_dict
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    spec = _center_spec(args)
    c = center_for_minima(minima, spec, progress=_progress("center", args.quiet), device=args.device)
    print(f"center: distances to feet {np.round(c.distances, 4).tolist()}, {c.wall_time:.1f} s")
    write_output(args.out, {"theta": c.theta.numpy(), "history": c.history},
                 {"center_spec": spec_dict(spec), "distances": c.distances.tolist()})


def cmd_star(args):
    from .center import center_for_minima
    from .star import star_report
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    center = center_for_minima(minima, _center_spec(args), progress=_progress("center", args.quiet),
                               device=args.device)
    ev, tev, _, _ = _evaluators(minima, args.device)
    rep = star_report([m.theta for m in minima], center.theta, evaluator=ev, test_evaluator=tev,
                      n_points=args.n_points, names=[m.name for m in minima],
                      progress=_progress("star", args.quiet))
    rows = rep.table()
    for r in rows:
        print(json.dumps(r, default=float))
    write_output(args.out, {}, {"table": rows, "bn_policy": rep.bn_policy})


def cmd_ngd(args):
    from .center import center_for_minima
    from .geodesic import ngd_estimate
    exp = experiment_from_args(args)
    minima = _minima(exp, args)
    a, b = _pick(minima, args.pair)
    spec = _center_spec(args)
    center = center_for_minima([a, b], spec, progress=_progress("center", args.quiet),
                               device=args.device)
    ev, _, _, _ = _evaluators(minima, args.device)
    est = ngd_estimate(a.theta, b.theta, center, evaluator=ev)
    print(f"NGD <= {est.value:.5f} ({est.computed_from})")
    import dataclasses
    write_output(args.out, {}, {k: v for k, v in dataclasses.asdict(est).items()
                                if not hasattr(v, "shape")})


def cmd_sweep(args):
    from .sweeps import sweep
    exp = experiment_from_args(args)
    values = [_parse_value(v) for v in args.values]
    res = sweep(exp, args.field, values, center_spec=_center_spec(args),
                progress=_progress("sweep", args.quiet))
    for row in res.summary():
        print(json.dumps(row, default=float))
    write_output(args.out, {}, {"field": args.field, "rows": res.rows, "summary": res.summary()})


def cmd_reproduce(args):
    from . import reproduce
    return reproduce.main(args.rest)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m landscape_core",
                                description="Landscape Explorer: minima, barriers, slices, star "
                                            "centers and geodesic distances (Lin, Li, Wu 2024).")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--preset", default="digits-mlp", help="experiment preset (see `presets`)")
        sp.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="change a spec field, e.g. --set model.width=32 --set train.epochs=5")
        sp.add_argument("--data-dir", help="folder with the dataset files (never downloaded)")
        sp.add_argument("--cache-dir", help="cache folder (default ./cache or $LANDSCAPE_CACHE_DIR)")
        sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        sp.add_argument("--out", help="write results to .json, .csv or .npz")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    def center_opts(sp):
        sp.add_argument("--recipe", choices=["fast", "paper"], default="fast",
                        help="center-finding recipe: our measured one or the paper's stated one")
        sp.add_argument("--lam", type=float, help="distance-penalty weight lambda")
        sp.add_argument("--epochs", type=int)
        sp.add_argument("--steps", type=int)
        sp.add_argument("--lr", type=float)
        sp.add_argument("--center-seed", type=int)

    sp = sub.add_parser("presets", help="list the named experiments")
    sp.add_argument("--out")
    sp.set_defaults(func=cmd_presets)
    sp = sub.add_parser("train", help="train (or load from cache) the minima of an experiment")
    common(sp)
    sp.set_defaults(func=cmd_train)
    sp = sub.add_parser("path", help="loss/accuracy along a segment or fold-line between two minima")
    common(sp)
    center_opts(sp)
    sp.add_argument("--pair", type=int, nargs=2, default=[0, 1])
    sp.add_argument("--kind", choices=["segment", "fold_line"], default="segment")
    sp.add_argument("--n-points", type=int, default=25)
    sp.set_defaults(func=cmd_path)
    sp = sub.add_parser("slice", help="2-D loss slice through three minima or a random plane")
    common(sp)
    sp.add_argument("--models", type=int, nargs=3, default=[0, 1, 2])
    sp.add_argument("--random", action="store_true", help="filter-normalised random plane")
    sp.add_argument("--around", type=int, default=0)
    sp.add_argument("--span", type=float, default=1.0)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--resolution", type=int, default=21)
    sp.set_defaults(func=cmd_slice)
    for name, func, hlp in (("center", cmd_center, "fit a star center for all minima"),
                            ("star", cmd_star, "star connectivity report (paper's Table 1)"),
                            ("ngd", cmd_ngd, "NGD upper bound for a pair (paper's Table 2)")):
        sp = sub.add_parser(name, help=hlp)
        common(sp)
        center_opts(sp)
        if name == "ngd":
            sp.add_argument("--pair", type=int, nargs=2, default=[0, 1])
        if name == "star":
            sp.add_argument("--n-points", type=int, default=21)
        sp.set_defaults(func=func)
    sp = sub.add_parser("sweep", help="NGD, distances and barriers as one setting varies")
    common(sp)
    center_opts(sp)
    sp.add_argument("--field", default="model.width", help="e.g. model.width, model.depth")
    sp.add_argument("--values", nargs="+", required=True)
    sp.set_defaults(func=cmd_sweep)
    sp = sub.add_parser("reproduce", help="reproduce the paper's figures and tables",
                        add_help=False)
    sp.add_argument("rest", nargs=argparse.REMAINDER)
    sp.set_defaults(func=cmd_reproduce)
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reproduce"]:            # its own parser, --help included
        from . import reproduce
        return int(reproduce.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    if getattr(args, "cache_dir", None):
        os.environ["LANDSCAPE_CACHE_DIR"] = args.cache_dir
    from .checkpoints import CheckpointError
    from .data import DataNotFoundError
    from .training import TrainingDivergedError, TrainingStopped
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, DataNotFoundError, CheckpointError,
            TrainingDivergedError, TrainingStopped) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished results are kept in the cache", file=sys.stderr)
        return 130
