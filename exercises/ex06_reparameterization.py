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
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) drawn with ``generator``.

    mu, logvar: any shape, the same. Returns z of that shape; gradients must flow to mu and logvar.
    """
    raise NotImplementedError('see notebook 06, section "3. The reparameterization trick"')


def score_function_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, sigma: torch.Tensor,
                        n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Score-function estimates, one per sample z_i = mu + sigma * eps_i (i = 1..n):

        g_mu = f(z) (z - mu) / sigma^2,    g_sigma = f(z) [(z - mu)^2 / sigma^3 - 1 / sigma].

    f maps z (n, *shape) to one value per sample, (n,). mu, sigma: (*shape).
    Returns (g_mu, g_sigma), each (n, *shape); their means estimate the gradient.
    """
    raise NotImplementedError('see notebook 06, section "2. The score-function estimator"')
