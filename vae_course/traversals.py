"""Latent traversals: decode a code with one latent dimension swept over a range of values
(Higgins et al. 2017, figure 1), the picture that shows what each latent controls."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vae_course import validate


@torch.no_grad()
def latent_traversal(model: nn.Module, z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Decode z0 with latent dimension ``dim`` swept over ``values``: image k is
    E[x | z = z0 with z0[dim] = values[k]], shape (len(values), C, H, W) in [0, 1]
    (Higgins et al. 2017, figure 1). ``z0`` is (D,), ``values`` is (V,)."""
    validate.module("model", model)
    validate.module_input("z0", z0, model)
    validate.tensor("z0", z0, ndim=1)
    validate.tensor("values", values, ndim=1)
    if not (isinstance(dim, int) and 0 <= dim < len(z0)):
        raise ValueError(f"dim must be an int in [0, {len(z0) - 1}] for z0 of shape {tuple(z0.shape)}, got {dim!r}")
    device = next(model.parameters()).device
    z = z0.to(device).repeat(len(values), 1)
    z[:, dim] = values.to(device)
    return model.mean_image(model.decode(z)).cpu()


def traversal_rows(model: nn.Module, z0: torch.Tensor, dims: Sequence[int],
                   values: torch.Tensor) -> list[torch.Tensor]:
    """One ``latent_traversal`` per latent dimension in ``dims``: a list of (V, C, H, W)
    batches, ready for ``plots.show_rows``."""
    validate.tensor("z0", z0, ndim=1)
    if not isinstance(dims, Sequence) or not all(validate.is_int(d) and 0 <= d < len(z0) for d in dims):
        raise ValueError(f"dims must be a list of latent dimensions, ints in [0, {len(z0) - 1}] for z0 of shape "
                         f"{tuple(z0.shape)}, got {dims!r}")
    return [latent_traversal(model, z0, d, values) for d in dims]


def response_curves(mu: torch.Tensor, factors: torch.Tensor, k: int) -> torch.Tensor:
    """Each latent's posterior mean against the level of factor k, averaged over the images at
    that level (on the factorial set: over every combination of the other factors):

        r[l, j] = mean_{n : v_nk = l} mu_nj,   mu (N, D), factors (N, K) int  ->  r (L_k, D).

    A latent that carries factor k rises or falls with l; the others stay flat."""
    validate.tensor("mu", mu, ndim=2)
    validate.integer_tensor("factors", factors, shape=(len(mu), None))
    if not (isinstance(k, int) and 0 <= k < factors.shape[1]):
        raise ValueError(f"k must be a factor index in [0, {factors.shape[1] - 1}], got {k!r}")
    level = factors[:, k].long()
    if len(level) == 0 or level.min() < 0:
        raise ValueError(f"factors[:, {k}] must hold levels 0, 1, 2, ..., got {level.tolist()[:5]}")
    counts = torch.bincount(level)
    if (counts == 0).any():
        raise ValueError(f"every level of factor {k} up to {len(counts) - 1} needs an image; "
                         f"none at {(counts == 0).nonzero().flatten().tolist()}")
    sums = torch.zeros(len(counts), mu.shape[1], dtype=mu.dtype).index_add_(0, level, mu)
    return sums / counts.unsqueeze(1).to(mu.dtype)
