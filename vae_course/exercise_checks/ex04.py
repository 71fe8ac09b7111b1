"""Checks for exercise 04 (fit and sample a full-covariance Gaussian): brute-force moments,
``vae_course.density`` under the same generator, and moments of many samples; then the reference
solution over the docstrings' domain: N >= 1 codes (one, repeated rows), D >= 1, float32 and
float64; covariances wide, narrow and diagonal; n >= 1 draws."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import density
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_tuple
from vae_course.exercise_checks.differential import differential, dtypes, reference, seeds, tensors


def _codes(n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.7, 0.6, 0.0], [-0.4, 0.3, 0.5]])
    return torch.randn(n, 3, generator=g) @ mix.T + torch.tensor([1.0, -2.0, 0.5])


def check_fit(m) -> None:
    z = _codes()
    result = expect_tuple("fit_gaussian(z)", m.fit_gaussian(z), 2, "(mu, Sigma)")
    mu, cov = expect_tensor("mu", result[0], (3,)), expect_tensor("Sigma", result[1], (3, 3))
    loop_mu = sum(z) / len(z)
    loop_cov = sum(torch.outer(zi - loop_mu, zi - loop_mu) for zi in z) / len(z)
    expect_close("mu (the mean of the codes)", mu, loop_mu, atol=1e-5)
    expect_close("Sigma (divide by N, not N - 1)", cov, loop_cov, atol=1e-5)
    course = density.fit_density(z, "full", ridge=0.0)
    expect_close("Sigma against vae_course.density.fit_density(z, 'full', ridge=0)", cov, course.covariance, atol=1e-5)
    differential("fit_gaussian", m.fit_gaussian, reference("04", "fit_gaussian"), _code_cases(), parts=("mu", "Sigma"))


@st.composite
def _code_cases(draw) -> dict:
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    z = draw(tensors((n, d), draw(dtypes), -5.0, 5.0))
    if draw(st.booleans()):  # repeated codes
        z = z[torch.arange(n) % max(1, n // 2)]
    return {"z": z}


def check_sample(m) -> None:
    z = _codes()
    course = density.fit_density(z, "full", ridge=0.0)
    mu, cov = course.mean.float(), course.covariance.float()
    got = expect_tensor("sample_gaussian(mu, Sigma, 5)",
                        m.sample_gaussian(mu, cov, 5, torch.Generator().manual_seed(2)), (5, 3))
    expect_close("sample_gaussian twice with equally seeded generators (draw eps with generator=generator)",
                 m.sample_gaussian(mu, cov, 5, torch.Generator().manual_seed(2)), got, atol=0, rtol=0)
    expect_close("sample_gaussian with the generator seeded 2 (z = mu + eps @ L.T, eps = torch.randn(n, D))",
                 got, course.sample(5, torch.Generator().manual_seed(2)), atol=1e-4)
    many = m.sample_gaussian(mu, cov, 100_000, torch.Generator().manual_seed(0)).double()
    expect_close("mean of 100,000 samples", many.mean(0), mu.double(), atol=0.03)
    expect_close("covariance of 100,000 samples", torch.cov(many.T), cov.double(), atol=0.05)
    differential("sample_gaussian", m.sample_gaussian, reference("04", "sample_gaussian"), _gaussian_cases())


@st.composite
def _gaussian_cases(draw) -> dict:
    """mu anywhere; cov = L L^T from a lower-triangular L with diagonal >= 0.5, scaled to be
    narrow (1e-2), unit or wide (10), or diagonal."""
    d, dtype = draw(st.integers(1, 4)), draw(dtypes)
    tril = draw(tensors((d, d), torch.float64, -1.0, 1.0)).tril()
    tril.diagonal().copy_(tril.diagonal().abs() + 0.5)
    if draw(st.booleans()):
        tril = torch.diag(tril.diagonal())
    cov = draw(st.sampled_from([1.0, 1e-2, 10.0])) * tril @ tril.T
    return {"mu": draw(tensors((d,), torch.float64, -5.0, 5.0)).to(dtype), "cov": cov.to(dtype),
            "n": draw(st.integers(1, 6)), "generator": draw(seeds)}


TASKS = [
    ("1. fit a full-covariance Gaussian to codes (maximum likelihood)", check_fit),
    ("2. sample it by z = mu + L eps", check_sample),
]
