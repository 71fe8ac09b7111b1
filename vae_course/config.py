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
                           leave idle (``threads.use_idle_cores``).
"""
from __future__ import annotations

import os
import random
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
