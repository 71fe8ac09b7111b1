"""Estimators of the aggregate posterior q(z) and of the KL decomposition (beta-TCVAE, HFVAE).

The aggregate posterior of a data set of N points is the mixture q(z) = (1/N) sum_n q(z|x_n).
On a minibatch of M points, with z (M, D) where row i is a sample of q(z|x_i) and the
diagonal-Gaussian parameters mu, logvar (M, D), all the estimators here start from the
(M, M, D) table of pairwise log densities log q(z_id | x_j), computed once, and a matrix of
importance weights w_ij (M, M):

    log q(z_i)            ~ log sum_j w_ij prod_d q(z_id | x_j)                (the joint)
    sum_d log q(z_id)     ~ sum_d log sum_j w_ij q(z_id | x_j)                 (product of marginals)

The weights multiply the density of the whole vector z_i for the joint, and each dimension's
marginal once for the product: adding log w_ij to every dimension before summing over d
would raise the weight to the power D (a bug found in public code).

The expected KL to the prior splits into three terms (Chen et al. 2018, eq. 2):

    E_n KL(q(z|x_n) || p(z)) = KL(q(z, n) || q(z) p(n))          index-code MI
                             + KL(q(z) || prod_d q(z_d))          total correlation (TC)
                             + sum_d KL(q(z_d) || p(z_d))         dimension-wise KL,

estimated per sample by log q(z|x) - log q(z), log q(z) - sum_d log q(z_d) and
sum_d [log q(z_d) - log p(z_d)], which add up to log q(z|x) - log p(z) exactly.
Esmaeili et al. 2019 split the TC further over groups of dimensions (``hierarchical_tc``).
"""
from __future__ import annotations

import math

import torch

from vae_course import validate
from vae_course.objectives import log_normal

ESTIMATORS = ("mws", "mss")
TERMS = ("mi", "tc", "dwkl")
REDUCTIONS = ("mean", "none")
BLOCK_ELEMENTS = 2 ** 20  # pairwise log densities computed at a time (see _mixture_logs)


