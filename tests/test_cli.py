"""The command line, in-process on the tiny preset, plus one real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from landscape_core.cli import main


def test_train_path_and_slice_write_outputs(tmp_path):
    assert main(["train", "--preset", "tiny", "--quiet", "--out", str(tmp_path / "m.json")]) == 0
    minima = json.loads((tmp_path / "m.json").read_text())["meta"]["minima"]
    assert len(minima) == 3 and all(m["train_acc"] > 0.8 for m in minima)

    assert main(["path", "--preset", "tiny", "--quiet", "--pair", "0", "2", "--n-points", "5",
                 "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "t,train_loss,train_acc,test_loss,test_acc" and len(lines) == 6
    assert float(lines[1].split(",")[1]) == pytest.approx(minima[0]["train_loss"], rel=1e-4)

    assert main(["slice", "--preset", "tiny", "--quiet", "--resolution", "4",
                 "--out", str(tmp_path / "s.npz")]) == 0
    npz = np.load(tmp_path / "s.npz")
    assert npz["train_loss"].shape == (4, 4)


@pytest.mark.parametrize("argv,needle", [
    (["train", "--preset", "nope"], "'name' parameter of preset"),
    (["train", "--preset", "tiny", "--set", "model.widht=3"], "widht"),
    (["train", "--preset", "tiny", "--set", "model.width=-4"], "'width' parameter of ModelSpec"),
    (["train", "--preset", "tiny", "--set", "nonsense"], "field=value"),
    (["slice", "--preset", "tiny", "--quiet", "--models", "0", "1", "9"], "--models"),
    (["train", "--preset", "tiny", "--quiet", "--out", "x.txt"], ".json, .csv or .npz"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and needle in err[-1]


def test_help_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "landscape_core", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "slice" in out.stdout and "reproduce" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "landscape_core", "frobnicate"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
