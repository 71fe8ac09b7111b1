"""Exercises: stubs generated from the solutions, and a checker with a readable summary.

Each exercise is written once, in ``solutions/exNN_topic.py``. Inside a function, the lines
between ``# BEGIN SOLUTION <hint>`` and ``# END SOLUTION`` are the answer; ``write_stubs``
replaces them with ``raise NotImplementedError("<hint>")`` to make ``exercises/exNN_topic.py``,
where the hint names the notebook section that teaches the task.

The checks of exercise NN live in ``vae_course/exercise_checks/exNN.py`` as a list ``TASKS``
of ``(title, check)`` pairs; ``check(module)`` raises ``AssertionError`` with what was
expected and what came back. The same checks run from ``python -m vae_course check NN`` and
from pytest (``tests/test_exercises.py``), and from a notebook's last cell (``check_here``).

What a learner sees: each task runs under ``TIME_LIMIT`` (60 s), past which it is reported as
too slow and the other tasks still run; Ctrl-C prints the summary so far; every failure ends
with the notebook section that teaches the task (read from the solution's BEGIN SOLUTION line
of the function the check calls); a function that returns None is reported as such.

Every call a check makes goes through ``exercise_checks.differential.guarded_call``: a
function that changes its argument in place is told so before any value is compared.

The stub generator and the checker's machinery use only the standard library (the guard
and the checks import torch when a check runs), so ``exercises`` runs on a bare ``python3``.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import re
import signal
import threading
import traceback
from pathlib import Path
from types import ModuleType

from vae_course.exercise_files import ReturnedNone, SOLUTIONS, find_exercise, load_module, solution_files

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


def _import_with_limit(path: Path, time_limit: float | None) -> ModuleType:
    """``load_module(path)`` under the time limit: code at the top level of the file runs too."""
    loaded: list[ModuleType] = []
    try:
        _call_with_limit(lambda: loaded.append(load_module(path)), time_limit)
    except TaskTimeout:
        raise TimeoutError(f"importing it ran past {time_limit:g} s (an endless loop outside a function?)") from None
    except SystemExit:
        raise RuntimeError("its top-level code called exit()") from None
    return loaded[0]


def tasks_of(path: Path) -> list[tuple[str, object]]:
    """The ``(title, check)`` pairs that check the exercise file ``path``."""
    number = re.match(r"ex(\d+)", path.stem)[1]
    return importlib.import_module(f"vae_course.exercise_checks.ex{number}").TASKS


# --- Running one task: a time limit, a hint, and "returned None" ------------------------

TIME_LIMIT = 60.0  # seconds per task; a correct answer takes well under a second or two


class TaskTimeout(BaseException):
    """Raised inside a task that ran past the time limit (a BaseException, so that a learner's
    ``except Exception`` cannot swallow it)."""


def _call_with_limit(fn, seconds: float | None) -> None:
    """Call ``fn()``; raise ``TaskTimeout`` once it has run ``seconds``.

    In the main thread of a POSIX process (the command line, a Jupyter kernel) a SIGALRM
    timer interrupts the Python code of the task. Elsewhere the task runs in a daemon thread
    that is abandoned at the limit, so the checker still goes on."""
    if not seconds:
        fn()
        return
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def on_alarm(signum, frame):
            raise TaskTimeout
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    outcome: list[BaseException | None] = []

    def target():
        try:
            fn()
            outcome.append(None)
        except BaseException as err:  # handed to the caller's thread below
            outcome.append(err)
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise TaskTimeout
    if outcome[0] is not None:
        raise outcome[0]


def section_hints(path: Path) -> dict[str, str]:
    """``{function name: hint}`` from the ``# BEGIN SOLUTION <hint>`` lines of an exercise file."""
    hints, function = {}, None
    for line in Path(path).read_text().splitlines():
        defined = re.match(r"def (\w+)\(", line)
        function = defined[1] if defined else function
        begin = BEGIN.match(line)
        if begin and function and begin["hint"].strip():
            hints.setdefault(function, begin["hint"].strip())
    return hints


