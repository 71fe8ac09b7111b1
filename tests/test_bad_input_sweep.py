"""The package's public functions called the wrong way (issue 17, "The helpers, called the wrong
way"): one argument at a time is made wrong (wrong Python type, dtype, rank, NaN, a negative or
zero size, a value out of range) and the call must raise a ValueError/TypeError from the course's
own code whose message names that argument, not an error from deep inside torch or numpy.

Table-driven: ``CASES`` lists each function with a builder of valid arguments; ``mutations``
derives the wrong values from each valid one. A mutation is *due* (an error is required) or not
(the call may also succeed, e.g. float64 where float32 is usual, or a NaN that just gives NaN,
but it must not fail deep inside). Run as a script for the counts per function:

    PYTHONPATH=$PWD python tests/test_bad_input_sweep.py
"""
from __future__ import annotations

import math
import re
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vae_course import (corruption, density, diagnostics, disentangle, estimators, factorvae, flow,
                        gradients, linear_gaussian, losses, metrics, models, objectives, pca, quality,
                        sprites, train, traversals, validate, vq)

PACKAGE = Path(vq.__file__).resolve().parent


# --- the wrong values ------------------------------------------------------------------------

def _with_first(x: torch.Tensor, value: float) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[0] = value
    return x


def _tensor_mutations(x: torch.Tensor) -> list[tuple[str, object, bool]]:
    out = [("list", x.tolist(), True), ("extra dim", x.unsqueeze(0), True)]
    if x.dim():
        out += [("fewer dims", x[0], True), ("empty", x[:0], False)]
    if x.dtype == torch.bool:
        return out + [("int dtype", x.long(), True)]
    if not x.is_floating_point():
        return out + [("float dtype", x.float(), True), ("negative", _with_first(x, -1), True)]
    other = torch.float32 if x.dtype == torch.float64 else torch.float64
    out += [("int dtype", x.round().long(), True), (str(other).replace("torch.", ""), x.to(other), False)]
    if x.numel():
        out += [("nan", _with_first(x, math.nan), False), ("inf", _with_first(x, math.inf), False)]
    return out


def _array_mutations(x: np.ndarray) -> list[tuple[str, object, bool]]:
    out = [("tensor", torch.from_numpy(x), True), ("list", x.tolist(), True), ("extra dim", x[None], True),
           ("fewer dims", x[0], True)]
    if x.dtype.kind == "f":
        nan = x.copy()
        nan.flat[0] = math.nan
        out.append(("nan", nan, False))
    return out


def mutations(value: object) -> list[tuple[str, object, bool]]:
    """(name, wrong value, due) for each way to get ``value`` wrong."""
    if isinstance(value, torch.Tensor):
        return _tensor_mutations(value)
    if isinstance(value, np.ndarray):
        return _array_mutations(value)
    if value is None or isinstance(value, (bool, torch.Generator)):
        return []
    if isinstance(value, int):
        out = [("negative", -1, True), ("float", value + 0.5, True), ("str", str(value), True)]
        return out + ([("zero", 0, True)] if value >= 1 else [])
    if isinstance(value, float):
        return [("nan", math.nan, True), ("negative", -abs(value) - 1, True), ("str", str(value), True)]
    if isinstance(value, str):
        return [("unknown", "nonsense", True), ("int", 3, True)]
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return [("str", "abc", True), ("short", value[:-1], True), ("negative", (-1, *value[1:]), True)]
    if isinstance(value, (list, dict)):
        return [("str", "abc", True)]
    return [("str", "abc", True)]  # a model, a function, a fitted object


# --- the functions ---------------------------------------------------------------------------

@dataclass
class Case:
    """``fn(**make())`` is a valid call; ``skip`` names "arg" or "arg:mutation" not to try (with
    the reason beside the case), ``accepted`` those that may also succeed, ``extra`` adds
    (name, value, due) mutations of an argument."""
    name: str
    fn: object
    make: object
    skip: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 4, shape=(1, 4, 4), seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *shape, generator=_g(seed))


def _vqvae() -> vq.VQVAE:
    torch.manual_seed(0)
    return vq.VQVAE((1, 4, 4), K=4, D=2, width=4)


def _vae(kind: str = "mlp") -> models.VAE:
    torch.manual_seed(0)
    return models.VAE.build(kind, (1, 4, 4), 2, hidden=(8,) if kind == "mlp" else 8)


def _cvae() -> models.ConditionalVAE:
    torch.manual_seed(0)
    return models.ConditionalVAE((1, 4, 4), 2, n_classes=3, hidden=(8,))


def _lg() -> linear_gaussian.LinearGaussian:
    return linear_gaussian.LinearGaussian.random(3, 2)


def _posterior(m: int = 5, d: int = 3, seed: int = 0) -> dict:
    g = _g(seed)
    mu, logvar = torch.randn(m, d, generator=g), 0.1 * torch.randn(m, d, generator=g)
    return {"z": mu + torch.randn(m, d, generator=g), "mu": mu, "logvar": logvar}


def _classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def _ema_args() -> dict:
    g = _g()
    return {"state": {"counts": torch.ones(4), "sums": torch.randn(4, 2, generator=g)},
            "z_e": torch.randn(6, 2, generator=g), "indices": torch.tensor([0, 1, 2, 3, 0, 1]), "decay": 0.9,
            "eps": 1e-5}


def _ema_state_mutations() -> list:
    sums = torch.zeros(4, 2)
    return [("missing key", {"counts": torch.ones(4)}, True),
            ("counts shape", {"counts": torch.ones(3), "sums": sums}, True),
            ("sums shape", {"counts": torch.ones(4), "sums": torch.zeros(4, 3)}, True),
            ("int counts", {"counts": torch.ones(4, dtype=torch.long), "sums": sums}, True)]


def _codes() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(24, 3))


