"""Flow matching: the path, the exact marginal velocities against brute force (Monte Carlo
conditional means), the samplers against closed-form flows, the loss's conditional-mean
property, training, determinism and errors."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from vae_course import density, flow

F64 = torch.float64
REPO = Path(__file__).resolve().parent.parent


def mixture_1d():
    """q(z) = 0.3 N(-2, 0.3^2) + 0.5 N(0.5, 0.5^2) + 0.2 N(3, 0.2^2)."""
    return density.FittedDensity("mixture", torch.tensor([0.3, 0.5, 0.2], dtype=F64),
                                 torch.tensor([[-2.0], [0.5], [3.0]], dtype=F64),
                                 torch.tensor([0.3, 0.5, 0.2], dtype=F64).view(3, 1, 1))


def mixture_2d():
    """Two components with full, non-diagonal covariances."""
    tril = torch.tensor([[[0.6, 0.0], [0.3, 0.2]], [[0.2, 0.0], [-0.4, 0.5]]], dtype=F64)
    return density.FittedDensity("mixture", torch.tensor([0.4, 0.6], dtype=F64),
                                 torch.tensor([[-1.5, 1.0], [1.0, -0.5]], dtype=F64), tril)


def w1(a, b):
    """The 1-Wasserstein distance between two 1-D samples of equal size:
    mean |sorted a - sorted b|."""
    return (a.flatten().sort().values - b.flatten().sort().values).abs().mean().item()


class Field(nn.Module):
    """A callable velocity field dressed as a module (what ``flow_matching_loss`` expects)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t):
        return self.fn(x, t)


def test_the_path_runs_from_noise_to_the_code_at_the_conditional_velocity():
    g = torch.Generator().manual_seed(0)
    z, eps = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    assert torch.equal(flow.interpolate(z, eps, 0.0), eps)
    assert torch.equal(flow.interpolate(z, eps, 1), z)
    t = torch.rand(5, generator=g, dtype=F64)
    row = torch.stack([flow.interpolate(z[i:i + 1], eps[i:i + 1], t[i].item())[0]
                       for i in range(5)])
    assert torch.allclose(flow.interpolate(z, eps, t), row)
    h = 1e-6  # the derivative in t, by a finite difference, is z - eps for every t
    t = t.clamp(max=0.9)
    slope = (flow.interpolate(z, eps, t + h) - flow.interpolate(z, eps, t)) / h
    assert torch.allclose(slope, flow.conditional_velocity(z, eps), atol=1e-6)


@pytest.mark.parametrize("t", [0.2, 0.5, 0.8])
def test_mixture_velocity_is_the_conditional_mean_of_z_minus_eps(t):
    """Brute force: draw (z, eps) pairs, keep those whose x_t falls in a narrow window around x,
    average z - eps there; the closed form must agree within the Monte Carlo error."""
    mixture = mixture_1d()
    velocity = flow.mixture_velocity(mixture)
    g = torch.Generator().manual_seed(1)
    n = 2_000_000
    z = mixture.sample(n, generator=g).double()
    eps = torch.randn(n, 1, generator=g, dtype=F64)
    x_t = (1 - t) * eps + t * z
    for x in (-1.0, 0.0, 1.0):
        near = (x_t[:, 0] - x).abs() < 0.01
        u = (z - eps)[near, 0]
        exact = velocity(torch.tensor([[x]], dtype=F64), t).item()
        stderr = u.std().item() / math.sqrt(len(u))
        assert abs(u.mean().item() - exact) < 5 * stderr + 0.01, (x, exact, u.mean().item(), stderr)


def test_mixture_velocity_at_the_ends_and_in_2d_against_importance_weighting():
    mixture = mixture_2d()
    velocity = flow.mixture_velocity(mixture)
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    # t = 0: x_0 = eps, so E[z - eps | x_0 = x] = E[z] - x; t = 1: x_1 = z and E[eps] = 0, so v = x
    assert torch.allclose(velocity(x, 0.0), mixture.mean - x)
    assert torch.allclose(velocity(x, 1.0), x)
    # the empirical field of many draws is the self-normalised importance-weighted estimate of
    # E[z - eps | x_t = x] with weights N(x; t z_n, (1 - t)^2 I): it must approach the closed form
    draws = mixture.sample(400_000, generator=3).double()
    monte_carlo = flow.empirical_velocity(draws)
    for t in (0.3, 0.6):
        assert torch.allclose(monte_carlo(x, t), velocity(x, t), atol=0.03), t


