"""A learned autoregressive prior over VQ-VAE code maps: a small PixelCNN.

A code map k (h, w) of indices in [0, K) is read in raster order (row by row, left to right),
k_1, ..., k_n with n = h w, and modelled by the product rule, exact for any distribution:

    p(k) = prod_i p(k_i | k_<i),   log p(k) = sum_i log p(k_i | k_<i)   (nats).

As in the VQ-VAE paper (van den Oord et al. 2017), the conditionals come from a PixelCNN
("Pixel Recurrent Neural Networks", van den Oord et al. 2016, section 3.4): convolutions whose
kernels are masked so that the output at a position reads only positions before it. The mask of
the first layer ("A") excludes the centre, the later ones ("B") include it, since by then the
centre holds features of the past only.

A simpler mask than the vertical and horizontal stacks of the gated PixelCNN ("Conditional Image
Generation with PixelCNN Decoders", van den Oord et al. 2016), documented: stacked 3x3 masked
convolutions leave a "blind spot", a wedge above and to the right of each position that no
output reads. Here the first layer's kernel is (2h - 1) x (2w - 1), so that from every position
it covers the whole map: each output reads *all* earlier positions after one layer, and the 3x3
"B" layers after it cannot add a blind spot. That is cheap for the 4x4 and 7x7 maps of
the course; ``dependence`` measures which inputs each output reads.
Shapes: code maps (B, h, w) int64, logits (B, h, w, K).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vae_course import train, validate


def _kernel(kernel_size: object) -> tuple[int, int]:
    size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if len(size) != 2 or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 or s % 2 == 0 for s in size):
        raise ValueError(f"kernel_size must be an odd positive int or a pair of them, got {kernel_size!r}")
    return size


def causal_mask(kernel_size: int | tuple[int, int], include_centre: bool) -> torch.Tensor:
    """The raster-order mask M (kh, kw) of a PixelCNN kernel, float 0/1: M = 1 on every row above
    the centre and, on the centre row, left of the centre, plus the centre itself when
    ``include_centre`` (mask "B"; without it, mask "A"). van den Oord et al. 2016, section 3.4.

    A masked convolution (weight * M) at position (r, c) then reads only positions that come
    earlier in raster order (and (r, c) itself for mask B).
    """
    kh, kw = _kernel(kernel_size)
    if not isinstance(include_centre, bool):
        raise TypeError(f"include_centre must be a bool, got {type(include_centre).__name__}")
    mask = torch.zeros(kh, kw)
    mask[:kh // 2] = 1
    mask[kh // 2, :kw // 2 + int(include_centre)] = 1
    return mask


def _temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)


def check_code_maps(indices: object, K: int, code_shape: Sequence[int]) -> torch.Tensor:
    """Check that ``indices`` is an integer tensor (B, h, w) with values in [0, K); return it."""
    validate.tensor("indices", indices, shape=(None, *code_shape), floating=False)
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"indices must hold integer code indices, got dtype {indices.dtype}")
    if indices.numel() and (indices.min() < 0 or indices.max() >= K):
        raise ValueError(f"indices must lie in [0, {K}) (K = {K} codes), got range "
                         f"[{int(indices.min())}, {int(indices.max())}]")
    return indices


class MaskedConv2d(nn.Conv2d):
    """A same-size convolution whose kernel is multiplied by a fixed raster-order ``mask``
    (kh, kw) on every forward pass, so masked weights never act, whatever the optimiser does.

    The rows below the centre are zero in every raster-order mask, so they are not stored: the
    kernel keeps the kh // 2 + 1 rows down to the centre row (``self.mask``) and the input is
    padded by kh // 2 rows above and none below, which gives the same output for less work.
    """

    def __init__(self, c_in: int, c_out: int, mask: torch.Tensor):
        kh, kw = mask.shape
        if mask[kh // 2 + 1:].any():
            raise ValueError("mask must be zero below its centre row (a raster-order mask)")
        super().__init__(c_in, c_out, (kh // 2 + 1, kw))
        self.register_buffer("mask", mask[:kh // 2 + 1].clone())
        self.pad = (kw // 2, kw // 2, kh // 2, 0)  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.pad), self.weight * self.mask, self.bias)


class CodePrior(nn.Module):
    """An autoregressive prior p(k) = prod_i p(k_i | k_<i) over code maps (h, w) of K codes.

    A PixelCNN: a code embedding (K -> ``width`` channels), one masked convolution "A" with a
    (2h - 1) x (2w - 1) kernel (every earlier position, no blind spot), a learned bias per
    position (the first row's statistics differ from the centre's), ``depth`` residual 3x3 masked
    convolutions "B" with dropout, and two 1x1 convolutions to K logits per position.
    ``forward(indices (B, h, w))`` gives logits (B, h, w, K) of p(k_i | k_<i).
    """

    def __init__(self, K: int, code_shape: Sequence[int], *, width: int = 64, depth: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.K = validate.positive_int("K", K)
        if not isinstance(code_shape, Sequence) or len(code_shape) != 2:
            raise ValueError(f"code_shape must be (h, w), got {code_shape!r}")
        h, w = (validate.positive_int("code_shape", s) for s in code_shape)
        self.code_shape = (h, w)
        validate.positive_int("width", width)
        validate.positive_int("depth", depth, minimum=0)
        validate.probability("dropout", dropout)
        self.embedding = nn.Embedding(K, width)
        self.first = MaskedConv2d(width, width, causal_mask((2 * h - 1, 2 * w - 1), include_centre=False))
        self.position = nn.Parameter(torch.zeros(width, h, w))
        self.layers = nn.ModuleList(MaskedConv2d(width, width, causal_mask(3, include_centre=True))
                                    for _ in range(depth))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, 2 * width, 1), nn.ReLU(), nn.Conv2d(2 * width, K, 1))

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits (B, h, w, K) of p(k_i | k_<i) at every position of code maps (B, h, w)."""
        check_code_maps(indices, self.K, self.code_shape)
        x = self.first(self.embedding(indices.long()).permute(0, 3, 1, 2)) + self.position
        for layer in self.layers:
            x = x + self.dropout(layer(F.relu(x)))
        return self.head(self.dropout(x)).permute(0, 2, 3, 1)

    def log_prob(self, indices: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """log p(k) = sum_i log p(k_i | k_<i) in nats, (B,), for code maps (B, h, w).

        With ``temperature`` T, the log-probability under the tempered sampler of ``sample``,
        log q_T(k) = sum_i log softmax(logits_i / T)[k_i]; then -(1/n) sum log q_T(k) over n of its
        own samples estimates its entropy H(q_T), in nats per map (lower: less varied maps).
        """
        log_p = (self(indices) / _temperature(temperature)).log_softmax(-1)
        return log_p.gather(-1, indices.long().unsqueeze(-1)).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling of n code maps (n, h, w) int64: k_1 ~ p(k_1), then k_i ~ p(k_i | k_<i),
        one position at a time in raster order, each from softmax(logits / temperature).

        temperature 1 samples the model; below 1 sharpens every conditional (more typical, less
        varied maps), above 1 flattens it. The draws are made on the CPU from ``generator``, so a
        seeded generator gives the same maps on any device. Runs in eval mode (no dropout).
        """
        validate.positive_int("n", n)
        _temperature(temperature)
        was_training = self.training
        self.eval()
        codes = torch.zeros(n, *self.code_shape, dtype=torch.long, device=self.position.device)
        flat = codes.view(n, -1)
        for i in range(flat.shape[1]):  # the logits at i read only codes < i, all drawn already
            probs = (self(codes).reshape(n, -1, self.K)[:, i] / temperature).softmax(-1)
            flat[:, i] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(codes.device)
        self.train(was_training)
        return codes


def prior_loss() -> Callable[[nn.Module, torch.Tensor, int], tuple]:
    """A ``loss_fn`` for ``train.fit`` on code maps (B, h, w): the negative log-likelihood
    -(1/B) sum_b log p(k_b) in nats per map (maximum likelihood); logs "nats per position"."""

    def loss_fn(prior: CodePrior, indices: torch.Tensor, step: int):
        nll = -prior.log_prob(indices).mean()
        return nll, {"nats per position": nll / math.prod(prior.code_shape)}

    return loss_fn


def fit_prior(maps: torch.Tensor, K: int, steps: int, *, eval_maps: torch.Tensor | None = None,
              width: int = 96, depth: int = 2, dropout: float = 0.1, lr: float = 3e-3,
              weight_decay: float = 0.1, seed: int = 0, desc: str = "code prior",
              progress: bool = True) -> tuple[CodePrior, train.History]:
    """Fit a ``CodePrior`` of K codes to code maps (N, h, w) by maximum likelihood (``prior_loss``)
    for ``steps`` minibatches of 128: AdamW (Loshchilov and Hutter 2019; weight decay 0.1) at
    learning rate ``lr`` with a cosine decay, ``dropout`` in the residual layers; ``eval_maps`` are
    scored along the way; ``progress``: show ``train.fit``'s progress bar.
    The course's recipe for digits' 4x4 maps of K = 128 codes (notebooks 12 and 13). Deterministic
    for a ``seed`` on the CPU. Returns the prior, in eval mode, and the training ``History``.
    """
    validate.tensor("maps", maps, ndim=3, floating=False)
    check_code_maps(maps, K, maps.shape[1:])
    if eval_maps is not None:
        check_code_maps(eval_maps, K, maps.shape[1:])
    with torch.random.fork_rng(devices=[]):  # initialisation and dropout from ``seed``; global state untouched
        torch.manual_seed(seed)
        prior = CodePrior(K, tuple(maps.shape[1:]), width=width, depth=depth, dropout=dropout)
        optimizer = torch.optim.AdamW(prior.parameters(), lr=lr, weight_decay=weight_decay)
        history = train.fit(prior, prior_loss(), maps, steps=steps, eval_data=eval_maps, optimizer=optimizer,
                            lr_schedule="cosine", seed=seed, desc=desc, progress=progress)
    return prior, history


@torch.no_grad()
def dependence(prior: nn.Module, indices: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Which inputs each output reads, measured: D (n, n) bool with D[i, j] = True when changing
    the code at position j (to another random code, in every map of ``indices`` (B, h, w))
    changes the logits at position i (positions in raster order, n = h w).

    A causal prior has D[i, j] = False for every j >= i (strictly lower-triangular D); one
    without a blind spot has D[i, j] = True for every j < i. ``prior`` maps code maps (B, h, w)
    to logits (B, h, w, K) and has ``K``; it is run in eval mode (no dropout).
    """
    validate.tensor("indices", indices, ndim=3, floating=False)
    check_code_maps(indices, prior.K, indices.shape[1:])
    was_training = prior.training
    prior.eval()
    B, n = len(indices), indices[0].numel()
    base = prior(indices).reshape(B, n, -1)
    changed = torch.zeros(n, n, dtype=torch.bool)
    for j in range(n):
        other = indices.clone().reshape(B, n)
        shift = torch.randint(1, prior.K, (B,), generator=generator).to(other.device)
        other[:, j] = (other[:, j] + shift) % prior.K  # a different code at j, everything else equal
        logits = prior(other.view_as(indices)).reshape(B, n, -1)
        changed[:, j] = (logits - base).abs().amax(dim=(0, 2)).cpu() > 1e-6  # a leak moves them far more
    prior.train(was_training)
    return changed
