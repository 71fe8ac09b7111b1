"""Checks for exercise 07 (the VAE loss): the per-example negative ELBO and the beta-weighted loss."""
from __future__ import annotations

import torch

from vae_course import losses, models
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true

F64 = torch.float64


def _seeded_forward(seed: int = 0):
    """A tiny VAE, binary images x (4, 1, 4, 4), and one forward pass (x_params, mu, logvar)
    drawn with the global seed ``seed``, so that the same z can be drawn again."""
    torch.manual_seed(seed)
    model = models.VAE.build("mlp", (1, 4, 4), 3, "bernoulli", hidden=(16,)).double()
    x = torch.bernoulli(torch.full((4, 1, 4, 4), 0.4, dtype=F64), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(seed + 1)
    x_params, mu, logvar, _ = model(x)
    return model, x, x_params, mu, logvar


@torch.no_grad()
def check_negative_elbo(module) -> None:
    """Equals -losses.elbo_terms on the same z; summed (not averaged) over pixels; stable."""
    model, x, logits, mu, logvar = _seeded_forward()
    got = expect_tensor("negative_elbo_bernoulli(x (4, 1, 4, 4), ...)",
                        module.negative_elbo_bernoulli(x, logits, mu, logvar), (4,))
    torch.manual_seed(1)
    expect_close("negative_elbo_bernoulli", got, -losses.elbo_terms(model, x)["elbo"], atol=1e-8)
    zeros = torch.zeros(4, 3, dtype=F64)  # q = p(z): KL = 0, only the reconstruction is left
    one = module.negative_elbo_bernoulli(x, logits, zeros, zeros)
    two = module.negative_elbo_bernoulli(torch.cat([x, x], -1), torch.cat([logits, logits], -1), zeros, zeros)
    expect_true(bool(torch.allclose(two, 2 * one)),
                "twice the pixels must give twice the reconstruction term (a sum over pixels, "
                f"not a mean): got {one.tolist()} for 16 pixels and {two.tolist()} for 32")
    big = module.negative_elbo_bernoulli(x, 100 * (2 * x - 1) - 100 * (2 * x - 1).flip(0), mu, logvar)
    expect_true(bool(torch.isfinite(big).all()),
                f"logits of +-200 must give finite values (use softplus, not log(sigmoid)), got {big.tolist()}")


@torch.no_grad()
def check_beta_loss(module) -> None:
    """(loss, rec, kl) equal what losses.vae_loss(beta) computes and logs, for several beta."""
    model, x, logits, mu, logvar = _seeded_forward()
    for beta in (1.0, 4.0, 0.0):
        got = module.beta_vae_loss(x, logits, mu, logvar, beta)
        expect_true(isinstance(got, tuple) and len(got) == 3, "beta_vae_loss must return (loss, rec, kl)")
        loss, rec, kl = got
        expect_tensor("rec", rec, (4,))
        expect_tensor("kl", kl, (4,))
        torch.manual_seed(1)
        ref_loss, logs = losses.vae_loss(beta)(model, x, 0)
        expect_close(f"loss (beta = {beta})", loss, ref_loss, atol=1e-8)
        expect_close("rec, averaged over the batch", rec.mean(), logs["rec"], atol=1e-8)
        expect_close("kl, averaged over the batch", kl.mean(), logs["kl"], atol=1e-8)


TASKS = [
    ("1. per-example negative ELBO of a Bernoulli decoder", check_negative_elbo),
    ("2. the beta-weighted loss and its terms", check_beta_loss),
]
