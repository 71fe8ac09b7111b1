"""Densities fitted to latent codes z (N, D), and sampling from them (notebook 04).

A plain autoencoder gives codes z_i = f(x_i) but no distribution to draw new codes from.
Fitting a density p(z) to the codes and decoding z ~ p(z) turns it into a (crude) generative
model. Three kinds, all Gaussian mixtures p(z) = sum_k pi_k N(z; mu_k, Sigma_k):

- ``"diagonal"``: K = 1, Sigma diagonal (each dimension independent);
- ``"full"``: K = 1, full covariance (maximum likelihood);
- ``"mixture"``: K components with full covariances, fitted by EM (scikit-learn's
  ``GaussianMixture``).

Every covariance gets a ridge ``ridge * I`` (default 1e-6, scikit-learn's ``reg_covar``) so
that its Cholesky factor exists even when the codes are (nearly) degenerate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from vae_course import validate
from vae_course.objectives import LOG_2PI

KINDS = ("diagonal", "full", "mixture")


@dataclass(frozen=True)
class FittedDensity:
    """p(z) = sum_k pi_k N(z; mu_k, L_k L_k^T): ``weights`` pi (K,), ``means`` mu (K, D),
    ``scale_tril`` L (K, D, D) lower triangular; ``kind`` names how it was fitted."""
    kind: str
    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor

    @property
    def dim(self) -> int:
        """D, the dimension of z."""
        return self.means.shape[1]

    @property
    def mean(self) -> torch.Tensor:
        """E[z] = sum_k pi_k mu_k, shape (D,)."""
        return self.weights @ self.means

    @property
    def covariance(self) -> torch.Tensor:
        """Cov[z] = sum_k pi_k (Sigma_k + mu_k mu_k^T) - E[z] E[z]^T, shape (D, D)."""
        second = self.scale_tril @ self.scale_tril.transpose(1, 2) + self.means[:, :, None] * self.means[:, None, :]
        return torch.einsum("k,kij->ij", self.weights, second) - torch.outer(self.mean, self.mean)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_k [log pi_k + log N(z; mu_k, Sigma_k)] for z (n, D) -> (n,), with
        log N(z; mu, L L^T) = -1/2 [D log 2 pi + 2 sum_d log L_dd + ||L^{-1}(z - mu)||^2]."""
        validate.tensor("z", z, shape=(None, self.dim))
        diff = (z[None] - self.means[:, None]).to(self.means.dtype)  # (K, n, D)
        white = torch.linalg.solve_triangular(self.scale_tril, diff.transpose(1, 2), upper=False)
        log_det = 2 * torch.diagonal(self.scale_tril, dim1=1, dim2=2).log().sum(1)  # (K,)
        log_n = -0.5 * (self.dim * LOG_2PI + log_det[:, None] + white.pow(2).sum(1))  # (K, n)
        return torch.logsumexp(self.weights.log()[:, None] + log_n, dim=0)

    def sample(self, n: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
        """n draws z ~ p(z), shape (n, D), float32 (ready for a decoder), by the reparameterised
        transform z = mu_k + L_k eps.

        From ``generator`` (a ``torch.Generator`` or an int seed) come first the components
        k_i ~ Categorical(pi) (skipped when K = 1), then eps = ``torch.randn(n, D)`` (float32).
        """
        validate.positive_int("n", n)
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = torch.Generator().manual_seed(generator)
        k = (torch.multinomial(self.weights, n, replacement=True, generator=generator)
             if len(self.weights) > 1 else torch.zeros(n, dtype=torch.long))
        eps = torch.randn(n, self.dim, generator=generator).to(self.means.dtype)
        return (self.means[k] + (self.scale_tril[k] @ eps[:, :, None]).squeeze(-1)).float()

    def marginal(self, dims: Sequence[int]) -> "FittedDensity":
        """The marginal density of z[:, dims]: each component keeps mu_k[dims] and
        Sigma_k[dims, dims] (Gaussians marginalise by dropping rows and columns)."""
        dims = list(dims)
        if not dims or any(not 0 <= d < self.dim for d in dims):
            raise ValueError(f"dims must be indices in [0, {self.dim}), got {dims}")
        cov = (self.scale_tril @ self.scale_tril.transpose(1, 2))[:, dims][:, :, dims]
        return FittedDensity(self.kind, self.weights, self.means[:, dims], torch.linalg.cholesky(cov))


def _fit_gaussian(z: torch.Tensor, kind: str, ridge: float) -> FittedDensity:
    """Maximum-likelihood Gaussian: mu = mean of z, Sigma = (1/N) sum (z - mu)(z - mu)^T
    (only its diagonal for ``"diagonal"``), plus ``ridge * I``."""
    mu = z.mean(0)
    cov = (z - mu).T @ (z - mu) / len(z)
    if kind == "diagonal":
        cov = torch.diag(torch.diagonal(cov))
    cov = cov + ridge * torch.eye(z.shape[1], dtype=z.dtype)
    return FittedDensity(kind, torch.ones(1, dtype=z.dtype), mu[None], torch.linalg.cholesky(cov)[None])


def _mixture(z: torch.Tensor, n_components: int, ridge: float, seed: int) -> FittedDensity:
    """EM fit of K full-covariance components by scikit-learn's ``GaussianMixture``."""
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(n_components, covariance_type="full", reg_covar=ridge, random_state=seed)
    gm.fit(z.numpy())
    weights, means, covs = (torch.as_tensor(a, dtype=z.dtype) for a in (gm.weights_, gm.means_, gm.covariances_))
    return FittedDensity("mixture", weights, means, torch.linalg.cholesky(covs))


def fit_density(z: torch.Tensor, kind: str, *, n_components: int = 10, seed: int = 0,
                ridge: float = 1e-6) -> FittedDensity:
    """Fit p(z) to codes ``z`` (N, D) by maximum likelihood; ``kind`` is one of
    ``"diagonal"``, ``"full"`` or ``"mixture"`` (``n_components`` components, EM started from
    k-means seeded with ``seed``). ``ridge * I`` is added to every covariance.

    Fitting runs in float64 on the CPU (codes are small), and the result is float64.
    """
    validate.finite("z", validate.tensor("z", z, ndim=2))  # a NaN code would fail deep in a Cholesky
    validate.one_of("kind", kind, KINDS)
    validate.positive_int("n_components", n_components)
    validate.seed("seed", seed)
    validate.non_negative("ridge", ridge)
    minimum = n_components if kind == "mixture" else 2
    if len(z) < minimum:
        raise ValueError(f"z needs at least {minimum} rows to fit a {kind!r} density, got shape {tuple(z.shape)}")
    z = z.detach().cpu().double()
    return _mixture(z, n_components, ridge, seed) if kind == "mixture" else _fit_gaussian(z, kind, ridge)


def log_prob_grid(density: FittedDensity, xlim: tuple[float, float], ylim: tuple[float, float],
                  n: int = 100) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p(z) of a 2-D ``density`` on an n x n grid over ``xlim`` x ``ylim``, for contour
    plots: returns (Z1, Z2, log_p), each (n, n), ready for ``ax.contour(Z1, Z2, log_p)``."""
    if not isinstance(density, FittedDensity):
        raise TypeError(f"density must be a FittedDensity (from fit_density), got {type(density).__name__}")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if not (isinstance(lim, Sequence) and len(lim) == 2 and all(isinstance(v, (int, float)) for v in lim)
                and lim[0] < lim[1]):
            raise ValueError(f"{name} must be (lo, hi), two numbers with lo < hi, got {lim!r}")
    if density.dim != 2:
        raise ValueError(f"density must be 2-D (use density.marginal(dims)), got D = {density.dim}")
    validate.positive_int("n", n, minimum=2)
    z1, z2 = torch.meshgrid(torch.linspace(*xlim, n, dtype=torch.float64),
                            torch.linspace(*ylim, n, dtype=torch.float64), indexing="xy")
    log_p = density.log_prob(torch.stack([z1.flatten(), z2.flatten()], 1)).view(n, n)
    return z1, z2, log_p
