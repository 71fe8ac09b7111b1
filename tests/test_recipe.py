"""The sprites recipe: deterministic for a seed, and its model cache used when valid and
ignored when stale or unreadable."""
import dataclasses

import pytest
import torch

from vae_course import model_cache, recipe, train

TINY = recipe.SpritesRecipe(latent_dim=4, hidden=(16,), steps=4, batch_size=8)
X = torch.rand(32, 1, 6, 6, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def fits(monkeypatch):
    """Counts the calls of train.fit made by the recipe."""
    calls = []
    real = train.fit

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe.train, "fit", counting)
    return calls


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("method", recipe.METHODS)
def test_the_recipe_is_deterministic_for_a_seed(cache, method):
    runs = [recipe.train_sprites_vae(method, X, beta=4.0, seed=s, recipe=TINY, cache=False, progress=False)
            for s in (3, 3, 4)]
    assert torch.equal(weights(runs[0][0]), weights(runs[1][0]))
    assert runs[0][1].train["loss"] == runs[1][1].train["loss"]
    assert not torch.equal(weights(runs[0][0]), weights(runs[2][0]))
    assert not any(cache.rglob("*.pt"))  # cache=False writes nothing


def test_a_cached_model_is_reused(cache, fits):
    model, history, info = recipe.train_sprites_vae("beta-TCVAE", X, beta=6.0, seed=1, recipe=TINY, progress=False)
    assert not info["cached"] and len(fits) == 1
    files = list((cache / "models").glob("*.pt"))
    assert len(files) == 1 and not list((cache / "models").glob(".partial-*"))
    again, history2, info2 = recipe.train_sprites_vae("beta-TCVAE", X, beta=6.0, seed=1, recipe=TINY, progress=False)
    assert info2["cached"] and len(fits) == 1 and info2["seconds"] == info["seconds"]
    assert torch.equal(weights(model), weights(again)) and history2.train["loss"] == history.train["loss"]


@pytest.mark.parametrize("change", [
    dict(recipe=dataclasses.replace(TINY, steps=5)), dict(beta=5.0), dict(seed=2), dict(x=X.flip(0)),
    dict(method="HFVAE"),
])
def test_a_different_recipe_seed_or_data_trains_afresh(cache, fits, change):
    args = dict(method="beta-TCVAE", x=X, beta=6.0, seed=1, recipe=TINY)
    recipe.train_sprites_vae(**args, progress=False)
    _, _, info = recipe.train_sprites_vae(**{**args, **change}, progress=False)
    assert not info["cached"] and len(fits) == 2


def test_a_stale_or_corrupt_cache_file_is_ignored_and_replaced(cache, fits):
    args = dict(method="beta-VAE", x=X, beta=4.0, seed=0, recipe=TINY, progress=False)
    recipe.train_sprites_vae(**args)
    (path,) = (cache / "models").glob("*.pt")
    path.write_bytes(b"not a model")  # truncated or foreign
    _, _, info = recipe.train_sprites_vae(**args)
    assert not info["cached"] and len(fits) == 2
    saved = torch.load(path, weights_only=True)
    saved["key"] = "0" * 64  # a file from other code under the same name
    torch.save(saved, path)
    _, _, info = recipe.train_sprites_vae(**args)
    assert not info["cached"] and len(fits) == 3
    _, _, info = recipe.train_sprites_vae(**args)
    assert info["cached"] and len(fits) == 3


SOURCE = '''"""A training module."""
import torch


def step(x):
    """Scale x."""
    return 2 * x  # twice
'''


def test_a_docstring_or_comment_edit_keeps_the_code_fingerprint():
    key = model_cache.code_fingerprint([SOURCE])
    for edit in [SOURCE.replace("Scale x.", "Scale x (a typo fixed)."),
                 SOURCE.replace("A training module.", "The training module."),
                 SOURCE.replace("# twice", "# two times"),
                 SOURCE.replace("return 2 * x", "return 2*x")]:  # layout only
        assert model_cache.code_fingerprint([edit]) == key, edit


def test_a_code_edit_changes_the_code_fingerprint():
    key = model_cache.code_fingerprint([SOURCE])
    for edit in [SOURCE.replace("2 * x", "3 * x"), SOURCE.replace("import torch", "import math"),
                 SOURCE.replace('"""Scale x."""', '"""Scale x."""\n    x = x + 0')]:
        assert model_cache.code_fingerprint([edit]) != key, edit


def test_cache_key_changes_with_the_training_code(monkeypatch):
    key = recipe.cache_key("beta-VAE", TINY, 4.0, 1.0, 0, X)
    assert key == recipe.cache_key("beta-VAE", TINY, 4.0, 1.0, 0, X)
    real = recipe._training_code
    monkeypatch.setattr(recipe, "_training_code", lambda: [*real()[:-1], real()[-1] + "\nEDITED = 1\n"])
    assert recipe.cache_key("beta-VAE", TINY, 4.0, 1.0, 0, X) != key


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(method="VAE"), ValueError, "method must be one of"),
    (dict(beta=-1.0), ValueError, "beta must be >= 0"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(x=X[0]), ValueError, "x must have 4 dimensions"),
    (dict(method="FactorVAE", beta=0.5), ValueError, "1 \\+ gamma, so it must be >= 1, got 0.5"),
])
def test_bad_input_is_rejected_before_training(cache, fits, kwargs, error, match):
    args = dict(method="beta-VAE", x=X, beta=4.0, seed=0, recipe=TINY, progress=False)
    with pytest.raises(error, match=match):
        recipe.train_sprites_vae(**{**args, **kwargs})
    assert not fits


def test_factorvae_is_beta_tcvae_objective_with_its_vae_on_batches_of_the_recipe(cache, monkeypatch):
    """FactorVAE at beta weighs the TC by 1 + gamma = beta, and draws twice the recipe's batch so
    that its VAE, on one half, sees batches as large as the other losses'."""
    loss_fn = recipe.make_loss("FactorVAE", len(X), TINY, beta=6.0, seed=2)
    assert loss_fn.gamma == 5.0
    sizes = []
    real = train.fit
    monkeypatch.setattr(recipe.train, "fit", lambda *a, **k: sizes.append(k["batch_size"]) or real(*a, **k))
    recipe.train_sprites_vae("FactorVAE", X, beta=6.0, recipe=TINY, cache=False, progress=False)
    recipe.train_sprites_vae("beta-TCVAE", X, beta=6.0, recipe=TINY, cache=False, progress=False)
    assert sizes == [2 * TINY.batch_size, TINY.batch_size]
    assert str(recipe.SpritesModel("FactorVAE", 6.0)) == "FactorVAE gamma=5 seed 0"
    assert recipe.SpritesModel("FactorVAE", recipe.BETA_TC) in recipe.notebook_models(9)


def test_hfvae_groups_are_pairs_of_latents():
    assert recipe.SpritesRecipe(latent_dim=5).groups == [[0, 1], [2, 3], [4]]
