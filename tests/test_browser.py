"""The lecturer's path in a real browser: Debian's Chromium, driven by Playwright for Python.

- The offline copies (``python3 -m vae_course export``): a deck and a page opened from
  ``file://`` typeset their maths, show their figures, have one slide per slide cell, and
  request nothing off the machine.
- The course in JupyterLab, started by ``lab.lab_command`` (what ``python3 -m vae_course lab``
  runs) on a copy of the course, on 127.0.0.1 with a token: it opens notebook 00 at the
  course's root (the file browser lists notebooks/, exercises/, README.md) without the news
  prompt; an exercise opens from the file browser and saves an edit; a cell run in the
  notebook, then Ctrl+S, leaves the stored notebook without outputs; no request leaves
  127.0.0.1, neither from the page nor from the server and its kernels (a socket audit hook).
- The live slides, at ``/rise/notebooks/NN_name.ipynb``: the maths is typeset, text reads at
  24 px, no slide is taller than the 1280x800 window, a code cell runs in the slideshow, and
  Ctrl+S there writes the notebook without outputs.

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


# What the server must have beside the command itself: the course's files (a copy, so that a
# failing save hook cannot dirty the repository).
COURSE_FILES = ["notebooks", "exercises", "solutions", "vae_course", "README.md", "pyproject.toml"]
# Loaded by the server and its kernels through PYTHONPATH: logs every host they resolve or
# connect to, so that a request the server makes for the page (news, updates) is seen too.
SOCKET_AUDIT = """import os, sys
def _audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        address = args[1] if event == "socket.connect" else args
        host = address[0] if isinstance(address, tuple) else address
        with open(os.environ["VAE_COURSE_SOCKET_LOG"], "a") as log:
            log.write(f"{event} {host!r}\\n")
