"""Notebook 13's line-up on digits: every network of the course, built for the same D, trained the
same way, each from its own seed, and kept in the model cache (``model_cache``).

The AE and the DAE (Gaussian noise 0.3, notebook 03) learn from grey digits; the VAE at four KL
weights (``BETAS``: 0, 1, 2, 3) and the CVAE (notebook 11) from dynamically binarized ones; the
VQ-VAE (K = 128 codes of size 8, restarts every 100 steps, notebook 12) from grey ones. Each
trains for ``steps()`` Adam steps at learning rate 2e-3 with a cosine schedule, after
``torch.manual_seed(seed)``, so that a model loaded from the cache is the one a fresh run trains.
"""
from __future__ import annotations

import re
import time

import torch
from torch import nn

from vae_course import config, corruption, data, losses, model_cache, models, train, validate, vq
from vae_course.losses import LossFn
from vae_course.train import History

D = 8  # latent size of every continuous model
BETAS = {"VAE (beta = 0)": 0.0, "VAE": 1.0, "beta-VAE (beta = 2)": 2.0, "beta-VAE (beta = 3)": 3.0}
NAMES = ("AE", "DAE", *BETAS, "CVAE", "VQ-VAE")
LR = 2e-3
# The code that decides what the line-up learns, beyond model_cache.TRAINING_CODE.
_CODE = (*model_cache.TRAINING_CODE, "vq", "corruption", "data", "lineup")


def steps() -> int:
    """Training steps of each network: 3000 (quick mode 150)."""
    return config.pick(3000, 150)


def build(name: str, image_shape: tuple[int, ...]) -> tuple[nn.Module, LossFn]:
    """The untrained network ``name`` (one of ``NAMES``) for images of ``image_shape`` (C, H, W),
    and its training loss."""
    validate.one_of("name", name, NAMES)
    if name in ("AE", "DAE"):
        noise = 0.3 if name == "DAE" else 0.0
        return models.Autoencoder.build("mlp", image_shape, D), corruption.denoising_loss_fn("gaussian", noise)
    if name in BETAS:
        return models.VAE.build("mlp", image_shape, D), losses.vae_loss(beta=BETAS[name], transform=data.binarize)
    if name == "CVAE":
        return models.ConditionalVAE(image_shape, D), losses.cvae_loss(transform=data.binarize)
    return vq.VQVAE(image_shape, K=128, D=8, width=32, restart_every=100), vq.vqvae_loss(0.25)


def _locate(name: str, x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[str, object]:
    described = {"lineup": name, "D": D, "steps": steps(), "lr": LR, "schedule": "cosine", "seed": seed}
    key = model_cache.cache_key(described, [x, y], model_cache.module_sources(_CODE))
    return key, model_cache.cache_path(f"digits-{re.sub(r'[^A-Za-z0-9.-]+', '', name)}-seed{seed}", key)


def is_cached(name: str, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> bool:
    """True when the cache holds network ``name`` trained on images ``x`` with labels ``y``."""
    validate.one_of("name", name, NAMES)
    key, path = _locate(name, x, y, seed)
    return model_cache.load(path, key) is not None


def train_network(name: str, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                  progress: bool = True) -> tuple[nn.Module, History | None, dict]:
    """Train (or load from the cache) network ``name`` on images ``x`` (N, C, H, W) with labels
    ``y`` (N,) (only the CVAE reads them). Returns (model, history or None when loaded, info):
    ``info`` has "seconds" (training time), "cached" and "path" (its file in the cache)."""
    validate.one_of("name", name, NAMES)
    validate.tensor("x", x, ndim=4)
    validate.positive_int("seed", seed, minimum=0)
    torch.manual_seed(seed)
    model, loss_fn = build(name, tuple(x.shape[1:]))
    key, path = _locate(name, x, y, seed)
    saved = model_cache.load(path, key, model)
    if saved is not None:
        return model.eval(), None, {"seconds": saved["seconds"], "cached": True, "path": path}
    start = time.perf_counter()
    history = train.fit(model, loss_fn, (x, y) if name == "CVAE" else x, steps=steps(), lr=LR,
                        lr_schedule="cosine", seed=seed, desc=name, progress=progress)
    seconds = time.perf_counter() - start
    if not history.interrupted:
        model_cache.save(path, key, model, seconds=seconds)
    return model, history, {"seconds": seconds, "cached": False, "path": path}


def train_lineup(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> dict[str, nn.Module]:
    """Every network of ``NAMES``, trained (or loaded) by ``train_network``, by name."""
    return {name: train_network(name, x, y, seed=seed)[0] for name in NAMES}


def notebook_networks(notebook: int) -> list[str]:
    """The line-up's networks that notebook ``notebook`` trains through the cache: all of
    ``NAMES`` for notebook 13, the AE for 14 (its plain autoencoder), none for the others."""
    validate.positive_int("notebook", notebook, minimum=0)
    return {13: list(NAMES), 14: ["AE"]}.get(notebook, [])