def importance_weights(batch_size: int, dataset_size: int, estimator: str = "mss",
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The log importance weights log w_ij (M, M) of the minibatch estimators of q(z_i),
    Chen et al. 2018, section 3 and appendix C. Row i estimates q(z_i) = sum_j w_ij q(z_i|x_j).
    float64 by default (the exact checks); the estimators ask for the samples' dtype, so that a
    float32 training step stays in float32 instead of promoting its (M, D, M) table.

    ``"mws"`` (minibatch weighted sampling): w_ij = 1/(N M) for every j, the form
    log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N M). Each row sums to 1/N, not 1: with the
    whole data set as the batch (M = N) it gives exactly q(z_i)/N, so its log q(z) is low by
    log N, its sum_d log q(z_d) (each of the D marginals weighted the same way) by D log N, and
    its TC is inflated by exactly (D - 1) log N. For M < N and narrow posteriors, the own term
    dominates the joint, which is then low by about log M, while each 1-D marginal (the batch
    represents it well) stays low by about log N: the TC is inflated by about
    (D - 1) log N + log(N/M), an offset that depends on M and on the posteriors' widths, i.e.
    on the parameters. For any M its expectation over minibatches
    (the point x_i plus M - 1 uniformly drawn others), (1/(N M)) [q(z_i|x_i) + (M-1) mean_{n != i}
    q(z_i|x_n)], has both coefficients below those of q(z_i) = (1/N) q(z_i|x_i) + ((N-1)/N)
    mean_{n != i} q(z_i|x_n), so E[estimate] < q(z_i) and, by Jensen, E[log estimate] < log q(z_i).

    ``"mss"`` (minibatch stratified sampling): z_i comes from q(z|x_i), and the minibatch is
    x_i (stratum 1: the point itself, one of N) plus M - 1 others drawn uniformly without
    replacement from the remaining N - 1 (stratum 2). Split the mixture by stratum:
        q(z_i) = (1/N) q(z_i|x_i) + (1/N) sum_{n != i} q(z_i|x_n).
    Each other point enters the minibatch with probability (M-1)/(N-1), so
    (N-1)/(M-1) sum_{j != i in batch} q(z_i|x_j) is unbiased for the sum over n != i, giving
        w_ii = 1/N,   w_ij = (N - 1) / (N (M - 1)) for j != i,
    each row summing to 1/N + (M-1)(N-1)/(N(M-1)) = 1, and E[sum_j w_ij q(z_i|x_j)] = q(z_i)
    exactly (the average over every possible minibatch that contains x_i is the exact q(z_i);
    with M = N it is exact outright). The 1/N sits on the diagonal, the sample's own column.
    By Jensen's inequality E[log estimate] <= log q(z_i): the log is biased low, with a bias
    that vanishes as M -> N. (Some write-ups give one of the others a different weight: any
    weights on the others that sum to (N-1)/N are unbiased here, and as the others are
    exchangeable, equal weights have the least variance.)
    """
    validate.positive_int("batch_size", batch_size)
    validate.positive_int("dataset_size", dataset_size)
    validate.one_of("estimator", estimator, ESTIMATORS)
    if dataset_size < batch_size:
        raise ValueError(f"dataset_size (N) must be >= the batch size M = {batch_size}, got {dataset_size}")
    if estimator == "mws":
        return torch.full((batch_size, batch_size), -math.log(dataset_size * batch_size), dtype=dtype)
    if batch_size < 2:
        raise ValueError(f"the 'mss' estimator needs a batch of at least 2 samples, got M = {batch_size}")
    others = math.log(dataset_size - 1) - math.log(dataset_size * (batch_size - 1))
    log_w = torch.full((batch_size, batch_size), others, dtype=dtype)
    log_w.diagonal().fill_(-math.log(dataset_size))
    return log_w


def _check_posterior_sample(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> None:
    validate.tensor("z", z, ndim=2)
    validate.tensor("mu", mu, ndim=2)
    validate.tensor("logvar", logvar, ndim=2)
    validate.same_shape(mu=mu, logvar=logvar)
    if z.shape[1] != mu.shape[1]:
        raise ValueError(f"z and mu must have the same number of latent dimensions D, got z "
                         f"{tuple(z.shape)} and mu {tuple(mu.shape)}")
    if len(z) == 0 or len(mu) == 0:
        raise ValueError(f"z and mu need at least one row, got z {tuple(z.shape)} and mu {tuple(mu.shape)}")
    validate.finite("z", z)
    validate.finite("mu", mu)
    validate.log_variance("logvar", logvar)  # logvar = -1e4 would turn MI and TC into NaN


def pairwise_log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The table log q(z_id | x_j) = log N(z_id; mu_jd, exp(logvar_jd)) for every sample i and
    every data point j: z (M, D), mu and logvar (K, D) -> (M, K, D). The estimators compute the
    same table, transposed and a block of rows at a time (see ``_mixture_logs``)."""
    _check_posterior_sample(z, mu, logvar)
    return log_normal(z[:, None, :], mu[None], logvar[None])


def _block_logs(z, mu_t, logvar_t, log_w, member_t):
    """``_mixture_logs`` for one block of rows of z (B, D), with mu_t, logvar_t (D, K), log_w
    (B, K) and member_t (G, D) or None."""
    # the pairwise table log q(z_id | x_j) stored as (B, D, K): the sums over j run along memory
    log_q = log_normal(z[:, :, None], mu_t[None], logvar_t[None])
    out = {"joint": torch.logsumexp(log_q.sum(1) + log_w, dim=1),
           "dims": torch.logsumexp(log_q + log_w[:, None, :], dim=2)}
    if member_t is not None:
        out["groups"] = torch.logsumexp(member_t @ log_q + log_w[:, None, :], dim=2)
    return out


