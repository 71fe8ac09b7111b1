"""Exercises: solutions pass every check, untouched stubs fail every check, and exercises/
is exactly what `python3 -m vae_course exercises` generates from solutions/.

Run the same checks on your own work with `pytest tests/test_exercises.py --exercises-from exercises`
(or, with a friendlier summary, `python3 -m vae_course check NN`).
"""
import functools
import re
import types
from collections import Counter
from pathlib import Path

import pytest
import torch

from vae_course import cli
from vae_course import exercises as ex
from vae_course.exercise_checks import common, differential

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


# --- The checker as a learner meets it -------------------------------------------------------

def _learner_copy(tmp_path: Path, number: str, replace: str = "") -> Path:
    """exercises/ made from solutions/, with exercise ``number`` = the solution plus ``replace``
    (Python appended at the end, redefining a function)."""
    ex.write_stubs(SOLUTIONS, tmp_path)
    path = ex.find_exercise(number, SOLUTIONS)
    (tmp_path / path.name).write_text(path.read_text() + replace)
    return tmp_path


def test_a_task_that_never_ends_is_reported_as_too_slow_and_the_others_run(tmp_path, capsys):
    folder = _learner_copy(tmp_path, "05", "\n\ndef kl_normal_std(mu, logvar):\n    while True:\n        pass\n")
    assert ex.check_exercise("05", folder, time_limit=1) is False
    out = capsys.readouterr().out
    assert "[FAIL] 1." in out and "too slow: stopped after 1 s" in out
    assert "[pass] 2." in out and "1 of 2 tasks pass." in out


def test_the_time_limit_also_holds_off_the_main_thread():
    import threading
    results = []
    worker = threading.Thread(target=lambda: results.append(
        ex.run_task(lambda m: __import__("time").sleep(30), None, "see notebook 05", time_limit=0.5)))
    worker.start()
    worker.join(10)
    assert results and results[0].startswith("too slow"), results


def test_ctrl_c_prints_the_summary_so_far(tmp_path, capsys):
    folder = _learner_copy(tmp_path, "05", "\n\ndef mc_elbo(*args, **kwargs):\n    raise KeyboardInterrupt\n")
    assert ex.check_exercise("05", folder) is False
    out = capsys.readouterr().out
    assert "[pass] 1." in out and "interrupted (Ctrl-C) during task 2" in out and "1 of 2 tasks pass." in out


def test_every_failure_ends_with_its_notebook_section(tmp_path):
    folder = _learner_copy(tmp_path, "01", "\n\ndef principal_angles(a, b):\n    return torch.zeros(a.shape[1])\n")
    path = folder / ex.find_exercise("01", folder).name
    title, check = ex.tasks_of(path)[1]
    failure = ex.run_task(check, ex.load_module(path), ex.task_hint(path, check))
    assert failure.endswith('Hint: see notebook 01, section "5. Principal angles between subspaces".'), failure


def test_a_function_that_returns_none_is_reported_as_such(tmp_path):
    for number, name, args in [("04", "fit_gaussian", "z"), ("09", "discrete_mutual_info", "a, b"),
                               ("10", "hierarchical_split", "*args")]:
        folder = _learner_copy(tmp_path, number, f"\n\ndef {name}({args}):\n    pass\n")
        path = folder / ex.find_exercise(number, folder).name
        failures = [ex.run_task(c, ex.load_module(path)) for _, c in ex.tasks_of(path)]
        assert any(f and f.startswith(f"{name} returned None") for f in failures), failures


def test_a_mismatch_shows_the_worst_entries_with_their_index_and_the_real_tolerance():
    expected = torch.tensor([0.5119, 0.3068, 0.4246, 0.1])
    with pytest.raises(AssertionError) as err:
        common.expect_close("v", expected + torch.tensor([0.0, 0.0, 0.0, 0.3]), expected, atol=0, rtol=0.03)
    message = str(err.value)
    assert "1 of 4 entries differ" in message and "at [3] expected 0.1, got 0.4" in message
    assert "relative tolerance 0.03 (3%)" in message and "(tolerance 0)" not in message


def test_a_wrong_exception_is_named_beside_the_expected_one():
    with pytest.raises(AssertionError, match="raised KeyError: 'blur'; expected a ValueError"):
        common.expect_raises(lambda: {}["blur"], ValueError, "kind='blur'")
    with pytest.raises(AssertionError, match="nothing was raised"):
        common.expect_raises(lambda: 1, ValueError, "kind='blur'")


