"""Gradients of expectations, d/dtheta E_{z ~ q_theta}[f(z)], for q_theta = N(mu, diag sigma^2).

Two unbiased Monte Carlo estimators, each returning one estimate per sample so that their
means, standard errors and variances can be compared:

- score function (REINFORCE; Williams 1992): f(z) d/dtheta log q_theta(z), z ~ q_theta.
  Needs only values of f, but its variance grows with f's scale: for |f| <= 1 the variance
  of the mu estimate is at most E[(z - mu)^2] / sigma^4 = 1 / sigma^2.
- pathwise (reparameterization; Kingma and Welling 2014, Rezende et al. 2014): write
  z = mu + sigma * eps with eps ~ N(0, I), then d/dtheta f(mu + sigma * eps).
  Needs f to be differentiable. Its mu estimate f'(z) has variance at most L^2 for an
  L-Lipschitz f, so it often has far lower variance, but not always: for f = cos(omega z)
  the variance is about omega^2 / 2 and the score function wins (Mohamed et al. 2020).

``f`` maps a batch of samples z (n, *shape) to one value per sample, (n,), and must treat
the samples independently (row i of the output depends only on z[i]).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from vae_course import validate

Objective = Callable[[torch.Tensor], torch.Tensor]


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I): a sample of N(mu, diag exp(logvar)) that is
    a differentiable function of (mu, logvar). Any shape, mu and logvar alike -> z of that shape.
    Kingma and Welling 2014, section 2.4."""
    validate.tensor("mu", mu)
    validate.tensor("logvar", logvar)
    validate.same_shape(mu=mu, logvar=logvar)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _draw(f: Objective, mu: torch.Tensor, sigma: torch.Tensor, n: int,
          generator: torch.Generator | None) -> torch.Tensor:
    """Check the arguments of an estimator and draw eps (n, *mu.shape)."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    validate.tensor("mu", mu)
    validate.tensor("sigma", sigma)
    validate.same_shape(mu=mu, sigma=sigma)
    if not bool((sigma > 0).all()):
        raise ValueError(f"sigma must be positive, got smallest value {sigma.min().item():.3g}")
    validate.positive_int("n", n)
    return torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)


def _values(f: Objective, z: torch.Tensor) -> torch.Tensor:
    """f(z), checked to give one value per sample: (n,)."""
    fz = f(z)
    if not isinstance(fz, torch.Tensor) or fz.shape != z.shape[:1]:
        got = tuple(fz.shape) if isinstance(fz, torch.Tensor) else type(fz).__name__
        raise ValueError(f"f must return one value per sample, shape ({z.shape[0]},), got {got}")
    return fz


def _per_sample(fz: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape f's values (n,) to broadcast against per-sample tensors (n, *shape)."""
    return fz.reshape(-1, *([1] * (like.dim() - 1)))


def score_function_grad(f: Objective, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Score-function (REINFORCE) estimates of the gradient of E_{z ~ N(mu, sigma^2)}[f(z)]:

        g_mu = f(z) (z - mu) / sigma^2 = f(z) eps / sigma,
        g_sigma = f(z) [(z - mu)^2 / sigma^3 - 1 / sigma] = f(z) (eps^2 - 1) / sigma,

    the gradients of log N(z; mu, sigma^2) times f(z). mu, sigma (*shape) -> g_mu, g_sigma
    (n, *shape), one estimate per sample z_1..z_n (average them for the estimate). Williams 1992.
    """
    eps = _draw(f, mu, sigma, n, generator)
    with torch.no_grad():  # the estimator needs only values of f, never its gradient
        fz = _per_sample(_values(f, mu + sigma * eps), eps)
    return fz * eps / sigma, fz * (eps.pow(2) - 1) / sigma


def pathwise_grad(f: Objective, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pathwise (reparameterization) estimates of the gradient of E_{z ~ N(mu, sigma^2)}[f(z)]:
    with z = mu + sigma * eps, the chain rule gives

        g_mu = f'(z) dz/dmu = f'(z),    g_sigma = f'(z) dz/dsigma = f'(z) eps.

    f'(z) comes from autograd (0 for a piecewise-constant f, whose derivative vanishes almost
    everywhere: the estimator is then biased, see notebook 06). mu, sigma (*shape) -> g_mu,
    g_sigma (n, *shape), one estimate per sample. Kingma and Welling 2014; Rezende, Mohamed and Wierstra 2014.
    """
    eps = _draw(f, mu, sigma, n, generator)
    z = (mu + sigma * eps).detach().requires_grad_(True)
    with torch.enable_grad():
        # summing is safe: sample i's value depends only on z[i], so d(sum)/dz[i] = f'(z[i])
        total = _values(f, z).sum()
        # an f built from comparisons (a step) leaves no graph: f' = 0 almost everywhere
        dfdz = torch.autograd.grad(total, z)[0] if total.requires_grad else torch.zeros_like(z)
    return dfdz, dfdz * eps
