"""Small assertion helpers whose messages say what was expected and what came back."""
from __future__ import annotations

import torch


def expect_tensor(name: str, got: object, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Fail unless ``got`` is a tensor (of ``shape``, when given)."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name}: expected a torch.Tensor, got {type(got).__name__}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    return got


def expect_close(name: str, got: object, expected: torch.Tensor | float, *, atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Fail unless ``got`` equals ``expected`` within tolerance (shapes must match for tensors)."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not isinstance(got, torch.Tensor):
        if isinstance(got, (int, float)):
            got = torch.tensor(float(got))
        else:
            raise AssertionError(f"{name}: expected a number or tensor, got {type(got).__name__}")
    got = got.detach().to(torch.float64)
    if expected.dim() and tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    if not torch.allclose(got, expected.to(got.device), atol=atol, rtol=rtol):
        err = (got - expected).abs().max().item()
        if expected.numel() == 1:
            raise AssertionError(f"{name}: expected {expected.item():.6g}, got {got.flatten()[0].item():.6g}")
        raise AssertionError(f"{name}: values differ from the reference by up to {err:.3g} "
                             f"(tolerance {atol:g}); first expected {expected.flatten()[:3].tolist()}, "
                             f"got {got.flatten()[:3].tolist()}")


def expect_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)