@pytest.mark.parametrize("arg", ["99", "0", "foo", "-5", "01x", "ex01_pcx", "1.5"])
def test_check_rejects_a_bad_exercise_in_one_line(arg, capsys):
    assert cli.main(["check", "--", arg]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err and repr(arg) in captured.err


def test_check_alone_prints_a_table_of_every_exercise(tmp_path, capsys):
    folder = _learner_copy(tmp_path, "05", "\n\ndef mc_elbo(*args, **kwargs):\n    return None\n")
    path = ex.find_exercise("01", SOLUTIONS)
    (folder / path.name).write_text(path.read_text())
    assert ex.print_overview(folder) is False
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("ex") and ".py" in line}
    assert len(lines) == len(FILES)
    assert lines["ex01_pca.py"].endswith("passing")
    assert lines["ex05_elbo.py"].endswith("failing (1 of 2 tasks pass)")
    assert lines["ex03_corruption.py"].endswith("not started")
    (folder / ex.find_exercise("04", folder).name).write_text("def broken(:\n")
    assert ex.exercise_status(folder / ex.find_exercise("04", folder).name).startswith(
        "failing (cannot be imported: SyntaxError")


def test_check_here_never_raises_and_sees_edits_without_a_restart(tmp_path, capsys):
    folder = _learner_copy(tmp_path, "05")
    assert ex.check_here("05", folder) is True
    path = folder / ex.find_exercise("05", folder).name
    path.write_text(path.read_text() + "\n\ndef kl_normal_std(mu, logvar):\n    return mu.sum(-1)\n")
    assert ex.check_here("05", folder) is False
    assert "1 of 2 tasks pass." in capsys.readouterr().out
    assert ex.check_here("99", folder) is False


@pytest.mark.parametrize("name,index", TASKS)
def test_every_task_knows_its_notebook_section(name, index):
    """The hint names a notebook and a section (a task may be taught in a later notebook than its
    exercise's, as exercise 09's FactorVAE score vote is in 10); that the section is a heading of
    that notebook is test_notebooks.py's test_exercise_hints_point_at_existing_sections."""
    path = SOLUTIONS / name
    hint = ex.task_hint(path, ex.tasks_of(path)[index][1])
    assert re.fullmatch(r'see notebook \d\d, section "[^"]+"(, step \d+)?', hint), hint


def test_an_endless_loop_at_import_and_exit_calls_do_not_stop_the_checker(tmp_path, capsys):
    folder = _learner_copy(tmp_path, "05", "\nwhile True:\n    pass\n")
    assert ex.check_exercise("05", folder, time_limit=1) is False
    assert "could not import the file: TimeoutError: importing it ran past 1 s" in capsys.readouterr().out
    folder = _learner_copy(tmp_path, "05", "\n\ndef kl_normal_std(mu, logvar):\n    raise SystemExit\n")
    assert ex.check_exercise("05", folder) is False
    out = capsys.readouterr().out
    assert "your code called exit()" in out and "1 of 2 tasks pass." in out


RAISES_BY_DESIGN = {"corrupt", "one_hot", "conditioned_input"}  # their domains hold bad arguments too


def test_the_reference_raises_only_where_a_task_draws_bad_arguments(monkeypatch):
    """A differential check whose reference raised on valid inputs would pass any function that
    raises the same error: every task's drawn inputs must be valid for the reference, except
    those of the tasks that check their errors, and even there most must be valid."""
    calls, raised = Counter(), Counter()

    def counted(name, fn):
        @functools.wraps(fn)
        def call(*args):
            calls[name] += 1
            try:
                return fn(*args)
            except Exception:
                raised[name] += 1
                raise
        return call

    solution = differential._solution
    monkeypatch.setattr(differential, "_solution", lambda number: types.SimpleNamespace(
        **{k: counted(k, v) if callable(v) else v for k, v in vars(solution(number)).items()}))
    for path in FILES:
        for title, check in ex.tasks_of(path):
            assert ex.run_task(check, ex.load_module(path)) is None, title
    assert len(calls) >= 28, sorted(calls)
    for name in calls:
        limit = 0.6 * calls[name] if name in RAISES_BY_DESIGN else 0
        assert raised[name] <= limit, f"{name}: the reference raised on {raised[name]} of {calls[name]} drawn inputs"
