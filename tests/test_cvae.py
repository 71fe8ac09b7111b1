"""The conditional VAE (models.one_hot, models.ConditionalVAE, losses.cvae_loss)."""
import math

import pytest
import torch

from vae_course import losses, models, objectives, train


def test_one_hot_puts_a_single_one_at_the_label():
    codes = models.one_hot(torch.tensor([2, 0, 3]), 4)
    expected = torch.zeros(3, 4)
    for row, label in enumerate([2, 0, 3]):
        expected[row, label] = 1.0
    assert codes.dtype == torch.float32
    assert torch.equal(codes, expected)


@pytest.mark.parametrize("labels", [[0, 4], [-1, 2]])
def test_one_hot_rejects_out_of_range_labels(labels):
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        models.one_hot(torch.tensor(labels), 4)


def test_one_hot_rejects_bad_types():
    with pytest.raises(TypeError, match="y must be a floating-point|integer labels"):
        models.one_hot(torch.tensor([0.0, 1.0]), 4)
    with pytest.raises(TypeError, match="n_classes must be an int"):
        models.one_hot(torch.tensor([0, 1]), 4.0)
    with pytest.raises(ValueError, match="1 dimensions"):
        models.one_hot(torch.tensor([[0, 1]]), 4)


def small_cvae():
    torch.manual_seed(0)
    return models.ConditionalVAE((1, 8, 8), latent_dim=3, n_classes=10, hidden=(32, 16))


def test_cvae_shapes():
    model = small_cvae()
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 9])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, 3)
    x_params, mu, logvar, z = model(x, y)
    assert x_params.shape == x.shape and z.shape == (5, 3)
    samples = model.sample(y)
    assert samples.shape == x.shape and samples.min() >= 0 and samples.max() <= 1
    assert model.reconstruct(x, y).shape == x.shape


def test_decoder_and_encoder_depend_on_the_label():
    model = small_cvae()
    z, x = torch.randn(4, 3), torch.rand(4, 1, 8, 8)
    zeros, sevens = torch.zeros(4, dtype=torch.int64), torch.full((4,), 7)
    assert not torch.allclose(model.decode(z, zeros), model.decode(z, sevens))
    assert not torch.allclose(model.encode(x, zeros)[0], model.encode(x, sevens)[0])
    # and the same label gives the same output: the label is the only thing that changed
    torch.testing.assert_close(model.decode(z, sevens), model.decode(z, sevens.clone()))


def test_cvae_rejects_mismatched_labels():
    model = small_cvae()
    with pytest.raises(ValueError, match=r"y must have shape \(5\)"):
        model.encode(torch.rand(5, 1, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels in \[0, 10\)"):
        model.decode(torch.randn(2, 3), torch.tensor([0, 10]))


def test_cvae_loss_is_the_negative_conditional_elbo():
    model = small_cvae()
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6)
    torch.manual_seed(1)
    loss, logs = losses.cvae_loss()(model, (x, y), 0)
    torch.manual_seed(1)  # the same reparameterization noise, computed term by term
    x_params, mu, logvar, _ = model(x, y)
    rec = objectives.log_bernoulli(x, x_params).flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    torch.testing.assert_close(loss, -(rec - kl).mean())
    torch.testing.assert_close(logs["elbo"], (rec - kl).mean())
    with pytest.raises(ValueError, match=r"\(x, y\) batches"):
        losses.cvae_loss()(model, x, 0)


def test_cvae_loss_applies_transform_to_the_images():
    model = small_cvae()
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6)
    torch.manual_seed(2)
    loss, _ = losses.cvae_loss(transform=torch.round)(model, (x, y), 0)
    torch.manual_seed(2)
    torch.testing.assert_close(loss, -losses.conditional_elbo_terms(model, torch.round(x), y)["elbo"].mean())


def test_cvae_training_lowers_the_loss():
    model = small_cvae()
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(64, 1, 8, 8, generator=g) > 0.5).float(), torch.randint(0, 10, (64,), generator=g)
    loss_fn = losses.cvae_loss()
    before = train.evaluate(model, loss_fn, (x, y))["loss"]
    train.fit(model, loss_fn, (x, y), steps=60, batch_size=32, lr=3e-3, progress=False)
    assert train.evaluate(model, loss_fn, (x, y))["loss"] < before - 1.0


def test_conditional_elbo_bounds_log_p_x_given_y_with_the_fixed_prior():
    """With a 1-D latent, log p(x | y) = log int N(z; 0, 1) p(x | z, y) dz by quadrature: the
    conditional ELBO (its mean over draws) is below it by exactly KL(q(z | x, y) || p(z | x, y))."""
    torch.manual_seed(0)
    model = models.ConditionalVAE((1, 2, 2), latent_dim=1, n_classes=3, hidden=(8,)).double()
    x = torch.tensor([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float64)
    x = x.view(3, 1, 2, 2)
    y = torch.tensor([0, 2, 1])
    z = torch.linspace(-10, 10, 8001, dtype=torch.float64).unsqueeze(1)
    dz = float(z[1] - z[0])
    mu, logvar = model.encode(x, y)
    for b in range(len(x)):
        with torch.no_grad():
            logits = model.decode(z, y[b].repeat(len(z)))
            log_lik = model.log_px_given_z(x[b].expand(len(z), 1, 2, 2), logits)
        log_prior = objectives.log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
        log_joint = log_lik + log_prior
        log_px = torch.logsumexp(log_joint, 0) + math.log(dz)
        log_q = objectives.log_normal(z, mu[b].detach(), logvar[b].detach()).sum(1)
        q = log_q.exp() * dz
        kl = objectives.kl_normal_std(mu[b:b + 1], logvar[b:b + 1]).detach()[0]
        elbo = (q * log_lik).sum() - kl
        kl_to_posterior = (q * (log_q - (log_joint - log_px))).sum()
        assert elbo < log_px
        torch.testing.assert_close(elbo + kl_to_posterior, log_px, atol=1e-6, rtol=0)
        draws = losses.conditional_elbo_terms(model, x[b:b + 1].expand(20_000, 1, 2, 2),
                                              y[b:b + 1].expand(20_000))["elbo"].detach()
        assert abs(draws.mean() - elbo) < 4 * draws.std() / math.sqrt(len(draws))
