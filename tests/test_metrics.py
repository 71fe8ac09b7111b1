"""MIG and its pieces against explicit loops over counts, and on codes whose answer is known."""
import math
from collections import Counter

import numpy as np
import pytest
import torch

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


# --- Chen et al.'s estimator: I(z_j; v_k) = H(z_j) - H(z_j | v_k) from the aggregate posterior ---

def mixture_entropy_by_quadrature(mu, sigma):
    """-integral q log q of the 1-D mixture (1/N) sum_n N(mu_n, sigma_n^2), on a fine grid."""
    grid = np.linspace(mu.min() - 10 * sigma.max(), mu.max() + 10 * sigma.max(), 200_001)
    q = np.mean(np.exp(-0.5 * ((grid[:, None] - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)), 1)
    safe = np.where(q > 0, q, 1.0)
    return -np.sum(q * np.log(safe)) * (grid[1] - grid[0])


def brute_force_mi(mu, sigma, factors):
    """I(z_j; v_k) by numerical integration of every entropy, (D, K)."""
    out = np.zeros((mu.shape[1], factors.shape[1]))
    for j in range(mu.shape[1]):
        h = mixture_entropy_by_quadrature(mu[:, j], sigma[:, j])
        for k in range(factors.shape[1]):
            levels = np.unique(factors[:, k])
            h_cond = np.mean([mixture_entropy_by_quadrature(mu[factors[:, k] == l, j], sigma[factors[:, k] == l, j])
                              for l in levels])
            out[j, k] = h - h_cond
    return out


def test_chen_estimator_matches_numerical_integration_on_a_tiny_factorial_set():
    rng = np.random.default_rng(5)
    tiny = np.stack(np.meshgrid(np.arange(3), np.arange(2), indexing="ij"), -1).reshape(-1, 2)  # 6 images
    mu = np.c_[tiny[:, 0] * 1.5 + 0.3 * rng.normal(size=6), tiny[:, 1] + 0.5 * rng.normal(size=6), rng.normal(size=6)]
    sigma = rng.uniform(0.3, 0.9, size=(6, 3))
    expected = brute_force_mi(mu, sigma, tiny)
    repeat = 500  # each posterior repeated: the same mixture, and 3,000 samples of it
    args = [torch.tensor(np.tile(a, (repeat, 1))) for a in (mu, 2 * np.log(sigma))]
    got = metrics.mutual_info_matrix_chen(*args, torch.tensor(np.tile(tiny, (repeat, 1))),
                                          generator=torch.Generator().manual_seed(0)).numpy()
    assert expected.max() > 0.3  # the test means something: some latent knows a factor
    np.testing.assert_allclose(got, expected, atol=0.05)  # Monte Carlo error of 3,000 samples


def test_aggregate_entropy_matches_numerical_integration():
    rng = np.random.default_rng(6)
    mu, sigma = rng.normal(size=(6, 2)) * 2, rng.uniform(0.2, 1.0, size=(6, 2))
    pick = rng.integers(0, 6, size=200_000)  # samples of the mixture: a component, then its Gaussian
    z = mu[pick] + sigma[pick] * rng.normal(size=(200_000, 2))
    got = metrics.aggregate_entropies(*(torch.tensor(a) for a in (z, mu, 2 * np.log(sigma)))).numpy()
    expected = [mixture_entropy_by_quadrature(mu[:, j], sigma[:, j]) for j in range(2)]
    np.testing.assert_allclose(got, expected, atol=0.01)


def grid_posteriors(codes, logvar):
    return torch.tensor(codes, dtype=torch.float64), torch.full(codes.shape, float(logvar), dtype=torch.float64)


def test_chen_mig_on_known_codes():
    factors = torch.tensor(GRID)
    g = torch.Generator().manual_seed(1)
    exact = GRID[:, [2, 0, 1]] * 3.0  # each factor in its own latent, levels far apart
    assert metrics.mig_chen(*grid_posteriors(exact, -6.0), factors, generator=g) == pytest.approx(1.0, abs=0.02)
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    assert metrics.mig_chen(*grid_posteriors(exact @ rotation, -6.0), factors, generator=g) < 0.2


def test_a_collapsed_unit_fools_binning_but_not_chen():
    """Posterior means that wiggle by 1e-3 with the factor while the variance stays 1: the code
    says nothing about the factor, but binning over the means' own range sees a perfect code."""
    codes = np.c_[GRID * 1e-3, np.zeros(len(GRID))]
    mu, logvar = grid_posteriors(codes, 0.0)
    assert metrics.mig(codes, GRID) > 0.9
    assert metrics.mig_chen(mu, logvar, torch.tensor(GRID), generator=torch.Generator().manual_seed(2)) < 0.02


def test_aggregate_entropy_of_one_gaussian_is_its_entropy():
    z = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2.0
    h = metrics.aggregate_entropies(z, torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), math.log(4.0), dtype=torch.float64))
    assert h.item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 4.0), abs=0.01)


