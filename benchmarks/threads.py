"""The course's thread policy on a busy machine: speed idle and with one core kept busy.

torch's intra-op threads wait for each other at every operation, spinning; when another program
holds one of two cores, two threads run at a fraction of their idle speed. ``train.fit`` gives torch
one thread per core that other programs leave idle, re-measured every 200 steps
(``threads.ThreadGovernor``).

Two measurements, each idle and then with a busy loop ``while True: pass`` in another process:

- training steps per second of the course's MLP VAE on digits (batch 128) and on sprites (batch
  256, the recipe of notebooks 08-10), with 1 thread, 2 threads and the policy;
- with ``--notebooks NN ...``: each notebook's full-mode wall-clock seconds, executed by nbconvert.

Run on an otherwise idle machine, nothing else running: python benchmarks/threads.py [--notebooks 07 08]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vae_course import data, losses, models, recipe, threads

REPO = Path(__file__).resolve().parent.parent


def _spin() -> None:
    while True:
        pass


class BusyCore:
    """A process that keeps one core busy while the block runs."""

    def __enter__(self) -> "BusyCore":
        self.process = multiprocessing.Process(target=_spin, daemon=True)
        self.process.start()
        time.sleep(1.0)  # let the scheduler see it
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join()


def steps_per_second(x: torch.Tensor, batch_size: int, n_threads: int | None, steps: int = 600) -> float:
    """Adam steps per second of the MLP VAE on batches of x, with ``n_threads`` (None: the policy)."""
    governor = threads.ThreadGovernor() if n_threads is None else None  # what train.fit does
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    torch.manual_seed(0)
    model = models.VAE.build("mlp", tuple(x.shape[1:]), 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = losses.vae_loss()
    for step in range(steps + 20):  # 20 steps of warm-up first
        if step == 20:
            start = time.perf_counter()
        if governor is not None:
            governor.step(step)
        batch = x[torch.randint(len(x), (batch_size,))]
        loss, _ = loss_fn(model, batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def notebook_seconds(name: str, cache: str) -> float:
    """Full-mode wall-clock seconds of one notebook, executed by nbconvert in a fresh kernel, with
    ``cache`` as the model cache (shared by the notebooks of one run, as in a learner's)."""
    path = next((REPO / "notebooks").glob(f"{name}_*.ipynb"))
    env = {**os.environ, "VAE_COURSE_QUICK": "0", "VAE_COURSE_CACHE": cache}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=3000", "--output-dir", out, str(path)],
                       check=True, env=env, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=[], help="notebook numbers to time in full mode")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}")
    sets = {"digits (batch 128)": (data.load_digits("train").x, 128),
            "sprites (batch 256)": (recipe.sprites_data().x, recipe.SpritesRecipe().batch_size)}
    print("\n| data | threads | steps/s idle | steps/s one core busy | busy / idle |\n|---|---|---|---|---|")
    for name, (x, batch) in sets.items():
        for n_threads in (1, 2, None):
            idle = steps_per_second(x, batch, n_threads)
            with BusyCore():
                busy = steps_per_second(x, batch, n_threads)
            label = "policy" if n_threads is None else str(n_threads)
            print(f"| {name} | {label} | {idle:.0f} | {busy:.0f} | {busy / idle:.2f} |")
    if args.notebooks:  # the notebooks in order, idle and then busy, each run with an empty model cache
        with tempfile.TemporaryDirectory() as idle_cache, tempfile.TemporaryDirectory() as busy_cache:
            idle = {name: notebook_seconds(name, idle_cache) for name in args.notebooks}
            with BusyCore():
                busy = {name: notebook_seconds(name, busy_cache) for name in args.notebooks}
        print("\n| notebook | full-mode s idle | s one core busy | busy / idle |\n|---|---|---|---|")
        for name in args.notebooks:
            print(f"| {name} | {idle[name]:.0f} | {busy[name]:.0f} | {busy[name] / idle[name]:.2f} |")
        print(f"| all | {sum(idle.values()):.0f} | {sum(busy.values()):.0f} | {sum(busy.values()) / sum(idle.values()):.2f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
