"""Checks for exercise 07 (the VAE loss): the per-example negative ELBO and the beta-weighted loss;
then the reference solution over the docstrings' domain (``loss_cases``, shared with exercise 08):
batches of 1 and odd sizes, C = 1 to 3 channels, any H, W and D, float32 and float64, logits up
to +-1000, and the gradients reaching logits, mu and logvar; beta from 0 up."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import losses, models, objectives
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import batch_sizes, differential, dtypes, reference, tensors

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


def _reference(x, logits, mu, logvar) -> torch.Tensor:
    """-ELBO per example by the package's stable objectives: -sum_p log p(x_p|z) + KL."""
    return -objectives.log_bernoulli(x, logits).flatten(1).sum(1) + objectives.kl_normal_std(mu, logvar)


@torch.no_grad()
def check_negative_elbo(module) -> None:
    """Summed (not averaged) over pixels; float64 kept; finite and right for large logits of either
    sign; equals -losses.elbo_terms on the same z."""
    model, x, logits, mu, logvar = _seeded_forward()
    got = expect_tensor("negative_elbo_bernoulli(x (4, 1, 4, 4), ...)",
                        module.negative_elbo_bernoulli(x, logits, mu, logvar), (4,), dtype=F64)
    zeros = torch.zeros(4, 3, dtype=F64)  # q = p(z): KL = 0, only the reconstruction is left
    one = module.negative_elbo_bernoulli(x, logits, zeros, zeros)
    two = module.negative_elbo_bernoulli(torch.cat([x, x], -1), torch.cat([logits, logits], -1), zeros, zeros)
    expect_true(bool(torch.allclose(two, 2 * one)),
                "twice the pixels must give twice the reconstruction term (a sum over pixels, "
                f"not a mean): got {one.tolist()} for 16 pixels and {two.tolist()} for 32")
    for sign, which in ((1, "the right"), (-1, "the wrong")):
        big = 1000.0 * sign * (2 * x - 1)  # confident logits, of {which} sign for every pixel
        value = module.negative_elbo_bernoulli(x, big, mu, logvar)
        expect_true(bool(torch.isfinite(value).all()),
                    f"logits of +-1000 with {which} sign must give finite values (log sigmoid(l) = -softplus(-l), "
                    f"not log(sigmoid(l)), which is log 0 = -inf), got {value.tolist()}")
        expect_close(f"negative_elbo_bernoulli for logits of +-1000 with {which} sign (exact: no clamping)",
                     value, _reference(x, big, mu, logvar), atol=1e-6)
    torch.manual_seed(1)
    expect_close("negative_elbo_bernoulli (KL - sum over pixels of x l - softplus(l))", got,
                 -losses.elbo_terms(model, x)["elbo"], atol=1e-8)
    with torch.enable_grad():
        differential("negative_elbo_bernoulli", module.negative_elbo_bernoulli,
                     reference("07", "negative_elbo_bernoulli"), loss_cases(binary=True), grads=GRADS, atol=ATOL)


GRADS = ("logits", "mu", "logvar")
ATOL = 1e-3  # float32 sums of terms up to 1000; float64 keeps its own, tighter, default


@st.composite
def loss_cases(draw, binary: bool, beta: bool = False) -> dict:
    """x (B, C, H, W) binary or in [0, 1], logits of that shape with +-1000 among them, mu and
    logvar (B, D), all of one dtype; then beta >= 0 when asked."""
    image = (draw(batch_sizes), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    latent, dtype = (image[0], draw(st.integers(1, 4))), draw(dtypes)
    case = {"x": draw(tensors(image, dtype, palette=(0.0, 1.0)) if binary else tensors(image, dtype, 0.0, 1.0,
                                                                                      edges=(0.0, 1.0))),
            "logits": draw(tensors(image, dtype, -10.0, 10.0, edges=(1000.0, -1000.0, 30.0))),
            "mu": draw(tensors(latent, dtype)), "logvar": draw(tensors(latent, dtype, -6.0, 3.0))}
    if beta:
        case["beta"] = draw(st.one_of(st.sampled_from([0.0, 1.0, 4.0]), st.floats(0.0, 10.0)))
    return case


@torch.no_grad()
def check_beta_loss(module) -> None:
    """(loss, rec, kl) equal what losses.vae_loss(beta) computes and logs, for several beta."""
    model, x, logits, mu, logvar = _seeded_forward()
    for beta in (1.0, 4.0, 0.0):
        loss, rec, kl = expect_tuple(f"beta_vae_loss(beta={beta})", module.beta_vae_loss(x, logits, mu, logvar, beta),
                                     3, "(loss, rec, kl)")
        expect_tensor("loss", loss, ())
        expect_tensor("rec", rec, (4,))
        expect_tensor("kl", kl, (4,))
        expect_true(bool((kl >= 0).all()), f"kl is a KL divergence, never negative; got {kl.tolist()}")
        expect_true(bool((rec <= 0).all()), "rec is log p(x|z) of binary pixels, a log-probability <= 0; "
                                            f"got {rec.tolist()} (the sign of the reconstruction term?)")
        torch.manual_seed(1)
        ref_loss, logs = losses.vae_loss(beta)(model, x, 0)
        expect_close(f"loss (beta = {beta})", loss, ref_loss, atol=1e-8)
        expect_close("rec, averaged over the batch", rec.mean(), logs["rec"], atol=1e-8)
        expect_close("kl, averaged over the batch", kl.mean(), logs["kl"], atol=1e-8)
    with torch.enable_grad():
        differential("beta_vae_loss", module.beta_vae_loss, reference("07", "beta_vae_loss"),
                     loss_cases(binary=True, beta=True), grads=GRADS, atol=ATOL, parts=("loss", "rec", "kl"))


TASKS = [
    ("1. per-example negative ELBO of a Bernoulli decoder", check_negative_elbo),
    ("2. the beta-weighted loss and its terms", check_beta_loss),
]