def test_chen_factor_subset():
    mi = np.array([[0.9, 0.0, 0.2], [0.1, 0.6, 0.2]])
    np.testing.assert_allclose(metrics.normalized_gaps(mi, np.ones(3)), [0.8, 0.6, 0.0])
    codes = GRID[:, [2, 0, 1]] * 3.0
    codes[:, 1] = 0.0  # factor 0 unrepresented: all-factor MIG drops, the subset without it does not
    mu, logvar = grid_posteriors(codes, -6.0)
    g = torch.Generator().manual_seed(4)
    assert metrics.mig_chen(mu, logvar, torch.tensor(GRID), generator=g, factor_ids=[1, 2]) == pytest.approx(1.0, abs=0.02)
    assert metrics.mig_chen(mu, logvar, torch.tensor(GRID), generator=g) == pytest.approx(2 / 3, abs=0.02)


def test_how_much_the_best_latent_holds_is_not_how_concentrated_the_information_is():
    """Factor 0 carried at 0.01 nats by one latent: fraction of the MI sum 1, yet its best latent
    holds almost none of it. Factor 1 copied into two latents: fraction 1/2, yet each holds all."""
    entropies = np.log([8.0, 8.0])
    mi = np.array([[0.01, math.log(8)], [0.0, math.log(8)], [0.0, 0.0]])
    np.testing.assert_allclose(metrics.best_latent_fraction_of_mi_sum(mi), [1.0, 0.5])
    np.testing.assert_allclose(metrics.best_latent_normalized_mi(mi, entropies), [0.01 / math.log(8), 1.0])
    assert metrics.best_latent_fraction_of_mi_sum(np.zeros((2, 1))).tolist() == [0.0]  # no information at all


def test_the_two_per_factor_numbers_on_codes_through_chens_estimator():
    """The same two cases on posteriors: factor 0 (3 levels) in a unit whose mean moves by 0.02 with
    variance 1, factor 1 (5 levels) copied into two sharp latents, factor 2 in one sharp latent."""
    codes = np.c_[GRID[:, 0] * 0.02, GRID[:, 1] * 3.0, GRID[:, 1] * 3.0, GRID[:, 2] * 3.0]
    mu = torch.tensor(codes, dtype=torch.float64)
    logvar = torch.tensor([0.0, -6.0, -6.0, -6.0], dtype=torch.float64).expand_as(mu)
    mi = metrics.mutual_info_matrix_chen(mu, logvar, torch.tensor(GRID), generator=torch.Generator().manual_seed(5))
    held = metrics.best_latent_normalized_mi(mi.numpy(), metrics.factor_entropies(GRID))
    fraction = metrics.best_latent_fraction_of_mi_sum(mi.numpy())
    assert held[0] < 0.02 and fraction[0] > 0.9  # concentrated, and next to nothing
    assert held[1] == pytest.approx(1.0, abs=0.02) and fraction[1] == pytest.approx(0.5, abs=0.02)
    assert held[2] == pytest.approx(1.0, abs=0.02) and fraction[2] == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="entropies"):
        metrics.best_latent_normalized_mi(mi.numpy(), np.ones(2))


