"""The course as a student meets it: `make lab` in Chromium, every chapter and one lab run from the UI.

For each notebook the test opens it in JupyterLab, checks that opening alone left it unmodified,
runs all cells (JupyterLab's own "Run All" command, then waits for the kernel), and asserts what
a student would see: no traceback in any output, every widget drawn as controls, every explorer
redrawing its figure after one control changes, and each figure shown at the PNG's own aspect
ratio. Screenshots land in .browser-screenshots/ (git-ignored), named after notebook and step.

Never saves a notebook: autosave is off in the test's private JupyterLab settings, and the last
test checks that no executed output reached the files on disk.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from optional_tools import require

from .lab_server import ROOT, LabServer

CHROMIUM = Path(os.environ.get("CONSISTENCY_LAB_CHROMIUM", "/usr/bin/chromium"))
# Checked at import: a machine without them gets one skip line for the whole module.
require(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (or set CONSISTENCY_LAB_CHROMIUM)",
        "apt install chromium (Debian/Ubuntu), dnf install chromium (Fedora), brew install --cask chromium (macOS)")
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None
require(sync_playwright is not None, "Playwright for Python", '.venv/bin/pip install -e ".[test]"')

# Chromium's own calls home are refused on CI machines; these flags keep it quiet and headless.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
SHOTS = ROOT / ".browser-screenshots"
LABS = ["labs/lab01_idempotent_handlers.ipynb", "labs/lab03_crdts.ipynb", "labs/lab05_cqrs_projection.ipynb",
        "labs/lab06_build_a_replica.ipynb", "labs/lab04_reservations_and_sagas.ipynb"]
NOTEBOOKS = [*sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").glob("*.ipynb")), *LABS]
RUN_ALL_TIMEOUT_S = 150
#: A student moving a control should see the new figure within this long (browser round trip included).
REDRAW_BOUND_S = 5.0
ASPECT_TOLERANCE = 0.05
# How a widget looks when the browser cannot draw it: its Python repr.
WIDGET_AS_TEXT = re.compile(r"\b(IntSlider|FloatSlider|IntText|BoundedIntText|Dropdown|Checkbox|VBox|HBox)\(")

# Runs in the page: one record per code cell (outputs from the notebook model, text as rendered).
CELLS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  return nb.content.widgets.map((cell, index) => {
    if (cell.model.type !== 'code') return null;
    const area = cell.node.querySelector('.jp-OutputArea');
    return {
      index, count: cell.model.executionCount,
      source: cell.model.sharedModel.getSource().slice(0, 120),
      outputs: cell.model.outputs.toJSON().map(o => ({
        type: o.output_type, ename: o.ename || '', evalue: o.evalue || '',
        text: [].concat(o.text || []).join('') + [].concat((o.data || {})['text/plain'] || []).join(''),
        mimes: Object.keys(o.data || {})})),
      rendered: area ? area.textContent : '',
      widgetViews: area ? area.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length : 0,
    };
  }).filter(Boolean);
}"""

# Marks each rendered explorer (a widget output holding a figure image and at least one control).
EXPLORERS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const found = [];
  nb.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    cell.node.querySelectorAll('.jp-OutputArea-output').forEach(out => {
      const img = out.querySelector('.jupyter-widgets img');
      const controls = out.querySelectorAll('.widget-dropdown select, .widget-slider, .widget-checkbox input');
      if (!img || !controls.length) return;
      out.setAttribute('data-explorer', String(found.length));
      found.push({cell: index, text: out.textContent.slice(0, 400), controls: controls.length});
    });
  });
  return found;
}"""

NOTEBOOK_STATE_JS = """() => {
  if (!window.jupyterapp) return null;
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.context || !nb.sessionContext) return null;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return {path: nb.context.path, ready: nb.context.isReady, dirty: nb.context.model.dirty,
          ranAll: window.__runAllDone === true,
          kernel: kernel ? kernel.status : null,
          pending: nb.content.widgets.filter(c => c.model.type === 'code' && c.promptNode &&
                                              c.promptNode.textContent.includes('*')).length};
}"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


