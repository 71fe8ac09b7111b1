"""Checks for exercise 05 (the ELBO): the closed-form KL and a Monte Carlo ELBO; then the reference
solution over the docstrings' domain: 1 to 3 batch dimensions, float32 and float64, wide and
narrow posteriors (logvar from -8 to 4) and gradients to mu and logvar for the KL; batches of 1
and odd sizes, a shared (d, d) or a batched (B, d, d) covariance, and 1 to 8 samples for the
Monte Carlo ELBO."""
from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from vae_course import linear_gaussian as lg
from vae_course import objectives
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true
from vae_course.exercise_checks.differential import (Named, batch_sizes, differential, dtypes, reference, seeds,
                                                     tensors)

F64 = torch.float64


def check_kl(module) -> None:
    """Zero at the prior; >= 0; float64 in, float64 out; any number of batch dimensions; equal to
    ``objectives.kl_normal_std`` on random inputs."""
    g = torch.Generator().manual_seed(0)
    zero = expect_tensor("kl_normal_std(zeros (1, 4), zeros (1, 4))",
                         module.kl_normal_std(torch.zeros(1, 4, dtype=F64), torch.zeros(1, 4, dtype=F64)), (1,))
    expect_close("kl_normal_std at mu = 0, logvar = 0 (q equals the prior)", zero, torch.zeros(1), atol=1e-10)
    mu, logvar = torch.randn(2, 5, 3, generator=g, dtype=F64).unbind(0)
    got = expect_tensor("kl_normal_std(mu (5, 3), logvar (5, 3))", module.kl_normal_std(mu, logvar), (5,), dtype=F64)
    expect_true(bool((got >= 0).all()), f"a KL is never negative, got {got.tolist()}")
    expect_close("kl_normal_std (a sum over the D latents of each row)", got, objectives.kl_normal_std(mu, logvar),
                 atol=1e-8)
    mu, logvar = torch.randn(2, 2, 4, 3, generator=g, dtype=F64).unbind(0)
    got = expect_tensor("kl_normal_std(mu (2, 4, 3), logvar (2, 4, 3)) (sum over the last dimension only)",
                        module.kl_normal_std(mu, logvar), (2, 4))
    expect_close("kl_normal_std of (2, 4, 3) inputs", got, objectives.kl_normal_std(mu, logvar), atol=1e-8)
    differential("kl_normal_std", module.kl_normal_std, reference("05", "kl_normal_std"), _kl_cases(),
                 grads=("mu", "logvar"))


@st.composite
def _kl_cases(draw) -> dict:
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    dtype = draw(dtypes)
    return {"mu": draw(tensors(shape, dtype, -4.0, 4.0)),
            "logvar": draw(tensors(shape, dtype, -8.0, 4.0, edges=(0.0, -8.0)))}


def check_mc_elbo(module) -> None:
    """Reproducible with the generator; within 5 standard errors of the exact ELBO; exact when q is
    the posterior (zero variance)."""
    model = lg.LinearGaussian.random(D=4, d=2, sigma2=0.5, seed=1)
    x, _ = model.sample(3, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    q_mean = torch.randn(3, 2, generator=g, dtype=F64)
    q_cov = lg.cov_from_tril(0.5 * torch.randn(2, 2, generator=g, dtype=F64))
    n = 20_000
    got = module.mc_elbo(model, x, q_mean, q_cov, n, generator=torch.Generator().manual_seed(4))
    expect_tensor("mc_elbo(model, x (3, 4), ...)", got, (3,), dtype=F64)
    again = module.mc_elbo(model, x, q_mean, q_cov, n, generator=torch.Generator().manual_seed(4))
    expect_close("mc_elbo twice with equally seeded generators (draw z with generator=generator)", again, got,
                 atol=1e-12, rtol=0)
    z = lg.sample_gaussian(q_mean, q_cov, n, generator=torch.Generator().manual_seed(5))
    stderr = (model.log_joint(x, z) - lg.log_gaussian(z, q_mean, q_cov)).std(0) / math.sqrt(n)
    exact = model.elbo(x, q_mean, q_cov)
    error = (got.detach() - exact).abs()
    expect_true(bool((error < 5 * stderr).all()),
                f"mc_elbo should be within 5 standard errors ({(5 * stderr).tolist()}) of the exact ELBO "
                f"{exact.tolist()}, got {got.tolist()} (E_q[log p(x, z) - log q(z)], averaged over the samples)")
    post_mean, post_cov = model.posterior(x)
    at_posterior = module.mc_elbo(model, x, post_mean, post_cov, 10, generator=torch.Generator().manual_seed(6))
    expect_close("mc_elbo with q = p(z|x) (every sample gives log p(x) exactly)", at_posterior,
                 model.log_evidence(x), atol=1e-6)
    differential("mc_elbo", module.mc_elbo, reference("05", "mc_elbo"), _elbo_cases(), max_examples=30)


@st.composite
def _elbo_cases(draw) -> dict:
    """A random linear-Gaussian model, data of B rows, q with a shared or a per-row covariance."""
    d = draw(st.integers(1, 3))
    D, b, seed, dtype = draw(st.integers(d, 4)), draw(batch_sizes), draw(st.integers(0, 99)), draw(dtypes)
    model = lg.LinearGaussian.random(D=D, d=d, sigma2=0.5, seed=seed)
    x, _ = model.sample(b, generator=torch.Generator().manual_seed(seed))
    rows = (b,) if draw(st.booleans()) else ()  # (B, d, d) one covariance per row, or one (d, d) for all
    tril = draw(tensors((*rows, d, d), torch.float64, -1.0, 1.0)).tril()
    tril.diagonal(dim1=-2, dim2=-1).copy_(tril.diagonal(dim1=-2, dim2=-1).abs() + 0.3)
    return {"model": Named(model, f"LinearGaussian.random(D={D}, d={d}, sigma2=0.5, seed={seed})"),
            "x": x, "q_mean": draw(tensors((b, d), dtype, -2.0, 2.0)),
            "q_cov": (tril @ tril.transpose(-1, -2)).to(dtype), "n_samples": draw(st.integers(1, 8)),
            "generator": draw(seeds)}


TASKS = [
    ("1. closed-form KL(N(mu, diag exp(logvar)) || N(0, I))", check_kl),
    ("2. Monte Carlo ELBO of the linear-Gaussian model", check_mc_elbo),
]
