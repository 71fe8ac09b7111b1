"""PCA by the SVD, principal angles between subspaces, and the linear autoencoder.

Notation: data x is (N, P) with N samples of P values (images (N, C, H, W) are flattened to
P = C*H*W and reshaped back); k is the number of components.

- PCA (Pearson 1901): the k directions of largest variance of centred data are the top k
  right singular vectors of X - mean. By the Eckart-Young theorem (Eckart and Young 1936)
  projecting on them gives the smallest squared reconstruction error of any rank-k map.
- A linear autoencoder trained on the squared error finds the same *subspace*, but not the
  same basis. Baldi and Hornik (1989): for centred data whose covariance is invertible with
  distinct eigenvalues, every local minimum of the squared error is global (W_d W_e is the
  projection onto the top-k subspace) and every other critical point is a saddle. Data with
  constant pixels (the digits) have a singular covariance: the theorem does not apply as stated,
  although Eckart-Young still names the global minimum.
- Principal angles (Bjorck and Golub 1973) measure how far apart two subspaces are.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from vae_course import validate


def flatten(name: str, x: torch.Tensor) -> torch.Tensor:
    """Data as a matrix (N, P): (N, P) is kept, images (N, C, H, W) become (N, C*H*W)."""
    validate.tensor(name, x, ndim=(2, 4))
    return x.flatten(1)


@dataclass(frozen=True)
class PCA:
    """A fitted PCA: ``mean`` (P,), orthonormal ``components`` (k, P) (rows, largest variance
    first), their variances ``explained_variance`` (k,) and ``explained_variance_ratio`` (k,),
    the fraction of the total variance each explains."""
    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """PCA of ``x`` (N, P) or (N, C, H, W) with ``k`` components, by the SVD (Pearson 1901).

    With the centred data X_c = X - mean = U S V^T, the components are the first k rows of
    V^T and the variances are S^2 / (N - 1) (the eigenvalues of the sample covariance
    X_c^T X_c / (N - 1)); the ratio divides by the sum of all of them, the total variance.
    """
    x = validate.finite("x", flatten("x", x))
    validate.positive_int("k", k)
    n, p = x.shape
    if k > min(n, p):
        raise ValueError(f"k must be <= min(N, P) = min({n}, {p}) = {min(n, p)}, got k={k}")
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    variance = s.pow(2) / max(n - 1, 1)
    total = variance.sum().clamp_min(torch.finfo(x.dtype).tiny)
    return PCA(mean, vt[:k], variance[:k], variance[:k] / total)


def _check_fits(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(pca, PCA):
        raise TypeError(f"pca must be a fitted PCA (from fit_pca), got {type(pca).__name__}")
    flat = validate.same_dtype("x", flatten("x", x), pca.mean.dtype, "the fitted PCA")
    if flat.shape[1] != pca.mean.shape[0]:
        raise ValueError(f"x has {flat.shape[1]} values per sample but the PCA was fitted on "
                         f"{pca.mean.shape[0]}; got x of shape {tuple(x.shape)}")
    return flat


def pca_project(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    """The PCA codes z = (x - mean) V_k^T, shape (N, k), of ``x`` (N, P) or (N, C, H, W)."""
    return (_check_fits(pca, x) - pca.mean) @ pca.components.T


def pca_reconstruct(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    """The rank-k reconstruction x_hat = mean + (x - mean) V_k^T V_k, in the shape of ``x``.

    By Eckart-Young (Eckart and Young 1936) no rank-k affine map has a smaller squared error
    on the data the PCA was fitted on.
    """
    return (pca_project(pca, x) @ pca.components + pca.mean).view_as(x)


def principal_angles(a: torch.Tensor, b: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    """Principal angles between the column spaces of ``a`` (P, k) and ``b`` (P, l), k <= l.

    Bjorck and Golub (1973): orthonormalise, Q_a = qr(a), Q_b = qr(b); the cosines of the
    angles are the singular values of Q_a^T Q_b, clamped to [0, 1]. Returns the k angles
    (k,), smallest first, in degrees (``degrees=True``, the default) or radians. All angles 0
    means the same subspace; 90 means orthogonal directions.
    """
    validate.finite("a", validate.tensor("a", a, ndim=2))
    validate.finite("b", validate.tensor("b", b, ndim=2))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of rows P, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] > b.shape[1] or b.shape[1] > b.shape[0]:
        raise ValueError(f"need k <= l <= P for a (P, k) and b (P, l), got {tuple(a.shape)} and {tuple(b.shape)}")
    # float64: arccos is ill-conditioned near 1, where small angles live
    q_a, q_b = torch.linalg.qr(a.double())[0], torch.linalg.qr(b.double())[0]
    cosines = torch.linalg.svdvals(q_a.T @ q_b).clamp(0.0, 1.0)
    angles = torch.arccos(cosines).to(a.dtype)  # svdvals sorts descending: angles ascend
    return torch.rad2deg(angles) if degrees else angles


class LinearAutoencoder(nn.Module):
    """A linear autoencoder with a shared bias b: z = W_e (x - b), x_hat = W_d z + b.

    No nonlinearity: x_hat = W_d W_e (x - b) + b is an affine map of rank <= k. At a global
    minimum of the squared error its decoder columns span the top-k PCA subspace, but W_d is
    any basis of it, not necessarily orthonormal or ordered by variance. That gradient descent
    gets there needs Baldi and Hornik's (1989) conditions (invertible covariance, distinct
    eigenvalues: no bad local minima, only saddles) or a check. Inputs (N, P) or images
    (N, C, H, W) with C*H*W = P; the output has the shape of the input.
    """

    def __init__(self, P: int, k: int):
        super().__init__()
        validate.positive_int("P", P)
        validate.positive_int("k", k)
        if k > P:
            raise ValueError(f"k must be <= P = {P}, got k={k}")
        self.W_e = nn.Parameter(torch.randn(k, P) / math.sqrt(P))
        self.W_d = nn.Parameter(torch.randn(P, k) / math.sqrt(k))
        self.b = nn.Parameter(torch.zeros(P))

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        validate.module_input("x", x, self)
        flat = flatten("x", x)
        if flat.shape[1] != self.b.shape[0]:
            raise ValueError(f"x must have P = {self.b.shape[0]} values per sample, got shape {tuple(x.shape)}")
        return flat

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z = W_e (x - b), shape (N, k)."""
        return (self._flat(x) - self.b) @ self.W_e.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions W_d z + b, shape (N, P)."""
        validate.module_input("z", z, self)
        validate.tensor("z", z, shape=(None, self.W_d.shape[1]))
        return z @ self.W_d.T + self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x_hat = W_d W_e (x - b) + b, in the shape of ``x``."""
        return self.decode(self.encode(x)).view_as(x)