def test_empirical_velocity_is_the_mixture_velocity_with_zero_covariances():
    codes = torch.randn(20, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
    narrow = density.FittedDensity("mixture", torch.full((20,), 1 / 20, dtype=F64), codes,
                                   1e-7 * torch.eye(3, dtype=F64).expand(20, 3, 3))
    x = torch.randn(9, 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    t = torch.linspace(0.0, 0.9, 9, dtype=F64)
    assert torch.allclose(flow.empirical_velocity(codes)(x, t), flow.mixture_velocity(narrow)(x, t),
                          atol=1e-6)


def test_euler_with_the_exact_field_carries_the_normal_to_the_mixture():
    mixture = mixture_1d()
    x_1 = flow.sample(flow.mixture_velocity(mixture), 20_000, 1, 100,
                      generator=torch.Generator().manual_seed(6))
    target, again = mixture.sample(20_000, generator=7), mixture.sample(20_000, generator=8)
    floor = w1(target, again)  # two samples of the mixture itself
    assert w1(x_1, target) < 2 * floor
    start = torch.randn(20_000, 1, generator=torch.Generator().manual_seed(9))
    assert w1(start, target) > 10 * floor


def test_the_empirical_field_returns_copies_of_its_codes():
    codes = 3 * torch.randn(50, 4, generator=torch.Generator().manual_seed(10))
    x_1 = flow.sample(flow.empirical_velocity(codes), 200, 4, 50,
                      generator=torch.Generator().manual_seed(11))
    assert (x_1[:, None] - codes).norm(dim=2).min(1).values.max() < 1e-3


def gaussian_endpoint(x0, m=1.5, s=0.4):
    """The exact flow from N(0, 1) to N(m, s^2) along the linear path is x_t = t m + sigma_t eps
    with sigma_t = sqrt(t^2 s^2 + (1 - t)^2): it ends at m + s x0."""
    return m + s * x0


def test_euler_is_first_order_and_heun_second_order_on_a_gaussian_target():
    one = torch.ones(1, dtype=F64)
    target = density.FittedDensity("full", one, 1.5 * one.view(1, 1), 0.4 * one.view(1, 1, 1))
    velocity = flow.mixture_velocity(target)
    x0 = torch.linspace(-2, 2, 11, dtype=F64)[:, None]
    error = {(m, n): (getattr(flow, m)(velocity, x0, n) - gaussian_endpoint(x0)).abs().max().item()
             for m in ("euler", "heun") for n in (8, 16, 32)}
    for n in (8, 16):
        assert 1.6 < error[("euler", n)] / error[("euler", 2 * n)] < 2.4
        assert error[("heun", n)] / error[("heun", 2 * n)] > 3.2
    assert error[("heun", 16)] < error[("euler", 16)] / 5


def test_samplers_take_exactly_the_given_steps():
    """v(x, t) = t: Euler adds h * t_i for t_i = i h, i < n, i.e. (n - 1) / (2 n); Heun's
    trapezoids integrate t exactly except the last (Euler) step."""
    field = lambda x, t: t[:, None].expand_as(x)
    x0 = torch.zeros(3, 2, dtype=F64)
    for n in (1, 2, 5):
        assert torch.allclose(flow.euler(field, x0, n), torch.full_like(x0, (n - 1) / (2 * n)))
        h = 1 / n
        heun = (1 - h) ** 2 / 2 + h * (1 - h)
        assert torch.allclose(flow.heun(field, x0, n), torch.full_like(x0, heun))
    path = flow.euler(lambda x, t: x, torch.ones(2, 1, dtype=F64), 4, trajectory=True)
    assert path.shape == (5, 2, 1)
    assert torch.allclose(path[:, 0, 0], 1.25 ** torch.arange(5, dtype=F64))


def test_the_loss_is_the_distance_to_the_marginal_velocity_plus_a_constant():
    """E||v - (z - eps)||^2 = E||v - u||^2 + E||u - (z - eps)||^2 for the marginal velocity u:
    checked with common random draws for a field v that is not u."""
    mixture = mixture_1d()
    exact = flow.mixture_velocity(mixture)
    other = lambda x, t: exact(x, t) + 0.5 * torch.sin(3 * x) + t[:, None]
    z = mixture.sample(200_000, generator=12).double()
    loss_exact, _ = flow.flow_matching_loss(seed=3)(Field(exact), z, 0)
    loss_other, _ = flow.flow_matching_loss(seed=3)(Field(other), z, 0)
    g = torch.Generator().manual_seed(3)  # the same draws as the loss: t, then eps
    t = torch.rand(len(z), generator=g).double()
    x_t = flow.interpolate(z, torch.randn(z.shape, generator=g).double(), t)
    gap = (other(x_t, t) - exact(x_t, t)).pow(2).sum(1).mean()
    assert loss_other.item() - loss_exact.item() == pytest.approx(gap.item(), rel=0.03)
    assert loss_other > loss_exact


def test_the_loss_draws_a_time_and_a_noise_per_code_and_is_seeded():
    model = flow.VelocityMLP(2, hidden=16, depth=1)
    z = torch.ones(64, 2)
    seen = []
    spy = Field(lambda x, t: seen.append((x.clone(), t.clone())) or model(x, t))
    flow.flow_matching_loss(seed=0)(spy, z, 0)
    x_t, t = seen[0]
    assert t.unique().numel() == 64 and x_t.unique(dim=0).shape[0] == 64
    first = flow.flow_matching_loss(seed=5)(model, z, 0)[0]
    assert torch.equal(first, flow.flow_matching_loss(seed=5)(model, z, 0)[0])
    assert not torch.equal(first, flow.flow_matching_loss(seed=6)(model, z, 0)[0])


def test_fit_is_deterministic_and_leaves_the_global_random_state_alone():
    codes = mixture_1d().sample(300, generator=13)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    model, history = flow.fit(codes, 30, hidden=16, depth=1, seed=0, progress=False)
    assert torch.equal(torch.rand(3), before)
    again, _ = flow.fit(codes, 30, hidden=16, depth=1, seed=0, progress=False)
    other, _ = flow.fit(codes, 30, hidden=16, depth=1, seed=1, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), other.parameters()))
    assert not model.training and history.steps == [0, 10, 20, 29]


