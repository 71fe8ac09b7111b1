"""beta-TCVAE and HFVAE losses against hand computations with explicit loops, and the
latent-space helpers of ``vae_course.disentangle``."""
import math

import pytest
import torch
from torch import nn

from vae_course import (comparison, diagnostics, disentangle, estimators, losses, metrics, models, objectives,
                        recipe, rotated_twin, traversals)

N, M, D = 50, 5, 4
GROUPS = [[0, 2], [1], [3]]


class FixedVAE(nn.Module):
    """A stand-in VAE whose forward pass returns fixed (x_params, mu, logvar, z), so that a
    loss can be recomputed by hand on exactly the same sample z."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.mu = torch.randn(M, D, generator=g, dtype=torch.float64)
        self.logvar = 0.5 * torch.randn(M, D, generator=g, dtype=torch.float64) - 0.5
        self.z = self.mu + (0.5 * self.logvar).exp() * torch.randn(M, D, generator=g, dtype=torch.float64)
        self.log_px = -100 * torch.rand(M, generator=g, dtype=torch.float64)
        self.weight = nn.Parameter(torch.zeros(()))  # fit()/devices need one parameter

    def forward(self, x):
        return x, self.mu, self.logvar, self.z

    def log_px_given_z(self, x, x_params):
        return self.log_px


def _log_n(x, mu, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mu) ** 2 / math.exp(logvar))


def _hand_log_q(model, i, dims, estimator):
    """log sum_j w_ij prod_{d in dims} q(z_id|x_j) by explicit loops over j and d."""
    total = 0.0
    for j in range(M):
        if estimator == "mws":
            w = 1 / (N * M)
        else:
            w = 1 / N if j == i else (N - 1) / (N * (M - 1))
        dens = math.exp(sum(_log_n(model.z[i, d].item(), model.mu[j, d].item(), model.logvar[j, d].item())
                            for d in dims))
        total += w * dens
    return math.log(total)


def _hand_terms(model, estimator):
    """Batch means of MI, TC, DWKL and the HFVAE split, each sample done by hand."""
    sums = dict.fromkeys(("mi", "tc", "dwkl", "between", "within"), 0.0)
    for i in range(M):
        zi = model.z[i]
        log_qzx = sum(_log_n(zi[d].item(), model.mu[i, d].item(), model.logvar[i, d].item()) for d in range(D))
        joint = _hand_log_q(model, i, range(D), estimator)
        dims = sum(_hand_log_q(model, i, [d], estimator) for d in range(D))
        grouped = sum(_hand_log_q(model, i, g, estimator) for g in GROUPS)
        log_pz = sum(_log_n(zi[d].item(), 0.0, 0.0) for d in range(D))
        for name, value in (("mi", log_qzx - joint), ("tc", joint - dims), ("dwkl", dims - log_pz),
                            ("between", joint - grouped), ("within", grouped - dims)):
            sums[name] += value / M
    return sums


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_beta_tcvae_loss_equals_hand_computation(estimator):
    model = FixedVAE()
    hand = _hand_terms(model, estimator)
    loss, logs = losses.beta_tcvae_loss(N, alpha=0.5, beta=6.0, gamma=2.0, estimator=estimator)(model, model.z, 0)
    expected = -model.log_px.mean().item() + 0.5 * hand["mi"] + 6.0 * hand["tc"] + 2.0 * hand["dwkl"]
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    for name in ("mi", "tc", "dwkl"):
        assert logs[name].item() == pytest.approx(hand[name], rel=1e-9, abs=1e-9)
    assert logs["rec"].item() == pytest.approx(model.log_px.mean().item())


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_unit_weights_give_the_per_sample_kl_whatever_the_estimator(estimator):
    model = FixedVAE(seed=1)
    loss, _ = losses.beta_tcvae_loss(N, alpha=1.0, beta=1.0, gamma=1.0, estimator=estimator)(model, model.z, 0)
    log_q = sum(_log_n(model.z[i, d].item(), model.mu[i, d].item(), model.logvar[i, d].item())
                for i in range(M) for d in range(D)) / M
    log_p = sum(_log_n(model.z[i, d].item(), 0.0, 0.0) for i in range(M) for d in range(D)) / M
    assert loss.item() + model.log_px.mean().item() == pytest.approx(log_q - log_p, rel=1e-9)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_hfvae_loss_equals_hand_computation(estimator):
    model = FixedVAE(seed=2)
    hand = _hand_terms(model, estimator)
    loss, logs = losses.hfvae_loss(N, GROUPS, alpha=0.5, beta=8.0, gamma=2.0, estimator=estimator)(model, model.z, 0)
    expected = (-model.log_px.mean().item() + 0.5 * hand["mi"] + 8.0 * hand["between"]
                + 2.0 * hand["within"] + hand["dwkl"])
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert logs["kl_qz"].item() == pytest.approx(hand["tc"] + hand["dwkl"], rel=1e-9)


def test_hfvae_with_equal_group_weights_is_beta_tcvae():
    model = FixedVAE(seed=3)
    hf, _ = losses.hfvae_loss(N, GROUPS, alpha=0.7, beta=5.0, gamma=5.0)(model, model.z, 0)
    tc, _ = losses.beta_tcvae_loss(N, alpha=0.7, beta=5.0, gamma=1.0)(model, model.z, 0)
    assert hf.item() == pytest.approx(tc.item(), rel=1e-9)
    unequal, _ = losses.hfvae_loss(N, GROUPS, alpha=0.7, beta=5.0, gamma=0.0)(model, model.z, 0)
    assert abs(unequal.item() - tc.item()) > 1e-6


def test_warmup_scales_the_penalty():
    model = FixedVAE(seed=4)
    rec = -model.log_px.mean().item()
    full, _ = losses.beta_tcvae_loss(N)(model, model.z, 0)
    ramp, _ = losses.beta_tcvae_loss(N, warmup_steps=10)(model, model.z, 0)
    assert ramp.item() - rec == pytest.approx(0.1 * (full.item() - rec), rel=1e-9)


def test_losses_train_a_real_vae():
    torch.manual_seed(0)
    model = models.VAE.build("mlp", (1, 8, 8), 3, hidden=(16,))
    x = torch.rand(32, 1, 8, 8)
    for loss_fn in (losses.beta_tcvae_loss(100), losses.hfvae_loss(100, [[0], [1, 2]])):
        loss, logs = loss_fn(model, x, 0)
        loss.backward()
        assert torch.isfinite(loss) and set(logs) >= {"rec", "kl", "elbo", "mi", "dwkl", "kl_qz"}
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


class RecordingVAE(nn.Module):
    """A VAE that keeps the (mu, logvar, z) of its last forward pass, with their gradients."""

    def __init__(self, vae: models.VAE):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        out = self.vae(x)
        for t in out[1:]:
            t.retain_grad()
        self.latents = out[1:]
        return out

    def log_px_given_z(self, x, x_params):
        return self.vae.log_px_given_z(x, x_params)


def _reference_split(z, mu, logvar, dataset_size, groups):
    """The KL split as the estimators computed it before issue 18, written out: autograd through
    torch.logsumexp over the (M, M, D) table of ``pairwise_log_q``, MSS weights, log q(z|x) and
    log p(z) from ``objectives.log_normal``."""
    log_w = estimators.importance_weights(len(z), dataset_size, "mss", dtype=z.dtype)
    table = estimators.pairwise_log_q(z, mu, logvar)  # (M, M, D): log q(z_id | x_j)

    def mixture(log_q):  # log sum_j w_ij q(. | x_j) from the summed log densities (M, M)
        return torch.logsumexp(log_q + log_w, dim=1)

    joint = mixture(table.sum(2))
    dims = sum(mixture(table[:, :, d]) for d in range(z.shape[1]))
    grouped = sum(mixture(table[:, :, g].sum(2)) for g in groups)
    own = objectives.log_normal(z, mu, logvar).sum(1)
    prior = objectives.log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return {"mi": own - joint, "tc": joint - dims, "dwkl": dims - prior, "between": joint - grouped,
            "within": grouped - dims}


def _loss_and_gradients(loss_fn, model, x, step):
    """The loss, its logged values, and its gradients with respect to z, mu, logvar and every
    parameter."""
    model.zero_grad()
    torch.manual_seed(1)  # the same eps, so the same z, for every loss compared
    loss, logs = loss_fn(model, x, step)
    loss.backward()
    mu, logvar, z = model.latents
    return loss.detach(), logs, [z.grad, mu.grad, logvar.grad] + [p.grad.clone() for p in model.parameters()]


@pytest.fixture(scope="module")
def sprite_images():
    return recipe.sprites_data().x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("posteriors", ["wide", "narrow"])
@pytest.mark.parametrize("method", ["beta-TCVAE", "HFVAE"])
def test_tc_losses_unchanged_by_the_hand_written_estimators(sprite_images, method, posteriors, dtype):
    """Issue 18: the recipe's beta-TCVAE and HFVAE losses (M = 256 sprites, D = 8, its MLP), their
    value, logged terms and gradients with respect to z, mu, logvar and the weights, equal the
    formulas as computed before, to 1e-6 of each value in float64 (float32: to 2e-5 of each
    gradient's norm, as its rounding allows). "narrow": the encoder's last layer scaled so that
    the posteriors are narrow and far apart (logvar about -8 to -4), as after training."""
    r = recipe.SpritesRecipe()
    x = sprite_images[::45][:r.batch_size].to(dtype)
    torch.manual_seed(0)
    model = RecordingVAE(models.VAE.build("mlp", tuple(x.shape[1:]), r.latent_dim, hidden=r.hidden).to(dtype))
    if posteriors == "narrow":
        with torch.no_grad():
            model.vae.encoder.net[-1].weight.mul_(20.0)
            model.vae.encoder.net[-1].bias[r.latent_dim:] -= 6.0
    beta, step = 4.0, int(r.steps * r.warmup_fraction)  # past the warm-up: the full weights
    weights = {"mi": 1.0, "tc": beta, "dwkl": 1.0} if method == "beta-TCVAE" else \
        {"mi": 1.0, "between": beta, "within": 1.0, "dwkl": 1.0}

    def reference(model, x, step):
        x_params, mu, logvar, z = model(x)
        terms = {k: v.mean() for k, v in _reference_split(z, mu, logvar, len(sprite_images), r.groups).items()}
        return -model.log_px_given_z(x, x_params).mean() + sum(w * terms[k] for k, w in weights.items()), terms

    loss_fn = recipe.make_loss(method, len(sprite_images), r, beta)
    new_loss, new_logs, new_grads = _loss_and_gradients(loss_fn, model, x, step)
    ref_loss, ref_terms, ref_grads = _loss_and_gradients(reference, model, x, step)
    assert len(new_grads) == 3 + len(list(model.parameters()))
    rtol = 1e-6 if dtype == torch.float64 else 2e-5
    assert new_loss.item() == pytest.approx(ref_loss.item(), rel=rtol)
    for name in weights:
        assert new_logs[name].item() == pytest.approx(ref_terms[name].item(), rel=rtol, abs=rtol)
    for new, ref in zip(new_grads, ref_grads):
        if dtype == torch.float64:
            torch.testing.assert_close(new, ref, rtol=rtol, atol=1e-12 * ref.abs().max().item())
        else:
            assert (new - ref).norm() <= rtol * ref.norm()


@pytest.mark.parametrize("make,error,match", [
    (lambda: losses.beta_tcvae_loss(0), ValueError, "dataset_size"),
    (lambda: losses.beta_tcvae_loss(10, beta=-1.0), ValueError, "^beta must be >= 0"),
    (lambda: losses.beta_tcvae_loss(10, estimator="naive"), ValueError, "estimator"),
    (lambda: losses.beta_tcvae_loss(10, warmup_steps=-5), ValueError, "warmup_steps"),
    (lambda: losses.hfvae_loss(10, [[0, 1], [1, 2]]), ValueError, "partition"),
    (lambda: losses.hfvae_loss(10, "01"), TypeError, "groups"),
    (lambda: losses.hfvae_loss(10, [[0], [1]], gamma=-2.0), ValueError, "^gamma must be >= 0"),
])
def test_bad_arguments_raise_before_training(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dataset_smaller_than_the_batch_raises():
    model = FixedVAE()
    with pytest.raises(ValueError, match="dataset_size"):
        losses.beta_tcvae_loss(M - 1)(model, model.z, 0)
    with pytest.raises(ValueError, match="partition"):
        losses.hfvae_loss(N, [[0, 1], [2]])(model, model.z, 0)  # D = 4 but groups cover 3


def _small_vae():
    torch.manual_seed(0)
    return models.VAE.build("mlp", (1, 8, 8), 3, hidden=(16,)), torch.rand(10, 1, 8, 8)


def test_encode_all_matches_one_big_batch():
    model, x = _small_vae()
    mu, logvar = models.encode_all(model, x, batch_size=3)
    with torch.no_grad():
        mu_ref, logvar_ref = model.encode(x)
    assert torch.allclose(mu, mu_ref, atol=1e-6) and torch.allclose(logvar, logvar_ref, atol=1e-6)


def test_latent_traversal_changes_only_one_coordinate():
    model, _ = _small_vae()
    z0, values = torch.tensor([0.3, -1.0, 2.0]), torch.linspace(-2, 2, 5)
    images = traversals.latent_traversal(model, z0, 1, values)
    assert images.shape == (5, 1, 8, 8)
    for k, v in enumerate(values):
        z = torch.tensor([[0.3, v.item(), 2.0]])
        with torch.no_grad():
            assert torch.allclose(images[k], torch.sigmoid(model.decode(z))[0], atol=1e-6)
    rows = traversals.traversal_rows(model, z0, [0, 2], values)
    assert len(rows) == 2 and torch.equal(rows[1], traversals.latent_traversal(model, z0, 2, values))
    with pytest.raises(ValueError, match="dim"):
        traversals.latent_traversal(model, z0, 3, values)
    with pytest.raises(ValueError, match="z0"):
        traversals.latent_traversal(model, z0[None], 0, values)


def test_estimator_bias_at_the_full_batch():
    """With the whole data set as the batch, MSS is exact and MWS is off by exactly log N per
    mixture, so its TC by (D - 1) log N."""
    g = torch.Generator().manual_seed(0)
    n, d = 40, 3
    mu, logvar = torch.randn(n, d, generator=g, dtype=torch.float64), torch.full((n, d), -1.0, dtype=torch.float64)
    z = mu + (0.5 * logvar).exp() * torch.randn(n, d, generator=g, dtype=torch.float64)
    mss = estimators.estimator_bias(z, mu, logvar, n, "mss", repeats=2)
    mws = estimators.estimator_bias(z, mu, logvar, n, "mws", repeats=2)
    assert all(abs(v) < 1e-9 for v in mss.values())
    assert mws["tc"] == pytest.approx((d - 1) * math.log(n), rel=1e-9)
    assert mws["mi"] == pytest.approx(math.log(n), rel=1e-9)
    with pytest.raises(ValueError, match="batch_size"):
        estimators.estimator_bias(z, mu, logvar, 1, "mss")


def test_model_mig_scores_the_posterior_means():
    from vae_course import metrics
    model, x = _small_vae()
    factors = torch.randint(3, (10, 2), generator=torch.Generator().manual_seed(0))
    mu, _ = models.encode_all(model, x)
    assert disentangle.model_mig(model, x, factors, n_bins=4) == metrics.mig(mu.numpy(), factors.numpy(), n_bins=4)
    with pytest.raises(ValueError, match="factors"):
        disentangle.model_mig(model, x, factors[:5])


def test_factor_report_names_the_latent_of_each_factor():
    """A 'model' whose encoder returns the factors themselves (narrow posteriors) in shuffled
    latents: Chen's MIG is 1, each factor's best latent is where it was put, with all of its
    information."""
    grid = torch.cartesian_prod(torch.arange(3), torch.arange(4))
    x = grid.float().view(-1, 1, 1, 2)

    class FactorsAsCodes(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def encode(self, images):
            codes = images.flatten(1)[:, [1, 0]] * 3.0  # factor 0 in latent 1, factor 1 in latent 0
            return torch.cat([codes, torch.zeros(len(images), 1)], 1), torch.full((len(images), 3), -8.0)

    report = disentangle.factor_report(FactorsAsCodes(), x, grid, n_samples=500)
    assert report["mig_chen"] == pytest.approx(1.0, abs=0.02) and report["mig_binned"] == pytest.approx(1.0)
    assert report["best"].tolist() == [1, 0] and report["best_mi"] == pytest.approx([1.0, 1.0], abs=0.02)
    assert report["gap"] == pytest.approx([1.0, 1.0], abs=0.02)
    assert report["fraction_of_mi_sum"] == pytest.approx([1.0, 1.0], abs=0.02)
    assert report["mi"].shape == (3, 2) and report["mig_chen_no_shape"] == pytest.approx(1.0, abs=0.02)
    rows = disentangle.factor_rows(report, ["rows", "columns"])
    assert rows["rows"]["best latent"] == 2 and rows["columns"]["best latent"] == 1
    assert rows["rows"]["I(z_j*; v)/H(v)"] == pytest.approx(report["best_mi"][0])


def test_rotation_leaves_the_elbo_unchanged_and_rotates_the_marginals():
    model, x = _small_vae()
    rotation = rotated_twin.random_rotation(model.latent_dim, seed=3)
    assert torch.allclose(rotation @ rotation.T, torch.eye(model.latent_dim, dtype=torch.float64), atol=1e-12)
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)
    elbo, elbo_rot = rotated_twin.rotated_elbo(model, x, rotation, torch.Generator().manual_seed(0))
    assert torch.allclose(elbo, elbo_rot, atol=1e-3) and elbo.shape == (len(x),)
    mu, logvar = torch.randn(5, model.latent_dim, dtype=torch.float64), torch.randn(5, model.latent_dim, dtype=torch.float64)
    m, lv = rotated_twin.rotated_marginals(mu, logvar, rotation)
    cov = rotation @ torch.diag_embed(logvar.exp()) @ rotation.T  # the exact covariance of R z
    assert torch.allclose(m, mu @ rotation.T) and torch.allclose(lv.exp(), cov.diagonal(dim1=-2, dim2=-1))


def test_full_covariance_kl_matches_the_diagonal_formula_and_torch_distributions():
    from vae_course import objectives
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    diag = rotated_twin.kl_full_normal_std(mu, torch.diag_embed(logvar.exp()))
    assert torch.allclose(diag, objectives.kl_normal_std(mu, logvar))
    a = torch.randn(4, 4, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(4, dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(mu[0], cov)
    std = torch.distributions.MultivariateNormal(torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    expected = torch.distributions.kl_divergence(dist, std)
    assert rotated_twin.kl_full_normal_std(mu[:1], cov[None]).item() == pytest.approx(expected.item(), rel=1e-10)


def test_mean_and_spread_and_the_matched_distortion_verdict():
    rows = [{"mig_chen": 0.5, "distortion": 30.0}, {"mig_chen": 0.7, "distortion": 32.0}]
    stats = comparison.mean_and_spread(rows)
    assert stats["mig_chen"] == pytest.approx((0.6, 0.1)) and stats["distortion"] == pytest.approx((31.0, 1.0))
    curve = {1.0: {"distortion": 25.0, "mig_chen": 0.1}, 4.0: {"distortion": 35.0, "mig_chen": 0.3}}
    weak = [{"mig_chen": 0.2, "distortion": 31.0}, {"mig_chen": 0.22, "distortion": 31.0}]
    better = comparison.compare_at_matched_distortion(rows, weak, curve)
    assert better["at_same"] == pytest.approx(0.22) and better["gain"] == pytest.approx(0.39)
    assert better["better"] and "better MIG/reconstruction trade-off" in better["text"]  # 0.39 > 2 x 0.1
    noisy = [{"mig_chen": 0.2, "distortion": 31.0}, {"mig_chen": 0.6, "distortion": 31.0}]  # spread 0.2
    verdict = comparison.compare_at_matched_distortion(noisy, weak, curve)
    assert not verdict["better"] and "do not show" in verdict["text"]
    assert not comparison.compare_at_matched_distortion(weak, rows, curve)["better"]
    named = comparison.compare_at_matched_distortion(rows, weak, curve, name="HFVAE", baseline_name="beta-TCVAE")
    assert "beta-TCVAE: 0.210" in named["text"] and "the beta-VAE curve gives 0.220" in named["text"]
    single = comparison.compare_at_matched_distortion(rows[:1], weak[:1], curve)  # no spread to compare with
    assert not single["better"] and "One seed" in single["text"]
    with pytest.raises(ValueError, match="at least one seed"):
        comparison.mean_and_spread([])


def test_encode_all_names_float64_data_and_autoencoders():
    model, x = _small_vae()
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 .* x.float\(\)"):
        models.encode_all(model, x.double())
    ae = models.Autoencoder.build("mlp", (1, 8, 8), 4)
    with pytest.raises(TypeError, match="must give a posterior \\(mu, logvar\\)"):
        models.encode_all(ae, x)


def test_sprites_scores_are_reproducible_and_in_range():
    from vae_course import sprites
    tiny = sprites.make(None, grid=True, sizes=(2, 2, 2, 2, 2), size=8)
    torch.manual_seed(0)
    model = models.VAE.build("mlp", (1, 8, 8), 3, hidden=(16,))
    first = disentangle.sprites_scores(model, tiny, n_samples=64)
    assert first == disentangle.sprites_scores(model, tiny, n_samples=64)
    assert set(first) == {"mig_chen", "mig_chen_no_shape", "mig_binned", "rate", "distortion",
                          *(f"I/H {name}" for name in tiny.names)}
    assert 0 <= first["mig_binned"] <= 1 and first["rate"] > 0 and first["distortion"] > 0
    with torch.no_grad():
        terms = losses.elbo_terms(model, tiny.x)  # one sample each: equal up to Monte Carlo noise
    assert first["rate"] == pytest.approx(terms["kl"].mean().item(), rel=1e-5)  # the KL is in closed form
    assert first["distortion"] == pytest.approx(-terms["rec"].mean().item(), rel=0.05)


def _linear_gaussian_vae(sigma2=1e-3):
    """2 pixels from 2 latents through orthogonal decoder directions of very different lengths
    (gains 4 and 0.4 before the sigmoid), with a linear encoder: which axes a diagonal posterior
    fits matters here."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2, 4))
    decoder = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Unflatten(1, (1, 1, 2)))
    with torch.no_grad():
        decoder[0].weight.copy_(torch.diag(torch.tensor([4.0, 0.4])))
    model = models.VAE(encoder, decoder, 2, (1, 1, 2), likelihood="gaussian", sigma2=sigma2)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(512, 2, generator=g)
    with torch.no_grad():
        x = model.decode(z) + sigma2 ** 0.5 * torch.randn(512, 1, 1, 2, generator=g)
    return model, x


