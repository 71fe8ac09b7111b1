"""Checks for exercise 06 (the reparameterization trick): reparameterize and a score-function
gradient estimator; then the reference solution over the docstrings' domain: mu of any shape (a
scalar too), float32 and float64, logvar from -8 to 4, gradients to mu and logvar; for the
estimator every sample's own estimate (not only their mean), sigma from 0.05 to 3, n >= 1 and
functions f smooth, bounded and discontinuous."""
from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import (Named, differential, dtypes, expect_gradients, reference, seeds,
                                                     tensors)

F64 = torch.float64
N = 100_000


def _within(name: str, g: torch.Tensor, truth: torch.Tensor, k: float = 5.0) -> None:
    mean, stderr = g.mean(0), g.std(0) / math.sqrt(len(g))
    expect_true(bool(((mean - truth).abs() < k * stderr).all()),
                f"{name}: the mean of the estimates should be within {k} standard errors of the true gradient "
                f"{truth.tolist()}, got {mean.tolist()} (standard error {stderr.tolist()})")


def check_reparameterize(module) -> None:
    """Shape, dtype, reproducibility with the generator, mean, variance and independence of the
    coordinates of z; dz/dmu = 1 and dz/dlogvar = (z - mu) / 2; any shape."""
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=F64).repeat(N, 1).requires_grad_()
    logvar = torch.tensor([0.0, 1.0, -2.0], dtype=F64).repeat(N, 1).requires_grad_()
    z = expect_tensor("reparameterize(mu (N, 3), logvar (N, 3))",
                      module.reparameterize(mu, logvar, torch.Generator().manual_seed(0)), (N, 3), dtype=F64)
    first, again = (module.reparameterize(mu[:4].detach(), logvar[:4].detach(), torch.Generator().manual_seed(7))
                    for _ in range(2))
    expect_close("z twice with equally seeded generators (draw eps with generator=generator)", again, first,
                 atol=1e-12, rtol=0)
    expect_true(z.requires_grad,
                "z must depend differentiably on mu and logvar (does it use .sample() or .detach()?)")
    expect_close("mean of z", z.detach().mean(0), mu[0].detach(), atol=0.03, rtol=0)
    expect_close("variance of z (exp(logvar), so the std is exp(logvar / 2))", z.detach().var(0),
                 logvar[0].detach().exp(), atol=0.0, rtol=0.03)
    corr = torch.corrcoef(z.detach().T)
    off = (corr - torch.eye(3, dtype=F64)).abs().max().item()
    expect_true(off < 5 / math.sqrt(N), f"the coordinates of z are correlated (largest |correlation| {off:.3f}, "
                                        f"expected < {5 / math.sqrt(N):.3f}): draw eps of mu's full shape, "
                                        "one independent number per coordinate")
    grads = expect_gradients("reparameterize", z, {"mu": mu, "logvar": logvar}, weighted=False)
    expect_close("dz/dmu", grads["mu"], torch.ones_like(mu))
    expect_close("dz/dlogvar (should be exp(logvar/2) eps / 2)", grads["logvar"], 0.5 * (z - mu).detach(), atol=1e-8)
    shape = (2, 3, 4)
    expect_tensor("reparameterize(mu (2, 3, 4), logvar (2, 3, 4)) (any shape)",
                  module.reparameterize(torch.zeros(shape, dtype=F64), torch.zeros(shape, dtype=F64),
                                        torch.Generator().manual_seed(1)), shape)
    differential("reparameterize", module.reparameterize, reference("06", "reparameterize"), _normal_cases(),
                 grads=("mu", "logvar"))


SHAPES = st.lists(st.integers(1, 3), max_size=3)  # () is a scalar


@st.composite
def _normal_cases(draw) -> dict:
    shape, dtype = draw(SHAPES), draw(dtypes)
    return {"mu": draw(tensors(shape, dtype, -4.0, 4.0)), "logvar": draw(tensors(shape, dtype, -8.0, 4.0)),
            "generator": draw(seeds)}


def check_score_function(module) -> None:
    """Unbiased for f(z) = z^2 (gradient 2 mu, 2 sigma) and for a step function that has no pathwise gradient."""
    mu, sigma = torch.tensor([2.0, -0.5], dtype=F64), torch.tensor([1.0, 0.7], dtype=F64)
    g_mu, g_sigma = expect_tuple("score_function_grad(f, mu (2,), sigma (2,), N)",
                                 module.score_function_grad(lambda z: z.pow(2).sum(1), mu, sigma, N,
                                                            torch.Generator().manual_seed(1)), 2, "(g_mu, g_sigma)")
    expect_tensor("g_mu", g_mu, (N, 2))
    expect_tensor("g_sigma", g_sigma, (N, 2))
    again = module.score_function_grad(lambda z: z.pow(2).sum(1), mu, sigma, 10, torch.Generator().manual_seed(1))
    expect_close("g_mu of 10 samples twice with equally seeded generators (draw with generator=generator)",
                 module.score_function_grad(lambda z: z.pow(2).sum(1), mu, sigma, 10,
                                            torch.Generator().manual_seed(1))[0], again[0], atol=1e-12, rtol=0)
    _within("g_mu for f(z) = z^2", g_mu, 2 * mu)
    _within("g_sigma for f(z) = z^2", g_sigma, 2 * sigma)
    # E[1{z > 0}] = Phi(mu / sigma): d/dmu = phi(u) / sigma, d/dsigma = -phi(u) mu / sigma^2 with u = mu / sigma
    mu, sigma = torch.tensor(0.3, dtype=F64), torch.tensor(0.8, dtype=F64)
    phi = torch.exp(-0.5 * (mu / sigma) ** 2) / math.sqrt(2 * math.pi)
    g_mu, g_sigma = module.score_function_grad(lambda z: (z > 0).to(F64), mu, sigma, N,
                                               torch.Generator().manual_seed(2))
    expect_tensor("g_mu for a scalar mu", g_mu, (N,))
    _within("g_mu for the step f(z) = 1{z > 0} (no pathwise gradient exists)", g_mu, phi / sigma)
    _within("g_sigma for the step f(z) = 1{z > 0}", g_sigma, -phi * mu / sigma ** 2)
    differential("score_function_grad", module.score_function_grad, reference("06", "score_function_grad"),
                 _score_cases(), parts=("g_mu (one estimate per sample)", "g_sigma (one estimate per sample)"))


FUNCTIONS = [Named(lambda z: z.reshape(len(z), -1).pow(2).sum(1), "lambda z: z.reshape(len(z), -1).pow(2).sum(1)"),
             Named(lambda z: (z.reshape(len(z), -1)[:, 0] > 0).to(z.dtype),
                   "lambda z: (z.reshape(len(z), -1)[:, 0] > 0).to(z.dtype)"),
             Named(lambda z: z.reshape(len(z), -1).sum(1).sin() + 2,
                   "lambda z: z.reshape(len(z), -1).sum(1).sin() + 2")]


@st.composite
def _score_cases(draw) -> dict:
    shape, dtype = draw(SHAPES), draw(dtypes)
    return {"f": draw(st.sampled_from(FUNCTIONS)), "mu": draw(tensors(shape, dtype, -3.0, 3.0)),
            "sigma": draw(tensors(shape, dtype, 0.05, 3.0, edges=(1.0,))), "n": draw(st.integers(1, 7)),
            "generator": draw(seeds)}


TASKS = [
    ("1. reparameterize(mu, logvar)", check_reparameterize),
    ("2. score-function gradient estimator", check_score_function),
]
