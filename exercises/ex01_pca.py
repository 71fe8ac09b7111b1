# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 01`.
# (Maintainers: generated from solutions/ex01_pca.py by `python3 -m vae_course exercises`.)
"""Exercise 01: PCA and principal angles (notebook 01, "PCA and the linear autoencoder").

Tasks
1. ``pca_svd(x, k)``: PCA via the SVD of the centred data.
2. ``principal_angles(a, b)``: principal angles between two column spaces.

Check your work with ``python3 -m vae_course check 01``.
"""
import torch


def pca_svd(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of data ``x`` (N, P) with ``k`` components, by the SVD (Pearson 1901).

    Centre, X_c = X - mean, take the thin SVD X_c = U S V^T, and keep the first k rows of V^T.

    x: float32 or float64, N >= 2 rows, P >= 1 columns, not changed; 1 <= k <= min(N - 1, P).

    Returns, each of x's dtype:
        mean (P,): the column means of x;
        components (k, P): orthonormal rows, the directions of largest variance first;
        explained_variance (k,): the variances along them, s_j^2 / (N - 1).
    """
    raise NotImplementedError('see notebook 01, section "2. PCA by the SVD"')


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles, in degrees, between the column spaces of ``a`` (P, k) and ``b`` (P, k).

    Bjorck and Golub (1973): Q_a = qr(a), Q_b = qr(b); the singular values of Q_a^T Q_b are the
    cosines of the angles. Clamp them to [0, 1] before the arccos (round-off can push them
    just above 1).

    a and b: full column rank, 1 <= k <= P, one dtype (float32 or float64). Returns the k
    angles (k,) of that dtype in degrees, smallest first.
    """
    raise NotImplementedError('see notebook 01, section "5. Principal angles between subspaces"')