def test_refit_keeps_the_model_and_rotates_the_decoder_and_the_means():
    model, x = _linear_gaussian_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rotation = rotated_twin.random_rotation(2, seed=0)
    frozen = rotated_twin.refit_diagonal_encoder(model, x, rotation, steps=1, lr=0.0)
    z = torch.randn(5, 2)
    with torch.no_grad():
        assert torch.allclose(frozen.decode(z), model.decode(z @ rotation.float()), atol=1e-6)
        mu, logvar = model.encode(x[:5])
        mu_twin, logvar_twin = frozen.encode(x[:5])
    assert torch.allclose(mu_twin, mu @ rotation.float().T, atol=1e-6) and torch.allclose(logvar_twin, logvar)
    refit = rotated_twin.refit_diagonal_encoder(model, x, rotation, steps=50)
    again = rotated_twin.refit_diagonal_encoder(model, x, rotation, steps=50)
    assert all(torch.equal(a, b) for a, b in zip(refit.parameters(), again.parameters()))  # seeded
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # a copy was trained
    assert torch.equal(refit.decoder[1][0].weight, model.decoder[0].weight)  # the decoder held fixed
    with pytest.raises(ValueError, match="rotation"):
        rotated_twin.refit_diagonal_encoder(model, x, torch.eye(3))
    with pytest.raises(ValueError, match="orthogonal"):
        rotated_twin.refit_diagonal_encoder(model, x, 2 * torch.eye(2))
    with pytest.raises(TypeError, match="must be a VAE"):
        rotated_twin.refit_diagonal_encoder(models.Autoencoder.build("mlp", (1, 8, 8), 2), x, torch.eye(2))


