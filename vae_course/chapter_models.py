"""The networks a chapter notebook trains outside the sprites recipe and notebook 13's line-up,
described once (``SETTINGS``), so that the notebook and ``python3 -m vae_course prepare`` train
the same ones, each from its own seed, into the one model cache (``model_cache``).

Notebook 07: a convolutional VAE with a learned Gaussian variance on the grey 8x8 ``digits``;
an MLP VAE (D = 16, hidden 512-256, Bernoulli decoder, KL warm-up) and its 2-D twin on
dynamically binarized MNIST (``digits`` in quick mode or without MNIST); the autoencoder
(grey images, squared error) that the VAE's samples are compared with. Each is built and
trained after ``torch.manual_seed(seed)``, so a model loaded from the cache is the one a fresh
run trains; its training history is kept beside it, so the notebook reads the same either way.

Notebook 11: a conditional VAE and a VAE (D = 2, hidden 512-256, Bernoulli decoders) on the
``digits``, binarized afresh in every batch and scored on the test digits binarized once (seed 0);
the CVAE trains on (image, label) pairs.

Notebook 12: three VQ-VAEs on the grey ``digits`` (K = 128 codes of size D = 8, width 32, one
stride-2 step), with the codebook loss, with dead-code restarts every ``steps // 12`` steps, and
with an EMA codebook (decay 0.95); each keeps its record of the codes in use on the training set
every ``steps // 12`` steps (``vq.usage_checkpoints``) beside its history. Its two PixelCNN priors
(``PRIORS``, ``code_prior.fit_prior``, seeded there) learn the code maps of the restarted VQ-VAE,
with or without 20 jittered copies (sigma = 0.3) of each training digit's map.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from vae_course import (code_prior, config, corruption, data, losses, model_cache, models, train,
                        validate, vq)
from vae_course.losses import Batch, LossFn
from vae_course.train import History

# What decides each network's weights (JSON-able), by notebook and name; "steps" is
# (full, quick) and "data" names a training set of ``training_data``.
SETTINGS: dict[int, dict[str, dict]] = {7: {
    "Gaussian conv VAE": dict(data="grey digits", D=8, steps=(1500, 100), lr=5e-3,
                              schedule=None, seed=0),
    "VAE": dict(data="binarized", D=16, hidden=(512, 256), warmup=1000, steps=(5000, 300),
                lr=2e-3, schedule="cosine", eval=2000, seed=0),
    "2-D VAE": dict(data="binarized", D=2, hidden=(512, 256), warmup=500, steps=(2500, 200),
                    lr=2e-3, schedule="cosine", seed=0),
    "autoencoder": dict(data="grey", D=16, hidden=(512, 256), steps=(5000, 300), lr=2e-3,
                        schedule="cosine", seed=0),
}, 11: {
    name: dict(data="binarized digits", D=2, hidden=(512, 256), steps=(4000, 300), lr=2e-3,
               schedule="cosine", eval="binarized test", seed=0, conditional=conditional)
    for name, conditional in [("CVAE", True), ("VAE", False)]
}, 12: {
    name: dict(data="grey digits", eval="test", K=128, D=8, width=32, steps=(1200, 80), lr=2e-3,
               schedule=None, evals=20, checkpoints=12, seed=0, **quantizer)
    for name, quantizer in [("VQ-VAE", {}), ("VQ-VAE + restarts", {"restart": True}),
                            ("VQ-VAE, EMA codebook", {"ema_decay": 0.95})]
}}
# Notebook 12's code priors: on the restarted VQ-VAE's maps, with jittered copies or bare.
PRIORS: dict[str, dict] = {
    "PixelCNN prior": dict(vqvae="VQ-VAE + restarts", copies=20, sigma=0.3, width=96,
                           steps=(1000, 60), seed=0),
    "PixelCNN prior, bare maps": dict(vqvae="VQ-VAE + restarts", copies=0, width=96,
                                      steps=(1000, 60), seed=0),
}
# The code that decides what these networks learn, beyond model_cache.TRAINING_CODE.
_CODE = (*model_cache.TRAINING_CODE, "corruption", "data", "vq", "code_prior", "chapter_models")


def notebook_networks(notebook: int) -> list[str]:
    """The networks notebook ``notebook`` trains through this module (none for most)."""
    validate.positive_int("notebook", notebook, minimum=0)
    return list(SETTINGS.get(notebook, {}))


def mnist_or_digits() -> tuple[str, data.Dataset, data.Dataset, torch.Tensor]:
    """Notebook 07's data: ("mnist" or "digits", train set, test set, test images binarized
    once with seed 0). MNIST when it is on disk and quick mode is off, else ``digits``."""
    name = "mnist" if data.mnist_available() and not config.quick_mode() else "digits"
    train_set, test_set = data.load_dataset(name, "train"), data.load_dataset(name, "test")
    return name, train_set, test_set, data.binarize(test_set.x, torch.Generator().manual_seed(0))


def training_data(notebook: int, name: str) -> tuple[Batch, Batch | None]:
    """The images (N, C, H, W) network ``name`` of ``notebook`` trains on, and its held-out
    images (or None when it logs none); for a conditional network, (images, labels) pairs."""
    _check(notebook, name)
    settings = SETTINGS[notebook][name]
    if settings["data"] == "binarized digits":
        train_set, test_set = data.load_digits("train"), data.load_digits("test")
        x_test = data.binarize(test_set.x, torch.Generator().manual_seed(0))
        if settings["conditional"]:
            return (train_set.x, train_set.y), (x_test, test_set.y)
        return train_set.x, x_test
    if settings["data"] == "grey digits":
        held_out = data.load_digits("test").x if settings.get("eval") == "test" else None
        return data.load_digits("train").x, held_out
    _, train_set, _, x_test = mnist_or_digits()
    return train_set.x, x_test[:settings["eval"]] if "eval" in settings else None


def build(notebook: int, name: str, image_shape: tuple[int, ...]) -> tuple[nn.Module, LossFn]:
    """The untrained network ``name`` of ``notebook`` for images of ``image_shape`` (C, H, W),
    and its training loss: -ELBO per example (``losses.vae_loss``, binarizing the batch when
    its data is "binarized"), the squared error per pixel (``corruption``, no noise) or the
    VQ-VAE's loss (``vq.vqvae_loss``, beta = 0.25)."""
    _check(notebook, name)
    s = SETTINGS[notebook][name]
    if notebook == 12:
        restart_every = config.pick(*s["steps"]) // s["checkpoints"] if s.get("restart") else None
        model = vq.VQVAE(image_shape, K=s["K"], D=s["D"], downsample=1, width=s["width"],
                         restart_every=restart_every, ema_decay=s.get("ema_decay"))
        return model, vq.vqvae_loss(beta=0.25)
    if name == "Gaussian conv VAE":
        gauss = models.VAE.build("conv", image_shape, s["D"], likelihood="gaussian")
        return gauss, losses.vae_loss()
    if notebook == 11 and s["conditional"]:
        cvae = models.ConditionalVAE(image_shape, latent_dim=s["D"], n_classes=10, hidden=s["hidden"])
        return cvae, losses.cvae_loss(transform=data.binarize)
    if name == "autoencoder":
        ae = models.Autoencoder(models.MLPEncoder(image_shape, s["D"], s["hidden"]),
                                models.MLPDecoder(s["D"], image_shape, s["hidden"][::-1]))
        return ae, corruption.denoising_loss_fn("gaussian", 0.0)
    vae = models.VAE.build("mlp", image_shape, s["D"], hidden=s["hidden"])
    return vae, losses.vae_loss(warmup_steps=s.get("warmup", 0), transform=data.binarize)