def reconstruction_loss(model: nn.Module, batch: torch.Tensor | tuple[torch.Tensor, ...],
                        step: int) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
    """Loss for ``train.fit``: the mean squared error (1/(B P)) sum (x_hat - x)^2 of
    ``model(x)``, where ``batch`` is x or a tuple (x, labels, ...). Logs it as ``mse``."""
    x = batch if isinstance(batch, torch.Tensor) else batch[0]
    validate.module("model", model)
    validate.tensor("batch", validate.module_input("batch", x, model), ndim=(2, 4))
    mse = (model(x) - x).pow(2).mean()
    return mse, {"mse": mse}


def to_images(vectors: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """Directions (k, P) as images (k, *image_shape) in [0, 1] for ``plots.show_images``:
    0.5 + v / (2 max|v|) per row, so grey is 0, light positive and dark negative."""
    validate.tensor("vectors", vectors, ndim=2)
    image_shape = validate.positive_ints("image_shape", image_shape)
    if vectors.shape[1] != math.prod(image_shape):
        raise ValueError(f"vectors must have prod(image_shape) = {math.prod(image_shape)} columns, "
                         f"got shape {tuple(vectors.shape)}")
    scale = 2 * vectors.abs().amax(1, keepdim=True).clamp_min(torch.finfo(vectors.dtype).tiny)
    return (0.5 + vectors / scale).view(-1, *image_shape)
