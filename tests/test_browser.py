"""The lecturer's path in a real browser: Debian's Chromium, driven by Playwright for Python.

- The offline copies (``python3 -m vae_course export``): a deck and a page opened from
  ``file://`` typeset their maths, show their figures, have one slide per slide cell, and
  request nothing off the machine.
- The live slides: JupyterLab, started as ``python3 -m vae_course lab`` starts it, on
  127.0.0.1 with a token, opens notebooks as RISE slideshows; the maths is typeset, text reads
  at 24 px, no slide is taller than the 1280x800 window, a code cell runs in the slideshow,
  and saving a course notebook writes it without outputs.

Screenshots of what the tests saw go to ``build/screenshots/``. The tests skip, naming what is
missing, without Chromium (``apt-get install chromium``) or Playwright (``pip install playwright``;
never ``playwright install``: the tests use the system's browser).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vae_course import export, lab

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("VAE_COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WINDOW = {"width": 1280, "height": 800}
DECK = "05_elbo"            # exported and checked offline (maths, a figure, 10 slides)
RUN_IN_RISE = "05_elbo"     # its first code cell is executed inside the slideshow
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
MIN_BODY_PX = 24

if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium), not found",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python "
                                     "(pip install playwright; the tests use the system's Chromium)")

# Overflow of every slide (leaf <section>), measured with its slide shown: RISE and reveal.js
# keep far-away slides display:none, where nothing has a size.
MEASURE_SLIDES = """() => {
  const reveal = document.querySelector('.reveal');
  const leaves = [...document.querySelectorAll('.reveal .slides section')].filter(s => !s.querySelector('section'));
  return {height: reveal.clientHeight, width: reveal.clientWidth, slides: leaves.map((s, i) => {
    const chain = [s, s.parentElement.closest('section')].filter(x => x);
    const old = chain.map(x => x.style.display);
    chain.forEach(x => { x.style.display = 'block'; });
    const wide = [...s.querySelectorAll('.cm-scroller, .jp-OutputArea-output pre')]
      .filter(e => e.scrollWidth > e.clientWidth + 1).length;
    const title = ((s.querySelector('h1, h2, h3') || {}).textContent || '').replace('\u00b6', '').slice(0, 50);
    const out = {index: i, height: s.scrollHeight, wide, title};
    chain.forEach((x, k) => { x.style.display = old[k]; });
    return out;
  })};
}"""
# Text that MathJax left alone: a '$' in rendered markdown means maths was not typeset.
RAW_DOLLARS = """() => [...document.querySelectorAll('.jp-RenderedMarkdown, .jp-MarkdownOutput')]
  .map(e => e.innerText).filter(t => t.includes('$')).length"""
# The font size a reader sees: computed size times the scale reveal.js applies to the slide.
BODY_PX = """() => {
  const p = [...document.querySelectorAll('.jp-RenderedMarkdown p')].find(e => e.getClientRects().length);
  const scale = p.getBoundingClientRect().height / p.offsetHeight;
  return parseFloat(getComputedStyle(p).fontSize) * scale;
}"""


PRESENT_HAS_CODE = """() => [...document.querySelectorAll('.reveal section.present')]
  .filter(s => !s.querySelector('section')).some(s => s.querySelector('.jp-CodeCell'))"""


def slide_cells(name: str) -> int:
    """How many cells of the stored notebook start a slide (the first shown cell always does)."""
    cells = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    types = [c["metadata"].get("slideshow", {}).get("slide_type", "-") for c in cells]
    first = next(i for i, t in enumerate(types) if t not in ("skip", "notes"))
    return 1 + sum(t == "slide" for t in types[first + 1:])


def non_local(urls: list[str], server: str = "") -> list[str]:
    """The recorded requests that left the machine (neither a file nor the local server)."""
    return [u for u in urls if not u.startswith(LOCAL_SCHEMES) and not (server and u.startswith(server))
            and not u.startswith(server.replace("http://", "ws://"))]


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport=WINDOW)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    """A fresh tab that records every request it makes in ``page.requests``."""
    tab = browser.new_page()
    tab.requests = []
    tab.on("request", lambda request: tab.requests.append(request.url))
    yield tab
    tab.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``export`` of one notebook in quick mode, into a temporary build folder."""
    build = tmp_path_factory.mktemp("build")
    export.export([DECK[:2]], quick=True, build=build)
    return build