def test_the_best_diagonal_posterior_for_a_rotated_decoder_has_a_lower_elbo():
    """Rolinek et al. 2019: rotated by 45 degrees, the posterior's axes are no longer the
    decoder's; a diagonal Gaussian cannot follow, and loses: 0.9 nats measured (the Gaussian
    estimate log((a + b) / (2 sqrt(ab))), posterior precisions a, b at z = 0, gives 1.6)."""
    model, x = _linear_gaussian_vae()
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    turned = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    elbo = {}
    for name, rotation in (("same axes", torch.eye(2, dtype=torch.float64)), ("rotated", turned)):
        refit = rotated_twin.refit_diagonal_encoder(model, x, rotation, steps=300, batch_size=512, lr=0.1)
        terms = disentangle.mean_elbo_terms(refit, x)
        elbo[name] = -(terms["distortion"] + terms["rate"])
    assert elbo["same axes"] - elbo["rotated"] > 0.5, elbo


def test_response_curves_average_each_latent_over_the_other_factors():
    factors = torch.cartesian_prod(torch.arange(3), torch.arange(4))       # a 3 x 4 factorial set
    g = torch.Generator().manual_seed(0)
    mu = torch.stack([factors[:, 0].double() * 2.0,                        # carries factor 0
                      torch.randn(12, generator=g, dtype=torch.float64)], 1)  # carries nothing
    r = traversals.response_curves(mu, factors, 0)
    assert r.shape == (3, 2)
    for level in range(3):   # brute force: mean over the four images at that level
        torch.testing.assert_close(r[level], mu[factors[:, 0] == level].mean(0))
    assert torch.equal(r[:, 0], torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"k must be a factor index in \[0, 1\], got 2"):
        traversals.response_curves(mu, factors, 2)
    with pytest.raises(ValueError, match="none at \\[1\\]"):
        traversals.response_curves(mu[factors[:, 1] != 1], factors[factors[:, 1] != 1], 1)


