# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 08`.
# (Maintainers: generated from solutions/ex08_beta_vae.py by `python3 -m vae_course exercises`.)
"""Exercise 08 · beta-VAE (notebook 08_beta_vae.ipynb).

Tasks:
1. ``beta_vae_loss``: the beta-VAE loss of a minibatch, log-likelihood and KL summed per
   example, the KL weighted by beta (notebook 08, section 2).
2. ``latent_traversal``: decode a code z0 with one latent dimension swept over a list of
   values (notebook 08, section 6).

Check your answers with ``python3 -m vae_course check 08``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def beta_vae_loss(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float) -> torch.Tensor:
    """The beta-VAE loss (Higgins et al. 2017) of a minibatch, a scalar:

        loss = (1/B) sum_b [ -log p(x_b | z_b) + beta * KL(q(z|x_b) || N(0, I)) ]

    with a Bernoulli decoder, log p(x|z) = sum over pixels of x l - softplus(l) (l the logits),
    and the closed-form KL = 1/2 sum_d (mu_d^2 + exp(logvar_d) - 1 - logvar_d). Both terms are
    SUMS over an example's pixels and latent dimensions; only the batch is averaged.

    Shapes: x and logits (B, C, H, W), x in [0, 1]; mu and logvar (B, D); any B, C, H, W, D >= 1;
    all float32 or all float64; logits of any size (+-1000 too); beta >= 0. Returns a 0-d tensor
    of the inputs' dtype, differentiable in logits, mu and logvar.
    """
    raise NotImplementedError('see notebook 08, section "2. The beta-VAE objective"')


def latent_traversal(decode: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, dim: int,
                     values: torch.Tensor) -> torch.Tensor:
    """Images of z0 with coordinate ``dim`` swept over ``values``: row k of the codes is z0 with
    z0[dim] replaced by values[k], and the result is ``decode`` of those V codes.

    ``decode`` maps codes (V, D) to images (V, C, H, W); z0 is (D,) and must not be changed;
    0 <= dim < D; values is (V,), V >= 1, in any order (repeats too) and the dtype of z0
    (float32 or float64). Returns (V, C, H, W), row k for values[k].
    """
    raise NotImplementedError('see notebook 08, section "6. Latent traversals"')
