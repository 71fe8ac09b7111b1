"""Checks of exercise 01 (PCA via the SVD; principal angles), against ``vae_course.pca``, then
against the reference solution over the docstrings' domain: N >= 2, P >= 1, 1 <= k <= min(N - 1, P),
float32 and float64; subspaces equal, nested, orthogonal or in general position."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import pca
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import differential, dtypes, expect_same, reference, tensors

TOL = {torch.float32: 1e-4, torch.float64: 1e-9}


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
    differential("pca_svd", module.pca_svd, reference("01", "pca_svd"), _pca_cases(), compare=_same_pca)


def _orthonormal(g: torch.Generator, rows: int, cols: int, centred: bool = False) -> torch.Tensor:
    a = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    return torch.linalg.qr(a - a.mean(0) if centred else a)[0]


@st.composite
def _pca_cases(draw) -> dict:
    """Data with known, well-separated singular values (ratio 2): the components are unique up
    to sign whatever N, P and k."""
    n, p = draw(st.integers(2, 7)), draw(st.integers(1, 5))
    r = min(n - 1, p)
    k, dtype, seed = draw(st.integers(1, r)), draw(dtypes), draw(st.integers(0, 999))
    g = torch.Generator().manual_seed(seed)
    s = draw(st.sampled_from([1.0, 0.5, 4.0])) * 2.0 ** -torch.arange(r, dtype=torch.float64)
    x = (_orthonormal(g, n, r, centred=True) * s) @ _orthonormal(g, p, r).T
    return {"x": (x + draw(tensors((p,), torch.float64, -5, 5))).to(dtype), "k": k}


def _same_pca(name, got, expected, case) -> None:
    """As the reference's, once each of your components has the sign of the reference's."""
    got = expect_tuple(name, got, 3, "(mean, components, explained_variance)")
    components = expect_tensor("components", got[1], tuple(expected[1].shape), dtype=expected[1].dtype)
    signs = torch.where((components.detach() * expected[1]).sum(1, keepdim=True) < 0, -1.0, 1.0).to(components)
    tol = TOL[expected[1].dtype]
    expect_same(name, (got[0], components * signs, got[2]), expected, atol=tol, rtol=tol,
                parts=("mean", "components (up to the sign of each row)", "explained_variance"))


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
    differential("principal_angles", module.principal_angles, reference("01", "principal_angles"),
                 _angle_cases(), compare=_same_angles)


@st.composite
def _angle_cases(draw) -> dict:
    """a (P, k) of full column rank; b spans the same space, part of it, an orthogonal one, or any."""
    p = draw(st.integers(1, 6))
    k, dtype, g = draw(st.integers(1, p)), draw(dtypes), torch.Generator().manual_seed(draw(st.integers(0, 999)))
    basis = _orthonormal(g, p, p)
    a = basis[:, :k] @ torch.randn(k, k, generator=g, dtype=torch.float64).add(3 * torch.eye(k, dtype=torch.float64))
    shared = draw(st.integers(0, k))  # b keeps `shared` directions of a, the rest random
    kind = draw(st.sampled_from(["same span", "shares directions", "orthogonal", "itself"]))
    if kind == "same span":
        b = a @ torch.randn(k, k, generator=g, dtype=torch.float64).add(3 * torch.eye(k, dtype=torch.float64))
    elif kind == "orthogonal" and 2 * k <= p:
        b = basis[:, k:2 * k]
    elif kind == "itself":
        b = a.clone()
    else:
        b = torch.cat([a[:, :shared], torch.randn(p, k - shared, generator=g, dtype=torch.float64)], 1)
    return {"a": a.to(dtype), "b": b.to(dtype)}


def _same_angles(name, got, expected, case) -> None:
    """Dtype and shape as the reference's; the angles compared through their cosines (an angle
    near 0 is ill-conditioned: round-off of 1e-7 in a cosine moves it by 0.03 degrees)."""
    expect_tensor(name, got, tuple(expected.shape), dtype=expected.dtype)
    tol = 10 * TOL[expected.dtype]
    expect_close(f"cos of your angles (degrees, smallest first) against cos of the reference's {expected.tolist()}",
                 torch.cos(torch.deg2rad(got.detach().double())), torch.cos(torch.deg2rad(expected.double())),
                 atol=tol, rtol=0)


TASKS = [
    ("1. PCA via the SVD", check_pca_svd),
    ("2. principal angles", check_principal_angles),
]
