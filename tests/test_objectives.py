"""objectives: each function against brute force (hand formulas, numerical integration,
Monte Carlo with many samples, explicit loops) on small inputs, plus its bad-input errors."""
import math

import pytest
import torch

from vae_course.objectives import (continuous_bernoulli_log_norm, continuous_bernoulli_mean, iwae_bound,
                                   kl_normal_std, log_bernoulli, log_continuous_bernoulli, log_normal,
                                   mse_per_example, total_probability)

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_log_normal_matches_the_density_by_hand():
    x, mu, logvar = torch.randn(3, 4, generator=gen(), dtype=F64).unbind(0)
    var = logvar.exp()
    by_hand = [math.log(math.exp(-(a - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v))
               for a, m, v in zip(x.tolist(), mu.tolist(), var.tolist())]
    torch.testing.assert_close(log_normal(x, mu, logvar), torch.tensor(by_hand, dtype=F64))
    reference = torch.distributions.Normal(mu, var.sqrt()).log_prob(x)
    torch.testing.assert_close(log_normal(x, mu, logvar), reference)


def test_log_normal_integrates_to_one_and_broadcasts():
    grid = torch.linspace(-12, 14, 20001, dtype=F64)
    density = log_normal(grid, torch.tensor(1.0, dtype=F64), torch.tensor(math.log(4.0), dtype=F64)).exp()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-8)
    out = log_normal(torch.zeros(5, 1, 3), torch.zeros(3), torch.zeros(1, 3))
    assert out.shape == (5, 1, 3)
    assert torch.allclose(out, torch.full_like(out, -0.5 * math.log(2 * math.pi)))


def test_log_bernoulli_binary_matches_the_log_probability():
    logits = torch.randn(50, generator=gen(1), dtype=F64) * 3
    x = (torch.rand(50, generator=gen(2), dtype=F64) < 0.5).to(F64)
    p = torch.sigmoid(logits)
    by_hand = torch.where(x == 1, p.log(), (1 - p).log())
    torch.testing.assert_close(log_bernoulli(x, logits), by_hand)


def test_log_bernoulli_continuous_x_is_the_cross_entropy_formula():
    logits = torch.randn(50, generator=gen(3), dtype=F64) * 3
    x = torch.rand(50, generator=gen(4), dtype=F64)
    p = torch.sigmoid(logits)
    torch.testing.assert_close(log_bernoulli(x, logits), x * p.log() + (1 - x) * (1 - p).log())


def test_log_bernoulli_is_finite_and_exact_for_huge_logits():
    logits = torch.tensor([1e4, 1e4, -1e4, -1e4, 1e4, -1e4], dtype=F64)
    x = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.25, 0.75], dtype=F64)
    out = log_bernoulli(x, logits)
    assert torch.isfinite(out).all()
    # the limits: log sigmoid(l) -> -max(-l, 0), so the value is -(1 - x) l for l >> 0 and x l for l << 0
    expected = torch.tensor([0.0, -1e4, -1e4, 0.0, -0.75e4, -0.75e4], dtype=F64)
    torch.testing.assert_close(out, expected)
    float32 = log_bernoulli(x.float(), logits.float())
    assert torch.isfinite(float32).all() and torch.allclose(float32, expected.float())


# --- normalisation: every decoder distribution the course calls a likelihood sums / integrates to 1 ---
# over a 2-pixel image, by brute force (issue 9); the grey-data cross-entropy does not.

TWO_PIXEL_LOGITS = [(-3.0, 0.7), (0.0, 1e-3), (-1e-2, 1e-2), (12.0, -25.0)]


@pytest.mark.parametrize("logits", TWO_PIXEL_LOGITS)
def test_bernoulli_sums_to_one_over_binary_images(logits):
    l = torch.tensor(logits, dtype=F64)
    total = total_probability(lambda x: log_bernoulli(x, l).sum(-1), "binary")
    assert abs(total.item() - 1) < 1e-6
    by_hand = sum(math.prod(math.exp(v * a - math.log1p(math.exp(a))) for v, a in zip(x, logits))
                  for x in [(0, 0), (0, 1), (1, 0), (1, 1)])
    assert total.item() == pytest.approx(by_hand, abs=1e-12)


@pytest.mark.parametrize("logits", TWO_PIXEL_LOGITS)
def test_continuous_bernoulli_integrates_to_one_over_the_unit_square(logits):
    l = torch.tensor(logits, dtype=F64)
    total = total_probability(lambda x: log_continuous_bernoulli(x, l).sum(-1), "unit")
    assert abs(total.item() - 1) < 1e-6


