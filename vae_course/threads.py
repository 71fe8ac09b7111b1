"""The CPU thread policy: one torch thread per core that other programs leave idle.

Why: torch's threads wait for each other at every operation, spinning. On 2 cores with one
busy elsewhere, 2 threads ran the course's VAE at a third of their idle speed, while 1 thread
lost almost nothing (``benchmarks/threads.py`` measures it). So the course counts the cores
that *other* programs leave idle, when training starts and again every 200 steps
(``ThreadGovernor``), and gives torch that many threads. CPU times come from psutil, which
reads them the same way on Linux, macOS and Windows. ``$VAE_COURSE_THREADS`` fixes the count.
"""
from __future__ import annotations

import os
import time

import psutil
import torch


def cpu_seconds() -> tuple[float, float]:
    """(idle, total) CPU-seconds summed over all cores since boot (psutil.cpu_times): idle
    counts ``idle`` and, where the system has it, ``iowait``; the total leaves out Linux's
    ``guest`` times, which ``user`` and ``nice`` already hold."""
    times = psutil.cpu_times()._asdict()
    idle = times["idle"] + times.get("iowait", 0.0)
    return idle, sum(v for name, v in times.items() if not name.startswith("guest"))


def cores() -> int:
    """The number of logical cores (at least 1)."""
    return psutil.cpu_count() or 1


def idle_cores(interval: float = 0.1) -> float:
    """How many cores no program used over the next ``interval`` seconds. Called before
    training, while this process itself is idle."""
    before = cpu_seconds()
    time.sleep(interval)
    return cores_left_by_others(before, cpu_seconds(), own_seconds=0.0, n_cores=cores())


def cores_left_by_others(before: tuple[float, float], after: tuple[float, float], own_seconds: float,
                         n_cores: int) -> float:
    """Cores that other programs left idle between two ``cpu_seconds`` readings while this
    process used ``own_seconds`` of CPU: n_cores - (busy - own) / wall, where
    wall = total / n_cores. Our own threads' work (and their spinning) is not held against us."""
    elapsed = after[1] - before[1]  # CPU-seconds over all cores
    if elapsed <= 0:
        return float(n_cores)
    busy = elapsed - (after[0] - before[0])
    return n_cores - max(0.0, busy - own_seconds) / (elapsed / n_cores)


def training_threads(n_cores: int | None = None, idle: float | None = None) -> int:
    """One thread per idle core, rounded, at least 1 and at most ``n_cores`` (default: all);
    every core when nothing was measured. ``$VAE_COURSE_THREADS`` overrides the choice."""
    override = os.environ.get("VAE_COURSE_THREADS", "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ValueError(f"VAE_COURSE_THREADS must be a positive integer, got {override!r}")
        return int(override)
    n_cores = n_cores or cores()
    if idle is None:
        return n_cores
    return max(1, min(n_cores, int(idle + 0.5)))


def _set_threads(threads: int) -> int:
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


def use_idle_cores() -> int:
    """Set torch's thread count by ``training_threads`` from the cores idle right now, and
    return it. Notebooks call it at the top; ``train.fit`` keeps it up to date while it trains."""
    fixed = bool(os.environ.get("VAE_COURSE_THREADS"))
    return _set_threads(training_threads(idle=None if fixed else idle_cores()))


class ThreadGovernor:
    """Keeps torch's thread count at one per core that other programs leave idle, re-measured
    every ``every`` steps: a program that starts on the other core half-way through training
    would otherwise leave two threads spin-waiting for it."""

    def __init__(self, every: int = 200):
        self.every = every
        self.fixed = bool(os.environ.get("VAE_COURSE_THREADS"))
        self.threads = use_idle_cores()
        self._mark()

    def _mark(self) -> None:
        self.reading, self.own = cpu_seconds(), time.process_time()

    def step(self, step: int) -> int:
        """Call once per training step; every ``every`` steps, re-measure and set the threads."""
        if self.fixed or step == 0 or step % self.every:
            return self.threads
        now = cpu_seconds()
        free = cores_left_by_others(self.reading, now, time.process_time() - self.own, cores())
        self.threads = _set_threads(training_threads(idle=free))
        self._mark()
        return self.threads
