"""The command line, in-process on the tiny preset, plus real subprocesses for --help and errors.

Every bad-input class of issue 8 is asserted with its exact exit status and its one-line message;
the NGD a command prints is checked against the Python API asked the same question.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from landscape_core import recipes
from landscape_core.cli import build_parser, experiment_from_args, main
from landscape_core.refs import N_POINTS

TINY = ["--preset", "tiny", "--quiet"]


def test_train_path_and_slice_write_outputs(tmp_path):
    assert main(["train", *TINY, "--out", str(tmp_path / "m.json")]) == 0
    minima = json.loads((tmp_path / "m.json").read_text())["meta"]["minima"]
    assert len(minima) == 3 and all(m["train_acc"] > 0.8 for m in minima)

    assert main(["path", *TINY, "--pair", "0", "2", "--n-points", "5",
                 "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "t,train_loss,train_acc,test_loss,test_acc" and len(lines) == 6
    assert float(lines[1].split(",")[1]) == pytest.approx(minima[0]["train_loss"], rel=1e-4)
    assert float(lines[-1].split(",")[1]) == pytest.approx(minima[2]["train_loss"], rel=1e-4)

    assert main(["slice", *TINY, "--resolution", "4", "--out", str(tmp_path / "s.npz")]) == 0
    npz = np.load(tmp_path / "s.npz")
    assert npz["train_loss"].shape == (4, 4)


@pytest.mark.parametrize("command,default", [
    ("path", recipes.BARRIER_RECIPE), ("center", recipes.BARRIER_RECIPE),
    ("star", recipes.BARRIER_RECIPE), ("ngd", recipes.NGD_RECIPE), ("sweep", recipes.NGD_RECIPE)])
def test_recipe_defaults_are_the_dashboards(command, default):
    extra = ["--values", "8"] if command == "sweep" else []
    args = build_parser().parse_args([command, *extra])
    assert args.recipe == default
    if command != "center":
        assert args.n_points == N_POINTS


def test_changed_data_derives_the_model_shape():
    args = build_parser().parse_args(["train", "--preset", "tiny", "--set", "data.name=mnist"])
    exp = experiment_from_args(args)
    assert exp.model.input_shape == (1, 28, 28) and exp.model.n_outputs == 10
    args = build_parser().parse_args(["train", "--preset", "tiny", "--set", "data.name=teacher_student",
                                      "--set", "data.input_dim=6", "--set", "data.teacher_neurons=3"])
    exp = experiment_from_args(args)
    assert exp.model.input_shape == (6,) and exp.model.n_outputs == 1


BAD = [
    (["train", "--preset", "nope"], 2,
     "error: The 'name' parameter of preset must be one of"),
    (["train", *TINY, "--set", "model.widht=3"], 2,
     "error: --set: unknown field 'model.widht'. Fields are data.*, model.*, train.*, n_minima and "
     "seeds (see `python -m landscape_core presets --out x.json`)."),
    (["train", *TINY, "--set", "model.width=-4"], 2,
     "error: The 'width' parameter of ModelSpec must be an int in the range [1, 1000000]. Got -4 instead."),
    (["train", *TINY, "--set", "nonsense"], 2,
     "error: --set expects field=value (e.g. model.width=32). Got 'nonsense'."),
    (["train", *TINY, "--set", "model.width=abc"], 2,
     "error: --set model.width: expected an integer, got 'abc' (str). Example: --set model.width=32"),
    (["train", *TINY, "--set", "train.lr=[1]"], 2,
     "error: --set train.lr: expected a number, got [1] (list). Example: --set train.lr=0.01"),
    (["train", *TINY, "--set", "model.input_shape=5"], 2,
     "error: --set model.input_shape: expected a list such as [64] or [1, 28, 28], got 5 (int). "
     "Example: --set model.input_shape=[64]"),
    (["train", *TINY, "--set", "model.input_shape=[65]"], 2,
     "error: model.input_shape [65] does not fit the data 'digits', whose inputs have shape [64]: set "
     "--set model.input_shape=[64] (or leave it out to derive it from the data)."),
    (["train", *TINY, "--set", "model.n_outputs=2"], 2,
     "error: model.n_outputs = 2 does not fit the data 'digits', which has 10 classes: set "
     "--set model.n_outputs=10."),
    (["slice", *TINY, "--models", "0", "1", "9"], 2,
     "error: --models 0 1 9 refers to minima 0..2 only; raise n_minima with --set n_minima=N."),
    (["train", *TINY, "--out", "x.txt"], 2, "error: --out must end in .json, .csv or .npz. Got 'x.txt'."),
    (["path", *TINY, "--pair", "-1", "0"], 2,
     "error: argument --pair: expected a minimum index, an integer >= 0; got -1 "
     "(see `python -m landscape_core path --help`)"),
    (["ngd", *TINY, "--pair", "1", "1"], 2, "error: --pair 1 1 repeats a minimum; give different indices."),
    (["sweep", *TINY, "--values", "8", "8"], 2,
     "error: --values 8 8 repeats a value; each value is swept once."),
    (["sweep", *TINY, "--field", "n_minima", "--values", "1", "3"], 2,
     "error: --field n_minima needs values >= 2: a sweep measures pairs of minima."),
    (["path", *TINY, "--set", "n_minima=1"], 2,
     "error: This command needs at least 2 minima; the experiment has n_minima=1. Raise it with "
     "--set n_minima=2."),
    (["slice", *TINY, "--random", "--span", "nan"], 2,
     "error: argument --span: expected a half-width of the plane, a finite number > 0; got 'nan' "
     "(see `python -m landscape_core slice --help`)"),
    (["reproduce", "fig4", "--quick", "--threads", "-5"], 2,
     "error: argument --threads: expected a number of threads (0 = torch default), an integer >= 0; "
     "got -5 (see `python -m landscape_core reproduce --help`)"),
    (["reproduce", "fig3", "--quick", "--setting", "cifar-vgg16"], 2,
     "error: --setting applies to table1 and table2 only."),
    (["ngd", *TINY, "--lam", "-1"], 2,
     "error: argument --lam: lambda must be a finite number >= 0; got '-1' "
     "(see `python -m landscape_core ngd --help`)"),
]


@pytest.mark.parametrize("argv,code,message", BAD, ids=[" ".join(a[:1] + a[4:]) for a, _, _ in BAD])
def test_bad_input_is_one_line_and_a_status(argv, code, message, capsys):
    assert main(argv) == code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    if message.endswith("must be one of"):
        assert err[0].startswith(message)
    else:
        assert err[0] == message


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["train", *TINY, "--out", str(blocked / "sub" / "m.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {blocked / 'sub' / 'm.json'}: cannot write in {blocked / 'sub'} (")
    assert not (tmp_path / "cache").exists()              # no minimum was trained
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert main(["train", *TINY, "--out", str(folder)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --out {folder} is a folder; give a file name "
                                               "ending in .json, .csv, .npz.")


def test_reproduce_refuses_an_unwritable_results_folder(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["reproduce", "fig4", "--quick", "--quiet", "--out-dir", str(blocked / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: The results folder {blocked / 'r'} cannot be written (")
    assert err.endswith("choose another one with --out-dir.")


def test_ngd_prints_the_bound_of_the_python_api(tmp_path, capsys, one_thread):
    """The same question (pair, recipe, lambda, steps) through the CLI and through ngd_tradeoff,
    each fitting its own center in its own cache, gives the same bound."""
    from landscape_core import DiskCache, preset, train_minima
    from landscape_core.data import load_dataset
    from landscape_core.evaluate import evaluators_for
    from landscape_core.models import build_model
    from landscape_core.ngd import ngd_tradeoff

    lam, steps, n = 1e-2, 15, 5
    out = tmp_path / "ngd.json"
    assert main(["ngd", *TINY, "--pair", "0", "1", "--lam", str(lam), "--recipe", "ngd", "--steps",
                 str(steps), "--n-points", str(n), "--cache-dir", str(tmp_path / "c1"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    exp = preset("tiny")
    cache = DiskCache(tmp_path / "c2")
    a, b = train_minima(exp.model, exp.data, exp.train, seeds=[0, 1], cache=cache)
    ev, _ = evaluators_for(build_model(exp.model), load_dataset(exp.data))
    api = ngd_tradeoff(a, b, evaluator=ev, cache=cache, lams=[lam], recipe="ngd", n_points=n, steps=steps)
    row = api.rows[0]

    assert f"λ = {lam:g}: NGD ≤ {row['ngd_bound']:.5f}; fold-line max train loss " \
           f"{row['fold_max_loss']:.4g}" in printed
    assert f"[ngd recipe (λ = {lam:g}, steps = {steps})]" in printed
    assert api.caption() in printed
    meta = json.loads(out.read_text())["meta"]
    assert meta["rows"][0]["ngd_bound"] == pytest.approx(row["ngd_bound"], rel=1e-9)
    assert meta["center_recipe"] == f"ngd recipe (λ = {lam:g}, steps = {steps})"
    assert meta["lambdas"] == [lam] and meta["n_points_per_piece"] == n
    assert meta["bn_policy"] == api.bn_policy and set(meta["barrier_definitions"]) >= {"max_loss", "min_acc"}


def test_force_is_accepted_before_and_after_the_command():
    assert main(["--force", "train", *TINY]) == 0
    assert main(["train", *TINY, "--force"]) == 0


def test_help_and_errors_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "landscape_core", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "slice" in out.stdout and "reproduce" in out.stdout
    rep = subprocess.run([sys.executable, "-m", "landscape_core", "reproduce", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0 and "--threads" in rep.stdout and "--quick" in rep.stdout
    bad = subprocess.run([sys.executable, "-m", "landscape_core", "frobnicate"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "invalid choice: 'frobnicate'" in bad.stderr


def test_an_unusable_cache_is_one_line_in_a_subprocess(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    run = subprocess.run([sys.executable, "-m", "landscape_core", "train", "--preset", "tiny", "--quiet",
                          "--cache-dir", str(blocker / "cache")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert str(blocker) in run.stderr and "Traceback" not in run.stderr


def test_oversize_work_is_refused_with_the_estimate_and_the_override(capsys):
    assert main(["slice", *TINY, "--random", "--resolution", "250"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: A 250 x 250 slice is too large: 62,500 points") and "--force" in err


def test_force_reaches_exactly_the_calls_that_accept_it():
    from types import SimpleNamespace

    from landscape_core.cli.commands import _call

    def takes(x, *, force=False):
        return force

    def refuses(x):
        return "no force keyword"

    assert _call(SimpleNamespace(force=True), takes, 1) is True
    assert _call(SimpleNamespace(force=False), takes, 1) is False
    assert _call(SimpleNamespace(force=True), refuses, 1) == "no force keyword"


# ----------------------------------------------------------------------------- modulo permutation
@pytest.mark.parametrize("command", ["path", "ngd", "star", "center", "sweep"])
def test_align_option_defaults_to_none(command):
    extra = ["--values", "8"] if command == "sweep" else []
    args = build_parser().parse_args([command, *TINY, *extra])
    assert args.align == "none"
    args = build_parser().parse_args([command, *TINY, *extra, "--align", "weight"])
    assert args.align == "weight"


def test_aligned_path_names_its_alignment_and_matches_the_api(tmp_path, capsys, one_thread):
    from landscape_core import DiskCache, linear_path, load_dataset, build_model, preset
    from landscape_core.evaluate import evaluators_for
    from landscape_core.permutation import aligned_minimum
    from landscape_core.training import train_minima
    out = tmp_path / "p.json"
    assert main(["path", *TINY, "--pair", "0", "1", "--n-points", "5", "--align", "weight",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["align"] == "weight" and "weight matching" in data["meta"]["alignment"]
    exp = preset("tiny")
    cache = DiskCache()
    ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=cache)
    b = aligned_minimum(ms[0], ms[1], "weight", cache)
    ev, _ = evaluators_for(build_model(exp.model), load_dataset(exp.data))
    api = linear_path(ms[0].theta, b.theta, evaluator=ev, n_points=5).barriers()
    assert data["meta"]["barriers"]["train"]["barrier_height"] == pytest.approx(api["barrier_height"], rel=1e-6)
    assert data["meta"]["barriers"]["train"]["rebasin_barrier"] == pytest.approx(api["rebasin_barrier"], rel=1e-6)
    assert main(["path", *TINY, "--pair", "0", "1", "--n-points", "5", "--align", "weight", "--repair"]) == 0
    printed = capsys.readouterr()
    assert "REPAIR" in printed.out and "weight matching" in printed.err


def test_repair_needs_a_segment(capsys):
    assert main(["path", *TINY, "--kind", "fold_line", "--repair"]) == 2
    assert "--repair applies to --kind segment" in capsys.readouterr().err
    assert main(["path", *TINY, "--align", "procrustes"]) == 2
