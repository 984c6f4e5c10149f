"""Dashboard benchmark: time to first chart on every page, measured in a real browser.

For the embedded default preset ("digits-mlp", what a new user gets from the bare URL) every
page is loaded in headless Debian chromium (Playwright, ``executable_path=/usr/bin/chromium``)
and timed from navigation start (``performance.timeOrigin``) to the first ``.js-plotly-plot``
whose ``data`` holds a non-empty trace and whose SVG is drawn. Also recorded: when the first
script run finished, when the page settled (no script run for a while: its default work is
done), and what the page showed first (chart title, or the info box of a page without a chart).

Every page computes its cheap defaults on first load without a click (``ui/defaults.py``: the
selection's minima are trained and the center of all minima is fitted, with a progress bar, when
the estimate is under 45 s; the Paths page also fits the pair's NGD centers, the sweep page runs
a small default sweep, the theory page trains its student). So the home page (URL path "", the
router ``app.py`` runs ``pages/0_Home.py``) shows the paper's Figure 1 even on a cold start.

Two conditions:

- **cold**: a fresh ``streamlit run app.py`` with a fresh empty ``LANDSCAPE_CACHE_DIR`` and a
  fresh browser context for every single load, ``--cold-repeats`` loads per page (default
  ``--repeats``; ``--cold-pages`` picks the pages). The load therefore includes the first script
  run of the server process (importing torch, landscape_core, ...), the training of the minima
  and the center fitting the page starts by itself, and everything else before its first chart.
  Target: ≤ 30 s for the home page on a 2-core CPU.
- **warm**: one server and one cache, prepared by simply opening each page once in its own tab
  and waiting until it has settled (it trains, fits, sweeps and memoises its defaults by itself;
  the tab stays open until then because closing it would stop the work). Then each page is
  loaded ``--repeats`` times in new sessions (new tabs; median reported), and reached
  ``--repeats`` times by in-app navigation (a click on its sidebar link in one open tab).
  Target: ≤ 2 s for the home page.

Usage::

    python bench/bench_pages.py                                    # full run, markdown to stdout
    python bench/bench_pages.py --repeats 2 --out test-artifacts/bench_pages.md
    python bench/bench_pages.py --repeats 1 --pages app,Star --no-cold   # quick look

With ``--out`` only the text between the ``bench_pages`` markers inside the section
"## Dashboard time-to-first-chart" is replaced (the file or the section is created when
missing), and every single measurement is written next to it as JSON (``--out`` with the
suffix ``.json``).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PAGES = {"app": "", "Minima": "Minima", "Paths_and_barriers": "Paths_and_barriers", "Star": "Star",
         "Loss_slices": "Loss_slices", "Geodesic_vs_width": "Geodesic_vs_width", "Theory": "Theory",
         "Paper_reproduction": "Paper_reproduction"}
TITLES = {"app": "Home", **{p: p.replace("_", " ") for p in PAGES if p != "app"}}  # sidebar links
PRESET = "digits-mlp"
TARGET_COLD, TARGET_WARM = 30.0, 2.0     # the home page's targets (cold start / cached)
LOAD_TIMEOUT_S = 600            # a cold load trains and fits before its first chart
PREP_TIMEOUT_S = 900
NO_CHART_GRACE_S = 30.0         # quiet this long after a run without a chart: the page has none
                                # (a fresh browser lazy-loads Plotly: seconds on a busy machine)
SETTLE_S = 3.0                  # idle this long after the last run: the page's work is done
SECTION = "## Dashboard time-to-first-chart"
BEGIN, END = "<!-- bench_pages:begin -->", "<!-- bench_pages:end -->"

# Installed before any page script: records (performance.now(), i.e. ms since navigation start)
# the first chart holding data and drawn, and the end of the first script run.
INIT_JS = r"""
(() => {
  const b = window.__bench = {chart: null, ready: null, title: null, runs: 0, connected: null,
                               started: null, lastStart: null, lastDone: null};
  const size = {f8: 8, f4: 4, i8: 8, u8: 8, i4: 4, u4: 4, i2: 2, u2: 2, i1: 1, u1: 1, u1c: 1};
  const len = v => {
    if (v === null || v === undefined) return 0;
    if (typeof v === 'object' && typeof v.bdata === 'string')
      return v.shape !== undefined ? Number(String(v.shape).split(',')[0])
                                   : atob(v.bdata).length / (size[v.dtype] || 8);
    return (Array.isArray(v) || ArrayBuffer.isView(v)) ? v.length : 0;
  };
  const hasData = el => (el.data || []).some(t => len(t.x) > 0 || len(t.y) > 0 || len(t.z) > 0);
  const check = () => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
      if (el.querySelector('.main-svg') && hasData(el)) {
        b.chart = performance.now();
        const t = el.layout && el.layout.title;
        b.title = t ? (typeof t === 'string' ? t : (t.text || '')) : '';
        return true;
      }
    }
    return false;
  };
  const timer = setInterval(() => { if (check()) clearInterval(timer); }, 10);
  new MutationObserver(records => {
    const now = performance.now();
    for (const r of records) {
      const value = r.target.getAttribute(r.attributeName);
      if (r.attributeName === 'data-test-connection-state') {
        if (value === 'CONNECTED' && b.connected === null) b.connected = now;
        continue;
      }
      if (value === 'running') { if (b.started === null) b.started = now; b.lastStart = now; }
      if (r.oldValue === 'running') {
        b.runs += 1;
        b.lastDone = now;
        if (b.ready === null) b.ready = now;
      }
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state', 'data-test-connection-state']});
})();
"""

IDLE_JS = """(minRuns) => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && window.__bench.runs >= minRuns
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""

# The page is quiet: no script run now and none for ``quietMs`` (a page that trains or fits by
# itself ends its run with st.rerun(), so one finished run does not mean the work is done).
QUIET_JS = """(quietMs) => {
  const b = window.__bench, app = document.querySelector('[data-testid="stApp"]');
  return !!app && b.lastDone !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && (b.lastStart === null || b.lastStart <= b.lastDone) && performance.now() - b.lastDone > quietMs;
}"""

# Before an in-app navigation (a click on the sidebar's page link): remember the charts shown
# now (by their data objects: React may reuse a plot div) and time the first new chart.
NAV_START_JS = r"""() => {
  const b = window.__bench, old = new WeakSet();
  document.querySelectorAll('.js-plotly-plot').forEach(el => el.data && old.add(el.data));
  b.nav = {start: performance.now(), chart: null, title: null, runs: b.runs};
  const timer = setInterval(() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
      if (el.data && !old.has(el.data) && el.data.length && el.querySelector('.main-svg')) {
        b.nav.chart = performance.now();
        const t = el.layout && el.layout.title;
        b.nav.title = t ? (typeof t === 'string' ? t : (t.text || '')) : '';
        clearInterval(timer);
        return;
      }
    }
  }, 10);
}"""


# --------------------------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(cache_dir: Path, log_path: Path):
    """``streamlit run app.py`` on a free port with its own cache; killed (process group) on exit."""
    port = _free_port()
    env = {**os.environ, "LANDSCAPE_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited ({proc.returncode}); see {log_path}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not become healthy; see {log_path}")
                time.sleep(0.25)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


# ----------------------------------------------------------------------------------- measuring
def new_context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(INIT_JS)
    ctx.set_default_timeout(LOAD_TIMEOUT_S * 1000)
    return ctx


def _first_message(page) -> str:
    boxes = page.locator('[data-testid="stMain"] [data-testid="stAlert"]')
    if boxes.count():
        return " ".join(boxes.first.inner_text().split())[:90]
    run = page.locator('[data-testid="stMain"] [class*="-prepare"] button').filter(has_text="Run:")
    if run.count():                 # the defaults wait for a click (estimate over 45 s)
        return "waiting for: " + " ".join(run.first.inner_text().split())[:90]
    return ""


def load(ctx, url: str, settle: bool = False) -> dict:
    """Open ``url`` in a new tab (a new Streamlit session) and time it: until the first chart
    (or, without one, until the page is quiet); with ``settle`` also until the page's own work
    is done (its tab stays open until then: a closed tab stops the work it started)."""
    page = ctx.new_page()
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function(
            f"() => window.__bench && window.__bench.ready !== null && (window.__bench.chart !== null"
            f" || ({QUIET_JS})({NO_CHART_GRACE_S * 1000}))",
            timeout=LOAD_TIMEOUT_S * 1000, polling=50)
        if settle:
            page.wait_for_function(f"() => ({IDLE_JS})(1) && ({QUIET_JS})({SETTLE_S * 1000})",
                                   timeout=PREP_TIMEOUT_S * 1000, polling=200)
        b = page.evaluate("() => window.__bench")
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
        sec = (lambda v: None if v is None else v / 1000)
        out = {"chart_s": sec(b["chart"]), "ready_s": sec(b["ready"]),
               "connected_s": sec(b["connected"]), "started_s": sec(b["started"]),
               "settled_s": sec(max(b["lastDone"], b["chart"] or 0)) if settle else None,
               "runs": b["runs"],
               "title": b["title"], "message": "" if b["chart"] is not None else _first_message(page),
               "errors": [" ".join(t.split())[:200] for t in errors.all_inner_texts()],
               "url": page.url}
        return out
    finally:
        page.close()


def wait_idle(page, min_runs: int, timeout_s: float) -> None:
    for _ in range(2):
        page.wait_for_function(IDLE_JS, arg=min_runs, timeout=timeout_s * 1000, polling=200)
        page.wait_for_timeout(500)


def prepare(ctx, url: str, pages: list) -> dict:
    """Open every page once, each in its own tab, and wait until it has settled: the pages train
    the minima, fit the centers, run the default sweep and memoise what they derive by
    themselves. Returns each page's load (first chart and settled times)."""
    first = {}
    for p in pages:
        t0 = time.perf_counter()
        first[p] = r = load(ctx, f"{url}/{PAGES[p]}", settle=True)
        r["wall_s"] = time.perf_counter() - t0
        print(f"first {p:20s} chart {_fmt(r['chart_s'])}  settled {_fmt(r['settled_s'])}  "
              f"{r['title'] or r['message']}", file=sys.stderr)
    return first


def navigate(page, name: str) -> dict:
    """Click the sidebar link of page ``name`` in an open tab; seconds from the click to the
    first new chart with data (the Plotly library is already loaded in this tab)."""
    page.evaluate(NAV_START_JS)
    label = TITLES[name]
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=re.compile(f"^{label}$")).first.click()
    page.wait_for_function(
        f"""() => {{ const b = window.__bench, app = document.querySelector('[data-testid="stApp"]');
            return b.runs > b.nav.runs && app.getAttribute('data-test-script-state') === 'notRunning'
              && (b.nav.chart !== null || performance.now() - b.lastDone > {NO_CHART_GRACE_S * 1000}); }}""",
        timeout=LOAD_TIMEOUT_S * 1000, polling=50)
    nav = page.evaluate("() => window.__bench.nav")
    errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return {"chart_s": None if nav["chart"] is None else (nav["chart"] - nav["start"]) / 1000,
            "ready_s": None, "title": nav["title"],
            "message": "" if nav["chart"] is not None else _first_message(page),
            "errors": [" ".join(t.split())[:200] for t in errors.all_inner_texts()], "url": page.url}