def _names_used(code) -> list[str]:
    """Attribute and global names a check's code (and the lambdas inside it) refers to, in order."""
    names = list(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names += _names_used(const)
    return names


def task_hint(path: Path, check) -> str:
    """Where the notebooks teach the task that ``check`` checks, e.g.
    'see notebook 01, section "2. PCA by the SVD"', from the solution's BEGIN SOLUTION lines."""
    solution = SOLUTIONS / Path(path).name
    hints = section_hints(solution) if solution.exists() else {}
    for name in _names_used(inspect.unwrap(check).__code__):  # past decorators such as torch.no_grad
        if name in hints:
            return hints[name]
    number = re.match(r"ex(\d+)", Path(path).stem)
    return f"see notebook {number[1]}" if number else "see the notebook of this exercise"


class _Answers:
    """The learner's module, with each of its functions wrapped so that a function that
    changes an argument in place fails with "changed its argument x in place" and one that
    returns None fails with "returned None", before the check compares any value."""

    def __init__(self, module: ModuleType):
        self._module = module

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if not (inspect.isfunction(value) and value.__module__ == self._module.__name__):
            return value

        @functools.wraps(value)
        def call(*args, **kwargs):
            from vae_course.exercise_checks.differential import guarded_call  # torch: only when checking
            result = guarded_call(name, value, args, kwargs)
            if result is None:
                raise ReturnedNone(f"{name} returned None: is a `return` missing?")
            return result
        return call


def _check_on_one_thread(check, module: ModuleType) -> None:
    from vae_course.exercise_checks.differential import one_thread  # torch: only when checking
    with one_thread():
        check(_Answers(module))


def run_task(check, module: ModuleType, hint: str | None = None,
             time_limit: float | None = TIME_LIMIT) -> str | None:
    """Run one check; return ``None`` on success, else a short explanation for the learner,
    ending with ``hint`` (where the notebooks teach the task). A task that runs past
    ``time_limit`` seconds is stopped and reported as too slow."""
    suffix = f"\nHint: {hint}." if hint else ""
    try:
        _call_with_limit(lambda: _check_on_one_thread(check, module), time_limit)
    except NotImplementedError as err:
        return f"not implemented yet ({err})"
    except SystemExit:
        return f"your code called exit() (or sys.exit()): return a value instead{suffix}"
    except TaskTimeout:
        return (f"too slow: stopped after {time_limit:g} s (an endless loop? a Python loop over "
                f"many elements?){suffix}")
    except AssertionError as err:
        return (str(err) or "a check failed") + suffix
    except Exception as err:  # the learner's code raised: show where, briefly
        source = getattr(module, "__file__", None)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == source]
        where = f" at line {frames[-1].lineno}: {frames[-1].line}" if frames else ""
        return f"your code raised {type(err).__name__}: {err}{where}{suffix}"
    return None


# --- The summaries -------------------------------------------------------------------------


def _print_result(title: str, failure: str | None) -> None:
    print(f"  [{'pass' if failure is None else 'FAIL'}] {title}", flush=True)
    if failure:
        print("         " + failure.replace("\n", "\n         "), flush=True)


def check_exercise(exercise: str, folder: Path, time_limit: float | None = TIME_LIMIT) -> bool:
    """Check one exercise in ``folder``, print a summary of each task, return True if all pass.

    Each task runs under ``time_limit`` seconds; Ctrl-C stops the check and prints the
    summary of the tasks done so far."""
    path = find_exercise(exercise, folder)
    limit = f" (each task may take up to {time_limit:g} s)" if time_limit else ""
    print(f"Checking {path.parent.name}/{path.name}{limit}", flush=True)
    try:
        module = _import_with_limit(path, time_limit)
    except Exception as err:
        print(f"  could not import the file: {type(err).__name__}: {err}")
        return False
    tasks, passed, done = tasks_of(path), 0, 0
    try:
        for title, check in tasks:
            failure = run_task(check, module, task_hint(path, check), time_limit)
            _print_result(title, failure)
            passed, done = passed + (failure is None), done + 1
    except KeyboardInterrupt:
        print(f"  interrupted (Ctrl-C) during task {done + 1}; "
              f"{len(tasks) - done} task(s) not checked.")
    print(f"{passed} of {len(tasks)} tasks pass.")
    return passed == len(tasks)


def exercise_status(path: Path, time_limit: float | None = TIME_LIMIT) -> str:
    """One exercise file's status: "not started" (every task still raises NotImplementedError),
    "failing (n of m tasks pass)", "failing (cannot be imported: ...)" or "passing"."""
    tasks = tasks_of(path)
    try:
        module = _import_with_limit(path, time_limit)
    except Exception as err:
        return f"failing (cannot be imported: {type(err).__name__}: {str(err)[:60]})"
    results = [run_task(check, module, None, time_limit) for _, check in tasks]
    passed = sum(r is None for r in results)
    if all(r is not None and r.startswith("not implemented yet") for r in results):
        return "not started"
    return "passing" if passed == len(tasks) else f"failing ({passed} of {len(tasks)} tasks pass)"


def print_overview(folder: Path, time_limit: float | None = TIME_LIMIT) -> bool:
    """Print a table of every exercise in ``folder``: not started / failing (n of m tasks) /
    passing. Return True when every exercise passes."""
    paths = sorted(Path(folder).glob("ex[0-9][0-9]_*.py"))
    width = max((len(p.name) for p in paths), default=10)
    print(f"{'exercise':<{width}}  status")
    all_pass = True
    try:
        for path in paths:
            state = exercise_status(path, time_limit)
            print(f"{path.name:<{width}}  {state}", flush=True)
            all_pass &= state == "passing"
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): the exercises below were not checked.")
        return False
    print("Details of one exercise: python3 -m vae_course check NN")
    return all_pass


def check_here(exercise: str, folder: Path | str | None = None) -> bool:
    """Check an exercise from a notebook: ``check_here("03")`` re-imports your file
    ``exercises/ex03_*.py`` (so edits count without restarting the kernel) and prints the same
    summary as ``python3 -m vae_course check 03``. Never raises: returns True if all pass."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent.parent / "exercises"
    try:
        return check_exercise(exercise, folder)
    except ValueError as err:
        print(err)
        return False
