"""The training losses of the course's VAEs, each a ``loss_fn(model, batch, step)`` for ``train.fit``.

- ``elbo_terms``: the two terms of the ELBO of each example,
  ELBO(x) = E_q[log p_theta(x|z)] - KL(q_phi(z|x) || p(z)) (Kingma and Welling 2014).
- ``vae_loss``: the training loss -ELBO (optionally beta-weighted, with a KL warm-up).
- ``cvae_loss``: the conditional VAE's; ``beta_tcvae_loss``, ``hfvae_loss``: the KL split
  into terms estimated on the minibatch (``estimators``), each with its own weight.

Why per-example *sums*: the ELBO is a log-probability of a whole image, so log p(x|z) is a sum
over its P pixels and the KL a sum over its D latents. Public VAE code often writes the
reconstruction as a *mean* over pixels (``F.binary_cross_entropy(..., reduction="mean")``)
while keeping the KL summed: that silently divides the likelihood by P, i.e. trains a
beta-VAE with beta = P (784 on MNIST), giving blurry samples and collapsed latents. Here both
terms are summed per example and only the batch is averaged, so beta = 1 is the true ELBO and
the numbers are in nats per image. They are bounds on a log-likelihood only when the decoder is
normalised on the data: a Bernoulli decoder on binary (e.g. dynamically binarized) images, a
continuous Bernoulli or Gaussian one on grey values. A Bernoulli decoder on grey values gives a
reconstruction cross-entropy, a training loss, and its "ELBO" bounds no log-probability.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from vae_course import estimators, objectives, validate

# The contract of every loss function of the course, which train.fit calls: a batch is a tensor
# (or a tuple (x, y, ...)), and the loss function returns the scalar loss and a dict to log.
Batch = torch.Tensor | tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch, int], tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]]


def _batch_images(batch: Batch, model: nn.Module) -> torch.Tensor:
    """The images of a batch given as a tensor or as an (x, y, ...) tuple, checked non-empty,
    finite and of the model's ``image_shape`` (when it has one) under the name the loss was
    given them by, ``batch``."""
    x = batch if isinstance(batch, torch.Tensor) else batch[0]
    shape = getattr(model, "image_shape", None)
    validate.tensor("batch", x, shape=None if shape is None else (None, *shape))
    return validate.finite("batch", validate.not_empty("batch", x))


def elbo_terms(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example terms of the ELBO with one reparameterized sample z ~ q_phi(z|x):

    rec = log p_theta(x|z) summed over pixels (minus the reconstruction cross-entropy when a
    Bernoulli decoder meets grey x), kl = KL(q_phi(z|x) || N(0, I)) in closed form,
    elbo = rec - kl. Each is a tensor (B,) for x (B, C, H, W). ``model`` is a ``models.VAE``
    (any module with ``forward`` -> (x_params, mu, logvar, z) and ``log_px_given_z``).
    """
    validate.vae("model", model, "the ELBO")
    validate.not_empty("x", validate.tensor("x", x, ndim=4))
    x_params, mu, logvar, _ = model(x)
    rec = model.log_px_given_z(x, x_params)
    kl = objectives.kl_normal_std(mu, logvar)
    return {"rec": rec, "kl": kl, "elbo": rec - kl}


def beta_at(step: int, beta: float, warmup_steps: int) -> float:
    """The KL weight at ``step``: beta * min(1, (step + 1) / warmup_steps) during a linear KL
    warm-up (Bowman et al. 2016; Sonderby et al. 2016), ``beta`` without one."""
    return beta if warmup_steps == 0 else beta * min(1.0, (step + 1) / warmup_steps)