def cache_counts(root: Path) -> dict:
    return {p.name: len(list(p.glob("*.safetensors"))) for p in sorted(root.iterdir()) if p.is_dir()} \
        if root.is_dir() else {}


# -------------------------------------------------------------------------------------- running
def run(pages: list, repeats: int, cold_pages: list, cold_repeats: int, warm: bool,
        workdir: Path) -> dict:
    from playwright.sync_api import sync_playwright
    res = {"cold": {p: [] for p in cold_pages}, "first": {}, "warm": {p: [] for p in pages},
           "nav": {p: [] for p in pages}, "load": [os.getloadavg()], "load_when": ["start"],
           "pages": pages, "cold_pages": cold_pages, "repeats": repeats, "cold_repeats": cold_repeats}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            if cold_pages:
                for rep in range(cold_repeats):
                    for p in cold_pages:
                        cache = Path(tempfile.mkdtemp(prefix="cold-", dir=workdir))
                        with streamlit_server(cache, workdir / f"cold-{p}-{rep}.log") as url:
                            ctx = new_context(browser)
                            try:
                                r = load(ctx, f"{url}/{PAGES[p]}")
                            finally:
                                ctx.close()
                        res["cold"][p].append(r)
                        print(f"cold  {rep + 1}/{cold_repeats} {p:20s} chart {_fmt(r['chart_s'])}  ready "
                              f"{_fmt(r['ready_s'])}  {r['title'] or r['message']}", file=sys.stderr)
                res["load"].append(os.getloadavg())
                res["load_when"].append("after cold")
            if warm:
                cache = Path(tempfile.mkdtemp(prefix="warm-", dir=workdir))
                with streamlit_server(cache, workdir / "warm.log") as url:
                    ctx = new_context(browser)
                    try:
                        res["first"] = prepare(ctx, url, pages)
                        res["cache"] = cache_counts(cache)
                        for rep in range(repeats):
                            for p in pages:
                                r = load(ctx, f"{url}/{PAGES[p]}")
                                res["warm"][p].append(r)
                                print(f"warm  {rep + 1}/{repeats} {p:20s} chart {_fmt(r['chart_s'])}  "
                                      f"{r['title'] or r['message']}", file=sys.stderr)
                        if len(pages) > 1:       # in-app navigation, one tab, page after page
                            tab = ctx.new_page()
                            try:
                                tab.goto(f"{url}/{PAGES[pages[-1]]}", wait_until="commit")
                                wait_idle(tab, 1, LOAD_TIMEOUT_S)
                                for rep in range(repeats):
                                    for p in pages:
                                        r = navigate(tab, p)
                                        res["nav"][p].append(r)
                                        print(f"nav   {rep + 1}/{repeats} {p:20s} chart "
                                              f"{_fmt(r['chart_s'])}  {r['title'] or r['message']}",
                                              file=sys.stderr)
                            finally:
                                tab.close()
                    finally:
                        ctx.close()
                res["load"].append(os.getloadavg())
                res["load_when"].append("after warm")
        finally:
            browser.close()
    return res