def wait_for_mathjax2(page) -> None:
    page.wait_for_function("() => window.MathJax && MathJax.isReady && MathJax.Hub.queue.pending === 0"
                           " && document.querySelectorAll('.MathJax').length > 0", timeout=30_000)


def test_offline_deck_typesets_maths_shows_figures_and_requests_nothing_remote(page, built):
    page.goto((built / f"{DECK}.slides.html").as_uri())
    wait_for_mathjax2(page)
    assert page.evaluate(RAW_DOLLARS) == 0
    assert page.evaluate("() => document.querySelectorAll('.reveal .slides > section').length") == slide_cells(DECK)
    assert page.evaluate("() => getComputedStyle(document.querySelector('.reveal h1')).textTransform") == "none"
    figures = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')].map(i => i.naturalWidth)")
    assert figures and min(figures) > 0, f"figures not shown: natural widths {figures}"
    shot(page, "deck_first_slide")
    page.evaluate("""() => {
      const img = document.querySelector('.reveal .jp-OutputArea-output img');
      const leaf = img.closest('section'), top = leaf.parentElement.closest('section') || leaf;
      const tops = [...document.querySelectorAll('.reveal .slides > section')];
      Reveal.slide(tops.indexOf(top), top === leaf ? 0 : [...top.children].filter(e => e.tagName === 'SECTION').indexOf(leaf));
    }""")
    page.wait_for_timeout(500)
    shot(page, "deck_slide_with_figure")
    assert non_local(page.requests) == []


