import os
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


def test_thread_policy_uses_the_idle_cores(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_THREADS", raising=False)
    assert config.training_threads(cores=2, idle=2.0) == 2      # an idle machine: every core
    assert config.training_threads(cores=2, idle=1.05) == 1     # one core busy elsewhere: one thread
    assert config.training_threads(cores=2, idle=0.0) == 1      # never fewer than one
    assert config.training_threads(cores=4, idle=9.0) == 4      # never more than the cores
    assert config.training_threads(cores=3, idle=None) == 3     # nothing measured: every core


def test_thread_policy_can_be_overridden(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_THREADS", "1")
    assert config.training_threads(cores=8, idle=8.0) == 1
    before = torch.get_num_threads()
    try:
        assert config.use_idle_cores() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("VAE_COURSE_THREADS", "two")
    with pytest.raises(ValueError, match="VAE_COURSE_THREADS must be a positive integer, got 'two'"):
        config.training_threads()


def test_idle_cores_reads_a_plausible_number():
    idle = config.idle_cores(interval=0.05)
    assert idle is None or 0.0 <= idle <= (os.cpu_count() or 1) + 1e-9


def test_cores_left_by_others_does_not_count_our_own_work():
    ticks, cores = 100.0, 2
    before = (0.0, 0.0)
    # 1 s of wall time on 2 cores = 200 jiffies; 50 idle: 1.5 cores busy
    after = (50.0, 200.0)
    assert config.cores_left_by_others(before, after, own_seconds=1.5, cores=cores, ticks_per_second=ticks) == pytest.approx(2.0)
    assert config.cores_left_by_others(before, after, own_seconds=0.5, cores=cores, ticks_per_second=ticks) == pytest.approx(1.0)
    assert config.cores_left_by_others(before, after, own_seconds=0.0, cores=cores, ticks_per_second=ticks) == pytest.approx(0.5)
    assert config.cores_left_by_others(before, before, own_seconds=0.0, cores=cores, ticks_per_second=ticks) == 2.0


def test_thread_governor_follows_the_measurement(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_THREADS", raising=False)
    before = torch.get_num_threads()
    readings = iter([(0.0, 0.0), (0.0, 200.0), (0.0, 200.0)])  # start; 1 s with both cores busy; re-mark
    monkeypatch.setattr(config, "_cpu_times", lambda: next(readings))
    monkeypatch.setattr(config, "idle_cores", lambda interval=0.1: 2.0)
    monkeypatch.setattr(config.os, "cpu_count", lambda: 2)
    try:
        governor = config.ThreadGovernor(every=10)
        assert governor.threads == 2 and governor.step(5) == 2   # not yet time to re-measure
        assert governor.step(10) == 1 and torch.get_num_threads() == 1  # another program took a core
    finally:
        torch.set_num_threads(before)
