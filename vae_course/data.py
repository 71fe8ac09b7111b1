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


MIRRORS: list[str] | None = None  # base URLs for ``fetch_mnist``; None: torchvision's MNIST.mirrors


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fetch_file(url: str, target: Path, md5: str, progress: bool) -> None:
    """Download ``url`` to ``target`` through a temporary file beside it, with a progress bar;
    keep it only when its md5 is ``md5`` (so ``target`` is whole or untouched)."""
    import urllib.request

    from tqdm.auto import tqdm

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, os.fdopen(fd, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=target.name, disable=not progress,
                      leave=False) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        digest = _md5(Path(tmp))
        if digest != md5:
            raise ValueError(f"it arrived corrupt (md5 {digest}, expected {md5})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_mnist(root: str | Path | None = None, progress: bool = True) -> Path:
    """Download the four gzipped MNIST files (about 12 MB) once into ``root/MNIST/raw`` and
    return ``root`` (default: the data root, ``$VAE_COURSE_DATA``). This is what
    ``python3 -m vae_course data mnist`` runs.

    Files already there with the right md5 are kept; each new file is checked against its md5
    (``MNIST_FILES``) and moved into place only when whole. The mirrors tried in turn are
    torchvision's (``MIRRORS`` overrides them). Without network it raises a ``RuntimeError``
    whose one line says what to do.
    """
    root = Path(root) if root is not None else config.data_root()
    raw = _raw_folder(root)
    raw.mkdir(parents=True, exist_ok=True)
    if MIRRORS is not None:
        mirrors = MIRRORS
    else:
        from torchvision.datasets import MNIST
        mirrors = MNIST.mirrors
    for name, md5 in MNIST_FILES.items():
        target = raw / f"{name}.gz"
        if (raw / name).exists() or (target.exists() and _md5(target) == md5):
            continue
        failures = []
        for mirror in mirrors:
            try:
                _fetch_file(f"{mirror.rstrip('/')}/{name}.gz", target, md5, progress)
                break
            except (OSError, ValueError) as err:  # URLError and timeouts are OSErrors
                failures.append(str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {str(err).strip()[:120]}")
        else:
            raise RuntimeError(
                f"could not download {name}.gz ({failures[-1] if failures else 'no mirror'}). Check the network "
                f"and run `python3 -m vae_course data mnist` again, or copy the four MNIST .gz files into {raw}; "
                "meanwhile the notebooks run on 'digits', which needs no download.")
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

    Used for likelihood numbers, which are reported on binarized images (Salakhutdinov and
    Murray 2008; Burda et al. 2016): on binary x a Bernoulli decoder is a likelihood, on grey x
    only a reconstruction cross-entropy. Notebooks 07, 11 and 13 binarize MNIST and ``digits``.
    """
    validate.tensor("x", x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"x must lie in [0, 1] to be binarized, got range [{x.min():.3g}, {x.max():.3g}]")
    return torch.bernoulli(x, generator=generator)


# --- sprites: a procedural dSprites (Matthey et al. 2017) -------------------------------------

SPRITE_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SPRITE_SHAPES = ("square", "ellipse", "heart")
SPRITE_SIZES = (3, 6, 10, 8, 8)  # 11,520 images: small enough to train on a CPU
SPRITE_SCALE_RANGE = (0.5, 1.0)  # as in dSprites
SPRITE_MAX_RADIUS = 0.25  # radius (fraction of the canvas) of the disk holding a scale-1 sprite
# A rotation by this angle maps the shape onto itself: orientations cover one period each, so
# that every orientation index gives a different image (dSprites' 0..2 pi range repeats squares
# four times and ellipses twice, which puts labels in the data that no image can reveal).
SPRITE_SYMMETRY = (torch.pi / 2, torch.pi, 2 * torch.pi)


class Sprites(NamedTuple):
    """Images ``x`` (N, 1, S, S) in [0, 1], integer factor indices ``factors`` (N, 5), the factor
    ``names`` (shape, scale, orientation, pos_x, pos_y) and ``sizes`` (levels of each factor)."""
    x: torch.Tensor
    factors: torch.Tensor
    names: tuple[str, ...]
    sizes: tuple[int, ...]


def _check_sprite_sizes(sizes: object) -> tuple[int, ...]:
    if not isinstance(sizes, (tuple, list)) or len(sizes) != len(SPRITE_NAMES):
        raise ValueError(f"sizes must be a sequence of {len(SPRITE_NAMES)} ints (levels of "
                         f"{', '.join(SPRITE_NAMES)}), got {sizes!r}")
    for name, value in zip(SPRITE_NAMES, sizes):
        validate.positive_int(f"sizes[{name}]", value)
    if sizes[0] > len(SPRITE_SHAPES):
        raise ValueError(f"sizes[shape] must be at most {len(SPRITE_SHAPES)} {SPRITE_SHAPES}, got {sizes[0]}")
    return tuple(sizes)


def _levels(lo: float, hi: float, n: int) -> torch.Tensor:
    """n evenly spaced values from lo to hi (the midpoint when n = 1)."""
    return torch.linspace(lo, hi, n) if n > 1 else torch.tensor([(lo + hi) / 2])


def sprite_geometry(factors: torch.Tensor, sizes: tuple[int, ...] = SPRITE_SIZES,
                    size: int = 32) -> dict[str, torch.Tensor]:
    """The geometry of each sprite in pixels, from its factor indices (N, 5):
    ``radius`` = scale * SPRITE_MAX_RADIUS * S (the disk that holds the sprite at any angle),
    ``angle`` = k * period / n_orientations with the shape's symmetry period (SPRITE_SYMMETRY),
    and the centre ``cx``, ``cy`` in [R + 1, S - R - 1] (R the largest radius), so every sprite
    stays one pixel inside the canvas. Each value has shape (N,); y grows downwards.
    """
    sizes = _check_sprite_sizes(sizes)
    validate.positive_int("size", size, minimum=8)
    validate.tensor("factors", factors, ndim=2, shape=(None, len(SPRITE_NAMES)), floating=False)
    if factors.is_floating_point():
        raise TypeError(f"factors must be an integer tensor of factor indices, got dtype {factors.dtype}")
    for k, (name, n) in enumerate(zip(SPRITE_NAMES, sizes)):
        if len(factors) and not 0 <= factors[:, k].min() <= factors[:, k].max() < n:
            raise ValueError(f"factors[:, {k}] ({name}) must hold indices in [0, {n}), got values in "
                             f"[{factors[:, k].min().item()}, {factors[:, k].max().item()}]")
    shape, scale, turn, ix, iy = factors.long().unbind(1)
    r_max = SPRITE_MAX_RADIUS * size
    centres = _levels(r_max + 1, size - r_max - 1, sizes[3]), _levels(r_max + 1, size - r_max - 1, sizes[4])
    period = torch.tensor(SPRITE_SYMMETRY)[shape]
    return {"shape": shape, "radius": _levels(*SPRITE_SCALE_RANGE, sizes[1])[scale] * r_max,
            "angle": turn * period / sizes[2], "cx": centres[0][ix], "cy": centres[1][iy]}


def _inside(shape: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Whether the points (u, v) of the unit sprite frame (v up) lie inside shape ``shape``.
    Each shape fits the unit disk at any rotation."""
    if shape == 0:  # square of circumradius 1
        return torch.maximum(u.abs(), v.abs()) <= 0.5 ** 0.5
    if shape == 1:  # ellipse with semi-axes 1 and 1/2
        return u ** 2 + (2 * v) ** 2 <= 1
    # heart (x^2 + y^2 - 1)^3 <= x^2 y^3, which spans x in [-1.14, 1.14], y in [-1, 1.24]:
    # the disk of radius 1.25 about (0, 0.25) holds it, so scale by 1.25 and shift by 0.25
    x, y = 1.25 * u, 1.25 * v + 0.25
    return (x ** 2 + y ** 2 - 1) ** 3 <= x ** 2 * y ** 3


def _draw(geo: dict[str, torch.Tensor], pixels: int, supersample: int, chunk: int) -> torch.Tensor:
    """Antialiased drawings (N, pixels, pixels) of the sprites ``geo`` (centres in pixels of this
    canvas): each pixel is the fraction of its supersample x supersample sub-pixel points inside."""
    t = (torch.arange(pixels * supersample) + 0.5) / supersample  # sub-pixel centres, in pixels
    out = torch.zeros(len(geo["shape"]), pixels * supersample, pixels * supersample)
    for start in range(0, len(out), chunk):
        part = {k: v[start:start + chunk, None, None] for k, v in geo.items()}
        dx = (t[None, None, :] - part["cx"]) / part["radius"]
        dy = (part["cy"] - t[None, :, None]) / part["radius"]  # y up in the sprite's frame
        cos, sin = torch.cos(part["angle"]), torch.sin(part["angle"])
        u, v = cos * dx + sin * dy, cos * dy - sin * dx  # rotated by -angle
        for s in range(len(SPRITE_SHAPES)):
            rows = (part["shape"].flatten() == s).nonzero().flatten()
            out[start + rows] = _inside(s, u[rows], v[rows]).float()
    return out.view(len(out), pixels, supersample, pixels, supersample).mean((2, 4))


def render_sprites(factors: torch.Tensor, sizes: tuple[int, ...] = SPRITE_SIZES, size: int = 32,
                   supersample: int = 4, chunk: int = 256) -> torch.Tensor:
    """Draw the sprites of the factor indices ``factors`` (N, 5): images (N, 1, S, S) in [0, 1].

    Antialiased: each pixel is the fraction of its ``supersample`` x ``supersample`` grid of
    sub-pixel points inside the shape, so edges take grey levels and a sub-pixel shift of the
    sprite changes the image smoothly (no aliasing that would leak position or angle). A point
    p is inside when R(-angle) (p - centre) / radius, with the y axis flipped to point up,
    lies in the unit shape (see ``_inside``).

    Speed: a sprite differs from another of the same shape, scale, angle and sub-pixel offset
    only by a whole-pixel shift, so each distinct one is drawn once on a small patch (in
    ``chunk``-sized batches) and pasted at its integer offset.
    """
    validate.positive_int("supersample", supersample)
    validate.positive_int("chunk", chunk)
    geo = sprite_geometry(factors, sizes, size)
    half = int(SPRITE_MAX_RADIUS * size) + 2  # patch half-width: the largest radius + 1 pixel
    corner_x, corner_y = geo["cx"].floor() - half, geo["cy"].floor() - half
    keys = torch.stack([geo["shape"].float(), geo["radius"], geo["angle"],
                        geo["cx"] - corner_x, geo["cy"] - corner_y], 1)
    unique, which = torch.unique(keys, dim=0, return_inverse=True)
    patch_geo = dict(zip(("shape", "radius", "angle", "cx", "cy"), unique.unbind(1)))
    patch_geo["shape"] = patch_geo["shape"].long()
    patches = _draw(patch_geo, 2 * half + 1, supersample, chunk)
    # paste on a canvas padded by `half` on every side, so no patch index leaves it, then crop
    canvas = torch.zeros(len(factors), size + 2 * half, size + 2 * half)
    offsets = torch.arange(2 * half + 1)
    rows = (corner_y.long() + half)[:, None, None] + offsets[None, :, None]
    cols = (corner_x.long() + half)[:, None, None] + offsets[None, None, :]
    canvas[torch.arange(len(factors))[:, None, None], rows, cols] = patches[which]
    return canvas[:, None, half:half + size, half:half + size].contiguous()


def sprites(n: int | None = 10_000, *, seed: int = 0, grid: bool = False,
            sizes: tuple[int, ...] = SPRITE_SIZES, size: int = 32, supersample: int = 4) -> Sprites:
    """A procedural dSprites (Matthey et al. 2017): white shapes on black with five known factors,
    shape {square, ellipse, heart}, scale in [0.5, 1], orientation, and x and y position, each on
    ``sizes`` evenly spaced levels (default 3 x 6 x 10 x 8 x 8 = 11,520 combinations).

    Orientations span each shape's symmetry period (square 90, ellipse 180, heart 360 degrees),
    so that every level gives a different image; positions keep the sprite inside the canvas
    (see ``sprite_geometry``); edges are antialiased (see ``render_sprites``).

    ``grid=False``: ``n`` images whose factor indices are drawn uniformly and independently
    from a generator seeded with ``seed`` (the same seed gives the same images).
    ``grid=True`` (with ``n=None``): every combination of the levels, prod(sizes) images in
    row-major order (the last factor, pos_y, changes fastest), e.g. for metrics; smaller
    ``sizes`` give a coarser sub-grid spanning the same ranges.
    Returns ``Sprites(x (N, 1, size, size) in [0, 1], factors (N, 5) int64, names, sizes)``.
    """
    sizes = _check_sprite_sizes(sizes)
    if not isinstance(grid, bool):
        raise TypeError(f"grid must be a bool, got {type(grid).__name__}")
    if grid:
        if n is not None:
            raise ValueError(f"grid=True enumerates all prod(sizes) images: pass n=None, got n={n!r}")
        factors = torch.cartesian_prod(*(torch.arange(s) for s in sizes))
    else:
        if n is None:
            raise ValueError("n=None needs grid=True; pass the number of images n otherwise")
        validate.positive_int("n", n)
        validate.positive_int("seed", seed, minimum=0)
        generator = torch.Generator().manual_seed(seed)
        factors = torch.stack([torch.randint(s, (n,), generator=generator) for s in sizes], 1)
    return Sprites(render_sprites(factors, sizes, size, supersample), factors, SPRITE_NAMES, sizes)
