"""The fit loop: histories, evaluation, the NaN guard, Ctrl-C, continuing, and bad arguments."""
import math

import pytest
import torch
from torch import nn

from vae_course import train


class Scalar(nn.Module):
    """One parameter w; the 'data' are targets t and the loss is mean (w - t)^2."""

    def __init__(self, w=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(w)))


def squared(model, batch, step):
    t = batch if isinstance(batch, torch.Tensor) else batch[0]
    loss = (model.w - t).pow(2).mean()
    return loss, {"w": model.w.detach(), "double": 2 * loss}


def _fit(data=None, **kw):
    data = torch.full((8,), 3.0) if data is None else data
    kw = {"steps": 5, "batch_size": 4, "progress": False, "device": "cpu", **kw}
    return train.fit(kw.pop("model", Scalar()), kw.pop("loss_fn", squared), data, **kw)


def test_sgd_steps_match_a_hand_written_loop():
    model = Scalar()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = _fit(model=model, optimizer=opt, steps=6, log_every=1)
    w = 0.0
    for _ in range(6):
        w -= 0.1 * 2 * (w - 3.0)  # d/dw (w - 3)^2
    assert math.isclose(model.w.item(), w, rel_tol=1e-6)
    assert history.steps == list(range(6))
    assert history.train["w"][0] == 0.0  # logged before the update of its step
    assert history.train["double"] == pytest.approx([2 * x for x in history.train["loss"]])


def test_logging_every_few_steps_keeps_the_last_step():
    history = _fit(steps=7, log_every=3)
    assert history.steps == [0, 3, 6]
    assert all(len(v) == 3 for v in history.train.values())
    history = _fit(steps=8, log_every=3)
    assert history.steps == [0, 3, 6, 7]


def test_eval_is_recorded_at_the_last_step_and_equals_a_brute_force_average():
    eval_data = torch.arange(10.0)
    model = Scalar()
    history = _fit(model=model, steps=7, eval_data=eval_data, eval_every=3)
    assert history.eval_steps == [2, 5, 6]
    expected = sum((model.w.item() - t) ** 2 for t in range(10)) / 10
    assert history.last("loss") == pytest.approx(expected, rel=1e-5)
    assert history.last("double") == pytest.approx(2 * expected, rel=1e-5)
    assert history.last("loss", split="train") == history.train["loss"][-1]
    with pytest.raises(KeyError, match="no eval value logged for 'kl'"):
        history.last("kl")


def test_evaluate_weights_batches_by_their_size():
    data = torch.arange(10.0)  # batches of 3, 3, 3, 1
    logs = train.evaluate(Scalar(1.0), squared, data, batch_size=3)
    assert logs["loss"] == pytest.approx(sum((1 - t) ** 2 for t in range(10)) / 10)


def test_each_epoch_visits_every_example_once():
    seen = []

    def record(model, batch, step):
        seen.append(batch[1].tolist())
        return squared(model, batch[0], step)

    data = (torch.zeros(10), torch.arange(10))
    _fit(data, loss_fn=record, steps=4, batch_size=5)
    assert sorted(seen[0] + seen[1]) == list(range(10)) == sorted(seen[2] + seen[3])
    seen.clear()
    _fit(data, loss_fn=record, steps=4, batch_size=4)  # two batches an epoch; the tail of 2 is dropped
    assert len(set(seen[0] + seen[1])) == 8 and len(set(seen[2] + seen[3])) == 8


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    model = Scalar()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _fit(model=model, optimizer=opt, steps=10, lr_schedule="cosine")
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_with_the_step_and_keeps_the_parameters(bad_value):
    def explode(model, batch, step):
        loss, logs = squared(model, batch, step)
        return (loss * bad_value if step == 3 else loss), logs

    model = Scalar()
    with pytest.raises(train.NonFiniteError, match=r"step 3: loss = (nan|inf)"):
        _fit(model=model, loss_fn=explode, steps=6)
    assert math.isfinite(model.w.item())