def test_other_metrics_are_reproducible_and_in_range():
    from vae_course import sprites
    tiny = sprites.make(None, grid=True, sizes=(2, 2, 2, 2, 2), size=8)
    torch.manual_seed(0)
    model = models.VAE.build("mlp", (1, 8, 8), 3, hidden=(16,))
    first = disentangle.other_metrics(model, tiny.x, tiny.factors)
    assert first == disentangle.other_metrics(model, tiny.x, tiny.factors)
    assert set(first) == {"dci_d", "dci_c", "dci_i", "sap", "factorvae_score"}
    assert all(0 <= v <= 1 for v in first.values()), first
    mu = models.encode_all(model, tiny.x)[0].double().numpy()
    few = metrics.dci(mu, tiny.factors.numpy(), n_trees=3)  # the forests' size is passed on
    fewer = disentangle.other_metrics(model, tiny.x, tiny.factors, n_trees=3)
    assert (fewer["dci_d"], fewer["dci_c"]) == (few["disentanglement"], few["completeness"])
    with pytest.raises(ValueError, match="factors"):
        disentangle.other_metrics(model, tiny.x, tiny.factors[:3])


def test_rank_agreement_by_hand():
    rows = [{"a": 1, "b": 2, "c": 5, "d": 1}, {"a": 2, "b": 4, "c": 4, "d": 1},
            {"a": 3, "b": 3, "c": 3, "d": 1}, {"a": 4, "b": 8, "c": 1, "d": 1}]
    rho = comparison.rank_agreement(rows, ["a", "b", "c", "d"])
    # ranks a: 1 2 3 4, b: 1 3 2 4 (sum of squared rank differences 2), c: 4 3 2 1
    assert rho[0, 1] == pytest.approx(1 - 6 * 2 / (4 * (4 ** 2 - 1)))
    assert rho[0, 2] == pytest.approx(-1.0) and rho[0, 0] == pytest.approx(1.0)
    assert math.isnan(rho[0, 3]) and math.isnan(rho[3, 3])  # a score that is the same for every model
    with pytest.raises(ValueError, match=">= 3 models"):
        comparison.rank_agreement(rows[:2], ["a", "b"])