def test_bernoulli_cross_entropy_on_grey_values_is_not_normalised():
    # over [0, 1] exp(x l - softplus(l)) integrates to tanh(l/2) / l < 1: not a density of grey x
    l = torch.tensor([-3.0, 0.7], dtype=F64)
    total = total_probability(lambda x: log_bernoulli(x, l).sum(-1), "unit")
    expected = math.prod(math.tanh(a / 2) / a for a in l.tolist())
    assert total.item() == pytest.approx(expected, rel=1e-10)
    assert total.item() < 0.5


@pytest.mark.parametrize("mu,var", [((0.3, 0.8), 0.05), ((-1.0, 2.0), 1.5)])
def test_gaussian_integrates_to_one_over_the_plane(mu, var):
    mu = torch.tensor(mu, dtype=F64)
    logvar = torch.tensor(math.log(var), dtype=F64)
    box = (mu.min().item() - 12 * var ** 0.5, mu.max().item() + 12 * var ** 0.5)
    total = total_probability(lambda x: log_normal(x, mu, logvar).sum(-1), "real", nodes=128, bounds=box)
    assert abs(total.item() - 1) < 1e-6


def test_total_probability_finds_a_missing_normaliser_and_rejects_bad_arguments():
    off_by_two = total_probability(lambda x: torch.full((len(x),), math.log(2.0), dtype=F64), "unit", pixels=3, nodes=4)
    assert off_by_two.item() == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="support"):
        total_probability(lambda x: x.sum(-1), "integers")
    with pytest.raises(ValueError, match="bounds"):
        total_probability(lambda x: x.sum(-1), "real")
    with pytest.raises(ValueError, match="bounds"):
        total_probability(lambda x: x.sum(-1), "unit", bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="log_p"):
        total_probability(lambda x: x, "binary")            # (N, P) instead of (N,)


def test_continuous_bernoulli_log_norm_matches_numerical_integration_and_torch():
    logits = torch.tensor([-40.0, -5.0, -0.3, -1e-2, -9.9e-3, 0.0, 1e-4, 9.9e-3, 1e-2, 0.3, 5.0, 40.0], dtype=F64)
    grid = torch.linspace(0, 1, 400_001, dtype=F64)
    for l in logits:
        integral = torch.trapezoid(log_bernoulli(grid, l).exp(), grid)
        assert continuous_bernoulli_log_norm(l).item() == pytest.approx(-integral.log().item(), abs=1e-7)
    # torch's own version (away from l = 0 and from the large |l| where it clamps lambda)
    x = torch.rand(len(logits), generator=gen(7), dtype=F64)
    keep = (logits.abs() > 0.05) & (logits.abs() < 20)
    reference = torch.distributions.ContinuousBernoulli(logits=logits[keep]).log_prob(x[keep])
    torch.testing.assert_close(log_continuous_bernoulli(x, logits)[keep], reference)
    # continuous across the switch to the Taylor series at |l| = 1e-2, finite in float32 for huge |l|
    edge = continuous_bernoulli_log_norm(torch.tensor([0.01 - 1e-12, 0.01 + 1e-12], dtype=F64))
    assert abs(edge[0] - edge[1]).item() < 1e-12
    assert torch.isfinite(continuous_bernoulli_log_norm(torch.tensor([-1e4, 0.0, 1e4]))).all()


def test_continuous_bernoulli_mean_matches_numerical_integration():
    grid = torch.linspace(0, 1, 400_001, dtype=F64)
    for value in [-30.0, -2.0, -0.01, 0.0, 0.005, 0.02, 1.0, 30.0]:
        l = torch.tensor(value, dtype=F64)
        density = log_continuous_bernoulli(grid, l).exp()
        assert continuous_bernoulli_mean(l).item() == pytest.approx(torch.trapezoid(grid * density, grid).item(), abs=1e-7)


def test_continuous_bernoulli_rejects_values_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_continuous_bernoulli(torch.tensor([1.5]), torch.zeros(1))
    with pytest.raises(TypeError, match="logits"):
        continuous_bernoulli_log_norm([0.0])


