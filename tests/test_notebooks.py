"""Notebooks are stored clean and shaped like lectures (nbval executes them separately)."""
import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def load(path):
    return json.loads(path.read_text())


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_course_has_its_notebooks_in_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 5, [p.name for p in NOTEBOOKS]


def test_readme_and_welcome_list_every_notebook():
    readme = (REPO / "README.md").read_text()
    welcome = "".join(source(c) for c in load(REPO / "notebooks" / "00_welcome.ipynb")["cells"])
    for path in NOTEBOOKS[1:]:
        assert f"(notebooks/{path.name})" in readme, f"README's course table has no link to {path.name}"
        assert f"| {path.name[:2]} |" in welcome, f"notebook 00's path table has no row {path.name[:2]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, source(cell)[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_presents_as_slides(path):
    nb = load(path)
    assert nb["metadata"]["rise"]["theme"] == "white"  # no web fonts requested offline
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    types = [c["metadata"].get("slideshow", {}).get("slide_type") for c in nb["cells"]]
    assert set(types) <= SLIDE_TYPES, f"cells without slide metadata in {path.name}"
    assert types[0] == "slide" and types.count("slide") >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_goals_and_closes_with_summary_and_exercises(path):
    cells = load(path)["cells"]
    first = source(cells[0])
    assert first.startswith(f"# {path.name[:2]}") and "Learning goals" in first
    assert "Builds on" in first or path.name.startswith("00")
    markdown = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    assert "## Summary" in markdown or path.name.startswith("00")
    exercise = sorted((REPO / "solutions").glob(f"ex{path.name[:2]}_*.py"))
    if exercise:
        assert "## Exercises" in markdown and f"exercises/{exercise[0].name}" in markdown
        assert f"python3 -m vae_course check {path.name[:2]}" in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_stay_short_and_import_their_helpers(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        assert len(text.splitlines()) <= 20, f"{path.name}: a code cell of {len(text.splitlines())} lines"
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", text, flags=re.M))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.ClassDef), f"{path.name}: class {node.name} belongs in vae_course/"
            if isinstance(node, ast.FunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 8, f"{path.name}: function {node.name} ({length} lines) belongs in vae_course/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_hints_point_at_existing_sections(path):
    headings = {m.strip() for c in load(path)["cells"] if c["cell_type"] == "markdown"
                for m in re.findall(r"^#+ (.+)$", source(c), flags=re.M)}
    for solution in (REPO / "solutions").glob("ex*.py"):  # a task may be taught in a later notebook
        for number, hint in re.findall(r'# BEGIN SOLUTION see notebook (\d\d), section "([^"]+)"', solution.read_text()):
            if number == path.name[:2]:
                assert hint in headings, f"{solution.name} points at section {hint!r}, not a heading of {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_a_slide(path):
    """Code lines wrap on a 1280x800 slide past about 110 characters: keep them within 100."""
    wide = [line for cell in load(path)["cells"] if cell["cell_type"] == "code"
            for line in source(cell).splitlines() if len(line) > 100]
    assert not wide, f"{path.name}: {len(wide)} code lines over 100 characters, e.g. {wide[0]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ends_with_references_a_learner_can_follow(path):
    """The last markdown cells hold a References section whose entries carry a link."""
    cells = [source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    at = [i for i, text in enumerate(cells) if re.search(r"^#+\s*References", text, re.M)]
    assert at, f"{path.name} has no References section"
    refs = "\n".join(cells[at[-1]:])
    refs = refs[re.search(r"^#+\s*References", refs, re.M).end():]
    # an entry is a list item with its indented continuation lines
    entries = re.split(r"\n(?=\s{0,3}(?:[-*]|\d+\.)\s)", "\n" + refs)
    entries = [e.strip() for e in entries if re.match(r"\s{0,3}(?:[-*]|\d+\.)\s", e)]
    assert entries, f"{path.name}: the References section lists no entries"
    for entry in entries:
        assert re.search(r"https?://|doi\.org|arxiv\.org", entry), f"{path.name}: a reference without a link: {entry[:120]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_as_jupyter_writes_it(path):
    """Stored byte for byte as JupyterLab saves it (nbformat's sorted keys), so that opening and
    saving a course notebook leaves `git status` clean."""
    nb = nbformat.read(path, as_version=4)
    text = nbformat.writes(nb)
    assert path.read_text(encoding="utf-8") == (text if text.endswith("\n") else text + "\n"), \
        f"{path.name}: rewrite it with nbformat.write(nbformat.read(path, 4), path)"
