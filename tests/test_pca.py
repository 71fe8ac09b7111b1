"""PCA, principal angles and the linear autoencoder, against brute force on small inputs."""
import math

import pytest
import torch

from vae_course import pca, train


def _data(n=200, p=6, seed=0, scales=(3.0, 2.0, 1.0, 0.3, 0.2, 0.1)):
    """Gaussian data with known, well separated variances along a random rotation."""
    g = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))[0]
    x = torch.randn(n, p, generator=g, dtype=torch.float64) * torch.tensor(scales[:p], dtype=torch.float64)
    return x @ rotation.T + 0.5


def _covariance_loops(x):
    """Sample covariance by an explicit sum of outer products."""
    mean = sum(x[i] for i in range(len(x))) / len(x)
    return sum(torch.outer(x[i] - mean, x[i] - mean) for i in range(len(x))) / (len(x) - 1)


def test_components_are_orthonormal_eigenvectors_of_the_covariance():
    x = _data()
    fitted = pca.fit_pca(x, 3)
    cov = _covariance_loops(x)
    v = fitted.components
    assert torch.allclose(v @ v.T, torch.eye(3, dtype=x.dtype), atol=1e-10)
    for j in range(3):  # C v_j = lambda_j v_j
        assert torch.allclose(cov @ v[j], fitted.explained_variance[j] * v[j], atol=1e-8)
    assert torch.all(fitted.explained_variance[:-1] >= fitted.explained_variance[1:])
    total = torch.trace(cov)
    assert torch.allclose(fitted.explained_variance_ratio, fitted.explained_variance / total)


def test_reconstruction_error_is_the_sum_of_discarded_eigenvalues():
    x = _data()
    everything = pca.fit_pca(x, 6).explained_variance
    for k in range(1, 6):
        x_hat = pca.pca_reconstruct(pca.fit_pca(x, k), x)
        error = sum(((x[i] - x_hat[i]) ** 2).sum() for i in range(len(x))) / (len(x) - 1)
        assert torch.isclose(error, everything[k:].sum(), rtol=1e-8), k


def test_pca_beats_every_random_rank_k_projection():
    # Eckart-Young: no rank-k orthogonal projection (around the mean) has a smaller error.
    x, k = _data(), 2
    fitted = pca.fit_pca(x, k)
    best = (pca.pca_reconstruct(fitted, x) - x).pow(2).sum()
    g = torch.Generator().manual_seed(1)
    q = torch.linalg.qr(torch.randn(200, 6, k, generator=g, dtype=x.dtype))[0]  # 200 random bases
    xc = x - x.mean(0)
    errors = (xc @ q @ q.transpose(1, 2) - xc).pow(2).sum((1, 2))
    assert errors.min() >= best - 1e-9


