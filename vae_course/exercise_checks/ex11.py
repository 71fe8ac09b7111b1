"""Checks for exercise 11 (one-hot conditioning): the one-hot code and the conditioned input."""
from __future__ import annotations

import torch

from vae_course import models
from vae_course.exercise_checks.common import expect_accepts, expect_close, expect_raises, expect_tensor, expect_true


def check_one_hot(module) -> None:
    """Equals models.one_hot on random labels, float32 as the docstring says; int32 labels and an
    empty batch work; out-of-range labels raise ValueError, float and boolean labels TypeError."""
    y = torch.randint(0, 7, (12,), generator=torch.Generator().manual_seed(0))
    got = expect_tensor("one_hot(y (12,), 7)", module.one_hot(y, 7), (12, 7))
    expect_true(got.is_floating_point(), f"one_hot must return floats (for a dense layer), got {got.dtype}")
    expect_tensor("one_hot(y, 7)", got, dtype=torch.float32)
    expect_close("one_hot(y, 7)", got, models.one_hot(y, 7), atol=0, rtol=0)
    what = "one_hot of int32 labels (any integer dtype is a label)"
    expect_close(what, expect_accepts(lambda: module.one_hot(y.int(), 7), what), models.one_hot(y, 7), atol=0, rtol=0)
    what = "one_hot of an empty batch, torch.tensor([], dtype=torch.int64)"
    empty = expect_accepts(lambda: module.one_hot(torch.tensor([], dtype=torch.int64), 7), what)
    expect_tensor(what, empty, (0, 7))
    for bad in ([0, 7], [-1, 3]):
        expect_raises(lambda: module.one_hot(torch.tensor(bad), 7), ValueError,
                      f"one_hot(torch.tensor({bad}), 7) (labels must lie in [0, 7))")
    expect_raises(lambda: module.one_hot(torch.tensor([0.0, 1.0]), 7), TypeError, "float labels")
    expect_raises(lambda: module.one_hot(torch.tensor([True, False]), 7), TypeError,
                  "boolean labels (a mask, not class numbers)")


def check_conditioned_input(module) -> None:
    """[flatten(x), e_y], and it is exactly what a ConditionalVAE's encoder reads."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(5, 1, 8, 8, generator=g), torch.randint(0, 10, (5,), generator=g)
    got = expect_tensor("conditioned_input(x (5, 1, 8, 8), y (5,), 10)", module.conditioned_input(x, y, 10), (5, 74))
    expect_close("conditioned_input", got, torch.cat([x.flatten(1), models.one_hot(y, 10)], 1), atol=0)
    torch.manual_seed(0)
    cvae = models.ConditionalVAE((1, 8, 8), latent_dim=2, hidden=(16,))
    mu, _ = cvae.encode(x, y)
    expect_close("ConditionalVAE encoder fed with conditioned_input (mu)", cvae.encoder(got).chunk(2, -1)[0], mu)
    z = torch.randn(5, 3, generator=g)
    expect_tensor("conditioned_input(z (5, 3), y, 10)", module.conditioned_input(z, y, 10), (5, 13))
    expect_tensor("conditioned_input(z (5, 3) float64, y, 10) (keep x's dtype)",
                  module.conditioned_input(z.double(), y, 10), (5, 13), dtype=torch.float64)


TASKS = [
    ("1. one-hot labels with validation", check_one_hot),
    ("2. the conditioned input [flatten(x), e_y]", check_conditioned_input),
]
