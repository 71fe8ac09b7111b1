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

Notebook 14: 07's VAE (D = 16), trained on the binarized ``digits``; a KL-regularised
autoencoder (a VAE with D = 8 and KL weight 0.05 on the grey ``digits``); and its flow priors
(``FLOWS``, ``flow.fit``, seeded there) on the autoencoder's codes of the training digits, scaled
to unit standard deviation and by a factor. It takes notebook 12's VQ-VAE and PixelCNN prior and
13's autoencoder (``lineup``) as they are.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from vae_course import (code_prior, config, corruption, data, flow, losses, model_cache, models,
                        train, validate, vq)
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
}, 14: {
    "VAE": dict(data="binarized digits", conditional=False, D=16, hidden=(512, 256), warmup=1000,
                steps=(5000, 300), lr=2e-3, schedule="cosine", seed=0),
    "KL-autoencoder": dict(data="grey digits", D=8, hidden=(512, 256), beta=0.05,
                           steps=(3000, 150), lr=2e-3, schedule="cosine", seed=0),
}}
# Notebook 12's code priors: on the restarted VQ-VAE's maps, with jittered copies or bare.
PRIORS: dict[str, dict] = {
    "PixelCNN prior": dict(vqvae="VQ-VAE + restarts", copies=20, sigma=0.3, width=96,
                           steps=(1000, 60), seed=0),
    "PixelCNN prior, bare maps": dict(vqvae="VQ-VAE + restarts", copies=0, width=96,
                                      steps=(1000, 60), seed=0),
}
# Notebook 14's flows on the KL-autoencoder's codes mu(x_n) of the training digits, divided by
# their standard deviation s and multiplied by "scale"; the prior scores the test digits' codes.
FLOWS: dict[str, dict] = {
    **{f"flow on codes x {c:g} / s": dict(scale=c, steps=(2000, 66), seed=0) for c in (0.2, 1.0, 5.0)},
    "flow prior": dict(scale=1.0, steps=(6000, 200), eval=True, seed=0),
}
# The code that decides what these networks learn, beyond model_cache.TRAINING_CODE.
_CODE = (*model_cache.TRAINING_CODE, "corruption", "data", "vq", "code_prior", "flow", "chapter_models")


def notebook_networks(notebook: int) -> list[str]:
    """The networks of its own that notebook ``notebook`` trains through this module (none for most)."""
    validate.positive_int("notebook", notebook, minimum=0)
    return list(SETTINGS.get(notebook, {}))


def notebook_priors(notebook: int) -> list[str]:
    """The code priors of ``PRIORS`` that notebook ``notebook`` uses: both in 12, the first in 14."""
    validate.positive_int("notebook", notebook, minimum=0)
    return {12: list(PRIORS), 14: ["PixelCNN prior"]}.get(notebook, [])


def notebook_flows(notebook: int) -> list[str]:
    """The flows of ``FLOWS`` that notebook ``notebook`` uses: all in 14, none elsewhere."""
    validate.positive_int("notebook", notebook, minimum=0)
    return list(FLOWS) if notebook == 14 else []


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
    and its training loss: -ELBO per example (``losses.vae_loss``, with its KL weight "beta"
    (default 1), binarizing the batch when its data is "binarized"), the squared error per pixel
    (``corruption``, no noise) or the VQ-VAE's loss (``vq.vqvae_loss``, beta = 0.25)."""
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
    binarize = data.binarize if s["data"].startswith("binarized") else None
    return vae, losses.vae_loss(beta=s.get("beta", 1.0), warmup_steps=s.get("warmup", 0), transform=binarize)


def _check(notebook: int, name: str) -> None:
    validate.one_of("notebook", notebook, list(SETTINGS))
    validate.one_of("name", name, list(SETTINGS[notebook]))


def _tensors(*batches: Batch | None) -> list[torch.Tensor]:
    """The tensors of batches given as tensors, (x, y) tuples or None."""
    return [t for b in batches if b is not None for t in ((b,) if isinstance(b, torch.Tensor) else b)]


def _locate(notebook: int, kind: str, name: str, settings: dict, tensors: list[torch.Tensor]):
    """The cache key and file of ``name``, a ``kind`` ("network", "prior" or "flow") of
    ``notebook`` with ``settings``, learnt from ``tensors`` by today's training code."""
    described = {"notebook": notebook, kind: name, **settings, "steps": config.pick(*settings["steps"])}
    key = model_cache.cache_key(described, tensors, model_cache.module_sources(_CODE))
    slug = "".join(c for c in name if c.isalnum() or c == "-")
    return key, model_cache.cache_path(f"nb{notebook:02d}-{slug}-seed{settings['seed']}", key)


def _load_or_fit(entry: tuple[str, object], model: nn.Module,
                 fit: Callable[[], tuple[nn.Module, History, dict]]) -> tuple[nn.Module, History, dict]:
    """``model`` with the weights of the cache ``entry`` (key, file), or the network that
    ``fit()`` trains, saved whole unless its training was interrupted (Ctrl-C). Returns (network
    in eval mode, history, info): "seconds" (training time), "cached", "path", and what ``fit``
    keeps beside the weights (its third value, a dict)."""
    key, path = entry
    saved = model_cache.load(path, key, model)
    if saved is not None:
        kept = {k: v for k, v in saved.items() if k not in ("history", "state_dict", "key")}
        return model.eval(), History.from_dict(saved["history"]), {"cached": True, "path": path, **kept}
    start = time.perf_counter()
    model, history, extra = fit()
    seconds = time.perf_counter() - start
    if not history.interrupted:
        model_cache.save(path, key, model, seconds=seconds, history=history.to_dict(), **extra)
    return model.eval(), history, {"seconds": seconds, "cached": False, "path": path, **extra}


