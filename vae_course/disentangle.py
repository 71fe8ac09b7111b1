"""Scoring a trained VAE's disentanglement: the MIG of a model, which latent carries which
factor, and the numbers every sprites comparison prints (with the rate and the distortion).
(The sprites VAEs themselves are trained by ``recipe``; traversals are in ``traversals``, the
rotated twin in ``rotated_twin``, the verdict over seeds in ``comparison``.)

Used by notebooks 08-10 (beta-VAE, beta-TCVAE, HFVAE) and ``benchmarks/mig_table.py``.
Shapes: images x (N, C, H, W); codes mu, logvar (N, D).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vae_course import diagnostics, estimators, factorvae, losses, metrics, validate
from vae_course.gradients import reparameterize
from vae_course.models import encode_all


def model_mig(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, n_bins: int = 20) -> float:
    """The binned MIG (``metrics.mig``, the estimator of Locatello et al. 2019) of a model's mean
    codes mu(x) against the true factor indices ``factors`` (N, K) of the images ``x`` (N, C, H, W)."""
    _check_factors(x, factors)
    mu, _ = encode_all(model, x)
    return metrics.mig(mu.numpy(), factors.cpu().numpy(), n_bins=n_bins)


def _check_factors(x: torch.Tensor, factors: object) -> None:
    validate.finite("x", validate.tensor("x", x, ndim=4))
    validate.integer_tensor("factors", factors, ndim=2)
    if not isinstance(factors, torch.Tensor) or factors.shape[:1] != x.shape[:1]:
        raise ValueError(f"factors must be a tensor with one row per image ({len(x)}), got "
                         f"{getattr(factors, 'shape', type(factors).__name__)}")


def factor_report(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, n_samples: int = 10_000,
                  seed: int = 0) -> dict[str, object]:
    """How a model's latents carry the true factors ``factors`` (N, K) of the images ``x``:

    "mig_binned" (``metrics.mig`` of the posterior means), "mig_chen" (``metrics.mig_chen``, all
    factors) and "mig_chen_no_shape" (Chen et al.'s dSprites protocol: every factor but the
    first, shape); "mi" the (D, K) matrix I(z_j; v_k) / H(v_k) of Chen's estimator; per factor
    (K,): "best" its best latent j*, "best_mi" I(z_j*; v_k) / H(v_k) (how much of v_k that latent
    holds), "gap" the MIG's term (best minus second best I, over H(v_k)) and
    "fraction_of_mi_sum" max_j I / sum_j I (how concentrated, not how much).
    """
    _check_factors(x, factors)
    mu, logvar = encode_all(model, x)
    f = factors.cpu()
    mi = metrics.mutual_info_matrix_chen(mu, logvar, f, n_samples, torch.Generator().manual_seed(seed)).numpy()
    entropies = metrics.factor_entropies(f.numpy())
    return {"mig_binned": metrics.mig(mu.numpy(), f.numpy()),
            "mig_chen": metrics.mig_from_mi(mi, entropies),
            "mig_chen_no_shape": metrics.mig_from_mi(mi[:, 1:], entropies[1:]),
            "mi": mi / entropies, "best": mi.argmax(0),
            "best_mi": metrics.best_latent_normalized_mi(mi, entropies),
            "gap": metrics.normalized_gaps(mi, entropies),
            "fraction_of_mi_sum": metrics.best_latent_fraction_of_mi_sum(mi)}


def factor_rows(report: dict[str, object], names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """The per-factor numbers of a ``factor_report`` as rows for ``report.markdown_table``: for
    each factor name, its best latent (numbered from 1), I/H of that latent, the MIG's gap and
    the fraction of sum_j I in the best latent."""
    return {name: {"best latent": int(report["best"][k]) + 1, "I(z_j*; v)/H(v)": float(report["best_mi"][k]),
                   "gap (MIG term)": float(report["gap"][k]),
                   "fraction of sum_j I": float(report["fraction_of_mi_sum"][k])}
            for k, name in enumerate(names)}


@torch.no_grad()
def sprites_scores(model: nn.Module, sprites, n_samples: int = 10_000) -> dict[str, float]:
    """The numbers every sprites comparison prints for one model, on the whole data set
    ``sprites`` (a ``sprites.Sprites``): "mig_chen", "mig_chen_no_shape", "mig_binned" (see
    ``factor_report``), "rate" E KL(q(z|x) || p(z)) and "distortion" -E log p(x|z) in nats
    (``mean_elbo_terms``), and "I/H <factor>", I(z_j*; v_k) / H(v_k) of each factor's best latent."""
    scores = factor_report(model, sprites.x, sprites.factors, n_samples)
    held = {f"I/H {name}": float(v) for name, v in zip(sprites.names, scores["best_mi"])}
    return {"mig_chen": scores["mig_chen"], "mig_chen_no_shape": scores["mig_chen_no_shape"],
            "mig_binned": scores["mig_binned"], **mean_elbo_terms(model, sprites.x), **held}