# -------------------------------------------------------------------------------------- report
def _fmt(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _cell(loads: list, key: str = "chart_s") -> str:
    if not loads:
        return "n/a"
    vals = [r[key] for r in loads]
    if all(v is None for v in vals):
        return "no chart"
    med = _median(vals)
    spread = f" ({_fmt(min(v for v in vals if v is not None))}–{_fmt(max(v for v in vals if v is not None))})" \
        if len(vals) > 1 else ""
    missing = sum(v is None for v in vals)
    return f"{_fmt(med)}{spread}" + (f", {missing}× none" if missing else "")


def _shown(loads: list) -> str:
    if not loads:
        return ""
    r = loads[0]
    text = r["title"] or (f"no chart; info: “{r['message']}”" if r["message"] else "no chart")
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("|", "/")


def _verdict(loads: list, target: float) -> str:
    med = _median([r["chart_s"] for r in loads])
    return "–" if not loads or med is None else ("✓" if med <= target else "✗")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    import streamlit
    import torch
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    threads = os.environ.get("LANDSCAPE_TORCH_THREADS") or max(1, (os.cpu_count() or 2) // 2)
    return (f"{cpu}, {os.cpu_count()} cores visible ({platform.machine()}, Linux "
            f"{platform.release()}); Python {platform.python_version()}, Streamlit "
            f"{streamlit.__version__}, torch {torch.__version__} ({threads} intra-op thread(s) in the "
            f"server), Playwright {version('playwright')}, {chromium}")


def markdown(res: dict, repeats: int, pages: list, command: str = "python bench/bench_pages.py") -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    loads = "; ".join(f"{when} {'/'.join(f'{v:.2f}' for v in la)}"
                      for when, la in zip(res["load_when"], res["load"]))
    cold_pages = res.get("cold_pages", pages)
    lines = [
        f"Generated by `{command}` on {now}.",
        "",
        f"- Machine: {machine()}.",
        f"- Load average (1/5/15 min): {loads}. The machine was shared with other jobs (other "
        "sessions' tests and builds), so the times include their contention.",
        f"- Preset `{PRESET}` (the embedded default, bare URL). Seconds from navigation start to the "
        f"first Plotly chart with data; median of {res.get('cold_repeats', repeats)} cold and "
        f"{repeats} warm loads (min–max in brackets). Targets for the home page (`app`, URL path "
        f"\"\"): ≤ {TARGET_COLD:g} s cold, ≤ {TARGET_WARM:g} s warm; the other pages are marked "
        "against the same bounds for reference.",
        "- Cold: fresh server, empty cache, fresh browser context per load; the page trains the "
        "selection's minima and fits the center by itself (no click) before its first chart"
        + ("" if set(cold_pages) >= set(pages) else "; not measured" if not cold_pages else
           f"; timed cold: {', '.join(cold_pages)} (the others were not, to keep the run short)") + ".",
    ]
    if res["first"]:
        lines.append("- Warm preparation: each page opened once on the warm server (in this order) and "
                     "left open until it had settled, i.e. its own default work (training, center and "
                     "NGD fits, default sweep, student) was done; seconds to first chart / settled: "
                     + "; ".join(f"{p} {_fmt(r['chart_s'], 1)} / {_fmt(r.get('settled_s'), 1)}"
                                 for p, r in res["first"].items())
                     + f". Cache afterwards: {res.get('cache', {})}.")
    lines += ["", "| page | cold: first chart (s) | cold: first run done (s) | cold: first chart shows "
              "| preparation: first chart (s) | warm, new tab (s) | warm, in-app navigation (s) "
              "| warm: first chart shows | vs 30 s cold / 2 s tab / 2 s nav |",
              "|---|---|---|---|---|---|---|---|---|"]
    for p in pages:
        cold, warm, nav = res["cold"].get(p, []), res["warm"].get(p, []), res["nav"].get(p, [])
        first = res["first"].get(p)
        verdict = " / ".join((_verdict(cold, TARGET_COLD), _verdict(warm, TARGET_WARM),
                              _verdict(nav, TARGET_WARM)))
        lines.append(f"| {p} | {_cell(cold)} | {_cell(cold, 'ready_s')} | {_shown(cold)} | "
                     f"{_fmt(first['chart_s']) if first else 'n/a'} | {_cell(warm)} | {_cell(nav)} | "
                     f"{_shown(warm or nav)} | {verdict} |")
    if any(res["warm"].get(p) for p in pages):
        lines += ["", "Where a warm new-tab load spends its time (medians, seconds since navigation "
                  "start): the websocket is connected, the script run starts and ends (as the browser "
                  "sees it), the first chart is drawn.", "",
                  "| page | connected | run starts | run ends | first chart | chart − run end |",
                  "|---|---|---|---|---|---|"]
        for p in pages:
            w = res["warm"].get(p, [])
            m = {k: _median([r.get(k) for r in w]) for k in ("connected_s", "started_s", "ready_s",
                                                                 "chart_s")}
            gap = _median([r["chart_s"] - r["ready_s"] for r in w
                           if r["chart_s"] is not None and r["ready_s"] is not None])
            lines.append(f"| {p} | {_fmt(m['connected_s'])} | {_fmt(m['started_s'])} | "
                         f"{_fmt(m['ready_s'])} | {_fmt(m['chart_s'])} | {_fmt(gap)} |")
    errors = [(cond, p, e) for cond in ("cold", "warm", "nav") for p in pages
              for r in res[cond].get(p, []) for e in r["errors"]]
    errors += [("first", p, e) for p, r in res["first"].items() for e in r["errors"]]
    if errors:
        lines += ["", "Error boxes seen during the runs:"]
        lines += [f"- {cond} {p}: {e}" for cond, p, e in errors]
    raw = [(cond, p, [r["chart_s"] for r in res[cond].get(p, [])])
           for cond in ("cold", "warm", "nav") for p in pages if res[cond].get(p)]
    if raw:
        lines += ["", "Raw times to first chart (s), in the order measured:", ""]
        lines += [f"- {cond} {p}: " + ", ".join(_fmt(v, 3) for v in vals) for cond, p, vals in raw]
    return "\n".join(lines) + "\n"


def write_section(path: Path, block: str) -> None:
    """Replace the generated block of the section (appending the section when it is missing);
    nothing outside the section's markers is changed once they exist."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    generated = f"{BEGIN}\n{block}{END}\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{generated}"
    elif BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + generated.rstrip("\n") + rest.split(END, 1)[1]
    else:                       # first write: the placeholder under the heading is replaced
        head, rest = text.split(SECTION, 1)
        m = re.search(r"^## ", rest, flags=re.M)
        tail = rest[m.start():] if m else ""
        text = head + f"{SECTION}\n\n{generated}" + ("\n" + tail if tail else "")
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", default=",".join(PAGES), help="comma list of " + ", ".join(PAGES))
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--cold-pages", help="comma list of the pages timed cold (default: --pages)")
    ap.add_argument("--cold-repeats", type=int, help="cold loads per page (default: --repeats)")
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--out", type=Path, help="markdown file whose generated block is rewritten "
                    "(e.g. test-artifacts/bench_pages.md); the raw results go beside it as .json")
    ap.add_argument("--logs", type=Path, default=ROOT / "test-artifacts" / "bench-pages",
                    help="folder for the servers' logs and caches")
    args = ap.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    cold_pages = [] if args.no_cold else \
        [p.strip() for p in (args.cold_pages or args.pages).split(",") if p.strip()]
    cold_pages = [p for p in pages if p in cold_pages]
    unknown = [p for p in pages + cold_pages if p not in PAGES]
    if unknown:
        ap.error(f"unknown pages {unknown}; choose from {list(PAGES)}")
    if not os.access(CHROMIUM, os.X_OK):
        print(f"{CHROMIUM} is missing: run `bash scripts/install_chromium.sh`", file=sys.stderr)
        return 2
    args.logs.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=args.logs))
    res = run(pages, args.repeats, cold_pages, args.cold_repeats or args.repeats, not args.no_warm,
              workdir)
    command = " ".join(["python", "bench/bench_pages.py", *(argv if argv is not None else sys.argv[1:])])
    block = markdown(res, args.repeats, pages, command)
    print(block)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_section(args.out, block)
        raw = args.out.with_suffix(".json")
        raw.write_text(json.dumps({"preset": PRESET, "machine": machine(), **res}, indent=1,
                                  ensure_ascii=False) + "\n")
        print(f"wrote the generated block of '{SECTION}' in {args.out}, raw results in {raw}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
