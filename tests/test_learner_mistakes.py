"""The helpers called the wrong way, as learners call them: each gets a clear TypeError or
ValueError that names the argument and says what to do, raised before any work."""
import math

import numpy as np
import pytest
import torch

from vae_course import config, density, diagnostics, linear_gaussian, losses, models, plots, quality, train, validate

torch.manual_seed(0)
VAE = models.VAE.build("mlp", (1, 4, 4), 2, hidden=(8,))
AE = models.Autoencoder.build("mlp", (1, 4, 4), 2)
X = torch.rand(6, 1, 4, 4)


def _tiny_classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), models.mlp([16, 8, 10]))


CASES = [
    # float64 data (torch.from_numpy) into the models, fit, the losses, quality
    ("float64 into a VAE", lambda: VAE(X.double()), TypeError, r"x has dtype torch.float64 .* x.float\(\)"),
    ("float64 into an AE", lambda: AE(X.double()), TypeError, r"x has dtype torch.float64"),
    ("float64 codes into decode", lambda: VAE.decode(torch.zeros(3, 2, dtype=torch.float64)), TypeError,
     r"z has dtype torch.float64 .* z.float\(\)"),
    ("float64 into fit", lambda: train.fit(VAE, losses.vae_loss(), X.double(), steps=1, batch_size=2,
                                           progress=False, device="cpu"), TypeError, r"train_data has dtype .*\.float\(\)"),
    ("float64 into a loss", lambda: losses.vae_loss()(VAE, X.double(), 0), TypeError, r"x has dtype torch.float64"),
    ("float64 into quality", lambda: quality.sample_quality(_tiny_classifier(), X.double()), TypeError,
     r"samples has dtype torch.float64 .*samples.float\(\)"),
    # a loss factory passed without calling it
    ("uncalled factory in fit", lambda: train.fit(VAE, losses.vae_loss, X, steps=1, batch_size=2, progress=False),
     TypeError, r"call it: losses.vae_loss\(\)"),
    ("uncalled factory in evaluate", lambda: train.evaluate(VAE, losses.beta_tcvae_loss, X), TypeError,
     r"call it: losses.beta_tcvae_loss\(\)"),
    ("factory called like a loss", lambda: losses.vae_loss(VAE, X, 0), TypeError, r"call it: loss_fn = losses.vae_loss\(\)"),
    # an autoencoder where a VAE is needed
    ("AE in kl_per_dimension", lambda: diagnostics.kl_per_dimension(AE, X), TypeError, r"model must be a VAE .*got Autoencoder"),
    ("AE in active_units", lambda: diagnostics.active_units(AE, X), TypeError, r"model must be a VAE"),
    ("AE in iwae_estimate", lambda: diagnostics.iwae_estimate(AE, X, 5), TypeError, r"model must be a VAE"),
    ("AE in vae_loss", lambda: losses.vae_loss()(AE, X, 0), TypeError, r"model must be a VAE"),
    # labels and ranges in quality
    ("labels 1..10", lambda: quality.classifier_accuracy(_tiny_classifier(), X, torch.arange(1, 7) + 4), ValueError,
     r"y must hold class labels \[0, 10\) .* got values in \[5, 10\]"),
    ("label -1", lambda: quality.classifier_accuracy(_tiny_classifier(), X, torch.tensor([-1, 0, 1, 2, 3, 4])),
     ValueError, r"got values in \[-1, 4\]"),
    ("label -1 in training", lambda: quality.train_classifier(X, torch.tensor([-1, 0, 1, 2, 3, 4]), steps=1),
     ValueError, r"y must hold class labels 0, 1, 2"),
    ("images in 0-255", lambda: quality.sample_quality(_tiny_classifier(), 255 * X), ValueError,
     r"samples must hold values in \[0, 1\].*divide by 255"),
    ("a NaN image", lambda: quality.sample_quality(_tiny_classifier(), X.masked_fill(X > 0.9, math.nan)), ValueError,
     r"samples must be finite"),
    # non-finite inputs where a NaN would become a plausible number
    ("NaN pixel in active_units", lambda: diagnostics.active_units(VAE, X.masked_fill(X > 0.95, math.nan)), ValueError,
     r"x must be finite, but \d+ of 96 entries are NaN or inf"),
    ("NaN codes in fit_density", lambda: density.fit_density(torch.tensor([[0.0, 1.0], [math.nan, 2.0], [1.0, 0.0]]),
                                                              "full"), ValueError, r"z must be finite, .*index \[1, 0\]"),
    # internal names in error messages
    ("beta_tcvae beta", lambda: losses.beta_tcvae_loss(100, beta=-1), ValueError, r"^beta must be >= 0"),
    ("beta_tcvae alpha", lambda: losses.beta_tcvae_loss(100, alpha=-1), ValueError, r"^alpha must be >= 0"),
    ("hfvae gamma", lambda: losses.hfvae_loss(100, [[0], [1]], gamma=-1), ValueError, r"^gamma must be >= 0"),
    ("Autoencoder latent_dim", lambda: models.Autoencoder.build("mlp", (1, 4, 4), 0), ValueError,
     r"^latent_dim must be >= 1"),
    # empty data and batch sizes
    ("empty batch in vae_loss", lambda: losses.vae_loss()(VAE, X[:0], 0), ValueError, r"batch is empty"),
    ("empty data in fit", lambda: train.fit(VAE, losses.vae_loss(), X[:0], steps=1, progress=False), ValueError,
     r"train_data is empty"),
    ("evaluate batch_size -1", lambda: train.evaluate(VAE, losses.vae_loss(), X, batch_size=-1), ValueError,
     r"batch_size must be >= 1"),
    ("evaluate batch_size 0", lambda: train.evaluate(VAE, losses.vae_loss(), X, batch_size=0), ValueError,
     r"batch_size must be >= 1"),
    ("batch_size > N", lambda: train.fit(VAE, losses.vae_loss(), X, steps=1, batch_size=7, progress=False),
     ValueError, r"batch_size = 7 is larger than train_data \(6 examples\)"),
    ("show_images channels last", lambda: plots.show_images(X.permute(0, 2, 3, 1).expand(6, 4, 4, 1)[:, :4, :, :]
                                                             .reshape(6, 4, 4, 1), "t"), ValueError,
     r"channels last\? use images.permute\(0, 3, 1, 2\)"),
    ("show_images empty", lambda: plots.show_images(X[:0], "t"), ValueError, r"images is empty"),
    ("show_images nrow 0", lambda: plots.show_images(X, "t", nrow=0), ValueError, r"nrow must be >= 1"),
    # seeds and devices
    ("fit seed 0.5", lambda: train.fit(VAE, losses.vae_loss(), X, steps=1, batch_size=2, seed=0.5, progress=False),
     TypeError, r"seed must be an int >= 0 .* got float 0.5"),
    ("device gpu", lambda: config.get_device("gpu"), ValueError, r"^device must be 'cpu', 'cuda' or 'cuda:N' .*'gpu'$"),
    # infinite weights
    ("vae_loss beta inf", lambda: losses.vae_loss(beta=math.inf), ValueError, r"beta must be finite"),
    ("cvae_loss beta inf", lambda: losses.cvae_loss(beta=math.inf), ValueError, r"beta must be finite"),
    ("beta_tcvae gamma inf", lambda: losses.beta_tcvae_loss(100, gamma=math.inf), ValueError, r"gamma must be finite"),
    ("hfvae alpha inf", lambda: losses.hfvae_loss(100, [[0], [1]], alpha=math.inf), ValueError, r"alpha must be finite"),
    # the reusable checks the estimators and encode_all call
    ("logvar -1e4", lambda: validate.log_variance("logvar", torch.full((3, 2), -1e4)), ValueError,
     r"logvar must give a positive, finite variance"),
    ("AE into a posterior", lambda: validate.vae("model", AE, "encode_all"), TypeError, r"for encode_all; got Autoencoder"),
]


