"""Objectives: reconstruction errors, log-likelihoods, KL terms and bounds.

All torch, batch-first, broadcasting like torch.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from vae_course import validate


def mse_per_example(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each example: (1/P) sum_p (x_hat_p - x_p)^2, shape (B,) for
    inputs (B, ...) with P values per example."""
    validate.tensor("x_hat", x_hat)
    validate.tensor("x", x, ndim=range(2, 6))
    validate.same_shape(x_hat=x_hat, x=x)
    return (x_hat - x).pow(2).flatten(1).mean(1)


LOG_2PI = math.log(2 * math.pi)  # in double precision: a float32 constant would bias float64 results


def _broadcast(**tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        validate.tensor(name, t)
    try:
        torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError:
        listed = ", ".join(f"{n} {tuple(t.shape)}" for n, t in tensors.items())
        raise ValueError(f"shapes do not broadcast: {listed}") from None


def log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; mu, exp(logvar)) = -1/2 [log 2 pi + logvar + (x - mu)^2 / exp(logvar)].

    Shapes broadcast like torch; the result has the broadcast shape (nothing is summed).
    """
    _broadcast(x=x, mu=mu, logvar=logvar)
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar))


def log_bernoulli(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Elementwise log Bernoulli(x; sigmoid(l)) = x log sigmoid(l) + (1 - x) log sigmoid(-l)
    = x l - softplus(l).

    A log-probability only for binary x in {0, 1}: summed over {0, 1} its exponential is 1.
    For grey x in [0, 1] the same formula is minus the *reconstruction cross-entropy*, a fine
    training loss but not the log of a density: over [0, 1] its exponential integrates to
    tanh(l/2) / l < 1 (see ``continuous_bernoulli_log_norm``). The right-hand form never
    evaluates log(0), so it is stable for any |l|. Shapes broadcast like torch.
    Kingma and Welling 2014, appendix C.1.
    """
    _broadcast(x=x, logits=logits)
    _check_unit_interval(x)
    return x * logits - torch.nn.functional.softplus(logits)


