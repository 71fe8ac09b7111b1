"""pytest plugin (loaded through ``addopts`` in pyproject.toml).

Turns quick mode on before any notebook kernel starts, so nbval runs every notebook on the
same code path with fewer steps, and adds ``--exercises-from`` to choose which copy of the
exercises the exercise checks import: ``solutions`` (the default of the test suite) or
``exercises`` (the learner's own work).
"""
import os

os.environ.setdefault("VAE_COURSE_QUICK", "1")


def pytest_addoption(parser):
    parser.addoption("--exercises-from", choices=("solutions", "exercises"), default="solutions",
                     help="folder whose exercise files the exercise checks import")
