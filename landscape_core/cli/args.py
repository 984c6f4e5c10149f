"""Arguments of the command line: one-line parse errors, value types that refuse bad input
(negative indices, non-finite sizes), experiments from ``--preset``/``--set`` with typed fields
and the model's shape derived from the data, and output files checked before any work."""
from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

from .._fs import ensure_writable_folder

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


def executor_opts(sp) -> None:
    """``--executor {serial,local,dask}``, ``--workers N``, ``--address tcp://host:port``."""
    sp.add_argument("--executor", choices=["serial", "local", "dask"], default="serial",
                    help="where the units of work run: serial (this process, default), local (a "
                         "process pool on this machine) or dask (a Dask cluster; README 'Beyond one "
                         "machine')")
    sp.add_argument("--workers", type=_int_at_least(1, "a number of workers"),
                    help="local executor: number of worker processes (default: one per GPU when "
                         "there are several, else one per CPU core)")
    sp.add_argument("--address", metavar="tcp://HOST:PORT", help="dask executor: the scheduler's address")


def executor_from_args(args):
    """The executor named by --executor/--workers/--address (None for serial: today's path)."""
    name = getattr(args, "executor", "serial")
    if name != "local" and getattr(args, "workers", None):
        raise CLIError("--workers applies to --executor local only.")
    if name != "dask" and getattr(args, "address", None):
        raise CLIError("--address applies to --executor dask only.")
    if name == "serial":
        return None
    if name == "dask" and not args.address:
        raise CLIError("--executor dask needs --address tcp://HOST:PORT (the `dask scheduler`'s address).")
    from ..executor import make_executor
    try:
        return make_executor(name, workers=args.workers, address=args.address, device=args.device)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:                      # no scheduler listening there
        raise CLIError(f"--address {args.address}: cannot reach a Dask scheduler ({exc}).") from None


# ----------------------------------------------------------------------------- experiment
def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _field_type(key: str) -> str | None:
    """The annotation (as text) of a dotted Experiment field, or None if there is none."""
    from ..config import DataSpec, Experiment, ModelSpec, TrainSpec
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
    from ..config import preset
    exp = _with_user_model(preset(args.preset), args)
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
        from ..data import dataset_shape
        data = exp.replace(**{k: v for k, v in changes.items() if k.startswith("data.")}).data
        shape, n_out, _ = dataset_shape(data)
        changes.setdefault("model.input_shape", tuple(shape))
        changes.setdefault("model.n_outputs", n_out)
    exp = exp.replace(**changes)
    _check_fits(exp)
    return exp


def _with_user_model(exp, args):
    """``exp`` with its model replaced by the builder of ``--model-file`` (with ``--model-arg``
    keywords); ``exp`` itself without --model-file."""
    target = getattr(args, "model_file", None)
    items = getattr(args, "model_arg", None) or []
    if not target:
        if items:
            raise CLIError("--model-arg needs --model-file (the builder it is passed to).")
        return exp
    from ..usermodel import load_user_model, parse_target
    kwargs = {}
    for item in items:
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not name.isidentifier():
            raise CLIError(f"--model-arg expects name=value (e.g. blocks=2). Got {item!r}.")
        kwargs[name] = _parse_value(value)
    return load_user_model(*parse_target(target)).experiment(exp, **kwargs)


def _check_fits(exp) -> None:
    """Refuse a model whose input or output size does not fit the data."""
    from ..data import dataset_shape
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
        ensure_writable_folder(parent)
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
