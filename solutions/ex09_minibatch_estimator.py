"""Exercise 09 · the minibatch estimators of q(z) and the MIG (notebook 09_beta_tcvae.ipynb).

Tasks:
1. ``log_qz_mws``: estimate log q(z_i) and sum_d log q(z_id) on a minibatch with the
   minibatch weighted estimator (notebook 09, section 4).
2. ``mss_weights``: the importance weights of minibatch stratified sampling (notebook 09,
   section 5).
3. ``discrete_mutual_info``: the mutual information of two label arrays from their
   contingency table (notebook 09, section 7).
4. ``mig_from_mi``: the mutual information gap from a mutual information matrix
   (notebook 09, section 7).
5. ``permute_dims``: samples of the product of the marginals prod_j q(z_j) from samples of
   q(z), as FactorVAE's discriminator needs them (notebook 09, section 11).
6. ``least_variance_latent``: one vote of the FactorVAE score (notebook 10, section 9).

Check your answers with ``python3 -m vae_course check 09``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vae_course.objectives import log_normal


def log_qz_mws(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               dataset_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The minibatch weighted estimates (Chen et al. 2018) of log q(z_i) and of
    sum_d log q(z_id) for each sample z_i ~ q(z|x_i) of a minibatch of M points drawn from a
    data set of N = ``dataset_size`` points:

        log q(z_i)        ~ logsumexp_j [ sum_d log q(z_id | x_j) ] - log(N M)
        sum_d log q(z_id) ~ sum_d [ logsumexp_j log q(z_id | x_j) - log(N M) ]

    where q(z_d | x_j) = N(z_d; mu_jd, exp(logvar_jd)) and j runs over the minibatch. Compute
    the (M, M, D) table log q(z_id | x_j) once with ``log_normal`` and broadcasting.

    Shapes: z, mu, logvar (M, D), M >= 1, D >= 1, one dtype (float32 or float64);
    dataset_size N >= M. Returns two tensors of shape (M,) and that dtype, differentiable in
    z, mu and logvar.
    """
    # BEGIN SOLUTION see notebook 09, section "4. The minibatch weighted estimator"
    log_q = log_normal(z[:, None, :], mu[None], logvar[None])  # (M, M, D): sample i, point j
    log_nm = math.log(dataset_size * len(z))
    log_qz = torch.logsumexp(log_q.sum(2), dim=1) - log_nm
    log_prod = (torch.logsumexp(log_q, dim=1) - log_nm).sum(1)
    return log_qz, log_prod
    # END SOLUTION


def mss_weights(batch_size: int, dataset_size: int) -> torch.Tensor:
    """The importance weights w_ij (M, M) of minibatch stratified sampling, in which row i
    estimates q(z_i) = sum_j w_ij q(z_i | x_j) for the sample z_i of the batch's point x_i:
    the sample's own point carries w_ii = 1/N, and the M - 1 other points of the batch share
    the rest equally, w_ij = (N - 1) / (N (M - 1)) for j != i, so that each row sums to 1.

    M = ``batch_size`` >= 2, N = ``dataset_size`` >= M; returns a float64 tensor (M, M).
    """
    # BEGIN SOLUTION see notebook 09, section "5. Minibatch stratified sampling"
    n, m = dataset_size, batch_size
    w = torch.full((m, m), (n - 1) / (n * (m - 1)), dtype=torch.float64)
    w.fill_diagonal_(1 / n)
    return w
    # END SOLUTION


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """The mutual information in nats of two discrete label arrays a, b (N,) (any integer
    labels of any integer or boolean dtype, negative too, N >= 1), from their empirical joint
    distribution p(a, b) (the contingency table of counts divided by N) and its marginals:

        I(a; b) = sum over cells with p(a, b) > 0 of p(a, b) log [ p(a, b) / (p(a) p(b)) ]

    Returns a Python float.
    """
    # BEGIN SOLUTION see notebook 09, section "7. Measuring disentanglement: MIG"
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= len(a)
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    return float((joint[seen] * np.log(joint[seen] / outer[seen])).sum())
    # END SOLUTION


def mig_from_mi(mi: np.ndarray, entropies: np.ndarray) -> float:
    """The mutual information gap (Chen et al. 2018) from ``mi`` (D, K), the mutual
    information I(z_d; v_k) of every code dimension d with every factor k, and the factor
    entropies H(v_k) (K,):

        MIG = (1/K) sum_k [ I(z_(1); v_k) - I(z_(2); v_k) ] / H(v_k)

    with z_(1), z_(2) the code dimensions of largest and second largest I(z_d; v_k) for
    factor k (ties allowed). mi >= 0 with D >= 2, entropies > 0; float32 or float64 arrays.
    Returns a Python float.
    """
    # BEGIN SOLUTION see notebook 09, section "7. Measuring disentanglement: MIG"
    top = np.sort(mi, axis=0)[::-1]  # each column sorted from largest to smallest
    return float(np.mean((top[0] - top[1]) / entropies))
    # END SOLUTION


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of prod_j q(z_j) from samples z (B, D) of q(z) (Kim and Mnih 2018, algorithm 1):
    permute each column z[:, j] across the batch (the B rows) by its own random permutation,
    drawn from ``generator``, so that every column keeps its values (its marginal q(z_j)) while
    the values of different dimensions are no longer paired as q(z) paired them.

    Shapes: z (B, D), B >= 1, D >= 1, float32 or float64. Returns a tensor of the same shape and
    dtype; the same generator state gives the same permutations.
    """
    # BEGIN SOLUTION see notebook 09, section "11. FactorVAE: the TC through a discriminator"
    order = torch.rand(z.shape, generator=generator).argsort(0)  # column j: a random order of 0..B-1
    return z.gather(0, order)
    # END SOLUTION


def least_variance_latent(codes: np.ndarray, std: np.ndarray, min_std: float = 0.05) -> int:
    """One vote of the FactorVAE score (Kim and Mnih 2018, section 4): ``codes`` (L, D) are the
    posterior means of a batch of L images in which one factor is held fixed, ``std`` (D,) each
    latent's standard deviation s_j over the whole data set. Return the latent

        d = argmin over j with s_j >= min_std of Var_batch(z_j / s_j)

    (the population variance over the L rows, ties to the smallest j), or -1 when no latent has
    s_j >= ``min_std`` (collapsed latents, whose s_j is about 0, are left out).

    codes, std float64 arrays, L >= 1, D >= 1, std >= 0, min_std > 0; returns a Python int.
    """
    # BEGIN SOLUTION see notebook 10, section "9. Four ways to measure disentanglement"
    active = std >= min_std
    if not active.any():
        return -1
    variance = np.where(active, (codes / np.where(active, std, 1)).var(0), np.inf)
    return int(variance.argmin())
    # END SOLUTION