def _mixture_logs(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_w: torch.Tensor,
                  groups: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
    """The per-sample mixture log densities log sum_j w_ij q(. | x_j) of the joint, ``"joint"``
    (M,); of each dimension, ``"dims"`` (M, D); and, when ``groups`` are given, of each group
    of dimensions (its log densities summed), ``"groups"`` (M, G); for z (M, D), mu and logvar
    (K, D) and log weights (M, K).

    The pairwise table of ``pairwise_log_q`` (transposed) is computed once, a block of rows at
    a time, each block at most ``BLOCK_ELEMENTS`` values: the same arithmetic as one table, but
    each block fits in cache and is reused from the allocator instead of being requested from
    the operating system afresh, which costs more than the arithmetic at M = 1024.
    """
    member_t = None
    if groups is not None:  # (G, D) one-hot: member_t @ log_q sums each group's log densities
        member_t = torch.zeros(len(groups), z.shape[1], dtype=z.dtype, device=z.device)
        for g, dims in enumerate(groups):
            member_t[g, dims] = 1.0
    mu_t, logvar_t = mu.T.contiguous(), logvar.T.contiguous()
    rows = max(1, BLOCK_ELEMENTS // mu.numel())
    blocks = [_block_logs(z[s:s + rows], mu_t, logvar_t, log_w[s:s + rows], member_t)
              for s in range(0, len(z), rows)]
    return {k: torch.cat([blk[k] for blk in blocks]) for k in blocks[0]}


def _log_q_own(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i | x_i) = sum_d log N(z_id; mu_id, exp(logvar_id)), (M,)."""
    return log_normal(z, mu, logvar).sum(1)


def _minibatch_logs(z, mu, logvar, dataset_size, estimator, groups=None):
    """log q(z_i|x_i) (M,) and the minibatch mixture logs of ``_mixture_logs``."""
    _check_posterior_sample(z, mu, logvar)
    if z.shape != mu.shape:
        raise ValueError(f"z must have one sample per row of mu: z {tuple(z.shape)}, mu {tuple(mu.shape)}")
    log_w = importance_weights(len(z), dataset_size, estimator, dtype=z.dtype).to(z.device)
    return _log_q_own(z, mu, logvar), _mixture_logs(z, mu, logvar, log_w, groups)


def log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
           estimator: str = "mss") -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of log q(z_i) and of sum_d log q(z_id), each (M,), for z (M, D)
    with row i a sample of q(z|x_i) and mu, logvar (M, D), from a data set of N =
    ``dataset_size`` points (Chen et al. 2018):

        log q(z_i)        ~ logsumexp_j [sum_d log q(z_id|x_j) + log w_ij]
        sum_d log q(z_id) ~ sum_d logsumexp_j [log q(z_id|x_j) + log w_ij]

    with the weights of ``importance_weights`` (``"mss"`` or ``"mws"``, see there for the
    derivation and the bias of each).
    """
    _, logs = _minibatch_logs(z, mu, logvar, dataset_size, estimator)
    return logs["joint"], logs["dims"].sum(1)


def _reduce(terms: dict[str, torch.Tensor], reduction: str) -> dict[str, torch.Tensor]:
    validate.one_of("reduction", reduction, REDUCTIONS)
    return {k: v.mean() if reduction == "mean" else v for k, v in terms.items()}


def _log_prior(z: torch.Tensor) -> torch.Tensor:
    """log p(z_id) under p = N(0, I), (M, D)."""
    return log_normal(z, torch.zeros_like(z), torch.zeros_like(z))


def _decomposition(log_qzx, logs, z):
    """Per-sample MI, TC and dimension-wise KL (each (M,)) from log q(z|x), the mixture logs."""
    log_prod = logs["dims"].sum(1)
    return {"mi": log_qzx - logs["joint"], "tc": logs["joint"] - log_prod,
            "dwkl": log_prod - _log_prior(z).sum(1)}


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     estimator: str = "mss", reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The beta-TCVAE decomposition of the KL (Chen et al. 2018, eq. 2) estimated on a minibatch:

        "mi"   = log q(z_i|x_i) - log q(z_i)                     index-code mutual information
        "tc"   = log q(z_i) - sum_d log q(z_id)                   total correlation
        "dwkl" = sum_d [log q(z_id) - log p(z_id)]                dimension-wise KL

    with p = N(0, I) and log q(z), sum_d log q(z_d) from ``log_qz`` (same ``estimator``), so that
    mi + tc + dwkl = log q(z_i|x_i) - log p(z_i) for every sample. Shapes as in ``log_qz``;
    returns batch means (scalars), or the per-sample (M,) terms with ``reduction="none"``.
    """
    log_qzx, logs = _minibatch_logs(z, mu, logvar, dataset_size, estimator)
    return _reduce(_decomposition(log_qzx, logs, z), reduction)


def kl_decomposition_exact(z: torch.Tensor, mu_all: torch.Tensor, logvar_all: torch.Tensor,
                           index: torch.Tensor, reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The same three terms as ``kl_decomposition`` with the exact aggregate posterior of a
    (small) data set, q(z) = (1/N) sum_n q(z|x_n) and q(z_d) = (1/N) sum_n q(z_d|x_n).

    ``mu_all``, ``logvar_all`` (N, D) are the encoder's outputs for the whole data set, z (M, D)
    the samples, and ``index`` (M,) the data point each row of z was drawn from. Costs an
    (M, N, D) table. Returns batch means, or (M,) terms with ``reduction="none"``.
    """
    _check_posterior_sample(z, mu_all, logvar_all)
    validate.tensor("index", index, shape=(len(z),), floating=False)
    if len(index) and (index.min() < 0 or index.max() >= len(mu_all)):
        raise ValueError(f"index must lie in [0, {len(mu_all) - 1}] (rows of mu_all), got values in "
                         f"[{index.min().item()}, {index.max().item()}]")
    log_w = torch.full((len(z), len(mu_all)), -math.log(len(mu_all)), dtype=z.dtype, device=z.device)
    index = index.long().to(z.device)
    log_qzx = _log_q_own(z, mu_all[index], logvar_all[index])
    return _reduce(_decomposition(log_qzx, _mixture_logs(z, mu_all, logvar_all, log_w), z), reduction)


def check_groups(groups: object, latent_dim: int) -> list[list[int]]:
    """``groups`` as a list of lists, after checking that it partitions the latent dimensions
    0..latent_dim-1 (each dimension in exactly one non-empty group), as the hierarchical
    decomposition of Esmaeili et al. (2019) needs; TypeError or ValueError otherwise."""
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, (list, tuple)) and g for g in groups):
        raise TypeError(f"groups must be a list of non-empty lists of latent dimensions, got {groups!r}")
    flat = [d for g in groups for d in g]
    if any(not isinstance(d, int) or isinstance(d, bool) for d in flat) or sorted(flat) != list(range(latent_dim)):
        raise ValueError(f"groups must partition the latent dimensions 0..{latent_dim - 1} (each exactly "
                         f"once), got {groups!r}")
    return [list(g) for g in groups]


