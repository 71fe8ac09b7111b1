"""Fitted latent densities: MLE moments, log_prob against hand formulas and integration,
sample moments against the fitted ones, marginals, errors."""
import math

import pytest
import torch

from vae_course import density

A = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.3]])


def _codes(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-2.0, 0.0, 1.0], [2.0, 1.0, -1.0]])
    return (torch.randn(n, 3, generator=g) @ A.T + centres[torch.arange(n) % 2]).float()


def _log_normal_by_hand(z, mu, cov):
    """log N(z; mu, cov) for one z (D,) with the explicit determinant and inverse."""
    d = z.double() - mu.double()
    cov = cov.double()
    return -0.5 * (len(z) * math.log(2 * math.pi) + torch.logdet(cov) + d @ torch.linalg.inv(cov) @ d)


def test_full_gaussian_is_the_maximum_likelihood_fit_plus_the_ridge():
    z = _codes()
    fitted = density.fit_density(z, "full")
    mu = sum(z.double()) / len(z)
    cov = sum(torch.outer(zi.double() - mu, zi.double() - mu) for zi in z) / len(z)
    assert torch.allclose(fitted.mean, mu, atol=1e-10)
    assert torch.allclose(fitted.covariance, cov + 1e-6 * torch.eye(3), atol=1e-10)


def test_diagonal_gaussian_keeps_only_the_variances():
    z = _codes()
    cov = density.fit_density(z, "diagonal").covariance
    assert torch.allclose(cov, torch.diag(z.double().var(0, unbiased=False) + 1e-6), atol=1e-10)


def test_full_gaussian_log_prob_matches_the_formula_and_torch():
    z = _codes()
    fitted = density.fit_density(z, "full")
    points = z[:20]
    by_hand = torch.stack([_log_normal_by_hand(p, fitted.mean, fitted.covariance) for p in points])
    mvn = torch.distributions.MultivariateNormal(fitted.mean, fitted.covariance)
    assert torch.allclose(fitted.log_prob(points), by_hand, atol=1e-8)
    assert torch.allclose(fitted.log_prob(points), mvn.log_prob(points.double()), atol=1e-8)


def test_diagonal_log_prob_is_a_sum_of_one_dimensional_normals():
    z = _codes()
    fitted = density.fit_density(z, "diagonal")
    mu, var = fitted.mean, torch.diagonal(fitted.covariance)
    p = z[0].double()
    by_hand = sum(-0.5 * math.log(2 * math.pi * var[d]) - (p[d] - mu[d]) ** 2 / (2 * var[d]) for d in range(3))
    assert torch.isclose(fitted.log_prob(z[:1])[0], torch.as_tensor(by_hand, dtype=torch.float64), atol=1e-8)


def test_mixture_log_prob_is_the_log_of_the_weighted_sum():
    fitted = density.fit_density(_codes(), "mixture", n_components=3, seed=1)
    assert fitted.weights.shape == (3,) and torch.isclose(fitted.weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    p = _codes(5, seed=9)
    covs = fitted.scale_tril @ fitted.scale_tril.transpose(1, 2)
    by_hand = torch.stack([torch.log(sum(fitted.weights[k] * _log_normal_by_hand(pi, fitted.means[k], covs[k]).exp()
                                         for k in range(3))) for pi in p])
    assert torch.allclose(fitted.log_prob(p), by_hand, atol=1e-8)


def test_a_two_dimensional_marginal_integrates_to_one_on_a_grid():
    fitted = density.fit_density(_codes(), "mixture", n_components=3).marginal([0, 2])
    z1, z2, log_p = density.log_prob_grid(fitted, (-9.0, 9.0), (-7.0, 7.0), n=300)
    cell = (z1[0, 1] - z1[0, 0]) * (z2[1, 0] - z2[0, 0])
    assert abs((log_p.exp().sum() * cell).item() - 1) < 1e-3


def test_marginal_equals_integrating_the_joint_over_the_dropped_dimension():
    fitted = density.fit_density(_codes()[:, :2], "full")
    point = torch.tensor([[0.5]])
    t = torch.linspace(-15, 15, 6001, dtype=torch.float64)
    joint = fitted.log_prob(torch.stack([torch.full_like(t, 0.5), t], 1)).exp()
    integral = torch.trapezoid(joint, t)
    assert torch.isclose(fitted.marginal([0]).log_prob(point).exp()[0], integral, rtol=1e-6)


@pytest.mark.parametrize("kind", density.KINDS)
def test_sample_moments_match_the_fitted_moments(kind):
    fitted = density.fit_density(_codes(), kind, n_components=3)
    s = fitted.sample(200_000, generator=0)
    assert s.shape == (200_000, 3) and s.dtype == torch.float32
    sd = torch.diagonal(fitted.covariance).sqrt()
    assert torch.all((s.double().mean(0) - fitted.mean).abs() < 5 * sd / math.sqrt(len(s)))
    assert torch.allclose(torch.cov(s.double().T), fitted.covariance, atol=0.03)


def test_single_gaussian_samples_are_mu_plus_l_eps_and_reproducible():
    fitted = density.fit_density(_codes(), "full")
    eps = torch.randn(7, 3, generator=torch.Generator().manual_seed(4)).double()
    expected = fitted.mean + eps @ torch.linalg.cholesky(fitted.covariance).T
    assert torch.allclose(fitted.sample(7, torch.Generator().manual_seed(4)).double(), expected, atol=1e-5)
    assert torch.equal(fitted.sample(7, 4), fitted.sample(7, 4))


@pytest.mark.parametrize("call,error,match", [
    (lambda: density.fit_density(torch.rand(10), "full"), ValueError, "z must have 2 dimensions"),
    (lambda: density.fit_density(torch.rand(10, 2), "kde"), ValueError, "kind must be one of"),
    (lambda: density.fit_density(torch.rand(5, 2), "mixture", n_components=10), ValueError, "at least 10 rows"),
    (lambda: density.fit_density(torch.rand(10, 2), "mixture", n_components=0), ValueError, "n_components"),
    (lambda: density.fit_density(torch.rand(10, 2), "full", ridge=-1.0), ValueError, "ridge"),
    (lambda: density.fit_density([[0.0, 1.0]], "full"), TypeError, "z must be a torch.Tensor"),
    (lambda: density.fit_density(torch.rand(10, 2), "full").log_prob(torch.rand(3, 4)), ValueError, r"shape \(\*, 2\)"),
    (lambda: density.fit_density(torch.rand(10, 2), "full").sample(0), ValueError, "n must be >= 1"),
    (lambda: density.fit_density(torch.rand(10, 2), "full").marginal([2]), ValueError, "dims"),
    (lambda: density.log_prob_grid(density.fit_density(torch.rand(10, 3), "full"), (0, 1), (0, 1)),
     ValueError, "must be 2-D"),
])
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()
