"""Reproduce the CPU-sized experiments of Lin, Li, Wu (arXiv 2404.06391) as JSON results.

``python -m landscape_core reproduce {fig3,fig3-sparsity,fig4,table1,table2,rebasin-mlp,repair-mlp,
entezari-width,all} [--quick]``
(the command is part of the one CLI parser in ``landscape_core.cli``).

- ``plans``: the experiments as data: settings in quick and full mode, and center recipes named
  by ``recipes.CENTER_RECIPES`` with their changes visible;
- ``runner``: one runner, ``run(name, quick=..., ...)``: resumable (minima, centers, sweep points
  and the finished summary come from the disk cache), writes ``<out_dir>/<name>.json``;
- ``envelope``: the result envelope (machine, date, wall time) and strict-JSON cleaning;
- ``figures``, ``tables``: the computations; ``alignment`` (+ ``alignment_plans``): the
  modulo-permutation reproductions (Git Re-Basin, REPAIR, Entezari et al.);
- ``reading``: result files back into dicts and pandas frames for the dashboard and the CLI.
"""
from __future__ import annotations

from .envelope import DEFAULT_OUT, PAPER, RESULTS_VERSION, check_out_dir, clean, machine_info
from .plans import PLANS, TABLE_SETTINGS, CenterChoice, Plan
from .reading import (center_label, check_result, comparison_frame, experiments, find_table,
                      first_measured, headline, load_results, measured_now, other_experiments,
                      recipe_of_result, reproduce_tables)
from .runner import prepare, result_name, run, run_all


def _runner(name: str):
    def run_one(**kwargs) -> dict:
        return run(name, **kwargs)
    run_one.__name__ = f"run_{name.replace('-', '_')}"
    run_one.__doc__ = f"``run({name!r}, **kwargs)``: {PLANS[name].title}."
    return run_one


run_fig3, run_fig3_sparsity, run_fig4, run_table1, run_table2 = (
    _runner(n) for n in ("fig3", "fig3-sparsity", "fig4", "table1", "table2"))
run_rebasin_mlp, run_repair_mlp, run_entezari_width = (
    _runner(n) for n in ("rebasin-mlp", "repair-mlp", "entezari-width"))
EXPERIMENTS = {name: _runner(name) for name in PLANS}

__all__ = [
    "DEFAULT_OUT", "PAPER", "RESULTS_VERSION", "PLANS", "TABLE_SETTINGS", "CenterChoice", "Plan",
    "EXPERIMENTS", "run", "run_all", "prepare", "result_name", "check_out_dir", "clean", "machine_info",
    "load_results", "check_result", "recipe_of_result", "find_table", "experiments", "center_label", "reproduce_tables",
    "other_experiments", "measured_now", "comparison_frame", "first_measured", "headline",
    "run_fig3", "run_fig3_sparsity", "run_fig4", "run_table1", "run_table2",
    "run_rebasin_mlp", "run_repair_mlp", "run_entezari_width",
]
