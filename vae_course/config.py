"""Run-time configuration: quick mode, the device, the data root and seeding.

Environment variables (all optional):

- ``VAE_COURSE_QUICK=1``   quick mode: same code path, fewer steps (the tests set it).
- ``VAE_COURSE_DEVICE``    ``cpu``, ``cuda`` or ``cuda:1``; default CUDA when present, else CPU.
- ``VAE_COURSE_DATA``      data root where MNIST files are looked for and downloaded to
                           (default ``~/.cache/vae_course/data``).
- ``VAE_COURSE_CACHE``     where the course writes derived files, such as decompressed MNIST
                           (default ``~/.cache/vae_course/cache``).
- ``VAE_COURSE_DOWNLOAD=1`` allow torchvision to download MNIST when its files are missing.
- ``VAE_COURSE_THREADS``   torch's thread count; default: one per core that other programs
                           leave idle (``use_idle_cores``).
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from vae_course import validate

T = TypeVar("T")


def quick_mode() -> bool:
    """True when ``VAE_COURSE_QUICK`` is set to 1/true/yes (read on every call)."""
    return os.environ.get("VAE_COURSE_QUICK", "0").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise, e.g. ``steps = pick(3000, 200)``."""
    return quick if quick_mode() else full


def get_device(name: str | None = None) -> torch.device:
    """The device to train on: ``name``, else ``$VAE_COURSE_DEVICE``, else CUDA if present, else CPU."""
    name = name or os.environ.get("VAE_COURSE_DEVICE")
    if name:
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N' (e.g. 'cuda:1'), got {name!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={name!r} was requested but CUDA is not available here; "
                             "use 'cpu' or unset VAE_COURSE_DEVICE")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies over all CPUs from /proc/stat, or None where there is none."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal


def idle_cores(interval: float = 0.1) -> float | None:
    """How many cores no process used over the next ``interval`` seconds (from /proc/stat;
    None where it cannot be read). Called before training, when this process itself is idle."""
    before = _cpu_times()
    time.sleep(interval)
    after = _cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


def training_threads(cores: int | None = None, idle: float | None = None) -> int:
    """The course's thread policy: one torch thread per core that other programs leave idle,
    at least 1, at most ``cores`` (default: all cores). Why: torch's threads wait for each other
    at every operation, spinning; on 2 cores with one busy, 2 threads ran the course's VAE at
    a quarter of their idle speed, while 1 thread lost almost nothing (benchmarks/threads.py).
    ``$VAE_COURSE_THREADS`` overrides the choice."""
    override = os.environ.get("VAE_COURSE_THREADS", "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ValueError(f"VAE_COURSE_THREADS must be a positive integer, got {override!r}")
        return int(override)
    cores = cores or os.cpu_count() or 1
    if idle is None:
        return cores
    return max(1, min(cores, int(idle + 0.5)))


def use_idle_cores() -> int:
    """Set torch's intra-op thread count by ``training_threads`` from the cores idle right now,
    and return it. Notebooks call it at the top; ``train.fit`` keeps it up to date with a
    ``ThreadGovernor`` while it trains."""
    threads = training_threads(idle=None if os.environ.get("VAE_COURSE_THREADS") else idle_cores())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


def cores_left_by_others(before: tuple[float, float], after: tuple[float, float], own_seconds: float,
                         cores: int, ticks_per_second: float) -> float:
    """Cores that other programs left idle between two /proc/stat readings (idle, total) jiffies,
    while this process used ``own_seconds`` of CPU: cores - (busy time - own time) / wall time.
    Our own threads' work (and their spinning) is not counted against us."""
    elapsed = (after[1] - before[1]) / ticks_per_second  # CPU-seconds over all cores
    if elapsed <= 0:
        return float(cores)
    busy = elapsed - (after[0] - before[0]) / ticks_per_second
    wall = elapsed / cores
    return cores - max(0.0, busy - own_seconds) / wall


class ThreadGovernor:
    """Keeps torch's thread count at one per core that *other* programs leave idle, re-measured
    every ``every`` steps during training: a program that starts on the other core half-way
    through a run would otherwise make two threads spin-wait for it (``training_threads``)."""

    def __init__(self, every: int = 200):
        self.every = every
        self.fixed = bool(os.environ.get("VAE_COURSE_THREADS"))
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.threads = use_idle_cores()
        self._mark()

    def _mark(self) -> None:
        self.reading, self.own = _cpu_times(), time.process_time()

    def step(self, step: int) -> int:
        """Call once per training step; every ``every`` steps, re-measure and set the threads."""
        if self.fixed or self.reading is None or step == 0 or step % self.every:
            return self.threads
        now = _cpu_times()
        if now is not None:
            free = cores_left_by_others(self.reading, now, time.process_time() - self.own, os.cpu_count() or 1,
                                        self.ticks)
            threads = training_threads(idle=free)
            if threads != self.threads:
                torch.set_num_threads(threads)
                self.threads = threads
        self._mark()
        return self.threads


def data_root() -> Path:
    """Folder where MNIST files are looked for (``$VAE_COURSE_DATA`` or ``~/.cache/vae_course/data``)."""
    return Path(os.environ.get("VAE_COURSE_DATA", Path.home() / ".cache" / "vae_course" / "data")).expanduser()


def cache_dir() -> Path:
    """Folder for files the course derives (``$VAE_COURSE_CACHE`` or ``~/.cache/vae_course/cache``).

    Kept apart from the data root, which may be read-only or shared with other projects.
    """
    return Path(os.environ.get("VAE_COURSE_CACHE", Path.home() / ".cache" / "vae_course" / "cache")).expanduser()


def download_allowed() -> bool:
    """True when ``VAE_COURSE_DOWNLOAD`` is set to 1/true/yes: the user's opt-in to downloads."""
    return os.environ.get("VAE_COURSE_DOWNLOAD", "0").strip().lower() in {"1", "true", "yes", "on"}


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with ``seed``.

    Returns a ``torch.Generator`` seeded the same way, for code that wants its own stream.
    """
    seed = validate.seed("seed", seed)  # NumPy integers too
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
