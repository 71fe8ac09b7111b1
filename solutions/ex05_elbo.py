"""Exercise 05: the ELBO (notebook 05_elbo.ipynb).

Tasks
1. ``kl_normal_std(mu, logvar)``: the closed-form KL(N(mu, diag exp(logvar)) || N(0, I)).
2. ``mc_elbo(model, x, q_mean, q_cov, n_samples, generator)``: a Monte Carlo estimate of the ELBO
   of the linear-Gaussian model, to compare with its exact ``model.elbo``.

Check your work with ``python3 -m vae_course check 05``.
"""
from __future__ import annotations

import torch

from vae_course.linear_gaussian import LinearGaussian, log_gaussian, sample_gaussian


def kl_normal_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 sum_d [mu_d^2 + exp(logvar_d) - 1 - logvar_d].

    mu, logvar: (..., D), the same shape (any number of batch dimensions, D >= 1) and dtype
    (float32 or float64). Returns (...) of that dtype: the KL summed over the last dimension,
    differentiable in mu and logvar.
    """
    # BEGIN SOLUTION see notebook 05, section "5. The Gaussian KL in closed form"
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    # END SOLUTION


def mc_elbo(model: LinearGaussian, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor,
            n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte Carlo ELBO: (1/S) sum_s [log p(x, z_s) - log q(z_s)], z_s ~ q = N(q_mean, q_cov).

    x (B, D) and q_mean (B, d) with B >= 1; q_cov positive definite, (d, d) shared by every row
    or (B, d, d) one per row; q_mean and q_cov float32 or float64; S = n_samples >= 1.
    Returns (B,) float64 (the model's dtype).
    Useful: ``sample_gaussian(q_mean, q_cov, S, generator)`` -> z (S, B, d),
    ``model.log_joint(x, z)`` -> (S, B) and ``log_gaussian(z, q_mean, q_cov)`` -> (S, B).
    """
    # BEGIN SOLUTION see notebook 05, section "6. A Monte Carlo ELBO"
    z = sample_gaussian(q_mean, q_cov, n_samples, generator=generator)
    return (model.log_joint(x, z) - log_gaussian(z, q_mean, q_cov)).mean(0)
    # END SOLUTION
