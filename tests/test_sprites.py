"""The procedural sprites: determinism, shapes, the factor grid, antialiasing, and each image
against an independent brute-force drawing from the documented geometry."""
import math

import numpy as np
import pytest
import torch

from vae_course import sprites

SMALL = (3, 2, 3, 3, 3)  # a 162-image sub-grid keeps the tests fast


def brute_force(factors, sizes=sprites.SIZES, size=32, supersample=4):
    """Draw each sprite on the whole canvas from the documented geometry, one image at a time."""
    r_max = 0.25 * size
    scales = np.linspace(0.5, 1.0, sizes[1]) if sizes[1] > 1 else np.array([0.75])
    centres = [np.linspace(r_max + 1, size - r_max - 1, n) if n > 1 else np.array([size / 2])
               for n in sizes[3:]]
    t = (np.arange(size * supersample) + 0.5) / supersample
    px, py = np.meshgrid(t, t)  # px varies along columns, py along rows
    images = []
    for shape, scale, turn, ix, iy in np.asarray(factors):
        r = scales[scale] * r_max
        angle = turn * (math.pi / 2, math.pi, 2 * math.pi)[shape] / sizes[2]
        dx, dy = (px - centres[0][ix]) / r, (centres[1][iy] - py) / r
        u = math.cos(angle) * dx + math.sin(angle) * dy
        v = -math.sin(angle) * dx + math.cos(angle) * dy
        if shape == 0:
            inside = np.maximum(abs(u), abs(v)) <= math.sqrt(0.5)
        elif shape == 1:
            inside = u ** 2 + 4 * v ** 2 <= 1
        else:
            x, y = 1.25 * u, 1.25 * v + 0.25
            inside = (x ** 2 + y ** 2 - 1) ** 3 <= x ** 2 * y ** 3
        images.append(inside.reshape(size, supersample, size, supersample).mean((1, 3)))
    return np.stack(images)[:, None]


def test_same_seed_same_images_other_seed_other_images():
    a, b, c = sprites.make(40, seed=3), sprites.make(40, seed=3), sprites.make(40, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, c.factors)


def test_shapes_types_and_ranges():
    s = sprites.make(100, seed=0)
    assert s.x.shape == (100, 1, 32, 32) and s.x.dtype == torch.float32
    assert s.factors.shape == (100, 5) and s.factors.dtype == torch.int64
    assert s.names == ("shape", "scale", "orientation", "pos_x", "pos_y") and s.sizes == sprites.SIZES
    assert s.x.min() >= 0 and s.x.max() <= 1 and s.x.max() == 1
    assert (s.factors >= 0).all() and (s.factors < torch.tensor(s.sizes)).all()
    for k, n in enumerate(s.sizes):  # 100 uniform draws reach every level of every factor
        assert len(s.factors[:, k].unique()) == n


def assert_same_drawing(got, expected, supersample=4):
    """Equal up to sub-pixel points lying on an edge within rounding (float32 here, float64 in
    the reference): at most one of a pixel's sub-pixel points, in very few pixels."""
    diff = np.abs(got - expected)
    assert diff.max() <= 1 / supersample ** 2 + 1e-6 and (diff > 1e-6).mean() < 0.002


def test_images_match_brute_force_drawing():
    s = sprites.make(60, seed=1)
    assert_same_drawing(s.x.numpy(), brute_force(s.factors))
    g = sprites.make(None, grid=True, sizes=(3, 1, 2, 5, 1), size=24)  # off-pixel centres
    assert_same_drawing(g.x.numpy(), brute_force(g.factors, (3, 1, 2, 5, 1), 24))


def test_grid_enumerates_every_combination_in_row_major_order():
    g = sprites.make(None, grid=True, sizes=SMALL)
    assert len(g.x) == math.prod(SMALL) and g.sizes == SMALL
    assert len(torch.unique(g.factors, dim=0)) == math.prod(SMALL)
    assert g.factors[:3].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 2]]
    assert torch.equal(g.factors, torch.cartesian_prod(*(torch.arange(n) for n in SMALL)))


def test_the_default_grid_is_a_cpu_sized_data_set():
    assert math.prod(sprites.SIZES) == 11_520


def test_every_factor_changes_the_image():
    base = torch.tensor([1, 3, 1, 3, 4])
    for k in range(5):
        other = base.clone()
        other[k] += 1
        a, b = sprites.render(torch.stack([base, other]))
        assert (a - b).abs().max() > 0.5, f"factor {sprites.NAMES[k]} does not change the image"


