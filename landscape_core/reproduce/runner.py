"""One runner for every experiment: plan + mode -> settings (with every center's recipe) ->
resumable computation -> result envelope (machine, date, wall time) -> ``<out_dir>/<name>.json``."""
from __future__ import annotations

from typing import Callable

from .._validation import Int, Options, validate_params
from ..cache import DiskCache
from . import alignment, figures, plans, tables
from ..config import spec_dict
from .envelope import DEFAULT_OUT, run_envelope

# plan name -> (extra settings known before computing, computation)
_STEPS: dict[str, tuple[Callable, Callable]] = {
    "fig3": (figures.fig3_extra, figures.fig3),
    "fig3-sparsity": (figures.fig3_sparsity_extra, figures.fig3_sparsity),
    "fig4": (figures.fig4_extra, figures.fig4),
    "rebasin-mlp": (alignment.rebasin_extra, alignment.rebasin),
    "repair-mlp": (alignment.repair_depth_extra, alignment.repair_depth),
    "entezari-width": (alignment.width_extra, alignment.width_trend),
}


def result_name(name: str, setting: str = "mnist-fnn", full: bool = False) -> str:
    """The file stem of a result: ``table1``, ``table1-cifar-vgg16`` for another column, or
    ``table1-full`` for the full-scale run."""
    stem = name if setting == "mnist-fnn" else f"{name}-{setting}"
    return f"{stem}-full" if full else stem


def full_experiment(name: str, setting: str):
    """(experiment, labels) of the full-scale run (``--full``): ``plans.FULL_CHANGES``."""
    plan = plans.PLANS[name]
    if plan.paper_scale is None or setting not in plans.FULL_CHANGES:
        raise ValueError(f"--full applies to table1 --setting {'/'.join(plans.FULL_CHANGES)} only; "
                         f"got {name} --setting {setting}.")
    exp = tables.table_experiment(setting, False)[0].replace(**plans.FULL_CHANGES[setting])
    return exp, {"training_label": plans.FULL_LABEL}


@validate_params(name=Options(*plans.PLANS), setting=Options(*plans.TABLE_SETTINGS))
def prepare(name: str, *, quick: bool = False, setting: str = "mnist-fnn",
            full: bool = False) -> tuple[dict, dict]:
    """(body known before computing, center choices) of experiment ``name`` in one mode.

    The body holds ``settings`` (every value the run uses; the center recipes appear as
    ``{"recipe", "changes", "spec", "label"}``), ``unstated_settings`` (what the paper leaves
    open and what we chose) and ``paper_numbers``. Raises ValueError for an unknown name or
    setting, before any work. ``full``: the run at the paper's scale (``plans.FULL_CHANGES``).
    """
    plan = plans.PLANS[name]
    if full and quick:
        raise ValueError("--full and --quick exclude each other.")
    if full:
        full_experiment(name, setting)             # raises before any work where --full does not apply
    if not plan.tables and setting != "mnist-fnn":
        raise ValueError(f"--setting applies to table1 and table2 only; {name} has no setting "
                         f"{setting!r}. Drop --setting or choose table1/table2.")
    s = plan.settings(quick, full)
    centers = s.pop("centers", {})
    if plan.tables:
        extra = tables.table_extra(setting, quick, n_minima=2 if name == "table2" else None)
        if full:
            exp, labels = full_experiment(name, setting)
            extra.update(experiment=spec_dict(exp), seeds=list(exp.seed_list),
                         train_epochs=exp.train.epochs, full=True, **labels)
        paper_ref = dict(plan.paper)
        column = (plans.TABLE1_COLUMN if name == "table1" else plans.TABLE2_COLUMN)[setting]
        from .. import paper
        paper_ref.update(column=column, numbers=(paper.TABLE1 if name == "table1" else paper.TABLE2)[column])
        if name == "table1":
            paper_ref.update(rows=paper.TABLE1_ROWS, note="the paper's ResNet34 column is compared "
                             "with our ResNet18 preset" if setting == "cifar-resnet18" else "")
        else:
            paper_ref["note"] = "the paper gives one U per setting and does not say which lambda produced it"
    else:
        extra, paper_ref = _STEPS[name][0](s), dict(plan.paper)
    settings = {"quick": quick, **s, **extra, "centers": {k: c.record() for k, c in centers.items()}}
    fmt = {**settings, "centers_lams": [c.spec.lam for c in centers.values()]}
    body = {"settings": settings, "unstated_settings": plan.unstated_text(fmt),
            "paper_numbers": paper_ref}
    return body, centers


@validate_params(name=Options(*plans.PLANS), setting=Options(*plans.TABLE_SETTINGS),
                 threads=Int(1, 4096, none=True))
def run(name: str, *, quick: bool = False, setting: str = "mnist-fnn", out_dir=DEFAULT_OUT,
        device="auto", quiet: bool = False, refresh: bool = False, threads: int | None = 1,
        cache: DiskCache | None = None, full: bool = False) -> dict:
    """Run (or resume, or read from the cache) one experiment and write its JSON file.

    Returns the dict written to ``<out_dir>/<name>.json`` (``out_dir=None``: nothing written).
    ``full``: Table 1's mnist-fnn column at the paper's scale, written to ``table1-full.json``.
    """
    body, centers = prepare(name, quick=quick, setting=setting, full=full)
    cache = cache or DiskCache()
    s = {k: v for k, v in plans.PLANS[name].settings(quick, full).items() if k != "centers"}
    if full:
        exp = full_experiment(name, setting)[0]
        compute = lambda progress: tables.table1(s, centers, device, progress, cache, setting=setting,
                                                 quick=False, exp=exp)
    elif plans.PLANS[name].tables:
        fn = tables.table1 if name == "table1" else tables.table2
        compute = lambda progress: fn(s, centers, device, progress, cache, setting=setting, quick=quick)
    else:
        compute = lambda progress: _STEPS[name][1](s, centers, device, progress, cache)
    return run_envelope(result_name(name, setting, full), body, compute, out_dir=out_dir, quiet=quiet,
                        refresh=refresh, threads=threads, cache=cache)


def run_all(**kwargs) -> dict:
    """Every experiment in turn (MNIST column for the tables); returns {name: result}."""
    return {name: run(name, **kwargs) for name in plans.PLANS}
