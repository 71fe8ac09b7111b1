"""Looking inside a trained VAE's latent space: codes of a whole data set, latent traversals,
the MIG of a model, the bias of the minibatch estimators of q(z), and one recipe to train the
small sprites VAEs compared in notebooks 08-10.
(The KL per dimension and active units are ``losses.kl_per_dimension`` and ``losses.active_units``.)

Used by notebooks 08-10 (beta-VAE, beta-TCVAE, HFVAE) and ``benchmarks/mig_table.py``.
Shapes: images x (N, C, H, W); codes mu, logvar (N, D).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vae_course import estimators, metrics, models, train, validate
from vae_course.train import History, LossFn


@torch.no_grad()
def encode_all(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters (mu, logvar) of q_phi(z|x_n) for every image of ``x`` (N, C, H, W),
    each (N, D), computed in batches in evaluation mode and returned on the CPU."""
    validate.tensor("x", x, ndim=4)
    validate.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = [model.encode(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu()


@torch.no_grad()
def latent_traversal(model: nn.Module, z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Decode z0 with latent dimension ``dim`` swept over ``values``: image k is
    E[x | z = z0 with z0[dim] = values[k]], shape (len(values), C, H, W) in [0, 1]
    (Higgins et al. 2017, figure 1). ``z0`` is (D,), ``values`` is (V,)."""
    validate.tensor("z0", z0, ndim=1)
    validate.tensor("values", values, ndim=1)
    if not (isinstance(dim, int) and 0 <= dim < len(z0)):
        raise ValueError(f"dim must be an int in [0, {len(z0) - 1}] for z0 of shape {tuple(z0.shape)}, got {dim!r}")
    device = next(model.parameters()).device
    z = z0.to(device).repeat(len(values), 1)
    z[:, dim] = values.to(device)
    return model.mean_image(model.decode(z)).cpu()


def traversal_rows(model: nn.Module, z0: torch.Tensor, dims: Sequence[int],
                   values: torch.Tensor) -> list[torch.Tensor]:
    """One ``latent_traversal`` per latent dimension in ``dims``: a list of (V, C, H, W)
    batches, ready for ``plots.show_rows``."""
    return [latent_traversal(model, z0, d, values) for d in dims]


def model_mig(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, n_bins: int = 20) -> float:
    """The mutual information gap (Chen et al. 2018) of a model's mean codes mu(x) against the
    true factor indices ``factors`` (N, K) of the images ``x`` (N, C, H, W)."""
    if not isinstance(factors, torch.Tensor) or factors.shape[:1] != x.shape[:1]:
        raise ValueError(f"factors must be a tensor with one row per image ({len(x)}), got "
                         f"{getattr(factors, 'shape', type(factors).__name__)}")
    mu, _ = encode_all(model, x)
    return metrics.mig(mu.numpy(), factors.cpu().numpy(), n_bins=n_bins)


def train_vae(loss_fn: LossFn, x: torch.Tensor, *, latent_dim: int, steps: int, seed: int = 0,
              kind: str = "mlp", batch_size: int = 128, lr: float = 1e-3, desc: str | None = None,
              progress: bool = True) -> tuple[models.VAE, History]:
    """Build a Bernoulli ``models.VAE`` (``kind``, D = ``latent_dim``) with weights seeded by
    ``seed`` and train it on the images ``x`` (N, C, H, W) with ``train.fit`` for ``steps``
    minibatches of ``batch_size``; returns (model, history). One recipe, so that models that
    differ only in their loss (beta-VAE, beta-TCVAE, HFVAE) are compared fairly."""
    validate.tensor("x", x, ndim=4)
    torch.manual_seed(seed)
    model = models.VAE.build(kind, tuple(x.shape[1:]), latent_dim)
    history = train.fit(model, loss_fn, x, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                        desc=desc or f"seed {seed}", progress=progress)
    return model, history


def estimator_bias(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, batch_size: int,
                   estimator: str, repeats: int = 20, generator: torch.Generator | None = None) -> dict[str, float]:
    """Bias of a minibatch estimator on a small data set of N points: the mean, over ``repeats``
    minibatches of M = ``batch_size`` points drawn without replacement, of the batch's
    ``estimators.kl_decomposition`` minus the exact ``kl_decomposition_exact`` of the same
    samples, for each of "mi", "tc", "dwkl" (Chen et al. 2018, section 3). z (N, D) holds one
    sample of q(z|x_n) per data point; mu, logvar (N, D) are the encoder outputs."""
    validate.positive_int("repeats", repeats)
    validate.positive_int("batch_size", batch_size, minimum=2)
    exact = estimators.kl_decomposition_exact(z, mu, logvar, torch.arange(len(z)), reduction="none")
    bias = dict.fromkeys(estimators.TERMS, 0.0)
    for _ in range(repeats):
        idx = torch.randperm(len(z), generator=generator)[:batch_size]
        estimate = estimators.kl_decomposition(z[idx], mu[idx], logvar[idx], len(z), estimator)
        for name in bias:
            bias[name] += (estimate[name] - exact[name][idx].mean()).item() / repeats
    return bias
