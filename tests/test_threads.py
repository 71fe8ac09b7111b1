"""The thread policy, tested with fake CPU-time readings (psutil's, as on any system)."""
from collections import namedtuple

import pytest
import torch

from vae_course import threads

# psutil.cpu_times() on Linux and on macOS: different fields, one policy
LinuxTimes = namedtuple("LinuxTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
MacTimes = namedtuple("MacTimes", "user nice system idle")


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_seconds_counts_idle_and_iowait_and_leaves_guest_time_out(monkeypatch):
    monkeypatch.setattr(threads.psutil, "cpu_times", lambda: LinuxTimes(10, 1, 5, 50, 4, 0, 0, 0, 7, 2))
    assert threads.cpu_seconds() == (54, 70)  # guest time is already inside user and nice
    monkeypatch.setattr(threads.psutil, "cpu_times", lambda: MacTimes(10, 1, 5, 50))
    assert threads.cpu_seconds() == (50, 66)


def test_thread_policy_uses_the_idle_cores(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_THREADS", raising=False)
    assert threads.training_threads(n_cores=2, idle=2.0) == 2      # an idle machine: every core
    assert threads.training_threads(n_cores=2, idle=1.05) == 1     # one core busy elsewhere: one thread
    assert threads.training_threads(n_cores=2, idle=0.0) == 1      # never fewer than one
    assert threads.training_threads(n_cores=4, idle=9.0) == 4      # never more than the cores
    assert threads.training_threads(n_cores=3, idle=None) == 3     # nothing measured: every core


def test_thread_policy_can_be_overridden(monkeypatch, keep_threads):
    monkeypatch.setenv("VAE_COURSE_THREADS", "1")
    assert threads.training_threads(n_cores=8, idle=8.0) == 1
    assert threads.use_idle_cores() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("VAE_COURSE_THREADS", "two")
    with pytest.raises(ValueError, match="VAE_COURSE_THREADS must be a positive integer, got 'two'"):
        threads.training_threads()


def test_idle_cores_from_two_readings(monkeypatch):
    # 0.1 s on 2 cores = 0.2 CPU-seconds, 0.05 of them idle: 0.5 cores idle
    readings = iter([(100.0, 400.0), (100.05, 400.2)])
    monkeypatch.setattr(threads, "cpu_seconds", lambda: next(readings))
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    assert threads.idle_cores() == pytest.approx(0.5)


def test_idle_cores_on_this_machine_is_plausible():
    assert 0.0 <= threads.idle_cores(interval=0.05) <= threads.cores() + 1e-9


def test_cores_left_by_others_does_not_count_our_own_work():
    before, after = (0.0, 0.0), (0.5, 2.0)  # 1 s of wall time on 2 cores; 0.5 idle: 1.5 cores busy
    assert threads.cores_left_by_others(before, after, own_seconds=1.5, n_cores=2) == pytest.approx(2.0)
    assert threads.cores_left_by_others(before, after, own_seconds=0.5, n_cores=2) == pytest.approx(1.0)
    assert threads.cores_left_by_others(before, after, own_seconds=0.0, n_cores=2) == pytest.approx(0.5)
    assert threads.cores_left_by_others(before, before, own_seconds=0.0, n_cores=2) == 2.0


def test_thread_governor_follows_the_measurement(monkeypatch, keep_threads):
    monkeypatch.delenv("VAE_COURSE_THREADS", raising=False)
    readings = iter([(0.0, 0.0), (0.0, 2.0), (0.0, 2.0)])  # start; 1 s with both cores busy; re-mark
    monkeypatch.setattr(threads, "cpu_seconds", lambda: next(readings))
    monkeypatch.setattr(threads, "idle_cores", lambda interval=0.1: 2.0)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads.time, "process_time", lambda: 0.0)  # we used no CPU ourselves
    governor = threads.ThreadGovernor(every=10)
    assert governor.threads == 2 and governor.step(5) == 2   # not yet time to re-measure
    assert governor.step(10) == 1 and torch.get_num_threads() == 1  # another program took a core
