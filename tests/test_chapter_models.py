"""Notebooks 07's, 11's and 12's networks (chapter_models): each trained from its own seed, so a cached
one is what a fresh run trains; loaded with its history (and 12's code-usage record) when its key
matches, retrained when not."""
import pytest
import torch

from vae_course import chapter_models, train

NAMES = chapter_models.notebook_networks(7)
NETWORKS = [(nn, name) for nn in (7, 11, 12) for name in chapter_models.notebook_networks(nn)]


@pytest.fixture
def short(tmp_path, monkeypatch):
    """A fresh cache in quick mode, three steps per network of 07 and 24 of 12 (a checkpoint
    every 2), and the train.fit calls."""
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    for nn, steps in [(7, 3), (11, 3), (12, 24)]:
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


def test_notebooks_07_and_12_list_their_networks():
    assert NAMES == ["Gaussian conv VAE", "VAE", "2-D VAE", "autoencoder"]
    assert chapter_models.notebook_networks(12) == ["VQ-VAE", "VQ-VAE + restarts",
                                                    "VQ-VAE, EMA codebook"]
    assert chapter_models.notebook_networks(13) == [] and chapter_models.notebook_networks(8) == []


@pytest.fixture
def short_priors(short, monkeypatch):
    """``short``, with priors of four steps."""
    for settings in chapter_models.PRIORS.values():
        monkeypatch.setitem(settings, "steps", (4, 4))
    return short


@pytest.mark.parametrize("name", list(chapter_models.PRIORS))
def test_a_prior_is_fit_once_then_loaded(short_priors, name):
    _, calls = short_priors
    assert not chapter_models.is_prior_cached(name) and calls == []  # trains nothing to answer
    prior, history, info = chapter_models.train_prior(name, progress=False)
    assert not info["cached"] and calls == ["VQ-VAE + restarts", name]
    again, history2, info2 = chapter_models.train_prior(name, progress=False)
    assert info2["cached"] and chapter_models.is_prior_cached(name) and len(calls) == 2
    assert torch.equal(weights(prior), weights(again)) and history2.to_dict() == history.to_dict()
    assert torch.equal(info["maps"], info2["maps"])
    copies = chapter_models.PRIORS[name]["copies"]
    assert len(info["maps"]) == (1 + copies) * len(chapter_models.training_data(12, "VQ-VAE")[0])


def test_a_prior_is_refit_when_its_vq_vae_changes(short_priors, monkeypatch):
    _, calls = short_priors
    chapter_models.train_prior("PixelCNN prior, bare maps", progress=False)
    monkeypatch.setitem(chapter_models.SETTINGS[12]["VQ-VAE + restarts"], "seed", 1)
    _, _, info = chapter_models.train_prior("PixelCNN prior, bare maps", progress=False)
    assert not info["cached"] and len(calls) == 4


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
