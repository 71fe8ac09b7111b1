"""Notebooks 07's, 11's, 12's and 14's networks, 12's code priors and 14's flows (chapter_models):
each trained from its own seed, so a cached one is what a fresh run trains; loaded with its history
(and 12's code-usage record) when its key matches, retrained when not."""
import pytest
import torch

from vae_course import chapter_models, train

NAMES = chapter_models.notebook_networks(7)
NETWORKS = [(nn, name) for nn in (7, 11, 12, 14) for name in chapter_models.notebook_networks(nn)]


@pytest.fixture
def short(tmp_path, monkeypatch):
    """A fresh cache in quick mode, three steps per network of 07, 11 and 14 and 24 of 12 (a
    checkpoint every 2), and the train.fit calls."""
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    for nn, steps in [(7, 3), (11, 3), (12, 24), (14, 3)]:
        for settings in chapter_models.SETTINGS[nn].values():
            monkeypatch.setitem(settings, "steps", (steps, steps))
    calls, real = [], train.fit
    monkeypatch.setattr(chapter_models.train, "fit",
                        lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    return tmp_path, calls


def weights(model):
    return torch.cat([t.detach().float().flatten() for t in model.state_dict().values()])


@pytest.mark.parametrize("nn, name", NETWORKS)
def test_a_network_is_trained_once_then_loaded_with_its_history(short, nn, name):
    _, calls = short
    assert not chapter_models.is_cached(nn, name)
    model, history, info = chapter_models.train_network(nn, name, progress=False)
    assert not info["cached"] and info["path"].exists() and history.steps
    assert chapter_models.is_cached(nn, name) and calls == [name]
    torch.manual_seed(123)  # the global stream does not matter: each network seeds itself
    again, history2, info2 = chapter_models.train_network(nn, name, progress=False)
    assert info2["cached"] and calls == [name] and torch.equal(weights(model), weights(again))
    assert history2.to_dict() == history.to_dict()
    assert ("used" in info) == ("used" in info2) == (nn == 12)


@pytest.mark.parametrize("name", chapter_models.notebook_networks(12))
def test_a_vq_vae_keeps_its_code_usage_record(short, name):
    _, _, info = chapter_models.train_network(12, name, progress=False)
    _, _, loaded = chapter_models.train_network(12, name, progress=False)
    assert list(info["used"]) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
    assert all(torch.equal(info["used"][s], loaded["used"][s]) for s in info["used"])
    assert all(used.shape == (128,) and used.dtype == torch.bool for used in info["used"].values())


def test_the_vae_logs_held_out_terms_for_its_curves(short):
    _, history, _ = chapter_models.train_network(7, "VAE", progress=False)
    assert {"rec", "kl"} <= set(history.eval) and history.eval_steps


def test_a_fresh_run_trains_the_same_weights_whatever_ran_before(short, tmp_path, monkeypatch):
    first, _, _ = chapter_models.train_network(7, "2-D VAE", progress=False)
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "other"))
    torch.randn(100)  # move the global stream, as a previous cell would
    second, _, info = chapter_models.train_network(7, "2-D VAE", progress=False)
    assert not info["cached"] and torch.equal(weights(first), weights(second))


@pytest.mark.parametrize("change", [("seed", 1), ("lr", 1e-3), ("steps", (4, 4)), ("D", 3)])
def test_other_settings_or_seed_train_afresh(short, monkeypatch, change):
    _, calls = short
    first, _, _ = chapter_models.train_network(7, "2-D VAE", progress=False)
    monkeypatch.setitem(chapter_models.SETTINGS[7]["2-D VAE"], *change)
    second, _, info = chapter_models.train_network(7, "2-D VAE", progress=False)
    assert not info["cached"] and len(calls) == 2 and info["path"].exists()


def test_other_data_trains_afresh(short, monkeypatch):
    _, calls = short
    chapter_models.train_network(7, "Gaussian conv VAE", progress=False)
    x, _ = chapter_models.training_data(7, "Gaussian conv VAE")
    monkeypatch.setattr(chapter_models, "training_data", lambda nn, name: (x.flip(0), None))
    _, _, info = chapter_models.train_network(7, "Gaussian conv VAE", progress=False)
    assert not info["cached"] and len(calls) == 2


@pytest.mark.parametrize("args, match", [((7, "GAN"), "name must be one of"),
                                         ((99, "VAE"), "notebook must be one of")])
def test_bad_network_is_rejected_before_training(short, args, match):
    with pytest.raises(ValueError, match=match):
        chapter_models.train_network(*args)
    assert short[1] == []


def test_notebooks_list_their_networks_priors_and_flows():
    assert NAMES == ["Gaussian conv VAE", "VAE", "2-D VAE", "autoencoder"]
    assert chapter_models.notebook_networks(12) == ["VQ-VAE", "VQ-VAE + restarts",
                                                    "VQ-VAE, EMA codebook"]
    assert chapter_models.notebook_networks(14) == ["VAE", "KL-autoencoder"]
    assert chapter_models.notebook_networks(13) == [] and chapter_models.notebook_networks(8) == []
    assert chapter_models.notebook_priors(12) == list(chapter_models.PRIORS)
    assert chapter_models.notebook_priors(14) == ["PixelCNN prior"] and chapter_models.notebook_priors(7) == []
    assert chapter_models.notebook_flows(14) == ["flow on codes x 0.2 / s", "flow on codes x 1 / s",
                                                 "flow on codes x 5 / s", "flow prior"]
    assert chapter_models.notebook_flows(12) == []


