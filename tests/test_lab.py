"""The ``lab`` command's launch line and save hook, and the ``export`` command's pure parts
(no browser, no kernel)."""
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from vae_course import export, lab


def _model(outputs):
    cell = {"cell_type": "code", "source": "1 + 1", "outputs": outputs, "execution_count": 3,
            "metadata": {"execution": {"iopub.status.busy": "..."}, "slideshow": {"slide_type": "-"}}}
    meta = {"language_info": {"name": "python", "version": "3.11.9", "codemirror_mode": {"name": "ipython"}}}
    return {"type": "notebook", "content": {"cells": [cell], "metadata": meta}}


OUTPUTS = [{"output_type": "execute_result", "data": {"text/plain": "2"}, "execution_count": 3, "metadata": {}}]


class FakeContentsManager:
    """What the hook reads of jupyter_server's contents manager: the directory it serves."""

    def __init__(self, root_dir):
        self.root_dir = str(root_dir)


def _save(path, root_dir):
    model = _model(list(OUTPUTS))
    lab.strip_outputs(model, path=path, contents_manager=FakeContentsManager(root_dir))
    return model


@pytest.mark.parametrize("root_dir,path", [(lab.REPO, "notebooks/05_elbo.ipynb"),
                                           (lab.REPO, "/notebooks/05_elbo.ipynb"),
                                           (lab.REPO / "notebooks", "05_elbo.ipynb"),
                                           (lab.REPO / "exercises", "../notebooks/05_elbo.ipynb")],
                         ids=["root-at-repo", "leading-slash", "root-at-notebooks", "root-elsewhere"])
def test_save_hook_strips_a_course_notebook_whatever_the_server_root(root_dir, path):
    model = _save(path, root_dir)
    cell = model["content"]["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"] == {"slideshow": {"slide_type": "-"}}
    assert model["content"]["metadata"]["language_info"] == {"name": "python"}


def test_save_hook_strips_through_a_symbolic_link_to_the_course(tmp_path):
    (tmp_path / "course").symlink_to(lab.REPO, target_is_directory=True)
    assert _save("course/notebooks/05_elbo.ipynb", tmp_path)["content"]["cells"][0]["outputs"] == []


@pytest.mark.parametrize("root_dir,path", [(lab.REPO, "my_experiments/05_elbo.ipynb"),
                                           (lab.REPO, "05_elbo.ipynb"),
                                           (lab.REPO, "notebooks/my_elbo.ipynb"),
                                           (lab.REPO / "notebooks", "notebooks/05_elbo.ipynb"),
                                           ("/tmp/a-copy-of-the-course", "notebooks/05_elbo.ipynb")],
                         ids=["own-folder", "repo-root", "own-name-in-notebooks", "nested-notebooks",
                              "another-copy"])
def test_save_hook_keeps_the_outputs_of_a_learners_own_notebook(root_dir, path):
    assert _save(path, root_dir)["content"]["cells"][0]["outputs"] == OUTPUTS


def test_save_hook_leaves_other_files_alone():
    model = {"type": "file", "format": "text", "content": "x = 1\n"}
    lab.strip_outputs(model, path="notebooks/05_elbo.ipynb", contents_manager=FakeContentsManager(lab.REPO))
    assert model == {"type": "file", "format": "text", "content": "x = 1\n"}


def test_lab_installs_the_hook_by_its_import_path():
    (option,) = [o for o in lab.OPTIONS if "pre_save_hook" in o]
    module, name = option.split("=", 1)[1].rsplit(".", 1)
    assert module == lab.__name__ and getattr(lab, name) is lab.strip_outputs


def _option(argv, name):
    (value,) = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    return value


def test_lab_command_serves_the_course_root_opens_notebook_00_and_passes_extra_last(tmp_path, monkeypatch):
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000, raising=False)
    python = Path(sys.executable)
    argv, env = lab.lab_command(python, tmp_path, ["--no-browser", "--port", "9999"])
    assert argv[:4] == [str(python), "-m", "jupyter", "lab"]
    assert _option(argv, "ServerApp.root_dir") == str(tmp_path)
    assert _option(argv, "LabApp.default_url") == "/lab/tree/notebooks/00_welcome.ipynb"
    assert (lab.REPO / lab.FIRST_NOTEBOOK).is_file()
    assert not any(a.endswith(".ipynb") and not a.startswith("--") for a in argv), argv  # no file argument
    assert argv[-3:] == ["--no-browser", "--port", "9999"] and "--allow-root" not in argv
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(Path(sys.prefix) / "share" / "jupyter")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)  # the served course's own package
    config = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    assert config == tmp_path / "build" / "jupyter-config"
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0, raising=False)
    assert lab.lab_command(python, tmp_path, ["--port", "9999"])[0][-3:] == ["--port", "9999", "--allow-root"]
    assert lab.lab_command(python, tmp_path, ["--allow-root"])[0].count("--allow-root") == 1


def test_lab_command_turns_jupyterlabs_news_and_update_check_off(tmp_path):
    from jupyterlab.handlers.announcements import CheckForUpdateABC
    from jupyterlab.labapp import LabApp
    from traitlets.utils.importstring import import_item

    argv, env = lab.lab_command(Path(sys.executable), tmp_path, [])
    assert LabApp.class_traits()["news_url"].from_string(_option(argv, "LabApp.news_url")) is None
    checker = import_item(_option(argv, "LabApp.check_for_updates_class"))
    assert issubclass(checker, CheckForUpdateABC) and asyncio.run(checker("4.6.6")()) is None
    # The page's default settings, read as jupyterlab_server reads them, in a process that has
    # the command's JUPYTER_CONFIG_PATH.
    code = ("import json; from jupyterlab_server.settings_utils import _get_overrides; "
            "print(json.dumps(_get_overrides('/nonexistent')[0]))")
    overrides = json.loads(subprocess.check_output(
        [sys.executable, "-c", code], text=True, env={**os.environ, "JUPYTER_CONFIG_PATH": env["JUPYTER_CONFIG_PATH"]}))
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false",
                                                                       "checkForUpdates": False}
    assert [p.name for p in (tmp_path / "build" / "jupyter-config" / "labconfig").iterdir()] == [
        "default_setting_overrides.json"]  # written whole, no partial file left


def test_lab_command_rejects_extra_that_is_not_a_list_of_strings(tmp_path):
    with pytest.raises(TypeError, match=r"extra must be a list of str .* got '--port 9999'"):
        lab.lab_command(Path(sys.executable), tmp_path, "--port 9999")


def test_cli_lab_runs_the_command_lab_command_builds(monkeypatch, capsys):
    from vae_course import cli
    calls = []
    monkeypatch.setattr(cli, "ensure_environment", lambda: Path(sys.executable))
    monkeypatch.setattr(cli, "_run", lambda python, args, env=None: calls.append((python, args, env)) or 0)
    monkeypatch.setattr(lab, "write_settings", lambda repo: Path(repo) / lab.CONFIG_DIR)  # nothing written
    assert cli.main(["lab", "--port", "9999"]) == 0
    (python, args, env), = calls
    assert ([str(python), *args], env) == lab.lab_command(Path(sys.executable), cli.REPO, ["--port", "9999"])
    assert _option(args, "ServerApp.root_dir") == str(cli.REPO)


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
