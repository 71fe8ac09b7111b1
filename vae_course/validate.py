"""Argument checks shared by the whole package.

Every public function checks its inputs first and raises a ``TypeError``/``ValueError`` that
names the argument, what was expected and what arrived, before doing any work.
"""
from __future__ import annotations

from collections.abc import Sequence

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


def same_shape(**tensors: torch.Tensor) -> None:
    """Check that all keyword tensors share one shape, e.g. ``same_shape(mu=mu, logvar=logvar)``."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"shapes must match: {listed}")


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Check that ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def non_negative(name: str, value: float) -> float:
    """Check that ``value`` is a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
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