def other_metrics(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, seed: int = 0,
                  n_trees: int = 50) -> dict[str, float]:
    """The three other views of disentanglement (Locatello et al. 2019 report them beside the MIG)
    on a model's posterior means mu(x) against the factor indices ``factors`` (N, K) of the images
    x: "dci_d", "dci_c", "dci_i" (``metrics.dci``: disentanglement, completeness, informativeness),
    "sap" (``metrics.sap``) and "factorvae_score" (``metrics.factorvae_score``), each seeded by
    ``seed``; DCI's forests have ``n_trees`` trees each."""
    _check_factors(x, factors)
    mu, _ = encode_all(model, x)
    codes, f = mu.double().numpy(), factors.cpu().numpy()
    dci = metrics.dci(codes, f, n_trees=n_trees, seed=seed)
    return {"dci_d": dci["disentanglement"], "dci_c": dci["completeness"], "dci_i": dci["informativeness"],
            "sap": metrics.sap(codes, f, seed=seed), "factorvae_score": metrics.factorvae_score(codes, f, seed=seed)}


def tc_three_ways(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256, repeats: int = 20,
                  discriminator_steps: int = 2000, n_exact: int | None = None, seed: int = 0) -> dict[str, float]:
    """The total correlation KL(q(z) || prod_j q(z_j)) of a model's aggregate posterior over the
    images x (N, C, H, W), in nats, by three estimators (notebook 09, section 11):

    - "exact": q(z) as the full mixture over all N posteriors (``diagnostics.exact_kl_terms``,
      one z for each of ``n_exact`` images, default all);
    - "mss": the minibatch stratified estimate (``estimators.kl_decomposition``), averaged over
      ``repeats`` random batches of M = ``batch_size`` images, as beta-TCVAE's loss sees it;
    - "discriminator": the mean logit over one z per image of a fresh discriminator trained for
      ``discriminator_steps`` on the frozen posteriors (``factorvae.fit_discriminator``), the
      density-ratio estimate of FactorVAE with no encoder moving against it.
    Everything seeded by ``seed``."""
    validate.positive_int("repeats", repeats)
    validate.positive_int("batch_size", batch_size, minimum=2)
    validate.positive_int("discriminator_steps", discriminator_steps)
    if n_exact is not None:
        validate.positive_int("n_exact", n_exact)
    exact = diagnostics.exact_kl_terms(model, x, n_samples=n_exact, seed=seed)["tc"]  # checks model, x
    mu, logvar = encode_all(model, x)
    generator = torch.Generator().manual_seed(validate.seed("seed", seed))
    mss = 0.0
    for _ in range(repeats):
        index = torch.randperm(len(x), generator=generator)[:batch_size]
        z = reparameterize(mu[index], logvar[index], generator=generator)
        mss += estimators.kl_decomposition(z, mu[index], logvar[index], len(x))["tc"].item() / repeats
    discriminator = factorvae.fit_discriminator(mu, logvar, discriminator_steps, batch_size, seed=seed)
    with torch.no_grad():
        z = reparameterize(mu, logvar, generator=generator)
        estimate = factorvae.tc_estimate(discriminator, z).item()
    return {"exact": exact, "mss": mss, "discriminator": estimate}


@torch.no_grad()
def mean_elbo_terms(model: nn.Module, x: torch.Tensor, seed: int = 0, batch_size: int = 2048) -> dict[str, float]:
    """"distortion" -E log p(x|z) and "rate" E KL(q(z|x) || N(0, I)) (closed form) in nats,
    averaged over the images x (N, C, H, W), one z ~ q(z|x) per image drawn with the seeded
    noise ``seed`` (the same model gives the same numbers every call). The mean ELBO is
    -(distortion + rate)."""
    validate.vae("model", model, "the ELBO's terms")
    validate.tensor("x", x, ndim=4)
    validate.seed("seed", seed)
    validate.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    distortion = rate = 0.0
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            terms = losses.elbo_terms(model, x[i:i + batch_size].to(device))
            distortion -= terms["rec"].sum().item() / len(x)
            rate += terms["kl"].sum().item() / len(x)
    return {"distortion": distortion, "rate": rate}
