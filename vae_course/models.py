"""Encoders, decoders and the models built from them.

Conventions: images are (B, C, H, W); codes are (B, D). Decoders return *logits* of the
image, shape (B, C, H, W): apply ``torch.sigmoid`` for pixel means in [0, 1], or use them
directly in ``log_bernoulli``. Encoders return (B, out_dim): a code for an autoencoder, or
the 2D parameters (mean, log-variance) of q(z|x) for a VAE.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vae_course import validate


def _image_shape(name: str, shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"{name} must be (C, H, W) with positive ints, got {tuple(shape)}")
    return tuple(shape)


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them
    (none after the last layer)."""
    if len(sizes) < 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"sizes must list at least two positive ints, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x (B, C, H, W) -> flatten -> MLP -> (B, out_dim)."""

    def __init__(self, image_shape: Sequence[int], out_dim: int, hidden: Sequence[int] = (256, 128)):
        super().__init__()
        self.image_shape = _image_shape("image_shape", image_shape)
        validate.positive_int("out_dim", out_dim)
        self.net = mlp([math.prod(self.image_shape), *hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate.tensor("x", x, shape=(None, *self.image_shape))
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """z (B, latent_dim) -> MLP -> logits (B, C, H, W)."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (128, 256)):
        super().__init__()
        self.image_shape = _image_shape("image_shape", image_shape)
        self.latent_dim = validate.positive_int("latent_dim", latent_dim)
        self.net = mlp([latent_dim, *hidden, math.prod(self.image_shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        validate.tensor("z", z, shape=(None, self.latent_dim))
        return self.net(z).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    """x (B, C, H, W) -> stride-2 3x3 convolutions (each halves H and W) -> linear -> (B, out_dim)."""

    def __init__(self, image_shape: Sequence[int], out_dim: int, channels: Sequence[int] = (32, 64),
                 hidden: int = 256):
        super().__init__()
        self.image_shape = _image_shape("image_shape", image_shape)
        validate.positive_int("out_dim", out_dim)
        layers: list[nn.Module] = []
        c_in = self.image_shape[0]
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in = c_out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, *self.image_shape)).shape[1]
        self.head = mlp([n_flat, hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate.tensor("x", x, shape=(None, *self.image_shape))
        return self.head(self.conv(x))


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> linear -> (C0, h, w) -> stride-2 transposed convolutions -> logits
    (B, C, H, W), cropped to H x W when H or W is not a multiple of 2**len(channels)."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], channels: Sequence[int] = (64, 32),
                 hidden: int = 256):
        super().__init__()
        self.image_shape = _image_shape("image_shape", image_shape)
        self.latent_dim = validate.positive_int("latent_dim", latent_dim)
        scale = 2 ** len(channels)
        self.start = (channels[0], -(-self.image_shape[1] // scale), -(-self.image_shape[2] // scale))
        self.head = nn.Sequential(mlp([latent_dim, hidden, math.prod(self.start)]), nn.ReLU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, [*channels[1:], self.image_shape[0]]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        self.deconv = nn.Sequential(*layers[:-1])  # no ReLU on the logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        validate.tensor("z", z, shape=(None, self.latent_dim))
        out = self.deconv(self.head(z).view(-1, *self.start))
        return out[..., : self.image_shape[1], : self.image_shape[2]]


def make_encoder(kind: str, image_shape: Sequence[int], out_dim: int) -> nn.Module:
    """An ``"mlp"`` or ``"conv"`` encoder with the course's default widths."""
    validate.one_of("kind", kind, ("mlp", "conv"))
    return MLPEncoder(image_shape, out_dim) if kind == "mlp" else ConvEncoder(image_shape, out_dim)


def make_decoder(kind: str, latent_dim: int, image_shape: Sequence[int]) -> nn.Module:
    """An ``"mlp"`` or ``"conv"`` decoder with the course's default widths."""
    validate.one_of("kind", kind, ("mlp", "conv"))
    return MLPDecoder(latent_dim, image_shape) if kind == "mlp" else ConvDecoder(latent_dim, image_shape)


class Autoencoder(nn.Module):
    """A deterministic autoencoder: z = encoder(x), x_hat = sigmoid(decoder(z)) in [0, 1]."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    @classmethod
    def build(cls, kind: str, image_shape: Sequence[int], latent_dim: int) -> "Autoencoder":
        """An MLP (``kind="mlp"``) or convolutional (``"conv"``) autoencoder."""
        return cls(make_encoder(kind, image_shape, latent_dim), make_decoder(kind, latent_dim, image_shape))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z (B, D) of images x (B, C, H, W)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, C, H, W), from codes z (B, D)."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