def _check_unit_interval(x: torch.Tensor) -> None:
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]")


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(l), the log normalising constant of the continuous Bernoulli (Loaiza-Ganem and
    Cunningham 2019, eq. 7), written in the logit l = log(lambda / (1 - lambda)):

    C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) = l / tanh(l / 2),   C(0) = 2,

    so that C * exp(x l - softplus(l)) integrates to 1 over x in [0, 1]. Near l = 0 (0/0) the
    Taylor series log 2 + l^2/12 - 7 l^4/1440 is used; its first neglected term is O(l^6).
    Elementwise, any shape.
    """
    validate.tensor("logits", logits)
    small = logits.abs() < 1e-2
    safe = torch.where(small, torch.ones_like(logits), logits).abs()  # |l| / tanh(|l|/2) is even in l
    exact = torch.log(safe) - torch.log(torch.tanh(safe / 2))
    l2 = logits.pow(2)
    series = math.log(2.0) + l2 / 12 - 7 * l2.pow(2) / 1440
    return torch.where(small, series, exact)


def log_continuous_bernoulli(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Elementwise log CB(x; lambda) = x l - softplus(l) + log C(l), lambda = sigmoid(l): the
    continuous Bernoulli density of a grey value x in [0, 1] (Loaiza-Ganem and Cunningham 2019).

    It is ``log_bernoulli`` plus the log normaliser ``continuous_bernoulli_log_norm``, which
    makes it a density on [0, 1]: a log-likelihood of grey images, in nats, that can be
    positive. Its mean is not lambda: see ``continuous_bernoulli_mean``. Shapes broadcast.
    """
    return log_bernoulli(x, logits) + continuous_bernoulli_log_norm(logits)


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] under CB(lambda = sigmoid(l)): lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda))
    (Loaiza-Ganem and Cunningham 2019, section 3), which in the logit is

    E[x] = (1 + coth(l/2) - 2/l) / 2 = (1 + Langevin(l/2)) / 2,   E[x] = 1/2 at l = 0,

    with Langevin(u) = coth u - 1/u ~ u/3 - u^3/45 near 0. Elementwise, in (0, 1).
    """
    validate.tensor("logits", logits)
    half = logits / 2
    small = half.abs() < 1e-2
    safe = torch.where(small, torch.ones_like(half), half)
    langevin = torch.where(small, half / 3 - half.pow(3) / 45, 1 / torch.tanh(safe) - 1 / safe)
    return (1 + langevin) / 2


def kl_normal_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 sum_d [mu_d^2 + exp(logvar_d) - 1 - logvar_d],
    summed over the last dimension: (..., D) -> (...). Kingma and Welling 2014, appendix B.
    """
    validate.tensor("mu", mu, ndim=range(1, 6))
    validate.tensor("logvar", logvar)
    validate.same_shape(mu=mu, logvar=logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def iwae_bound(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/K) sum_k exp(log w_k) over ``dim``, computed with log-sum-exp so that large
    |log w| neither overflows nor underflows.

    ``log_w`` holds K >= 1 values of log p(x, z_k) - log q(z_k | x) along ``dim``, with
    z_1..z_K ~ q(z | x) drawn independently; that dimension is removed from the result. The
    result is one draw of a random variable: its expectation over the draws is the
    importance-weighted bound L_K = E[log (1/K) sum_k w_k] <= log p(x) (Burda et al. 2016),
    so average it over draws (or over data points) to estimate L_K. A single draw can lie
    above log p(x); K = 1 gives one draw of the ELBO's integrand.
    """
    validate.tensor("log_w", log_w, ndim=range(1, 6))
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not -log_w.dim() <= dim < log_w.dim():
        raise ValueError(f"dim must index one of log_w's {log_w.dim()} dimensions, got {dim}")
    k = log_w.shape[dim]
    if k < 1:
        raise ValueError(f"log_w needs K >= 1 samples along dim {dim}, got shape {tuple(log_w.shape)}")
    return torch.logsumexp(log_w, dim=dim) - torch.log(torch.tensor(float(k), dtype=log_w.dtype))


SUPPORTS = ("binary", "unit", "real")


def total_probability(log_p: Callable[[torch.Tensor], torch.Tensor], support: str, pixels: int = 2,
                      nodes: int = 64, bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """Brute-force normalisation check of a distribution over P = ``pixels`` values: the sum of
    p(x) over x in {0, 1}^P (``support="binary"``), or its integral over [0, 1]^P (``"unit"``)
    or over the box [lo, hi]^P = ``bounds`` (``"real"``, standing in for R^P: choose a box that
    holds all but a negligible mass). A likelihood passes when the result is 1.

    ``log_p`` maps points x (N, P) float64 to log p(x) (N,). Integrals use the tensor-product
    Gauss-Legendre rule with ``nodes`` points per axis (exact for polynomials of degree
    2 * nodes - 1 in each coordinate), so keep P small: it evaluates nodes^P points. Returns a
    float64 scalar tensor.
    """
    if not callable(log_p):
        raise TypeError(f"log_p must be a function x -> log p(x), got {type(log_p).__name__}")
    validate.one_of("support", support, SUPPORTS)
    validate.positive_int("pixels", pixels)
    validate.positive_int("nodes", nodes)
    if support == "real":
        if bounds is None or len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ValueError(f"bounds must be (lo, hi) with lo < hi for support 'real', got {bounds!r}")
    elif bounds is not None:
        raise ValueError(f"bounds are only for support 'real', got bounds={bounds!r} with support {support!r}")
    if support == "binary":
        axis, weight = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    else:
        lo, hi = (0.0, 1.0) if support == "unit" else (float(bounds[0]), float(bounds[1]))
        t, w = np.polynomial.legendre.leggauss(nodes)  # nodes and weights on [-1, 1]
        axis = torch.from_numpy(lo + (hi - lo) * (t + 1) / 2)
        weight = torch.from_numpy(w * (hi - lo) / 2)
    grid = torch.cartesian_prod(*[axis] * pixels).reshape(-1, pixels)
    weights = torch.cartesian_prod(*[weight] * pixels).reshape(-1, pixels).prod(1)
    log_values = log_p(grid)
    validate.tensor("log_p(x)", log_values, shape=(len(grid),))
    return (weights * log_values.double().exp()).sum()
