"""gradients: both estimators are unbiased against the closed-form gradient (many seeded
samples), the pathwise one has lower variance, reparameterize is differentiable with the right
moments, and bad input is rejected."""
import math

import pytest
import torch

from vae_course.gradients import pathwise_grad, reparameterize, score_function_grad

F64 = torch.float64
N = 100_000


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def square(z):
    """f(z) = sum_i z_i^2 per sample; E f = sum_i (mu_i^2 + sigma_i^2), so grad_mu = 2 mu, grad_sigma = 2 sigma."""
    return z.pow(2).reshape(len(z), -1).sum(1)


MU = torch.tensor([2.0, -0.5], dtype=F64)
SIGMA = torch.tensor([1.0, 0.7], dtype=F64)


@pytest.mark.parametrize("estimator", [score_function_grad, pathwise_grad])
def test_estimators_are_unbiased(estimator):
    g_mu, g_sigma = estimator(square, MU, SIGMA, N, generator=gen(1))
    assert g_mu.shape == g_sigma.shape == (N, 2)
    for g, truth in [(g_mu, 2 * MU), (g_sigma, 2 * SIGMA)]:
        stderr = g.std(0) / math.sqrt(N)
        assert ((g.mean(0) - truth).abs() < 4 * stderr).all(), (g.mean(0), truth, stderr)


def test_pathwise_matches_a_loop_over_samples_with_autograd():
    # the same eps (same seed): per sample, differentiate f(mu + sigma * eps) with autograd
    g_mu, g_sigma = pathwise_grad(square, MU, SIGMA, 5, generator=gen(2))
    eps = torch.randn((5, 2), generator=gen(2), dtype=F64)
    for i in range(5):
        mu, sigma = MU.clone().requires_grad_(), SIGMA.clone().requires_grad_()
        square((mu + sigma * eps[i]).unsqueeze(0)).sum().backward()
        torch.testing.assert_close(g_mu[i], mu.grad)
        torch.testing.assert_close(g_sigma[i], sigma.grad)


def test_score_function_matches_the_log_density_gradient_by_autograd():
    g_mu, g_sigma = score_function_grad(square, MU, SIGMA, 5, generator=gen(3))
    z = MU + SIGMA * torch.randn((5, 2), generator=gen(3), dtype=F64)
    for i in range(5):
        mu, sigma = MU.clone().requires_grad_(), SIGMA.clone().requires_grad_()
        torch.distributions.Normal(mu, sigma).log_prob(z[i]).sum().backward()
        fz = square(z[i:i + 1])
        torch.testing.assert_close(g_mu[i], fz * mu.grad)
        torch.testing.assert_close(g_sigma[i], fz * sigma.grad)


def test_pathwise_variance_is_lower():
    for params in [(MU, SIGMA), (torch.tensor(0.3, dtype=F64), torch.tensor(2.0, dtype=F64))]:
        mu, sigma = params
        score = score_function_grad(square, mu, sigma, N, generator=gen(4))
        path = pathwise_grad(square, mu, sigma, N, generator=gen(5))
        for s, p in zip(score, path):
            assert (p.var(0) < s.var(0)).all()


def test_bounded_f_bounds_the_score_variance_and_a_wiggly_f_reverses_the_ranking():
    # |f| <= 1: Var[f(z) (z - mu) / sigma^2] <= E[(z - mu)^2] / sigma^4 = 1 / sigma^2. For
    # f = cos(w z) the pathwise estimate -w sin(w z) has the closed-form variance below.
    w, mu = 5.0, torch.tensor(2.0, dtype=F64)
    wiggly = lambda z: torch.cos(w * z)  # noqa: E731
    for s in (1.0, 0.5):
        sigma = torch.tensor(s, dtype=F64)
        score_mu, _ = score_function_grad(wiggly, mu, sigma, N, generator=gen(11))
        path_mu, _ = pathwise_grad(wiggly, mu, sigma, N, generator=gen(12))
        second = w ** 2 * (1 - math.cos(2 * w * 2.0) * math.exp(-2 * w ** 2 * s ** 2)) / 2
        mean = -w * math.exp(-(w * s) ** 2 / 2) * math.sin(w * 2.0)
        assert score_mu.var().item() <= 1 / s ** 2
        assert path_mu.var().item() == pytest.approx(second - mean ** 2, rel=0.03)
        assert path_mu.var().item() > 3 * score_mu.var().item()


def test_score_function_of_a_constant_has_mean_zero():
    g_mu, g_sigma = score_function_grad(lambda z: torch.ones(len(z), dtype=F64), MU, SIGMA, N, generator=gen(6))
    for g in (g_mu, g_sigma):
        assert (g.mean(0).abs() < 4 * g.std(0) / math.sqrt(N)).all()


def test_a_step_function_has_zero_pathwise_gradient_but_not_score_gradient():
    # E[1{z > 0}] = Phi(mu / sigma): d/dmu = phi(mu / sigma) / sigma; f' = 0 almost everywhere
    mu, sigma = torch.tensor(0.3, dtype=F64), torch.tensor(0.8, dtype=F64)
    truth = math.exp(-0.5 * (0.3 / 0.8) ** 2) / math.sqrt(2 * math.pi) / 0.8
    step = lambda z: (z > 0).to(F64)  # noqa: E731
    g_path, _ = pathwise_grad(step, mu, sigma, 1000, generator=gen(9))
    assert (g_path == 0).all()
    g_score, _ = score_function_grad(step, mu, sigma, N, generator=gen(10))
    assert abs(g_score.mean().item() - truth) < 4 * g_score.std().item() / math.sqrt(N)


def test_reparameterize_has_the_right_moments_and_gradient():
    mu = torch.tensor([[1.0, -2.0, 0.0]], dtype=F64).expand(N, 3).clone().requires_grad_()
    logvar = torch.tensor([[0.0, 1.0, -2.0]], dtype=F64).expand(N, 3).clone().requires_grad_()
    z = reparameterize(mu, logvar, generator=gen(7))
    assert z.shape == (N, 3)
    torch.testing.assert_close(z.mean(0), mu[0].detach(), atol=4 * math.exp(0.5) / math.sqrt(N), rtol=0)
    torch.testing.assert_close(z.var(0), logvar[0].detach().exp(), atol=0, rtol=0.03)
    z.sum().backward()
    # dz/dmu = 1 and dz/dlogvar = exp(logvar / 2) eps / 2 = (z - mu) / 2
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mu).detach())


def test_reparameterize_is_reproducible_with_a_generator():
    mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
    torch.testing.assert_close(reparameterize(mu, logvar, gen(8)), reparameterize(mu, logvar, gen(8)))


@pytest.mark.parametrize("call,error,message", [
    (lambda: reparameterize(torch.zeros(3), torch.zeros(2)), ValueError, "shapes must match"),
    (lambda: reparameterize([0.0], torch.zeros(1)), TypeError, "mu must be a torch.Tensor"),
    (lambda: pathwise_grad(square, MU, -SIGMA, 10), ValueError, "sigma must be positive"),
    (lambda: score_function_grad(square, MU, SIGMA, 0), ValueError, "n must be >= 1"),
    (lambda: score_function_grad("f", MU, SIGMA, 10), TypeError, "f must be callable"),
    (lambda: pathwise_grad(lambda z: z, MU, SIGMA, 10), ValueError, "one value per sample"),
    (lambda: score_function_grad(square, MU, SIGMA[:1], 10), ValueError, "shapes must match"),
])
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
