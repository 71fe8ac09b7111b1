# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 07`.
# (Maintainers: generated from solutions/ex07_vae_loss.py by `python3 -m vae_course exercises`.)
"""Exercise 07: the VAE loss (notebook 07_vae.ipynb).

Tasks
1. ``negative_elbo_bernoulli(x, logits, mu, logvar)``: the negative ELBO of each example for a
   Bernoulli decoder on binary images, -[log p(x|z) - KL(q(z|x) || p(z))], summed over pixels
   and latents.
2. ``beta_vae_loss(x, logits, mu, logvar, beta)``: the training loss with a KL weight beta and
   its two terms, as ``losses.vae_loss`` logs them.

Check your work with ``python3 -m vae_course check 07``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_elbo_bernoulli(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor,
                            logvar: torch.Tensor) -> torch.Tensor:
    """-ELBO(x) = -sum_p [x_p l_p - softplus(l_p)] + 1/2 sum_d [mu_d^2 + exp(logvar_d) - 1 - logvar_d].

    x (B, C, H, W) binary, in {0, 1} (e.g. binarized digits: the Bernoulli is a likelihood only
    there; on grey x in [0, 1] the same formula is a reconstruction cross-entropy, and the result
    bounds no log-probability); logits l (B, C, H, W) of the decoder at one sample z ~ q(z|x);
    mu, logvar (B, D) of q(z|x). Any B >= 1, C >= 1 channels, H, W, D >= 1; all four tensors
    float32 or all float64 (the result's dtype); logits of any size (+-1000 too: compute
    log sigmoid stably). Returns (B,): one value per example, SUMMED over the channels and
    pixels p and the latents d (a mean over pixels would secretly weight the KL by the pixel
    count), differentiable in logits, mu and logvar.
    """
    raise NotImplementedError('see notebook 07, section "3. The loss: minus the ELBO, summed per example"')


def beta_vae_loss(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, rec, kl) with rec_b = log p(x_b|z_b) (B,), kl_b = KL(q(z|x_b) || N(0, I)) (B,) and
    the scalar loss = (1/B) sum_b -[rec_b - beta kl_b]: summed per example, averaged over the batch.
    Shapes, dtypes and gradients as in ``negative_elbo_bernoulli``; beta >= 0 (0 too).
    """
    raise NotImplementedError('see notebook 07, section "4. Training: choices and curves"')
