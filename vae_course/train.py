"""One training loop for every notebook.

``fit`` draws shuffled minibatches, calls ``loss_fn(model, batch, step)``, which returns the
scalar loss and a dict of quantities to log, takes an optimiser step, and keeps a ``History``
of every logged quantity, on the training batches and (every ``eval_every`` steps) on
held-out data. It stops with ``NonFiniteError`` at the first NaN or inf, naming the step and
the quantity, and Ctrl-C stops it cleanly with the history kept.
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
# The text bar, not tqdm.auto's widget: a widget freezes at 0% inside a RISE slideshow (no
# widget manager there), while text updated in place with '\r' shows progress everywhere.
from tqdm.std import tqdm

from vae_course import config, validate

Batch = torch.Tensor | tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch, int], tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]]


class NonFiniteError(FloatingPointError):
    """Raised when a loss or a logged quantity becomes NaN or infinite during training."""


def _check_loss_fn(loss_fn: object) -> None:
    if getattr(loss_fn, "is_loss_factory", False):
        name = validate.factory_name(loss_fn)
        raise TypeError(f"loss_fn is {name}, which makes a loss function: call it: {name}() "
                        "(with its arguments, if any), and pass what it returns")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch, step), got {type(loss_fn).__name__}")


@dataclass
class History:
    """Logged quantities: ``train[name][i]`` was logged at step ``steps[i]``;
    ``eval[name][j]`` at step ``eval_steps[j]`` (averaged over the held-out set)."""
    steps: list[int] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    eval_steps: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    interrupted: bool = False

    def last(self, name: str, split: str = "eval") -> float:
        """The last value of ``name`` in ``split`` ("train" or "eval")."""
        log = self.eval if split == "eval" else self.train
        if not log.get(name):
            raise KeyError(f"no {split} value logged for {name!r}; logged: {sorted(log)}")
        return log[name][-1]


def _as_tuple(data: Batch, name: str) -> tuple[torch.Tensor, ...]:
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{name} must be a tensor or a tuple of tensors, got {type(data).__name__}")
    if any(t.dim() == 0 for t in tensors):
        raise ValueError(f"{name} must hold examples along a first dimension, got a 0-d tensor")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"{name}: all tensors must have the same first dimension, "
                         f"got {[len(t) for t in tensors]}")
    if n == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensors[0].shape)}): there is nothing to train or evaluate on")
    return tensors


def _check_data_dtype(name: str, tensors: tuple[torch.Tensor, ...], model: nn.Module) -> None:
    """float64 images (``torch.from_numpy`` gives them) into float32 weights: say so now."""
    if tensors[0].is_floating_point():
        validate.module_input(name if len(tensors) == 1 else f"{name}[0]", tensors[0], model)


def _unpack(batch: tuple[torch.Tensor, ...]) -> Batch:
    return batch[0] if len(batch) == 1 else batch


def _floats(logs: Mapping[str, float | torch.Tensor], step: int) -> dict[str, float]:
    out = {}
    for name, value in logs.items():
        value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(value):
            raise NonFiniteError(f"training stopped at step {step}: {name} = {value}")
        out[name] = value
    return out


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: Batch, batch_size: int = 512,
             step: int = 0, device: torch.device | None = None) -> dict[str, float]:
    """Average every quantity ``loss_fn`` returns over ``data``, weighting batches by size."""
    _check_loss_fn(loss_fn)
    tensors = _as_tuple(data, "data")
    batch_size = validate.positive_int("batch_size", batch_size)
    _check_data_dtype("data", tensors, model)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, float] = defaultdict(float)
    n = len(tensors[0])
    for start in range(0, n, batch_size):
        batch = tuple(t[start:start + batch_size].to(device) for t in tensors)
        loss, logs = loss_fn(model, _unpack(batch), step)
        size = len(batch[0])
        for name, value in _floats({"loss": loss, **logs}, step).items():
            totals[name] += value * size / n
    model.train(was_training)
    return dict(totals)


def fit(model: nn.Module, loss_fn: LossFn, train_data: Batch, *, steps: int,
        eval_data: Batch | None = None, batch_size: int = 128, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, lr_schedule: str | None = None,
        eval_every: int | None = None, log_every: int = 10, seed: int = 0,
        device: torch.device | str | None = None, desc: str = "training",
        progress: bool = True, history: History | None = None) -> History:
    """Train ``model`` for ``steps`` minibatch steps and return the ``History``.

    Args:
        loss_fn: ``loss_fn(model, batch, step) -> (loss, logs)``; ``batch`` is a tensor when
            ``train_data`` is one tensor, else a tuple; ``loss`` is a scalar to minimise.
        train_data, eval_data: a tensor (N, ...) or a tuple of tensors sharing N.
        optimizer: defaults to Adam with learning rate ``lr`` over ``model.parameters()``.
        lr_schedule: ``None`` (constant) or ``"cosine"`` (decay to 0 over ``steps``).
        eval_every: steps between held-out evaluations (default: 10 evaluations in all);
            the last step is always evaluated.
        history: pass a previous ``History`` to continue it.
        device: where to train (default ``config.get_device()``: CUDA when present). The model
            goes back to the device it came on when training ends, so that a notebook's
            tensors, built on the CPU, and its models always meet on one device.
    """
    _check_loss_fn(loss_fn)
    steps = validate.positive_int("steps", steps)  # (NumPy integers become ints here)
    batch_size = validate.positive_int("batch_size", batch_size)
    log_every = validate.positive_int("log_every", log_every)
    seed = validate.seed("seed", seed)
    validate.one_of("lr_schedule", lr_schedule, (None, "cosine"))
    tensors = _as_tuple(train_data, "train_data")
    if batch_size > len(tensors[0]):
        raise ValueError(f"batch_size = {batch_size} is larger than train_data ({len(tensors[0])} examples): "
                         f"pass batch_size <= {len(tensors[0])} (batch_size={len(tensors[0])} trains full-batch)")
    _check_data_dtype("train_data", tensors, model)
    if eval_data is not None:
        _check_data_dtype("eval_data", _as_tuple(eval_data, "eval_data"), model)
    eval_every = eval_every or max(1, steps // 10)
    device = config.get_device(str(device)) if device is not None else config.get_device()
    # on the CPU, one thread per core that other programs leave idle, re-measured as we go
    governor = config.ThreadGovernor() if device.type == "cpu" else None
    home = next(model.parameters()).device
    model.to(device).train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
                 if lr_schedule == "cosine" else None)
    history = history or History()
    start = history.steps[-1] + 1 if history.steps else 0
    generator = torch.Generator().manual_seed(seed)
    n = len(tensors[0])
    order, cursor = torch.randperm(n, generator=generator), 0
    bar = tqdm(range(start, start + steps), desc=desc, disable=not progress, leave=False, file=sys.stdout)
    step = start
    try:
        for step in bar:
            if cursor + batch_size > n:  # a new epoch: reshuffle, drop the ragged tail
                order, cursor = torch.randperm(n, generator=generator), 0
            idx = order[cursor:cursor + batch_size]
            cursor += batch_size
            batch = tuple(t[idx].to(device) for t in tensors)
            if governor is not None:
                governor.step(step - start)
            loss, logs = loss_fn(model, _unpack(batch), step)
            values = _floats({"loss": loss, **logs}, step)  # NaN guard before the update
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if step % log_every == 0 or step == start + steps - 1:
                history.steps.append(step)
                for name, value in values.items():
                    history.train[name].append(value)
                bar.set_postfix(loss=f"{values['loss']:.4g}")
            if eval_data is not None and ((step - start + 1) % eval_every == 0 or step == start + steps - 1):
                history.eval_steps.append(step)
                for name, value in evaluate(model, loss_fn, eval_data, step=step, device=device).items():
                    history.eval[name].append(value)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted at step {step}: training stopped, history kept "
              f"({len(history.steps)} logged steps).")
    finally:
        bar.close()
        model.to(home).eval()
    return history
