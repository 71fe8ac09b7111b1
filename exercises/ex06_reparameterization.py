# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 06`.
# (Maintainers: generated from solutions/ex06_reparameterization.py by `python3 -m vae_course exercises`.)
"""Exercise 06: the reparameterization trick (notebook 06_reparameterization.ipynb).

Tasks
1. ``reparameterize(mu, logvar, generator)``: a differentiable sample of N(mu, diag exp(logvar)).
2. ``score_function_grad(f, mu, sigma, n, generator)``: the score-function (REINFORCE) estimates
   of the gradient of E_{z ~ N(mu, sigma^2)}[f(z)] with respect to mu and sigma.

Check your work with ``python3 -m vae_course check 06``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps with eps = torch.randn(mu.shape, generator=generator,
    dtype=mu.dtype).

    mu, logvar: any shape (a scalar too), the same, and the same dtype (float32 or float64).
    Returns z of that shape and dtype; gradients must flow to mu and logvar.
    """
    raise NotImplementedError('see notebook 06, section "3. The reparameterization trick"')


def score_function_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, sigma: torch.Tensor,
                        n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Score-function estimates, one per sample z_i = mu + sigma * eps_i (i = 1..n):

        g_mu = f(z) (z - mu) / sigma^2,    g_sigma = f(z) [(z - mu)^2 / sigma^3 - 1 / sigma].

    with eps = torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype): each sample's
    own estimate, with no baseline subtracted. f maps z (n, *shape) to one value per sample,
    (n,). mu, sigma > 0: (*shape) (a scalar too), the same dtype (float32 or float64); n >= 1.
    Returns (g_mu, g_sigma), each (n, *shape) of mu's dtype; their means estimate the gradient.
    """
    raise NotImplementedError('see notebook 06, section "2. The score-function estimator"')
