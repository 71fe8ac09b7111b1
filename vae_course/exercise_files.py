"""The course's exercise files on disk: which ones there are, the one a learner names, each
imported afresh, and where the reference solutions live. Below both the checker's runner
(``exercises``) and the checks (``exercise_checks``), which share them."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def solution_files(solutions: Path) -> list[Path]:
    """The exercise files under ``solutions`` (``exNN_*.py``), sorted."""
    return sorted(Path(solutions).glob("ex[0-9][0-9]_*.py"))


def find_exercise(exercise: str, folder: Path) -> Path:
    """The file of ``exercise`` ("01", "1", "ex01" or "ex01_pca") in ``folder``.

    Anything else ("-5", "01x", "99") raises ``ValueError`` with a one-line message."""
    numbers = [p.stem[2:4] for p in solution_files(folder)]
    available = f"{numbers[0]} to {numbers[-1]}" if numbers else "none"
    match = re.fullmatch(r"(?:ex)?(\d{1,2})(_\w+)?", str(exercise).strip())
    if match is None:
        raise ValueError(f"exercise must be a number such as 01 or a name such as ex01_pca, got {exercise!r}; "
                         f"available: {available}")
    matches = sorted(Path(folder).glob(f"ex{int(match[1]):02d}_*.py"))
    if match[2]:
        matches = [m for m in matches if m.stem == f"ex{int(match[1]):02d}{match[2]}"]
    if not matches:
        raise ValueError(f"no exercise {exercise!r} in {folder}; available: {available}")
    return matches[0]


def load_module(path: Path) -> ModuleType:
    """Import the file at ``path`` afresh (never a cached copy), under a name of its own."""
    name = f"_vae_course_exercise_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ReturnedNone(AssertionError):
    """A learner's function returned None where the task asks for a value."""