def _levels() -> np.ndarray:
    return np.stack([np.arange(24) % 2, np.arange(24) // 2 % 3], 1)


def _lin_vel(x, t):
    return -x


CASES = [
    # vq
    Case("vq.nearest_code", vq.nearest_code,
         lambda: {"z_e": torch.randn(6, 2, generator=_g()), "codebook": torch.randn(4, 2, generator=_g(1))}),
    Case("vq.straight_through", vq.straight_through,
         lambda: {"z_e": torch.randn(6, 2, generator=_g()), "z_q": torch.randn(6, 2, generator=_g(1))}),
    Case("vq.codebook_loss", vq.codebook_loss,
         lambda: {"z_e": torch.randn(2, 2, 3, 3, generator=_g()), "z_q": torch.randn(2, 2, 3, 3, generator=_g(1))}),
    Case("vq.commitment_loss", vq.commitment_loss,
         lambda: {"z_e": torch.randn(2, 2, 3, 3, generator=_g()), "z_q": torch.randn(2, 2, 3, 3, generator=_g(1))}),
    Case("vq.code_usage", vq.code_usage, lambda: {"indices": torch.tensor([[0, 1], [3, 1]]), "K": 4},
         skip=("indices:extra dim", "indices:fewer dims")),  # any shape of indices is allowed
    Case("vq.perplexity", vq.perplexity, lambda: {"usage": torch.tensor([0.5, 0.25, 0.25, 0.0])}),
    Case("vq.dead_codes", vq.dead_codes, lambda: {"usage": torch.tensor([0.5, 0.25, 0.25, 0.0])}),
    Case("vq.revived_codes", vq.revived_codes, lambda: {"used": torch.tensor([[True, False], [True, True]])}),
    Case("vq.usage_checkpoints", vq.usage_checkpoints,
         lambda: {"loss_fn": vq.vqvae_loss(), "x": _images(), "every": 2}),
    Case("vq.ema_codebook_update", vq.ema_codebook_update, _ema_args,
         extra={"state": _ema_state_mutations()}),
    Case("vq.restart_dead_codes", vq.restart_dead_codes,
         lambda: {"codebook": torch.randn(4, 2, generator=_g()), "counts": torch.tensor([2.0, 0, 1, 3]),
                  "z_e": torch.randn(6, 2, generator=_g(1)), "threshold": 1.0},
         accepted=("counts:int dtype",)),  # counts of assignments may be ints
    Case("vq.fit_categorical_prior", vq.fit_categorical_prior,
         lambda: {"indices": torch.randint(0, 4, (5, 2, 2), generator=_g()), "K": 4, "alpha": 0.5}),
    Case("vq.sample_categorical_prior", vq.sample_categorical_prior,
         lambda: {"probs": torch.full((2, 2, 4), 0.25), "n": 3}),
    Case("vq.categorical_log_prob", vq.categorical_log_prob,
         lambda: {"probs": torch.full((2, 2, 4), 0.25), "indices": torch.randint(0, 4, (3, 2, 2), generator=_g())}),
    Case("vq.jittered_codes", vq.jittered_codes,
         lambda: {"model": _vqvae(), "x": _images(), "copies": 2, "sigma": 0.1}),
    Case("vq.vqvae_elbo", vq.vqvae_elbo,
         lambda: {"model": _vqvae(), "x": _images().round(), "log_prior": lambda k: torch.zeros(len(k))}),
    Case("vq.vqvae_loss", vq.vqvae_loss, lambda: {"beta": 0.25}),
    Case("vq.vqvae_loss()", lambda model, batch, step: vq.vqvae_loss()(model, batch, step),
         lambda: {"model": _vqvae(), "batch": _images(), "step": 0},
         skip=("step",)),  # the VQ-VAE loss does not use the step
    Case("vq.VectorQuantizer", vq.VectorQuantizer, lambda: {"K": 4, "D": 2, "ema_decay": 0.9, "restart_every": 2}),
    Case("vq.VectorQuantizer.forward", lambda z_e: vq.VectorQuantizer(4, 2)(z_e),
         lambda: {"z_e": torch.randn(2, 2, 3, 3, generator=_g())}),
    Case("vq.VQVAE", vq.VQVAE, lambda: {"image_shape": (1, 4, 4), "K": 4, "D": 2, "downsample": 1, "width": 4}),
    Case("vq.VQVAE.encode", lambda x: _vqvae().encode(x), lambda: {"x": _images()}),
    Case("vq.VQVAE.quantize", lambda z_e: _vqvae().quantize(z_e), lambda: {"z_e": torch.randn(3, 2, 2, 2, generator=_g())}),
    Case("vq.prior_table", vq.prior_table,
         lambda: {"model": _vqvae(), "x": _images().round(), "codes": torch.randint(0, 4, (4, 2, 2), generator=_g()),
                  "log_priors": {"flat": lambda k: torch.zeros(len(k))}}),
    Case("vq.VQVAE.decode", lambda z_q: _vqvae().decode(z_q), lambda: {"z_q": torch.randn(3, 2, 2, 2, generator=_g())}),
    Case("vq.VQVAE.decode_indices", lambda indices: _vqvae().decode_indices(indices),
         lambda: {"indices": torch.randint(0, 4, (3, 2, 2), generator=_g())}),
    Case("vq.VQVAE.codes", lambda x: _vqvae().codes(x), lambda: {"x": _images()}),
    # linear_gaussian
    Case("linear_gaussian.log_gaussian", linear_gaussian.log_gaussian,
         lambda: {"z": torch.randn(3, 2, dtype=torch.float64), "mean": torch.zeros(3, 2, dtype=torch.float64),
                  "cov": torch.eye(2, dtype=torch.float64)},
         skip=("z:extra dim",)),  # z (..., B, d): leading sample dimensions are allowed
    Case("linear_gaussian.sample_gaussian", linear_gaussian.sample_gaussian,
         lambda: {"mean": torch.zeros(3, 2), "cov": torch.eye(2), "n": 4}),
    Case("linear_gaussian.gaussian_entropy", linear_gaussian.gaussian_entropy, lambda: {"cov": 2 * torch.eye(2)},
         accepted=("cov:extra dim",)),  # (B, d, d): one covariance per row
    Case("linear_gaussian.kl_gaussians", linear_gaussian.kl_gaussians,
         lambda: {"mu_q": torch.zeros(3, 2), "cov_q": torch.eye(2), "mu_p": torch.ones(3, 2), "cov_p": 2 * torch.eye(2)}),
    Case("linear_gaussian.cov_from_tril", linear_gaussian.cov_from_tril, lambda: {"raw": torch.randn(2, 2, generator=_g())},
         accepted=("raw:extra dim",)),  # (B, d, d)
    Case("linear_gaussian.LinearGaussian", linear_gaussian.LinearGaussian,
         lambda: {"W": torch.randn(3, 2, generator=_g()), "b": torch.zeros(3), "sigma2": 0.5}),
    Case("linear_gaussian.LinearGaussian.random", linear_gaussian.LinearGaussian.random,
         lambda: {"D": 3, "d": 2, "sigma2": 0.5, "seed": 0, "dtype": torch.float64}),
    Case("linear_gaussian.LinearGaussian.sample", lambda n: _lg().sample(n), lambda: {"n": 4}),
    Case("linear_gaussian.LinearGaussian.log_evidence", lambda x: _lg().log_evidence(x),
         lambda: {"x": torch.randn(4, 3, generator=_g())}),
    Case("linear_gaussian.LinearGaussian.log_joint", lambda x, z: _lg().log_joint(x, z),
         lambda: {"x": torch.randn(4, 3, generator=_g()), "z": torch.randn(4, 2, generator=_g(1))},
         skip=("z:extra dim",)),  # z (..., B, d)
    Case("linear_gaussian.LinearGaussian.log_likelihood", lambda x, z: _lg().log_likelihood(x, z),
         lambda: {"x": torch.randn(4, 3, generator=_g()), "z": torch.randn(4, 2, generator=_g(1))},
         skip=("z:extra dim",)),  # z (..., B, d)
    Case("linear_gaussian.LinearGaussian.kl_to_prior", lambda q_mean, q_cov: _lg().kl_to_prior(q_mean, q_cov),
         lambda: {"q_mean": torch.zeros(4, 2), "q_cov": torch.eye(2)}, accepted=("q_cov:extra dim",)),  # (1, d, d)?
    Case("linear_gaussian.LinearGaussian.expected_log_likelihood",
         lambda x, q_mean, q_cov: _lg().expected_log_likelihood(x, q_mean, q_cov),
         lambda: {"x": torch.randn(4, 3, generator=_g()), "q_mean": torch.zeros(4, 2), "q_cov": torch.eye(2)}),
    Case("linear_gaussian.LinearGaussian.posterior", lambda x: _lg().posterior(x),
         lambda: {"x": torch.randn(4, 3, generator=_g())}),
    Case("linear_gaussian.LinearGaussian.elbo", lambda x, q_mean, q_cov: _lg().elbo(x, q_mean, q_cov),
         lambda: {"x": torch.randn(4, 3, generator=_g()), "q_mean": torch.zeros(4, 2), "q_cov": torch.eye(2)}),
    # metrics
    Case("metrics.discrete_entropy", metrics.discrete_entropy, lambda: {"labels": np.array([0, 1, 1, 2])}),
    Case("metrics.discrete_mutual_info", metrics.discrete_mutual_info,
         lambda: {"a": np.array([0, 1, 1, 2]), "b": np.array([1, 1, 0, 0])}),
    Case("metrics.discretize", metrics.discretize,
         lambda: {"codes": np.random.default_rng(0).normal(size=(6, 2)), "n_bins": 3}),
    Case("metrics.mutual_info_matrix", metrics.mutual_info_matrix,
         lambda: {"codes": np.random.default_rng(0).normal(size=(6, 2)),
                  "factors": np.array([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]]), "n_bins": 3}),
    Case("metrics.mig", metrics.mig,
         lambda: {"codes": np.random.default_rng(0).normal(size=(6, 2)),
                  "factors": np.array([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]]), "n_bins": 3}),
    Case("metrics.normalized_gaps", metrics.normalized_gaps,
         lambda: {"mi": np.array([[0.5, 0.1], [0.2, 0.3]]), "entropies": np.array([0.7, 0.7])}),
    Case("metrics.mig_from_mi", metrics.mig_from_mi,
         lambda: {"mi": np.array([[0.5, 0.1], [0.2, 0.3]]), "entropies": np.array([0.7, 0.7])}),
    Case("metrics.best_latent_normalized_mi", metrics.best_latent_normalized_mi,
         lambda: {"mi": np.array([[0.5, 0.1], [0.2, 0.3]]), "entropies": np.array([0.7, 0.7])}),
    Case("metrics.mutual_info_matrix_chen", metrics.mutual_info_matrix_chen,
         lambda: {**{k: v for k, v in _posterior(6, 2).items() if k != "z"},
                  "factors": torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]]), "n_samples": 20,
                  "generator": _g()},
         accepted=("factors:negative",)),  # factor levels are any ints
    Case("metrics.best_latent_fraction_of_mi_sum", metrics.best_latent_fraction_of_mi_sum,
         lambda: {"mi": np.array([[0.5, 0.1], [0.2, 0.3]])}),
    Case("metrics.factor_entropies", metrics.factor_entropies, lambda: {"factors": np.array([[0, 1], [1, 1], [0, 0]])}),
    Case("metrics.aggregate_entropies", metrics.aggregate_entropies, lambda: _posterior()),
    Case("metrics.mig_chen", metrics.mig_chen,
         lambda: {**{k: v for k, v in _posterior(6, 2).items() if k != "z"},
                  "factors": torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]]), "n_samples": 20},
         accepted=("factors:negative",)),  # factor levels are any ints
    # pca
    Case("pca.fit_pca", pca.fit_pca, lambda: {"x": torch.randn(6, 4, generator=_g()), "k": 2}),
    Case("pca.pca_project", pca.pca_project,
         lambda: {"pca": pca.fit_pca(torch.randn(6, 4, generator=_g()), 2), "x": torch.randn(3, 4, generator=_g(1))}),
    Case("pca.pca_reconstruct", pca.pca_reconstruct,
         lambda: {"pca": pca.fit_pca(torch.randn(6, 4, generator=_g()), 2), "x": torch.randn(3, 4, generator=_g(1))}),
    Case("pca.LinearAutoencoder.forward", lambda x: pca.LinearAutoencoder(4, 2)(x),
         lambda: {"x": torch.randn(3, 4, generator=_g())}),
    Case("pca.LinearAutoencoder.decode", lambda z: pca.LinearAutoencoder(4, 2).decode(z),
         lambda: {"z": torch.randn(3, 2, generator=_g())}),
    Case("pca.reconstruction_loss", pca.reconstruction_loss,
         lambda: {"model": pca.LinearAutoencoder(4, 2), "batch": torch.randn(3, 4, generator=_g()), "step": 0},
         skip=("step",)),  # the loss does not use the step
    Case("pca.principal_angles", pca.principal_angles,
         lambda: {"a": torch.randn(4, 2, generator=_g()), "b": torch.randn(4, 3, generator=_g(1))}),
    Case("pca.LinearAutoencoder", pca.LinearAutoencoder, lambda: {"P": 4, "k": 2}),
    Case("pca.to_images", pca.to_images, lambda: {"vectors": torch.randn(2, 16, generator=_g()), "image_shape": (1, 4, 4)}),
    # estimators
    Case("estimators.importance_weights", estimators.importance_weights, lambda: {"batch_size": 3, "dataset_size": 5}),
    Case("estimators.pairwise_log_q", estimators.pairwise_log_q, lambda: _posterior()),
    Case("estimators.log_qz", estimators.log_qz, lambda: {**_posterior(), "dataset_size": 10}),
    Case("estimators.kl_decomposition", estimators.kl_decomposition, lambda: {**_posterior(), "dataset_size": 10}),
    Case("estimators.kl_decomposition_exact", estimators.kl_decomposition_exact,
         lambda: {"z": _posterior()["z"][:3], "mu_all": _posterior()["mu"], "logvar_all": _posterior()["logvar"],
                  "index": torch.tensor([0, 2, 4])}),
    Case("estimators.check_groups", estimators.check_groups, lambda: {"groups": [[0, 1], [2]], "latent_dim": 3}),
    Case("estimators.hierarchical_tc", estimators.hierarchical_tc,
         lambda: {**_posterior(), "dataset_size": 10, "groups": [[0, 1], [2]]}),
    Case("estimators.estimator_bias", estimators.estimator_bias,
         lambda: {**_posterior(), "batch_size": 3, "estimator": "mss", "repeats": 2, "generator": _g()}),
    # models
    Case("models.mlp", models.mlp, lambda: {"sizes": (4, 3, 2)}, accepted=("sizes:short",)),  # (4, 3): one layer
    Case("models.MLPEncoder", models.MLPEncoder, lambda: {"image_shape": (1, 4, 4), "out_dim": 2, "hidden": (8,)},
         accepted=("hidden:short",)),  # no hidden layer
    Case("models.MLPDecoder", models.MLPDecoder, lambda: {"latent_dim": 2, "image_shape": (1, 4, 4), "hidden": (8,)},
         accepted=("hidden:short",)),  # no hidden layer
    Case("models.ConvEncoder", models.ConvEncoder,
         lambda: {"image_shape": (1, 4, 4), "out_dim": 2, "channels": (4, 4), "hidden": 8},
         accepted=("channels:short",)),  # one convolution
    Case("models.ConvDecoder", models.ConvDecoder,
         lambda: {"latent_dim": 2, "image_shape": (1, 4, 4), "channels": (4, 4), "hidden": 8},
         accepted=("channels:short",)),  # one transposed convolution
    Case("models.MLPEncoder.forward", lambda x: models.MLPEncoder((1, 4, 4), 2, (8,))(x), lambda: {"x": _images()}),
    Case("models.MLPDecoder.forward", lambda z: models.MLPDecoder(2, (1, 4, 4), (8,))(z),
         lambda: {"z": torch.randn(3, 2, generator=_g())}),
    Case("models.make_encoder", models.make_encoder, lambda: {"kind": "conv", "image_shape": (1, 4, 4), "out_dim": 2}),
    Case("models.make_decoder", models.make_decoder, lambda: {"kind": "mlp", "latent_dim": 2, "image_shape": (1, 4, 4)}),
    Case("models.Autoencoder.build", models.Autoencoder.build,
         lambda: {"kind": "mlp", "image_shape": (1, 4, 4), "latent_dim": 2}),
    Case("models.Autoencoder.forward", lambda x: models.Autoencoder.build("mlp", (1, 4, 4), 2)(x),
         lambda: {"x": _images()}),
    Case("models.ConvEncoder.forward", lambda x: models.ConvEncoder((1, 4, 4), 2, (4,), 8)(x), lambda: {"x": _images()}),
    Case("models.ConvDecoder.forward", lambda z: models.ConvDecoder(2, (1, 4, 4), (4,), 8)(z),
         lambda: {"z": torch.randn(3, 2, generator=_g())}),
    Case("models.VAE.build", models.VAE.build,
         lambda: {"kind": "mlp", "image_shape": (1, 4, 4), "latent_dim": 2, "likelihood": "gaussian", "sigma2": 0.1}),
    Case("models.VAE.encode", lambda x: _vae().encode(x), lambda: {"x": _images()}),
    Case("models.VAE.decode", lambda z: _vae().decode(z), lambda: {"z": torch.randn(3, 2, generator=_g())}),
    Case("models.VAE.reconstruct", lambda x: _vae("conv").reconstruct(x), lambda: {"x": _images()}),
    Case("models.VAE.forward", lambda x: _vae()(x), lambda: {"x": _images()}),
    Case("models.VAE.mean_image", lambda x_params: _vae().mean_image(x_params),
         lambda: {"x_params": torch.randn(3, 1, 4, 4, generator=_g())},
         skip=("x_params:extra dim", "x_params:fewer dims")),  # elementwise, any shape
    Case("models.VAE.sample", lambda n: _vae().sample(n), lambda: {"n": 3}),
    Case("models.VAE.log_px_given_z", lambda x, x_params: _vae().log_px_given_z(x, x_params),
         lambda: {"x": _images(), "x_params": torch.randn(4, 1, 4, 4, generator=_g())},
         skip=("x_params:extra dim",)),  # leading sample dimensions broadcast
    Case("models.one_hot", models.one_hot, lambda: {"y": torch.tensor([0, 2, 1]), "n_classes": 3}),
    Case("models.ConditionalVAE", models.ConditionalVAE,
         lambda: {"image_shape": (1, 4, 4), "latent_dim": 2, "n_classes": 3, "hidden": (8,)},
         accepted=("hidden:short",)),  # no hidden layer
    Case("models.ConditionalVAE.encode", lambda x, y: _cvae().encode(x, y),
         lambda: {"x": _images(3), "y": torch.tensor([0, 2, 1])}),
    Case("models.ConditionalVAE.decode", lambda z, y: _cvae().decode(z, y),
         lambda: {"z": torch.randn(3, 2, generator=_g()), "y": torch.tensor([0, 2, 1])}),
    Case("models.ConditionalVAE.forward", lambda x, y: _cvae()(x, y),
         lambda: {"x": _images(3), "y": torch.tensor([0, 2, 1])}),
    Case("models.ConditionalVAE.reconstruct", lambda x, y: _cvae().reconstruct(x, y),
         lambda: {"x": _images(3), "y": torch.tensor([0, 2, 1])}),
    Case("models.ConditionalVAE.sample", lambda labels: _cvae().sample(labels),
         lambda: {"labels": torch.tensor([0, 2, 1])}),
    Case("models.encode_all", models.encode_all, lambda: {"model": _vae(), "x": _images(), "batch_size": 2}),
    # traversals
    Case("traversals.latent_traversal", traversals.latent_traversal,
         lambda: {"model": _vae(), "z0": torch.zeros(2), "dim": 1, "values": torch.linspace(-1, 1, 3)},
         accepted=("dim:zero",)),  # dimension 0 exists
    Case("traversals.traversal_rows", traversals.traversal_rows,
         lambda: {"model": _vae(), "z0": torch.zeros(2), "dims": [0, 1], "values": torch.linspace(-1, 1, 3)},
         extra={"dims": [("negative", [-1], True), ("out of range", [0, 2], True), ("float", [0.5], True),
                         ("int", 1, True)]}),
    # diagnostics
    Case("diagnostics.iwae_estimate", diagnostics.iwae_estimate,
         lambda: {"model": _vae(), "x": _images().round(), "K": 3, "chunk": 8}),
    Case("diagnostics.kl_per_dimension", diagnostics.kl_per_dimension, lambda: {"model": _vae(), "x": _images()}),
    Case("diagnostics.active_units", diagnostics.active_units,
         lambda: {"model": _vae(), "x": _images(), "threshold": 0.01}),
    Case("diagnostics.exact_kl_terms", diagnostics.exact_kl_terms,
         lambda: {"model": _vae(), "x": _images(6), "n_samples": 4, "seed": 0, "chunk": 2, "widen": 2.0}),
    Case("traversals.response_curves", traversals.response_curves,
         lambda: {"mu": torch.randn(6, 2, generator=_g()), "factors": torch.tensor([[0, 1], [1, 0], [2, 1]] * 2),
                  "k": 0},
         accepted=("k:zero",)),  # factor 0 exists
    Case("sprites.index_of", sprites.index_of,
         lambda: {"factors": torch.tensor([[0, 1, 0, 1, 0], [1, 0, 1, 0, 1]]), "levels": (1, 0, 1, 0, 1)}),
    # the other disentanglement metrics and FactorVAE
    Case("metrics.dci", metrics.dci, lambda: {"codes": _codes(), "factors": _levels(), "n_trees": 3,
                                              "train_fraction": 0.5, "seed": 0}),
    Case("metrics.sap", metrics.sap, lambda: {"codes": _codes(), "factors": _levels(), "n_bins": 4,
                                              "train_fraction": 0.5, "seed": 0}),
    Case("metrics.factorvae_score", metrics.factorvae_score,
         lambda: {"codes": _codes(), "factors": _levels(), "n_votes": 10, "batch_size": 4, "min_std": 0.05,
                  "seed": 0}),
    Case("metrics.least_variance_latent", metrics.least_variance_latent,
         lambda: {"codes": _codes()[:4], "std": np.ones(3), "min_std": 0.05}),
    Case("metrics.dci_from_importance", metrics.dci_from_importance,
         lambda: {"importance": np.array([[0.5, 0.1], [0.2, 0.7], [0.0, 0.1]])}),
    Case("factorvae.permute_dims", factorvae.permute_dims, lambda: {"z": torch.randn(6, 3, generator=_g())}),
    Case("factorvae.tc_estimate", factorvae.tc_estimate,
         lambda: {"discriminator": factorvae.Discriminator(3), "z": torch.randn(6, 3, generator=_g())}),
    Case("factorvae.factorvae_loss", factorvae.factorvae_loss, lambda: {"latent_dim": 3, "gamma": 6.0}),
    Case("factorvae.fit_discriminator", factorvae.fit_discriminator,
         lambda: {"mu": torch.randn(6, 3, generator=_g()), "logvar": torch.zeros(6, 3), "steps": 2,
                  "batch_size": 4, "seed": 0}),
    # objectives
    Case("objectives.mse_per_example", objectives.mse_per_example,
         lambda: {"x_hat": _images(), "x": _images(seed=1)}),
    Case("objectives.log_normal", objectives.log_normal,
         lambda: {"x": _images(), "mu": _images(seed=1), "logvar": torch.zeros(4, 1, 4, 4)},
         skip=("x:extra dim", "mu:extra dim", "logvar:extra dim", "x:fewer dims", "mu:fewer dims",
               "logvar:fewer dims")),  # broadcasting is allowed
    Case("objectives.log_bernoulli", objectives.log_bernoulli,
         lambda: {"x": _images().round(), "logits": torch.randn(4, 1, 4, 4, generator=_g())},
         skip=("x:extra dim", "logits:extra dim", "x:fewer dims", "logits:fewer dims")),  # broadcasting
    Case("objectives.log_continuous_bernoulli", objectives.log_continuous_bernoulli,
         lambda: {"x": _images(), "logits": torch.randn(4, 1, 4, 4, generator=_g())},
         skip=("x:extra dim", "logits:extra dim", "x:fewer dims", "logits:fewer dims")),  # broadcasting
    Case("objectives.continuous_bernoulli_log_norm", objectives.continuous_bernoulli_log_norm,
         lambda: {"logits": torch.randn(3, 2, generator=_g())},
         skip=("logits:extra dim", "logits:fewer dims")),  # elementwise, any shape
    Case("objectives.continuous_bernoulli_mean", objectives.continuous_bernoulli_mean,
         lambda: {"logits": torch.randn(3, 2, generator=_g())},
         skip=("logits:extra dim", "logits:fewer dims")),  # elementwise, any shape
    Case("objectives.total_probability", objectives.total_probability,
         lambda: {"log_p": lambda x: torch.zeros(len(x)), "support": "binary", "pixels": 2, "nodes": 8}),
    Case("objectives.kl_normal_std", objectives.kl_normal_std,
         lambda: {"mu": torch.randn(3, 2, generator=_g()), "logvar": torch.zeros(3, 2)}),
    Case("objectives.iwae_bound", objectives.iwae_bound,
         lambda: {"log_w": torch.randn(5, 3, generator=_g()), "dim": 0},
         skip=("log_w:extra dim", "log_w:fewer dims"),  # any rank
         accepted=("dim:negative",)),  # dim=-1 counts from the end
    # flow
    Case("flow.interpolate", flow.interpolate,
         lambda: {"z": torch.randn(3, 2, generator=_g()), "eps": torch.randn(3, 2, generator=_g(1)), "t": 0.5}),
    Case("flow.conditional_velocity", flow.conditional_velocity,
         lambda: {"z": torch.randn(3, 2, generator=_g()), "eps": torch.randn(3, 2, generator=_g(1))}),
    Case("flow.VelocityMLP", flow.VelocityMLP, lambda: {"D": 2, "hidden": 8, "depth": 2, "frequencies": 2}),
    Case("flow.VelocityMLP.forward", lambda x, t: flow.VelocityMLP(2, 8, 1, 2)(x, t),
         lambda: {"x": torch.randn(3, 2, generator=_g()), "t": 0.5}),
    Case("flow.flow_matching_loss()", lambda model, batch, step: flow.flow_matching_loss()(model, batch, step),
         lambda: {"model": flow.VelocityMLP(2, 8, 1, 2), "batch": torch.randn(3, 2, generator=_g()), "step": 0},
         skip=("step",)),  # the loss does not use the step
    Case("flow.fit", flow.fit,
         lambda: {"codes": torch.randn(6, 2, generator=_g()), "steps": 1, "eval_codes": torch.randn(3, 2, generator=_g(1)),
                  "hidden": 8, "depth": 1, "lr": 1e-3, "batch_size": 3, "seed": 0, "progress": False}),
    Case("flow.euler", flow.euler,
         lambda: {"velocity": _lin_vel, "x0": torch.randn(3, 2, generator=_g()), "steps": 2}),
    Case("flow.heun", flow.heun, lambda: {"velocity": _lin_vel, "x0": torch.randn(3, 2, generator=_g()), "steps": 2}),
    Case("flow.sample", flow.sample,
         lambda: {"velocity": _lin_vel, "n": 3, "D": 2, "steps": 2, "method": "heun", "generator": _g()}),
    Case("flow.empirical_velocity", flow.empirical_velocity, lambda: {"codes": torch.randn(5, 2, generator=_g())}),
    # quality
    Case("quality.classifier_accuracy", quality.classifier_accuracy,
         lambda: {"classifier": _classifier(), "x": _images(3), "y": torch.tensor([0, 2, 1])}),
    Case("quality.sample_quality", quality.sample_quality,
         lambda: {"classifier": _classifier(), "samples": _images(3), "n_classes": 3, "min_fraction": 0.1}),
    Case("quality.classifier_features", quality.classifier_features,
         lambda: {"classifier": _classifier(), "x": _images(3), "batch_size": 2}),
    Case("quality.style_features", quality.style_features, lambda: {"x": _images()}),
    Case("quality.style_correlation", quality.style_correlation,
         lambda: {"x": 0.01 + 0.9 * _images(6), "y": torch.tensor([0, 0, 0, 1, 1, 1]), "x_new": 0.01 + 0.9 * _images(6, seed=1),
                  "y_new": torch.tensor([0, 0, 0, 1, 1, 1])}),
    Case("quality.gaussian_frechet_distance", quality.gaussian_frechet_distance,
         lambda: {"mean_a": torch.zeros(2), "cov_a": torch.eye(2), "mean_b": torch.ones(2), "cov_b": 2 * torch.eye(2)}),
    Case("quality.frechet_distance", quality.frechet_distance,
         lambda: {"features_a": torch.randn(5, 2, generator=_g()), "features_b": torch.randn(6, 2, generator=_g(1))}),
    Case("quality.nearest_distances", quality.nearest_distances,
         lambda: {"x": torch.randn(3, 4, generator=_g()), "reference": torch.randn(5, 4, generator=_g(1)),
                  "batch_size": 2},
         skip=("x:extra dim", "reference:extra dim", "x:fewer dims", "reference:fewer dims")),  # (N, ...) items
    Case("quality.memorisation", quality.memorisation,
         lambda: {"samples": torch.randn(4, 3, generator=_g()), "train": torch.randn(6, 3, generator=_g(1)),
                  "held_out": torch.randn(5, 3, generator=_g(2)), "quantile": 0.2}),
    # losses, gradients, density, corruption, disentangle
    Case("losses.elbo_terms", losses.elbo_terms, lambda: {"model": _vae(), "x": _images().round()}),
    Case("losses.vae_loss", losses.vae_loss, lambda: {"beta": 2.0, "warmup_steps": 3},
         accepted=("warmup_steps:zero",)),  # no warm-up
    Case("losses.vae_loss()", lambda model, batch, step: losses.vae_loss()(model, batch, step),
         lambda: {"model": _vae(), "batch": _images().round(), "step": 0},
         skip=("step",)),  # used only with a warm-up
    Case("losses.conditional_elbo_terms", losses.conditional_elbo_terms,
         lambda: {"model": _cvae(), "x": _images(3).round(), "y": torch.tensor([0, 2, 1])}),
    Case("losses.beta_tcvae_loss", losses.beta_tcvae_loss,
         lambda: {"dataset_size": 10, "alpha": 1.0, "beta": 6.0, "gamma": 1.0, "estimator": "mss"}),
    Case("losses.beta_tcvae_loss()", lambda model, batch, step: losses.beta_tcvae_loss(10)(model, batch, step),
         lambda: {"model": _vae(), "batch": _images().round(), "step": 0}, skip=("step",)),
    Case("losses.hfvae_loss", losses.hfvae_loss, lambda: {"dataset_size": 10, "groups": [[0], [1]], "beta": 6.0}),
    Case("gradients.reparameterize", gradients.reparameterize,
         lambda: {"mu": torch.randn(3, 2, generator=_g()), "logvar": torch.zeros(3, 2), "generator": _g()}),
    Case("gradients.pathwise_grad", gradients.pathwise_grad,
         lambda: {"f": lambda z: z.pow(2).sum(-1), "mu": torch.zeros(2), "sigma": torch.ones(2), "n": 4,
                  "generator": _g()}),
    Case("gradients.score_function_grad", gradients.score_function_grad,
         lambda: {"f": lambda z: z.pow(2).sum(-1), "mu": torch.zeros(2), "sigma": torch.ones(2), "n": 4,
                  "generator": _g()}),
    Case("density.fit_density", density.fit_density,
         lambda: {"z": torch.randn(20, 2, generator=_g()), "kind": "mixture", "n_components": 2, "seed": 0,
                  "ridge": 1e-6}),
    Case("density.log_prob_grid", density.log_prob_grid,
         lambda: {"density": density.fit_density(torch.randn(20, 2, generator=_g()), "full"), "xlim": (-1.0, 1.0),
                  "ylim": (-1.0, 1.0), "n": 4}),
    Case("flow.mixture_velocity", flow.mixture_velocity,
         lambda: {"mixture": density.fit_density(torch.randn(20, 2, generator=_g()), "full")}),
    Case("corruption.corrupt", corruption.corrupt,
         lambda: {"x": _images(), "kind": "masking", "level": 0.3, "generator": _g()},
         skip=("x:extra dim", "x:fewer dims")),  # any shape
    Case("corruption.denoising_loss_fn", corruption.denoising_loss_fn,
         lambda: {"kind": "gaussian", "level": 0.3, "seed": 0}),
    Case("disentangle.model_mig", disentangle.model_mig,
         lambda: {"model": _vae(), "x": _images(6), "factors": torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]]),
                  "n_bins": 3},
         accepted=("factors:negative",)),  # factor levels are any ints
    Case("disentangle.mean_elbo_terms", disentangle.mean_elbo_terms,
         lambda: {"model": _vae(), "x": _images().round(), "seed": 0, "batch_size": 2}),
    Case("disentangle.tc_three_ways", disentangle.tc_three_ways,
         lambda: {"model": _vae(), "x": _images(6), "batch_size": 4, "repeats": 2, "discriminator_steps": 2,
                  "n_exact": 4, "seed": 0}),
    # train
    Case("train.fit (train_data only)",
         lambda model, loss_fn, train_data: train.fit(model, loss_fn, train_data, steps=1, batch_size=2, progress=False),
         lambda: {"model": _vae(), "loss_fn": losses.vae_loss(), "train_data": _images().round()},
         accepted=("train_data:list",)),  # a list of tensors is a tuple of tensors
    Case("train.fit", train.fit,
         lambda: {"model": _vae(), "loss_fn": losses.vae_loss(), "train_data": _images().round(), "steps": 1,
                  "eval_data": _images(2, seed=1).round(), "batch_size": 2, "lr": 1e-3, "eval_every": 1,
                  "log_every": 1, "seed": 0, "desc": "sweep", "progress": False},
         skip=("desc",),  # any label is fine
         accepted=("train_data:extra dim", "eval_data:extra dim", "train_data:fewer dims", "eval_data:fewer dims",
                   "train_data:list", "eval_data:list"),  # checked by the loss, or a tuple of tensors
         extra={"history": [("str", "abc", True)], "optimizer": [("str", "adam", True)],
                "device": [("unknown", "gpu0", True)]}),
]


