"""models.VAE and vae_course.losses, checked against explicit loops and numerical integration."""
import math

import pytest
import torch

from vae_course import diagnostics, losses, models, objectives


def tiny_vae(image_shape=(1, 2, 2), latent_dim=1, likelihood="bernoulli", sigma2=None, seed=0):
    torch.manual_seed(seed)
    return models.VAE.build("mlp", image_shape, latent_dim, likelihood, hidden=(8,), sigma2=sigma2).double()


def binary_images(n, shape=(1, 2, 2), seed=1):
    return torch.bernoulli(torch.full((n, *shape), 0.5, dtype=torch.float64),
                           generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", models.LIKELIHOODS)
def test_shapes(kind, likelihood):
    torch.manual_seed(0)
    model = models.VAE.build(kind, (1, 8, 8), 3, likelihood)
    x = torch.rand(5, 1, 8, 8)
    x_params, mu, logvar, z = model(x)
    assert x_params.shape == x.shape and mu.shape == logvar.shape == z.shape == (5, 3)
    assert model.log_px_given_z(x, x_params).shape == (5,)
    assert model.log_px_given_z(x, x_params.expand(4, *x.shape)).shape == (4, 5)
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert model.reconstruct(x).shape == x.shape
    terms = losses.elbo_terms(model, x)
    assert all(terms[k].shape == (5,) for k in ("rec", "kl", "elbo"))
    assert diagnostics.iwae_estimate(model, x, K=3).shape == (5,)
    assert diagnostics.kl_per_dimension(model, x).shape == diagnostics.active_units(model, x).shape == (3,)


def test_gaussian_variance_learned_or_fixed():
    learned, fixed = tiny_vae(likelihood="gaussian"), tiny_vae(likelihood="gaussian", sigma2=0.1)
    assert learned.log_sigma2.requires_grad and not fixed.log_sigma2.requires_grad
    assert math.isclose(fixed.log_sigma2.exp().item(), 0.1, rel_tol=1e-6)


def brute_force_log_px(model, x, x_params):
    """log p(x|z) pixel by pixel with Python floats."""
    out = []
    for xb, pb in zip(x.flatten(1).tolist(), x_params.flatten(1).tolist()):
        total = 0.0
        for xi, p in zip(xb, pb):
            if model.likelihood in ("bernoulli", "continuous_bernoulli"):
                prob = 1 / (1 + math.exp(-p))
                total += xi * math.log(prob) + (1 - xi) * math.log(1 - prob)
                if model.likelihood == "continuous_bernoulli":   # C = 2 artanh(1 - 2 prob) / (1 - 2 prob)
                    total += math.log(2 * math.atanh(1 - 2 * prob) / (1 - 2 * prob))
            else:
                s2 = math.exp(model.log_sigma2.item())
                total += -0.5 * (math.log(2 * math.pi * s2) + (xi - p) ** 2 / s2)
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def brute_force_kl(mu, logvar):
    return torch.tensor([sum(0.5 * (m * m + math.exp(v) - 1 - v) for m, v in zip(mb, vb))
                         for mb, vb in zip(mu.tolist(), logvar.tolist())], dtype=torch.float64)


@pytest.mark.parametrize("likelihood,sigma2", [("bernoulli", None), ("continuous_bernoulli", None),
                                               ("gaussian", None), ("gaussian", 0.1)])
@pytest.mark.parametrize("beta,warmup,step,beta_t", [(1.0, 0, 0, 1.0), (2.0, 0, 5, 2.0), (1.0, 10, 4, 0.5)])
def test_loss_equals_hand_computation(likelihood, sigma2, beta, warmup, step, beta_t):
    model = tiny_vae((1, 3, 3), 2, likelihood, sigma2)
    with torch.no_grad():
        if sigma2 is None and likelihood == "gaussian":
            model.log_sigma2.fill_(-1.3)
    x = torch.rand(3, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(7)
    loss, logs = losses.vae_loss(beta, warmup)(model, (x, torch.zeros(3)), step)
    torch.manual_seed(7)  # the same eps: the same z as inside the loss
    x_params, mu, logvar, _ = model(x)
    rec, kl = brute_force_log_px(model, x, x_params), brute_force_kl(mu, logvar)
    # per-example sums over pixels and latents, averaged over the batch only
    assert torch.allclose(loss, -(rec - beta_t * kl).mean(), atol=1e-9)
    assert torch.allclose(logs["rec"], rec.mean(), atol=1e-9) and torch.allclose(logs["kl"], kl.mean(), atol=1e-9)
    assert torch.allclose(logs["elbo"], (rec - kl).mean(), atol=1e-9)


SUPPORT = {"bernoulli": ("binary", None), "continuous_bernoulli": ("unit", None), "gaussian": ("real", (-4.0, 5.0))}


@pytest.mark.parametrize("likelihood", models.LIKELIHOODS)
def test_every_decoder_likelihood_is_normalised_on_a_two_pixel_image(likelihood):
    # issue 9: summed over {0,1}^2 (Bernoulli) or integrated over [0,1]^2 (continuous Bernoulli) or
    # R^2 (Gaussian, a box 20 standard deviations wide), p(x|z) of the model's own code path is 1
    model = tiny_vae((1, 1, 2), 1, likelihood, sigma2=0.05 if likelihood == "gaussian" else None)
    x_params = model.decode(torch.tensor([[0.8]], dtype=torch.float64)).detach()   # (1, 1, 1, 2)
    support, bounds = SUPPORT[likelihood]
    total = objectives.total_probability(lambda x: model.log_px_given_z(x.view(-1, 1, 1, 2), x_params).detach(),
                                         support, pixels=2, nodes=128, bounds=bounds)
    assert abs(total.item() - 1) < 1e-6


def test_continuous_bernoulli_images_are_its_means():
    model = tiny_vae((1, 1, 2), 1, "continuous_bernoulli")
    x_params = model.decode(torch.tensor([[0.8]], dtype=torch.float64))
    grid = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    density = objectives.log_continuous_bernoulli(grid, x_params.flatten()[0]).exp()
    mean = torch.trapezoid(grid * density, grid)
    assert model.mean_image(x_params).flatten()[0].item() == pytest.approx(mean.item(), abs=1e-7)
    assert not torch.allclose(model.mean_image(x_params), torch.sigmoid(x_params))


def test_loss_applies_transform_to_the_images():
    model, x = tiny_vae(), torch.rand(4, 1, 2, 2, dtype=torch.float64)
    torch.manual_seed(3)
    loss, _ = losses.vae_loss(transform=torch.round)(model, x, 0)
    torch.manual_seed(3)
    assert torch.allclose(loss, -losses.elbo_terms(model, torch.round(x))["elbo"].mean())


def exact_log_px(model, x):
    """log p(x) = log of the integral of p(x|z) N(z; 0, 1) dz by a Riemann sum on a fine grid (D = 1)."""
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64).unsqueeze(1)
    log_px_z = model.log_px_given_z(x, model.decode(z).unsqueeze(1))  # (grid, B)
    log_pz = -0.5 * (z.squeeze(1) ** 2 + math.log(2 * math.pi))
    return torch.logsumexp(log_px_z + log_pz.unsqueeze(1), 0) + math.log(20 / 20000)


@torch.no_grad()
def test_iwae_with_large_k_approaches_exact_log_px():
    model, x = tiny_vae(), binary_images(4)
    model.encoder.net[-1].bias[0] += 1.0  # move q's mean away from the posterior's: a visible gap
    exact = exact_log_px(model, x)
    gen = torch.Generator().manual_seed(0)
    iwae = diagnostics.iwae_estimate(model, x, K=20000, generator=gen)
    assert torch.allclose(iwae, exact, atol=0.03), (iwae, exact)
    elbo = diagnostics.iwae_estimate(model, x.repeat(2000, 1, 1, 1), K=1, generator=gen).view(2000, 4).mean(0)
    assert (exact - elbo > 0.1).all(), "the ELBO of this q should be visibly below log p(x)"


@torch.no_grad()
def test_iwae_with_k1_is_the_elbo_in_expectation():
    model, n = tiny_vae(), 20000
    x = binary_images(1).expand(n, 1, 2, 2)
    iwae1 = diagnostics.iwae_estimate(model, x, K=1, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    elbo = losses.elbo_terms(model, x)["elbo"]
    se = math.sqrt((iwae1.var() + elbo.var()).item() / n)
    assert abs(iwae1.mean() - elbo.mean()) < 4 * se


@torch.no_grad()
def test_iwae_is_non_decreasing_in_k_and_below_log_px():
    model, n = tiny_vae(seed=3), 2000
    x = binary_images(1, seed=4)
    gen = torch.Generator().manual_seed(0)
    means = [diagnostics.iwae_estimate(model, x.expand(n, 1, 2, 2), K=k, generator=gen).mean().item()
             for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2] <= exact_log_px(model, x).item() + 1e-3, means


@torch.no_grad()
def test_kl_per_dimension_sums_to_the_kl_and_active_units_match_the_posterior_mean_variance():
    model = tiny_vae((1, 2, 2), 3)
    model.encoder.net[-1].weight[1].zero_()  # mu_2 no longer depends on x: an inactive unit
    x = torch.rand(50, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    per_dim = diagnostics.kl_per_dimension(model, x)
    assert torch.allclose(per_dim.sum(), losses.elbo_terms(model, x)["kl"].mean())
    mu = torch.stack([model.encode(xi.unsqueeze(0))[0][0] for xi in x])
    variance = [sum((m - sum(col) / len(col)) ** 2 for m in col) / (len(col) - 1) for col in mu.T.tolist()]
    assert diagnostics.active_units(model, x, threshold=1e-4).tolist() == [v > 1e-4 for v in variance]
    assert not diagnostics.active_units(model, x, threshold=1e-4)[1]


def test_bad_input_is_rejected():
    model, x = tiny_vae(), binary_images(3)
    with pytest.raises(ValueError, match="K"):
        diagnostics.iwae_estimate(model, x, K=0)
    with pytest.raises(TypeError, match="K"):
        diagnostics.iwae_estimate(model, x, K=2.0)
    with pytest.raises(ValueError, match="x"):
        losses.elbo_terms(model, torch.rand(3, 1, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x_params"):
        model.log_px_given_z(x, torch.zeros(2, 1, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="likelihood"):
        models.VAE.build("mlp", (1, 2, 2), 1, "poisson")
    with pytest.raises(ValueError, match="sigma2"):
        models.VAE.build("mlp", (1, 2, 2), 1, "gaussian", sigma2=0.0)
    with pytest.raises(ValueError, match="kind"):
        models.VAE.build("rnn", (1, 2, 2), 1)
    with pytest.raises(ValueError, match="beta"):
        losses.vae_loss(beta=-1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        losses.vae_loss(warmup_steps=-1)
    with pytest.raises(ValueError, match="at least 2"):
        diagnostics.active_units(model, x[:1])


def _tiny_vae_and_images(n=40):
    torch.manual_seed(3)
    model = models.VAE.build("mlp", (1, 4, 4), 3, hidden=(8,))
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    return model, x


def test_exact_kl_terms_brute_force_and_chunking():
    """MI + TC + dwkl with q(z) the full mixture, by brute force over every (z_i, x_n) pair,
    whatever the chunk size; their sum is log q(z|x) - log p(z) at the same draws."""
    model, x = _tiny_vae_and_images()
    mu, logvar = (t.double() for t in models.encode_all(model, x))
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0),
                                                 dtype=torch.float64)
    normal = torch.distributions.Normal
    log_qz_xn = normal(mu[None], (0.5 * logvar[None]).exp()).log_prob(z[:, None])   # (M, N, D)
    log_qz = torch.logsumexp(log_qz_xn.sum(2), 1) - math.log(len(x))
    log_qzd = torch.logsumexp(log_qz_xn, 1) - math.log(len(x))
    log_qz_x = log_qz_xn.sum(2).diagonal()
    log_pz = normal(0.0, 1.0).log_prob(z).sum(1)
    brute = {"mi": (log_qz_x - log_qz).mean(), "tc": (log_qz - log_qzd.sum(1)).mean(),
             "dwkl": (log_qzd.sum(1) - log_pz).mean(), "kl": (log_qz_x - log_pz).mean()}
    for chunk in (1, 7, 40, 1000):
        got = diagnostics.exact_kl_terms(model, x, chunk=chunk)
        assert got == pytest.approx({k: v.item() for k, v in brute.items()}, abs=1e-9)
    # widen = 3: the same brute force with every posterior's standard deviation tripled
    wide = normal(mu[None], 3 * (0.5 * logvar[None]).exp())
    z3 = mu + 3 * (0.5 * logvar).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0),
                                                     dtype=torch.float64)
    log_qz_xn = wide.log_prob(z3[:, None])
    tc3 = (torch.logsumexp(log_qz_xn.sum(2), 1) - (torch.logsumexp(log_qz_xn, 1) - math.log(len(x))).sum(1)
           - math.log(len(x))).mean().item()
    assert diagnostics.exact_kl_terms(model, x, widen=3.0)["tc"] == pytest.approx(tc3, abs=1e-9)
    with pytest.raises(ValueError, match="widen .* must be >= 1, got 0.5"):
        diagnostics.exact_kl_terms(model, x, widen=0.5)


def test_exact_kl_terms_on_a_subset_is_seeded_and_checks_its_arguments():
    model, x = _tiny_vae_and_images()
    a = diagnostics.exact_kl_terms(model, x, n_samples=10, seed=1)
    assert a == diagnostics.exact_kl_terms(model, x, n_samples=10, seed=1)
    assert a != diagnostics.exact_kl_terms(model, x, n_samples=10, seed=2)
    with pytest.raises(ValueError, match="n_samples must be at most len.x. = 40, got 41"):
        diagnostics.exact_kl_terms(model, x, n_samples=41)
    with pytest.raises(ValueError, match="chunk"):
        diagnostics.exact_kl_terms(model, x, chunk=0)
    with pytest.raises(TypeError, match="model must be a VAE"):
        diagnostics.exact_kl_terms(models.Autoencoder.build("mlp", (1, 4, 4), 3), x)