@pytest.mark.parametrize("change,error,match", [
    (dict(mu=np.zeros((4, 2))), TypeError, "mu must be a torch.Tensor"),
    (dict(factors=torch.zeros(60, 3)), TypeError, "integer tensor"),
    (dict(factors=torch.zeros(10, 3, dtype=torch.long)), ValueError, "same number"),
    (dict(logvar=torch.full((60, 3), float("nan"))), ValueError, "finite"),
    (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
])
def test_chen_rejects_bad_input(change, error, match):
    args = dict(mu=torch.zeros(60, 3), logvar=torch.zeros(60, 3), factors=torch.tensor(GRID), n_samples=100)
    args.update(change)
    with pytest.raises(error, match=match):
        metrics.mutual_info_matrix_chen(**args)


# --- DCI, SAP and the FactorVAE score ------------------------------------------------------

# every combination of three factors with 4, 6 and 8 levels, each level repeated twice
BIG = np.repeat(np.stack(np.meshgrid(np.arange(4), np.arange(6), np.arange(8), indexing="ij"), -1).reshape(-1, 3),
                2, axis=0)
IDEAL = (BIG - BIG.mean(0)) / BIG.std(0)
TURN = np.array([[1, 1, 0], [-1, 1, 0], [0, 0, math.sqrt(2)]]) / math.sqrt(2)
ROTATED = IDEAL @ TURN  # factors 0 and 1 turned by 45 degrees: each of z_0, z_1 carries both
COLLAPSED = np.zeros(IDEAL.shape)


def one_minus_entropy_loop(p, base):
    p = [v / sum(p) for v in p]
    return 1 + sum(v * math.log(v, base) for v in p if v > 0)


def test_dci_from_importance_matches_the_formula_by_loops():
    r = np.random.default_rng(5).random((4, 3))
    r[2] = 0  # a latent that matters for nothing gets weight rho = 0
    rho = r.sum(1) / r.sum()
    d = sum(rho[j] * one_minus_entropy_loop(r[j], 3) for j in range(4) if rho[j] > 0)
    c = np.mean([one_minus_entropy_loop(r[:, k], 4) for k in range(3)])
    assert metrics.dci_from_importance(r) == pytest.approx((d, c), rel=1e-12)


def test_dci_from_importance_by_hand():
    assert metrics.dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    # one latent predicts both factors equally: D = 1 - H_2(1/2, 1/2) = 0, each factor has one latent: C = 1
    assert metrics.dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx((0.0, 1.0))
    # every latent predicts every factor equally: 0 and 0; nothing predicted: 0 and 0
    assert metrics.dci_from_importance(np.ones((3, 2))) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert metrics.dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)


def test_dci_on_known_codes():
    ideal, rotated, collapsed = (metrics.dci(c, BIG) for c in (IDEAL, ROTATED, COLLAPSED))
    assert ideal == pytest.approx({"disentanglement": 1, "completeness": 1, "informativeness": 1}, abs=1e-6)
    # z_0, z_1 share factors 0 and 1 (0.58 and 0.58 at seed 0); z_2 alone carries factor 2
    assert rotated["disentanglement"] < 0.7 and rotated["completeness"] < 0.7
    assert rotated["informativeness"] > 0.8  # a rotation loses no information, only its alignment
    assert collapsed["disentanglement"] == collapsed["completeness"] == 0.0
    chance = np.mean([1 / 4, 1 / 6, 1 / 8])  # the commonest level's frequency, about
    assert collapsed["informativeness"] == pytest.approx(chance, abs=0.1)
    assert metrics.dci(ROTATED, BIG, seed=3) == metrics.dci(ROTATED, BIG, seed=3)


def sap_scores_loop(codes, factors, n_bins, train, test):
    binned = metrics.discretize(codes, n_bins)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            overall = Counter(factors[train, k].tolist())
            fallback = min(overall, key=lambda v: (-overall[v], v))
            by_bin = {}
            for i in train:
                by_bin.setdefault(binned[i, j], Counter())[factors[i, k]] += 1
            right = 0
            for i in test:
                votes = by_bin.get(binned[i, j])
                guess = min(votes, key=lambda v: (-votes[v], v)) if votes else fallback
                right += guess == factors[i, k]
            scores[j, k] = right / len(test)
    return scores


