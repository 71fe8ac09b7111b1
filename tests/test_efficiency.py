"""The FLOP counting of ``benchmarks/efficiency.py`` against torch's own counter (no timing)."""
import importlib.util
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vae_course import losses, models

_spec = importlib.util.spec_from_file_location(
    "efficiency", Path(__file__).resolve().parent.parent / "benchmarks" / "efficiency.py")
efficiency = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(efficiency)


def _tiny_vae_and_batch():
    torch.manual_seed(0)
    model = models.VAE.build("mlp", (1, 4, 5), 3, hidden=(7, 6))
    return model, torch.rand(9, 1, 4, 5).round()


def test_counted_flops_equal_torchs_flop_counter_on_a_training_step():
    """Forward: 2 * B * in * out per Linear; backward: twice that, except the first layer,
    whose input (the data) needs no gradient: what FlopCounterMode counts in a real step."""
    model, x = _tiny_vae_and_batch()
    calls = efficiency.linear_calls(model, x)
    assert [c[1:] for c in calls] == [(20, 7, False), (7, 6, True), (6, 6, True),  # encoder to (mu, logvar)
                                      (3, 6, True), (6, 7, True), (7, 20, True)]  # decoder
    counted = efficiency.counted_flops(calls)
    with FlopCounterMode(display=False) as forward_only:
        loss, _ = losses.vae_loss()(model, x, 0)
    with FlopCounterMode(display=False) as backward_only:
        loss.backward()
    by_hand = 2 * 9 * (20 * 7 + 7 * 6 + 6 * 6 + 3 * 6 + 6 * 7 + 7 * 20)  # B = 9 rows through each layer
    assert counted["forward"] == forward_only.get_total_flops() == by_hand
    assert counted["backward"] == backward_only.get_total_flops()
    assert counted["step"] == counted["forward"] + counted["backward"]


def test_replayed_products_do_exactly_the_counted_flops():
    model, x = _tiny_vae_and_batch()
    calls = efficiency.linear_calls(model, x)
    with FlopCounterMode(display=False) as counter:
        efficiency.replayed_matmuls(calls)()
    assert counter.get_total_flops() == efficiency.counted_flops(calls)["step"]


def test_timed_checks_count_each_outermost_check_once_and_restore_validate():
    """The checks' timer wraps every function of vae_course.validate while the block runs (a
    check that calls another counts once), and puts the originals back after."""
    from vae_course import validate
    original = validate.integer_tensor
    with efficiency.timed_checks() as spent:
        assert validate.integer_tensor is not original
        validate.integer_tensor("i", torch.arange(3))  # calls validate.tensor inside
        once = spent["seconds"]
        assert once > 0
        with_error = 0
        try:
            validate.integer_tensor("i", torch.rand(3))
        except TypeError:
            with_error = spent["seconds"] - once
        assert with_error > 0  # a check that raises is timed too
    assert validate.integer_tensor is original


def test_checks_share_is_a_fraction_of_the_steps():
    from vae_course import validate

    def step():
        validate.tensor("x", torch.zeros(3))
        sum(range(20_000))  # work outside the checks

    shares = efficiency.checks_share({"toy": step}, 5)
    assert 0 < shares["toy"] < 1
