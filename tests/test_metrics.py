"""MIG and its pieces against explicit loops over counts, and on codes whose answer is known."""
import math
from collections import Counter

import numpy as np
import pytest

from vae_course import metrics

# every combination of three factors with 3, 5 and 4 levels: independent and uniform
GRID = np.stack(np.meshgrid(np.arange(3), np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 3)


def entropy_loop(a):
    n = len(a)
    return -sum(c / n * math.log(c / n) for c in Counter(a.tolist()).values())


def mutual_info_loop(a, b):
    n, pa, pb = len(a), Counter(a.tolist()), Counter(b.tolist())
    return sum(c / n * math.log((c / n) / (pa[x] / n * pb[y] / n))
               for (x, y), c in Counter(zip(a.tolist(), b.tolist())).items())


def test_entropy_and_mutual_info_match_loops_over_counts():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 300)
    b = (a + rng.integers(0, 2, 300)) % 5 * 10 - 7  # dependent on a, arbitrary label values
    assert metrics.discrete_entropy(a) == pytest.approx(entropy_loop(a), rel=1e-12)
    assert metrics.discrete_mutual_info(a, b) == pytest.approx(mutual_info_loop(a, b), rel=1e-12)
    assert metrics.discrete_mutual_info(a, a) == pytest.approx(entropy_loop(a), rel=1e-12)
    assert metrics.discrete_mutual_info(a, b) == pytest.approx(metrics.discrete_mutual_info(b, a), rel=1e-12)


def test_known_values_in_nats():
    assert metrics.discrete_entropy(np.arange(8)) == pytest.approx(math.log(8))
    assert metrics.discrete_mutual_info(GRID[:, 0], GRID[:, 1]) == pytest.approx(0, abs=1e-12)


def test_discretize_uses_equal_width_bins_over_the_range():
    codes = np.array([[0.0, 5.0], [0.24, 5.0], [0.26, 5.0], [1.0, 5.0]])
    binned = metrics.discretize(codes, n_bins=4)
    assert binned[:, 0].tolist() == [0, 0, 1, 3]
    assert len(set(binned[:, 1].tolist())) == 1  # a constant column falls in one bin
    x = np.random.default_rng(1).normal(size=(500, 1))
    expected = np.minimum(((x - x.min()) / (x.max() - x.min()) * 20).astype(int), 19)
    assert (metrics.discretize(x, 20) == expected).mean() > 0.99  # up to rounding at bin edges


def test_mutual_info_matrix_matches_loops():
    rng = np.random.default_rng(2)
    codes = np.c_[GRID[:, 1] + 0.3 * rng.normal(size=len(GRID)), rng.normal(size=len(GRID))]
    mi = metrics.mutual_info_matrix(codes, GRID, n_bins=6)
    binned = metrics.discretize(codes, 6)
    for d in range(2):
        for k in range(3):
            assert mi[d, k] == pytest.approx(mutual_info_loop(binned[:, d], GRID[:, k]), rel=1e-10, abs=1e-12)


def test_one_clean_dimension_per_factor_scores_one():
    codes = GRID[:, [2, 0, 1]] * 1.7 - 3.0  # each factor in its own dimension, in any order and scale
    assert metrics.mig(codes.astype(float), GRID) == pytest.approx(1.0)
    padded = np.c_[codes, np.zeros(len(GRID))]  # an unused (collapsed) dimension changes nothing
    assert metrics.mig(padded, GRID) == pytest.approx(1.0)


def test_duplicated_dimensions_score_zero():
    codes = GRID[:, [0, 0, 1, 1, 2, 2]].astype(float)
    assert metrics.mig(codes, GRID) == pytest.approx(0.0, abs=1e-12)


def test_random_codes_score_near_zero():
    codes = np.random.default_rng(3).normal(size=(20_000, 4))
    factors = np.random.default_rng(4).integers(0, 5, size=(20_000, 3))
    assert 0 <= metrics.mig(codes, factors) < 0.01


def test_mig_by_hand():
    mi = np.array([[0.9, 0.1], [0.3, 0.6], [0.0, 0.5]])
    entropies = np.array([1.0, 2.0])
    assert metrics.mig_from_mi(mi, entropies) == pytest.approx(((0.9 - 0.3) / 1.0 + (0.6 - 0.5) / 2.0) / 2)


@pytest.mark.parametrize("codes,factors,kwargs,error,match", [
    (GRID.tolist(), GRID, {}, TypeError, "codes must be a numpy array"),
    (GRID.astype(float), GRID[:, 0], {}, ValueError, "factors must be 2-D"),
    (GRID.astype(float), GRID[:10], {}, ValueError, "same number"),
    (GRID[:, :1].astype(float), GRID, {}, ValueError, "at least 2 code dimensions"),
    (np.full(GRID.shape, np.nan), GRID, {}, ValueError, "NaN"),
    (GRID.astype(float), GRID, {"n_bins": 1}, ValueError, "n_bins must be >= 2"),
    (GRID.astype(float), GRID, {"n_bins": 2.0}, TypeError, "n_bins must be an int"),
    (GRID.astype(float), np.c_[GRID, np.zeros(len(GRID), int)], {}, ValueError, "every factor must vary"),
])
def test_bad_input_raises_clear_errors(codes, factors, kwargs, error, match):
    with pytest.raises(error, match=match):
        metrics.mig(codes, factors, **kwargs)


def test_helpers_reject_bad_labels():
    with pytest.raises(ValueError, match="same length"):
        metrics.discrete_mutual_info(np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        metrics.discrete_entropy(np.zeros((2, 2)))