def test_sap_scores_match_a_loop_over_bins():
    rng = np.random.default_rng(6)
    factors = rng.integers(-2, 3, size=(300, 2))
    codes = np.c_[factors[:, 0] + 0.8 * rng.normal(size=300), rng.normal(size=300), factors[:, 1] ** 2]
    order = np.random.default_rng(4).permutation(300)
    expected = sap_scores_loop(codes, factors, 7, order[:240], order[240:])
    assert metrics.sap_scores(codes, factors, n_bins=7, seed=4) == pytest.approx(expected)


def test_sap_on_known_codes():
    ceiling = np.mean([1 - 1 / 4, 1 - 1 / 6, 1 - 1 / 8])  # the runner-up latent scores chance
    # a little above: the training rows' commonest level is rarer among the test rows
    assert ceiling <= metrics.sap(IDEAL, BIG) < 1
    assert metrics.sap(ROTATED, BIG) < metrics.sap(IDEAL, BIG) - 0.3  # 0.42 against 0.92 at seed 0
    assert metrics.sap(COLLAPSED, BIG) == 0.0


def test_majority_vote_accuracy_by_hand():
    train = (np.array([0, 0, 0, 1, 2, -1]), np.array([1, 1, 0, 0, 2, 2]))  # latent 0 -> 1, 1 -> 0, 2 -> 2
    test = (np.array([0, 1, 2, 0, 3, -1]), np.array([1, 0, 0, 0, 2, 2]))  # right, right, wrong, wrong, unseen, none
    assert metrics.majority_vote_accuracy(train, test, n_latents=4) == pytest.approx(2 / 6)


def test_factorvae_votes_pick_the_latent_of_least_normalised_variance():
    rng = np.random.default_rng(7)
    # latents 0 and 1 code factors 0 and 1 with a little noise, latent 0 on a large scale;
    # latent 2 is small noise (std 0.1 > min_std), the least raw variance whatever is fixed
    noise = rng.normal(size=(len(BIG), 3))
    codes = np.c_[100 * (BIG[:, 0] + 0.1 * noise[:, 0]), BIG[:, 1] + 0.1 * noise[:, 1], 0.1 * noise[:, 2]]
    ds, ks = metrics.factorvae_votes(codes, BIG[:, :2], n_votes=200, seed=1)
    assert set(ks.tolist()) == {0, 1} and (ds == ks).all()  # not the noise latent, whose raw variance is least


def test_factorvae_score_on_known_codes():
    assert metrics.factorvae_score(IDEAL, BIG) == 1.0
    assert metrics.factorvae_score(ROTATED, BIG) < 0.85  # factors 0 and 1 tie for z_0 and z_1: about 2/3
    assert metrics.factorvae_score(COLLAPSED, BIG) == 0.0
    # two active latents for three factors: at most two of the factors can be told
    assert metrics.factorvae_score(np.c_[IDEAL[:, :2], COLLAPSED[:, :1]], BIG) <= 2 / 3 + 0.05


@pytest.mark.parametrize("fn", [metrics.dci, metrics.sap, metrics.factorvae_score])
def test_new_metrics_reject_bad_input(fn):
    with pytest.raises(TypeError, match="codes"):
        fn(IDEAL.tolist(), BIG)
    with pytest.raises(TypeError, match="factors must hold integer"):
        fn(IDEAL, BIG.astype(float))
    with pytest.raises(ValueError, match="same number"):
        fn(IDEAL[:10], BIG)
    with pytest.raises(ValueError, match="NaN"):
        fn(np.full(IDEAL.shape, np.nan), BIG)
    with pytest.raises(TypeError, match="seed"):
        fn(IDEAL, BIG, seed=0.5)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="train_fraction"):
        metrics.sap(IDEAL, BIG, train_fraction=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        metrics.factorvae_score(IDEAL, BIG, batch_size=1)
    with pytest.raises(ValueError, match="min_std must be > 0"):
        metrics.factorvae_score(IDEAL, BIG, min_std=0.0)
    with pytest.raises(ValueError, match="importance"):
        metrics.dci_from_importance(-np.eye(3))