# --- running one wrong call ------------------------------------------------------------------

def _raised_in_package(error: BaseException) -> bool:
    """True when a ``raise`` statement of the package raised ``error`` (not torch, numpy or a
    builtin called from the package, whose frames end on the calling line)."""
    frames = traceback.extract_tb(error.__traceback__)
    return (bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE)
            and (frames[-1].line or "").lstrip().startswith("raise "))


def _names(arg: str, message: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", message) is not None


def outcome(case: Case, arg: str, value: object, due: bool) -> tuple[str, str]:
    """("good" | "deep" | "vague" | "silent", detail) for ``case`` with ``arg`` = ``value``. When
    the mutation is not due (an empty batch, float64), an error that names another argument
    of the call is good too: it is a mismatch between the two (x empty: "y must have shape (0)")."""
    kwargs = case.make()
    kwargs[arg] = value
    try:
        case.fn(**kwargs)
    except (ValueError, TypeError) as error:
        detail = f"{type(error).__name__}: {error}"
        if not _raised_in_package(error):
            return "deep", detail
        named = [arg] if due else list(kwargs)
        return ("good" if any(_names(a, str(error)) for a in named) else "vague"), detail
    except Exception as error:  # noqa: BLE001 - any other error is the finding
        return "deep", f"{type(error).__name__}: {error}"
    return ("silent" if due else "good"), "no error"


def all_calls() -> list[tuple[Case, str, str, object, bool]]:
    calls = []
    for case in CASES:
        valid = case.make()
        for arg in sorted(set(valid) | set(case.extra)):
            if arg in case.skip:
                continue
            found = mutations(valid[arg]) if arg in valid else []
            for name, value, due in found + case.extra.get(arg, []):
                if f"{arg}:{name}" not in case.skip:
                    calls.append((case, arg, name, value, due and f"{arg}:{name}" not in case.accepted))
    return calls


CALLS = all_calls()


@pytest.mark.parametrize("case, arg, name, value, due", CALLS,
                         ids=[f"{c.name}-{a}-{n}" for c, a, n, _, _ in CALLS])
def test_wrong_argument_is_named(case, arg, name, value, due):
    result, detail = outcome(case, arg, value, due)
    assert result == "good", f"{case.name}({arg}={name}): {result}: {detail}"


def test_every_case_is_valid_as_built():
    """The sweep means something only if each unmutated call works."""
    for case in CASES:
        case.fn(**case.make())


def test_the_new_validate_helpers():
    """The checks the sweep's fixes share (validate.integer_tensor, same_dtype, module, positive_ints)."""
    assert validate.positive_ints("hidden", [np.int64(3), 2]) == (3, 2)  # NumPy ints count
    for bad, error in (("12", TypeError), (3, TypeError), ((4, 0), ValueError), ((4, True), ValueError)):
        with pytest.raises(error, match="hidden must"):
            validate.positive_ints("hidden", bad)
    validate.integer_tensor("y", torch.tensor([1, 2], dtype=torch.uint8))
    for bad in (torch.tensor([True]), torch.tensor([1.0])):
        with pytest.raises(TypeError, match="y must hold integers"):
            validate.integer_tensor("y", bad)
    with pytest.raises(TypeError, match=r"x must have the dtype of the codebook, torch.float32, got torch.float64"):
        validate.same_dtype("x", torch.zeros(2, dtype=torch.float64), torch.float32, "the codebook")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module .*, got function"):
        validate.module("model", lambda x: x)


def test_fit_names_train_data_when_the_loss_rejects_the_first_batch():
    """train.fit cannot know what a loss accepts: the loss's own message, prefixed by the name
    the learner passed, and before any weight changes."""
    model = _vae()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(TypeError, match="first batch of train_data: batch must be a floating-point tensor"):
        train.fit(model, losses.vae_loss(), _images().round().long(), steps=2, batch_size=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def counts() -> dict[str, Counter]:
    table: dict[str, Counter] = {}
    for case, arg, name, value, due in CALLS:
        result, _ = outcome(case, arg, value, due)
        table.setdefault(case.name, Counter())[result] += 1
    return table


if __name__ == "__main__":
    table = counts()
    total = sum(table.values(), Counter())
    verbose = "-v" in sys.argv
    print(f"{'function':48s} {'calls':>5s} {'deep':>5s} {'vague':>5s} {'silent':>6s}")
    for fname, c in table.items():
        if verbose or c["deep"] + c["vague"] + c["silent"]:
            print(f"{fname:48s} {sum(c.values()):5d} {c['deep']:5d} {c['vague']:5d} {c['silent']:6d}")
    print(f"{'total (' + str(len(table)) + ' functions)':48s} {sum(total.values()):5d} {total['deep']:5d} "
          f"{total['vague']:5d} {total['silent']:6d}")
    if "--details" in sys.argv:
        for case, arg, name, value, due in CALLS:
            result, detail = outcome(case, arg, value, due)
            if result != "good":
                print(f"{result:6s} {case.name}({arg}: {name}): {detail[:160]}")


def test_finite_is_one_cheap_sum_unless_it_overflows_or_finds_a_nan():
    """validate.finite runs on every training batch: a sum first; a sum that overflows with every
    entry finite still passes, and a NaN or inf is still named with its count and first index."""
    big = torch.full((4,), 3e38)
    assert torch.isinf(big.sum()) and validate.finite("big", big) is big
    with pytest.raises(ValueError, match=r"x must be finite, but 2 of 6 entries are NaN or inf \(the first at index \[0, 1\]\)"):
        validate.finite("x", torch.tensor([[0.0, math.nan, 1.0], [math.inf, 2.0, 3.0]]))
