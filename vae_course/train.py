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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
# The text bar, not tqdm.auto's widget: a widget freezes at 0% inside a RISE slideshow (no
# widget manager there), while text updated in place with '\r' shows progress everywhere.
from tqdm.std import tqdm

from vae_course import config, threads, validate
from vae_course.losses import Batch, LossFn
from vae_course.models import evaluating



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

    def to_dict(self) -> dict:
        """Plain lists and dicts (what ``torch.save(..., weights_only=True)`` can load back)."""
        return {"steps": self.steps, "train": dict(self.train), "eval_steps": self.eval_steps,
                "eval": dict(self.eval), "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, saved: dict) -> History:
        """The ``History`` that ``to_dict`` gave ``saved``."""
        return cls(list(saved["steps"]), defaultdict(list, saved["train"]), list(saved["eval_steps"]),
                   defaultdict(list, saved["eval"]), bool(saved.get("interrupted", False)))


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
    """float64 images (``torch.from_numpy`` gives them) into float32 weights, or a NaN in the
    data: say so now."""
    for i, t in enumerate(tensors):
        if t.is_floating_point():
            validate.finite(name if len(tensors) == 1 else f"{name}[{i}]", t)
    if tensors[0].is_floating_point():
        validate.module_input(name if len(tensors) == 1 else f"{name}[0]", tensors[0], model)


def _check_like(eval_tensors: tuple[torch.Tensor, ...], tensors: tuple[torch.Tensor, ...]) -> None:
    """eval_data must hold what train_data holds: as many tensors, each with the same shape past
    the first dimension and floating where train_data's is (the loss sees both)."""
    def kinds(ts):
        return [(tuple(t.shape[1:]), "float" if t.is_floating_point() else "int") for t in ts]
    if kinds(eval_tensors) != kinds(tensors):
        raise ValueError(f"eval_data must hold examples like train_data's, got (shape past N, kind) "
                         f"{kinds(eval_tensors)} for eval_data and {kinds(tensors)} for train_data")


def _check_options(model: object, lr: object, optimizer: object, eval_every: object, history: object) -> None:
    """The arguments of ``fit`` that are not data or counts, checked before any work."""
    validate.module("model", model)
    validate.non_negative("lr", lr)
    for name, value, kind in (("optimizer", optimizer, torch.optim.Optimizer), ("history", history, History)):
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"{name} must be None or a {kind.__module__}.{kind.__name__}, got {type(value).__name__}")
    if eval_every is not None:
        validate.positive_int("eval_every", eval_every)


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
    totals: dict[str, float] = defaultdict(float)
    n = len(tensors[0])
    with evaluating(model):
        for start in range(0, n, batch_size):
            batch = tuple(t[start:start + batch_size].to(device) for t in tensors)
            loss, logs = loss_fn(model, _unpack(batch), step)
            for name, value in _floats({"loss": loss, **logs}, step).items():
                totals[name] += value * len(batch[0]) / n
    return dict(totals)


