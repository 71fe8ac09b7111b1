"""Checks of exercise 08 (beta-VAE): the loss against the package's objectives, a traversal
against ``traversals.latent_traversal`` on a small random VAE; then the reference solution over
the docstrings' domain: for the loss, exercise 07's (grey images in [0, 1] here); for the
traversal, any D, dim and decoder output shape (C > 1 too), values unsorted and repeated, float32
and float64."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import models, objectives, traversals
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true
from vae_course.exercise_checks.differential import Named, differential, dtypes, reference, tensors
from vae_course.exercise_checks.ex07 import ATOL, GRADS, loss_cases


def _batch(seed: int, b: int = 6, d: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 1, 4, 4, generator=g)
    return x, 3 * torch.randn(b, 1, 4, 4, generator=g), torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)


def _reference(x, logits, mu, logvar, beta) -> torch.Tensor:
    rec = objectives.log_bernoulli(x, logits).flatten(1).sum(1)
    return (-rec + beta * objectives.kl_normal_std(mu, logvar)).mean()


def check_beta_vae_loss(module) -> None:
    x, logits, mu, logvar = _batch(0)
    zeros = torch.zeros_like(mu)
    one = expect_tensor("beta_vae_loss(beta=1)", module.beta_vae_loss(x, logits, zeros, zeros, 1.0), ())
    two = module.beta_vae_loss(torch.cat([x, x], -1), torch.cat([logits, logits], -1), zeros, zeros, 1.0)
    expect_true(bool(torch.allclose(two, 2 * one)),
                "twice the pixels must give twice the loss when the KL is 0 (a sum over pixels, not a mean): "
                f"got {one.item():.4f} for 16 pixels and {two.item():.4f} for 32")
    for seed, beta in ((0, 1.0), (1, 4.0), (2, 0.0)):
        x, logits, mu, logvar = _batch(seed)
        got = expect_tensor(f"beta_vae_loss(beta={beta})", module.beta_vae_loss(x, logits, mu, logvar, beta), ())
        expect_close(f"beta_vae_loss(beta={beta}) (sums over pixels and latents, mean over the batch)",
                     got, _reference(x, logits, mu, logvar, beta), atol=1e-4)
    x, _, mu, logvar = (t.double() for t in _batch(3))
    big = -1000.0 * (2 * x - 1)  # confident logits of the wrong sign
    got = expect_tensor("beta_vae_loss of float64 inputs", module.beta_vae_loss(x, big, mu, logvar, 4.0), (),
                        dtype=torch.float64)
    expect_true(bool(torch.isfinite(got)), "logits of +-1000 must give a finite loss (log sigmoid(l) = "
                                           f"-softplus(-l), not log(sigmoid(l))), got {got.item()}")
    expect_close("beta_vae_loss for logits of +-1000 of the wrong sign (exact: no clamping)", got,
                 _reference(x, big, mu, logvar, 4.0), atol=1e-6)
    differential("beta_vae_loss", module.beta_vae_loss, reference("08", "beta_vae_loss"),
                 loss_cases(binary=False, beta=True), grads=GRADS, atol=ATOL)


def check_latent_traversal(module) -> None:
    torch.manual_seed(0)
    model = models.VAE.build("mlp", (1, 4, 4), 3, hidden=(8,))
    z0, values = torch.tensor([0.5, -1.0, 2.0]), torch.linspace(-2, 2, 5)
    kept = z0.clone()
    with torch.no_grad():
        got = module.latent_traversal(lambda z: model.mean_image(model.decode(z)), z0, 1, values)
    expect_tensor("latent_traversal", got, (5, 1, 4, 4))
    expect_true(torch.equal(z0, kept), f"latent_traversal changed z0 in place: it is now {z0.tolist()}, "
                                        f"was {kept.tolist()}; work on a copy")
    expect_close("latent_traversal images", got, traversals.latent_traversal(model, z0, 1, values))
    differential("latent_traversal", module.latent_traversal, reference("08", "latent_traversal"), _traversal_cases())


def _decoder(w: torch.Tensor, shape: tuple[int, ...]):
    return lambda z: torch.sigmoid(z @ w.to(z.dtype)).reshape(len(z), *shape)


@st.composite
def _traversal_cases(draw) -> dict:
    d, dtype = draw(st.integers(1, 4)), draw(dtypes)
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    w = torch.randn(d, shape[0] * shape[1] * shape[2], generator=torch.Generator().manual_seed(d))
    values = (-2.0, -0.5, 0.0, 1.0, 3.0)  # few values: repeats, in any order
    return {"decode": Named(_decoder(w, shape), f"lambda z: torch.sigmoid(z @ W).reshape(len(z), *{shape}) "
                                                f"(W: a fixed random ({d}, {w.shape[1]}) matrix)"),
            "z0": draw(tensors((d,), dtype)), "dim": draw(st.integers(0, d - 1)),
            "values": draw(tensors((draw(st.integers(1, 5)),), dtype, palette=values))}


TASKS = [("1. beta-VAE loss", check_beta_vae_loss), ("2. latent traversal", check_latent_traversal)]
