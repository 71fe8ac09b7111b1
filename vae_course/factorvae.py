"""FactorVAE (Kim and Mnih 2018): the total correlation of q(z) penalised through a discriminator.

The total correlation TC = KL(q(z) || prod_j q(z_j)) has no closed form, but samples of both
of its distributions are cheap: z ~ q(z) by encoding a batch, and z~ ~ prod_j q(z_j) by
permuting each latent dimension independently across the batch (``permute_dims``). A classifier
D(z), the probability that z came from q(z) rather than from prod_j q(z_j), trained with the
cross-entropy on equally many samples of each, is best at D*(z) = q(z) / (q(z) + prod_j q(z_j))
(Goodfellow et al. 2014, proposition 1), so its logit is the log density ratio,

    log D*(z) / (1 - D*(z)) = log q(z) - log prod_j q(z_j),

and TC = E_q[log q(z) / prod_j q(z_j)] ~ E_q[logit D(z)] (the density-ratio trick; Sugiyama et
al. 2012). ``tc_estimate`` computes it; ``factorvae_loss`` adds gamma times it to the negative
ELBO and trains the discriminator alternately with the VAE inside the loss call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vae_course import objectives, validate
from vae_course.losses import Batch, beta_at


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of prod_j q(z_j) from samples z (B, D) of q(z): each column z_.j permuted across the
    batch by its own random permutation (drawn from ``generator``), so each dimension keeps its
    values (its marginal) while the dependence between dimensions is broken (Kim and Mnih 2018,
    algorithm 1). Returns a tensor (B, D); differentiable in z."""
    validate.tensor("z", z, ndim=2)
    validate.not_empty("z", z)
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(0)  # one permutation per column
    return z.gather(0, order)


class Discriminator(nn.Module):
    """An MLP z (B, D) -> logit (B,) of D(z) = P(z came from q(z)), with LeakyReLU(0.2) hidden
    layers of widths ``hidden`` (Kim and Mnih use six layers of 1,000; the course's D = 8 codes
    need far less)."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        validate.positive_int("latent_dim", latent_dim)
        widths = [latent_dim, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def tc_estimate(discriminator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The density-ratio estimate of the total correlation from samples z (B, D) of q(z):
    TC ~ (1/B) sum_b log D(z_b) / (1 - D(z_b)) = (1/B) sum_b logit_b, in nats; exact in the limit
    of an optimal discriminator and many samples. A scalar tensor, differentiable in z."""
    validate.module("discriminator", discriminator)
    validate.not_empty("z", validate.module_input("z", validate.tensor("z", z, ndim=2), discriminator))
    return discriminator(z).mean()


def discriminator_loss(discriminator: nn.Module, z: torch.Tensor, z_permuted: torch.Tensor) -> torch.Tensor:
    """The cross-entropy of the discriminator, label 1 for samples z (B, D) of q(z) and 0 for
    samples ``z_permuted`` (B', D) of prod_j q(z_j):
    -(1/2) [mean_b log D(z_b) + mean_b' log(1 - D(z~_b'))], minimised at D*."""
    real, fake = discriminator(z), discriminator(z_permuted)
    return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def discriminator_step(discriminator: nn.Module, optimizer: torch.optim.Optimizer, z: torch.Tensor,
                       z_other: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """One optimiser step of the discriminator on samples z of q(z) against ``permute_dims`` of
    another batch ``z_other`` of q(z) (both detached: the encoder is not trained here). Returns
    the discriminator's loss before the step."""
    loss = discriminator_loss(discriminator, z.detach(), permute_dims(z_other.detach(), generator))
    optimizer.zero_grad(set_to_none=True)  # also clears what the VAE's backward left on it
    loss.backward()
    optimizer.step()
    return loss.item()


def fit_discriminator(mu: torch.Tensor, logvar: torch.Tensor, steps: int = 2000, batch_size: int = 256,
                      lr: float = 1e-3, hidden: tuple[int, ...] = (256, 256), seed: int = 0) -> Discriminator:
    """A fresh discriminator trained on a frozen encoder's posteriors mu, logvar (N, D): each of
    ``steps`` Adam steps draws two batches of ``batch_size`` indices, samples z = mu +
    exp(logvar / 2) eps for each, and takes ``discriminator_step``. What it then estimates is
    the density ratio of the codes alone, with no encoder moving against it (as in training).
    Returns the discriminator in eval mode; weights, batches and permutations from ``seed``."""
    validate.finite("mu", validate.tensor("mu", mu, ndim=2))
    validate.log_variance("logvar", validate.tensor("logvar", logvar, ndim=2))
    validate.same_shape(mu=mu, logvar=logvar)
    validate.same_dtype("logvar", logvar, mu.dtype, "mu")
    validate.not_empty("mu", mu)
    validate.positive_int("steps", steps)
    validate.positive_int("batch_size", batch_size, minimum=2)
    validate.non_negative("lr", lr)
    generator = torch.Generator().manual_seed(validate.seed("seed", seed))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        discriminator = Discriminator(mu.shape[1], tuple(hidden))
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.9))
    std = (0.5 * logvar).exp()
    for _ in range(steps):
        index = torch.randint(len(mu), (2, batch_size), generator=generator)
        z = mu[index] + std[index] * torch.randn(2, batch_size, mu.shape[1], generator=generator)
        discriminator_step(discriminator, optimizer, z[0], z[1], generator)
    return discriminator.eval()


