"""FactorVAE: the dimension-wise permutation, the density-ratio estimate of the TC against a
Gaussian's closed form, the loss with its discriminator inside train.fit, and bad input."""
import math

import pytest
import torch
from torch import nn

from vae_course import factorvae, models, sprites, train

RHO = 0.8  # two unit-variance Gaussians with correlation 0.8
TRUE_TC = -0.5 * math.log(1 - RHO ** 2)  # KL(q(z) || q(z_1) q(z_2)) = -1/2 log det(correlation), 0.51 nats


def gaussian(n, seed):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, 2, generator=g)
    return torch.stack([e[:, 0], RHO * e[:, 0] + math.sqrt(1 - RHO ** 2) * e[:, 1]], 1)


def test_permute_dims_keeps_each_column_and_breaks_the_dependence():
    z = gaussian(20_000, 0)
    z = torch.cat([z, z[:, :1]], 1)  # column 2 a copy of column 0
    p = factorvae.permute_dims(z, torch.Generator().manual_seed(1))
    for j in range(3):  # each column keeps its multiset of values: its marginal
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    corr = torch.corrcoef(p.T)
    assert corr[0, 1].abs() < 0.03 and corr[0, 2].abs() < 0.03  # not one permutation for all columns
    assert not torch.equal(p, z)


def test_permute_dims_follows_its_generator():
    z = torch.arange(40.0).reshape(10, 4)
    a = factorvae.permute_dims(z, torch.Generator().manual_seed(3))
    assert torch.equal(a, factorvae.permute_dims(z, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, factorvae.permute_dims(z, torch.Generator().manual_seed(4)))


class ExactRatio(nn.Module):
    """The optimal discriminator's logit for the Gaussian: log q(z) - log q(z_1) - log q(z_2)."""

    def forward(self, z):
        joint = torch.distributions.MultivariateNormal(torch.zeros(2), torch.tensor([[1, RHO], [RHO, 1.0]]))
        return joint.log_prob(z) - torch.distributions.Normal(0, 1).log_prob(z).sum(1)


def test_the_optimal_discriminator_estimates_the_gaussian_tc():
    estimate = factorvae.tc_estimate(ExactRatio(), gaussian(200_000, 2)).item()
    assert estimate == pytest.approx(TRUE_TC, abs=0.01)


def test_a_trained_discriminator_estimates_the_gaussian_tc():
    torch.manual_seed(0)
    disc = factorvae.Discriminator(2, hidden=(32, 32))
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(5)
    for step in range(400):  # 0.48 at seed 0; 0.45 to 0.51 over seeds 0-3
        factorvae.discriminator_step(disc, opt, gaussian(512, 10 + 2 * step), gaussian(512, 11 + 2 * step), g)
    with torch.no_grad():
        estimate = factorvae.tc_estimate(disc, gaussian(50_000, 3)).item()
    assert estimate == pytest.approx(TRUE_TC, abs=0.1)  # within 0.1 of 0.51 nats


def test_a_fresh_discriminator_on_posteriors_estimates_their_tc():
    """Posteriors N(mu_n, 0.1^2) around 5,000 draws of the Gaussian: q(z) is then the Gaussian
    with covariance [[1, RHO], [RHO, 1]] + 0.01 I, correlation RHO / 1.01, TC 0.49 nats."""
    mu = gaussian(5000, 20)
    logvar = torch.full_like(mu, math.log(0.01))
    smoothed_tc = -0.5 * math.log(1 - (RHO / 1.01) ** 2)
    disc = factorvae.fit_discriminator(mu, logvar, steps=400, batch_size=512, lr=3e-3, hidden=(32, 32), seed=0)
    assert not disc.training
    z = mu + 0.1 * torch.randn(mu.shape, generator=torch.Generator().manual_seed(21))
    with torch.no_grad():
        assert factorvae.tc_estimate(disc, z).item() == pytest.approx(smoothed_tc, abs=0.1)
    again = factorvae.fit_discriminator(mu, logvar, steps=3, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(),
                                                  factorvae.fit_discriminator(mu, logvar, steps=3, seed=4).parameters()))
    with pytest.raises(ValueError, match="shapes must match"):
        factorvae.fit_discriminator(mu, logvar[:, :1])
    with pytest.raises(ValueError, match="logvar must give a positive"):
        factorvae.fit_discriminator(mu, torch.full_like(mu, -1e4))


def test_factorvae_trains_with_fit_and_its_loss_falls():
    torch.manual_seed(0)
    x = sprites.make(512, seed=0).x
    model = models.VAE.build("mlp", tuple(x.shape[1:]), 4, hidden=(64,))
    loss_fn = factorvae.factorvae_loss(4, gamma=6.0, seed=0)
    before = [p.clone() for p in loss_fn.discriminator.parameters()]
    history = train.fit(model, loss_fn, x, steps=60, batch_size=64, lr=1e-3, seed=0, log_every=1, progress=False)
    loss = history.train["loss"]
    assert sum(loss[-10:]) / 10 < 0.8 * sum(loss[:10]) / 10
    assert {"rec", "kl", "elbo", "tc", "d_loss"} <= set(history.train)
    assert any(not torch.equal(a, b) for a, b in zip(before, loss_fn.discriminator.parameters()))


def test_evaluation_leaves_the_discriminator_alone():
    torch.manual_seed(0)
    x = sprites.make(64, seed=0).x
    model = models.VAE.build("mlp", tuple(x.shape[1:]), 4, hidden=(16,))
    loss_fn = factorvae.factorvae_loss(4)
    before = [p.clone() for p in loss_fn.discriminator.parameters()]
    logs = train.evaluate(model, loss_fn, x)
    assert "tc" in logs and "d_loss" not in logs
    assert all(torch.equal(a, b) for a, b in zip(before, loss_fn.discriminator.parameters()))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="z must"):
        factorvae.permute_dims(torch.zeros(5))
    with pytest.raises(ValueError, match="gamma"):
        factorvae.factorvae_loss(4, gamma=-1.0)
    with pytest.raises(TypeError, match="latent_dim"):
        factorvae.factorvae_loss(4.0)
    with pytest.raises(TypeError, match="call it"):
        train.fit(models.VAE.build("mlp", (1, 8, 8), 4), factorvae.factorvae_loss, torch.rand(8, 1, 8, 8), steps=1)
    model = models.VAE.build("mlp", (1, 8, 8), 4, hidden=(8,))
    with pytest.raises(ValueError, match="halves"):
        factorvae.factorvae_loss(4)(model, torch.rand(3, 1, 8, 8), 0)
    with pytest.raises(TypeError, match="must be a VAE"):
        factorvae.factorvae_loss(4)(models.Autoencoder.build("mlp", (1, 8, 8), 4), torch.rand(8, 1, 8, 8), 0)
