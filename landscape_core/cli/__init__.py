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

Modules: ``args`` (argument types, experiments from --preset/--set, output checks),
``commands`` (one function per command), this file (the parser and the error boundary).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import recipes
from ..refs import N_POINTS
from .args import (CLIError, OUT_SUFFIXES, _INDEX, _int_at_least, _nonneg_finite, _Parser,
                   _positive_finite, check_output_path, executor_opts, experiment_from_args,
                   write_output)
from .commands import (cmd_center, cmd_ngd, cmd_path, cmd_presets, cmd_reproduce, cmd_slice,
                       cmd_star, cmd_sweep, cmd_train, provenance)

__all__ = ["main", "build_parser", "CLIError", "experiment_from_args", "check_output_path",
           "write_output", "provenance", "OUT_SUFFIXES"]


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
        sp.add_argument("--model-file", metavar="PATH.py[:FUNCTION]",
                        help="your own architecture: the builder FUNCTION (default build) of this "
                             "Python file replaces the preset's model; the file is run")
        sp.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                        help="an extra keyword argument of the --model-file builder, e.g. blocks=2")

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

    def align(sp, repair=False):
        sp.add_argument("--align", choices=["none", "weight", "activation"], default="none",
                        help="measure modulo permutation: align minima first by weight matching or "
                             "activation matching (Git Re-Basin); default none")
        if repair:
            sp.add_argument("--repair", action="store_true",
                            help="REPAIR the segment (Jordan et al.): reset each unit's statistics at "
                                 "every point (BatchNorm nets: the recompute policy is the reset)")

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
    align(sp, repair=True)
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
    align(sp)
    sp = base("star", cmd_star, "star connectivity report (paper's Table 1)")
    common(sp)
    center_opts(sp, recipes.BARRIER_RECIPE)
    n_points(sp)
    align(sp)
    sp = base("ngd", cmd_ngd, "NGD upper bound of a pair against lambda (paper's Table 2)")
    common(sp)
    center_opts(sp, recipes.NGD_RECIPE, lam=False)
    sp.add_argument("--lam", type=_nonneg_finite,
                    help=f"one lambda instead of the trade-off over {list(recipes.NGD_LAMBDAS)}")
    sp.add_argument("--pair", type=_INDEX, nargs=2, default=[0, 1])
    n_points(sp)
    align(sp)
    sp = base("sweep", cmd_sweep, "NGD, distances and barriers as one setting varies")
    common(sp)
    center_opts(sp, recipes.NGD_RECIPE)
    sp.add_argument("--field", default="model.width", help="e.g. model.width, model.depth")
    sp.add_argument("--values", nargs="+", required=True)
    n_points(sp)
    align(sp)
    executor_opts(sp)
    sp = base("reproduce", cmd_reproduce, "reproduce the paper's figures and tables (docs/reproduction.md)")
    from ..reproduce.plans import PLANS, TABLE_SETTINGS
    sp.add_argument("experiment", choices=list(PLANS) + ["all"])
    sp.add_argument("--quick", action="store_true", help="tiny settings (seconds), for tests")
    sp.add_argument("--full", action="store_true",
                    help="table1 mnist-fnn at the paper's scale: all 60k images, the paper's center "
                         "recipe at 200 epochs (hours on a CPU; resumable from the cache)")
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
    from ..checkpoints import CheckpointError
    from ..training import TrainingDivergedError, TrainingStopped
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
