"""Objectives: reconstruction errors, log-likelihoods, KL terms and bounds.

All torch, batch-first, broadcasting like torch.
"""
from __future__ import annotations

import math

import torch

from vae_course import validate


def mse_per_example(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each example: (1/P) sum_p (x_hat_p - x_p)^2, shape (B,) for
    inputs (B, ...) with P values per example."""
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

    The right-hand form never evaluates log(0), so it is stable for any |l|, and it is the
    (continuous) Bernoulli cross-entropy for x anywhere in [0, 1], not only x in {0, 1}.
    Shapes broadcast like torch. Kingma and Welling 2014, appendix C.1.
    """
    _broadcast(x=x, logits=logits)
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
    return x * logits - torch.nn.functional.softplus(logits)


def kl_normal_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 sum_d [mu_d^2 + exp(logvar_d) - 1 - logvar_d],
    summed over the last dimension: (..., D) -> (...). Kingma and Welling 2014, appendix B.
    """
    validate.tensor("mu", mu, ndim=range(1, 6))
    validate.tensor("logvar", logvar)
    validate.same_shape(mu=mu, logvar=logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def iwae_bound(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The importance-weighted bound log (1/K) sum_k exp(log w_k) over ``dim`` (Burda et al. 2016),
    computed with log-sum-exp so that large |log w| neither overflows nor underflows.

    ``log_w`` holds K >= 1 values of log p(x, z_k) - log q(z_k | x) along ``dim``; that
    dimension is removed from the result.
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
