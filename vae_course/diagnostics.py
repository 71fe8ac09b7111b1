"""The numbers a trained VAE is measured by, beyond its loss.

- ``iwae_estimate``: log p(x) estimated by the importance-weighted bound (Burda et al. 2016).
- ``kl_per_dimension`` and ``active_units``: which latent dimensions the model uses.
- ``exact_kl_terms``: the KL term split into index-code MI, total correlation and dimension-wise
  KL (Chen et al. 2018) with the exact aggregate posterior of a whole data set.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vae_course import estimators, objectives, validate
from vae_course.gradients import reparameterize
from vae_course.models import encode_all


def _log_weights(model: nn.Module, x: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for k samples z_k ~ q(z|x): (k, B)."""
    mu, logvar = model.encode(x)
    mu_k, logvar_k = mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape)
    z = reparameterize(mu_k, logvar_k, generator=generator)
    log_pz = objectives.log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    log_qz = objectives.log_normal(z, mu_k, logvar_k).sum(-1)
    x_params = model.decode(z.flatten(0, 1)).unflatten(0, (k, len(x)))
    return model.log_px_given_z(x, x_params) + log_pz - log_qz


@torch.no_grad()
def iwae_estimate(model: nn.Module, x: torch.Tensor, K: int, chunk: int = 20_000,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The importance-weighted bound L_K(x) = log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x),
    for each example of x (B, C, H, W) -> (B,) (Burda et al. 2016).

    E[L_1] is the ELBO, E[L_K] never decreases with K and, when the weights p(x, z)/q(z|x) are
    bounded, tends to log p(x) as K grows, so -L_K with large K (K = 100, 5000) is the standard
    estimate of a VAE's negative log-likelihood (when its decoder is normalised on x). ``chunk`` caps how many images are decoded at once (memory).
    """
    validate.vae("model", model, "the IWAE bound")
    validate.not_empty("x", validate.tensor("x", x, ndim=4))
    validate.positive_int("K", K)
    validate.positive_int("chunk", chunk)
    per_pass = max(1, chunk // len(x))
    log_w = [_log_weights(model, x, min(per_pass, K - start), generator) for start in range(0, K, per_pass)]
    return objectives.iwae_bound(torch.cat(log_w), dim=0)


def kl_per_dimension(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """KL(q(z_d|x) || N(0, 1)) of each latent dimension d, averaged over the images x: (D,).
    Sums to the average KL term of the ELBO; dimensions near 0 carry no information about x."""
    validate.vae("model", model, "a KL per latent dimension")
    validate.finite("x", validate.not_empty("x", validate.tensor("x", x, ndim=4)))
    mu, logvar = encode_all(model, x)
    return objectives.kl_normal_std(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)


def active_units(model: nn.Module, x: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Which latent dimensions are active: A_d = Var_x(E_q[z_d | x]) > threshold (Burda et al.
    2016, section 5.2), a bool tensor (D,). An inactive unit's posterior mean ignores x."""
    validate.vae("model", model, "active units (the variance of the posterior means)")
    validate.finite("x", validate.tensor("x", x, ndim=4))  # one NaN pixel would make every unit look inactive
    validate.non_negative("threshold", threshold)
    if len(x) < 2:
        raise ValueError(f"x needs at least 2 images to measure a variance, got shape {tuple(x.shape)}")
    mu, _ = encode_all(model, x)
    return mu.var(0) > threshold


@torch.no_grad()
def exact_kl_terms(model: nn.Module, x: torch.Tensor, *, n_samples: int | None = None, seed: int = 0,
                   chunk: int = 256, widen: float = 1.0) -> dict[str, float]:
    """E KL(q(z|x) || p(z)) over the images x (N, C, H, W) split as MI + TC + dimension-wise KL
    (Chen et al. 2018, eq. 2), with q(z) the full mixture (1/N) sum_n q(z|x_n): no minibatch bias.

    One z ~ q(z|x_n) is drawn (seeded) for each of ``n_samples`` images (default: all N, in the
    order of x; else a seeded random subset), and ``estimators.kl_decomposition_exact`` scores
    them ``chunk`` rows at a time against all N posteriors (memory: chunk x N x D float64).
    Returns the three terms' means in nats, and "kl", their sum.
    ``widen`` > 1 multiplies every posterior's standard deviation first: the terms of a q(z)
    blurred at the scale of its posteriors, whose TC shows how much of the dependence lies in
    structure finer than the posteriors (notebook 09, section 11).
    """
    validate.vae("model", model, "the exact KL terms (a Gaussian posterior)")
    validate.finite("x", validate.not_empty("x", validate.tensor("x", x, ndim=4)))
    validate.positive_int("chunk", chunk)
    if validate.non_negative("widen", widen) < 1:
        raise ValueError(f"widen multiplies the posteriors' standard deviations and must be >= 1, got {widen}")
    generator = torch.Generator().manual_seed(validate.seed("seed", seed))
    if n_samples is None:
        index = torch.arange(len(x))
    else:
        if validate.positive_int("n_samples", n_samples) > len(x):
            raise ValueError(f"n_samples must be at most len(x) = {len(x)}, got {n_samples}")
        index = torch.randperm(len(x), generator=generator)[:n_samples]
    mu, logvar = (t.double() for t in encode_all(model, x))
    logvar = logvar + 2 * math.log(widen)
    z = reparameterize(mu[index], logvar[index], generator=generator)
    totals = {"mi": 0.0, "tc": 0.0, "dwkl": 0.0}
    for start in range(0, len(index), chunk):
        part = slice(start, start + chunk)
        terms = estimators.kl_decomposition_exact(z[part], mu, logvar, index[part], reduction="none")
        for name in totals:
            totals[name] += terms[name].sum().item()
    means = {name: total / len(index) for name, total in totals.items()}
    return {**means, "kl": sum(means.values())}