def _check(notebook: int, name: str) -> None:
    validate.one_of("notebook", notebook, list(SETTINGS))
    validate.one_of("name", name, list(SETTINGS[notebook]))


def _tensors(*batches: Batch | None) -> list[torch.Tensor]:
    """The tensors of batches given as tensors, (x, y) tuples or None."""
    return [t for b in batches if b is not None for t in ((b,) if isinstance(b, torch.Tensor) else b)]


def _locate(notebook: int, name: str, x: Batch, x_eval: Batch | None):
    settings = SETTINGS[notebook][name]
    described = {"notebook": notebook, "network": name, **settings,
                 "steps": config.pick(*settings["steps"])}
    tensors = _tensors(x, x_eval)
    key = model_cache.cache_key(described, tensors, model_cache.module_sources(_CODE))
    slug = "".join(c for c in name if c.isalnum() or c == "-")
    return key, model_cache.cache_path(f"nb{notebook:02d}-{slug}-seed{settings['seed']}", key)


def is_cached(notebook: int, name: str) -> bool:
    """True when the cache holds network ``name`` of ``notebook`` trained on today's data."""
    key, path = _locate(notebook, name, *training_data(notebook, name))
    return model_cache.load(path, key) is not None


def train_network(notebook: int, name: str, *, progress: bool = True
                  ) -> tuple[nn.Module, History, dict]:
    """Train (or load from the cache) network ``name`` of ``notebook`` on ``training_data``.
    Returns (model in eval mode, its training history, info): ``info`` has "seconds" (training
    time), "cached", "path" (its file in the cache) and, for a network with "checkpoints" (12's),
    "used": {step: (K,) bool, code k in use on the training images}, the last step included."""
    x, x_eval = training_data(notebook, name)
    settings = SETTINGS[notebook][name]
    torch.manual_seed(settings["seed"])
    images = x if isinstance(x, torch.Tensor) else x[0]
    model, loss_fn = build(notebook, name, tuple(images.shape[1:]))
    key, path = _locate(notebook, name, x, x_eval)
    saved = model_cache.load(path, key, model)
    if saved is not None:
        kept = {k: saved[k] for k in ("seconds", "used") if k in saved}
        info = {"cached": True, "path": path, **kept}
        return model.eval(), History.from_dict(saved["history"]), info
    steps, extra = config.pick(*settings["steps"]), {}
    if "checkpoints" in settings:
        every = steps // settings["checkpoints"]
        loss_fn, extra["used"] = vq.usage_checkpoints(loss_fn, x, every=every)
    start = time.perf_counter()
    history = train.fit(model, loss_fn, x, steps=steps, eval_data=x_eval, lr=settings["lr"],
                        eval_every=steps // settings["evals"] if "evals" in settings else None,
                        lr_schedule=settings["schedule"], seed=settings["seed"], desc=name,
                        progress=progress)
    seconds = time.perf_counter() - start
    if "used" in extra:
        extra["used"][steps] = vq.code_usage(model.codes(x), model.quantizer.K) > 0
    if not history.interrupted:
        model_cache.save(path, key, model, seconds=seconds, history=history.to_dict(), **extra)
    return model.eval(), history, {"seconds": seconds, "cached": False, "path": path, **extra}


