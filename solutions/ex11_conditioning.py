"""Exercise 11: one-hot conditioning (notebook 11_conditional_vae.ipynb).

Tasks
1. ``one_hot(y, n_classes)``: the one-hot code e_y of integer labels, rejecting labels outside
   [0, n_classes) with a ``ValueError`` and non-integer labels with a ``TypeError``.
2. ``conditioned_input(x, y, n_classes)``: the input of a conditioned dense layer, the
   flattened image (or code) with the one-hot label concatenated, [flatten(x), e_y].

Check your work with ``python3 -m vae_course check 11``.
"""
from __future__ import annotations

import torch


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """e_y in {0, 1}^C: a single 1 at position y_b in row b, zeros elsewhere.

    y (B,) of integer labels, B >= 0 (an empty batch too), of any integer dtype (int8, int16,
    int32, int64, uint8) -> (B, n_classes) float32. Raise ``TypeError`` when y is not an
    integer tensor (float or bool labels, a Python list) and ``ValueError`` naming the allowed
    range (n_classes) and the bad values found when a label is below 0 or at least
    ``n_classes``, before building anything.
    """
    # BEGIN SOLUTION see notebook 11, section "2. Conditioning encoder and decoder on a label"
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"y must be an integer tensor, got {getattr(y, 'dtype', type(y).__name__)}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in [0, {n_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    codes = torch.zeros(len(y), n_classes)
    codes[torch.arange(len(y)), y.long()] = 1.0
    return codes
    # END SOLUTION


def conditioned_input(x: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[flatten(x), e_y]: x (B, ...) flattened to (B, P), then the one-hot labels (B, C)
    appended along the feature dimension -> (B, P + C), of x's dtype (float32 or float64) and
    differentiable in x. This is what the first dense layer of a conditional encoder
    (x = images) or decoder (x = codes z) reads. x has at least 2 dimensions; y is checked as
    ``one_hot`` checks it.
    """
    # BEGIN SOLUTION see notebook 11, section "2. Conditioning encoder and decoder on a label"
    return torch.cat([x.flatten(1), one_hot(y, n_classes).to(x.dtype)], dim=1)
    # END SOLUTION
