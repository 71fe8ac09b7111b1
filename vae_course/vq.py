"""Vector quantization: the discrete bottleneck of the VQ-VAE (van den Oord et al. 2017,
"Neural Discrete Representation Learning").

An encoder output z_e (a D-vector per position) is replaced by its nearest codebook entry
e_k, k = argmin_j ||z_e - e_j||^2, from a codebook of K entries (K, D). The argmin has no
gradient, so the decoder's gradient is copied straight through to z_e; the codebook learns
from the codebook loss ||sg[z_e] - e||^2 (or from moving averages of the z_e assigned to it),
and the commitment loss beta ||z_e - sg[e]||^2 keeps the encoder close to its codes.

Functions here work on tensors; ``VectorQuantizer`` and ``VQVAE`` below are built from them.
Shapes: vectors (N, D), codebook (K, D), code maps (B, h, w) of indices in [0, K).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from vae_course import validate
from vae_course.models import evaluating
from vae_course.objectives import log_bernoulli


def _codebook(codebook: torch.Tensor) -> torch.Tensor:
    return validate.not_empty("codebook", validate.tensor("codebook", codebook, ndim=2))


def nearest_code(z_e: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-codebook quantization: k_n = argmin_j ||z_e_n - e_j||^2 and z_q_n = e_{k_n}.

    z_e (N, D), codebook (K, D) -> (z_q (N, D), indices (N,) int64). Distances are expanded as
    ||z||^2 - 2 z.e + ||e||^2 so that no (N, K, D) tensor is built. van den Oord et al. 2017, eq. 1-2.
    """
    _codebook(codebook)
    validate.tensor("z_e", z_e, shape=(None, codebook.shape[1]))
    validate.same_dtype("z_e", z_e, codebook.dtype, "the codebook")
    distances = (z_e.pow(2).sum(1, keepdim=True) - 2 * z_e @ codebook.T
                 + codebook.pow(2).sum(1))
    indices = distances.argmin(1)
    return codebook[indices], indices


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """The straight-through estimator z_e + sg[z_q - z_e]: its value is z_q, its gradient with
    respect to z_e is the identity (the decoder's gradient is copied to the encoder) and it
    passes no gradient to z_q. Bengio et al. 2013; van den Oord et al. 2017, section 3.2."""
    _pair(z_e, z_q)
    return z_e + (z_q - z_e).detach()


def _pair(z_e: torch.Tensor, z_q: torch.Tensor, ndim: Sequence[int] | None = None) -> None:
    """Check z_e and z_q: floating tensors of one shape (and a rank in ``ndim``)."""
    validate.tensor("z_e", z_e, ndim=ndim)
    validate.tensor("z_q", z_q)
    validate.same_shape(z_e=z_e, z_q=z_q)


def _squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # summed over each example's values and averaged over the batch, like a summed log-likelihood
    return (a - b).pow(2).flatten(1).sum(1).mean()


