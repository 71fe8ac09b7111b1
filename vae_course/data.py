"""Data sets of handwritten digits, offline by default, and the one way MNIST is downloaded.

- ``digits``: scikit-learn's 1,797 8x8 handwritten digits (ships with scikit-learn), with a
  fixed stratified train/test split.
- ``mnist``: torchvision's MNIST, used only when its files are under the data root or the user
  allows a download (``download=True``, ``VAE_COURSE_DOWNLOAD=1`` or
  ``python3 -m vae_course data mnist``, which all run ``fetch_mnist``).

Images are float tensors of shape (N, 1, H, W) in [0, 1]; labels are int64 tensors (N,).
The sprites of the disentanglement notebooks, which have factors instead of labels, are in
``vae_course.sprites``.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from vae_course import config, files, validate

SPLITS = ("train", "test")
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
# torchvision's MNIST.resources (file names without .gz, md5 sums of the gzipped originals),
# written out so that finding the files imports no torchvision; tests/test_data.py checks them
MNIST_FILES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS: list[str] | None = None  # base URLs tried in turn by fetch_mnist; None: MNIST.mirrors


class Dataset(NamedTuple):
    """Images ``x`` (N, 1, H, W) in [0, 1], labels ``y`` (N,), and the name actually loaded."""
    x: torch.Tensor
    y: torch.Tensor
    name: str


@lru_cache(maxsize=None)
def _digits_split() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_FRACTION,
                                           random_state=DIGITS_SPLIT_SEED, stratify=bunch.target)
    return {"train": (x[idx_train], y[idx_train]), "test": (x[idx_test], y[idx_test])}


def load_digits(split: str = "train") -> Dataset:
    """scikit-learn's digits as tensors: ``x`` (N, 1, 8, 8) in [0, 1], ``y`` (N,).

    A fixed stratified split (seed 0): 1,437 training and 360 test images.
    """
    validate.one_of("split", split, SPLITS)
    x, y = _digits_split()[split]
    return Dataset(x.clone(), y.clone(), "digits")


def _raw_folder(root: Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def mnist_available(root: str | Path | None = None) -> bool:
    """True when the four MNIST files (gzipped or not) are under ``root/MNIST/raw``."""
    raw = _raw_folder(Path(root) if root is not None else config.data_root())
    return all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in MNIST_FILES)


def _uncompressed_root(root: Path) -> Path:
    """A root whose ``MNIST/raw`` holds the *uncompressed* files, the only ones torchvision's
    MNIST reads: ``root`` itself when they are there, else the course's cache folder, into
    which each ``.gz`` is decompressed (torchvision's ``extract_archive``) once its md5 is
    checked, whole or not at all. Never beside the ``.gz``: the data root may be read-only or
    shared.
    """
    from torchvision.datasets.utils import calculate_md5, check_integrity, extract_archive

    raw = _raw_folder(root)
    if all((raw / n).exists() for n in MNIST_FILES):
        return root
    target = config.cache_dir() / "mnist"
    for name, md5 in MNIST_FILES.items():
        gz, out = raw / f"{name}.gz", _raw_folder(target) / name
        if out.exists():
            continue
        if not check_integrity(gz, md5):
            raise ValueError(f"{gz} is corrupt: md5 {calculate_md5(gz)}, expected {md5}. Delete "
                             "it and download MNIST again (python3 -m vae_course data mnist).")
        with files.atomic_path(out) as tmp:  # extract_archive writes tmp.parent / name
            extract_archive(gz, tmp.parent)
    return target


def _why(err: Exception, part: Path, md5: str) -> str:
    """A download's failure in a few words: torchvision's RuntimeError with the file there is a
    bad md5; anything else (URLError, timeouts, HTTP errors) is named as it is."""
    from torchvision.datasets.utils import calculate_md5

    if type(err) is RuntimeError and part.exists():
        return f"it arrived corrupt (md5 {calculate_md5(part)}, expected {md5})"
    return f"{type(err).__name__}: {str(err).strip()[:120]}"


def _download(name: str, md5: str, folder: Path, raw: Path) -> None:
    """Download ``name`` (e.g. ``t10k-labels-idx1-ubyte.gz``) into ``folder`` from the first
    mirror that serves it with the md5 ``md5`` (torchvision's ``download_url``, which shows a
    progress bar and checks the md5); a ``RuntimeError`` saying what to do when none does."""
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import download_url

    why = "no mirror"
    for mirror in MIRRORS if MIRRORS is not None else MNIST.mirrors:
        try:
            download_url(f"{mirror.rstrip('/')}/{name}", folder, name, md5)
            return
        except (OSError, RuntimeError) as err:  # URLError is an OSError, a bad md5 a RuntimeError
            why = _why(err, folder / name, md5)
    raise RuntimeError(
        f"could not download {name} ({why}). Check the network and run `python3 -m vae_course "
        f"data mnist` again, or copy the four MNIST .gz files into {raw} by hand; meanwhile the "
        "notebooks run on 'digits', which needs no download.")


def fetch_mnist(root: str | Path | None = None) -> Path:
    """Download the four gzipped MNIST files (about 12 MB) once into ``root/MNIST/raw`` and
    return ``root`` (default: the data root, ``$VAE_COURSE_DATA``). The one download path:
    ``python3 -m vae_course data mnist`` and ``load_mnist(download=True)`` both run it.

    Files already there (uncompressed, or gzipped with the right md5) are kept. The others are
    downloaded from torchvision's ``MNIST.mirrors`` in turn (``MIRRORS`` overrides them) into
    a temporary folder inside ``root``, each checked against its md5 (``MNIST_FILES``), and
    moved into ``MNIST/raw`` only when all of them arrived whole; the temporary folder is
    removed whatever happens, Ctrl-C included. Raises a ``RuntimeError`` whose one line says
    what to do when a file cannot be had.
    """
    from torchvision.datasets.utils import check_integrity

    root = Path(root) if root is not None else config.data_root()
    raw = _raw_folder(root)
    missing = {f"{name}.gz": md5 for name, md5 in MNIST_FILES.items()
               if not (raw / name).exists() and not check_integrity(raw / f"{name}.gz", md5)}
    if not missing:
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".mnist-download-") as folder:
        for name, md5 in missing.items():
            _download(name, md5, Path(folder), raw)
        raw.mkdir(parents=True, exist_ok=True)
        for name in missing:
            os.replace(Path(folder) / name, raw / name)
    return root


def load_mnist(split: str = "train", root: str | Path | None = None,
               download: bool | None = None) -> Dataset:
    """MNIST through ``torchvision.datasets.MNIST``: ``x`` (N, 1, 28, 28) in [0, 1], ``y`` (N,).

    Uses the files under ``root`` (default: the data root); downloads only when ``download``
    is True (default: ``VAE_COURSE_DOWNLOAD``), through ``fetch_mnist``. Raises ``FileNotFoundError`` when the files
    are absent and no download is allowed.
    """
    from torchvision.datasets import MNIST

    validate.one_of("split", split, SPLITS)
    root = Path(root) if root is not None else config.data_root()
    download = config.download_allowed() if download is None else download
    if not mnist_available(root):
        if not download:
            raise FileNotFoundError(
                f"MNIST files not found under {_raw_folder(root)}; pass download=True or set "
                "VAE_COURSE_DOWNLOAD=1 to download them (about 12 MB)")
        fetch_mnist(root)
    ds = MNIST(root=_uncompressed_root(root), train=(split == "train"), download=False)
    return Dataset(ds.data.unsqueeze(1).float() / 255.0, ds.targets.clone(), "mnist")


def load_dataset(name: str = "digits", split: str = "train", *, root: str | Path | None = None,
                 download: bool | None = None) -> Dataset:
    """Load ``digits`` or ``mnist``; MNIST that is unavailable falls back to digits.

    The fallback prints one line saying so; ``Dataset.name`` tells what was loaded.
    """
    validate.one_of("name", name, ("digits", "mnist"))
    if name == "mnist":
        try:
            return load_mnist(split, root=root, download=download)
        except FileNotFoundError as err:
            print(f"{err}. Using 'digits' instead.")
    return load_digits(split)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel x in [0, 1] becomes Bernoulli(x) (a fresh draw per call).

    Used for likelihood numbers, which are reported on binarized images (Salakhutdinov and
    Murray 2008; Burda et al. 2016): on binary x a Bernoulli decoder is a likelihood, on grey x
    only a reconstruction cross-entropy. Notebooks 07, 11 and 13 binarize MNIST and ``digits``.
    """
    validate.tensor("x", x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"x must lie in [0, 1] to be binarized, got range [{x.min():.3g}, {x.max():.3g}]")
    return torch.bernoulli(x, generator=generator)
