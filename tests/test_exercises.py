"""Exercises: solutions pass every check, untouched stubs fail every check, and exercises/
is exactly what `python3 -m vae_course exercises` generates from solutions/.

Run the same checks on your own work with `pytest tests/test_exercises.py --exercises-from exercises`
(or, with a friendlier summary, `python3 -m vae_course check NN`).
"""
from pathlib import Path

import pytest

from vae_course import exercises as ex

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
FILES = ex.solution_files(SOLUTIONS)
TASKS = [pytest.param(path.name, i, id=f"{path.stem}-task{i + 1}")
         for path in FILES for i in range(len(ex.tasks_of(path)))]


def _run(folder: Path, name: str, index: int) -> str | None:
    path = folder / name
    title, check = ex.tasks_of(path)[index]
    return ex.run_task(check, ex.load_module(path))


def test_every_notebook_exercise_exists():
    numbers = sorted(int(p.name[2:4]) for p in FILES)
    assert numbers == sorted(set(numbers)) and numbers, f"exercise files: {[p.name for p in FILES]}"
    for path in FILES:
        assert len(ex.tasks_of(path)) >= 2, f"{path.name} should have at least two checked tasks"


@pytest.mark.parametrize("name,index", TASKS)
def test_check_passes(request, name, index):
    folder = REPO / request.config.getoption("--exercises-from")
    failure = _run(folder, name, index)
    assert failure is None, failure


@pytest.mark.parametrize("name,index", TASKS)
def test_check_fails_on_untouched_stub(tmp_path, name, index):
    ex.write_stubs(SOLUTIONS, tmp_path)
    failure = _run(tmp_path, name, index)
    assert failure is not None and "not implemented yet" in failure, failure


def test_exercises_folder_is_generated_from_solutions():
    stale = ex.stale_stubs(SOLUTIONS, REPO / "exercises")
    assert not stale, (f"exercises/ is out of date for {stale}: run `python3 -m vae_course exercises` "
                       "(if you are a learner who filled them in, this failure is expected)")


def test_stub_generation_replaces_each_block_with_its_hint():
    source = ("def f(x):\n    '''doc'''\n    # BEGIN SOLUTION see notebook 01, section 'PCA'\n"
              "    return x\n    # END SOLUTION\n")
    stub = ex.make_stub(source, "ex01_demo.py")
    assert "return x" not in stub and "'''doc'''" in stub
    assert "    raise NotImplementedError(\"see notebook 01, section 'PCA'\")\n" in stub


@pytest.mark.parametrize("source,message", [
    ("x = 1\n", "no '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("# END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside another"),
])
def test_stub_generation_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        ex.make_stub(source, "ex99_demo.py")


def test_checker_prints_a_summary_and_fails_on_stubs(tmp_path, capsys):
    ex.write_stubs(SOLUTIONS, tmp_path)
    name = FILES[0].name
    assert ex.check_exercise(name[:4], tmp_path) is False
    out = capsys.readouterr().out
    assert "[FAIL]" in out and "not implemented yet" in out and "0 of" in out
    assert ex.check_exercise(name[:4], SOLUTIONS) is True
    assert "[pass]" in capsys.readouterr().out