def minibatches(tensors: tuple[torch.Tensor, ...], batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Shuffled minibatches, epoch after epoch without end, each epoch's ragged tail dropped:
    torch's ``DataLoader`` over a ``TensorDataset``, its order drawn from a generator seeded by
    ``seed``. The sampler hands the data set a whole batch of indices at once (a
    ``BatchSampler`` as the sampler, ``batch_size=None``), so that each tensor is indexed once
    per batch rather than once per example (2.6x faster for the sprites' batches of 256)."""
    dataset = TensorDataset(*tensors)
    generator = torch.Generator().manual_seed(seed)
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last=True)
    loader = DataLoader(dataset, sampler=sampler, batch_size=None, generator=generator)
    while True:
        yield from loader


def _check_fit(model: nn.Module, loss_fn: LossFn, train_data: Batch, eval_data: Batch | None,
               lr_schedule: str | None, **counts: int) -> tuple[tuple[torch.Tensor, ...], dict[str, int]]:
    """Every argument of ``fit`` checked before any work; returns the training tensors and the
    ``counts`` (steps, batch_size, log_every, seed) as Python ints (NumPy integers arrive too)."""
    _check_loss_fn(loss_fn)
    counts = {name: validate.seed(name, value) if name == "seed" else validate.positive_int(name, value)
              for name, value in counts.items()}
    batch_size = counts["batch_size"]
    validate.one_of("lr_schedule", lr_schedule, (None, "cosine"))
    tensors = _as_tuple(train_data, "train_data")
    if batch_size > len(tensors[0]):
        raise ValueError(f"batch_size = {batch_size} is larger than train_data ({len(tensors[0])} examples): "
                         f"pass batch_size <= {len(tensors[0])} (batch_size={len(tensors[0])} trains full-batch)")
    _check_data_dtype("train_data", tensors, model)
    if eval_data is not None:
        eval_tensors = _as_tuple(eval_data, "eval_data")
        _check_like(eval_tensors, tensors)
        _check_data_dtype("eval_data", eval_tensors, model)
    return tensors, counts


def _update(model: nn.Module, loss_fn: LossFn, batch: Batch, step: int, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler | None) -> dict[str, float]:
    """One optimiser step on ``batch``; returns the logged values, checked finite before the update."""
    loss, logs = loss_fn(model, batch, step)
    values = _floats({"loss": loss, **logs}, step)  # the NaN guard, before the weights change
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return values


def _first_update(*args) -> dict[str, float]:
    """``_update`` on the first batch, before any weight has changed: a ValueError or TypeError
    from the loss there names train_data, what the learner passed (not only the loss's own names)."""
    try:
        return _update(*args)
    except (ValueError, TypeError) as error:
        if type(error) not in (ValueError, TypeError):
            raise
        raise type(error)(f"loss_fn(model, batch, step) failed on the first batch of train_data: {error}") from error


def _record(log: dict[str, list[float]], steps: list[int], step: int, values: Mapping[str, float]) -> None:
    steps.append(step)
    for name, value in values.items():
        log[name].append(value)


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
        batch_size, seed: minibatches of ``batch_size`` shuffled by ``seed`` (``minibatches``).
        optimizer: defaults to Adam with learning rate ``lr`` over ``model.parameters()``.
        lr_schedule: ``None`` (constant) or ``"cosine"`` (decay to 0 over ``steps``).
        eval_every: steps between held-out evaluations (default: 10 evaluations in all);
            the last step is always evaluated. ``log_every``: steps between training logs.
        history: pass a previous ``History`` to continue it.
        device: where to train (default ``config.get_device()``: CUDA when present). The model
            goes back to the device it came on when training ends, so that a notebook's
            tensors, built on the CPU, and its models always meet on one device.
    """
    _check_options(model, lr, optimizer, eval_every, history)
    tensors, counts = _check_fit(model, loss_fn, train_data, eval_data, lr_schedule, steps=steps,
                                 batch_size=batch_size, log_every=log_every, seed=seed)
    steps, batch_size, log_every, seed = (counts[k] for k in ("steps", "batch_size", "log_every", "seed"))
    eval_every = eval_every or max(1, steps // 10)
    device = config.get_device(None if device is None else str(device))
    governor = threads.ThreadGovernor() if device.type == "cpu" else None
    home = next(model.parameters()).device
    model.to(device).train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
                 if lr_schedule == "cosine" else None)
    history = history or History()
    start = history.steps[-1] + 1 if history.steps else 0
    last = start + steps - 1
    bar = tqdm(range(start, last + 1), desc=desc, disable=not progress, leave=False, file=sys.stdout)
    step = start
    try:
        for step, batch in zip(bar, minibatches(tensors, batch_size, seed)):
            if governor is not None:
                governor.step(step - start)
            update = _first_update if step == start else _update
            values = update(model, loss_fn, _unpack(tuple(t.to(device) for t in batch)), step,
                            optimizer, scheduler)
            if step % log_every == 0 or step == last:
                _record(history.train, history.steps, step, values)
                bar.set_postfix(loss=f"{values['loss']:.4g}")
            if eval_data is not None and ((step - start + 1) % eval_every == 0 or step == last):
                _record(history.eval, history.eval_steps, step,
                        evaluate(model, loss_fn, eval_data, step=step, device=device))
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted at step {step}: training stopped, history kept "
              f"({len(history.steps)} logged steps).")
    finally:
        bar.close()
        model.to(home).eval()
    return history
