"""Encoders, decoders and the models built from them.

Conventions: images are (B, C, H, W); codes are (B, D). Decoders return *logits* of the
image, shape (B, C, H, W): apply ``torch.sigmoid`` for pixel means in [0, 1], or use them
directly in ``log_bernoulli``. Encoders return (B, out_dim): a code for an autoencoder, or
the 2D parameters (mean, log-variance) of q(z|x) for a VAE.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from vae_course import objectives, validate
from vae_course.gradients import reparameterize


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model):`` runs the block in eval mode (no dropout, no codebook
    updates, batch norm on its running statistics) and restores the mode the model had."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them
    (none after the last layer)."""
    if len(validate.positive_ints("sizes", sizes)) < 2:
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
        self.image_shape = validate.image_shape("image_shape", image_shape)
        validate.positive_int("out_dim", out_dim)
        self.net = mlp([math.prod(self.image_shape), *validate.positive_ints("hidden", hidden), out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate.module_input("x", x, self)
        validate.tensor("x", x, shape=(None, *self.image_shape))
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """z (B, latent_dim) -> MLP -> logits (B, C, H, W)."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (128, 256)):
        super().__init__()
        self.image_shape = validate.image_shape("image_shape", image_shape)
        self.latent_dim = validate.positive_int("latent_dim", latent_dim)
        self.net = mlp([latent_dim, *validate.positive_ints("hidden", hidden), math.prod(self.image_shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        validate.module_input("z", z, self)
        validate.tensor("z", z, shape=(None, self.latent_dim))
        return self.net(z).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    """x (B, C, H, W) -> stride-2 3x3 convolutions (each halves H and W) -> linear -> (B, out_dim)."""

    def __init__(self, image_shape: Sequence[int], out_dim: int, channels: Sequence[int] = (32, 64),
                 hidden: int = 256):
        super().__init__()
        self.image_shape = validate.image_shape("image_shape", image_shape)
        validate.positive_int("out_dim", out_dim)
        validate.positive_int("hidden", hidden)
        layers: list[nn.Module] = []
        c_in = self.image_shape[0]
        for c_out in validate.positive_ints("channels", channels):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in = c_out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, *self.image_shape)).shape[1]
        self.head = mlp([n_flat, hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate.module_input("x", x, self)
        validate.tensor("x", x, shape=(None, *self.image_shape))
        return self.head(self.conv(x))


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> linear -> (C0, h, w) -> stride-2 transposed convolutions -> logits
    (B, C, H, W), cropped to H x W when H or W is not a multiple of 2**len(channels)."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], channels: Sequence[int] = (64, 32),
                 hidden: int = 256):
        super().__init__()
        self.image_shape = validate.image_shape("image_shape", image_shape)
        self.latent_dim = validate.positive_int("latent_dim", latent_dim)
        validate.positive_int("hidden", hidden)
        if not validate.positive_ints("channels", channels):
            raise ValueError("channels must list at least one width, got ()")
        scale = 2 ** len(channels)
        self.start = (channels[0], -(-self.image_shape[1] // scale), -(-self.image_shape[2] // scale))
        self.head = nn.Sequential(mlp([latent_dim, hidden, math.prod(self.start)]), nn.ReLU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, [*channels[1:], self.image_shape[0]]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        self.deconv = nn.Sequential(*layers[:-1])  # no ReLU on the logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        validate.module_input("z", z, self)
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
        validate.positive_int("latent_dim", latent_dim)
        return cls(make_encoder(kind, image_shape, latent_dim), make_decoder(kind, latent_dim, image_shape))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z (B, D) of images x (B, C, H, W)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, C, H, W), from codes z (B, D)."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")


class VAE(nn.Module):
    """A variational autoencoder (Kingma and Welling 2014; Rezende et al. 2014).

    - prior p(z) = N(0, I_D);
    - encoder q_phi(z|x) = N(mu(x), diag exp(logvar(x))): the encoder network outputs 2D numbers,
      the first D are mu, the last D are logvar (a log-variance is unconstrained, unlike sigma);
    - decoder p_theta(x|z), chosen by ``likelihood``:

      * ``"bernoulli"``: each pixel ~ Bernoulli(sigmoid(l)), l = decoder(z) the logits. A
        likelihood of *binary* images (binarize grey data first: ``data.binarize``); on grey
        values in [0, 1] the same formula is only a reconstruction cross-entropy, not normalised,
        so its "ELBO" bounds the log of no probability (see ``objectives.log_bernoulli``).
      * ``"continuous_bernoulli"``: each grey pixel ~ CB(sigmoid(l)), the Bernoulli formula times
        its normaliser C(l) (Loaiza-Ganem and Cunningham 2019): a density on [0, 1]^P. Its mean
        is not sigmoid(l) (``objectives.continuous_bernoulli_mean``).
      * ``"gaussian"``: x ~ N(sigmoid(l), sigma^2 I) with one variance shared by all pixels,
        either fixed (``sigma2=0.05``) or learned (``sigma2=None``: a parameter ``log_sigma2``
        trained with the rest, the "sigma-VAE" of Rybkin et al. 2021). A fixed sigma^2 weighs
        the reconstruction against the KL like 1/beta does: small sigma^2 gives sharp
        reconstructions and a weak prior. Learning it finds the maximum-likelihood balance. It is
        shared rather than per pixel because a per-pixel variance of pixels that are always 0
        (the borders of MNIST) shrinks to 0 and the likelihood grows without bound.

    Shapes: x (B, C, H, W); mu, logvar, z (B, D); decoder parameters (B, C, H, W).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 image_shape: Sequence[int], likelihood: str = "bernoulli", sigma2: float | None = None):
        super().__init__()
        validate.one_of("likelihood", likelihood, LIKELIHOODS)
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = validate.positive_int("latent_dim", latent_dim)
        self.image_shape = validate.image_shape("image_shape", image_shape)
        self.likelihood = likelihood
        if likelihood == "gaussian":
            learned = sigma2 is None
            log_sigma2 = torch.tensor(0.0 if learned else math.log(_positive("sigma2", sigma2)))
            self.log_sigma2 = nn.Parameter(log_sigma2, requires_grad=learned)

    @classmethod
    def build(cls, kind: str, image_shape: Sequence[int], latent_dim: int, likelihood: str = "bernoulli",
              hidden: Sequence[int] | int | None = None, sigma2: float | None = None) -> "VAE":
        """An MLP (``kind="mlp"``) or convolutional (``"conv"``) VAE with a D = ``latent_dim`` latent.

        ``hidden``: for ``"mlp"`` the encoder's hidden widths, mirrored in the decoder (default
        (256, 128)); for ``"conv"`` the width of the dense layer beside the convolutions (default 256).
        """
        validate.one_of("kind", kind, ("mlp", "conv"))
        validate.positive_int("latent_dim", latent_dim)
        if kind == "mlp":
            hidden = tuple(hidden or (256, 128))
            encoder = MLPEncoder(image_shape, 2 * latent_dim, hidden)
            decoder = MLPDecoder(latent_dim, image_shape, hidden[::-1])
        else:
            width = validate.positive_int("hidden", hidden or 256)
            encoder = ConvEncoder(image_shape, 2 * latent_dim, hidden=width)
            decoder = ConvDecoder(latent_dim, image_shape, hidden=width)
        return cls(encoder, decoder, latent_dim, image_shape, likelihood, sigma2)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q_phi(z|x): mu (B, D) and logvar (B, D) of images x (B, C, H, W)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters of p_theta(x|z) for codes z (B, D), shape (B, C, H, W): the logits
        (Bernoulli, continuous Bernoulli) or the mean in [0, 1] (Gaussian)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "gaussian" else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_params, mu, logvar, z) with z = mu + exp(logvar / 2) * eps drawn from q_phi(z|x)."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar, z

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        """E[x | z] in [0, 1] from decoder parameters: sigmoid of the logits (Bernoulli), the
        continuous Bernoulli's mean, or the Gaussian mean."""
        validate.tensor("x_params", x_params)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(x_params)
        if self.likelihood == "continuous_bernoulli":
            return objectives.continuous_bernoulli_mean(x_params)
        return x_params

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z = mu(x)], the reconstruction of x (B, C, H, W) at the mean code, in [0, 1]."""
        return self.mean_image(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1]: z ~ N(0, I), then the pixel means E[x | z]
        (not a noisy draw from p(x|z), which for Bernoulli pixels would be salt and pepper)."""
        validate.positive_int("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.mean_image(self.decode(z))

    def log_px_given_z(self, x: torch.Tensor, x_params: torch.Tensor) -> torch.Tensor:
        """log p_theta(x|z) summed over pixels: x (B, C, H, W) and x_params (..., B, C, H, W)
        -> (..., B); leading dimensions of ``x_params`` (e.g. K importance samples) broadcast."""
        validate.tensor("x", x, shape=(None, *self.image_shape))
        validate.tensor("x_params", x_params, ndim=range(4, 8))
        if x_params.shape[-3:] != x.shape[1:] or x_params.shape[-4] not in (1, len(x)):
            raise ValueError(f"x_params must have shape (..., {len(x)} or 1, {', '.join(map(str, self.image_shape))})"
                             f" to match x {tuple(x.shape)}, got {tuple(x_params.shape)}")
        if self.likelihood == "bernoulli":
            log_p = objectives.log_bernoulli(x, x_params)
        elif self.likelihood == "continuous_bernoulli":
            log_p = objectives.log_continuous_bernoulli(x, x_params)
        else:
            log_p = objectives.log_normal(x, x_params, self.log_sigma2.expand_as(x_params))
        return log_p.flatten(-3).sum(-1)


def _positive(name: str, value: float) -> float:
    if validate.non_negative(name, value) == 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The one-hot code of integer labels: e_y in {0, 1}^C with a single 1 at position y.

    y (B,) int64 with values in [0, n_classes) -> (B, n_classes) float. Raises ``ValueError``
    for a label outside the range (``torch.nn.functional.one_hot`` would silently widen it).
    """
    validate.positive_int("n_classes", n_classes)
    validate.tensor("y", y, ndim=1, floating=False)
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in [0, {n_classes}), got values in "
                         f"[{int(y.min())}, {int(y.max())}]")
    return nn.functional.one_hot(y.long(), n_classes).float()


class ConditionalVAE(VAE):
    """A conditional VAE (Sohn et al. 2015; Kingma et al. 2014, "M2" without the classifier):
    q_phi(z | x, y) and p_theta(x | z, y) both see the label y, the prior stays p(z) = N(0, I).

    The label enters as a one-hot vector concatenated to the input of the first dense layer of
    each network: [flatten(x), e_y] -> MLP -> (mu, logvar), and [z, e_y] -> ``MLPDecoder``.
    Since the decoder is told the class, z only has to carry what the label does not: style
    (slant, thickness, size). Everything else (likelihoods, ``log_px_given_z``, ``mean_image``)
    is the ``VAE``'s. Shapes: x (B, C, H, W), y (B,) int64, z (B, D).
    """

    def __init__(self, image_shape: Sequence[int], latent_dim: int, n_classes: int = 10,
                 hidden: Sequence[int] = (256, 128), likelihood: str = "bernoulli",
                 sigma2: float | None = None):
        image_shape = validate.image_shape("image_shape", image_shape)
        validate.positive_int("latent_dim", latent_dim)
        validate.positive_int("n_classes", n_classes)
        hidden = validate.positive_ints("hidden", hidden)
        encoder = mlp([math.prod(image_shape) + n_classes, *hidden, 2 * latent_dim])
        decoder = MLPDecoder(latent_dim + n_classes, image_shape, tuple(hidden)[::-1])
        super().__init__(encoder, decoder, latent_dim, image_shape, likelihood, sigma2)
        self.n_classes = n_classes

    def _one_hot_labels(self, y: torch.Tensor, batch: int) -> torch.Tensor:
        validate.tensor("y", y, shape=(batch,), floating=False)
        return one_hot(y, self.n_classes).to(next(self.parameters()).device)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar (B, D) of q_phi(z | x, y) for images x (B, C, H, W) and labels y (B,)."""
        validate.module_input("x", x, self)
        validate.tensor("x", x, shape=(None, *self.image_shape))
        h = torch.cat([x.flatten(1), self._one_hot_labels(y, len(x))], dim=1)
        return self.encoder(h).chunk(2, dim=-1)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Parameters of p_theta(x | z, y), (B, C, H, W), for codes z (B, D) and labels y (B,)."""
        validate.tensor("z", z, shape=(None, self.latent_dim))
        return super().decode(torch.cat([z, self._one_hot_labels(y, len(z))], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(x_params, mu, logvar, z) with z = mu + exp(logvar / 2) * eps drawn from q_phi(z | x, y)."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar, z

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """E[x | z = mu(x, y), y] in [0, 1]; pass another label than x's own to re-draw x as it."""
        return self.mean_image(self.decode(self.encode(x, y)[0], y))

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image (B, C, H, W) in [0, 1] per requested label (B,): z ~ N(0, I), then E[x | z, y]."""
        validate.integer_tensor("labels", labels, ndim=1)
        device = next(self.parameters()).device
        z = torch.randn(len(labels), self.latent_dim, generator=generator).to(device)
        return self.mean_image(self.decode(z, labels))


@torch.no_grad()
def encode_all(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters (mu, logvar) of q_phi(z|x_n) for every image of ``x`` (N, C, H, W),
    each (N, D), computed in batches in evaluation mode and returned on the CPU."""
    validate.module("model", model)
    validate.not_empty("x", validate.tensor("x", x, ndim=4))
    validate.module_input("x", x, model)
    validate.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    with evaluating(model):
        parts = [validate.posterior_pair(model.encode(x[i:i + batch_size].to(device)), model)
                 for i in range(0, len(x), batch_size)]
    return torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu()