def test_every_orientation_level_gives_a_different_image():
    # orientations span one symmetry period per shape, so no two levels look the same
    factors = torch.tensor([[s, 5, k, 4, 4] for s in range(3) for k in range(10)])
    x = sprites.render(factors).view(3, 10, -1)
    gaps = (x[:, :, None] - x[:, None]).abs().amax(-1) + torch.eye(10)
    assert gaps.min() > 0.05


def test_antialiasing_gives_grey_edges_and_exact_areas():
    x = sprites.make(200, seed=2).x
    grey = ((x > 0.02) & (x < 0.98)).float().mean()
    assert grey > 0.02, "no intermediate grey values: edges are not antialiased"
    hard = sprites.make(200, seed=2, supersample=1).x
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    # ink equals the area of the shape: square of circumradius r is 2 r^2, ellipse pi r^2 / 2
    r = 8.0  # scale 1 at 32 x 32
    square, ellipse = sprites.render(torch.tensor([[0, 5, 3, 4, 4], [1, 5, 3, 4, 4]]))
    assert square.sum().item() == pytest.approx(2 * r ** 2, rel=0.01)
    assert ellipse.sum().item() == pytest.approx(math.pi * r ** 2 / 2, rel=0.01)


def test_sprites_stay_inside_the_canvas():
    g = sprites.make(None, grid=True, sizes=(3, 2, 10, 2, 2))  # extreme scales and positions
    border = torch.cat([g.x[..., 0, :], g.x[..., -1, :], g.x[..., :, 0], g.x[..., :, -1]], -1)
    assert border.max() == 0


def test_heart_is_a_heart():
    square, ellipse, heart = sprites.render(torch.tensor([[s, 5, 0, 4, 4] for s in range(3)]))[:, 0]
    assert (heart - ellipse).abs().sum() > 20 and (heart - square).abs().sum() > 20
    centred = heart[:, 2:]  # x level 4 puts the centre at column 17, the middle of columns 2..31
    assert torch.equal(centred, centred.flip(-1)), "an upright heart is mirror symmetric"
    assert (heart - heart.flip(-2)).abs().sum() > 20, "an upright heart is not up-down symmetric"
    rows = heart.sum(1).nonzero().flatten()
    top, bottom = heart[rows[0]], heart[rows[-1]]
    assert top[16:18].max() < top.max() / 2, "two lobes with a notch between them at the top"
    assert bottom.sum() < 1.5 and heart[rows[-1] - 3].sum() > 3, "a point at the bottom"


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n=None), ValueError, "grid=True"),
    (dict(n=10, grid=True), ValueError, "n=None"),
    (dict(n=0), ValueError, "n must be >= 1"),
    (dict(n=2.5), TypeError, "n must be an int"),
    (dict(n=5, seed=-1), ValueError, "seed"),
    (dict(n=5, sizes=(3, 6, 10, 8)), ValueError, "sizes must be a sequence of 5"),
    (dict(n=5, sizes=(4, 6, 10, 8, 8)), ValueError, "at most 3"),
    (dict(n=5, sizes=(3, 0, 10, 8, 8)), ValueError, r"sizes\[scale\]"),
    (dict(n=5, size=4), ValueError, "size must be >= 8"),
    (dict(n=5, supersample=0), ValueError, "supersample"),
    (dict(n=5, grid="yes"), TypeError, "grid must be a bool"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        sprites.make(**kwargs)


def test_render_rejects_bad_factors():
    with pytest.raises(ValueError, match=r"shape \(\*, 5\)"):
        sprites.render(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="indices in"):
        sprites.render(torch.tensor([[0, 6, 0, 0, 0]]))
    with pytest.raises(TypeError, match="integer tensor"):
        sprites.render(torch.zeros(2, 5))


def test_index_of_finds_the_row_with_those_levels():
    data = sprites.make(None, grid=True, sizes=(2, 2, 2, 3, 3))
    levels = (1, 0, 1, 1, 2)
    i = sprites.index_of(data.factors, levels)
    assert data.factors[i].tolist() == list(levels)
    with pytest.raises(ValueError, match=r"no image has the factor levels \(0, 0, 0, 0, 5\)"):
        sprites.index_of(data.factors, (0, 0, 0, 0, 5))
    with pytest.raises(ValueError, match="levels must be 5 factor indices"):
        sprites.index_of(data.factors, (0, 0))
