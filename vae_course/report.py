"""Printing the numbers a notebook must show to prove its claim.

Every notebook prints its proof numbers through ``proof`` so that they read the same in
every notebook and ``benchmarks/run_notebooks.py`` can collect them into one table.
"""
from __future__ import annotations

from vae_course import config

PREFIX = "[proof]"


def proof(label: str, value: float, *, target: str | None = None, ok: bool | None = None,
          fmt: str = ".4g") -> str:
    """Print ``[proof] label = value`` and, when given, the target and whether it is met.

    In quick mode an unmet target is expected (few training steps) and is said so.
    Returns the printed line.
    """
    line = f"{PREFIX} {label} = {value:{fmt}}"
    if target is not None:
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        if ok is False and config.quick_mode():
            verdict += " (quick mode trains briefly; run in full mode for the real figure)"
        line += f"   target: {target}" + (f" -> {verdict}" if verdict else "")
    print(line)
    return line
