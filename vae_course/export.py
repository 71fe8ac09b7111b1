"""Static copies of the course that read offline: ``python3 -m vae_course export [NN ...] [--quick]``.

Each notebook is executed (in quick mode with ``--quick``) and written under ``build/``:

- ``NN_name.html``: the notebook with its outputs (nbconvert's lab page),
- ``NN_name.slides.html``: its reveal.js deck (nbconvert's reveal template, one ``<section>``
  per slide cell),
- ``index.html``: the README's course table, linking both,
- ``assets/``: MathJax 2 (the files of the jupyter-server-mathjax wheel) and reveal.js (those of
  the sphinx-revealjs wheel), copied next to the pages.

The templates in ``vae_course/templates/`` point every script and style sheet at ``assets/``
and leave out what nbconvert would fetch from CDNs (require.js, jQuery, mermaid), so a page or a
deck opened from ``file://`` requests nothing off the machine. Every page is written whole or
not at all (``files.write_text_atomic``), so an interrupted export leaves no half-written page.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from vae_course import files

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
BUILD = REPO / "build"
TEMPLATES = Path(__file__).resolve().parent / "templates"
MATHJAX_URL = "assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
REVEAL_URL = "assets/reveal.js"
DECK_CSS = "assets/course_deck.css"
# The size the deck is laid out at; reveal.js scales it to the window (1 at 1280x800).
DECK_SIZE = ("1280", "800")


class ExportError(RuntimeError):
    """Raised after the export when some notebooks failed to execute (the others are written)."""


def notebook_paths(numbers: list[str] | None = None) -> list[Path]:
    """The course notebooks ``notebooks/NN_*.ipynb`` for the given two-digit ``numbers``
    (all of them when ``numbers`` is empty or None), in course order."""
    every = {p.name[:2]: p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    if not numbers:
        return list(every.values())
    unknown = [n for n in numbers if n.zfill(2) not in every]
    if unknown:
        raise ValueError(f"numbers must name course notebooks ({', '.join(every)}), got {unknown}")
    return [every[n] for n in sorted({n.zfill(2) for n in numbers})]


def _package_dir(package: str, *parts: str) -> Path:
    try:
        return Path(str(resources.files(package).joinpath(*parts)))
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the export needs the Python package {package!r}; "
            "`python3 -m vae_course setup` installs it with the rest of the course") from None


def copy_assets(build: Path) -> None:
    """Copy MathJax, reveal.js and the deck's style sheet into ``build/assets``."""
    assets = build / "assets"
    shutil.copytree(_package_dir("jupyter_server_mathjax", "static"), assets / "mathjax", dirs_exist_ok=True)
    shutil.copytree(_package_dir("sphinx_revealjs", "_static", "revealjs"), assets / "reveal.js",
                    dirs_exist_ok=True)
    shutil.copy2(TEMPLATES / "course_deck.css", assets / "course_deck.css")


def execute(path: Path, quick: bool):
    """Run every cell of the notebook at ``path`` in a fresh kernel started in ``notebooks/``
    and return the notebook with its outputs; a progress bar's ``\\r`` redraws are collapsed
    to the final text, as JupyterLab shows it."""
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "VAE_COURSE_QUICK": "1" if quick else "0"}
    # The kernel of this very Python (ipykernel's native spec), never a "python3" kernelspec
    # of another environment that a user-level Jupyter folder may hold.
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    NotebookClient(nb, km=km, timeout=None, resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    return nb


def _exporter(kind: str, theme: str = "white"):
    from nbconvert import HTMLExporter, SlidesExporter

    # Templates are looked up as folders of TEMPLATES (course_page, course_deck) and, for the
    # shared MathJax macro, in TEMPLATES itself.
    where = {"extra_template_basedirs": [str(TEMPLATES)], "extra_template_paths": [str(TEMPLATES)]}
    if kind == "page":
        return HTMLExporter(template_name="course_page", mathjax_url=MATHJAX_URL, **where)
    return SlidesExporter(template_name="course_deck", mathjax_url=MATHJAX_URL, reveal_url_prefix=REVEAL_URL,
                          reveal_theme=theme, reveal_width=DECK_SIZE[0], reveal_height=DECK_SIZE[1], **where)


def write_page_and_deck(nb, name: str, build: Path) -> list[Path]:
    """Write ``build/<name>.html`` and ``build/<name>.slides.html`` from an executed notebook."""
    page, _ = _exporter("page").from_notebook_node(nb, resources={"metadata": {"name": name}})
    theme = nb.metadata.get("rise", {}).get("theme", "white")
    deck, _ = _exporter("deck", theme).from_notebook_node(
        nb, resources={"metadata": {"name": name}, "deck_css": DECK_CSS})
    return [files.write_text_atomic(build / f"{name}.html", page),
            files.write_text_atomic(build / f"{name}.slides.html", deck)]


def course_table(readme: str, built: set[str]) -> str:
    """The README's course table (from its "## The course" section) with each notebook link
    pointing at its exported page, plus a link to its deck; notebooks in ``built`` only."""
    section = readme.split("\n## The course\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))

    def link(m: re.Match) -> str:
        title, name = m[1], m[2]
        if name not in built:
            return f"{title} (not exported yet)"
        return f"[{title}]({name}.html) ([slides]({name}.slides.html))"

    return re.sub(r"\[([^\]]+)\]\(notebooks/([0-9]{2}_[^)]+)\.ipynb\)", link, table)


def write_index(build: Path) -> Path:
    """Write ``build/index.html``: the course table linking every page found in ``build``."""
    import nbformat

    built = {p.name[:-len(".slides.html")] for p in build.glob("[0-9][0-9]_*.slides.html")}
    text = ("# vae-course\n\nFrom PCA to hierarchically factorized VAEs: each notebook as a page with "
            "its outputs, and as slides.\n\n" + course_table((REPO / "README.md").read_text(), built))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    page, _ = _exporter("page").from_notebook_node(nb, resources={"metadata": {"name": "vae-course"}})
    return files.write_text_atomic(build / "index.html", page)


def export(numbers: list[str] | None = None, quick: bool = False, build: Path = BUILD) -> list[Path]:
    """Execute the chosen notebooks and write their pages, decks, the index and the assets
    under ``build``; return the pages and decks written, in course order."""
    from nbclient.exceptions import CellExecutionError

    paths = notebook_paths(numbers)
    build.mkdir(parents=True, exist_ok=True)
    copy_assets(build)
    written, failed = [], []
    for path in paths:
        print(f"[vae-course] executing {path.name}{' (quick mode)' if quick else ''}", flush=True)
        try:
            written += write_page_and_deck(execute(path, quick), path.stem, build)
        except CellExecutionError as err:  # say which cell failed, and go on with the others
            failed.append(path.name)
            print(f"[vae-course] {path.name}: a cell failed, no page written for it.\n{err}", file=sys.stderr)
    write_index(build)
    if failed:
        raise ExportError(f"{len(failed)} of {len(paths)} notebooks failed ({', '.join(failed)}); "
                          "the others were written")
    return written