def is_cached(notebook: int, name: str) -> bool:
    """True when the cache holds network ``name`` of ``notebook`` trained on today's data."""
    x, x_eval = training_data(notebook, name)
    key, path = _locate(notebook, "network", name, SETTINGS[notebook][name], _tensors(x, x_eval))
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

    def fit() -> tuple[nn.Module, History, dict]:
        steps, fn, extra = config.pick(*settings["steps"]), loss_fn, {}
        if "checkpoints" in settings:
            fn, extra["used"] = vq.usage_checkpoints(loss_fn, x, every=steps // settings["checkpoints"])
        history = train.fit(model, fn, x, steps=steps, eval_data=x_eval, lr=settings["lr"],
                            eval_every=steps // settings["evals"] if "evals" in settings else None,
                            lr_schedule=settings["schedule"], seed=settings["seed"], desc=name,
                            progress=progress)
        if "used" in extra:
            extra["used"][steps] = vq.code_usage(model.codes(x), model.quantizer.K) > 0
        return model, history, extra

    return _load_or_fit(_locate(notebook, "network", name, settings, _tensors(x, x_eval)), model, fit)


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


def is_prior_cached(name: str) -> bool:
    """True when the cache holds prior ``name`` and the VQ-VAE whose maps it learns (False,
    without training anything, when that VQ-VAE is not cached)."""
    validate.one_of("name", name, list(PRIORS))
    if not is_cached(12, PRIORS[name]["vqvae"]):
        return False
    key, path = _locate(12, "prior", name, PRIORS[name], list(prior_maps(name)))
    return model_cache.load(path, key) is not None


def train_prior(name: str, *, progress: bool = True
                ) -> tuple[code_prior.CodePrior, History, dict]:
    """Fit (``code_prior.fit_prior``, K = 128, seeded) or load prior ``name`` of ``PRIORS`` on
    ``prior_maps(name)``, held-out maps scored along the way. Returns (prior in eval mode, its
    history, info with "seconds", "cached", "path" and "maps", the training maps)."""
    maps, test_maps = prior_maps(name)
    settings = PRIORS[name]
    K = SETTINGS[12][settings["vqvae"]]["K"]

    def fit() -> tuple[nn.Module, History, dict]:
        return (*code_prior.fit_prior(maps, K, config.pick(*settings["steps"]), eval_maps=test_maps,
                                      width=settings["width"], seed=settings["seed"], desc=name,
                                      progress=progress), {})

    prior = code_prior.CodePrior(K, tuple(maps.shape[1:]), width=settings["width"])
    model, history, info = _load_or_fit(_locate(12, "prior", name, settings, [maps, test_maps]), prior, fit)
    return model, history, {**info, "maps": maps}


def flow_codes(name: str) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """What flow ``name`` of ``FLOWS`` learns: the codes scale * mu(x_n) / s (N, D) of the
    training digits under notebook 14's KL-autoencoder (``train_network``, trained or loaded),
    s the standard deviation of all their entries; the test digits' codes mu(x) / s, or None for
    a flow that scores none; and s."""
    validate.one_of("name", name, list(FLOWS))
    settings = FLOWS[name]
    kl_ae, _, _ = train_network(14, "KL-autoencoder", progress=False)
    x, _ = training_data(14, "KL-autoencoder")
    with torch.no_grad():
        codes = kl_ae.encode(x)[0]
        held_out = kl_ae.encode(data.load_digits("test").x)[0] if settings.get("eval") else None
    s = codes.std().item()
    return settings["scale"] * codes / s, None if held_out is None else held_out / s, s


def is_flow_cached(name: str) -> bool:
    """True when the cache holds flow ``name`` and the KL-autoencoder whose codes it learns
    (False, without training anything, when that autoencoder is not cached)."""
    validate.one_of("name", name, list(FLOWS))
    if not is_cached(14, "KL-autoencoder"):
        return False
    codes, held_out, _ = flow_codes(name)
    key, path = _locate(14, "flow", name, FLOWS[name], _tensors(codes, held_out))
    return model_cache.load(path, key) is not None


def train_flow(name: str, *, progress: bool = True) -> tuple[flow.VelocityMLP, History, dict]:
    """Fit (``flow.fit``, its default network and optimiser, seeded) or load flow ``name`` of
    ``FLOWS`` on ``flow_codes(name)``. Returns (velocity network in eval mode, its history,
    info with "seconds", "cached", "path" and "s", the codes' standard deviation)."""
    codes, held_out, s = flow_codes(name)
    settings = FLOWS[name]

    def fit() -> tuple[nn.Module, History, dict]:
        return (*flow.fit(codes, config.pick(*settings["steps"]), eval_codes=held_out,
                          seed=settings["seed"], desc=name, progress=progress), {})

    field = flow.VelocityMLP(codes.shape[1])
    entry = _locate(14, "flow", name, settings, _tensors(codes, held_out))
    model, history, info = _load_or_fit(entry, field, fit)
    return model, history, {**info, "s": s}
