"""Small assertion helpers whose messages say what was expected and what came back.

Messages are written for a learner: a mismatch names the entries that differ most (with their
index), the tolerance that really applies, and a check that expected an exception says what
was raised instead.
"""
from __future__ import annotations

import torch

from vae_course.exercise_files import ReturnedNone


def _returned(name: str, got: object) -> None:
    if got is None:
        raise AssertionError(f"{name}: your function returned None (is a `return` missing?)")


def expect_tensor(name: str, got: object, shape: tuple[int, ...] | None = None, *,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Fail unless ``got`` is a tensor (of ``shape`` and ``dtype``, when given)."""
    _returned(name, got)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name}: expected a torch.Tensor, got {type(got).__name__}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        raise AssertionError(f"{name}: expected dtype {dtype} (as the docstring says), got {got.dtype}")
    return got


def expect_tuple(name: str, got: object, length: int, what: str) -> tuple:
    """Fail unless ``got`` is a tuple of ``length`` items; ``what`` names them, e.g. "(mu, Sigma)"."""
    _returned(name, got)
    if not isinstance(got, tuple) or len(got) != length:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise AssertionError(f"{name} must return a tuple {what}, got a {type(got).__name__}{size}")
    return got


def expect_number(name: str, got: object) -> float:
    """Fail unless ``got`` is a real number (a Python or numpy number, or a one-element tensor)."""
    _returned(name, got)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    try:
        return float(got)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: expected a number, got {type(got).__name__}") from None


def _tolerance(atol: float, rtol: float) -> str:
    if rtol == 0:
        return f"allowed difference {atol:g}"
    if atol == 0:
        return f"relative tolerance {rtol:.3g} ({100 * rtol:g}%)"
    return f"allowed difference {atol:g} + {rtol:g} x |expected|"


def _index(flat: int, shape: tuple[int, ...]) -> str:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return "[" + ", ".join(str(i) for i in reversed(index)) + "]"


def expect_close(name: str, got: object, expected: torch.Tensor | float, *, atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Fail unless ``got`` equals ``expected`` within ``atol + rtol * |expected|`` (shapes must
    match for tensors); the message lists the worst entries with their index."""
    _returned(name, got)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not isinstance(got, torch.Tensor):
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            got = torch.tensor(float(got), dtype=torch.float64)
        else:
            raise AssertionError(f"{name}: expected a number or tensor, got {type(got).__name__}")
    if got.is_complex() or got.dtype == torch.bool:
        raise AssertionError(f"{name}: expected real numbers, got dtype {got.dtype}")
    got = got.detach().to("cpu", torch.float64)
    if expected.dim() and tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    if got.numel() != expected.numel():
        raise AssertionError(f"{name}: expected one number, got shape {tuple(got.shape)}")
    got = got.reshape(expected.shape)
    allowed = atol + rtol * expected.abs()
    diff = (got - expected).abs()
    bad = ~(diff <= allowed)  # NaN differences are failures too
    if not bad.any():
        return
    if expected.numel() == 1:
        raise AssertionError(f"{name}: expected {expected.item():.6g}, got {got.item():.6g} "
                             f"({_tolerance(atol, rtol)})")
    excess = torch.where(bad, (diff - allowed).nan_to_num(float("inf")), torch.tensor(-1.0, dtype=torch.float64))
    worst = excess.flatten().argsort(descending=True)[:min(3, int(bad.sum()))]
    shown = "; ".join(f"at {_index(int(i), tuple(expected.shape))} expected {expected.flatten()[i].item():.6g}, "
                      f"got {got.flatten()[i].item():.6g}" for i in worst)
    raise AssertionError(f"{name}: {int(bad.sum())} of {bad.numel()} entries differ from the reference "
                         f"({_tolerance(atol, rtol)}); worst {shown}")


def expect_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def expect_raises(call, error: type[Exception], what: str, names: tuple[str, ...] = ()) -> None:
    """Fail unless ``call()`` raises ``error`` whose message contains each text in ``names`` (the
    values the docstring says it names); ``what`` describes the bad input, e.g. "kind='blur'".

    A ``NotImplementedError`` goes through (the task is not started); any other exception is
    reported as what was raised instead of what was expected."""
    try:
        call()
    except NotImplementedError:
        raise
    except error as err:
        missing = [n for n in names if n not in str(err)]
        if missing:
            raise AssertionError(f"for {what} your {error.__name__} says {str(err)!r}; the docstring says its "
                                 f"message names {' and '.join(map(repr, missing))}") from None
        return
    except ReturnedNone:
        raise AssertionError(f"expected a {error.__name__} for {what}, but nothing was raised "
                             "(your function returned None)") from None
    except Exception as err:
        raise AssertionError(f"for {what} your code raised {type(err).__name__}: {err}; "
                             f"expected a {error.__name__} that says what is wrong") from None
    raise AssertionError(f"expected a {error.__name__} for {what}, but nothing was raised")


def expect_accepts(call, what: str):
    """Return ``call()``; fail with ``what`` (the valid input it got) if the learner's code raises."""
    try:
        return call()
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:
        raise AssertionError(f"{what}: your code raised {type(err).__name__}: {err}") from None
