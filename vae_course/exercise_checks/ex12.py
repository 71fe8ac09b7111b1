"""Checks for exercise 12 (vector quantization): nearest-code quantization and the
straight-through estimator."""
from __future__ import annotations

import torch

from vae_course import vq
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple


def check_quantize(module) -> None:
    """Indices and vectors equal vq.nearest_code's; each z_q is a codebook row no farther than any other."""
    g = torch.Generator().manual_seed(0)
    z_e, codebook = torch.randn(50, 4, generator=g), torch.randn(9, 4, generator=g)
    z_q, indices = expect_tuple("quantize(z_e, codebook)", module.quantize(z_e, codebook), 2, "(z_q, indices)")
    expect_tensor("z_q", z_q, (50, 4))
    expect_tensor("indices", indices, (50,))
    expect_true(not indices.is_floating_point(), f"indices must be integers, got {indices.dtype}")
    expect_tensor("indices", indices, dtype=torch.int64)
    ref_q, ref_indices = vq.nearest_code(z_e, codebook)
    expect_close("indices", indices, ref_indices, atol=0)
    expect_close("z_q", z_q, ref_q, atol=0)


def check_straight_through(module) -> None:
    """Value z_q; the gradient of a loss of the output reaches z_e unchanged and not the codebook."""
    g = torch.Generator().manual_seed(1)
    z_e = torch.randn(6, 3, generator=g, requires_grad=True)
    codebook = torch.randn(4, 3, generator=g, requires_grad=True)
    z_q, _ = vq.nearest_code(z_e.detach(), codebook)
    out = expect_tensor("straight_through(z_e (6, 3), z_q (6, 3))", module.straight_through(z_e, z_q), (6, 3))
    expect_close("straight_through value (must equal z_q)", out, z_q.detach())
    weights = torch.randn(6, 3, generator=g)
    (out * weights).sum().backward()
    expect_true(codebook.grad is None or not codebook.grad.any(),
                "the codebook got a gradient through straight_through: detach (z_q - z_e)")
    expect_true(z_e.grad is not None, "no gradient reached z_e: the output must be built from z_e")
    expect_close("gradient reaching z_e (must be the output's gradient, copied)", z_e.grad, weights)


TASKS = [
    ("1. nearest-code quantization", check_quantize),
    ("2. the straight-through estimator", check_straight_through),
]
