"""A linear-Gaussian latent variable model whose evidence and posterior are exact.

    p(z) = N(0, I_d),    p(x | z) = N(W z + b, sigma2 I_D),    W (D, d), b (D,).

Marginalising z gives p(x) = N(b, W W^T + sigma2 I_D) and Bayes' rule gives a Gaussian
posterior p(z | x) = N(m(x), S) with S = (I_d + W^T W / sigma2)^{-1} and
m(x) = S W^T (x - b) / sigma2 (probabilistic PCA, Tipping and Bishop 1999). Because every
quantity is available in closed form, the model checks the ELBO derivation numerically
(Kingma and Welling 2014; Blei, Kucukelbir and McAuliffe 2017).

Gaussians q = N(q_mean, q_cov) have q_mean (B, d) and q_cov (d, d) (shared by the batch) or
(B, d, d) (one per row); covariances must be symmetric positive definite.
"""
from __future__ import annotations

import math

import torch

from vae_course import validate
from vae_course.objectives import LOG_2PI


def _cholesky(name: str, cov: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ``cov`` (..., d, d); a clear error if it is not positive definite."""
    tol = 100 * torch.finfo(cov.dtype).eps * cov.detach().abs().max()
    if bool(((cov - cov.transpose(-1, -2)).abs() > tol).any()):
        raise ValueError(f"{name} must be symmetric, got {tuple(cov.shape)} with cov != cov^T")
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info > 0).any()):
        eig = torch.linalg.eigvalsh(cov).min().item()
        raise ValueError(f"{name} must be positive definite, got smallest eigenvalue {eig:.3g}")
    return chol


def _square(name: str, m: object) -> torch.Tensor:
    """Check that ``m`` is a (d, d) or (B, d, d) floating tensor with d >= 1."""
    validate.tensor(name, m, ndim=(2, 3))
    if m.shape[-1] != m.shape[-2] or m.shape[-1] == 0:
        raise ValueError(f"{name} must be square, (d, d) or (B, d, d) with d >= 1, got {tuple(m.shape)}")
    return m


def _common_dtype(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors cast to their promoted dtype (float32 with float64 -> float64), so that mixed
    inputs compute in the more precise type instead of failing inside torch."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


def _checked_cholesky(mean: torch.Tensor, cov: torch.Tensor, names: tuple[str, str] = ("q_mean", "q_cov"),
              batch: int | None = None, d: int | None = None) -> torch.Tensor:
    """Check a Gaussian's mean (B, d) and covariance (d, d) or (B, d, d); return cov's Cholesky."""
    validate.tensor(names[0], mean, ndim=2, shape=(batch, d))
    d = mean.shape[1]
    validate.tensor(names[1], cov, ndim=(2, 3))
    if cov.shape[-2:] != (d, d) or (cov.dim() == 3 and cov.shape[0] != mean.shape[0]):
        raise ValueError(f"{names[1]} must be ({d}, {d}) or ({mean.shape[0]}, {d}, {d}) to match "
                         f"{names[0]} {tuple(mean.shape)}, got {tuple(cov.shape)}")
    return _cholesky(names[1], cov)


def _logdet(chol: torch.Tensor) -> torch.Tensor:
    """log det(L L^T) = 2 sum_i log L_ii, from the Cholesky factor L (..., d, d) -> (...)."""
    return 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def log_gaussian(z: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, cov) = -1/2 [d log 2 pi + log det cov + (z - mean)^T cov^{-1} (z - mean)].

    z (..., B, d) (e.g. (S, B, d) for S samples per row), mean (B, d), cov (d, d) or (B, d, d)
    -> (..., B). Mixed float32/float64 inputs are computed in float64.
    """
    validate.tensor("z", z)
    validate.tensor("mean", mean)
    validate.tensor("cov", cov)
    z, mean, cov = _common_dtype(z, mean, cov)
    chol = _checked_cholesky(mean, cov, ("mean", "cov"))
    if z.shape[-2:] != mean.shape:
        raise ValueError(f"z must end in mean's shape {tuple(mean.shape)}, got {tuple(z.shape)}")
    diff = (z - mean).unsqueeze(-1)  # (..., B, d, 1)
    white = torch.linalg.solve_triangular(chol.expand(*diff.shape[:-2], -1, -1), diff, upper=False)
    d = mean.shape[1]
    return -0.5 * (d * LOG_2PI + _logdet(chol) + white.squeeze(-1).pow(2).sum(-1))


def sample_gaussian(mean: torch.Tensor, cov: torch.Tensor, n: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples z = mean + L eps, eps ~ N(0, I), L L^T = cov: mean (B, d) -> z (n, B, d).
    Mixed float32/float64 mean and cov give float64 samples."""
    validate.tensor("mean", mean)
    validate.tensor("cov", cov)
    mean, cov = _common_dtype(mean, cov)
    chol = _checked_cholesky(mean, cov, ("mean", "cov"))
    validate.positive_int("n", n)
    eps = torch.randn((n, *mean.shape, 1), generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + (chol @ eps).squeeze(-1)


def gaussian_entropy(cov: torch.Tensor) -> torch.Tensor:
    """H[N(m, cov)] = 1/2 [d (1 + log 2 pi) + log det cov]; cov (d, d) -> () or (B, d, d) -> (B,)."""
    d = _square("cov", cov).shape[-1]
    return 0.5 * (d * (1 + LOG_2PI) + _logdet(_cholesky("cov", cov)))


def kl_gaussians(mu_q: torch.Tensor, cov_q: torch.Tensor, mu_p: torch.Tensor,
                 cov_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, cov_q) || N(mu_p, cov_p))
    = 1/2 [tr(cov_p^{-1} cov_q) + (mu_p - mu_q)^T cov_p^{-1} (mu_p - mu_q) - d + log det cov_p - log det cov_q].

    Means (B, d), covariances (d, d) or (B, d, d) -> (B,).
    """
    chol_q = _checked_cholesky(mu_q, cov_q, ("mu_q", "cov_q"))
    chol_p = _checked_cholesky(mu_p, cov_p, ("mu_p", "cov_p"), batch=mu_q.shape[0])
    validate.same_shape(mu_q=mu_q, mu_p=mu_p)
    batch = (mu_q.shape[0],)
    chol_p = chol_p.expand(*batch, -1, -1)
    trace = torch.linalg.solve_triangular(chol_p, chol_q.expand(*batch, -1, -1), upper=False).pow(2).sum((-2, -1))
    white = torch.linalg.solve_triangular(chol_p, (mu_p - mu_q).unsqueeze(-1), upper=False)
    d = mu_q.shape[1]
    return 0.5 * (trace + white.pow(2).sum((-2, -1)) - d + _logdet(chol_p) - _logdet(chol_q))


def cov_from_tril(raw: torch.Tensor) -> torch.Tensor:
    """A positive-definite covariance L L^T from an unconstrained (..., d, d) tensor: L keeps
    ``raw``'s strict lower triangle and exponentiates its diagonal, so any ``raw`` is valid
    (the parameterisation used to optimise a full-covariance q by gradient ascent)."""
    _square("raw", raw)
    chol = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
    return chol @ chol.transpose(-1, -2)


class LinearGaussian:
    """p(z) = N(0, I_d), p(x | z) = N(W z + b, sigma2 I_D) with W (D, d), b (D,), sigma2 > 0.

    Every method takes x (B, D) and returns one value (or one row) per example.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma2: float) -> None:
        validate.tensor("W", W, ndim=2)
        validate.tensor("b", b, shape=(W.shape[0],))
        if isinstance(sigma2, torch.Tensor) and sigma2.numel() == 1:
            sigma2 = sigma2.item()
        if isinstance(sigma2, bool) or not isinstance(sigma2, (int, float)):
            raise TypeError(f"sigma2 must be a number, got {type(sigma2).__name__}")
        if not 0 < sigma2 < math.inf:
            raise ValueError(f"sigma2 must be a positive, finite variance, got {sigma2}")
        self.W, self.b, self.sigma2 = W, b.to(W), float(sigma2)
        self.D, self.d = W.shape

    @classmethod
    def random(cls, D: int, d: int, sigma2: float = 0.5, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> LinearGaussian:
        """A model with W ~ N(0, 1) entries and b ~ N(0, 1), seeded (float64 by default)."""
        validate.positive_int("D", D)
        validate.positive_int("d", d)
        validate.seed("seed", seed)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype such as torch.float64, got {dtype!r}")
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(D, d, generator=g, dtype=dtype), torch.randn(D, generator=g, dtype=dtype), sigma2)

    def _x(self, x: torch.Tensor) -> torch.Tensor:
        return validate.tensor("x", x, ndim=2, shape=(None, self.D)).to(self.W)

    def _q(self, q_mean: torch.Tensor, q_cov: torch.Tensor, batch: int | None = None) -> tuple[torch.Tensor, ...]:
        """Check q = N(q_mean (B, d), q_cov (d, d) or (B, d, d)) and cast it to the model's dtype."""
        _checked_cholesky(q_mean, q_cov, batch=batch, d=self.d)
        return q_mean.to(self.W), q_cov.to(self.W)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling z ~ p(z), x ~ p(x | z): returns x (n, D) and z (n, d)."""
        validate.positive_int("n", n)
        z = torch.randn(n, self.d, generator=generator, dtype=self.W.dtype)
        noise = torch.randn(n, self.D, generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + math.sqrt(self.sigma2) * noise, z

    def marginal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean b (D,) and covariance W W^T + sigma2 I_D (D, D) of the evidence p(x)."""
        return self.b, self.W @ self.W.T + self.sigma2 * torch.eye(self.D, dtype=self.W.dtype)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + sigma2 I_D): x (B, D) -> (B,)."""
        x = self._x(x)
        mean, cov = self.marginal()
        return log_gaussian(x, mean.expand_as(x), cov)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = sum_i log N(x_i; (W z + b)_i, sigma2): x (B, D), z (..., B, d) -> (..., B).
        x and z are cast to the model's dtype (float64)."""
        x = self._x(x)
        z = validate.tensor("z", z).to(self.W)
        if z.shape[-2:] != (x.shape[0], self.d):
            raise ValueError(f"z must end in ({x.shape[0]}, {self.d}) to match x, got {tuple(z.shape)}")
        sq = (x - z @ self.W.T - self.b).pow(2).sum(-1)
        return -0.5 * (self.D * math.log(2 * math.pi * self.sigma2) + sq / self.sigma2)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x | z) + log N(z; 0, I_d): x (B, D), z (..., B, d) -> (..., B)."""
        log_likelihood = self.log_likelihood(x, z)  # checks x and z first
        return log_likelihood - 0.5 * (self.d * LOG_2PI + z.to(self.W).pow(2).sum(-1))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z | x) = N(m, S): S = (I_d + W^T W / sigma2)^{-1} (d, d), the same for every
        row because it does not depend on x, and m = S W^T (x - b) / sigma2 (B, d).
        Bishop 2006, eq. 2.116; Tipping and Bishop 1999."""
        x = self._x(x)
        precision = torch.eye(self.d, dtype=self.W.dtype) + self.W.T @ self.W / self.sigma2
        cov = torch.linalg.inv(precision)
        cov = 0.5 * (cov + cov.T)  # symmetric to rounding, so it is accepted as a covariance
        return (x - self.b) @ self.W @ cov / self.sigma2, cov

    def expected_log_likelihood(self, x: torch.Tensor, q_mean: torch.Tensor,
                                q_cov: torch.Tensor) -> torch.Tensor:
        """E_q[log p(x | z)] for q = N(m, S), in closed form:
        -D/2 log(2 pi sigma2) - [||x - W m - b||^2 + tr(W S W^T)] / (2 sigma2). -> (B,)."""
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov, batch=x.shape[0])
        spread = (self.W @ q_cov @ self.W.T).diagonal(dim1=-2, dim2=-1).sum(-1)
        return self.log_likelihood(x, q_mean) - 0.5 * spread / self.sigma2

    def kl_to_prior(self, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """KL(q || p(z)) with p(z) = N(0, I_d): q_mean (B, d) -> (B,)."""
        q_mean, q_cov = self._q(q_mean, q_cov)
        eye = torch.eye(self.d, dtype=q_mean.dtype, device=q_mean.device)
        return kl_gaussians(q_mean, q_cov, torch.zeros_like(q_mean), eye)

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """The exact ELBO of q = N(q_mean, q_cov), no sampling:
        E_q[log p(x | z)] - KL(q || p(z)) (= E_q[log p(x, z)] + H[q]) <= log p(x). -> (B,).
        Kingma and Welling 2014, eq. 3; the gap log p(x) - ELBO is KL(q || p(z | x))."""
        return self.expected_log_likelihood(x, q_mean, q_cov) - self.kl_to_prior(q_mean, q_cov)
