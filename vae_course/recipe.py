"""One recipe to train the sprites VAEs of notebooks 08-10 and 13, and a cache of what it trains.

Every model that the disentanglement notebooks compare (beta-VAE, beta-TCVAE, HFVAE, FactorVAE)
is the same MLP VAE trained on the same data with the same optimiser for the same number of
steps; only the loss differs (FactorVAE draws twice the batch: one half for the VAE, the other
for its discriminator's permuted codes). The choices, measured in ``benchmarks/mig_table.py``
and explained in notebook 08:

- the whole factorial set (``sprites.make(None, grid=True)``, 11,520 images): every factor
  combination once, so the factors are exactly independent and uniform, as the MIG assumes;
- batches of 256: the minibatch estimators of q(z) (notebook 09) improve with the batch size M;
- Adam at a constant learning rate, a linear KL warm-up over the first fifth of training.

A trained model is saved in the model cache (``model_cache``: ``config.cache_dir() / "models"``),
keyed by the recipe, the loss, its weights, the seed, the training images and the code that
trains it (docstrings and comments left out: a typo fixed in one does not retrain twelve models),
written atomically; notebooks 09, 10 and 13 then reuse what 08 trained instead of training it
again. A file whose key does not match, or that cannot be read, is ignored and overwritten.

Which models each notebook trains is listed once, in ``notebook_models``, built from the
constants the notebooks themselves use (``BETA_SWEEP``, ``TC_SWEEP``, ``BETA_VAE``, ``BETA_TC``, ``GAMMA``,
``comparison_seeds``): ``python3 -m vae_course prepare`` trains that list ahead of time.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from vae_course import config, factorvae, losses, model_cache, models, sprites, train, validate
from vae_course.losses import LossFn
from vae_course.train import History

METHODS = ("beta-VAE", "beta-TCVAE", "HFVAE", "FactorVAE")
# The modules whose code decides what a recipe trains: a change to any of them retrains.
_TRAINING_CODE = ("recipe", "factorvae", *model_cache.TRAINING_CODE)

BETA_SWEEP = (1.0, 2.0, 4.0, 8.0)  # notebook 08's beta-VAEs (seed 0), the curve 09 and 10 draw
TC_SWEEP = (8.0,)                  # notebook 09's beta-TCVAEs (seed 0) beside the sweep (+ BETA_TC)
BETA_VAE = 4.0                     # the beta-VAE that notebooks 09, 10 and 13 compare with
BETA_TC = 6.0                      # the weight on the TC: beta-TCVAE's, FactorVAE's 1 + gamma, and
                                   # HFVAE's on the between-group TC
GAMMA = 1.0                        # HFVAE's weight on the within-group TC


@dataclasses.dataclass(frozen=True)
class SpritesRecipe:
    """How every sprites VAE is trained: an MLP VAE with D = ``latent_dim`` latents and
    ``hidden`` widths, ``steps`` Adam steps of ``batch_size`` images at learning rate ``lr``,
    the KL weights ramped up over the first ``warmup_fraction`` of the steps."""
    latent_dim: int = 8
    hidden: tuple[int, ...] = (256, 128)
    steps: int = 4000
    batch_size: int = 256
    lr: float = 1e-3
    warmup_fraction: float = 0.2

    @property
    def groups(self) -> list[list[int]]:
        """HFVAE's groups: consecutive pairs of latent dimensions."""
        return [list(range(d, min(d + 2, self.latent_dim))) for d in range(0, self.latent_dim, 2)]


def sprites_recipe() -> SpritesRecipe:
    """The course's recipe: full mode as above, quick mode the same with 60 steps."""
    return SpritesRecipe(steps=config.pick(4000, 60))


def comparison_seeds() -> list[int]:
    """The seeds over which notebooks 09 and 10 compare the losses: 0, 1, 2 (quick mode: 0)."""
    return config.pick([0, 1, 2], [0])


@dataclasses.dataclass(frozen=True)
class SpritesModel:
    """One sprites model a notebook trains: ``train_sprites_vae(method, x, beta=beta,
    seed=seed, gamma=gamma)``."""
    method: str
    beta: float
    seed: int = 0
    gamma: float = GAMMA

    def __str__(self) -> str:
        if self.method == "FactorVAE":  # named by Kim and Mnih's gamma, the weight on top of the KL's
            return f"FactorVAE gamma={self.beta - 1:g} seed {self.seed}"
        gamma = f", gamma={self.gamma:g}" if self.method == "HFVAE" else ""
        return f"{self.method} beta={self.beta:g}{gamma} seed {self.seed}"


def notebook_models(notebook: int) -> list[SpritesModel]:
    """The sprites models that notebook ``notebook`` trains through the cache, in the order it
    trains them (none for a notebook not in 08, 09, 10, 13). Quick mode lists fewer seeds."""
    validate.positive_int("notebook", notebook, minimum=0)
    seeds = comparison_seeds()
    sweep = [SpritesModel("beta-VAE", beta) for beta in BETA_SWEEP]
    pairs = [SpritesModel(method, beta, seed) for seed in seeds
             for method, beta in (("beta-VAE", BETA_VAE), ("beta-TCVAE", BETA_TC))]
    hfvae = [SpritesModel("HFVAE", BETA_TC, seed) for seed in seeds]
    tc_sweep = [SpritesModel("beta-TCVAE", beta) for beta in TC_SWEEP]
    lists = {8: sweep, 9: pairs + sweep + tc_sweep + [SpritesModel("FactorVAE", BETA_TC)],
             10: hfvae + pairs + sweep,
             13: [SpritesModel("beta-VAE", BETA_VAE), SpritesModel("beta-TCVAE", BETA_TC),
                  SpritesModel("HFVAE", BETA_TC)]}
    return list(dict.fromkeys(lists.get(notebook, [])))  # each once, in order


