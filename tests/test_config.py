import random

import numpy as np
import pytest
import torch

from vae_course import config


def test_quick_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    assert config.quick_mode() and config.pick(full=100, quick=5) == 5
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    assert not config.quick_mode() and config.pick(full=100, quick=5) == 100
    monkeypatch.delenv("VAE_COURSE_QUICK")
    assert not config.quick_mode()


def test_device_defaults_to_cuda_when_present_else_cpu(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected


def test_device_can_be_overridden(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    assert config.get_device("cpu") == torch.device("cpu")


def test_asking_for_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        config.get_device("cuda")


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()
    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    assert draw() == first
    config.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_seed_must_be_a_non_negative_int(seed, error):
    with pytest.raises(error, match="seed"):
        config.seed_everything(seed)


def test_numpy_integer_seeds_are_accepted():
    config.seed_everything(np.int64(3))
    first = torch.rand(1)
    config.seed_everything(3)
    assert torch.equal(first, torch.rand(1))


def test_data_root_and_download_opt_in(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    monkeypatch.delenv("VAE_COURSE_DOWNLOAD", raising=False)
    assert config.data_root() == tmp_path and not config.download_allowed()
    monkeypatch.setenv("VAE_COURSE_DOWNLOAD", "1")
    assert config.download_allowed()
