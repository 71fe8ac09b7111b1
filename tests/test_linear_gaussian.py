"""linear_gaussian: the exact evidence, posterior and ELBO against brute force (grid quadrature
over z, Bayes' rule on a grid, Monte Carlo with many samples), the ELBO identities, and errors."""
import math

import pytest
import torch

from vae_course.linear_gaussian import (LinearGaussian, cov_from_tril, gaussian_entropy, kl_gaussians,
                                        log_gaussian, sample_gaussian)
from vae_course.objectives import kl_normal_std

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def grid(d, half=7.0, n=None):
    """A uniform grid over [-half, half]^d as points (G, 1, d) and the volume of one cell."""
    n = n or (4001 if d == 1 else 401)
    axis = torch.linspace(-half, half, n, dtype=F64)
    points = torch.cartesian_prod(*[axis] * d).reshape(-1, 1, d)
    return points, (axis[1] - axis[0]) ** d


def random_q(B, d, seed, shared=False):
    g = gen(seed)
    mean = torch.randn(B, d, generator=g, dtype=F64)
    raw = 0.5 * torch.randn(*(() if shared else (B,)), d, d, generator=g, dtype=F64)
    return mean, cov_from_tril(raw)


@pytest.fixture(params=[1, 2], ids=["d=1", "d=2"])
def setup(request):
    d = request.param
    model = LinearGaussian.random(D=3, d=d, sigma2=1.5, seed=d)
    x, _ = model.sample(4, generator=gen(10 + d))
    return model, x


def test_log_evidence_equals_numerical_integration_over_z(setup):
    model, x = setup
    z, cell = grid(model.d)
    # p(x) = integral p(x | z) p(z) dz, as a Riemann sum (exact to rounding for smooth Gaussians)
    integral = torch.logsumexp(model.log_joint(x, z.expand(-1, len(x), -1)), dim=0) + cell.log()
    torch.testing.assert_close(model.log_evidence(x), integral, atol=1e-6, rtol=0)


def test_log_evidence_equals_the_marginal_gaussian(setup):
    model, x = setup
    mean, cov = model.marginal()
    reference = torch.distributions.MultivariateNormal(mean, cov).log_prob(x)
    torch.testing.assert_close(model.log_evidence(x), reference)


