"""Corruption processes for denoising autoencoders (Vincent et al. 2008).

A corruption process q(x_tilde | x) turns a clean image x (values in [0, 1]) into a noisy one
x_tilde; a denoising autoencoder learns to map x_tilde back to x. Three kinds:

- ``"gaussian"``: x_tilde = clip(x + level * eps, 0, 1), eps ~ N(0, I). The noise has standard
  deviation ``level`` *before* the clipping, which keeps x_tilde a valid image in [0, 1].
- ``"masking"``: each pixel is set to 0 with probability ``level`` (Vincent et al.'s
  "masking noise"): x_tilde = x * m, m_p ~ Bernoulli(1 - level).
- ``"salt_and_pepper"``: each pixel, with probability ``level``, is replaced by 0 or 1 with
  equal chance; the other pixels are kept.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vae_course import objectives, validate

KINDS = ("gaussian", "masking", "salt_and_pepper")


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """u ~ U(0, 1) of x's shape, drawn on the generator's device, then moved to x's device."""
    device = generator.device if generator is not None else x.device
    return torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _add_gaussian_noise(x: torch.Tensor, level: float, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    eps = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    return (x + level * eps).clamp(0.0, 1.0)


def _masking(x: torch.Tensor, level: float, generator: torch.Generator | None) -> torch.Tensor:
    keep = _uniform(x, generator) >= level  # P(keep) = 1 - level
    return x * keep


def _salt_and_pepper(x: torch.Tensor, level: float, generator: torch.Generator | None) -> torch.Tensor:
    hit = _uniform(x, generator) < level  # P(hit) = level
    salt = (_uniform(x, generator) < 0.5).to(x.dtype)  # 0 or 1 with equal chance
    return torch.where(hit, salt, x)


_CORRUPT = {"gaussian": _add_gaussian_noise, "masking": _masking, "salt_and_pepper": _salt_and_pepper}


def _check_kind_and_level(kind: str, level: float) -> float:
    """Valid kind; level >= 0 for Gaussian noise (a standard deviation), in [0, 1] otherwise
    (a probability)."""
    validate.one_of("kind", kind, KINDS)
    return validate.non_negative("level", level) if kind == "gaussian" else validate.probability("level", level)


def corrupt(x: torch.Tensor, kind: str, level: float,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw x_tilde ~ q(x_tilde | x), a corrupted copy of images ``x`` (any shape, values in [0, 1]).

    - ``"gaussian"``: x_tilde = clip(x + level * eps, 0, 1), eps ~ N(0, I) (``level`` = the noise
      standard deviation before clipping; any level >= 0).
    - ``"masking"``: x_tilde_p = 0 with probability ``level``, else x_p (level in [0, 1]).
    - ``"salt_and_pepper"``: x_tilde_p = s_p with probability ``level``, else x_p, where
      s_p is 0 or 1 with probability 1/2 each (level in [0, 1]).

    Random numbers come from ``generator`` (seeded => reproducible) in this order: gaussian
    draws eps; masking draws u ~ U(0, 1) and keeps u >= level; salt and pepper draws u (hit
    when u < level) and then v (salt = 1 when v < 0.5). Returns a new tensor of x's shape.
    Vincent, Larochelle, Bengio and Manzagol 2008, "Extracting and composing robust features
    with denoising autoencoders".
    """
    validate.tensor("x", x)
    level = _check_kind_and_level(kind, level)
    return _CORRUPT[kind](x, level, generator)


@validate.loss_factory
def denoising_loss_fn(kind: str, level: float, seed: int = 0
                      ) -> Callable[[nn.Module, torch.Tensor, int], tuple[torch.Tensor, dict]]:
    """A ``loss_fn`` for ``train.fit``: corrupt the batch, reconstruct the *clean* batch.

    loss = (1/M) sum_i mse(model(x_tilde_i), x_i), x_tilde_i ~ q(x_tilde | x_i), where mse is
    the mean squared error per pixel (``objectives.mse_per_example``) and ``model(x)``
    returns images in [0, 1] (e.g. ``models.Autoencoder``). A fresh corruption is drawn at
    every call from a generator seeded with ``seed``, so training is reproducible.
    ``level = 0`` gives a plain autoencoder's loss. Vincent et al. 2008.
    """
    _check_kind_and_level(kind, level)
    generator = torch.Generator().manual_seed(validate.positive_int("seed", seed, minimum=0))

    def loss_fn(model: nn.Module, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict]:
        loss = objectives.mse_per_example(model(corrupt(x, kind, level, generator)), x).mean()
        return loss, {"mse": loss}

    return loss_fn
