"""The house rules, enforced: data flows one way (pages -> ui -> landscape_core), the pure
subpackages stay pure, and modules stay short enough to read.

Imports are read with ``ast`` (nothing is executed), relative imports resolved to full names.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
LONG_MARK = "Longer than 400 lines:"      # a module that must be long says why in its first lines


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> set:
    """Full names of every module ``path`` imports (top level and inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _files(*globs):
    return sorted(p for g in globs for p in ROOT.glob(g) if "__pycache__" not in p.parts)


def _top(names: set) -> set:
    return {n.split(".")[0] for n in names}


CORE = _files("landscape_core/**/*.py")
UI = _files("ui/**/*.py")
PAGES = _files("pages/*.py") + [ROOT / "app.py"]


def test_the_layout_exists():
    assert CORE and UI and len(PAGES) == 9          # app.py (navigation) and 8 pages
    assert not (ROOT / "ui_common.py").exists()


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_the_dashboard(path):
    bad = _top(imports(path)) & {"ui", "pages", "app", "streamlit", "ui_common"}
    assert not bad, f"{path.name} imports {bad}: the core must run without the dashboard"


@pytest.mark.parametrize("path", UI, ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_never_imports_pages(path):
    assert not _top(imports(path)) & {"pages", "app", "ui_common"}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_stay_thin(path):
    """Pages use widgets, the ui layer and the core's pure parts; no tensors, no cache files."""
    top = _top(imports(path))
    assert not top & {"torch", "safetensors", "ui_common"}, f"{path.name} imports {top}"
    assert top <= {"streamlit", "pandas", "json", "math", "numpy", "landscape_core", "ui"}, top


@pytest.mark.parametrize("sub, banned", [("landscape_core/figures", {"torch", "streamlit"}),
                                         ("landscape_core/theory", {"torch", "streamlit", "plotly"})])
def test_pure_subpackages(sub, banned):
    for path in _files(f"{sub}/**/*.py"):
        mods = imports(path)
        assert not _top(mods) & banned, f"{path} imports {_top(mods) & banned}"
        inside = {m for m in mods if m.startswith("landscape_core.") and not m.startswith(sub.replace("/", "."))}
        allowed = {"landscape_core._validation", "landscape_core.config", "landscape_core.paper"}
        assert {m for m in inside if not any(m == a or m.startswith(a + ".") for a in allowed)} == set(), \
            f"{path} reaches into {inside}"


@pytest.mark.parametrize("path", CORE + UI, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_short_or_say_why(path):
    lines = path.read_text().splitlines()
    if len(lines) > MAX_LINES:
        assert any(LONG_MARK in line for line in lines[:20]), \
            f"{path.relative_to(ROOT)} has {len(lines)} lines; split it or say why in its first lines"


def test_the_rules_can_fail(tmp_path):
    """The checker sees a relative import of the dashboard and an overlong module."""
    fake = ROOT / "landscape_core" / "_layout_probe.py"
    try:
        fake.write_text("from ..ui import calls\nimport streamlit\n")
        assert {"ui.calls", "streamlit"} <= imports(fake)
        assert _top(imports(fake)) & {"ui", "streamlit"}
    finally:
        fake.unlink()
