"""The theory toolkit is numpy-only, and the lazy package root still offers every name."""
from __future__ import annotations

import subprocess
import sys

import pytest

import landscape_core


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_theory_loads_no_torch():
    code = ("import sys; import landscape_core.theory as t; from landscape_core import theory; "
            "assert theory is t; t.best_two_piece_ngd(t.sample_minimum(8, 2, seed=0), "
            "t.sample_minimum(8, 2, seed=1), 2); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    assert _fresh(code) == "[]"


def test_theory_loads_none_of_the_torch_modules_of_the_package():
    code = ("import sys; import landscape_core.theory; "
            "print(sorted(m for m in sys.modules if m.startswith('landscape_core.') "
            "and not m.startswith('landscape_core.theory')))")
    assert _fresh(code) == "['landscape_core._validation']"


@pytest.mark.parametrize("name", landscape_core.__all__)
def test_every_exported_name_resolves(name):
    assert getattr(landscape_core, name) is not None
    assert name in dir(landscape_core)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        landscape_core.frobnicate  # noqa: B018
