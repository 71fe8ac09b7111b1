"""Looking inside a trained VAE's latent space: codes of a whole data set, latent traversals,
the MIG of a model and which latent carries which factor, and the bias of the minibatch
estimators of q(z). (The sprites VAEs themselves are trained by ``recipe``.)
(The KL per dimension and active units are ``losses.kl_per_dimension`` and ``losses.active_units``.)

Used by notebooks 08-10 (beta-VAE, beta-TCVAE, HFVAE) and ``benchmarks/mig_table.py``.
Shapes: images x (N, C, H, W); codes mu, logvar (N, D).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vae_course import estimators, metrics, objectives, train, validate


@torch.no_grad()
def encode_all(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters (mu, logvar) of q_phi(z|x_n) for every image of ``x`` (N, C, H, W),
    each (N, D), computed in batches in evaluation mode and returned on the CPU."""
    validate.tensor("x", x, ndim=4)
    validate.module_input("x", x, model)
    validate.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = [validate.posterior_pair(model.encode(x[i:i + batch_size].to(device)), model)
             for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu()


@torch.no_grad()
def latent_traversal(model: nn.Module, z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Decode z0 with latent dimension ``dim`` swept over ``values``: image k is
    E[x | z = z0 with z0[dim] = values[k]], shape (len(values), C, H, W) in [0, 1]
    (Higgins et al. 2017, figure 1). ``z0`` is (D,), ``values`` is (V,)."""
    validate.tensor("z0", z0, ndim=1)
    validate.tensor("values", values, ndim=1)
    if not (isinstance(dim, int) and 0 <= dim < len(z0)):
        raise ValueError(f"dim must be an int in [0, {len(z0) - 1}] for z0 of shape {tuple(z0.shape)}, got {dim!r}")
    device = next(model.parameters()).device
    z = z0.to(device).repeat(len(values), 1)
    z[:, dim] = values.to(device)
    return model.mean_image(model.decode(z)).cpu()


def traversal_rows(model: nn.Module, z0: torch.Tensor, dims: Sequence[int],
                   values: torch.Tensor) -> list[torch.Tensor]:
    """One ``latent_traversal`` per latent dimension in ``dims``: a list of (V, C, H, W)
    batches, ready for ``plots.show_rows``."""
    return [latent_traversal(model, z0, d, values) for d in dims]


def model_mig(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, n_bins: int = 20) -> float:
    """The binned MIG (``metrics.mig``, the estimator of Locatello et al. 2019) of a model's mean
    codes mu(x) against the true factor indices ``factors`` (N, K) of the images ``x`` (N, C, H, W)."""
    _check_factors(x, factors)
    mu, _ = encode_all(model, x)
    return metrics.mig(mu.numpy(), factors.cpu().numpy(), n_bins=n_bins)


def _check_factors(x: torch.Tensor, factors: object) -> None:
    if not isinstance(factors, torch.Tensor) or factors.shape[:1] != x.shape[:1]:
        raise ValueError(f"factors must be a tensor with one row per image ({len(x)}), got "
                         f"{getattr(factors, 'shape', type(factors).__name__)}")


def factor_report(model: nn.Module, x: torch.Tensor, factors: torch.Tensor, n_samples: int = 10_000,
                  seed: int = 0) -> dict[str, object]:
    """How a model's latents carry the true factors ``factors`` (N, K) of the images ``x``:

    "mig_binned" (``metrics.mig`` of the posterior means), "mig_chen" (``metrics.mig_chen``, all
    factors) and "mig_chen_no_shape" (Chen et al.'s dSprites protocol: every factor but the
    first, shape); "mi" the (D, K) matrix I(z_j; v_k) / H(v_k) of Chen's estimator; per factor
    (K,): "best" its best latent j*, "best_mi" I(z_j*; v_k) / H(v_k) (how much of v_k that latent
    holds), "gap" the MIG's term (best minus second best I, over H(v_k)) and
    "fraction_of_mi_sum" max_j I / sum_j I (how concentrated, not how much).
    """
    _check_factors(x, factors)
    mu, logvar = encode_all(model, x)
    f = factors.cpu()
    mi = metrics.mutual_info_matrix_chen(mu, logvar, f, n_samples, torch.Generator().manual_seed(seed)).numpy()
    entropies = metrics.factor_entropies(f.numpy())
    return {"mig_binned": metrics.mig(mu.numpy(), f.numpy()),
            "mig_chen": metrics.mig_from_mi(mi, entropies),
            "mig_chen_no_shape": metrics.mig_from_mi(mi[:, 1:], entropies[1:]),
            "mi": mi / entropies, "best": mi.argmax(0),
            "best_mi": metrics.best_latent_normalized_mi(mi, entropies),
            "gap": metrics.normalized_gaps(mi, entropies),
            "fraction_of_mi_sum": metrics.best_latent_fraction_of_mi_sum(mi)}


def factor_rows(report: dict[str, object], names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """The per-factor numbers of a ``factor_report`` as rows for ``report.markdown_table``: for
    each factor name, its best latent (numbered from 1), I/H of that latent, the MIG's gap and
    the fraction of sum_j I in the best latent."""
    return {name: {"best latent": int(report["best"][k]) + 1, "I(z_j*; v)/H(v)": float(report["best_mi"][k]),
                   "gap (MIG term)": float(report["gap"][k]),
                   "fraction of sum_j I": float(report["fraction_of_mi_sum"][k])}
            for k, name in enumerate(names)}


@torch.no_grad()
def sprites_scores(model: nn.Module, sprites, n_samples: int = 10_000) -> dict[str, float]:
    """The numbers every sprites comparison prints for one model, on the whole data set
    ``sprites`` (a ``data.Sprites``): "mig_chen", "mig_chen_no_shape", "mig_binned" (see
    ``factor_report``), "rate" E KL(q(z|x) || p(z)) and "distortion" -E log p(x|z) in nats
    (``mean_elbo_terms``), and "I/H <factor>", I(z_j*; v_k) / H(v_k) of each factor's best latent."""
    scores = factor_report(model, sprites.x, sprites.factors, n_samples)
    held = {f"I/H {name}": float(v) for name, v in zip(sprites.names, scores["best_mi"])}
    return {"mig_chen": scores["mig_chen"], "mig_chen_no_shape": scores["mig_chen_no_shape"],
            "mig_binned": scores["mig_binned"], **mean_elbo_terms(model, sprites.x), **held}


@torch.no_grad()
def mean_elbo_terms(model: nn.Module, x: torch.Tensor, seed: int = 0, batch_size: int = 2048) -> dict[str, float]:
    """"distortion" -E log p(x|z) and "rate" E KL(q(z|x) || N(0, I)) (closed form) in nats,
    averaged over the images x (N, C, H, W), one z ~ q(z|x) per image drawn with the seeded
    noise ``seed`` (the same model gives the same numbers every call). The mean ELBO is
    -(distortion + rate)."""
    validate.vae("model", model, "the ELBO's terms")
    validate.tensor("x", x, ndim=4)
    device = next(model.parameters()).device
    distortion = rate = 0.0
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size].to(device)
            x_params, mu, logvar, _ = model(batch)
            distortion -= model.log_px_given_z(batch, x_params).sum().item() / len(x)
            rate += objectives.kl_normal_std(mu, logvar).sum().item() / len(x)
    return {"distortion": distortion, "rate": rate}


def mean_and_spread(rows: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Per key, the mean and standard deviation (population, ddof = 0) over ``rows`` (one dict of
    scores per seed)."""
    if not rows:
        raise ValueError("rows must hold the scores of at least one seed, got none")
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))) for k in rows[0]}


def compare_at_matched_distortion(candidate: Sequence[dict[str, float]], baseline: Sequence[dict[str, float]],
                                  curve: dict[float, dict[str, float]], name: str = "beta-TCVAE",
                                  baseline_name: str = "beta-VAE",
                                  curve_name: str = "beta-VAE") -> dict[str, object]:
    """Compare two methods' MIG (Chen) over seeds where it is fair: at matched reconstruction.
    ``curve`` maps each beta of a sweep of ``curve_name`` (beta-VAE) to its scores; its MIG at
    the candidate's mean distortion is read off it by linear interpolation. Returns the mean MIG
    "gain", the mean "distortion_gap" and a sentence "text" that says what the numbers support:
    a better trade-off only when, over at least two seeds, the candidate beats both the baseline
    and the interpolated curve by more than twice the seeds' spread."""
    a, b = mean_and_spread(candidate), mean_and_spread(baseline)
    points = sorted((c["distortion"], c["mig_chen"]) for c in curve.values())
    at_same = float(np.interp(a["distortion"][0], [p[0] for p in points], [p[1] for p in points]))
    gain, spread = a["mig_chen"][0] - b["mig_chen"][0], max(a["mig_chen"][1], b["mig_chen"][1])
    seeds = min(len(candidate), len(baseline))
    better = seeds >= 2 and gain > 2 * spread and a["mig_chen"][0] - at_same > 2 * spread
    text = (f"{name}: MIG {a['mig_chen'][0]:.3f} ± {a['mig_chen'][1]:.3f} at distortion {a['distortion'][0]:.1f} nats; "
            f"{baseline_name}: {b['mig_chen'][0]:.3f} ± {b['mig_chen'][1]:.3f} at {b['distortion'][0]:.1f} nats; "
            f"the {curve_name} curve gives {at_same:.3f} at {name}'s distortion. ")
    if seeds < 2:
        text += "One seed has no spread to weigh the difference against: run more seeds to compare."
    else:
        text += (f"{name} has the better MIG/reconstruction trade-off here, by more than twice the seeds' spread."
                 if better else f"These numbers do not show a better trade-off for {name}: the difference is not "
                 f"larger than twice the seeds' spread ({spread:.3f}) at matched reconstruction.")
    return {"gain": gain, "distortion_gap": a["distortion"][0] - b["distortion"][0], "at_same": at_same,
            "better": better, "text": text}


def random_rotation(dim: int, seed: int = 0) -> torch.Tensor:
    """A random rotation matrix R (dim, dim), float64, R R^T = I and det R = +1 (QR of a seeded
    Gaussian matrix, with the signs fixed so that it is uniform over rotations)."""
    validate.positive_int("dim", dim)
    a = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotated_marginals(mu: torch.Tensor, logvar: torch.Tensor, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The marginal of each coordinate of z' = R z for z ~ N(mu, diag exp(logvar)): mean
    (R mu)_j and log-variance log sum_i R_ji^2 exp(logvar_i). mu, logvar (N, D), R (D, D)."""
    validate.tensor("mu", mu, ndim=2)
    validate.same_shape(mu=mu, logvar=logvar)
    validate.tensor("rotation", rotation, shape=(mu.shape[1], mu.shape[1]))
    r = rotation.to(mu.dtype)
    return mu @ r.T, torch.log(logvar.exp() @ (r ** 2).T)


def kl_full_normal_std(mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, cov) || N(0, I)) = 1/2 [tr cov + |mu|^2 - D - log det cov] for mu (N, D) and
    full covariances cov (N, D, D): (N,)."""
    validate.tensor("mu", mu, ndim=2)
    validate.tensor("cov", cov, shape=(len(mu), mu.shape[1], mu.shape[1]))
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + mu.pow(2).sum(-1) - mu.shape[1] - torch.logdet(cov))


@torch.no_grad()
def rotated_elbo(model: nn.Module, x: torch.Tensor, rotation: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The single-sample ELBO of each image of ``x`` under ``model`` and under its rotated twin:
    encoder q'(z'|x) = N(R mu, R Sigma R^T) (no longer diagonal), decoder p'(x|z') = p(x|R^T z'),
    the same N(0, I) prior, with the same noise. Returns (elbo, elbo_rotated), each (N,): equal
    for every x, since N(0, I) is rotation invariant (Rolinek et al. 2019)."""
    validate.tensor("x", x, ndim=4)
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + (0.5 * logvar).exp() * eps
    r = rotation.to(mu.dtype)
    kl = objectives.kl_normal_std(mu, logvar)
    elbo = model.log_px_given_z(x, model.decode(z)) - kl
    cov = r @ torch.diag_embed(logvar.exp().double()).to(mu.dtype) @ r.T
    z_rot = z @ r.T
    kl_rot = kl_full_normal_std((mu @ r.T).double(), cov.double()).to(mu.dtype)
    return elbo, model.log_px_given_z(x, model.decode(z_rot @ r)) - kl_rot


def refit_diagonal_encoder(model: nn.Module, x: torch.Tensor, rotation: torch.Tensor, steps: int = 300,
                           batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> nn.Module:
    """Rolinek et al. 2019's test of what picks the axes: hold the rotated twin's decoder fixed,
    p'(x|z') = p(x|R^T z'), and fit a *diagonal*-Gaussian encoder q'(z'|x) = N(m(x), diag s^2(x))
    to it by ``steps`` Adam steps on the mean ELBO (beta = 1) over minibatches of ``x``
    (N, C, H, W), batches and noise seeded by ``seed``. The encoder is ``model``'s own
    architecture, started at its weights with the means rotated, m(x) = R mu(x), the variances
    its own; with R = I it refits the original.
    The best diagonal posterior for the rotated decoder has a lower ELBO than for the original
    when the original's axes are the ones a diagonal posterior fits best. Returns the twin (a
    copy: ``model`` is unchanged), in evaluation mode; ``rotation`` R is (D, D)."""
    validate.vae("model", model, "refitting its encoder")
    validate.tensor("x", x, ndim=4)
    d = model.latent_dim
    validate.tensor("rotation", rotation, shape=(d, d))
    if not torch.allclose(rotation @ rotation.T, torch.eye(d, dtype=rotation.dtype), atol=1e-5):
        raise ValueError("rotation must be orthogonal (R R^T = I, e.g. random_rotation(D)), got R R^T = "
                         f"{(rotation @ rotation.T).tolist()}")
    twin = copy.deepcopy(model).requires_grad_(False)
    r = rotation.to(next(model.parameters()).dtype)
    turn_z = nn.Linear(d, d, bias=False).requires_grad_(False)  # z' -> R^T z' (rows: z' @ R)
    turn_z.weight.copy_(r.T)
    turn_mu = nn.Linear(2 * d, 2 * d, bias=False).requires_grad_(False)  # (mu, logvar) -> (R mu, logvar)
    turn_mu.weight.copy_(torch.block_diag(r, torch.eye(d, dtype=r.dtype)))
    twin.encoder.requires_grad_(True)
    twin.encoder, twin.decoder = nn.Sequential(twin.encoder, turn_mu), nn.Sequential(turn_z, twin.decoder)
    with torch.random.fork_rng():  # the posterior noise seeded too: the same refit every call
        torch.manual_seed(seed)
        train.fit(twin, _negative_elbo, x, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  desc="refitting a diagonal encoder", progress=False)
    return twin.eval()


def _negative_elbo(model: nn.Module, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """-ELBO averaged over the batch, one z ~ q(z|x) per image (the loss of the refit)."""
    x_params, mu, logvar, _ = model(x)
    elbo = model.log_px_given_z(x, x_params) - objectives.kl_normal_std(mu, logvar)
    return -elbo.mean(), {}


def estimator_bias(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, batch_size: int,
                   estimator: str, repeats: int = 20, generator: torch.Generator | None = None) -> dict[str, float]:
    """Bias of a minibatch estimator on a small data set of N points: the mean, over ``repeats``
    minibatches of M = ``batch_size`` points drawn without replacement, of the batch's
    ``estimators.kl_decomposition`` minus the exact ``kl_decomposition_exact`` of the same
    samples, for each of "mi", "tc", "dwkl" (Chen et al. 2018, section 3). z (N, D) holds one
    sample of q(z|x_n) per data point; mu, logvar (N, D) are the encoder outputs."""
    validate.positive_int("repeats", repeats)
    validate.positive_int("batch_size", batch_size, minimum=2)
    exact = estimators.kl_decomposition_exact(z, mu, logvar, torch.arange(len(z)), reduction="none")
    bias = dict.fromkeys(estimators.TERMS, 0.0)
    for _ in range(repeats):
        idx = torch.randperm(len(z), generator=generator)[:batch_size]
        estimate = estimators.kl_decomposition(z[idx], mu[idx], logvar[idx], len(z), estimator)
        for name in bias:
            bias[name] += (estimate[name] - exact[name][idx].mean()).item() / repeats
    return bias