sys.addaudithook(_audit)
"""
LOCAL_HOSTS = {"'127.0.0.1'", "'localhost'", "'::1'", "b'127.0.0.1'", "b'localhost'"}


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """JupyterLab started by ``lab.lab_command``, the code ``python3 -m vae_course lab`` runs, on a
    copy of the course, with only what a headless test must add as extra arguments (no
    browser, 127.0.0.1, a free port, a token). Yields the server's URL, token, root, and the
    non-local hosts its processes reached for (``offsite()``)."""
    root = tmp_path_factory.mktemp("course")
    for name in COURSE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, root / name)
    audit = tmp_path_factory.mktemp("socket-audit")
    (audit / "sitecustomize.py").write_text(SOCKET_AUDIT)
    sockets = audit / "sockets.log"
    port, token = _free_port(), secrets.token_hex(16)
    headless = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    argv, lab_env = lab.lab_command(Path(sys.executable), root, headless)
    # A new learner's JupyterLab: no workspace or settings of the tester's own (kept out of ~/.jupyter).
    profile = tmp_path_factory.mktemp("jupyterlab-profile")
    env = {**os.environ, **lab_env, "VAE_COURSE_QUICK": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(audit), lab_env["PYTHONPATH"]]), "VAE_COURSE_SOCKET_LOG": str(sockets),
           "JUPYTERLAB_WORKSPACES_DIR": str(profile / "workspaces"), "JUPYTERLAB_SETTINGS_DIR": str(profile / "settings")}
    log = open(audit / "server.log", "w")
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def offsite() -> list[str]:
        lines = sockets.read_text().splitlines() if sockets.exists() else []
        return sorted({line for line in lines if line.split(" ", 1)[1] not in LOCAL_HOSTS})

    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(audit / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "root": root, "offsite": offsite}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # seen once, stuck in "Shutting down 7 extensions"
            server.kill()
            server.wait(timeout=30)
        log.close()


def wait_for_save(page, stored: Path, before: int) -> dict:
    """Press Ctrl+S (what autosave also does) and return the notebook as written on disk."""
    page.keyboard.press("Control+s")
    for _ in range(100):
        if stored.stat().st_mtime_ns != before:
            break
        page.wait_for_timeout(100)
    assert stored.stat().st_mtime_ns != before, f"Ctrl+S did not save {stored.name}"
    return json.loads(stored.read_text())


def has_no_outputs(nb: dict) -> bool:
    return all(c["outputs"] == [] and c["execution_count"] is None for c in nb["cells"] if c["cell_type"] == "code")


def wait_for_kernel(jupyter, path: str) -> None:
    """Wait until the page's kernel for ``path`` is connected and idle (a cell run before
    that does not run, in the notebook as in a slideshow)."""
    api = f"{jupyter['base']}/api/%s?token={jupyter['token']}"
    for _ in range(240):
        sessions = json.load(urllib.request.urlopen(api % "sessions", timeout=10))
        kernel = next((s["kernel"] for s in sessions if s["path"] == path), None)
        if kernel and kernel["connections"] > 0 and kernel["execution_state"] == "idle":
            return
        time.sleep(0.5)
    pytest.fail(f"no connected, idle kernel for {path} after 120 s: {sessions}")


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
    wait_for_kernel(jupyter, f"notebooks/{RUN_IN_RISE}.ipynb")
    editor = page.locator(".reveal section.present:not(:has(section)) .jp-CodeCell .cm-content").first
    editor.click()
    page.keyboard.press("Control+Enter")  # run in place (Shift+Enter would also move on)
    output = page.locator(".reveal .jp-CodeCell .jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    assert "quick mode: True" in output.inner_text(timeout=60_000)
    assert output.evaluate("e => parseFloat(getComputedStyle(e.querySelector('pre') || e).fontSize)") >= 18
    shot(page, f"rise_{RUN_IN_RISE}_after_running_a_cell")
    stored = jupyter["root"] / "notebooks" / f"{RUN_IN_RISE}.ipynb"
    assert has_no_outputs(wait_for_save(page, stored, stored.stat().st_mtime_ns))
    assert output.is_visible()  # the slideshow keeps showing what ran
    assert non_local(page.requests, jupyter["base"]) == []
    assert jupyter["offsite"]() == []


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
    wait_for_kernel(jupyter, "notebooks/progress_check.ipynb")
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


def _put(jupyter, path: str, nb: dict) -> None:
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    request = urllib.request.Request(f"{jupyter['base']}/api/contents/{path}?token={jupyter['token']}",
                                     data=body, method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30)


def test_saving_a_course_notebook_writes_it_without_outputs_and_a_learners_own_with_them(jupyter):
    """The server's pre-save hook (lab.OPTIONS): what autosave writes after a cell ran in a
    slideshow is the stored notebook, outputs and execution counts dropped; a notebook of the
    learner's own, at the course's root, keeps its outputs."""
    path = jupyter["root"] / "notebooks" / f"{RUN_IN_RISE}.ipynb"
    nb = json.loads(path.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "quick mode: True\n"}]
    code["execution_count"] = 1
    _put(jupyter, f"notebooks/{path.name}", nb)
    saved = json.loads(path.read_text())
    assert has_no_outputs(saved)
    assert [c["source"] for c in saved["cells"]] == [c["source"] for c in json.loads(
        (REPO / "notebooks" / path.name).read_text())["cells"]]
    _put(jupyter, "my_elbo_notes.ipynb", nb)
    own = json.loads((jupyter["root"] / "my_elbo_notes.ipynb").read_text())
    (kept,) = next(c for c in own["cells"] if c["cell_type"] == "code")["outputs"]
    assert "".join(kept["text"]) == "quick mode: True\n"  # stored as a list of lines


def open_lab(page, jupyter) -> None:
    """The URL ``lab`` opens (and prints): the server's address, which leads to notebook 00."""
    page.goto(f"{jupyter['base']}/?token={jupyter['token']}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)


def listing_at_root(page) -> list[str]:
    """Go to the server's root in the file browser (after it has followed the opened notebook
    into notebooks/) and return the names it lists."""
    page.locator(".jp-DirListing-item", has_text="00_welcome.ipynb").first.wait_for(timeout=30_000)
    page.locator(".jp-BreadCrumbs-home").click()
    page.locator(".jp-DirListing-item", has_text="README.md").first.wait_for(timeout=30_000)
    return page.locator(".jp-DirListing-item .jp-DirListing-itemText").all_inner_texts()


def test_lab_opens_notebook_00_at_the_course_root_offline_without_the_news_prompt(page, jupyter):
    open_lab(page, jupyter)
    assert page.url.split("?")[0] == f"{jupyter['base']}/lab/tree/notebooks/00_welcome.ipynb"
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel").first
    assert tab.inner_text() == "00_welcome.ipynb"
    names = listing_at_root(page)
    assert {"notebooks", "exercises", "README.md"} <= set(names), names
    # The settings the page works with: the user's own, else the defaults the server sends.
    settings = page.evaluate("""async () => {
      const r = await (await fetch('/lab/api/settings/@jupyterlab/apputils-extension:notification')).json();
      const value = k => k in r.settings ? r.settings[k] : r.schema.properties[k].default;
      return {fetchNews: value('fetchNews'), checkForUpdates: value('checkForUpdates')};
    }""")
    assert settings == {"fetchNews": "false", "checkForUpdates": False}
    page.wait_for_timeout(5000)  # the prompt comes, if at all, once the page's settings are in
    shot(page, "lab_opened_at_the_course_root")
    assert page.get_by_text("official Jupyter news").count() == 0
    assert page.locator(".jp-Notification-Toast, .Toastify__toast").count() == 0
    assert non_local(page.requests, jupyter["base"]) == []
    assert jupyter["offsite"]() == []


def test_an_exercise_opens_from_the_file_browser_and_saves_an_edit(page, jupyter):
    open_lab(page, jupyter)
    listing_at_root(page)
    page.locator(".jp-DirListing-item", has_text="exercises").first.dblclick()
    page.locator(".jp-DirListing-item", has_text="ex01_pca.py").first.wait_for(timeout=30_000)
    page.locator(".jp-DirListing-item", has_text="ex01_pca.py").first.dblclick()
    editor = page.locator(".jp-FileEditor .cm-content").first
    editor.wait_for(timeout=30_000)
    assert "NotImplementedError" in editor.inner_text()
    shot(page, "lab_exercise_ex01_open")
    stored = jupyter["root"] / "exercises" / "ex01_pca.py"
    before = stored.read_text()
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\n# edited in the browser\n")
    mtime = stored.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    for _ in range(100):
        if stored.stat().st_mtime_ns != mtime:
            break
        page.wait_for_timeout(100)
    assert stored.read_text().startswith(before.rstrip("\n")) and "# edited in the browser" in stored.read_text()
    assert non_local(page.requests, jupyter["base"]) == []


def test_running_a_cell_and_saving_in_the_notebook_writes_it_without_outputs(page, jupyter):
    page.goto(f"{jupyter['base']}/lab/tree/notebooks/{RUN_IN_RISE}.ipynb?token={jupyter['token']}")
    page.wait_for_function("() => document.title.includes('{RUN_IN_RISE}.ipynb')".replace("{RUN_IN_RISE}", RUN_IN_RISE),
                           timeout=120_000)
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Cell").first.wait_for(timeout=120_000)
    wait_for_kernel(jupyter, f"notebooks/{RUN_IN_RISE}.ipynb")
    code = panel.locator(".jp-CodeCell .cm-content").first
    code.click()
    page.keyboard.press("Control+Enter")
    output = panel.locator(".jp-CodeCell .jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    assert "quick mode: True" in output.inner_text(timeout=60_000)
    shot(page, f"lab_{RUN_IN_RISE}_after_running_a_cell")
    stored = jupyter["root"] / "notebooks" / f"{RUN_IN_RISE}.ipynb"
    assert has_no_outputs(wait_for_save(page, stored, stored.stat().st_mtime_ns))
    assert output.is_visible()  # the open notebook keeps showing what ran
    assert non_local(page.requests, jupyter["base"]) == []
    assert jupyter["offsite"]() == []