def test_non_finite_logged_quantity_is_named():
    def bad_log(model, batch, step):
        loss, logs = squared(model, batch, step)
        return loss, {**logs, "kl": torch.tensor(float("nan") if step == 2 else 0.0)}

    with pytest.raises(train.NonFiniteError, match="step 2: kl = nan"):
        _fit(loss_fn=bad_log, steps=5)


def test_keyboard_interrupt_keeps_the_history(capsys):
    def interrupt(model, batch, step):
        if step == 4:
            raise KeyboardInterrupt
        return squared(model, batch, step)

    history = _fit(loss_fn=interrupt, steps=10, log_every=1)
    assert history.interrupted and history.steps == [0, 1, 2, 3]
    assert "Interrupted at step 4" in capsys.readouterr().out


def test_continuing_a_history_numbers_steps_on():
    model = Scalar()
    history = _fit(model=model, steps=4, log_every=1)
    again = _fit(model=model, steps=3, log_every=1, history=history)
    assert again is history and history.steps == list(range(7))
    assert len(history.train["loss"]) == 7


@pytest.mark.parametrize("kwargs,error,match", [
    ({"steps": 0}, ValueError, "steps must be >= 1"),
    ({"steps": 2.5}, TypeError, "steps must be an int"),
    ({"batch_size": -1}, ValueError, "batch_size must be >= 1"),
    ({"log_every": 0}, ValueError, "log_every must be >= 1"),
    ({"lr_schedule": "linear"}, ValueError, "lr_schedule must be one of"),
    ({"data": [1.0, 2.0]}, TypeError, "train_data must be a tensor or a tuple of tensors"),
    ({"data": (torch.zeros(4), torch.zeros(5))}, ValueError, r"same first dimension, got \[4, 5\]"),
    ({"eval_data": (torch.zeros(4), torch.zeros(3))}, ValueError, "eval_data"),
])
def test_bad_arguments_are_rejected_before_training(kwargs, error, match):
    model = Scalar()
    with pytest.raises(error, match=match):
        _fit(model=model, **kwargs)
    assert model.w.item() == 0.0


class Recorder(Scalar):
    """Records every device it is moved to."""

    def __init__(self):
        super().__init__()
        self.moves = []

    def to(self, *args, **kwargs):
        self.moves.append(torch.device(args[0] if args else kwargs["device"]))
        return super().to(*args, **kwargs)


@pytest.mark.parametrize("bad", [False, True], ids=["finished", "stopped by NaN"])
def test_model_goes_back_to_the_device_it_came_on(bad):
    def loss_fn(model, batch, step):
        loss, logs = squared(model, batch, step)
        return (loss * math.nan if bad and step == 2 else loss), logs

    model = Recorder()
    if bad:
        with pytest.raises(train.NonFiniteError, match="step 2"):
            _fit(model=model, loss_fn=loss_fn, device="cpu")
    else:
        _fit(model=model, loss_fn=loss_fn, device="cpu")
    assert model.moves == [torch.device("cpu"), torch.device("cpu")] and not model.training


def test_minibatches_are_a_seeded_shuffle_without_the_ragged_tail():
    tensors = (torch.arange(10), torch.arange(10) * 2)
    draw = lambda seed, n: [b[0].tolist() for _, b in zip(range(n), train.minibatches(tensors, 4, seed))]
    first = draw(0, 6)
    assert first == draw(0, 6) and first != draw(1, 6)  # the seed decides the order
    assert all(len(b) == 4 for b in first)  # 10 = 4 + 4 + 2: the 2 left over are dropped
    assert len(set(first[0] + first[1])) == 8 and first[:2] != first[2:4]  # a fresh shuffle per epoch
    batch = next(train.minibatches(tensors, 4, 0))
    assert torch.equal(batch[1], 2 * batch[0])  # the tensors stay aligned


def test_a_history_survives_a_round_trip_through_a_dict():
    history = _fit(steps=4, log_every=1, eval_data=torch.arange(4.0), eval_every=2)
    again = train.History.from_dict(history.to_dict())
    assert again == history and again.last("loss") == history.last("loss")
