"""The install files agree, and the command line behaves."""
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vae_course import cli

REPO = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip", "-e ."}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\s\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r) for r in reqs}


def environment_names() -> set[str]:
    names = set()
    text = (REPO / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        m = re.match(r"^\s+-\s+(?!.*:$)(.+)$", line)
        if m and m[1].strip() not in NOT_PACKAGES:
            names.add(CONDA_TO_PIP.get(_name(m[1]), _name(m[1])))
    return names - NOT_PACKAGES


def pinned_names() -> set[str]:
    lines = cli.PINS.read_text().splitlines()
    return {_name(l) for l in lines if l.strip() and not l.startswith("#")}


def test_conda_and_pip_name_the_same_dependencies():
    assert environment_names() == pyproject_names()


def test_pins_cover_exactly_the_declared_dependencies():
    assert pinned_names() == pyproject_names()


def test_every_pin_is_exact():
    for line in cli.PINS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.match(r"^[\w.-]+==[\w.]+(;.*)?$", line), f"not an exact pin: {line}"


def test_environment_parser_sees_conda_and_pip_sections():
    names = environment_names()
    assert {"torch", "torchvision", "jupyterlab-rise"} <= names and "python" not in names


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "python3 -m vae_course test" in readme and "python3 -m vae_course lab" in readme
    commands = [l for l in ci.splitlines() if l.strip() and not l.startswith(("#", "set ", "cd "))]
    assert commands[-1] == "python3 -m vae_course test"
    assert all("apt-get install" in c and "chromium" in c for c in commands[:-1]), commands  # the browser tests' browser


def test_cli_exercises_check_reports_in_sync():
    result = subprocess.run([sys.executable, "-m", "vae_course", "exercises", "--check"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_rejects_unknown_commands():
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


def test_cli_check_names_the_missing_exercise(capsys):
    assert cli.main(["check", "99", "--solutions"]) == 2
    err = capsys.readouterr().err
    assert "no exercise '99'" in err and "Traceback" not in err


@pytest.mark.parametrize("extra", [["-x", "-k", "sprites"], ["tests/test_data.py", "-x"], []])
def test_cli_test_passes_every_extra_argument_to_pytest(monkeypatch, extra):
    calls = []
    monkeypatch.setattr(cli, "ensure_environment", lambda: Path(sys.executable))
    monkeypatch.setattr(cli, "_run", lambda python, args, env=None: calls.append((args, env)) or 0)
    assert cli.main(["test", *extra]) == 0
    (args, env), = calls
    assert args == ["-m", "pytest", "--nbval-lax", "--nbval-current-env", *extra]
    assert env == {"VAE_COURSE_QUICK": "1"}


def test_check_reruns_in_the_course_env_when_hypothesis_is_missing(monkeypatch):
    """The checker draws its inputs with Hypothesis: a Python with torch but without it (an
    environment made before it was declared) hands `check` to the course's .venv."""
    calls, find_spec = [], importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hypothesis" else find_spec(name, *a))
    monkeypatch.setattr(cli, "ensure_environment", lambda: Path("venv-python"))
    monkeypatch.setattr(cli, "_run", lambda python, args, env=None: calls.append((python, args)) or 0)
    assert cli.main(["check", "01"]) == 0
    assert calls == [(Path("venv-python"), ["-m", "vae_course", "check", "01"])]