def test_fit_with_ema_returns_the_moving_average_of_the_weights():
    codes = mixture_1d().sample(300, generator=13)
    last, _ = flow.fit(codes, 30, hidden=16, depth=1, seed=0, progress=False)
    averaged, _ = flow.fit(codes, 30, hidden=16, depth=1, seed=0, ema=0.9, progress=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        init = flow.VelocityMLP(1, 16, 1)
    # theta_ema after n steps = 0.9^n theta_0 + sum_k 0.1 0.9^(n-k) theta_k: between the two ends
    for p, a, p0 in zip(last.parameters(), averaged.parameters(), init.parameters()):
        assert not torch.equal(a, p) and not torch.equal(a, p0)
    # same training path, so a decay near 0 gives back the last weights
    nearly_last, _ = flow.fit(codes, 30, hidden=16, depth=1, seed=0, ema=1e-9, progress=False)
    assert all(torch.allclose(p, q, atol=1e-6)
               for p, q in zip(last.parameters(), nearly_last.parameters()))


def test_a_trained_network_approaches_the_exact_field():
    mixture = mixture_1d()
    model, history = flow.fit(mixture.sample(2000, generator=13), 1000, hidden=64, depth=2, lr=3e-3,
                              progress=False)
    g = torch.Generator().manual_seed(14)
    t = 0.05 + 0.9 * torch.rand(4000, generator=g)
    x_t = flow.interpolate(mixture.sample(4000, generator=g), torch.randn(4000, 1, generator=g), t)
    exact = flow.mixture_velocity(mixture)(x_t, t)
    untrained = flow.VelocityMLP(1, hidden=64, depth=2)
    with torch.no_grad():
        error, error0 = ((m(x_t, t) - exact).pow(2).mean() / exact.pow(2).mean()
                         for m in (model, untrained))
    assert error < 0.2 and error0 > 0.5  # measured: 0.11 after 1,000 steps, about 1 untrained
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_sample_is_seeded_and_runs_a_network_in_eval_mode():
    model = flow.VelocityMLP(3, hidden=8, depth=1).train()
    a = flow.sample(model, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    b = flow.sample(model, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    c = flow.sample(model, 5, 3, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == (5, 3)
    assert model.training  # restored
    heun = flow.sample(model, 5, 3, 4, method="heun", generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, heun)


Z, E = torch.zeros(2, 3), torch.zeros(2, 3)


@pytest.mark.parametrize("call,error,match", [
    (lambda: flow.interpolate(Z, E, 1.5), ValueError, r"t must lie in \[0, 1\]"),
    (lambda: flow.interpolate(Z, E, torch.tensor([-0.1, 0.5])), ValueError, r"\[0, 1\]"),
    (lambda: flow.interpolate(Z, torch.zeros(2, 4), 0.5), ValueError, "shapes must match"),
    (lambda: flow.interpolate(Z, E, torch.zeros(3)), ValueError, r"shape \(2,\)"),
    (lambda: flow.interpolate(Z, E, "0.5"), TypeError, "t must be a number"),
    (lambda: flow.conditional_velocity(torch.zeros(3), torch.zeros(3)), ValueError, "2 dimensions"),
    (lambda: flow.sample(flow.VelocityMLP(2), 4, 2, 0), ValueError, "steps must be >= 1"),
    (lambda: flow.sample(flow.VelocityMLP(2), 4, 2, 2, method="rk4"), ValueError, "method"),
    (lambda: flow.euler("v", torch.zeros(2, 2), 3), TypeError, "velocity must be a callable"),
    (lambda: flow.euler(flow.VelocityMLP(2), Z, 3), ValueError, r"shape \(\*, 2\)"),
    (lambda: flow.fit(torch.tensor([[0.0, float("nan")]] * 4), 3), ValueError,
     "codes must be finite"),
    (lambda: flow.fit(torch.zeros(4, 2), 0), ValueError, "steps must be >= 1"),
    (lambda: flow.fit(torch.zeros(4, 2), 2, eval_codes=torch.zeros(3, 5)), ValueError,
     "eval_codes"),
    (lambda: flow.fit(torch.zeros(4, 2, dtype=torch.int64), 2), TypeError, "floating-point"),
    (lambda: flow.fit(torch.zeros(4, 2), 2, ema=1.0), ValueError, r"ema must be None or a decay"),
    (lambda: flow.empirical_velocity(torch.zeros(4, 2))(torch.zeros(1, 2), 1.0), ValueError,
     "singular at t = 1"),
    (lambda: flow.mixture_velocity(torch.zeros(3)), TypeError, "FittedDensity"),
    (lambda: flow.VelocityMLP(2)(torch.zeros(3, 2, dtype=F64), 0.5), TypeError, "dtype"),
    (lambda: flow.flow_matching_loss(seed=-1), ValueError, "seed"),
])
def test_bad_input_is_refused_before_any_work(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_benchmark_prints_both_targets_met_or_not():
    """benchmarks/latent_prior.py, the README's command, on its own code path with tiny budgets."""
    tiny = ["--ae-steps", "20", "--flow-steps", "20", "--classifier-steps", "20", "--euler", "2",
            "--heun", "2", "--threads", "1"]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "latent_prior.py"), *tiny],
                         capture_output=True, text=True, timeout=600, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": path})
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("[proof]")]
    assert any("training seconds" in line and "target: <= 60" in line for line in lines), lines
    confident = [line for line in lines if "sample confidence" in line]
    assert len(confident) == 2, lines
    assert all("-> met" in line or "-> NOT met" in line for line in confident), lines
