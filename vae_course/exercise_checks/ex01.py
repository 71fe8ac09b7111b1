"""Checks of exercise 01 (PCA via the SVD; principal angles), against ``vae_course.pca``."""
from __future__ import annotations

import torch

from vae_course import pca
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple


def _data(seed: int, n: int = 40, p: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(3.0, 0.2, p, dtype=torch.float64)  # distinct variances
    return torch.randn(n, p, generator=g, dtype=torch.float64) * scales + torch.randn(p, generator=g, dtype=torch.float64)


def check_pca_svd(module) -> None:
    for seed, k in [(0, 3), (1, 1), (2, 7)]:
        x = _data(seed)
        mean, components, variance = expect_tuple(f"pca_svd(x, {k})", module.pca_svd(x, k), 3,
                                                  "(mean, components, explained_variance)")
        ref = pca.fit_pca(x, k)
        expect_close("mean", expect_tensor("mean", mean, (7,), dtype=x.dtype), ref.mean)
        expect_tensor("components", components, (k, 7), dtype=x.dtype)
        expect_close("components @ components.T (rows must be orthonormal)", components @ components.T,
                     torch.eye(k, dtype=torch.float64))
        # components are defined up to sign: compare |<v_j, v_ref_j>| = 1
        expect_close("|cosine| between your components and the reference's (largest variance first?)",
                     (components * ref.components).sum(1).abs(), torch.ones(k, dtype=torch.float64), atol=1e-6)
        expect_close("explained_variance (s_j^2 / (N - 1))",
                     expect_tensor("explained_variance", variance, (k,), dtype=x.dtype), ref.explained_variance)


def check_principal_angles(module) -> None:
    g = torch.Generator().manual_seed(0)
    e = torch.eye(4, dtype=torch.float64)
    expect_close("angles between orthogonal planes (in degrees, not radians)",
                 expect_tensor("principal_angles(e[:, :2], e[:, 2:])", module.principal_angles(e[:, :2], e[:, 2:]),
                               (2,)), torch.full((2,), 90.0, dtype=torch.float64))
    # Q_a^T Q_a has singular values that round to 1 + 7e-16 for this a: arccos gives NaN unless clamped
    a = torch.randn(6, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    same = expect_tensor("principal_angles(a, a)", module.principal_angles(a, a), (2,))
    expect_true(bool(torch.isfinite(same).all()),
                f"principal_angles(a, a) (a subspace with exactly itself) gave {same.tolist()}: round-off pushes a "
                "cosine just above 1; clamp the cosines to [0, 1] before the arccos")
    expect_close("angles between a subspace and exactly itself", same, torch.zeros(2, dtype=torch.float64), atol=1e-4)
    for p, k in [(6, 2), (10, 4), (5, 1)]:
        a, b = torch.randn(2, p, k, generator=g, dtype=torch.float64)
        mixed = a @ torch.randn(k, k, generator=g, dtype=torch.float64)  # same span, another basis
        expect_close("angles between a subspace and itself in another basis (orthonormalise a and b first)",
                     module.principal_angles(a, mixed), torch.zeros(k, dtype=torch.float64), atol=1e-4)
        angles = expect_tensor(f"principal_angles(a, b) for a, b of shape ({p}, {k})",
                               module.principal_angles(a, b), (k,), dtype=a.dtype)
        expect_true(bool((angles[1:] >= angles[:-1] - 1e-9).all()),
                    f"angles must be sorted smallest first, got {angles.tolist()}")
        expect_close(f"angles for a, b of shape ({p}, {k})", angles, pca.principal_angles(a, b), atol=1e-6)


TASKS = [
    ("1. PCA via the SVD", check_pca_svd),
    ("2. principal angles", check_principal_angles),
]