def test_posterior_equals_bayes_rule_on_a_grid(setup):
    model, x = setup
    z, _ = grid(model.d)
    weights = torch.softmax(model.log_joint(x, z.expand(-1, len(x), -1)), dim=0)  # (G, B): p(z | x) on the grid
    mean = (weights[..., None] * z).sum(0)
    centred = z - mean
    cov = (weights[..., None, None] * centred[..., :, None] * centred[..., None, :]).sum(0)
    post_mean, post_cov = model.posterior(x)
    assert post_cov.shape == (model.d, model.d) and post_mean.shape == (len(x), model.d)
    torch.testing.assert_close(post_mean, mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(post_cov.expand_as(cov), cov, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shared", [True, False], ids=["cov (d,d)", "cov (B,d,d)"])
def test_elbo_equals_a_monte_carlo_estimate(setup, shared):
    model, x = setup
    q_mean, q_cov = random_q(len(x), model.d, seed=3, shared=shared)
    z = sample_gaussian(q_mean, q_cov, 40_000, generator=gen(4))
    terms = model.log_joint(x, z) - log_gaussian(z, q_mean, q_cov)  # log p(x, z) - log q(z)
    stderr = terms.std(0) / math.sqrt(len(z))
    assert ((model.elbo(x, q_mean, q_cov) - terms.mean(0)).abs() < 4 * stderr).all()
    recon = model.log_likelihood(x, z)
    assert ((model.expected_log_likelihood(x, q_mean, q_cov) - recon.mean(0)).abs()
            < 4 * recon.std(0) / math.sqrt(len(z))).all()


def test_evidence_minus_elbo_is_the_kl_to_the_posterior_and_elbo_is_a_lower_bound(setup):
    model, x = setup
    post_mean, post_cov = model.posterior(x)
    for seed in range(10):
        q_mean, q_cov = random_q(len(x), model.d, seed=100 + seed)
        gap = model.log_evidence(x) - model.elbo(x, q_mean, q_cov)
        torch.testing.assert_close(gap, kl_gaussians(q_mean, q_cov, post_mean, post_cov), atol=1e-6, rtol=0)
        assert (gap > 0).all()
    torch.testing.assert_close(model.elbo(x, post_mean, post_cov), model.log_evidence(x), atol=1e-10, rtol=0)


def test_elbo_forms_agree_energy_plus_entropy(setup):
    model, x = setup
    q_mean, q_cov = random_q(len(x), model.d, seed=7)
    z = sample_gaussian(q_mean, q_cov, 40_000, generator=gen(8))
    energy = model.log_joint(x, z)  # E_q[log p(x, z)] by Monte Carlo; the entropy in closed form
    stderr = energy.std(0) / math.sqrt(len(z))
    assert ((model.elbo(x, q_mean, q_cov) - energy.mean(0) - gaussian_entropy(q_cov)).abs() < 4 * stderr).all()


def test_kl_gaussians_matches_monte_carlo_and_the_diagonal_formula():
    mu_q, cov_q = random_q(3, 2, seed=11)
    mu_p, cov_p = random_q(3, 2, seed=12)
    z = sample_gaussian(mu_q, cov_q, 40_000, generator=gen(13))
    terms = log_gaussian(z, mu_q, cov_q) - log_gaussian(z, mu_p, cov_p)
    stderr = terms.std(0) / math.sqrt(len(z))
    assert ((kl_gaussians(mu_q, cov_q, mu_p, cov_p) - terms.mean(0)).abs() < 4 * stderr).all()
    logvar = torch.randn(3, 2, generator=gen(14), dtype=F64)
    kl = kl_gaussians(mu_q, torch.diag_embed(logvar.exp()), torch.zeros_like(mu_q), torch.eye(2, dtype=F64))
    torch.testing.assert_close(kl, kl_normal_std(mu_q, logvar))


def test_log_gaussian_matches_the_formula_by_hand_and_integrates_to_one():
    mean, cov = torch.tensor([[0.5, -1.0]], dtype=F64), torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=F64)
    z = torch.tensor([[0.1, 0.2]], dtype=F64)
    det = 2.0 * 1.0 - 0.6 * 0.6
    u, v = 0.1 - 0.5, 0.2 + 1.0
    quad = (1.0 * u * u - 2 * 0.6 * u * v + 2.0 * v * v) / det  # (z - m)^T cov^{-1} (z - m) for a 2x2 inverse
    by_hand = -math.log(2 * math.pi) - 0.5 * math.log(det) - 0.5 * quad
    assert log_gaussian(z, mean, cov).item() == pytest.approx(by_hand, abs=1e-12)
    points, cell = grid(2, half=9.0)
    assert (log_gaussian(points, mean, cov).exp().sum() * cell).item() == pytest.approx(1.0, abs=1e-8)


def test_gaussian_entropy_matches_monte_carlo():
    mean, cov = random_q(2, 3, seed=15)
    z = sample_gaussian(mean, cov, 40_000, generator=gen(16))
    neg_log_q = -log_gaussian(z, mean, cov)
    assert ((gaussian_entropy(cov) - neg_log_q.mean(0)).abs() < 4 * neg_log_q.std(0) / math.sqrt(len(z))).all()


def test_samples_have_the_right_moments():
    model = LinearGaussian.random(D=3, d=2, sigma2=0.5, seed=3)
    x, z = model.sample(40_000, generator=gen(17))
    mean, cov = model.marginal()
    assert z.shape == (40_000, 2) and x.shape == (40_000, 3)
    torch.testing.assert_close(x.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.05, rtol=0.02)
    q_mean, q_cov = random_q(1, 2, seed=18)
    zq = sample_gaussian(q_mean, q_cov, 40_000, generator=gen(19))[:, 0]
    torch.testing.assert_close(torch.cov(zq.T), q_cov[0], atol=0.01, rtol=0.02)


def test_cov_from_tril_is_positive_definite_for_any_input():
    raw = torch.randn(50, 4, 4, generator=gen(20), dtype=F64)
    cov = cov_from_tril(raw)
    assert (torch.linalg.eigvalsh(cov) > 0).all()
    chol = torch.linalg.cholesky(cov)
    torch.testing.assert_close(chol.diagonal(dim1=-2, dim2=-1), raw.diagonal(dim1=-2, dim2=-1).exp())


def test_gradient_flows_through_the_elbo():
    model = LinearGaussian.random(D=3, d=2)
    x, _ = model.sample(2, generator=gen(21))
    q_mean = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    raw = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    model.elbo(x, q_mean, cov_from_tril(raw)).sum().backward()
    assert q_mean.grad.abs().sum() > 0 and raw.grad.abs().sum() > 0


MODEL = LinearGaussian.random(D=3, d=2)
X = torch.zeros(4, 3, dtype=F64)
Q_MEAN, EYE = torch.zeros(4, 2, dtype=F64), torch.eye(2, dtype=F64)


@pytest.mark.parametrize("call,error,message", [
    (lambda: LinearGaussian(torch.zeros(3, 2), torch.zeros(3), 0.0), ValueError, "sigma2 must be a positive"),
    (lambda: LinearGaussian(torch.zeros(3, 2), torch.zeros(3), -1.0), ValueError, "sigma2 must be a positive"),
    (lambda: LinearGaussian(torch.zeros(3, 2), torch.zeros(3), "1"), TypeError, "sigma2 must be a number"),
    (lambda: LinearGaussian(torch.zeros(3), torch.zeros(3), 1.0), ValueError, "W must have 2 dimensions"),
    (lambda: LinearGaussian(torch.zeros(3, 2), torch.zeros(2), 1.0), ValueError, r"b must have shape \(3\)"),
    (lambda: MODEL.log_evidence(torch.zeros(4, 5, dtype=F64)), ValueError, r"x must have shape \(\*, 3\)"),
    (lambda: MODEL.log_evidence([0.0, 0.0, 0.0]), TypeError, "x must be a torch.Tensor"),
    (lambda: MODEL.posterior(torch.zeros(3, dtype=F64)), ValueError, "x must have 2 dimensions"),
    (lambda: MODEL.elbo(X, torch.zeros(5, 2, dtype=F64), EYE), ValueError, r"q_mean must have shape \(4, 2\)"),
    (lambda: MODEL.elbo(X, torch.zeros(4, 3, dtype=F64), torch.eye(3, dtype=F64)), ValueError,
     "q_mean must have shape"),
    (lambda: MODEL.elbo(X, Q_MEAN, torch.eye(3, dtype=F64)), ValueError, r"q_cov must be \(2, 2\)"),
    (lambda: MODEL.elbo(X, Q_MEAN, torch.eye(2, dtype=F64).expand(3, 2, 2)), ValueError, r"q_cov must be \(2, 2\)"),
    (lambda: MODEL.elbo(X, Q_MEAN, -EYE), ValueError, "q_cov must be positive definite.*-1"),
    (lambda: MODEL.elbo(X, Q_MEAN, torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64)), ValueError,
     "positive definite"),
    (lambda: MODEL.elbo(X, Q_MEAN, torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64)), ValueError, "symmetric"),
    (lambda: kl_gaussians(Q_MEAN, EYE, torch.zeros(3, 2, dtype=F64), EYE), ValueError, r"mu_p must have shape \(4"),
    (lambda: sample_gaussian(Q_MEAN, EYE, 0), ValueError, "n must be >= 1"),
    (lambda: log_gaussian(torch.zeros(4, 3, dtype=F64), Q_MEAN, EYE), ValueError, "z must end in"),
])
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