class Session:
    """One JupyterLab (from `make lab`) and one Chromium page, shared by the tests of this module."""

    def __init__(self, server: LabServer, page) -> None:
        self.server, self.page = server, page
        self.redraw_ms: list[tuple[str, float]] = []

    def shot(self, name: str, locator: Any = None) -> Path:
        """Save a screenshot of the page (or of one element) under .browser-screenshots/."""
        path = SHOTS / f"{name}.png"
        if locator is None:
            self.page.screenshot(path=str(path))
            return path
        # An explorer is taller than 800 px: a taller window (same width, so the same layout) shows all of it.
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": 1600})
        try:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(VIEWPORT)
        return path

    def state(self) -> dict:
        """The current notebook's path, readiness, dirty flag, kernel status and cells still queued."""
        return self.page.evaluate(NOTEBOOK_STATE_JS) or {}

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float, what: str) -> dict:
        """Poll the current notebook's state until ``predicate(state)``; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        state: dict = {}
        while time.monotonic() < deadline:
            state = self.state()
            if state and predicate(state):
                return state
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last state {state}")


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Iterator[Session]:
    """`make lab` on a free port plus headless Chromium; both stopped whatever happens."""
    state_dir = tmp_path_factory.mktemp("browser-lab")
    # The test's private JupyterLab settings: never autosave the course notebooks it runs.
    settings = state_dir / "config" / "lab" / "user-settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    SHOTS.mkdir(exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()

    server = LabServer(state_dir, extra_args="--LabApp.expose_app_in_browser=True")
    try:
        server.wait_ready()
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(state_dir / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_ARGS, viewport=VIEWPORT)
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(30_000)
                page.goto(server.url(f"/?token={server.token}"))
                page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                       " && window.jupyterapp.shell.currentWidget.context", timeout=90_000)
                yield Session(server, page)
            finally:
                context.close()
    finally:
        server.stop()


def test_first_start_shows_the_index_at_the_course_root_without_news(session):
    s = session
    state = s.wait_for(lambda st: st.get("kernel") == "idle", 90, "the index notebook's kernel")
    assert state["path"] == "chapters/00_index.ipynb"
    s.page.wait_for_selector(".jp-DirListing-item", timeout=30_000)
    time.sleep(2)  # the news question, when enabled, pops up a moment after start
    s.shot("00-first-start")
    assert s.page.inner_text(".jp-FileBrowser .jp-BreadCrumbs").strip() == "/"
    listing = s.page.locator(".jp-FileBrowser .jp-DirListing-itemText").all_inner_texts()
    assert {"chapters", "labs", "README.md"} <= set(listing)
    assert not [name for name in listing if name.endswith(".egg-info") or name == "__pycache__"]
    body = s.page.inner_text("body")
    assert "Jupyter news" not in body and "official Jupyter news" not in body
    assert state["dirty"] is False, "opening the index marked it modified"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[Path(p).stem for p in NOTEBOOKS])
def test_notebook_runs_cleanly_in_the_browser(session, path):
    s = session
    number = f"{NOTEBOOKS.index(path) + 1:02d}"
    stem = f"{number}-{Path(path).stem}"
    try:
        _open_and_run(s, path, stem)
        _check_outputs(s, path)
        _check_explorers(s, path, stem)
    except BaseException:
        s.shot(f"{stem}-FAILED")
        raise
    finally:
        _close(s)


def _open_and_run(s: Session, path: str, stem: str) -> None:
    s.page.evaluate("p => window.jupyterapp.commands.execute('docmanager:open', {path: p, factory: 'Notebook'})"
                    ".then(() => true)", path)
    s.wait_for(lambda st: st.get("path") == path and st.get("ready") and st.get("kernel") == "idle", 90,
               f"{path} to open with an idle kernel")
    time.sleep(1.0)  # JupyterLab copies the kernel's metadata into the notebook right after it connects
    state = s.state()
    s.shot(f"{stem}-1-opened")
    assert state["dirty"] is False, f"merely opening {path} marked it modified"

    started = time.monotonic()
    # JupyterLab's own Run All; its promise settles once the last cell has finished (or one failed).
    s.page.evaluate("""() => { window.__runAllDone = false;
        window.jupyterapp.commands.execute('notebook:run-all-cells')
              .finally(() => { window.__runAllDone = true; }); }""")
    s.wait_for(lambda st: st.get("ranAll") and st.get("kernel") == "idle" and st.get("pending") == 0,
               RUN_ALL_TIMEOUT_S, f"{path} to finish running")
    print(f"{path}: ran all cells in {time.monotonic() - started:.1f} s")
    time.sleep(1.0)  # widget views render after their model messages arrive
    s.shot(f"{stem}-2-ran")


def _check_outputs(s: Session, path: str) -> None:
    cells = s.page.evaluate(CELLS_JS)
    assert cells, f"{path} has no code cells"
    problems = []
    for cell in cells:
        where = f"{path} cell {cell['index']} ({cell['source'][:60]!r})"
        if cell["count"] is None:
            problems.append(f"{where}: never ran")
        for out in cell["outputs"]:
            if out["type"] == "error":
                problems.append(f"{where}: {out['ename']}: {out['evalue'][:200]}")
            elif "Traceback (most recent call last)" in out["text"]:
                problems.append(f"{where}: a traceback in its output")
        if "Traceback (most recent call last)" in cell["rendered"] and not any(
                o["type"] == "error" or "Traceback (most recent call last)" in o["text"] for o in cell["outputs"]):
            problems.append(f"{where}: a traceback inside a widget's output")
        if "Error displaying widget" in cell["rendered"]:
            problems.append(f"{where}: Error displaying widget")
        match = WIDGET_AS_TEXT.search(cell["rendered"])
        if match:
            problems.append(f"{where}: a widget shown as text ({match.group(0)}...)")
        views = sum("application/vnd.jupyter.widget-view+json" in out["mimes"] for out in cell["outputs"])
        if views and cell["widgetViews"] < views:
            problems.append(f"{where}: {views} widget output(s) but {cell['widgetViews']} drawn as controls")
    assert not problems, "\n".join(problems)


def _expected_explorers(path: str) -> list[str]:
    sources = ["".join(c["source"]) for c in json.loads((ROOT / path).read_text())["cells"]
               if c["cell_type"] == "code"]
    return sorted({name for src in sources for name in re.findall(r"explore\(\s*[\"'](\w+)[\"']", src)})


def _check_explorers(s: Session, path: str, stem: str) -> None:
    from consistency_lab.widgets import EXPLORERS

    found = s.page.evaluate(EXPLORERS_JS)
    for name in _expected_explorers(path):
        title = EXPLORERS[name].title
        assert any(title in e["text"] for e in found), f"{path}: explorer {name!r} ({title!r}) is not drawn"
    problems = []
    for k, explorer in enumerate(found):
        view = s.page.locator(f"[data-explorer='{k}']")
        view.scroll_into_view_if_needed()
        label = next((name for name, cls in EXPLORERS.items() if cls.title in explorer["text"]),
                     _slug(explorer["text"]) or str(k))
        img = view.locator(".jupyter-widgets img").first
        img.wait_for(state="visible")
        s.shot(f"{stem}-explorer-{label}-before", view)
        problems += _aspect_problems(path, label, img)
        print(f"{path} {label}: figure " + _sizes(img))

        before = img.get_attribute("src")
        changed = _change_one_control(view)
        started = time.monotonic()
        while img.get_attribute("src") == before and time.monotonic() - started < REDRAW_BOUND_S + 10:
            time.sleep(0.02)
        waited = time.monotonic() - started
        if img.get_attribute("src") == before:
            text = view.text_content() or ""
            said = text[text.find("Cannot run this"):][:200] if "Cannot run this" in text else "no error shown"
            problems.append(f"{path} {label}: changing {changed} left the image as it was for {waited:.1f} s ({said})")
            continue
        s.redraw_ms.append((f"{path} {label}", waited * 1000))
        print(f"{path} {label}: changing {changed} redrew the image after {waited * 1000:.0f} ms")
        if waited > REDRAW_BOUND_S:
            problems.append(f"{path} {label}: the image changed only {waited:.1f} s after {changed} "
                            f"(bound {REDRAW_BOUND_S:.0f} s)")
        img.evaluate("i => i.decode()")
        s.shot(f"{stem}-explorer-{label}-after-{_slug(changed)}", view)
        problems += _aspect_problems(path, label, img)
    assert not problems, "\n".join(problems)


def _size(img) -> dict:
    return img.evaluate("i => { const r = i.getBoundingClientRect();"
                        " return {nw: i.naturalWidth, nh: i.naturalHeight, w: r.width, h: r.height}; }")


def _sizes(img) -> str:
    size = _size(img)
    return f"PNG {size['nw']}x{size['nh']} px shown at {size['w']:.0f}x{size['h']:.0f} px"


def _aspect_problems(path: str, label: str, img) -> list[str]:
    """The image as displayed must keep the PNG's own width/height ratio (within ASPECT_TOLERANCE)."""
    size = _size(img)
    if not (size["nw"] and size["nh"] and size["w"] and size["h"]):
        return [f"{path} {label}: the figure is not displayed ({size})"]
    natural, shown = size["nw"] / size["nh"], size["w"] / size["h"]
    if abs(shown / natural - 1) > ASPECT_TOLERANCE:
        return [f"{path} {label}: figure shown at {size['w']:.0f}x{size['h']:.0f} px (ratio {shown:.2f}) but the PNG "
                f"is {size['nw']}x{size['nh']} (ratio {natural:.2f}): stretched by {abs(shown / natural - 1):.0%}"]
    return []