def sprites_data() -> sprites.Sprites:
    """The data every recipe trains on: the whole factorial set of sprites (11,520 images)."""
    return sprites.make(None, grid=True)


def make_loss(method: str, dataset_size: int, recipe: SpritesRecipe, beta: float, gamma: float = GAMMA,
              seed: int = 0) -> LossFn:
    """The training loss of ``method`` (one of ``METHODS``) with weight ``beta``: beta-VAE's on
    the whole KL, beta-TCVAE's on the TC (MSS estimates of q(z) over a data set of
    ``dataset_size`` images), HFVAE's on the between-group TC (and ``gamma`` on the within-group
    TC), FactorVAE's total weight on the TC, 1 + its gamma (its discriminator's weights from
    ``seed``): FactorVAE at beta is beta-TCVAE's objective at beta with another TC estimator."""
    validate.one_of("method", method, METHODS)
    warmup = int(recipe.steps * recipe.warmup_fraction)
    if method == "FactorVAE":
        if beta < 1:
            raise ValueError(f"beta is FactorVAE's total weight on the TC, 1 + gamma, so it must be >= 1, got {beta}")
        return factorvae.factorvae_loss(recipe.latent_dim, gamma=beta - 1.0, warmup_steps=warmup, seed=seed)
    if method == "beta-VAE":
        return losses.vae_loss(beta=beta, warmup_steps=warmup)
    if method == "beta-TCVAE":
        return losses.beta_tcvae_loss(dataset_size, beta=beta, warmup_steps=warmup)
    return losses.hfvae_loss(dataset_size, recipe.groups, beta=beta, gamma=gamma, warmup_steps=warmup)


def _training_code() -> list[str]:
    return model_cache.module_sources(_TRAINING_CODE)


def cache_key(method: str, recipe: SpritesRecipe, beta: float, gamma: float, seed: int, x: torch.Tensor) -> str:
    """A hex digest of everything that decides the trained weights: the recipe, the loss and its
    weights, the seed, the training images and the training code (``model_cache.cache_key``)."""
    described = {"method": method, "recipe": dataclasses.asdict(recipe),
                 "beta": float(beta), "gamma": float(gamma), "seed": seed}
    return model_cache.cache_key(described, [x], _training_code())


def cache_path(method: str, beta: float, seed: int, key: str) -> Path:
    """Where the model of ``key`` is kept: in the model cache, never the repository."""
    return model_cache.cache_path(f"{method}-beta{beta:g}-seed{seed}", key)


def is_cached(model: SpritesModel, x: torch.Tensor, recipe: SpritesRecipe | None = None) -> bool:
    """True when the cache holds a readable file of ``model`` trained by ``recipe`` on ``x``,
    so that ``train_sprites_vae`` would load it instead of training."""
    recipe = recipe or sprites_recipe()
    key = cache_key(model.method, recipe, model.beta, model.gamma, model.seed, x)
    return model_cache.load(cache_path(model.method, model.beta, model.seed, key), key) is not None


def train_sprites_vae(method: str, x: torch.Tensor, *, beta: float, seed: int = 0, gamma: float = GAMMA,
                      recipe: SpritesRecipe | None = None, cache: bool = True,
                      progress: bool = True) -> tuple[models.VAE, History, dict]:
    """Train (or load from the cache) the ``method`` VAE of ``recipe`` on images ``x``
    (N, C, H, W) with weights seeded by ``seed``. Returns (model, history, info): ``info`` has
    "seconds" (the training time when it was trained), "cached" (whether it was loaded) and
    "path" (its file in the cache; written only when ``cache`` and training was not interrupted)."""
    validate.one_of("method", method, METHODS)
    validate.tensor("x", x, ndim=4)
    validate.positive_int("seed", seed, minimum=0)
    validate.non_negative("beta", beta)
    recipe = recipe or sprites_recipe()
    loss_fn = make_loss(method, len(x), recipe, beta, gamma, seed)  # checks the weights before any work
    torch.manual_seed(seed)
    model = models.VAE.build("mlp", tuple(x.shape[1:]), recipe.latent_dim, hidden=recipe.hidden)
    key = cache_key(method, recipe, beta, gamma, seed, x)
    path = cache_path(method, beta, seed, key)
    saved = model_cache.load(path, key, model) if cache else None
    if saved is not None:
        info = {"seconds": saved["seconds"], "cached": True, "path": path}
        return model.eval(), History.from_dict(saved["history"]), info
    # FactorVAE's loss splits each batch: the VAE sees one half, as large as the others' batch.
    batch_size = recipe.batch_size * (2 if method == "FactorVAE" else 1)
    start = time.perf_counter()
    history = train.fit(model, loss_fn, x, steps=recipe.steps, batch_size=batch_size, lr=recipe.lr,
                        seed=seed, desc=f"{method} beta={beta:g} seed {seed}", progress=progress)
    seconds = time.perf_counter() - start
    if cache and not history.interrupted:
        model_cache.save(path, key, model, seconds=seconds, history=history.to_dict())
    return model, history, {"seconds": seconds, "cached": False, "path": path}
