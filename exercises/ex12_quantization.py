# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 12`.
# (Maintainers: generated from solutions/ex12_quantization.py by `python3 -m vae_course exercises`.)
"""Exercise 12: nearest-code quantization, the straight-through trick and the causal mask of a
PixelCNN prior (notebook 12_vq_vae.ipynb).

Tasks
1. ``quantize(z_e, codebook)``: replace each vector by its nearest codebook entry; return the
   quantized vectors and the code indices.
2. ``straight_through(z_e, z_q)``: a tensor whose value is z_q but whose gradient flows to z_e
   unchanged (and not into the codebook).
3. ``causal_mask(kernel_size, include_centre)``: the raster-order mask of a PixelCNN kernel, so
   that an autoregressive prior over code maps never reads the codes it is predicting.

Check your work with ``python3 -m vae_course check 12``.
"""
from __future__ import annotations

import torch


def quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """k_n = argmin_k ||z_e_n - e_k||^2 and z_q_n = e_{k_n}.

    z_e (N, D), codebook (K, D), N, K, D >= 1, one dtype (float32 or float64); codebook rows
    may repeat (ties: any nearest row will do) -> (z_q (N, D) of that dtype, indices (N,) int64).
    z_q is differentiable in the codebook (the codebook loss trains the codebook through it).
    """
    raise NotImplementedError('see notebook 12, section "2. Nearest-codebook quantization"')


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg[z_q - z_e]: forward value z_q, gradient d/dz_e = identity, no gradient to z_q.

    z_e, z_q of the same shape (any) and dtype -> a tensor of that shape and dtype
    (sg = stop-gradient = ``.detach()``).
    """
    raise NotImplementedError('see notebook 12, section "3. The straight-through gradient"')


def causal_mask(kernel_size: int, include_centre: bool) -> torch.Tensor:
    """The raster-order mask M (kernel_size, kernel_size) of a PixelCNN kernel, float32 of 0s and 1s.

    With c = kernel_size // 2 the centre: M = 1 on every row above the centre (rows 0..c-1), and on
    the centre row left of the centre (columns 0..c-1); the centre M[c, c] is 1 only when
    ``include_centre`` (mask "B"; without it, mask "A"); everything else is 0. kernel_size is odd,
    >= 1; include_centre is a bool.
    """
    raise NotImplementedError('see notebook 12, section "9. A learned autoregressive prior", step 3')