def prior_maps(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The code maps prior ``name`` of ``PRIORS`` learns, (N', h, w): the training digits' maps
    under its VQ-VAE (``train_network``, trained or loaded), then ``copies`` jittered maps of
    each (``vq.jittered_codes``, generator seeded 0); and the test digits' maps (N_test, h, w)."""
    validate.one_of("name", name, list(PRIORS))
    settings = PRIORS[name]
    model, _, _ = train_network(12, settings["vqvae"], progress=False)
    x, x_test = training_data(12, settings["vqvae"])
    maps, test_maps = model.codes(x), model.codes(x_test)
    if settings["copies"]:
        jittered = vq.jittered_codes(model, x, copies=settings["copies"], sigma=settings["sigma"],
                                     generator=torch.Generator().manual_seed(0))
        maps = torch.cat([maps, jittered])
    return maps, test_maps


def _locate_prior(name: str, maps: torch.Tensor, test_maps: torch.Tensor):
    settings = PRIORS[name]
    described = {"notebook": 12, "prior": name, **settings,
                 "steps": config.pick(*settings["steps"])}
    key = model_cache.cache_key(described, [maps, test_maps], model_cache.module_sources(_CODE))
    slug = "".join(c for c in name if c.isalnum())
    return key, model_cache.cache_path(f"nb12-{slug}-seed{settings['seed']}", key)


def is_prior_cached(name: str) -> bool:
    """True when the cache holds prior ``name`` and the VQ-VAE whose maps it learns (False,
    without training anything, when that VQ-VAE is not cached)."""
    validate.one_of("name", name, list(PRIORS))
    if not is_cached(12, PRIORS[name]["vqvae"]):
        return False
    key, path = _locate_prior(name, *prior_maps(name))
    return model_cache.load(path, key) is not None


def train_prior(name: str, *, progress: bool = True
                ) -> tuple[code_prior.CodePrior, History, dict]:
    """Fit (``code_prior.fit_prior``, K = 128, seeded) or load prior ``name`` of ``PRIORS`` on
    ``prior_maps(name)``, held-out maps scored along the way. Returns (prior in eval mode, its
    history, info with "seconds", "cached", "path" and "maps", the training maps)."""
    maps, test_maps = prior_maps(name)
    settings = PRIORS[name]
    K = SETTINGS[12][settings["vqvae"]]["K"]
    key, path = _locate_prior(name, maps, test_maps)
    prior = code_prior.CodePrior(K, tuple(maps.shape[1:]), width=settings["width"])
    saved = model_cache.load(path, key, prior)
    if saved is not None:
        info = {"seconds": saved["seconds"], "cached": True, "path": path, "maps": maps}
        return prior.eval(), History.from_dict(saved["history"]), info
    start = time.perf_counter()
    prior, history = code_prior.fit_prior(maps, K, config.pick(*settings["steps"]),
                                          eval_maps=test_maps, width=settings["width"],
                                          seed=settings["seed"], desc=name, progress=progress)
    seconds = time.perf_counter() - start
    if not history.interrupted:
        model_cache.save(path, key, prior, seconds=seconds, history=history.to_dict())
    return prior, history, {"seconds": seconds, "cached": False, "path": path, "maps": maps}
