"""Exercise 14: the flow-matching loss and the Euler sampler (notebook 14_latent_generation.ipynb).

Tasks
1. ``flow_matching_loss(model, z, generator)``: the conditional flow-matching loss of a velocity
   network on a batch of codes, with the straight path x_t = (1 - t) eps + t z.
2. ``euler_sample(velocity, n, D, steps, generator)``: n samples of a flow, from noise at t = 0
   to t = 1 in ``steps`` Euler steps.

Check your work with ``python3 -m vae_course check 14``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def flow_matching_loss(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """(1/B) sum_b || model(x_t_b, t_b) - (z_b - eps_b) ||^2 with x_t = (1 - t) eps + t z.

    z (B, D). Draw, in this order and with ``generator``: first t = torch.rand(B) (one time per
    code), then eps = torch.randn(B, D) (one noise vector per code), both in z's dtype.
    ``model(x_t (B, D), t (B,))`` returns velocities (B, D). Returns the loss, a scalar tensor.
    """
    # BEGIN SOLUTION see notebook 14, section "3. Flow matching"
    t = torch.rand(len(z), generator=generator, dtype=z.dtype)
    eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    x_t = (1 - t[:, None]) * eps + t[:, None] * z
    return (model(x_t, t) - (z - eps)).pow(2).sum(1).mean()
    # END SOLUTION


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n: int, D: int,
                 steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples (n, D) of the flow dx/dt = velocity(x, t): start at x_0 = torch.randn(n, D)
    drawn with ``generator``, then ``steps`` Euler steps of h = 1 / steps,

        x_{i+1} = x_i + h velocity(x_i, t_i),  t_i = i h (a tensor (n,)),  i = 0, ..., steps - 1,

    and return x_steps, the point at t = 1.
    """
    # BEGIN SOLUTION see notebook 14, section "4. A flow prior on the codes"
    x = torch.randn(n, D, generator=generator)
    h = 1.0 / steps
    for i in range(steps):
        x = x + h * velocity(x, torch.full((n,), i * h))
    return x
    # END SOLUTION
