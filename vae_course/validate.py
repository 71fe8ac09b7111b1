"""Argument checks shared by the whole package.

Every public function checks its inputs first and raises a ``TypeError``/``ValueError`` that
names the argument, what was expected and what arrived, before doing any work.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import torch


def tensor(name: str, x: object, *, ndim: int | Sequence[int] | None = None,
           shape: Sequence[int | None] | None = None, floating: bool = True) -> torch.Tensor:
    """Check that ``x`` is a tensor with the given rank/shape (``None`` in ``shape`` = any size)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if shape is not None:
        if x.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    return x


def integer_tensor(name: str, x: object, *, ndim: int | Sequence[int] | None = None,
                   shape: Sequence[int | None] | None = None) -> torch.Tensor:
    """Check that ``x`` is a tensor of integers (indices, labels: not float, bool or complex)."""
    tensor(name, x, ndim=ndim, shape=shape, floating=False)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (e.g. int64), got dtype {x.dtype}")
    return x


def same_dtype(name: str, x: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
    """Check that ``x`` has the dtype of ``what`` (the codebook, a fitted PCA), which torch
    would otherwise refuse deep inside a matrix product."""
    if x.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of {what}, {dtype}, got {x.dtype}: convert it with "
                        f"{name}.to({dtype})")
    return x


def module(name: str, model: object) -> torch.nn.Module:
    """Check that ``model`` is a ``torch.nn.Module`` (a model, a classifier)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (a model), got {type(model).__name__}")
    return model


def positive_ints(name: str, values: object) -> tuple[int, ...]:
    """Check that ``values`` is a sequence (list, tuple) of positive ints, such as layer widths;
    return it as a tuple."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(f"{name} must be a list or tuple of positive ints, got {type(values).__name__} {values!r}")
    if not all(is_int(v) and v > 0 for v in values):
        raise ValueError(f"{name} must hold positive ints, got {list(values)}")
    return tuple(int(v) for v in values)


def image_shape(name: str, shape: Sequence[int]) -> tuple[int, int, int]:
    """Check that ``shape`` is an image shape (C, H, W) of positive ints; return it as a tuple."""
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"{name} must be (C, H, W) with positive ints, got {tuple(shape)}")
    return tuple(shape)


def same_shape(**tensors: torch.Tensor) -> None:
    """Check that all keyword tensors share one shape, e.g. ``same_shape(mu=mu, logvar=logvar)``."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"shapes must match: {listed}")


def is_int(value: object) -> bool:
    """True for Python and NumPy integers (``np.int64`` included), False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, _np_bool()))


def _np_bool() -> type:
    try:
        import numpy as np
        return np.bool_
    except ImportError:  # numpy is part of the course stack; this keeps validate torch-only
        return bool


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Check that ``value`` is an int >= ``minimum`` (a NumPy integer counts); return it as an int."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def non_negative(name: str, value: float) -> float:
    """Check that ``value`` is a finite real number >= 0 (NumPy numbers count)."""
    if isinstance(value, (bool, _np_bool())) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def probability(name: str, value: float) -> float:
    """Check that ``value`` is a number in [0, 1]."""
    value = non_negative(name, value)
    if value > 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def one_of(name: str, value: object, choices: Sequence[object]) -> None:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def seed(name: str, value: object) -> int:
    """Check that ``value`` is an int seed >= 0 (``torch.manual_seed`` takes no floats)."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int >= 0 such as 0 or 1234, got {type(value).__name__} {value!r}")
    return positive_int(name, value, minimum=0)


def finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Check that the tensor ``x`` holds no NaN or inf (one NaN would otherwise turn into a
    plausible wrong number further on)."""
    if torch.isfinite(x.sum()):  # one reduction, no mask: the cheap test, run on every batch
        return x
    bad = ~torch.isfinite(x)  # the sum may also overflow with every entry finite
    if bad.any():
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} must be finite, but {int(bad.sum())} of {x.numel()} entries are NaN or inf "
                         f"(the first at index {list(first)})")
    return x


