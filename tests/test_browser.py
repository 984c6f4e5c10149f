"""Real-browser test: the dashboard served by ``streamlit run`` and driven by Debian chromium.

One Streamlit server per module (free port, private ``LANDSCAPE_CACHE_DIR``), one headless
chromium through Playwright (``executable_path=/usr/bin/chromium``; ``playwright install`` is
never used). Every page is opened on the "tiny" preset through the URL (``?preset=tiny``);
the test waits until Streamlit has finished the script run, checks that no exception or error
box is shown and that every Plotly chart holds data. The cold home page computes the paper's
Figure 1 without a click; the main flow then reads Minima, Star and Loss slices; a closed tab
stops the work it started.

Full-page screenshots go to ``test-artifacts/screenshots/<page>.png`` (git-ignored), the
server's log to ``test-artifacts/browser-server.log``.

The browser is a hard requirement (CI installs it): when chromium or the Python package
``playwright`` is missing the tests FAIL with the command that installs them.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
QUERY = "?preset=tiny"
WAIT_MS = 120_000                  # per wait: the machine may be shared and busy
TRAIN_WAIT_MS = 300_000            # training the tiny preset's three minima (seconds when idle)

# URL path (from the file name: "2_Paths_and_barriers.py" -> "/Paths_and_barriers") and the
# number of charts each page shows once the minima and a center exist.
PAGES = {
    "app": ("", 1),
    "Minima": ("Minima", 1),
    "Paths_and_barriers": ("Paths_and_barriers", 3),
    "Star": ("Star", 3),
    "Loss_slices": ("Loss_slices", 2),
    "Geodesic_vs_width": ("Geodesic_vs_width", 4),   # a cheap default sweep runs at once
    "Theory": ("Theory", 3),
    "Paper_reproduction": ("Paper_reproduction", 3),  # tables' figure, Figures 3 and 4 (results/)
}

SERVER: dict = {}                  # the running server's private cache folder

# Counts finished script runs: every change of stApp's script state away from "running".
INIT_JS = """
window.__stRunsDone = 0;
new MutationObserver(records => {
  for (const r of records) if (r.oldValue === 'running') window.__stRunsDone += 1;
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                       attributeFilter: ['data-test-script-state']});
"""

# Streamlit is idle: connected, the script is not running, no status widget or spinner.
IDLE_JS = """(minRuns) => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && window.__stRunsDone >= minRuns
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSpinner"]');
}"""

# Every Plotly chart (optionally inside one keyed element): its Streamlit key and, per trace,
# the type, name and the lengths of x and y and the shape of z. Plotly.py sends numpy arrays
# as {dtype, bdata (base64), shape}, which the plot div's `data` keeps as they are.
CHARTS_JS = """(scope) => {
  const size = {f8: 8, f4: 4, i8: 8, u8: 8, i4: 4, u4: 4, i2: 2, u2: 2, i1: 1, u1: 1, u1c: 1};
  const packed = v => v && typeof v === 'object' && typeof v.bdata === 'string';
  const shape = v => {
    if (v === null || v === undefined) return [];
    if (packed(v)) {
      if (v.shape !== undefined) return String(v.shape).split(',').map(Number);
      return [atob(v.bdata).length / (size[v.dtype] || 8)];
    }
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      const first = v.length ? v[0] : null;
      if (first !== null && typeof first === 'object' && !(typeof first === 'string'))
        return [v.length, ...shape(first)];
      return [v.length];
    }
    return [];
  };
  const root = scope ? document.querySelector(scope) : document;
  if (!root) return [];
  return [...root.querySelectorAll('.js-plotly-plot')].map(el => {
    const keyed = el.closest('[class*="st-key-"]');
    const m = keyed ? keyed.className.match(/st-key-(\\S+)/) : null;
    const traces = (el.data || []).map(t => ({
      type: t.type || 'scatter', name: t.name || '',
      x: shape(t.x)[0] || 0, y: shape(t.y)[0] || 0, z: shape(t.z)}));
    const full = traces.some(t => t.x > 0 || t.y > 0 || (t.z.length > 0 && t.z[0] > 0));
    return {key: m ? m[1] : null, traces: traces, has_data: full};
  });
}"""

FULL_HEIGHT_JS = """() => {
  const ids = ['stMain', 'stMainBlockContainer', 'stAppViewContainer', 'stSidebarContent'];
  const hs = ids.map(id => document.querySelector(`[data-testid="${id}"]`))
               .filter(Boolean).map(e => e.scrollHeight);
  return Math.max(document.documentElement.scrollHeight, ...hs);
}"""


# ------------------------------------------------------------------------------------ fixtures
def _require_browser():
    """Fail (never skip) when the browser stack is missing: CI installs it."""
    problems = []
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problems.append(f"the Python package playwright does not import ({exc})")
    if problems:
        pytest.fail("The browser test needs Debian chromium and Python playwright: "
                    + "; ".join(problems) + ". Run `bash scripts/install_chromium.sh` (and "
                    "`pip install -r requirements-dev.txt`); never `playwright install`.",
                    pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of a fresh ``streamlit run app.py`` with an empty private cache."""
    _require_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    SERVER["cache"] = tmp_path_factory.mktemp("browser-cache")
    env = {**os.environ, "LANDSCAPE_CACHE_DIR": str(SERVER["cache"]), "PYTHONUNBUFFERED": "1"}
    log_path = ARTIFACTS / "browser-server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {proc.returncode}:\n{_tail(log_path)}",
                            pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within "
                            f"{WAIT_MS // 1000} s:\n{_tail(log_path)}", pytrace=False)
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_JS)
    context.set_default_timeout(WAIT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


# ------------------------------------------------------------------------------------- helpers
def wait_idle(page, min_runs: int = 1, timeout: int = WAIT_MS) -> None:
    """Wait until the script run has finished (and stays finished for a moment)."""
    for _ in range(2):     # a run may trigger st.rerun(): check again after a short pause
        page.wait_for_function(IDLE_JS, arg=min_runs, timeout=timeout, polling=100)
        page.wait_for_timeout(400)
    page.wait_for_function(IDLE_JS, arg=min_runs, timeout=timeout, polling=100)


def runs_done(page) -> int:
    return page.evaluate("() => window.__stRunsDone")


def open_page(page, server: str, name: str) -> None:
    path = PAGES[name][0]
    page.goto(f"{server}/{path}{QUERY}", wait_until="domcontentloaded")
    wait_idle(page)
    assert_no_errors(page, name)


def click(page, key: str, timeout: int = WAIT_MS) -> None:
    """Press the button with this Streamlit key and wait for the run it starts to finish."""
    before = runs_done(page)
    page.locator(f".st-key-{key.replace('.', '-')} button").first.click()
    wait_idle(page, before + 1, timeout=timeout)


def assert_no_errors(page, name: str) -> None:
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        screenshot(page, f"{name}-exception")
        pytest.fail(f"{name}: exception shown:\n" + "\n---\n".join(boxes.all_inner_texts()),
                    pytrace=False)
    errors = page.locator('[data-testid="stAlertContentError"]')
    if errors.count():
        screenshot(page, f"{name}-error")
        pytest.fail(f"{name}: error box shown:\n" + "\n---\n".join(errors.all_inner_texts()),
                    pytrace=False)


def charts(page, scope: str | None = None) -> list:
    return page.evaluate(CHARTS_JS, scope)


def wait_charts(page, n: int, scope: str | None = None, timeout: int = WAIT_MS) -> list:
    """Wait for at least ``n`` Plotly charts holding data; return all charts' summaries."""
    if n:
        page.wait_for_function(f"(scope) => ({CHARTS_JS})(scope).filter(c => c.has_data).length >= {n}",
                               arg=scope, timeout=timeout, polling=200)
    return charts(page, scope)


def screenshot(page, name: str) -> Path:
    """Full-page PNG. Streamlit scrolls inside its main container, so the viewport is made as
    tall as the content for the shot and restored afterwards."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    height = min(int(page.evaluate(FULL_HEIGHT_JS)) + 40, 12_000)
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(800)          # Plotly re-lays out responsive charts
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


# --------------------------------------------------------------------------------------- tests
def test_cold_home_page_shows_figure_1(server, page):
    """Empty cache, no click: the home page trains the minima, fits the center and shows the
    paper's Figure 1 (segment and fold-line, loss and accuracy)."""
    start = time.monotonic()
    page.goto(f"{server}/{QUERY}", wait_until="domcontentloaded")
    wait_idle(page, timeout=TRAIN_WAIT_MS)
    found = wait_charts(page, 1, timeout=TRAIN_WAIT_MS)
    seconds = time.monotonic() - start
    screenshot(page, "app-cold")
    assert_no_errors(page, "app")
    assert "preset=tiny" in page.url
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Test/teaching preset").count()
    names = [t["name"] for t in found[0]["traces"]]
    assert "direct segment" in names and "fold-line through θ*" in names, names
    seg = next(t for t in found[0]["traces"] if t["name"] == "direct segment")
    fold = next(t for t in found[0]["traces"] if t["name"] == "fold-line through θ*")
    assert seg["x"] == 21 and fold["x"] == 41, found
    assert "paper recipe (λ = 0)" in text(page)
    print(f"cold home page: Figure 1 after {seconds:.1f} s")


@pytest.fixture(scope="module")
def flow(server, page):
    """Click through Minima (train), Star (fit the center) and Loss slices; what each showed."""
    seen = {}
    open_page(page, server, "Minima")
    table = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first
    table.wait_for(state="visible")
    assert_no_errors(page, "Minima")
    seen["minima_after"] = text(page)
    seen["table_rows"] = table.locator('[role="grid"]').get_attribute("aria-rowcount")
    seen["distances"] = wait_charts(page, 1, ".st-key-minima-dist-chart")
    screenshot(page, "flow-1-minima-trained")

    open_page(page, server, "Star")
    assert_no_errors(page, "Star")
    seen["star"] = wait_charts(page, 1, ".st-key-star-diagram-chart")
    seen["star_after"] = text(page)
    screenshot(page, "flow-2-star-fitted")

    open_page(page, server, "Loss_slices")
    seen["slices_text"] = text(page)
    seen["slice"] = wait_charts(page, 1, ".st-key-slices-map-chart")
    screenshot(page, "flow-3-slice")
    return seen


def test_train_star_slice_flow(flow):
    """Minima: table and distances; Star: the center of all minima (the one the home page
    fitted, named by its recipe); Loss slices: the heatmap through θ₁, θ₂ and θ* (21 x 21)."""
    assert "All 3 minima of this selection are in the cache" in flow["minima_after"]
    assert flow["table_rows"] == "4", flow["table_rows"]          # header + one row per minimum
    assert flow["distances"][0]["traces"][0]["z"] == [3, 3], flow["distances"]

    assert "θ* of 3 minima, paper recipe (λ = 0)" in flow["star_after"]      # its recipe beside it
    assert flow["star"][0]["has_data"], flow["star"]

    assert "center θ* = θ* of 3 minima, paper recipe (λ = 0)" in flow["slices_text"]   # the same center
    heat = [t for t in flow["slice"][0]["traces"] if t["type"] in ("heatmap", "contour")]
    assert heat, flow["slice"]
    assert heat[0]["z"] == [21, 21], heat
    assert heat[0]["x"] == 21 and heat[0]["y"] == 21, heat


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders(server, page, flow, name):
    """Every page, once minima and a center exist, runs without an error and its charts hold data."""
    open_page(page, server, name)
    expected = PAGES[name][1]
    try:
        found = wait_charts(page, expected)
    finally:
        screenshot(page, name)
    assert len(found) >= expected, found
    empty = [c for c in found if not c["has_data"]]
    assert not empty, f"{name}: charts without data: {empty}"
    assert_no_errors(page, name)
    if name == "Geodesic_vs_width":
        assert "ngd recipe (λ = 0.001)" in text(page)


def test_sweep_page_runs_a_small_sweep(server, page, flow):
    """Geodesic vs width: widths 8 and 16, one shared center each; its four charts appear."""
    open_page(page, server, "Geodesic_vs_width")
    before = runs_done(page)
    box = page.locator(".st-key-sweep-values-model-width input")
    box.fill("8,16")
    box.press("Enter")
    wait_idle(page, before + 1)
    before = runs_done(page)
    page.locator(".st-key-sweep-mode").get_by_text("star", exact=True).click()
    wait_idle(page, before + 1)
    click(page, "sweep.run", timeout=TRAIN_WAIT_MS)
    assert_no_errors(page, "Geodesic_vs_width")
    found = wait_charts(page, 4)
    screenshot(page, "Geodesic_vs_width-after-sweep")
    assert all(c["has_data"] for c in found), found


def test_closing_the_tab_stops_its_work(server, browser):
    """A long training started from a tab stops when the tab is closed (it would otherwise run
    on for nobody): the server logs why, and no minimum of that run is stored."""
    log_path = ARTIFACTS / "browser-server.log"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_JS)
    tab = context.new_page()
    stored = lambda: len(list((SERVER["cache"] / "minimum").glob("*.safetensors")))
    before = stored()
    seeds = "61,62"                                   # 60,000 epochs each: minutes of work
    tab.goto(f"{server}/Minima{QUERY}&minima=2&seeds={seeds}&epochs=60000",
             wait_until="domcontentloaded")
    wait_idle(tab)
    tab.locator(".st-key-minima-prepare button").click()
    tab.wait_for_selector('[data-testid="stProgress"]', timeout=WAIT_MS)
    context.close()                                   # the tab goes away mid-run
    deadline = time.monotonic() + 60
    while "browser session" not in _tail(log_path, 200) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "ended: stopping its work on page minima_prepare" in _tail(log_path, 200), _tail(log_path)
    time.sleep(2)
    assert stored() == before                         # nothing half-trained was stored
    assert "Traceback" not in _tail(log_path, 200)