@validate.loss_factory
def vae_loss(beta: float = 1.0, warmup_steps: int = 0,
             transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> LossFn:
    """A ``loss_fn(model, batch, step)`` for ``train.fit``:

    loss = (1/B) sum_b -[rec_b - beta_t kl_b], rec and kl summed per example (see the module
    docstring for why sums, not pixel means), beta_t = ``beta_at(step, beta, warmup_steps)``.
    beta = 1, no warm-up: the negative ELBO (Kingma and Welling 2014); beta != 1: the
    beta-VAE (Higgins et al. 2017). ``transform`` is applied to the images first, e.g.
    ``data.binarize`` for dynamic binarization. Logs the batch means of rec, kl and elbo
    (the ELBO itself, whatever beta_t).
    """
    validate.non_negative("beta", beta)
    validate.positive_int("warmup_steps", warmup_steps, minimum=0)

    def loss_fn(model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = _batch_images(batch, model)
        terms = elbo_terms(model, transform(x) if transform is not None else x)
        loss = -(terms["rec"] - beta_at(step, beta, warmup_steps) * terms["kl"]).mean()
        return loss, {name: value.mean().detach() for name, value in terms.items()}

    return loss_fn


def conditional_elbo_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example terms of the conditional ELBO, a lower bound on log p(x | y):

    rec = log p_theta(x | z, y), kl = KL(q_phi(z | x, y) || N(0, I)), elbo = rec - kl, each (B,),
    for x (B, C, H, W) and labels y (B,). ``model`` is a ``models.ConditionalVAE``.

    The prior is the fixed N(0, I), the same for every y. Sohn et al. 2015 learn a conditional
    prior p_theta(z | y) (a prior network; p(z | x) in their notation, where x is what they
    condition on) and note that it can be relaxed to a prior independent of y, as in M2 of
    Kingma et al. 2014, whose bound for a labelled pair is this ELBO + log p(y). This is that
    relaxation: with p_theta(z | y) the KL term would be KL(q_phi(z | x, y) || p_theta(z | y)).
    """
    validate.vae("model", model, "the conditional ELBO")
    validate.not_empty("x", validate.tensor("x", x, ndim=4))
    x_params, mu, logvar, _ = model(x, y)
    rec = model.log_px_given_z(x, x_params)
    kl = objectives.kl_normal_std(mu, logvar)
    return {"rec": rec, "kl": kl, "elbo": rec - kl}


@validate.loss_factory
def cvae_loss(beta: float = 1.0, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> LossFn:
    """A ``loss_fn(model, batch, step)`` for ``train.fit`` on ``(x, y)`` batches:
    loss = (1/B) sum_b -[rec_b - beta kl_b] with the terms of ``conditional_elbo_terms``.
    ``transform`` is applied to the images first, e.g. ``data.binarize`` (as in ``vae_loss``).
    Logs the batch means of rec, kl and elbo."""
    validate.non_negative("beta", beta)

    def loss_fn(model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if isinstance(batch, torch.Tensor) or len(batch) < 2:
            raise ValueError("cvae_loss needs (x, y) batches: pass train_data=(x, y) to train.fit")
        x = transform(batch[0]) if transform is not None else batch[0]
        terms = conditional_elbo_terms(model, x, batch[1])
        loss = -(terms["rec"] - beta * terms["kl"]).mean()
        return loss, {name: value.mean().detach() for name, value in terms.items()}

    return loss_fn


# --- Disentangling losses (notebooks 09 and 10): the KL split into estimable terms ---------


def _weights(**weights: float) -> list[float]:
    """The weights, checked under the names the caller passed them by (alpha, beta, gamma)."""
    return [validate.non_negative(name, w) for name, w in weights.items()]


def _split_kl_loss(kl_terms: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
                   weights: dict[str, float], warmup_steps: int) -> LossFn:
    """The loss shared by beta-TCVAE and HFVAE: with one z ~ q(z|x) per example,

    loss = (1/B) sum_b -log p(x_b|z_b) + t * sum_k weights[k] * terms[k],

    ``terms = kl_terms(z, mu, logvar)`` batch means of a split of log q(z|x) - log p(z), and
    t = ``beta_at(step, 1, warmup_steps)`` the warm-up ramp. Logs rec, the closed-form kl and
    elbo (as ``vae_loss`` does, so every model is measured alike) and every term.
    """
    def loss_fn(model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = _batch_images(batch, model)
        validate.vae("model", model, "a KL-split loss")
        validate.not_empty("x", x)
        x_params, mu, logvar, z = model(x)
        rec = model.log_px_given_z(x, x_params).mean()
        terms = kl_terms(z, mu, logvar)
        penalty = sum(w * terms[name] for name, w in weights.items())
        kl = objectives.kl_normal_std(mu, logvar).mean()
        logs = {"rec": rec, "kl": kl, "elbo": rec - kl, **terms}
        return -rec + beta_at(step, 1.0, warmup_steps) * penalty, {k: v.detach() for k, v in logs.items()}

    return loss_fn


@validate.loss_factory
def beta_tcvae_loss(dataset_size: int, alpha: float = 1.0, beta: float = 6.0, gamma: float = 1.0,
                    estimator: str = "mss", warmup_steps: int = 0) -> LossFn:
    """The beta-TCVAE loss (Chen et al. 2018, eq. 4) for ``train.fit``, per-example sums:

    loss = (1/B) sum_b [-log p(x_b|z_b) + alpha MI_b + beta TC_b + gamma DWKL_b]

    with the index-code MI, total correlation and dimension-wise KL of
    ``estimators.kl_decomposition`` estimated on the minibatch (``estimator`` "mss" or "mws")
    from a data set of N = ``dataset_size`` images. At alpha = beta = gamma = 1 the estimates of
    log q(z) and log q(z_d) cancel in every sample (MI + TC + DWKL = log q(z|x) - log p(z)), so the
    loss is the single-sample Monte Carlo negative ELBO, whatever the estimator; alpha = gamma = 1
    < beta is the paper's beta-TCVAE.
    The weights ramp up linearly over ``warmup_steps``. Logs rec, kl, elbo, mi, tc, dwkl
    and kl_qz = tc + dwkl = KL(q(z) || p(z)).
    """
    validate.positive_int("dataset_size", dataset_size)
    validate.one_of("estimator", estimator, estimators.ESTIMATORS)
    validate.positive_int("warmup_steps", warmup_steps, minimum=0)
    alpha, beta, gamma = _weights(alpha=alpha, beta=beta, gamma=gamma)
    weights = {"mi": alpha, "tc": beta, "dwkl": gamma}

    def kl_terms(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = estimators.kl_decomposition(z, mu, logvar, dataset_size, estimator)
        return {**terms, "kl_qz": terms["tc"] + terms["dwkl"]}

    return _split_kl_loss(kl_terms, weights, warmup_steps)


def _group_dims(groups: object) -> int:
    """The latent size D that ``groups`` claims to partition (checked fully by estimators)."""
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, (list, tuple)) for g in groups):
        raise TypeError(f"groups must be a list of lists of latent dimensions, got {groups!r}")
    return sum(len(g) for g in groups)


@validate.loss_factory
def hfvae_loss(dataset_size: int, groups: list[list[int]], alpha: float = 1.0, beta: float = 6.0,
               gamma: float = 1.0, estimator: str = "mss", warmup_steps: int = 0) -> LossFn:
    """The HFVAE loss (Esmaeili et al. 2019) for ``train.fit``, per-example sums:

    loss = (1/B) sum_b [-log p(x_b|z_b) + alpha MI_b + beta TC_between,b + gamma TC_within,b + DWKL_b]

    with the latent dimensions split into ``groups`` (lists partitioning 0..D-1): beta penalises
    the dependence between groups, KL(q(z) || prod_g q(z_g)), gamma the dependence inside each
    group, sum_g KL(q(z_g) || prod_{d in g} q(z_d)) (``estimators.hierarchical_tc``), alpha the
    index-code MI, and the dimension-wise KL keeps weight 1. In terms of the four terms of
    -KL(q(z,x) || p(x,z)): alpha weighs term 2 (-MI) and beta, gamma and 1 the three parts of
    term 3 (-KL(q(z) || p(z))); terms 1 and 4 keep weight 1. With beta = gamma it is
    ``beta_tcvae_loss(alpha, beta, gamma=1)``. Logs rec, kl, elbo, mi, between, within, dwkl
    and kl_qz = between + within + dwkl = KL(q(z) || p(z)).
    """
    validate.positive_int("dataset_size", dataset_size)
    validate.one_of("estimator", estimator, estimators.ESTIMATORS)
    validate.positive_int("warmup_steps", warmup_steps, minimum=0)
    estimators.check_groups(groups, _group_dims(groups))  # a partition of 0..D-1, as hierarchical_tc needs
    alpha, beta, gamma = _weights(alpha=alpha, beta=beta, gamma=gamma)
    weights = {"mi": alpha, "between": beta, "within": gamma, "dwkl": 1.0}

    def kl_terms(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
        split = estimators.hierarchical_tc(z, mu, logvar, dataset_size, groups, estimator)  # with the MI
        return {**split, "kl_qz": split["between"] + split["within"] + split["dwkl"]}

    return _split_kl_loss(kl_terms, weights, warmup_steps)
