"""Printing the numbers a notebook must show to prove its claim.

Every notebook prints its proof numbers through ``proof`` so that they read the same in
every notebook and ``benchmarks/run_notebooks.py`` can collect them into one table.
"""
from __future__ import annotations

from vae_course import config

PREFIX = "[proof]"


def proof(label: str, value: float, *, target: str | None = None, ok: bool | None = None,
          fmt: str = ".4g") -> None:
    """Print ``[proof] label = value`` and, when given, the target and whether it is met.

    In quick mode an unmet target is expected (few training steps) and is said so.
    Returns None, so that a cell ending with ``report.proof(...)`` prints the line once
    instead of echoing it a second time as the cell's value.
    """
    line = f"{PREFIX} {label} = {value:{fmt}}"
    if target is not None:
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        if ok is False and config.quick_mode():
            verdict += " (quick mode trains briefly; run in full mode for the real figure)"
        line += f"   target: {target}" + (f" -> {verdict}" if verdict else "")
    print(line)


def training(name: str, info: dict) -> None:
    """Print "name: N s of training", with " (from the cache)" when the network was loaded, for
    the ``info`` (its "seconds" and "cached") of the course's train-or-load functions
    (``chapter_models``, ``lineup``, ``recipe``): a loaded network says how long it once took."""
    print(f"{name}: {info['seconds']:.0f} s of training" + (" (from the cache)" if info["cached"] else ""))


def markdown_table(rows: dict[str, dict[str, float | int]], columns: list[str], *, key: str = "model") -> str:
    """A Markdown table with one row per entry of ``rows`` (name -> {column: value}) and the
    given ``columns``: ints as they are; floats to as many decimals as the column's largest |v|
    allows, 4 below 1, 2 below 100, else 1 (one column, one format: 4.47 beside 0.56, not 4.5
    beside 0.5630); "-" where a row has no value for a column (e.g. an ELBO for a model that has
    none)."""
    if not columns:
        raise ValueError("columns must name at least one column, got []")

    def decimals(column: str) -> int:
        largest = max((abs(row[column]) for row in rows.values() if isinstance(row.get(column), float)), default=0.0)
        return 4 if largest < 1 else 2 if largest < 100 else 1

    places = {c: decimals(c) for c in columns}

    def cell(v: float | int | None, column: str) -> str:
        if v is None:
            return "-"
        return f"{v:d}" if isinstance(v, int) else f"{v:.{places[column]}f}"

    lines = [f"| {key} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(row.get(c), c) for c in columns) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def mean_std_table(rows: dict[str, dict[str, tuple[float, float]]], columns: list[str], *, key: str = "method",
                   fmt: str = ".3f") -> str:
    """A Markdown table with one row per entry of ``rows`` (name -> {column: (mean, std)}),
    each cell "mean ± std" over seeds."""
    if not columns:
        raise ValueError("columns must name at least one column, got []")
    lines = [f"| {key} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{row[c][0]:{fmt}} ± {row[c][1]:{fmt}}" for c in columns) + " |"
              for name, row in rows.items()]
    return "\n".join(lines)
