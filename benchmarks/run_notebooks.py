"""Execute the course notebooks and print a table: notebook, seconds, and the proof numbers.

    python benchmarks/run_notebooks.py            # full mode, every notebook
    python benchmarks/run_notebooks.py --quick    # quick mode (what the tests run)
    python benchmarks/run_notebooks.py 01 07      # only some notebooks

Run it from the course's environment (`.venv/bin/python benchmarks/run_notebooks.py`).
Executed copies are written only where --save says, never over notebooks/.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from vae_course.report import PREFIX

REPO = Path(__file__).resolve().parent.parent


def proof_lines(nb: nbformat.NotebookNode) -> list[str]:
    """Every `[proof] ...` line the executed notebook printed, in order."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines += [l.strip() for l in out["text"].splitlines() if l.startswith(PREFIX)]
    return lines


def run(path: Path, timeout: int, save: Path | None) -> tuple[float, list[str], str]:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status = "ok"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as err:  # report and go on with the other notebooks
        status = f"FAILED: {type(err).__name__}: {str(err).strip().splitlines()[-1][:120]}"
    seconds = time.perf_counter() - start
    if save:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return seconds, proof_lines(nb), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook numbers to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode (VAE_COURSE_QUICK=1)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--save", type=Path, help="folder for the executed notebooks")
    args = parser.parse_args()
    os.environ["VAE_COURSE_QUICK"] = "1" if args.quick else "0"
    # Prefer this environment's kernel over any user-level "python3" kernelspec.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")])
    paths = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    paths = [p for p in paths if not args.only or p.name[:2] in {f"{int(n):02d}" for n in args.only}]
    mode = "quick" if args.quick else "full"
    print("| notebook | mode | seconds | status | proof numbers |\n|---|---|---|---|---|", flush=True)
    failed = 0
    for path in paths:
        seconds, proofs, status = run(path, args.timeout, args.save)
        failed += status != "ok"
        shown = "<br>".join(p[len(PREFIX):].strip() for p in proofs) or "-"
        print(f"| {path.stem} | {mode} | {seconds:.1f} | {status} | {shown} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
