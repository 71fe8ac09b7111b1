"""Notebook 13's line-up: each network trained from its own seed (so a cached one is what a
fresh run trains), loaded from the model cache when its key matches, retrained when not."""
import pytest
import torch

from vae_course import data, lineup, train

DIGITS = data.load_digits("train")
X, Y = DIGITS.x[:160], DIGITS.y[:160]  # more than one batch of 128


@pytest.fixture
def short(tmp_path, monkeypatch):
    """A fresh cache, five steps per network, and the train.fit calls."""
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(lineup, "steps", lambda: 5)
    calls, real = [], train.fit
    monkeypatch.setattr(lineup.train, "fit", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    return tmp_path, calls


def weights(model):
    return torch.cat([t.detach().float().flatten() for t in model.state_dict().values()])


@pytest.mark.parametrize("name", lineup.NAMES)
def test_a_network_is_trained_once_then_loaded(short, name):
    cache, calls = short
    assert not lineup.is_cached(name, X, Y)
    model, history, info = lineup.train_network(name, X, Y, progress=False)
    assert not info["cached"] and history is not None and info["path"].exists()
    assert lineup.is_cached(name, X, Y) and calls == [name]
    torch.manual_seed(123)  # the global stream does not matter: each network seeds itself
    again, _, info2 = lineup.train_network(name, X, Y, progress=False)
    assert info2["cached"] and calls == [name] and torch.equal(weights(model), weights(again))


def test_a_fresh_run_trains_the_same_weights_whatever_ran_before(short, tmp_path, monkeypatch):
    first, _, _ = lineup.train_network("VAE", X, Y, progress=False)
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "other"))
    torch.randn(100)  # move the global stream, as a previous cell would
    second, _, info = lineup.train_network("VAE", X, Y, progress=False)
    assert not info["cached"] and torch.equal(weights(first), weights(second))


@pytest.mark.parametrize("change", [dict(seed=1), dict(y=Y.flip(0)), dict(x=X.flip(0))])
def test_other_data_or_seed_trains_afresh(short, change):
    _, calls = short
    lineup.train_network("CVAE", X, Y, progress=False)
    args = {"x": X, "y": Y, "seed": 0, **change}
    _, _, info = lineup.train_network("CVAE", args["x"], args["y"], seed=args["seed"], progress=False)
    assert not info["cached"] and len(calls) == 2


def test_bad_name_is_rejected_before_training(short):
    with pytest.raises(ValueError, match="name must be one of"):
        lineup.train_network("GAN", X, Y)
    assert short[1] == []


def test_notebook_13_lists_every_network():
    assert lineup.notebook_networks(13) == list(lineup.NAMES) and lineup.notebook_networks(12) == []
