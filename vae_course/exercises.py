"""Exercises: stubs generated from the solutions, and a checker with a readable summary.

Each exercise is written once, in ``solutions/exNN_topic.py``. Inside a function, the lines
between ``# BEGIN SOLUTION <hint>`` and ``# END SOLUTION`` are the answer; ``write_stubs``
replaces them with ``raise NotImplementedError("<hint>")`` to make ``exercises/exNN_topic.py``,
where the hint names the notebook section that teaches the task.

The checks of exercise NN live in ``vae_course/exercise_checks/exNN.py`` as a list ``TASKS``
of ``(title, check)`` pairs; ``check(module)`` raises ``AssertionError`` with what was
expected and what came back. The same checks run from ``python -m vae_course check NN`` and
from pytest (``tests/test_exercises.py``).

The stub generator uses only the standard library, so it runs on a bare ``python3``.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?P<hint>.*)$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HEADER = ("# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,\n"
          "# then run `python3 -m vae_course check {num}`.\n"
          "# (Maintainers: generated from solutions/{name} by `python3 -m vae_course exercises`.)\n")


def make_stub(source: str, name: str = "exNN.py") -> str:
    """Return ``source`` with every solution block replaced by ``raise NotImplementedError(hint)``."""
    out, inside, blocks = [], False, 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION inside another solution block")
            inside, blocks = True, blocks + 1
            hint = begin["hint"].strip() or "see the notebook of this exercise"
            out.append(f"{begin['indent']}raise NotImplementedError({hint!r})\n")
        elif end:
            if not inside:
                raise ValueError(f"{name}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{name}: a BEGIN SOLUTION block is never closed")
    if blocks == 0:
        raise ValueError(f"{name}: no '# BEGIN SOLUTION' block found")
    num = re.match(r"ex(\d+)", name)
    return HEADER.format(num=num[1] if num else name, name=name) + "".join(out)


def solution_files(solutions: Path) -> list[Path]:
    """The exercise files under ``solutions`` (``exNN_*.py``), sorted."""
    return sorted(Path(solutions).glob("ex[0-9][0-9]_*.py"))


def write_stubs(solutions: Path, exercises: Path) -> list[Path]:
    """(Re)generate ``exercises/`` from ``solutions/``; return the files written."""
    exercises = Path(exercises)
    exercises.mkdir(exist_ok=True)
    written = []
    for path in solution_files(solutions):
        target = exercises / path.name
        target.write_text(make_stub(path.read_text(), path.name))
        written.append(target)
    return written


def stale_stubs(solutions: Path, exercises: Path) -> list[str]:
    """Names of exercise files that differ from what ``solutions/`` generates (or are missing/extra)."""
    expected = {p.name: make_stub(p.read_text(), p.name) for p in solution_files(solutions)}
    present = {p.name: p.read_text() for p in Path(exercises).glob("ex[0-9][0-9]_*.py")}
    return sorted(n for n in expected.keys() | present.keys() if expected.get(n) != present.get(n))


def find_exercise(exercise: str, folder: Path) -> Path:
    """The file of ``exercise`` ("01", "1", "ex01" or "ex01_pca") in ``folder``."""
    number = re.sub(r"\D", "", exercise.split("_")[0])
    if not number:
        raise ValueError(f"exercise must be a number such as 01 or a name such as ex01_pca, got {exercise!r}")
    matches = sorted(Path(folder).glob(f"ex{int(number):02d}_*.py"))
    if not matches:
        available = [p.stem for p in solution_files(folder)]
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


def tasks_of(path: Path) -> list[tuple[str, object]]:
    """The ``(title, check)`` pairs that check the exercise file ``path``."""
    number = re.match(r"ex(\d+)", path.stem)[1]
    return importlib.import_module(f"vae_course.exercise_checks.ex{number}").TASKS


def run_task(check, module: ModuleType) -> str | None:
    """Run one check; return ``None`` on success, else a short explanation for the learner."""
    try:
        check(module)
    except NotImplementedError as err:
        return f"not implemented yet ({err})"
    except AssertionError as err:
        return str(err) or "a check failed"
    except Exception as err:  # the learner's code raised: show where, briefly
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "/exercises/" in f.filename
                  or "/solutions/" in f.filename]
        where = f" at line {frames[-1].lineno}: {frames[-1].line}" if frames else ""
        return f"your code raised {type(err).__name__}: {err}{where}"
    return None


def check_exercise(exercise: str, folder: Path) -> bool:
    """Check one exercise in ``folder``, print a summary of each task, return True if all pass."""
    path = find_exercise(exercise, folder)
    print(f"Checking {path.parent.name}/{path.name}")
    try:
        module = load_module(path)
    except Exception as err:
        print(f"  could not import the file: {type(err).__name__}: {err}")
        return False
    results = [(title, run_task(check, module)) for title, check in tasks_of(path)]
    for title, failure in results:
        print(f"  [{'pass' if failure is None else 'FAIL'}] {title}")
        if failure:
            print("         " + failure.replace("\n", "\n         "))
    passed = sum(f is None for _, f in results)
    print(f"{passed} of {len(results)} tasks pass.")
    return passed == len(results)