def test_kl_normal_std_matches_monte_carlo_and_is_zero_at_the_prior():
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=F64)
    logvar = torch.tensor([[0.3, -1.2, 0.0]], dtype=F64)
    z = mu + (0.5 * logvar).exp() * torch.randn(400_000, 3, generator=gen(5), dtype=F64)
    log_ratio = (log_normal(z, mu, logvar) - log_normal(z, torch.zeros(()), torch.zeros(()))).sum(-1)
    stderr = log_ratio.std() / math.sqrt(len(z))
    assert abs(kl_normal_std(mu, logvar).item() - log_ratio.mean().item()) < 4 * stderr
    assert kl_normal_std(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0


def test_kl_normal_std_matches_numerical_integration_in_1d():
    z = torch.linspace(-20, 20, 200_001, dtype=F64)
    for m, lv in [(0.0, 0.0), (1.5, -0.7), (-3.0, 1.1)]:
        mu, logvar = torch.tensor(m, dtype=F64), torch.tensor(lv, dtype=F64)
        log_q = log_normal(z, mu, logvar)
        integral = torch.trapezoid(log_q.exp() * (log_q - log_normal(z, 0 * mu, 0 * mu)), z)
        assert kl_normal_std(mu.reshape(1), logvar.reshape(1)).item() == pytest.approx(integral.item(), abs=1e-8)


def test_iwae_bound_equals_naive_log_mean_exp():
    log_w = torch.randn(7, 3, 2, generator=gen(6), dtype=F64)
    for dim in (0, 1, -1):
        torch.testing.assert_close(iwae_bound(log_w, dim=dim), log_w.exp().mean(dim).log())
    loop = torch.tensor([math.log(sum(math.exp(v) for v in log_w[:, j, 0].tolist()) / 7) for j in range(3)],
                        dtype=F64)
    torch.testing.assert_close(iwae_bound(log_w)[:, 0], loop)


def test_iwae_bound_is_stable_for_huge_values_and_k_1_is_the_sample():
    log_w = torch.tensor([[1e4, -1e4], [1e4, -1e4 + math.log(3)]])
    torch.testing.assert_close(iwae_bound(log_w, dim=0), torch.tensor([1e4, -1e4 + math.log(2)]))
    one = torch.randn(1, 5, generator=gen(7))
    torch.testing.assert_close(iwae_bound(one, dim=0), one[0])


def test_iwae_bound_never_decreases_with_k_on_average():
    # Burda et al. 2016, theorem 1: E[log mean of K weights] increases with K (and stays <= log E[w])
    log_w = torch.randn(1000, 64, generator=gen(8), dtype=F64)
    bounds = [iwae_bound(log_w[:, :k], dim=1).mean().item() for k in (1, 4, 16, 64)]
    assert bounds == sorted(bounds) and bounds[-1] < 0.5  # log E[w] = 1/2 for log w ~ N(0, 1)


def test_iwae_bound_is_one_draw_whose_mean_is_the_bound():
    # log w ~ N(0, 1) stands for log p(x, z) - log q(z|x): log p(x) = log E[w] = 1/2. One draw of
    # log (1/K) sum_k w_k can exceed log p(x); its expectation, the bound L_K, cannot (the mean of
    # 4,000 draws estimates it).
    log_w = torch.randn(4000, 8, generator=gen(10), dtype=F64)
    draws = iwae_bound(log_w, dim=1)
    assert draws.shape == (4000,) and (draws > 0.5).any()
    assert draws.mean().item() < 0.5


def test_mse_per_example_matches_a_loop():
    x_hat, x = torch.randn(2, 3, 1, 2, 2, generator=gen(9)).unbind(0)
    loop = torch.tensor([sum((a - b) ** 2 for a, b in zip(x_hat[i].flatten().tolist(), x[i].flatten().tolist())) / 4
                         for i in range(3)])
    torch.testing.assert_close(mse_per_example(x_hat, x), loop)


@pytest.mark.parametrize("call,error,message", [
    (lambda: log_normal([0.0], torch.zeros(1), torch.zeros(1)), TypeError, "x must be a torch.Tensor"),
    (lambda: log_normal(torch.zeros(3), torch.zeros(2), torch.zeros(3)), ValueError, "do not broadcast"),
    (lambda: log_bernoulli(torch.zeros(3), torch.zeros(4)), ValueError, "do not broadcast"),
    (lambda: log_bernoulli(torch.tensor([0.0, 1.5]), torch.zeros(2)), ValueError, r"x must lie in \[0, 1\]"),
    (lambda: log_bernoulli(torch.tensor([1, 0]), torch.zeros(2)), TypeError, "floating-point"),
    (lambda: kl_normal_std(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "shapes must match"),
    (lambda: kl_normal_std(torch.zeros(2, 3), "0"), TypeError, "logvar must be a torch.Tensor"),
    (lambda: iwae_bound(torch.zeros(3, 2), dim=2), ValueError, "dim must index"),
    (lambda: iwae_bound(torch.zeros(3, 2), dim=1.0), TypeError, "dim must be an int"),
    (lambda: iwae_bound(torch.zeros(0, 2), dim=0), ValueError, "K >= 1"),
    (lambda: iwae_bound([0.0, 1.0]), TypeError, "log_w must be a torch.Tensor"),
    (lambda: mse_per_example(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "shapes must match"),
])
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