def test_first_component_maximises_projected_variance():
    x = _data()
    fitted = pca.fit_pca(x, 1)
    z = pca.pca_project(fitted, x)
    assert torch.isclose(z.var(), fitted.explained_variance[0])
    u = torch.randn(6, 200, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    assert (x @ (u / u.norm(dim=0))).var(0).max() <= z.var() + 1e-9


def test_images_are_flattened_and_reshaped_back():
    x = torch.rand(50, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    on_images, on_rows = pca.fit_pca(x, 5), pca.fit_pca(x.flatten(1), 5)
    assert torch.allclose(on_images.components, on_rows.components)
    x_hat = pca.pca_reconstruct(on_images, x)
    assert x_hat.shape == x.shape
    assert pca.pca_project(on_images, x).shape == (50, 5)
    full = pca.pca_reconstruct(pca.fit_pca(x, 16), x)
    assert torch.allclose(full, x, atol=1e-5)


@pytest.mark.parametrize("x,k,error,match", [
    (torch.rand(10, 4), 5, ValueError, "k must be <= min"),
    (torch.rand(3, 8), 4, ValueError, "k must be <= min"),
    (torch.rand(10, 4), 0, ValueError, "k must be >= 1"),
    (torch.rand(10, 4), 2.0, TypeError, "k must be an int"),
    (torch.rand(10, 2, 2), 1, ValueError, "x must have 2 or 4 dimensions"),
    (torch.ones(10, 4, dtype=torch.int64), 1, TypeError, "floating-point"),
    ([[1.0, 2.0]], 1, TypeError, "torch.Tensor"),
])
def test_fit_pca_rejects_bad_input(x, k, error, match):
    with pytest.raises(error, match=match):
        pca.fit_pca(x, k)


def test_reconstruct_rejects_data_of_another_dimension():
    fitted = pca.fit_pca(torch.rand(20, 4), 2)
    with pytest.raises(ValueError, match="fitted on 4"):
        pca.pca_reconstruct(fitted, torch.rand(5, 6))


def test_principal_angles_of_known_subspaces():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 2, generator=g, dtype=torch.float64)
    mixed = a @ torch.tensor([[2.0, 1.0], [-1.0, 3.0]], dtype=torch.float64)  # same span, other basis
    assert torch.allclose(pca.principal_angles(a, a), torch.zeros(2, dtype=a.dtype), atol=1e-5)
    assert torch.allclose(pca.principal_angles(a, mixed), torch.zeros(2, dtype=a.dtype), atol=1e-5)
    e = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(pca.principal_angles(e[:, :2], e[:, 2:]), torch.full((2,), 90.0, dtype=e.dtype))
    theta = 0.3
    rotated = torch.stack([e[:, 0], math.cos(theta) * e[:, 1] + math.sin(theta) * e[:, 3]], 1)
    angles = pca.principal_angles(e[:, :2], rotated, degrees=False)
    assert torch.allclose(angles, torch.tensor([0.0, theta], dtype=e.dtype), atol=1e-7)


def test_principal_angles_match_a_brute_force_search():
    # The largest angle of two lines: the angle between their unit vectors, folded to [0, 90].
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        u, v = torch.randn(2, 6, 1, generator=g, dtype=torch.float64)
        cosine = (u.T @ v).abs() / (u.norm() * v.norm())
        assert torch.isclose(pca.principal_angles(u, v)[0], torch.rad2deg(torch.arccos(cosine))[0, 0])


@pytest.mark.parametrize("a,b,match", [
    (torch.rand(5, 2), torch.rand(4, 2), "same number of rows"),
    (torch.rand(5, 3), torch.rand(5, 2), "k <= l <= P"),
    (torch.rand(5), torch.rand(5, 2), "a must have 2 dimensions"),
])
def test_principal_angles_reject_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        pca.principal_angles(a, b)


def test_linear_autoencoder_shapes_and_errors():
    model = pca.LinearAutoencoder(16, 3)
    x = torch.rand(7, 1, 4, 4)
    assert model(x).shape == x.shape and model.encode(x).shape == (7, 3)
    assert model.decode(torch.rand(7, 3)).shape == (7, 16)
    with pytest.raises(ValueError, match="P = 16"):
        model(torch.rand(7, 15))
    with pytest.raises(ValueError, match="k must be <= P"):
        pca.LinearAutoencoder(4, 5)
    with pytest.raises(ValueError, match="z must have shape"):
        model.decode(torch.rand(7, 4))


def test_linear_autoencoder_finds_the_pca_subspace_but_not_its_basis():
    # Baldi and Hornik (1989): gradient descent reaches the PCA subspace.
    torch.manual_seed(0)
    x = _data(n=300).float()
    model = pca.LinearAutoencoder(6, 2)
    train.fit(model, pca.reconstruction_loss, x, steps=300, batch_size=300, lr=0.1,
              lr_schedule="cosine", progress=False)
    fitted = pca.fit_pca(x, 2)
    angles = pca.principal_angles(fitted.components.T, model.W_d.detach())
    assert angles.max() < 2.0, angles
    pca_error = (pca.pca_reconstruct(fitted, x) - x).pow(2).mean()
    ae_error = pca.reconstruction_loss(model, x, 0)[0].detach()
    assert pca_error <= ae_error * (1 + 1e-4) and ae_error < 1.02 * pca_error
    w = model.W_d.detach()
    assert not torch.allclose(w.T @ w, torch.eye(2), atol=0.05)  # the basis is not orthonormal


def test_linear_autoencoder_reaches_pca_when_constant_pixels_make_the_covariance_singular():
    # Baldi and Hornik's theorem assumes an invertible covariance; the digits have constant
    # pixels. The loss is flat along them, and gradient descent still reaches PCA's optimum.
    torch.manual_seed(0)
    x = torch.cat([_data(n=300), torch.zeros(300, 2, dtype=torch.float64)], 1).float()
    centred = (x - x.mean(0)).double()
    assert torch.linalg.matrix_rank(centred.T @ centred) == 6 < x.shape[1]
    model = pca.LinearAutoencoder(8, 2)
    train.fit(model, pca.reconstruction_loss, x, steps=300, batch_size=300, lr=0.1,
              lr_schedule="cosine", progress=False)
    fitted = pca.fit_pca(x, 2)
    assert pca.principal_angles(fitted.components.T, model.W_d.detach()).max() < 2.0
    pca_error = (pca.pca_reconstruct(fitted, x) - x).pow(2).mean()
    assert pca.reconstruction_loss(model, x, 0)[0].detach() < 1.02 * pca_error


def test_to_images_maps_zero_to_grey_and_keeps_the_sign():
    v = torch.tensor([[1.0, -2.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    images = pca.to_images(v, (1, 2, 2))
    assert images.shape == (2, 1, 2, 2)
    assert torch.allclose(images[0].flatten(), torch.tensor([0.75, 0.0, 0.5, 0.625]))
    assert torch.allclose(images[1], torch.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="prod\\(image_shape\\) = 9"):
        pca.to_images(v, (1, 3, 3))
