"""Checks of exercise 01 (PCA via the SVD; principal angles), against ``vae_course.pca``."""
from __future__ import annotations

import torch

from vae_course import pca
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true


def _data(seed: int, n: int = 40, p: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(3.0, 0.2, p, dtype=torch.float64)  # distinct variances
    return torch.randn(n, p, generator=g, dtype=torch.float64) * scales + torch.randn(p, generator=g, dtype=torch.float64)


def check_pca_svd(module) -> None:
    for seed, k in [(0, 3), (1, 1), (2, 7)]:
        x = _data(seed)
        result = module.pca_svd(x, k)
        expect_true(isinstance(result, tuple) and len(result) == 3,
                    f"pca_svd should return (mean, components, explained_variance), got {type(result).__name__}")
        mean, components, variance = result
        ref = pca.fit_pca(x, k)
        expect_close("mean", expect_tensor("mean", mean, (7,)), ref.mean)
        expect_tensor("components", components, (k, 7))
        expect_close("components @ components.T (rows must be orthonormal)", components @ components.T,
                     torch.eye(k, dtype=torch.float64))
        # components are defined up to sign: compare |<v_j, v_ref_j>| = 1
        expect_close("|cosine| between your components and the reference's",
                     (components * ref.components).sum(1).abs(), torch.ones(k, dtype=torch.float64), atol=1e-6)
        expect_close("explained_variance", expect_tensor("explained_variance", variance, (k,)),
                     ref.explained_variance)


def check_principal_angles(module) -> None:
    g = torch.Generator().manual_seed(0)
    for p, k in [(6, 2), (10, 4), (5, 1)]:
        a, b = torch.randn(2, p, k, generator=g, dtype=torch.float64)
        angles = expect_tensor("angles", module.principal_angles(a, b), (k,))
        expect_close(f"angles for a, b of shape ({p}, {k})", angles, pca.principal_angles(a, b), atol=1e-6)
        mixed = a @ torch.randn(k, k, generator=g, dtype=torch.float64)  # same span, another basis
        expect_close("angles between a subspace and itself in another basis",
                     module.principal_angles(a, mixed), torch.zeros(k, dtype=torch.float64), atol=1e-4)
    e = torch.eye(4, dtype=torch.float64)
    expect_close("angles between orthogonal planes (degrees)", module.principal_angles(e[:, :2], e[:, 2:]),
                 torch.full((2,), 90.0, dtype=torch.float64))


TASKS = [
    ("1. PCA via the SVD", check_pca_svd),
    ("2. principal angles", check_principal_angles),
]
