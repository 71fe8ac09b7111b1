"""The course's procedural dSprites (Matthey et al. 2017): white shapes on black, drawn from five
known factors (shape, scale, orientation, x and y position), for the disentanglement notebooks.

``make`` draws a data set (random factors from a seed, or the whole factorial grid), ``render``
draws the images of given factor indices, ``geometry`` says where each sprite lies in pixels.
Images are float tensors (N, 1, S, S) in [0, 1]; factor indices are int64 tensors (N, 5).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from vae_course import validate

NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES = ("square", "ellipse", "heart")
SIZES = (3, 6, 10, 8, 8)  # 11,520 images: small enough to train on a CPU
SCALE_RANGE = (0.5, 1.0)  # as in dSprites
MAX_RADIUS = 0.25  # radius (fraction of the canvas) of the disk holding a scale-1 sprite
# A rotation by this angle maps the shape onto itself: orientations cover one period each, so
# that every orientation index gives a different image (dSprites' 0..2 pi range repeats squares
# four times and ellipses twice, which puts labels in the data that no image can reveal).
SYMMETRY = (torch.pi / 2, torch.pi, 2 * torch.pi)


class Sprites(NamedTuple):
    """Images ``x`` (N, 1, S, S) in [0, 1], integer factor indices ``factors`` (N, 5), the factor
    ``names`` (shape, scale, orientation, pos_x, pos_y) and ``sizes`` (levels of each factor)."""
    x: torch.Tensor
    factors: torch.Tensor
    names: tuple[str, ...]
    sizes: tuple[int, ...]


def _check_sizes(sizes: object) -> tuple[int, ...]:
    if not isinstance(sizes, (tuple, list)) or len(sizes) != len(NAMES):
        raise ValueError(f"sizes must be a sequence of {len(NAMES)} ints (levels of "
                         f"{', '.join(NAMES)}), got {sizes!r}")
    for name, value in zip(NAMES, sizes):
        validate.positive_int(f"sizes[{name}]", value)
    if sizes[0] > len(SHAPES):
        raise ValueError(f"sizes[shape] must be at most {len(SHAPES)} {SHAPES}, got {sizes[0]}")
    return tuple(sizes)


def _levels(lo: float, hi: float, n: int) -> torch.Tensor:
    """n evenly spaced values from lo to hi (the midpoint when n = 1)."""
    return torch.linspace(lo, hi, n) if n > 1 else torch.tensor([(lo + hi) / 2])


def geometry(factors: torch.Tensor, sizes: tuple[int, ...] = SIZES,
             size: int = 32) -> dict[str, torch.Tensor]:
    """The geometry of each sprite in pixels, from its factor indices (N, 5):
    ``radius`` = scale * MAX_RADIUS * S (the disk that holds the sprite at any angle),
    ``angle`` = k * period / n_orientations with the shape's symmetry period (SYMMETRY),
    and the centre ``cx``, ``cy`` in [R + 1, S - R - 1] (R the largest radius), so every sprite
    stays one pixel inside the canvas. Each value has shape (N,); y grows downwards.
    """
    sizes = _check_sizes(sizes)
    validate.positive_int("size", size, minimum=8)
    validate.tensor("factors", factors, ndim=2, shape=(None, len(NAMES)), floating=False)
    if factors.is_floating_point():
        raise TypeError("factors must be an integer tensor of factor indices, "
                        f"got dtype {factors.dtype}")
    for k, (name, n) in enumerate(zip(NAMES, sizes)):
        if len(factors) and not 0 <= factors[:, k].min() <= factors[:, k].max() < n:
            raise ValueError(f"factors[:, {k}] ({name}) must hold indices in [0, {n}), got values "
                             f"in [{factors[:, k].min().item()}, {factors[:, k].max().item()}]")
    shape, scale, turn, ix, iy = factors.long().unbind(1)
    r_max = MAX_RADIUS * size
    cx, cy = (_levels(r_max + 1, size - r_max - 1, n) for n in sizes[3:])
    period = torch.tensor(SYMMETRY)[shape]
    return {"shape": shape, "radius": _levels(*SCALE_RANGE, sizes[1])[scale] * r_max,
            "angle": turn * period / sizes[2], "cx": cx[ix], "cy": cy[iy]}


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


def _rasterize(geo: dict[str, torch.Tensor], pixels: int, supersample: int,
               chunk: int) -> torch.Tensor:
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
        for s in range(len(SHAPES)):
            rows = (part["shape"].flatten() == s).nonzero().flatten()
            out[start + rows] = _inside(s, u[rows], v[rows]).float()
    return out.view(len(out), pixels, supersample, pixels, supersample).mean((2, 4))


def render(factors: torch.Tensor, sizes: tuple[int, ...] = SIZES, size: int = 32,
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
    geo = geometry(factors, sizes, size)
    half = int(MAX_RADIUS * size) + 2  # patch half-width: the largest radius + 1 pixel
    corner_x, corner_y = geo["cx"].floor() - half, geo["cy"].floor() - half
    keys = torch.stack([geo["shape"].float(), geo["radius"], geo["angle"],
                        geo["cx"] - corner_x, geo["cy"] - corner_y], 1)
    unique, which = torch.unique(keys, dim=0, return_inverse=True)
    patch_geo = dict(zip(("shape", "radius", "angle", "cx", "cy"), unique.unbind(1)))
    patch_geo["shape"] = patch_geo["shape"].long()
    patches = _rasterize(patch_geo, 2 * half + 1, supersample, chunk)
    # paste on a canvas padded by `half` on every side, so no patch index leaves it, then crop
    canvas = torch.zeros(len(factors), size + 2 * half, size + 2 * half)
    offsets = torch.arange(2 * half + 1)
    rows = (corner_y.long() + half)[:, None, None] + offsets[None, :, None]
    cols = (corner_x.long() + half)[:, None, None] + offsets[None, None, :]
    canvas[torch.arange(len(factors))[:, None, None], rows, cols] = patches[which]
    return canvas[:, None, half:half + size, half:half + size].contiguous()


def make(n: int | None = 10_000, *, seed: int = 0, grid: bool = False,
         sizes: tuple[int, ...] = SIZES, size: int = 32, supersample: int = 4) -> Sprites:
    """A procedural dSprites (Matthey et al. 2017): white shapes on black with five known factors,
    shape {square, ellipse, heart}, scale in [0.5, 1], orientation, and x and y position, each on
    ``sizes`` evenly spaced levels (default 3 x 6 x 10 x 8 x 8 = 11,520 combinations).

    Orientations span each shape's symmetry period (square 90, ellipse 180, heart 360 degrees),
    so that every level gives a different image; positions keep the sprite inside the canvas
    (see ``geometry``); edges are antialiased (see ``render``).

    ``grid=False``: ``n`` images whose factor indices are drawn uniformly and independently
    from a generator seeded with ``seed`` (the same seed gives the same images).
    ``grid=True`` (with ``n=None``): every combination of the levels, prod(sizes) images in
    row-major order (the last factor, pos_y, changes fastest), e.g. for metrics; smaller
    ``sizes`` give a coarser sub-grid spanning the same ranges.
    Returns ``Sprites(x (N, 1, size, size) in [0, 1], factors (N, 5) int64, names, sizes)``.
    """
    sizes = _check_sizes(sizes)
    if not isinstance(grid, bool):
        raise TypeError(f"grid must be a bool, got {type(grid).__name__}")
    if grid:
        if n is not None:
            raise ValueError("grid=True enumerates all prod(sizes) images: pass n=None, "
                             f"got n={n!r}")
        factors = torch.cartesian_prod(*(torch.arange(s) for s in sizes))
    else:
        if n is None:
            raise ValueError("n=None needs grid=True; pass the number of images n otherwise")
        validate.positive_int("n", n)
        validate.positive_int("seed", seed, minimum=0)
        generator = torch.Generator().manual_seed(seed)
        factors = torch.stack([torch.randint(s, (n,), generator=generator) for s in sizes], 1)
    return Sprites(render(factors, sizes, size, supersample), factors, NAMES, sizes)


def index_of(factors: torch.Tensor, levels: Sequence[int]) -> int:
    """The row of ``factors`` (N, 5) whose factor indices equal ``levels`` (5 ints), e.g. a
    central, mid-sized sprite of the factorial set for traversals; ValueError if none does."""
    validate.integer_tensor("factors", factors, ndim=2)
    if len(factors) and factors.min() < 0:
        raise ValueError(f"factors must hold factor indices >= 0, got a minimum of {int(factors.min())}")
    if not isinstance(levels, (tuple, list)) or len(levels) != factors.shape[1]:
        raise ValueError(f"levels must be {factors.shape[1]} factor indices, got {levels!r}")
    hits = (factors == torch.tensor(levels, dtype=factors.dtype)).all(1).nonzero()
    if len(hits) == 0:
        raise ValueError(f"no image has the factor levels {tuple(levels)}")
    return int(hits[0])