class FactorVAELoss:
    """The FactorVAE loss for ``train.fit`` (made by ``factorvae_loss``); it owns the discriminator
    (``.discriminator``) and its Adam optimiser. Each call while gradients are on splits the batch
    into halves x, x': one discriminator step on z ~ q(z|x) against the permuted z' ~ q(z|x'),
    then the VAE's loss on x with the updated discriminator (Kim and Mnih's algorithm 2 updates
    the discriminator after the VAE step; here it comes first, on the same alternation). Under
    ``torch.no_grad`` (``train.evaluate``) the discriminator is left as it is."""

    def __init__(self, latent_dim: int, gamma: float, warmup_steps: int, lr: float, hidden: tuple[int, ...],
                 seed: int):
        with torch.random.fork_rng():  # the discriminator's weights from ``seed``, the global RNG untouched
            torch.manual_seed(seed)
            self.discriminator = Discriminator(latent_dim, hidden)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.9))
        self.generator = torch.Generator().manual_seed(seed)
        self.gamma, self.warmup_steps = gamma, warmup_steps

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch if isinstance(batch, torch.Tensor) else batch[0]
        validate.vae("model", model, "the FactorVAE loss")
        if len(x) < 4:
            raise ValueError(f"the FactorVAE loss splits each batch into two halves of >= 2 images, "
                             f"got a batch of {len(x)}")
        half = len(x) // 2
        x_params, mu, logvar, z = model(x[:half])
        logs = {}
        if torch.is_grad_enabled():
            with torch.no_grad():
                _, _, _, z_other = model(x[half:])
            self.discriminator.to(z.device)
            logs["d_loss"] = torch.tensor(discriminator_step(self.discriminator, self.optimizer, z, z_other,
                                                             self.generator))
        rec = model.log_px_given_z(x[:half], x_params).mean()
        kl = objectives.kl_normal_std(mu, logvar).mean()
        tc = tc_estimate(self.discriminator, z)
        loss = -rec + beta_at(step, 1.0, self.warmup_steps) * (kl + self.gamma * tc)
        logs.update({"rec": rec, "kl": kl, "elbo": rec - kl, "tc": tc})
        return loss, {name: value.detach() for name, value in logs.items()}


@validate.loss_factory
def factorvae_loss(latent_dim: int, gamma: float = 6.0, warmup_steps: int = 0, lr: float = 1e-4,
                   hidden: tuple[int, ...] = (256, 256), seed: int = 0) -> FactorVAELoss:
    """The FactorVAE loss (Kim and Mnih 2018, ICML, "Disentangling by factorising", eq. 2) for
    ``train.fit``, per-example sums averaged over the half batch x:

        loss = (1/B) sum_b [-log p(x_b|z_b) + KL(q(z|x_b) || p(z))] + gamma TC^,
        TC^ = ``tc_estimate`` = (1/B) sum_b logit D(z_b),

    the KL in closed form, the weights ramped up over ``warmup_steps``, and the discriminator (an
    MLP on D = ``latent_dim`` latents, ``hidden`` widths, Adam at ``lr`` with betas (0.5, 0.9) as
    in Kim and Mnih, weights from ``seed``) trained inside each call (``FactorVAELoss``). Kim and
    Mnih's gamma counts on top of the ELBO's own TC: the total weight on TC is 1 + gamma. Logs
    rec, kl, elbo, tc (the discriminator's estimate) and d_loss (its cross-entropy; log 2 = 0.69
    when it cannot tell q(z) from the product of its marginals)."""
    validate.positive_int("latent_dim", latent_dim)
    validate.non_negative("gamma", gamma)
    validate.positive_int("warmup_steps", warmup_steps, minimum=0)
    validate.non_negative("lr", lr)
    validate.seed("seed", seed)
    return FactorVAELoss(latent_dim, float(gamma), warmup_steps, lr, tuple(hidden), seed)
