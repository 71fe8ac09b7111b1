"""Checks for the exercises: ``exNN.py`` checks ``exercises/exNN_*.py`` (or ``solutions/``).

Each module defines ``TASKS``, a list of ``(title, check)``; ``check(module)`` calls the
learner's functions from ``module`` and raises ``AssertionError`` saying what was expected
and what came back. Checks compare with the package's own implementation on seeded random
inputs and with properties (shapes, symmetry, known values), so a wrong answer fails; then
``differential`` compares each function with the reference solution over the whole domain its
docstring states (Hypothesis: seeded, bounded, the smallest disagreeing input shown). Every call
is guarded: an argument changed in place is reported before any value is compared.
"""
