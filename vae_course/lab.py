"""How ``python3 -m vae_course lab`` configures JupyterLab: course notebooks are saved clean.

Running cells, in the notebook or in a RISE slideshow, lets JupyterLab's autosave write
outputs into ``notebooks/NN_*.ipynb``, which the course stores without outputs (a test
checks). ``strip_outputs`` is installed as the server's ``pre_save_hook``: every save of a
course notebook drops its outputs and execution counts before the file is written, while the
open notebook keeps showing them. Other notebooks (a learner's own) are saved as they are.
Standard library only: the course's ``lab`` command imports this before any install.
"""
from __future__ import annotations

import re

COURSE_NOTEBOOK = re.compile(r"^notebooks/[0-9]{2}_[^/]+\.ipynb$")
OPTIONS = ["--ContentsManager.pre_save_hook=vae_course.lab.strip_outputs"]


def strip_outputs(model: dict, path: str, **_: object) -> None:
    """Pre-save hook (jupyter_server calls it with ``model``, ``path``, ``contents_manager``):
    empty ``outputs`` and ``execution_count`` of every code cell of a course notebook at
    ``path`` (relative to the server's root, e.g. ``notebooks/05_elbo.ipynb``), drop the
    per-cell run timings, and keep ``language_info`` to the name it is stored with."""
    if model.get("type") != "notebook" or not COURSE_NOTEBOOK.match(path.lstrip("/")):
        return
    content = model["content"]
    for cell in content.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    info = content.get("metadata", {}).get("language_info")
    if isinstance(info, dict) and "name" in info:
        content["metadata"]["language_info"] = {"name": info["name"]}