def test_the_kl_autoencoder_weighs_its_kl_and_reads_grey_digits():
    """Notebook 14's KL-autoencoder: grey digits (not binarized), no held-out set, and the
    loss -(rec - 0.05 kl) of its settings' KL weight; its VAE beside it binarizes."""
    x, x_eval = chapter_models.training_data(14, "KL-autoencoder")
    assert x_eval is None and len(x.unique()) > 2
    model, loss_fn = chapter_models.build(14, "KL-autoencoder", tuple(x.shape[1:]))
    torch.manual_seed(1)
    loss, logs = loss_fn(model, x[:64], 10)
    assert chapter_models.SETTINGS[14]["KL-autoencoder"]["beta"] == 0.05
    assert loss.item() == pytest.approx(-(logs["rec"] - 0.05 * logs["kl"]).item(), rel=1e-5)
    vae, vae_loss = chapter_models.build(14, "VAE", tuple(x.shape[1:]))
    seen = []
    vae.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    vae_loss(vae, x[:64], 10)
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}


def test_the_cvae_trains_on_labelled_pairs_and_is_scored_on_held_out_pairs(short):
    """Notebook 11's CVAE: (images, labels) in, held-out (binarized images, labels) logged; the
    VAE beside it reads images only."""
    x, x_eval = chapter_models.training_data(11, "CVAE")
    assert isinstance(x, tuple) and len(x) == 2 and x[1].dtype == torch.int64
    assert set(x_eval[0].unique().tolist()) <= {0.0, 1.0}
    model, history, _ = chapter_models.train_network(11, "CVAE", progress=False)
    assert isinstance(model, chapter_models.models.ConditionalVAE) and "elbo" in history.eval
    vae_x, _ = chapter_models.training_data(11, "VAE")
    assert isinstance(vae_x, torch.Tensor) and torch.equal(vae_x, x[0])


@pytest.fixture
def short_fits(short, monkeypatch):
    """``short``, with priors of four steps and flows of three."""
    for fits, steps in [(chapter_models.PRIORS, 4), (chapter_models.FLOWS, 3)]:
        for settings in fits.values():
            monkeypatch.setitem(settings, "steps", (steps, steps))
    return short


# kind: (is it cached?, fit or load it, the network whose codes it learns, what info adds)
FITS = {"prior": (chapter_models.is_prior_cached, chapter_models.train_prior, "VQ-VAE + restarts", "maps"),
        "flow": (chapter_models.is_flow_cached, chapter_models.train_flow, "KL-autoencoder", "s")}


@pytest.mark.parametrize("kind, name", [("prior", n) for n in chapter_models.PRIORS]
                         + [("flow", n) for n in chapter_models.FLOWS])
def test_a_prior_or_flow_is_fit_once_then_loaded(short_fits, kind, name):
    _, calls = short_fits
    is_cached, fit, learns_from, added = FITS[kind]
    assert not is_cached(name) and calls == []  # trains nothing to answer
    model, history, info = fit(name, progress=False)
    assert not info["cached"] and calls == [learns_from, name]
    again, history2, info2 = fit(name, progress=False)
    assert info2["cached"] and is_cached(name) and len(calls) == 2
    assert torch.equal(weights(model), weights(again)) and history2.to_dict() == history.to_dict()
    assert torch.equal(torch.as_tensor(info[added]), torch.as_tensor(info2[added]))


@pytest.mark.parametrize("name", list(chapter_models.PRIORS))
def test_a_prior_learns_the_maps_and_their_jittered_copies(short_fits, name):
    maps, _ = chapter_models.prior_maps(name)
    copies = chapter_models.PRIORS[name]["copies"]
    assert len(maps) == (1 + copies) * len(chapter_models.training_data(12, "VQ-VAE")[0])


@pytest.mark.parametrize("kind, name, network", [("prior", "PixelCNN prior, bare maps", (12, "VQ-VAE + restarts")),
                                                 ("flow", "flow prior", (14, "KL-autoencoder"))])
def test_a_prior_or_flow_is_refit_when_its_network_changes(short_fits, monkeypatch, kind, name, network):
    _, calls = short_fits
    is_cached, fit, _, _ = FITS[kind]
    fit(name, progress=False)
    monkeypatch.setitem(chapter_models.SETTINGS[network[0]][network[1]], "seed", 1)
    assert not is_cached(name)
    _, _, info = fit(name, progress=False)
    assert not info["cached"] and calls == [network[1], name] * 2


@pytest.mark.parametrize("name", list(chapter_models.FLOWS))
def test_a_flow_learns_its_scale_of_the_autoencoder_codes(short_fits, name):
    """The codes scale * mu(x_n) / s: standard deviation ``scale``, s that of the codes mu(x_n)
    of the training digits under the (cached) KL-autoencoder; held-out codes for the prior only."""
    codes, held_out, s = chapter_models.flow_codes(name)
    kl_ae, _, _ = chapter_models.train_network(14, "KL-autoencoder", progress=False)
    x, _ = chapter_models.training_data(14, "KL-autoencoder")
    with torch.no_grad():
        mu = kl_ae.encode(x)[0]
    scale = chapter_models.FLOWS[name]["scale"]
    assert s == pytest.approx(mu.std().item()) and codes.std().item() == pytest.approx(scale, rel=1e-5)
    torch.testing.assert_close(codes, scale * mu / s)
    assert (held_out is not None) == (name == "flow prior")