def test_tc_three_ways_reuses_the_exact_path_and_is_seeded():
    """The exact column is ``diagnostics.exact_kl_terms``'s TC at the same draws; the MSS column is
    the mean of ``kl_decomposition``'s TC over seeded batches (at M = N every batch is the whole
    set); everything repeats for a seed and changes with it."""
    model, x = _small_vae()
    got = disentangle.tc_three_ways(model, x, batch_size=len(x), repeats=3, discriminator_steps=20,
                                    n_exact=8, seed=1)
    assert got["exact"] == diagnostics.exact_kl_terms(model, x, n_samples=8, seed=1)["tc"]
    mu, logvar = models.encode_all(model, x)
    generator = torch.Generator().manual_seed(1)
    by_hand = 0.0
    for _ in range(3):
        index = torch.randperm(len(x), generator=generator)
        z = mu[index] + (0.5 * logvar[index]).exp() * torch.randn(mu.shape, generator=generator)
        by_hand += estimators.kl_decomposition(z, mu[index], logvar[index], len(x))["tc"].item() / 3
    assert got["mss"] == pytest.approx(by_hand, abs=1e-5)
    assert math.isfinite(got["discriminator"])
    assert got == disentangle.tc_three_ways(model, x, batch_size=len(x), repeats=3, discriminator_steps=20,
                                            n_exact=8, seed=1)
    assert got != disentangle.tc_three_ways(model, x, batch_size=len(x), repeats=3, discriminator_steps=20,
                                            n_exact=8, seed=2)