def not_empty(name: str, x: torch.Tensor) -> torch.Tensor:
    """Check that ``x`` has at least one example (its first dimension is not 0)."""
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): it needs at least one example")
    return x


def unit_interval(name: str, x: torch.Tensor) -> torch.Tensor:
    """Check that ``x`` holds finite values in [0, 1] (images as the course's models expect)."""
    finite(name, x)
    if x.numel() and (x.min() < 0 or x.max() > 1):
        hint = ": divide by 255" if x.max() > 1.5 else ""
        raise ValueError(f"{name} must hold values in [0, 1], got values in "
                         f"[{x.min().item():.4g}, {x.max().item():.4g}]{hint}")
    return x


def module_input(name: str, x: object, module: torch.nn.Module) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of the dtype of ``module``'s weights.

    ``torch.from_numpy`` of a NumPy array gives float64, the models' weights are float32: torch
    itself would fail deep inside with "mat1 and mat2 must have the same dtype"."""
    tensor(name, x)
    weight = next(module.parameters(), None)
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's weights are {weight.dtype}: convert the data "
                        f"with {name}.float() ({name}.to(torch.float32); torch.from_numpy gives float64), "
                        f"or the model with model.to({x.dtype})")
    return x


def vae(name: str, model: object, needed_for: str) -> None:
    """Check that ``model`` is a VAE: its ``encode(x)`` gives a posterior (mu, logvar), which a
    plain autoencoder (one code per image) does not have."""
    if not callable(getattr(model, "log_px_given_z", None)):  # what an autoencoder lacks
        raise TypeError(f"{name} must be a VAE (models.VAE, whose encode gives (mu, logvar)) for {needed_for}; got "
                        f"{type(model).__name__}, which has no posterior q(z|x): train a models.VAE.build(...) instead")


def log_variance(name: str, logvar: torch.Tensor) -> torch.Tensor:
    """Check that ``logvar`` is finite and exp(logvar) is a positive, finite variance in its
    dtype (logvar = -1e4 gives a variance of exactly 0, and log-densities of NaN)."""
    finite(name, logvar)
    var = logvar.exp()
    if (var == 0).any() or not torch.isfinite(var).all():
        raise ValueError(f"{name} must give a positive, finite variance exp({name}) in {logvar.dtype}; got {name} "
                         f"in [{logvar.min().item():.4g}, {logvar.max().item():.4g}], where exp() is 0 or inf")
    return logvar


def factory_name(make: Callable) -> str:
    """``module.function`` of a loss factory, as a learner would type it (``losses.vae_loss``)."""
    return f"{make.__module__.rsplit('.', 1)[-1]}.{make.__name__}"


def loss_factory(make: Callable) -> Callable:
    """Decorate a function that *returns* a loss function (``losses.vae_loss``): ``train.fit``
    then tells a learner who passes it uncalled to call it, and calling it with a model (as if
    it were the loss itself) says the same."""
    @functools.wraps(make)
    def checked(*args, **kwargs):
        if args and isinstance(args[0], torch.nn.Module):
            raise TypeError(f"{factory_name(make)} makes a loss function, it is not one: call it: "
                            f"loss_fn = {factory_name(make)}(), then loss_fn(model, batch, step)")
        return make(*args, **kwargs)
    checked.is_loss_factory = True
    return checked


def posterior_pair(out: object, model: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check that ``model.encode(x)`` gave a posterior (mu, logvar), two tensors of one shape, and
    not an autoencoder's single code tensor (whose rows would be split into two halves)."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)
            and out[0].shape == out[1].shape):
        got = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"model.encode(x) must give a posterior (mu, logvar), as a models.VAE does; "
                        f"{type(model).__name__}.encode gave {got} (a plain autoencoder's codes?): use a VAE")
    return out
