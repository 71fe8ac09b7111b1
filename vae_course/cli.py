"""The course's command line: ``python3 -m vae_course COMMAND``.

``lab``, ``test`` and ``setup`` run on a bare ``python3`` (standard library only): they
create ``.venv/`` beside the package, install the pinned stack into it, and then run
JupyterLab or pytest from it. ``exercises`` is also standard-library only. ``check``
needs torch and Hypothesis and re-runs itself inside ``.venv`` when the current Python lacks
one of them; ``data``, ``export`` and ``prepare`` (train the notebooks' models ahead, into the
model cache) need torch and do the same.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
PINS = Path(__file__).resolve().parent / "pinned-requirements.txt"
MARKER = VENV / ".vae-course-installed"
# Modules whose presence means "this Python already has the whole course stack"
# (a conda environment made from environment.yml, say); then no .venv is made.
STACK = ("torch", "torchvision", "sklearn", "matplotlib", "tqdm", "ipywidgets",
         "jupyterlab", "nbval", "pytest", "hypothesis", "jupyterlab_rise")


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _stack_fingerprint() -> str:
    data = PINS.read_bytes() + (REPO / "pyproject.toml").read_bytes()
    return hashlib.sha256(data).hexdigest()


def _current_env_has_stack() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in STACK)


def ensure_environment() -> Path:
    """Return the Python that has the course stack, installing it into .venv if needed."""
    if _current_env_has_stack() and importlib.util.find_spec("vae_course") is not None:
        return Path(sys.executable)
    python = _venv_python()
    if MARKER.exists() and MARKER.read_text() == _stack_fingerprint():
        return python
    if not python.exists():
        print(f"[vae-course] creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[vae-course] installing the pinned course stack (first time: a few minutes)")
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
           "-r", str(PINS), "-e", f"{REPO}[test,lecture]"]
    if subprocess.call(cmd) != 0:
        sys.exit("[vae-course] installation failed; the pip output above says why. "
                 "Fix it (network to the package index? disk space?) and run the command again.")
    MARKER.write_text(_stack_fingerprint())
    return python


def _run(python: Path, args: list[str], env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(python), *args], cwd=REPO, env={**os.environ, **(env or {})})


def _for_learners(work: Callable[[], int], errors: dict[type[Exception], int], interrupted: str) -> int:
    """Run a command's ``work`` and return its exit code; an error a learner can act on (one of
    ``errors``, mapped to its exit code) or Ctrl-C (130) prints one line, never a traceback."""
    try:
        return work()
    except KeyboardInterrupt:
        print(f"[vae-course] {interrupted}", file=sys.stderr)
        return 130
    except tuple(errors) as err:
        print(f"[vae-course] {err}", file=sys.stderr)
        return next(code for kind, code in errors.items() if isinstance(err, kind))


def cmd_setup(_: argparse.Namespace) -> int:
    python = ensure_environment()
    print(f"[vae-course] ready: {python}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from vae_course.lab import lab_command  # the command the browser tests also start
    python = ensure_environment()
    argv, env = lab_command(python, REPO, list(args.rest))
    if "--allow-root" in argv and "--allow-root" not in args.rest:
        print("[vae-course] running as root: passing --allow-root to JupyterLab")
    return _run(python, argv[1:], env=env)


def cmd_test(args: argparse.Namespace) -> int:
    python = ensure_environment()
    # Quick mode is also switched on by vae_course.pytest_plugin; setting it here makes
    # the notebook kernels inherit it whatever plugin order pytest picks.
    pytest_args = ["-m", "pytest", "--nbval-lax", "--nbval-current-env", *args.rest]
    return _run(python, pytest_args, env={"VAE_COURSE_QUICK": "1"})


def cmd_exercises(args: argparse.Namespace) -> int:
    from vae_course.exercises import write_stubs, stale_stubs
    if args.check:
        stale = stale_stubs(REPO / "solutions", REPO / "exercises")
        for name in stale:
            print(f"exercises/{name} differs from what solutions/{name} generates")
        return 1 if stale else 0
    for path in write_stubs(REPO / "solutions", REPO / "exercises"):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def _in_course_env(argv: list[str], needs: tuple[str, ...] = ("torch",)) -> int | None:
    """Re-run ``python3 -m vae_course *argv`` inside .venv when this Python lacks a module
    the command ``needs`` (torch; the checker also Hypothesis)."""
    if all(importlib.util.find_spec(name) is not None for name in needs):
        return None
    return _run(ensure_environment(), ["-m", "vae_course", *argv])


def cmd_check(args: argparse.Namespace) -> int:
    rerun = _in_course_env(["check", *([args.exercise] if args.exercise else []),
                            *(["--solutions"] if args.solutions else [])], needs=("torch", "hypothesis"))
    if rerun is not None:
        return rerun
    source = REPO / ("solutions" if args.solutions else "exercises")

    def check() -> int:
        from vae_course.exercises import check_exercise, find_exercise, print_overview
        if args.exercise is None:
            return 0 if print_overview(source) else 1
        find_exercise(args.exercise, source)
        return 0 if check_exercise(args.exercise, source) else 1
    try:
        return _for_learners(check, {ValueError: 2}, "interrupted (Ctrl-C)")
    except BrokenPipeError:  # `check | head` closed the pipe: stop quietly (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def cmd_data(args: argparse.Namespace) -> int:
    rerun = _in_course_env(["data", args.name])
    if rerun is not None:
        return rerun
    from vae_course.data import fetch_mnist

    def fetch() -> int:
        root = fetch_mnist()
        print(f"[vae-course] MNIST is in {root / 'MNIST' / 'raw'}; the notebooks now use it "
              "(data.load_dataset('mnist')).")
        return 0
    return _for_learners(fetch, {OSError: 1, RuntimeError: 1, ValueError: 1},
                         "interrupted (Ctrl-C): no half-downloaded file was kept; run the command again")


def cmd_export(args: argparse.Namespace) -> int:
    argv = [*args.notebooks, *(["--quick"] if args.quick else [])]
    rerun = _in_course_env(["export", *argv])
    if rerun is not None:
        return rerun
    from vae_course.export import BUILD, ExportError, export

    def build() -> int:
        for path in export(args.notebooks, args.quick):
            print(f"wrote {path.relative_to(REPO)}")
        print(f"[vae-course] open {BUILD / 'index.html'} in a browser (works offline)")
        return 0
    return _for_learners(build, {ValueError: 2, ModuleNotFoundError: 2, ExportError: 1},
                         "export interrupted (Ctrl-C); the pages written so far are complete")


def notebook_numbers(given: list[str]) -> list[int]:
    """The notebook numbers named in ``given`` ("8" or "08"), sorted, each once; all of the
    course's notebooks when ``given`` is empty. ValueError, naming the valid ones, for any other."""
    valid = sorted(p.name[:2] for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    bad = [n for n in given if n.zfill(2) not in valid]
    if bad:
        raise ValueError(f"notebooks must be numbers among {' '.join(valid)}, got {' '.join(bad)}")
    return sorted({int(n) for n in given or valid})


def cmd_prepare(args: argparse.Namespace) -> int:
    rerun = _in_course_env(["prepare", *args.notebooks])
    if rerun is not None:
        return rerun

    def work() -> int:
        from vae_course import config
        numbers = notebook_numbers(args.notebooks)
        jobs = _planned(numbers)
        idle = [f"{nn:02d}" for nn in numbers if not any(nn in job[2] for job in jobs.values())]
        if idle:
            print(f"[vae-course] notebook(s) {' '.join(idle)}: no model trained through the cache, "
                  "nothing to prepare")
        todo = [label for label, (cached, _, _) in jobs.items() if not cached()]
        done = len(jobs) - len(todo)
        print(f"[vae-course] {len(jobs)} models ({'quick' if config.quick_mode() else 'full'} "
              f"mode): {done} already cached, {len(todo)} to train")
        if todo:
            _train_ahead({label: jobs[label] for label in todo})
        print(f"[vae-course] trained {len(todo)}, already cached {done}; "
              f"the model cache is {config.cache_dir() / 'models'}")
        return 0
    return _for_learners(work, {ValueError: 2},
                         "prepare interrupted (Ctrl-C): every model trained so far is saved whole, "
                         "none half-written; run the command again to continue")


def _planned(numbers: list[int]) -> dict[str, tuple[Callable, Callable, list[int]]]:
    """Every model that notebooks ``numbers`` train through the model cache, by label: (is it
    cached?, train it, the notebooks that use it). The lists are ``recipe.notebook_models``
    (the sprites models), ``lineup.notebook_networks`` (notebook 13's digit networks, one of them
    also 14's) and ``chapter_models``' ``notebook_networks``, ``notebook_priors`` and
    ``notebook_flows`` (07's, 11's, 12's and 14's); a prior or flow comes after the network
    whose codes it learns."""
    from functools import partial

    from vae_course import chapter_models, data, lineup, recipe
    jobs: dict[str, tuple[Callable, Callable, list[int]]] = {}

    def add(label: str, cached: Callable, fit: Callable, notebook: int) -> None:
        users = jobs.setdefault(label, (cached, fit, []))[2]
        if notebook not in users:
            users.append(notebook)

    sprites = [m for nn in numbers for m in recipe.notebook_models(nn)]
    x = recipe.sprites_data().x if sprites else None
    for nn in numbers:
        for m in recipe.notebook_models(nn):
            add(str(m), partial(recipe.is_cached, m, x), partial(
                recipe.train_sprites_vae, m.method, x, beta=m.beta, seed=m.seed, gamma=m.gamma,
                progress=False), nn)
    digits = data.load_digits("train") if any(lineup.notebook_networks(nn) for nn in numbers) else None
    for nn in numbers:
        for name in lineup.notebook_networks(nn):
            add(f"digits {name}", partial(lineup.is_cached, name, digits.x, digits.y),
                partial(lineup.train_network, name, digits.x, digits.y, progress=False), nn)
    for nn in numbers:  # its own networks, then the VQ-VAEs whose maps its priors learn
        own = [(nn, name) for name in chapter_models.notebook_networks(nn)]
        vqvaes = [(12, chapter_models.PRIORS[p]["vqvae"]) for p in chapter_models.notebook_priors(nn)]
        for owner, name in own + vqvaes:
            add(f"{owner:02d} {name}", partial(chapter_models.is_cached, owner, name),
                partial(chapter_models.train_network, owner, name, progress=False), nn)
    for nn in numbers:
        for name in chapter_models.notebook_priors(nn):
            add(f"12 {name}", partial(chapter_models.is_prior_cached, name),
                partial(chapter_models.train_prior, name, progress=False), nn)
        for name in chapter_models.notebook_flows(nn):
            add(f"14 {name}", partial(chapter_models.is_flow_cached, name),
                partial(chapter_models.train_flow, name, progress=False), nn)
    return jobs


def _train_ahead(todo: dict[str, tuple[Callable, Callable, list[int]]]) -> None:
    """Train the ``todo`` models into the cache under one progress bar (models done of all, time
    left); Ctrl-C raises KeyboardInterrupt, the model in training dropped."""
    from tqdm.std import tqdm
    with tqdm(total=len(todo), desc="training ahead", unit="model", file=sys.stdout) as bar:
        for label, (_, train, notebooks) in todo.items():
            bar.set_postfix_str(label)
            _, history, info = train()
            if history.interrupted:  # train.fit stops at Ctrl-C: this model was not saved
                raise KeyboardInterrupt
            bar.write(f"trained {label} (used in {', '.join(f'{nn:02d}' for nn in notebooks)}) "
                      f"in {info['seconds']:.0f} s: {info['path']}")
            bar.update()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m vae_course", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install the pinned stack into .venv (if needed)")
    sub.add_parser("lab", help="set up (if needed) and open the course in JupyterLab; "
                   "further arguments go to jupyter lab")
    sub.add_parser("test", help="set up (if needed) and run the whole test suite in quick mode; "
                   "further arguments go to pytest")
    ex = sub.add_parser("exercises", help="regenerate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only report stubs that are out of date")
    check = sub.add_parser("check", help="check one exercise, e.g. `check 01`; with no number, "
                           "a table of every exercise (not started / failing / passing)")
    check.add_argument("exercise", nargs="?", help="exercise number or file name, e.g. 01 or ex01_pca")
    check.add_argument("--solutions", action="store_true", help="check solutions/ instead of exercises/")
    data = sub.add_parser("data", help="download a data set once (MNIST, about 12 MB) into the data root")
    data.add_argument("name", choices=["mnist"], help="the data set to fetch")
    exp = sub.add_parser("export", help="execute notebooks and write offline HTML pages and reveal.js "
                         "decks under build/ (index.html links them)")
    exp.add_argument("notebooks", nargs="*", help="notebook numbers, e.g. 05 09 (default: all)")
    exp.add_argument("--quick", action="store_true", help="execute in quick mode (seconds per notebook)")
    prep = sub.add_parser("prepare", help="train ahead, into the model cache, every model those "
                          "notebooks would train (skips what is cached; Ctrl-C and rerun resumes)")
    prep.add_argument("notebooks", nargs="*", help="notebook numbers, e.g. 09 10 (default: all)")
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `test` or `lab` goes to pytest or JupyterLab untouched, left out of
    # argparse, which would reject a first extra argument that starts with '-' (`test -x`).
    passthrough = argv[:1] in (["test"], ["lab"])
    args = parser.parse_args(argv[:1] if passthrough else argv)
    args.rest = argv[1:] if passthrough else []
    handler = {"setup": cmd_setup, "lab": cmd_lab, "test": cmd_test,
               "exercises": cmd_exercises, "check": cmd_check, "data": cmd_data,
               "export": cmd_export, "prepare": cmd_prepare}[args.command]
    return handler(args)
