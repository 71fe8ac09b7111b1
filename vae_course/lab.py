"""How ``python3 -m vae_course lab`` starts JupyterLab: at the course's root, offline, and
with course notebooks saved clean.

``lab_command`` builds the command line for both the ``lab`` command and the browser tests:
JupyterLab serves the repository (``notebooks/``, ``exercises/``, ``README.md`` in its file
browser, RISE slides at ``/rise/notebooks/NN_name.ipynb``) and opens notebook 00 first.

Running cells, in the notebook or in a RISE slideshow, lets JupyterLab's autosave write
outputs into ``notebooks/NN_*.ipynb``, which the course stores without outputs (a test
checks). ``strip_outputs`` is installed as the server's ``pre_save_hook``: every save of a
course notebook, recognised by where the file is on disk whatever the server's root, drops
its outputs and execution counts before the file is written, while the open notebook keeps
showing them. Other notebooks (a learner's own) are saved as they are.

The course runs offline: JupyterLab's news feed and update check (requests to
jupyterlab.github.io and pypi.org, and the "get notified about official Jupyter news?"
prompt) are switched off in the server (``OPTIONS``) and in the page's default settings
(``SETTINGS``, written where ``JUPYTER_CONFIG_PATH`` points the server).
Standard library only: the course's ``lab`` command imports this before any install.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from vae_course.files import write_text_atomic

REPO = Path(__file__).resolve().parent.parent
COURSE_NOTEBOOK = re.compile(r"[0-9]{2}_[^/\\]+\.ipynb")
FIRST_NOTEBOOK = "notebooks/00_welcome.ipynb"
OPTIONS = ["--ContentsManager.pre_save_hook=vae_course.lab.strip_outputs",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
# Default settings of JupyterLab's plugins (a learner's own choices in Settings still win).
SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                            "checkForUpdates": False}}
CONFIG_DIR = Path("build") / "jupyter-config"  # under the course's root; build/ is not tracked


def is_course_notebook(path: str, root_dir: str) -> bool:
    """Whether ``path`` (a contents-API path, relative to the server's ``root_dir``) is a
    course notebook: the file ``REPO/notebooks/NN_name.ipynb`` on disk, symbolic links
    resolved, whatever directory the server serves."""
    file = Path(root_dir, path.lstrip("/")).resolve()
    return file.parent == (REPO / "notebooks").resolve() and COURSE_NOTEBOOK.fullmatch(file.name) is not None


def strip_outputs(model: dict, path: str, contents_manager, **_: object) -> None:
    """Pre-save hook (jupyter_server calls it with ``model``, ``path``, ``contents_manager``):
    for a course notebook (``is_course_notebook(path, contents_manager.root_dir)``) empty
    ``outputs`` and ``execution_count`` of every code cell, drop the per-cell run timings, and
    keep ``language_info`` to the name it is stored with."""
    if model.get("type") != "notebook" or not is_course_notebook(path, contents_manager.root_dir):
        return
    content = model["content"]
    for cell in content.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    info = content.get("metadata", {}).get("language_info")
    if isinstance(info, dict) and "name" in info:
        content["metadata"]["language_info"] = {"name": info["name"]}


def write_settings(repo: Path) -> Path:
    """Write ``SETTINGS`` as ``<repo>/build/jupyter-config/labconfig/default_setting_overrides.json``
    (the file jupyter_server's ``labconfig`` section reads on a ``JUPYTER_CONFIG_PATH``
    directory) atomically, and return that configuration directory."""
    folder = Path(repo) / CONFIG_DIR
    write_text_atomic(folder / "labconfig" / "default_setting_overrides.json", json.dumps(SETTINGS, indent=2) + "\n")
    return folder


def _prepend(folder: Path, variable: str) -> str:
    """``folder`` first, then the search path the environment variable already holds."""
    return os.pathsep.join([str(folder), *filter(None, [os.environ.get(variable)])])


def lab_command(python: Path, repo: Path, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line (``argv``) and the environment variables to add (``env``) that start
    JupyterLab for the course at ``repo``; run it with ``repo`` as the working directory. The
    server and its kernels import ``repo/vae_course`` (whose save hook strips
    ``repo/notebooks/NN_*.ipynb``). ``extra``, a user's own arguments, comes last;
    ``--allow-root`` is added when running as root, as JupyterLab otherwise refuses to start.
    Writes the offline settings (``write_settings``)."""
    if not isinstance(extra, list) or not all(isinstance(arg, str) for arg in extra):
        raise TypeError(f"extra must be a list of str (arguments for jupyter lab), got {extra!r}")
    # This Python's kernelspecs first, so that a user-level "python3" kernel (another Python,
    # without the course's packages) cannot shadow it.
    prefix = subprocess.check_output([str(python), "-c", "import sys; print(sys.prefix)"], text=True).strip()
    # PYTHONPATH: the server (its save hook) and the kernels import this course's vae_course,
    # whichever copy of the course the Python's own install points to.
    env = {"JUPYTER_PATH": _prepend(Path(prefix) / "share" / "jupyter", "JUPYTER_PATH"),
           "JUPYTER_CONFIG_PATH": _prepend(write_settings(repo), "JUPYTER_CONFIG_PATH"),
           "PYTHONPATH": _prepend(Path(repo), "PYTHONPATH")}
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra else []
    argv = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={repo}",
            f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", *OPTIONS, *extra, *root]
    return argv, env