def _change_one_control(view) -> str:
    """Change one control the way a student would (a dropdown, else a checkbox); what was changed."""
    selects = view.locator(".widget-dropdown select")
    for i in range(selects.count()):
        select = selects.nth(i)
        if select.is_disabled():
            continue
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''")
        other = next((o for o in options if o != current), None)
        if other is not None:
            select.select_option(label=other)
            return f"dropdown {current} to {other}"
    boxes = view.locator(".widget-checkbox input")
    for i in range(boxes.count()):
        if boxes.nth(i).is_enabled():
            boxes.nth(i).click()
            return "a checkbox"
    raise AssertionError("explorer has no dropdown or checkbox to change")


def _close(s: Session) -> None:
    """Close the current notebook without saving and shut its kernel down."""
    s.page.evaluate("""() => { const nb = window.jupyterapp.shell.currentWidget;
                               if (nb && nb.context) { nb.context.model.dirty = false; nb.dispose(); } }""")
    s.server.shutdown_kernels()


def test_no_notebook_was_saved_with_outputs(session):
    """Running notebooks in the browser must leave the files on disk as they were (outputs stripped)."""
    for path in NOTEBOOKS:
        for cell in json.loads((ROOT / path).read_text())["cells"]:
            assert not cell.get("outputs"), f"{path} was saved with outputs"
    print("redraw after one control change (ms): " + ", ".join(f"{n}: {ms:.0f}" for n, ms in session.redraw_ms))
