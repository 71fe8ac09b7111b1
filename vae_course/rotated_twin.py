"""The rotated twin of a VAE: N(0, I) is rotation invariant, so a VAE whose latents are turned
by an orthogonal R (encoder N(R mu, R Sigma R^T), decoder p(x | R^T z)) has the same ELBO but other
axes; and the test of what picks the axes (Rolinek et al. 2019): refit the best *diagonal*
encoder to the rotated decoder and compare the ELBOs."""
from __future__ import annotations

import copy

import torch
from torch import nn

from vae_course import losses, objectives, train, validate


def random_rotation(dim: int, seed: int = 0) -> torch.Tensor:
    """A random rotation matrix R (dim, dim), float64, R R^T = I and det R = +1 (QR of a seeded
    Gaussian matrix, with the signs fixed so that it is uniform over rotations)."""
    validate.positive_int("dim", dim)
    a = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotated_marginals(mu: torch.Tensor, logvar: torch.Tensor, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The marginal of each coordinate of z' = R z for z ~ N(mu, diag exp(logvar)): mean
    (R mu)_j and log-variance log sum_i R_ji^2 exp(logvar_i). mu, logvar (N, D), R (D, D)."""
    validate.tensor("mu", mu, ndim=2)
    validate.same_shape(mu=mu, logvar=logvar)
    validate.tensor("rotation", rotation, shape=(mu.shape[1], mu.shape[1]))
    r = rotation.to(mu.dtype)
    return mu @ r.T, torch.log(logvar.exp() @ (r ** 2).T)


def kl_full_normal_std(mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, cov) || N(0, I)) = 1/2 [tr cov + |mu|^2 - D - log det cov] for mu (N, D) and
    full covariances cov (N, D, D): (N,)."""
    validate.tensor("mu", mu, ndim=2)
    validate.tensor("cov", cov, shape=(len(mu), mu.shape[1], mu.shape[1]))
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + mu.pow(2).sum(-1) - mu.shape[1] - torch.logdet(cov))


@torch.no_grad()
def rotated_elbo(model: nn.Module, x: torch.Tensor, rotation: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The single-sample ELBO of each image of ``x`` under ``model`` and under its rotated twin:
    encoder q'(z'|x) = N(R mu, R Sigma R^T) (no longer diagonal), decoder p'(x|z') = p(x|R^T z'),
    the same N(0, I) prior, with the same noise. Returns (elbo, elbo_rotated), each (N,): equal
    for every x, since N(0, I) is rotation invariant (Rolinek et al. 2019)."""
    validate.tensor("x", x, ndim=4)
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + (0.5 * logvar).exp() * eps
    r = rotation.to(mu.dtype)
    kl = objectives.kl_normal_std(mu, logvar)
    elbo = model.log_px_given_z(x, model.decode(z)) - kl
    cov = r @ torch.diag_embed(logvar.exp().double()).to(mu.dtype) @ r.T
    z_rot = z @ r.T
    kl_rot = kl_full_normal_std((mu @ r.T).double(), cov.double()).to(mu.dtype)
    return elbo, model.log_px_given_z(x, model.decode(z_rot @ r)) - kl_rot


def refit_diagonal_encoder(model: nn.Module, x: torch.Tensor, rotation: torch.Tensor, steps: int = 300,
                           batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> nn.Module:
    """Rolinek et al. 2019's test of what picks the axes: hold the rotated twin's decoder fixed,
    p'(x|z') = p(x|R^T z'), and fit a *diagonal*-Gaussian encoder q'(z'|x) = N(m(x), diag s^2(x))
    to it by ``steps`` Adam steps on the mean ELBO (beta = 1) over minibatches of ``x``
    (N, C, H, W), batches and noise seeded by ``seed``. The encoder is ``model``'s own
    architecture, started at its weights with the means rotated, m(x) = R mu(x), the variances
    its own; with R = I it refits the original.
    The best diagonal posterior for the rotated decoder has a lower ELBO than for the original
    when the original's axes are the ones a diagonal posterior fits best. Returns the twin (a
    copy: ``model`` is unchanged), in evaluation mode; ``rotation`` R is (D, D)."""
    validate.vae("model", model, "refitting its encoder")
    validate.tensor("x", x, ndim=4)
    d = model.latent_dim
    validate.tensor("rotation", rotation, shape=(d, d))
    if not torch.allclose(rotation @ rotation.T, torch.eye(d, dtype=rotation.dtype), atol=1e-5):
        raise ValueError("rotation must be orthogonal (R R^T = I, e.g. random_rotation(D)), got R R^T = "
                         f"{(rotation @ rotation.T).tolist()}")
    twin = copy.deepcopy(model).requires_grad_(False)
    r = rotation.to(next(model.parameters()).dtype)
    turn_z = nn.Linear(d, d, bias=False).requires_grad_(False)  # z' -> R^T z' (rows: z' @ R)
    turn_z.weight.copy_(r.T)
    turn_mu = nn.Linear(2 * d, 2 * d, bias=False).requires_grad_(False)  # (mu, logvar) -> (R mu, logvar)
    turn_mu.weight.copy_(torch.block_diag(r, torch.eye(d, dtype=r.dtype)))
    twin.encoder.requires_grad_(True)
    twin.encoder, twin.decoder = nn.Sequential(twin.encoder, turn_mu), nn.Sequential(turn_z, twin.decoder)
    with torch.random.fork_rng():  # the posterior noise seeded too: the same refit every call
        torch.manual_seed(seed)
        train.fit(twin, losses.vae_loss(), x, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  desc="refitting a diagonal encoder", progress=False)
    return twin.eval()
