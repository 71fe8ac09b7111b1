"""Checks for exercise 05 (the ELBO): the closed-form KL and a Monte Carlo ELBO."""
from __future__ import annotations

import math

import torch

from vae_course import linear_gaussian as lg
from vae_course import objectives
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true

F64 = torch.float64


def check_kl(module) -> None:
    """Compare with ``objectives.kl_normal_std`` on random inputs; zero at the prior; >= 0."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 5, 3, generator=g, dtype=F64).unbind(0)
    got = expect_tensor("kl_normal_std(mu (5, 3), logvar (5, 3))", module.kl_normal_std(mu, logvar), (5,))
    expect_close("kl_normal_std", got, objectives.kl_normal_std(mu, logvar), atol=1e-8)
    zero = module.kl_normal_std(torch.zeros(1, 4, dtype=F64), torch.zeros(1, 4, dtype=F64))
    expect_close("kl_normal_std at mu = 0, logvar = 0 (q equals the prior)", zero, torch.zeros(1), atol=1e-10)
    expect_true(bool((got >= 0).all()), f"a KL is never negative, got {got.tolist()}")


def check_mc_elbo(module) -> None:
    """Within 5 standard errors of the exact ELBO; exact when q is the posterior (zero variance)."""
    model = lg.LinearGaussian.random(D=4, d=2, sigma2=0.5, seed=1)
    x, _ = model.sample(3, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    q_mean = torch.randn(3, 2, generator=g, dtype=F64)
    q_cov = lg.cov_from_tril(0.5 * torch.randn(2, 2, generator=g, dtype=F64))
    n = 20_000
    got = module.mc_elbo(model, x, q_mean, q_cov, n, generator=torch.Generator().manual_seed(4))
    expect_tensor("mc_elbo(model, x (3, 4), ...)", got, (3,))
    z = lg.sample_gaussian(q_mean, q_cov, n, generator=torch.Generator().manual_seed(5))
    stderr = (model.log_joint(x, z) - lg.log_gaussian(z, q_mean, q_cov)).std(0) / math.sqrt(n)
    exact = model.elbo(x, q_mean, q_cov)
    error = (got.detach() - exact).abs()
    expect_true(bool((error < 5 * stderr).all()),
                f"mc_elbo should be within 5 standard errors ({(5 * stderr).tolist()}) of the exact ELBO "
                f"{exact.tolist()}, got {got.tolist()}")
    post_mean, post_cov = model.posterior(x)
    at_posterior = module.mc_elbo(model, x, post_mean, post_cov, 10, generator=torch.Generator().manual_seed(6))
    expect_close("mc_elbo with q = p(z|x) (every sample gives log p(x) exactly)", at_posterior,
                 model.log_evidence(x), atol=1e-6)


TASKS = [
    ("1. closed-form KL(N(mu, diag exp(logvar)) || N(0, I))", check_kl),
    ("2. Monte Carlo ELBO of the linear-Gaussian model", check_mc_elbo),
]
