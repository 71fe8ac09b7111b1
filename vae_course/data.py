"""Data sets, offline by default.

- ``digits``: scikit-learn's 1,797 8x8 handwritten digits (ships with scikit-learn), with a
  fixed stratified train/test split.
- ``mnist``: torchvision's MNIST, used only when its files are under the data root or the user
  allows a download (``download=True`` or ``VAE_COURSE_DOWNLOAD=1``).

Images are float tensors of shape (N, 1, H, W) in [0, 1]; labels are int64 tensors (N,).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from vae_course import config, validate

SPLITS = ("train", "test")
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
MNIST_FILES = {  # torchvision's names and md5 sums of the gzipped originals
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}


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


def _atomic_gunzip(src: Path, dst: Path) -> None:
    """Decompress ``src`` to ``dst`` through a temporary file, so ``dst`` is whole or absent."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    try:
        with gzip.open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _torchvision_root(root: Path) -> Path:
    """A root where torchvision finds the *uncompressed* files, decompressing if needed.

    torchvision reads only uncompressed files. When ``root`` holds just the ``.gz`` files,
    they are checked against their md5 sums and decompressed into the course's cache folder
    (never beside them: the data root may be read-only or shared).
    """
    raw = _raw_folder(root)
    if all((raw / n).exists() for n in MNIST_FILES):
        return root
    target = config.cache_dir() / "mnist"
    for name, md5 in MNIST_FILES.items():
        out = _raw_folder(target) / name
        if out.exists():
            continue
        gz = raw / f"{name}.gz"
        digest = hashlib.md5(gz.read_bytes()).hexdigest()
        if digest != md5:
            raise ValueError(f"{gz} is corrupt: md5 {digest}, expected {md5}. Delete it and "
                             "download MNIST again (VAE_COURSE_DOWNLOAD=1).")
        _atomic_gunzip(gz, out)
    return target


def download_mnist(root: str | Path | None = None) -> Path:
    """Download MNIST with torchvision into ``root/MNIST/raw`` and return ``root``.

    The download goes to a temporary folder inside ``root`` and is moved into place only when
    all four files arrived, so a failure leaves nothing half-written; it raises a
    ``RuntimeError`` that says what to do next.
    """
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else config.data_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".mnist-download-"))
    try:
        MNIST(root=tmp, train=True, download=True)
        final = _raw_folder(root)
        final.mkdir(parents=True, exist_ok=True)
        for name in MNIST_FILES:
            os.replace(_raw_folder(tmp) / name, final / name)
    except Exception as err:
        raise RuntimeError(
            f"Could not download MNIST into {root} ({type(err).__name__}: {str(err).strip()[:200]}). "
            f"Either copy the four files {sorted(MNIST_FILES)} (.gz is fine) into {_raw_folder(root)} "
            "by hand, or carry on with the 'digits' data set, which needs no download.") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def load_mnist(split: str = "train", root: str | Path | None = None,
               download: bool | None = None) -> Dataset:
    """MNIST through ``torchvision.datasets.MNIST``: ``x`` (N, 1, 28, 28) in [0, 1], ``y`` (N,).

    Uses the files under ``root`` (default: the data root); downloads only when ``download``
    is True (default: ``VAE_COURSE_DOWNLOAD``). Raises ``FileNotFoundError`` when the files
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
        download_mnist(root)
    ds = MNIST(root=_torchvision_root(root), train=(split == "train"), download=False)
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

    Used for MNIST likelihood numbers, which are reported on binarized images
    (Salakhutdinov and Murray 2008; Burda et al. 2016).
    """
    validate.tensor("x", x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"x must lie in [0, 1] to be binarized, got range [{x.min():.3g}, {x.max():.3g}]")
    return torch.bernoulli(x, generator=generator)