def codebook_loss(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """The codebook loss ||sg[z_e] - e||^2: moves the chosen codes towards the encoder outputs
    and nothing else. z_e, z_q (B, ...) -> scalar, summed per example and averaged over B.
    van den Oord et al. 2017, eq. 3, second term."""
    _pair(z_e, z_q, ndim=range(2, 5))
    return _squared_error(z_e.detach(), z_q)


def commitment_loss(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """The commitment loss ||z_e - sg[e]||^2 (weighted by beta in the objective): keeps the
    encoder committed to its codes and moves nothing else. z_e, z_q (B, ...) -> scalar.
    van den Oord et al. 2017, eq. 3, third term."""
    _pair(z_e, z_q, ndim=range(2, 5))
    return _squared_error(z_e, z_q.detach())


def _codes_in_range(name: str, indices: object, K: int) -> torch.Tensor:
    """Check that ``indices`` is a non-empty integer tensor with values in [0, K)."""
    validate.integer_tensor(name, indices)
    if indices.numel() == 0 or indices.min() < 0 or indices.max() >= K:
        raise ValueError(f"{name} must be non-empty with values in [0, {K}), got "
                         f"shape {tuple(indices.shape)}" + (f" and range [{int(indices.min())}, "
                         f"{int(indices.max())}]" if indices.numel() else ""))
    return indices


def code_usage(indices: torch.Tensor, K: int) -> torch.Tensor:
    """The fraction of positions assigned to each code, p_k = #{n: k_n = k} / N, shape (K,),
    for ``indices`` of any shape with values in [0, K)."""
    validate.positive_int("K", K)
    _codes_in_range("indices", indices, K)
    return torch.bincount(indices.flatten(), minlength=K).float() / indices.numel()


def _usage(usage: torch.Tensor) -> torch.Tensor:
    validate.not_empty("usage", validate.tensor("usage", usage, ndim=1))
    if usage.min() < 0 or abs(float(usage.sum()) - 1) > 1e-4:
        raise ValueError(f"usage must be non-negative and sum to 1, got sum {float(usage.sum()):.6g}")
    return usage


def perplexity(usage: torch.Tensor) -> torch.Tensor:
    """Codebook perplexity exp(H(p)) = exp(-sum_k p_k log p_k) of the usage p (K,): the
    effective number of codes in use, K for uniform usage and 1 when one code takes all."""
    p = _usage(usage)
    return torch.exp(-torch.special.xlogy(p, p).sum())


def dead_codes(usage: torch.Tensor) -> int:
    """How many codes are never used: #{k: p_k = 0} for the usage p (K,)."""
    return int((_usage(usage) == 0).sum())


def revived_codes(used: torch.Tensor) -> int:
    """How many codes came back from the dead: #{k: used[t, k] is False and used[t', k] is True
    for some checkpoints t < t'}, for ``used`` (T, K) bool, code k used at checkpoint t (e.g.
    ``code_usage(...) > 0`` on the training set, in the order the checkpoints were taken)."""
    validate.tensor("used", used, ndim=2, floating=False)
    if used.dtype != torch.bool:
        raise TypeError(f"used must be a bool tensor (code k used at checkpoint t), "
                        f"got dtype {used.dtype}")
    dead_before = (~used).cumsum(0)[:-1] > 0  # (T - 1, K): dead at some checkpoint up to t
    return int((dead_before & used[1:]).any(0).sum())


def usage_checkpoints(loss_fn: Callable, x: torch.Tensor,
                      every: int) -> tuple[Callable, dict[int, torch.Tensor]]:
    """Wrap a VQ-VAE ``loss_fn`` for ``train.fit`` so that at every training step divisible by
    ``every`` (step 0 included, before the first update) it records which codes the model uses
    on the images x (N, C, H, W): ``code_usage(model.codes(x), K) > 0``, a (K,) bool tensor.

    Returns (the wrapped loss_fn, the record {step: used}), the record filling as training runs;
    ``torch.stack(list(record.values()))`` is the (T, K) input of ``revived_codes``. The codes are
    read in eval mode (no codebook update, no randomness), so training is the same as without
    the wrapper; held-out evaluations (eval mode) record nothing.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch, step), got {type(loss_fn).__name__}")
    validate.positive_int("every", every)
    validate.tensor("x", x, ndim=4)
    record: dict[int, torch.Tensor] = {}

    def wrapped(model: nn.Module, batch, step: int):
        if model.training and step % every == 0:
            codes = model.codes(x.to(next(model.parameters()).device))
            record[step] = code_usage(codes, model.quantizer.K).cpu() > 0
        return loss_fn(model, batch, step)

    return wrapped, record


def _ema_state(state: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the EMA state {"counts": (K,), "sums": (K, D)} (floating); return (counts, sums)."""
    if not isinstance(state, dict) or not {"counts", "sums"} <= state.keys():
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise TypeError(f"state must be a dict with 'counts' (K,) and 'sums' (K, D), got {keys}")
    sums = validate.tensor("state['sums']", state["sums"], ndim=2)
    counts = validate.tensor("state['counts']", state["counts"], shape=(len(sums),))
    return counts, sums


def ema_codebook_update(state: dict[str, torch.Tensor], z_e: torch.Tensor, indices: torch.Tensor,
                        decay: float, eps: float = 1e-5) -> torch.Tensor:
    """The exponential-moving-average codebook update (van den Oord et al. 2017, appendix A.1):
    N_k <- g N_k + (1 - g) n_k,  m_k <- g m_k + (1 - g) sum_{n: k_n = k} z_e_n,  e_k = m_k / N_k,
    with g = ``decay``, n_k the batch count and N_k Laplace-smoothed by ``eps``.

    ``state`` holds "counts" (K,) and "sums" (K, D), updated in place; z_e (N, D), indices (N,).
    Returns the new codebook (K, D). Each e_k becomes a running mean of its assigned z_e: a
    k-means step, with no learning rate and no codebook loss.
    """
    counts, sums = _ema_state(state)
    validate.tensor("z_e", z_e, ndim=2)
    if z_e.shape[1] != sums.shape[1]:
        raise ValueError(f"z_e (N, D) and state['sums'] (K, D) must have the same D, got z_e {tuple(z_e.shape)} "
                         f"and state['sums'] {tuple(sums.shape)}")
    validate.integer_tensor("indices", indices, shape=(len(z_e),))
    _codes_in_range("indices", indices, len(counts))
    validate.probability("decay", decay)
    validate.non_negative("eps", eps)
    one_hot = torch.nn.functional.one_hot(indices, len(counts)).to(z_e.dtype)  # (N, K)
    counts.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
    sums.mul_(decay).add_(one_hot.T @ z_e, alpha=1 - decay)
    n = counts.sum()
    smoothed = (counts + eps) / (n + len(counts) * eps) * n  # keeps unused codes from dividing by 0
    return sums / smoothed.unsqueeze(1)


def restart_dead_codes(codebook: torch.Tensor, counts: torch.Tensor, z_e: torch.Tensor,
                       threshold: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A remedy for dead codes: every code used fewer than ``threshold`` times since the last
    restart (``counts`` (K,)) is moved, in place, onto a randomly chosen current encoder output
    from z_e (N, D), where the data is, so it can win assignments again. Returns the indices of
    the moved codes. (Codebook resets as in Dhariwal et al. 2020, Jukebox, and Zeghidour et al. 2021.)"""
    _codebook(codebook)
    validate.tensor("counts", counts, shape=(len(codebook),), floating=False)
    validate.not_empty("z_e", validate.tensor("z_e", z_e, shape=(None, codebook.shape[1])))
    validate.non_negative("threshold", threshold)
    dead = (counts < threshold).nonzero().flatten()
    if len(dead):
        pick = torch.randint(len(z_e), (len(dead),), generator=generator).to(z_e.device)
        codebook[dead] = z_e[pick].detach().to(codebook.dtype)
    return dead


def fit_categorical_prior(indices: torch.Tensor, K: int, alpha: float = 0.0) -> torch.Tensor:
    """An independent categorical prior per position, fitted by (smoothed) counting:
    p(k at position (i, j)) = (#{n: k_nij = k} + alpha) / (N + K alpha).

    indices (N, h, w) of training codes -> probabilities (h, w, K). It ignores every dependence
    between positions, which is why its samples are worse than an autoregressive prior's.
    """
    validate.positive_int("K", K)
    validate.non_negative("alpha", alpha)
    validate.integer_tensor("indices", indices, ndim=3)
    _codes_in_range("indices", indices, K)
    counts = torch.nn.functional.one_hot(indices, K).sum(0).double() + alpha
    return (counts / counts.sum(-1, keepdim=True)).float()


def _probs(probs: object) -> torch.Tensor:
    """Check probs (h, w, K): finite, non-negative probabilities."""
    validate.finite("probs", validate.tensor("probs", probs, ndim=3))
    if probs.numel() and probs.min() < 0:
        raise ValueError(f"probs must be >= 0, got a minimum of {probs.min().item():.4g}")
    return probs


def sample_categorical_prior(probs: torch.Tensor, n: int,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw n code maps, each position independently: k_ij ~ Categorical(probs[i, j]).

    probs (h, w, K) -> indices (n, h, w) int64.
    """
    _probs(probs)
    validate.positive_int("n", n)
    h, w, K = probs.shape
    flat = torch.multinomial(probs.reshape(h * w, K).cpu(), n, replacement=True, generator=generator)
    return flat.T.reshape(n, h, w).to(probs.device)


def categorical_log_prob(probs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """log p(k) = sum_ij log probs[i, j, k_ij] in nats under the independent prior, (B,), for
    probs (h, w, K) and code maps indices (B, h, w) with values in [0, K). -inf where a code has
    probability 0 (fit with ``alpha > 0`` to score held-out maps)."""
    _probs(probs)
    h, w, K = probs.shape
    validate.integer_tensor("indices", indices, shape=(None, h, w))
    _codes_in_range("indices", indices, K)
    log_p = torch.log(probs).reshape(h * w, K)
    return log_p.gather(1, indices.reshape(len(indices), h * w).T.to(probs.device)).sum(0)


def jittered_codes(model: nn.Module, x: torch.Tensor, copies: int, sigma: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Code maps of images x (N, C, H, W) with the encoder's output jittered before quantization:
    k = argmin_j ||z_e(x) + sigma s eps - e_j||^2, eps ~ N(0, I), s the standard deviation of z_e
    over x; ``copies`` draws per image -> indices (copies * N, h, w) int64, copy-major.

    A data augmentation for a prior over codes: a position whose z_e lies between two codes gets
    either, so the prior learns which codes are near-synonyms instead of memorising each
    training map's exact choice (the decoder maps near codes to near patches). ``model`` is a
    ``VQVAE``; sigma = 0 gives ``copies`` copies of ``model.codes(x)``.
    """
    _vqvae("model", model)
    validate.positive_int("copies", copies)
    validate.non_negative("sigma", sigma)
    with torch.no_grad():
        z_e = model.encode(x)
        scale = sigma * z_e.std()
        maps = []
        for _ in range(copies):
            noisy = z_e + scale * torch.randn(z_e.shape, generator=generator).to(z_e.device)
            flat = noisy.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
            maps.append(nearest_code(flat, model.quantizer.codebook)[1].view(len(x), *z_e.shape[2:]))
    return torch.cat(maps)


@torch.no_grad()
def vqvae_elbo(model: nn.Module, x: torch.Tensor, log_prior: Callable[[torch.Tensor], torch.Tensor],
               codes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The VQ-VAE's ELBO per image with a prior p(k) over code maps, for binary images x (B, C, H, W):

        log p(x) = log sum_k p(k) p(x | k) >= log p(x | k*) + log p(k*),

    one term of the sum, and the ELBO of the one-hot q(k | x) = [k = k*] (its entropy is 0, so
    KL(q || p) = -log p(k*)). It holds for *every* k*: by default the encoder's map of x, or
    ``codes`` (B, h, w), e.g. the encoder's map of the grey image that x was binarized from.
    ``log_prior`` maps code maps (B, h, w) to log p(k) (B,) in nats (``CodePrior.log_prob``, or
    ``categorical_log_prob`` with its probs); the Bernoulli decoder makes log p(x | k) a
    log-probability of binary images. Returns (B,) tensors "log p(x|k)", "log p(k)" and "elbo",
    in nats. van den Oord et al. 2017, section 3.1.
    """
    _vqvae("model", model)
    validate.module_input("x", x, model)
    validate.not_empty("x", validate.tensor("x", x, ndim=4))
    if not callable(log_prior):
        raise TypeError(f"log_prior must be a function of code maps (B, h, w) -> (B,), got {type(log_prior).__name__}")
    if ((x != 0) & (x != 1)).any():
        raise ValueError("x must be binary images (0/1 pixels), e.g. data.binarize(x): the Bernoulli "
                         "decoder is a probability of binary images only")
    if codes is None:
        codes = model.codes(x)
    validate.tensor("codes", codes, shape=(len(x), *model.code_shape), floating=False)
    _codes_in_range("codes", codes, model.quantizer.K)
    log_px = log_bernoulli(x, model.decoder(model.quantizer.codebook[codes].permute(0, 3, 1, 2))).flatten(1).sum(1)
    log_pk = log_prior(codes)
    return {"log p(x|k)": log_px, "log p(k)": log_pk, "elbo": log_px + log_pk}


@torch.no_grad()
def prior_table(model: nn.Module, x: torch.Tensor, codes: torch.Tensor,
                log_priors: dict[str, Callable[[torch.Tensor], torch.Tensor]]
                ) -> dict[str, dict[str, float]]:
    """Priors over code maps side by side, each row averaged over the B images, in nats per image:
    "held-out NLL" -(1/B) sum_b log p(k_b) of the code maps ``codes`` (B, h, w), and the terms of
    the bound log p(x) >= log p(x | k*) + log p(k*) (``vqvae_elbo``) on the binary images x
    (B, C, H, W) with k* = ``codes``: "log p(x|k*)", "log p(k*)" and "bound".

    ``log_priors`` maps a prior's name to its log p(k) (code maps (B, h, w) -> (B,)). The decoder
    term is the same for every prior, so two priors' bounds differ by their NLLs' difference.
    """
    if not isinstance(log_priors, dict):
        raise TypeError(f"log_priors must be a dict {{name: log_prior}}, got {type(log_priors).__name__}")
    table = {}
    for name, log_prior in log_priors.items():
        bound = vqvae_elbo(model, x, log_prior, codes=codes)
        table[name] = {"held-out NLL": -bound["log p(k)"].mean().item(),
                       "log p(x|k*)": bound["log p(x|k)"].mean().item(),
                       "log p(k*)": bound["log p(k)"].mean().item(),
                       "bound": bound["elbo"].mean().item()}
    return table


def _vqvae(name: str, model: object) -> None:
    if not isinstance(model, VQVAE):
        raise TypeError(f"{name} must be a vq.VQVAE, got {type(model).__name__}")


def vqvae_loss(beta: float = 0.25) -> Callable[[nn.Module, torch.Tensor, int], tuple]:
    """A ``loss_fn`` for ``train.fit``: the VQ-VAE objective per example, averaged over the batch,
    -log p(x | z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2 (van den Oord et al. 2017, eq. 3),
    with a Bernoulli decoder; the codebook term is 0 for an EMA codebook. ``batch`` is x (B, C, H, W)
    or (x, y). Logs recon, codebook, commitment and the batch's codebook perplexity.
    """
    validate.non_negative("beta", beta)

    def loss_fn(model: nn.Module, batch, step: int):
        _vqvae("model", model)
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        validate.module_input("batch", x, model)
        validate.tensor("batch", x, shape=(None, *model.image_shape))
        validate.unit_interval("batch", validate.not_empty("batch", x))
        out = model.quantize(model.encoder(x))
        recon = -log_bernoulli(x, model.decoder(out.z_q)).flatten(1).sum(1).mean()
        loss = recon + out.codebook_loss + beta * out.commitment_loss
        usage = code_usage(out.indices, model.quantizer.K)
        return loss, {"recon": recon, "codebook": out.codebook_loss,
                      "commitment": out.commitment_loss, "perplexity": perplexity(usage)}

    return loss_fn


# --- the models built from these functions -----------------------------------------------------

class VQOutput(NamedTuple):
    """What ``VectorQuantizer`` returns: the quantized map z_q (B, D, h, w) carrying the
    straight-through gradient, the code indices (B, h, w) and the two scalar losses."""
    z_q: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VectorQuantizer(nn.Module):
    """The VQ-VAE bottleneck (van den Oord et al. 2017): each position of z_e (B, D, h, w) is
    replaced by its nearest entry of a K x D codebook (``nearest_code``), with the
    straight-through gradient (``straight_through``).

    - ``ema_decay=None``: the codebook is a parameter trained by the codebook loss;
      ``ema_decay=g``: it is a buffer updated by moving averages (``ema_codebook_update``)
      and the codebook loss is 0.
    - ``restart_every=n``: every n training calls, codes unused during the last n calls are moved
      onto random current encoder outputs (``restart_dead_codes``); ``self.restarts`` counts them.

    The codebook starts uniform in [-1/K, 1/K], as in the paper's reference code.
    """

    def __init__(self, K: int, D: int, *, ema_decay: float | None = None,
                 restart_every: int | None = None):
        super().__init__()
        self.K, self.D = validate.positive_int("K", K), validate.positive_int("D", D)
        self.ema_decay = None if ema_decay is None else validate.probability("ema_decay", ema_decay)
        self.restart_every = None if restart_every is None else validate.positive_int("restart_every", restart_every)
        codebook = torch.empty(K, D).uniform_(-1 / K, 1 / K)
        if self.ema_decay is None:
            self.codebook = nn.Parameter(codebook)
        else:  # each code starts as if it had been seen once, at its initial value
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_counts", torch.ones(K))
            self.register_buffer("ema_sums", codebook.clone())
        self.register_buffer("counts", torch.zeros(K))  # assignments since the last restart
        self.calls, self.restarts = 0, 0

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor) -> None:
        dead = restart_dead_codes(self.codebook, self.counts, flat)
        if self.ema_decay is not None:  # restart the moving averages at the new codes too
            self.ema_counts[dead], self.ema_sums[dead] = 1.0, self.codebook[dead]
        self.restarts += len(dead)
        self.counts.zero_()

    def forward(self, z_e: torch.Tensor) -> VQOutput:
        """Quantize z_e (B, D, h, w); in training mode also update the EMA codebook and restarts."""
        validate.tensor("z_e", z_e, shape=(None, self.D, None, None))
        B, D, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, D)
        if self.training and self.restart_every and self.calls and self.calls % self.restart_every == 0:
            self._restart(flat)
        z_q, indices = nearest_code(flat, self.codebook)
        if self.training:
            self.calls += 1
            self.counts += torch.bincount(indices, minlength=self.K).to(self.counts.dtype)
            if self.ema_decay is not None:
                with torch.no_grad():
                    self.codebook.copy_(ema_codebook_update(
                        {"counts": self.ema_counts, "sums": self.ema_sums}, flat.detach(), indices, self.ema_decay))
        z_q = z_q.view(B, h, w, D).permute(0, 3, 1, 2)
        book = codebook_loss(z_e, z_q) if self.ema_decay is None else z_e.new_zeros(())
        return VQOutput(straight_through(z_e, z_q), indices.view(B, h, w), book, commitment_loss(z_e, z_q))


def _conv_stack(c_in: int, c_out: int, width: int, downsample: int, up: bool) -> nn.Sequential:
    """3x3 conv -> ``downsample`` stride-2 (transposed) 4x4 convs, each halving (doubling) H, W
    -> conv to ``c_out``: the VQ-VAE's spatial encoder (up=False) or decoder (up=True)."""
    resample = nn.ConvTranspose2d if up else nn.Conv2d
    layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU()]
    for _ in range(downsample):
        layers += [resample(width, width, 4, stride=2, padding=1), nn.ReLU()]
    layers.append(nn.Conv2d(width, c_out, 3 if up else 1, padding=1 if up else 0))
    return nn.Sequential(*layers)


class VQVAE(nn.Module):
    """A small VQ-VAE (van den Oord et al. 2017): a conv encoder maps x (B, C, H, W) to
    z_e (B, D, h, w) with h = H / 2^downsample, a ``VectorQuantizer`` with K codes replaces each
    position by a code, and a conv decoder maps z_q back to logits (B, C, H, W).

    ``downsample=1`` turns digits' 8x8 into a 4x4 map of codes; ``downsample=2`` MNIST's 28x28
    into 7x7. ``ema_decay`` and ``restart_every`` go to the quantizer.
    """

    def __init__(self, image_shape: Sequence[int], K: int = 32, D: int = 16, *, downsample: int = 1,
                 width: int = 64, ema_decay: float | None = None, restart_every: int | None = None):
        super().__init__()
        self.image_shape = validate.image_shape("image_shape", image_shape)
        for name, value in (("D", D), ("downsample", downsample), ("width", width)):
            validate.positive_int(name, value)
        scale = 2 ** downsample
        if self.image_shape[1] % scale or self.image_shape[2] % scale:
            raise ValueError(f"image height and width must be multiples of 2**downsample = {scale}, "
                             f"got image_shape {self.image_shape}")
        self.code_shape = (self.image_shape[1] // scale, self.image_shape[2] // scale)
        self.encoder = _conv_stack(self.image_shape[0], D, width, downsample, up=False)
        self.quantizer = VectorQuantizer(K, D, ema_decay=ema_decay, restart_every=restart_every)
        self.decoder = _conv_stack(D, self.image_shape[0], width, downsample, up=True)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous encoder output z_e (B, D, h, w) of images x (B, C, H, W)."""
        validate.module_input("x", x, self)
        validate.tensor("x", x, shape=(None, *self.image_shape))
        return self.encoder(x)

    def quantize(self, z_e: torch.Tensor) -> VQOutput:
        """The quantizer's output for z_e (B, D, h, w): z_q, indices (B, h, w) and the losses."""
        return self.quantizer(z_e)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, C, H, W), from quantized maps z_q (B, D, h, w)."""
        validate.module_input("z_q", z_q, self)
        validate.tensor("z_q", z_q, shape=(None, self.quantizer.D, None, None))
        return torch.sigmoid(self.decoder(z_q))

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from code maps (B, h, w): look the codes up, then decode."""
        validate.integer_tensor("indices", indices, shape=(None, *self.code_shape))
        _codes_in_range("indices", indices, self.quantizer.K)
        return self.decode(self.quantizer.codebook[indices].permute(0, 3, 1, 2))

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The code map (B, h, w) of images x (B, C, H, W), in eval mode (no codebook updates)."""
        with evaluating(self):
            return self.quantize(self.encode(x)).indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize(self.encode(x)).z_q)