def test_offline_page_and_index_typeset_maths_and_request_nothing_remote(page, built):
    page.goto((built / f"{DECK}.html").as_uri())
    wait_for_mathjax2(page)
    assert page.evaluate(RAW_DOLLARS) == 0
    figures = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')].map(i => i.naturalWidth)")
    assert figures and min(figures) > 0, f"figures not shown: natural widths {figures}"
    shot(page, "page_top")
    page.goto((built / "index.html").as_uri())
    links = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    assert f"{DECK}.html" in links and f"{DECK}.slides.html" in links
    shot(page, "index")
    assert non_local(page.requests) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """JupyterLab as the course's ``lab`` command configures it, on a copy of notebooks/ (so a
    failing save hook cannot dirty the repository), at 127.0.0.1 on a free port with a token."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "VAE_COURSE_QUICK": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "JUPYTER_PATH": os.pathsep.join([str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")])}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", *lab.OPTIONS, *(["--allow-root"] if os.geteuid() == 0 else [])]
    log = open(root / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(root / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "root": root}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def open_rise(page, jupyter, name: str) -> None:
    page.goto(f"{jupyter['base']}/rise/notebooks/{name}.ipynb?token={jupyter['token']}")
    page.wait_for_selector(".reveal .slides section .jp-Cell", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=30_000)


def test_rise_slideshow_typesets_maths_reads_at_24px_runs_a_code_cell_and_saves_clean(page, jupyter):
    open_rise(page, jupyter, RUN_IN_RISE)
    assert page.evaluate(RAW_DOLLARS) == 0
    assert page.evaluate(BODY_PX) >= MIN_BODY_PX
    assert page.evaluate("() => getComputedStyle(document.querySelector('.reveal h1')).textTransform") == "none"
    shot(page, f"rise_{RUN_IN_RISE}_first_slide")
    for _ in range(20):  # move on (Space, as a lecturer would) to the first slide with code
        if page.evaluate(PRESENT_HAS_CODE):
            break
        page.keyboard.press("Space")
        page.wait_for_timeout(300)
    editor = page.locator(".reveal section.present:not(:has(section)) .jp-CodeCell .cm-content").first
    editor.click()
    page.keyboard.press("Control+Enter")  # run in place (Shift+Enter would also move on)
    output = page.locator(".reveal .jp-CodeCell .jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    assert "quick mode: True" in output.inner_text(timeout=60_000)
    assert output.evaluate("e => parseFloat(getComputedStyle(e.querySelector('pre') || e).fontSize)") >= 18
    shot(page, f"rise_{RUN_IN_RISE}_after_running_a_cell")
    stored = jupyter["root"] / "notebooks" / f"{RUN_IN_RISE}.ipynb"
    before = stored.stat().st_mtime_ns
    page.keyboard.press("Control+s")  # what autosave also does: the file is written, outputs dropped
    for _ in range(100):
        if stored.stat().st_mtime_ns != before:
            break
        page.wait_for_timeout(100)
    assert stored.stat().st_mtime_ns != before, "Ctrl+S in the slideshow did not save the notebook"
    saved = json.loads(stored.read_text())
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in saved["cells"] if c["cell_type"] == "code")
    assert non_local(page.requests, jupyter["base"]) == []


PROGRESS_CELL = """import torch
from vae_course import train
model, x = torch.nn.Linear(2, 1), torch.randn(256, 2)
history = train.fit(model, lambda m, b, s: ((m(b) ** 2).mean(), {}), x, steps=3000, batch_size=32)
print("trained", len(history.steps))"""


def test_rise_progress_bar_moves_while_training(page, jupyter):
    """train.fit's bar counts steps inside the slideshow (a widget bar stayed at 0% there)."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}, "rise": {"theme": "white"}})
    nb.cells = [nbformat.v4.new_code_cell(PROGRESS_CELL, metadata={"slideshow": {"slide_type": "slide"}})]
    nbformat.write(nb, jupyter["root"] / "notebooks" / "progress_check.ipynb")  # beside rise.css
    page.goto(f"{jupyter['base']}/rise/notebooks/progress_check.ipynb?token={jupyter['token']}")
    page.locator(".reveal .cm-content").first.click()
    page.keyboard.press("Control+Enter")
    counts, text = [], ""  # the step counts the bar showed ("1234/3000"), polled until training ends
    for _ in range(1200):
        text = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText).join()")
        moving = [int(n) for n in re.findall(r"(\d+)/3000", text) if 0 < int(n) < 3000]
        if moving and not counts:
            shot(page, "rise_progress_bar")
        counts += moving
        if "trained" in text:
            break
        page.wait_for_timeout(100)
    assert "trained 301" in text, text  # steps 0, 10, ..., 2990 and the last, 2999
    assert counts, "the bar never showed a step count between 0 and 3000 while training ran"


@pytest.mark.parametrize("name", [p.stem for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))])
def test_rise_slides_fit_the_window(page, jupyter, name):
    open_rise(page, jupyter, name)
    assert page.evaluate(BODY_PX) >= MIN_BODY_PX
    measured = page.evaluate(MEASURE_SLIDES)
    too_tall = [(s["index"], s["title"], s["height"]) for s in measured["slides"] if s["height"] > measured["height"]]
    too_wide = [(s["index"], s["title"]) for s in measured["slides"] if s["wide"]]
    if too_tall or too_wide:
        shot(page, f"rise_{name}_overflow")
    assert not too_tall, f"slides taller than the {measured['height']} px window: {too_tall}"
    assert not too_wide, f"slides with lines wider than the window: {too_wide}"


def test_saving_a_course_notebook_writes_it_without_outputs(jupyter):
    """The server's pre-save hook (lab.OPTIONS): what autosave writes after a cell ran in a
    slideshow is the stored notebook, outputs and execution counts dropped."""
    path = jupyter["root"] / "notebooks" / f"{RUN_IN_RISE}.ipynb"
    nb = json.loads(path.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "quick mode: True\n"}]
    code["execution_count"] = 1
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    request = urllib.request.Request(f"{jupyter['base']}/api/contents/notebooks/{path.name}?token={jupyter['token']}",
                                     data=body, method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30)
    saved = json.loads(path.read_text())
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in saved["cells"] if c["cell_type"] == "code")
    assert [c["source"] for c in saved["cells"]] == [c["source"] for c in json.loads(
        (REPO / "notebooks" / path.name).read_text())["cells"]]