def hierarchical_tc(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                    groups: list[list[int]], estimator: str = "mss",
                    reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The hierarchical split of the latent KL (Esmaeili et al. 2019, HFVAE) on a minibatch,
    for ``groups`` a list of index lists partitioning the D latent dimensions:

        "between" = log q(z_i) - sum_g log q(z_ig)                     KL(q(z) || prod_g q(z_g))
        "within"  = sum_g [log q(z_ig) - sum_{d in g} log q(z_id)]     sum_g KL(q(z_g) || prod_d q(z_d))
        "dwkl"    = sum_d [log q(z_id) - log p(z_id)]                  dimension-wise KL

    and "mi" = log q(z_i|x_i) - log q(z_i), the index-code MI of ``kl_decomposition``, from the
    same pairwise table (the HFVAE loss needs all four: one table, not two). Every log q is the minibatch mixture of ``log_qz`` with the weights of ``estimator``, the
    group densities using the summed log densities of the group's dimensions, so per sample
    between + within = log q(z) - sum_d log q(z_d), the TC of ``kl_decomposition`` with the same
    estimator. Returns batch means, or (M,) terms with ``reduction="none"``.
    """
    _check_posterior_sample(z, mu, logvar)
    groups = check_groups(groups, z.shape[1])
    log_qzx, logs = _minibatch_logs(z, mu, logvar, dataset_size, estimator, groups)
    log_groups, log_dims = logs["groups"].sum(1), logs["dims"].sum(1)
    terms = {"mi": log_qzx - logs["joint"], "between": logs["joint"] - log_groups,
             "within": log_groups - log_dims, "dwkl": log_dims - _log_prior(z).sum(1)}
    return _reduce(terms, reduction)
