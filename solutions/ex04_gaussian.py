"""Exercise 04: fit a full-covariance Gaussian to latent codes and sample it (notebook 04).

Tasks (check them with `python3 -m vae_course check 04`):
1. `fit_gaussian`: the maximum-likelihood mean and covariance of codes z (N, D).
2. `sample_gaussian`: n draws from N(mu, Sigma) by the reparameterised transform z = mu + L eps.
"""
import torch


def fit_gaussian(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-likelihood Gaussian fit to codes z (N, D), N >= 1, float32 or float64:

        mu = (1/N) sum_i z_i                          shape (D,)
        Sigma = (1/N) sum_i (z_i - mu)(z_i - mu)^T    shape (D, D)   (divide by N, not N - 1)

    Returns (mu, Sigma), both of z's dtype; z itself is not changed.
    """
    # BEGIN SOLUTION see notebook 04, section "3. Fitting a Gaussian to the codes"
    mu = z.mean(0)
    centred = z - mu
    return mu, centred.T @ centred / len(z)
    # END SOLUTION


def sample_gaussian(mu: torch.Tensor, cov: torch.Tensor, n: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """n >= 1 draws from N(mu, cov), shape (n, D), for mu (D,) and a positive-definite cov (D, D)
    of the same dtype (float32 or float64, which the result keeps):

        L = cholesky(cov)  (lower triangular, L L^T = cov),
        eps = torch.randn(n, D, generator=generator, dtype=mu.dtype),
        z_i = mu + L eps_i, i.e. z = mu + eps @ L.T for the whole batch.
    """
    # BEGIN SOLUTION see notebook 04, section "4. Sampling by z = mu + L eps"
    L = torch.linalg.cholesky(cov)
    eps = torch.randn(n, len(mu), generator=generator, dtype=mu.dtype)
    return mu + eps @ L.T
    # END SOLUTION
