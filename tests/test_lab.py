"""The ``lab`` command's save hook and the ``export`` command's pure parts (no browser, no kernel)."""
from types import SimpleNamespace

import pytest

from vae_course import export, lab


def _model(outputs):
    cell = {"cell_type": "code", "source": "1 + 1", "outputs": outputs, "execution_count": 3,
            "metadata": {"execution": {"iopub.status.busy": "..."}, "slideshow": {"slide_type": "-"}}}
    meta = {"language_info": {"name": "python", "version": "3.11.9", "codemirror_mode": {"name": "ipython"}}}
    return {"type": "notebook", "content": {"cells": [cell], "metadata": meta}}


def test_save_hook_strips_outputs_of_course_notebooks_only():
    outputs = [{"output_type": "execute_result", "data": {"text/plain": "2"}, "execution_count": 3, "metadata": {}}]
    course = _model(list(outputs))
    lab.strip_outputs(course, path="notebooks/05_elbo.ipynb")
    cell = course["content"]["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"] == {"slideshow": {"slide_type": "-"}}
    assert course["content"]["metadata"]["language_info"] == {"name": "python"}
    own = _model(list(outputs))
    lab.strip_outputs(own, path="my_experiments/05_elbo.ipynb")
    assert own["content"]["cells"][0]["outputs"] == outputs


def test_lab_installs_the_hook_by_its_import_path():
    (option,) = lab.OPTIONS
    module, name = option.split("=", 1)[1].rsplit(".", 1)
    assert module == lab.__name__ and getattr(lab, name) is lab.strip_outputs


def test_export_names_unknown_notebooks():
    with pytest.raises(ValueError, match=r"numbers must name course notebooks .* got \['99'\]"):
        export.notebook_paths(["99"])
    assert [p.name[:2] for p in export.notebook_paths(["5", "01"])] == ["01", "05"]


def test_course_table_links_exported_pages_and_decks():
    readme = ("# vae-course\n\n## The course\n\n| # | notebook |\n|---|---|\n| 05 | [the ELBO](notebooks/05_elbo.ipynb) |\n"
              "| 06 | [reparameterization](notebooks/06_reparameterization.ipynb) |\n\n## Next\n")
    table = export.course_table(readme, built={"05_elbo"}).splitlines()
    assert table[2] == "| 05 | [the ELBO](05_elbo.html) ([slides](05_elbo.slides.html)) |"
    assert table[3] == "| 06 | reparameterization (not exported yet) |"


def test_cli_export_says_which_notebook_is_unknown_without_a_traceback(capsys):
    from vae_course import cli
    assert cli.main(["export", "99", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "numbers must name course notebooks" in err and "['99']" in err and "Traceback" not in err


def test_export_leaves_no_part_file_when_a_page_fails_to_write(tmp_path, monkeypatch):
    class Exporter:  # nbconvert's place: the page converts, the deck holds text UTF-8 cannot encode
        def __init__(self, kind):
            self.text = "<html>page</html>" if kind == "page" else "<html>\ud800</html>"

        def from_notebook_node(self, nb, resources):
            return self.text, {}

    monkeypatch.setattr(export, "_exporter", lambda kind, theme="white": Exporter(kind))
    with pytest.raises(UnicodeEncodeError):
        export.write_page_and_deck(SimpleNamespace(metadata={}), "05_elbo", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["05_elbo.html"]
