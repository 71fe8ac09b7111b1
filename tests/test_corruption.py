"""Corruption processes: statistics on large seeded inputs, edge levels, reproducibility, errors."""
import math

import pytest
import torch
from torch import nn

from vae_course import corruption

N = 200_000  # pixels: the fractions below are within 4 standard errors (<= 0.0045)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", corruption.KINDS)
def test_every_kind_keeps_shape_dtype_and_unit_range(kind):
    x = torch.rand(64, 1, 8, 8, generator=_gen(1))
    out = corruption.corrupt(x, kind, 0.7, _gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)


@pytest.mark.parametrize("kind", corruption.KINDS)
def test_level_zero_is_the_identity_and_seeds_reproduce(kind):
    x = torch.rand(32, 1, 8, 8, generator=_gen(1))
    assert torch.equal(corruption.corrupt(x, kind, 0.0, _gen()), x)
    a, b = (corruption.corrupt(x, kind, 0.3, _gen(5)) for _ in range(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, corruption.corrupt(x, kind, 0.3, _gen(6)))


def test_masking_zeroes_a_fraction_level_and_keeps_the_rest():
    x = torch.full((N,), 0.6)
    out = corruption.corrupt(x, "masking", 0.3, _gen())
    zeroed = (out == 0).double().mean().item()
    assert abs(zeroed - 0.3) < 4 * math.sqrt(0.3 * 0.7 / N)
    assert torch.all((out == 0) | (out == x))
    assert torch.equal(corruption.corrupt(x, "masking", 1.0, _gen()), torch.zeros(N))


def test_salt_and_pepper_replaces_a_fraction_level_by_zero_or_one_equally():
    x = torch.full((N,), 0.5)
    out = corruption.corrupt(x, "salt_and_pepper", 0.4, _gen())
    assert torch.all((out == 0) | (out == 1) | (out == 0.5))
    hit = (out != 0.5).double().mean().item()
    assert abs(hit - 0.4) < 4 * math.sqrt(0.4 * 0.6 / N)
    salt = (out == 1).double().sum() / (out != 0.5).double().sum()
    assert abs(salt.item() - 0.5) < 4 * math.sqrt(0.25 / (0.4 * N))


def test_gaussian_noise_has_std_level_before_clipping():
    x = torch.full((N,), 0.5)
    out = corruption.corrupt(x, "gaussian", 0.1, _gen())  # 5 sigma from the clip: no clipping
    assert abs(out.mean().item() - 0.5) < 4 * 0.1 / math.sqrt(N)
    assert abs(out.std().item() - 0.1) < 4 * 0.1 / math.sqrt(2 * N)


def test_gaussian_noise_is_clipped_to_the_unit_interval():
    x = torch.full((N,), 0.5)
    out = corruption.corrupt(x, "gaussian", 1.0, _gen())
    p_low = 0.5 * (1 + math.erf(-0.5 / math.sqrt(2)))  # P(0.5 + eps < 0) = Phi(-0.5)
    assert out.min() == 0 and out.max() == 1
    assert abs((out == 0).double().mean().item() - p_low) < 4 * math.sqrt(p_low * (1 - p_low) / N)


def test_denoising_loss_is_the_clean_reconstruction_error_of_the_corrupted_batch():
    x = torch.rand(16, 1, 8, 8, generator=_gen(2))
    loss_fn = corruption.denoising_loss_fn("masking", 0.5, seed=3)
    loss, logs = loss_fn(nn.Identity(), x, 0)  # identity "model": its output is x_tilde itself
    x_tilde = corruption.corrupt(x, "masking", 0.5, _gen(3))
    expected = sum(((x_tilde[i] - x[i]) ** 2).mean() for i in range(len(x))) / len(x)
    assert torch.isclose(loss, expected) and logs["mse"] is loss
    assert corruption.denoising_loss_fn("gaussian", 0.0)(nn.Identity(), x, 0)[0] == 0


@pytest.mark.parametrize("args,error,match", [
    ((torch.rand(4), "blur", 0.1), ValueError, "kind must be one of"),
    ((torch.rand(4), "gaussian", -0.1), ValueError, "level must be >= 0"),
    ((torch.rand(4), "masking", 1.5), ValueError, r"level must be in \[0, 1\]"),
    ((torch.rand(4), "salt_and_pepper", 2.0), ValueError, r"level must be in \[0, 1\]"),
    (([0.1, 0.2], "masking", 0.1), TypeError, "x must be a torch.Tensor"),
    ((torch.ones(4, dtype=torch.long), "masking", 0.1), TypeError, "floating-point"),
    ((torch.rand(4), "masking", "0.1"), TypeError, "level must be a number"),
])
def test_bad_input_is_rejected(args, error, match):
    with pytest.raises(error, match=match):
        corruption.corrupt(*args)


def test_gaussian_level_above_one_is_allowed_and_loss_factory_checks_its_arguments():
    assert corruption.corrupt(torch.rand(4), "gaussian", 2.0, _gen()).shape == (4,)
    with pytest.raises(ValueError, match="kind"):
        corruption.denoising_loss_fn("blur", 0.1)
    with pytest.raises(ValueError, match="level"):
        corruption.denoising_loss_fn("masking", 1.1)