@pytest.mark.parametrize("call,error,match", [pytest.param(c, e, m, id=name) for name, c, e, m in CASES])
def test_a_wrong_call_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nothing_trains_before_a_bad_argument_is_reported():
    model = models.VAE.build("mlp", (1, 4, 4), 2, hidden=(8,))
    before = [p.detach().clone() for p in model.parameters()]
    for bad in [dict(seed=0.5), dict(batch_size=99), dict(train_data=X.double())]:
        with pytest.raises((TypeError, ValueError)):
            train.fit(model, losses.vae_loss(), bad.pop("train_data", X), steps=3, batch_size=bad.pop("batch_size", 2),
                      progress=False, device="cpu", **bad)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_numpy_integers_count_as_ints():
    assert validate.positive_int("n", np.int64(3)) == 3 and type(validate.positive_int("n", np.int32(3))) is int
    assert validate.seed("seed", np.int64(0)) == 0
    history = train.fit(VAE, losses.vae_loss(), X, steps=np.int64(2), batch_size=np.int64(3), seed=np.int64(1),
                        progress=False, device="cpu")
    assert len(history.train["loss"]) == 2
    with pytest.raises(TypeError, match="n must be an int, got bool"):
        validate.positive_int("n", np.bool_(True))


def test_linear_gaussian_accepts_float32_codes_and_mixed_dtypes():
    model = linear_gaussian.LinearGaussian.random(D=4, d=2, seed=0)
    x, z = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(model.log_joint(x, z.float()), model.log_joint(x, z), atol=1e-5)
    mean, cov = torch.zeros(3, 2), torch.eye(2, dtype=torch.float64)
    samples = linear_gaussian.sample_gaussian(mean, cov, 4, generator=torch.Generator().manual_seed(0))
    assert samples.dtype == torch.float64 and samples.shape == (4, 3, 2)
    log_p = linear_gaussian.log_gaussian(samples.float(), mean, cov)
    assert log_p.dtype == torch.float64 and torch.isfinite(log_p).all()


def test_every_loss_factory_passed_uncalled_says_call_it():
    from vae_course import corruption
    for factory in (losses.vae_loss, losses.cvae_loss, losses.beta_tcvae_loss, losses.hfvae_loss,
                    corruption.denoising_loss_fn):
        name = validate.factory_name(factory)
        with pytest.raises(TypeError, match=rf"call it: {name}\(\)"):
            train.fit(VAE, factory, X, steps=1, batch_size=2, progress=False)


def test_an_autoencoder_s_codes_are_not_a_posterior():
    with pytest.raises(TypeError, match=r"Autoencoder.encode gave a tensor of shape \(6, 2\)"):
        validate.posterior_pair(AE.encode(X), AE)
    mu, logvar = validate.posterior_pair(VAE.encode(X), VAE)
    assert mu.shape == logvar.shape == (6, 2)
