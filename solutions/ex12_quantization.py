"""Exercise 12: nearest-code quantization and the straight-through trick (notebook 12_vq_vae.ipynb).

Tasks
1. ``quantize(z_e, codebook)``: replace each vector by its nearest codebook entry; return the
   quantized vectors and the code indices.
2. ``straight_through(z_e, z_q)``: a tensor whose value is z_q but whose gradient flows to z_e
   unchanged (and not into the codebook).

Check your work with ``python3 -m vae_course check 12``.
"""
from __future__ import annotations

import torch


def quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """k_n = argmin_k ||z_e_n - e_k||^2 and z_q_n = e_{k_n}.

    z_e (N, D), codebook (K, D) -> (z_q (N, D), indices (N,) int64).
    """
    # BEGIN SOLUTION see notebook 12, section "2. Nearest-codebook quantization"
    distances = (z_e.unsqueeze(1) - codebook.unsqueeze(0)).pow(2).sum(-1)  # (N, K)
    indices = distances.argmin(1)
    return codebook[indices], indices
    # END SOLUTION


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg[z_q - z_e]: forward value z_q, gradient d/dz_e = identity, no gradient to z_q.

    z_e, z_q of the same shape -> a tensor of that shape (sg = stop-gradient = ``.detach()``).
    """
    # BEGIN SOLUTION see notebook 12, section "3. The straight-through gradient"
    return z_e + (z_q - z_e).detach()
    # END SOLUTION
