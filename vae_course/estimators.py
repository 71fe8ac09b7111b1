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

import functools
import math
from typing import Callable

import torch

from vae_course import validate
from vae_course.objectives import LOG_2PI, log_normal

ESTIMATORS = ("mws", "mss")
TERMS = ("mi", "tc", "dwkl")
REDUCTIONS = ("mean", "none")
BLOCK_ELEMENTS = 2 ** 20  # pairwise log densities computed at a time (see _mixture_logs)
LN2 = math.log(2.0)


def importance_weights(batch_size: int, dataset_size: int, estimator: str = "mss",
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The log importance weights log w_ij (M, M) of the minibatch estimators of q(z_i),
    Chen et al. 2018, section 3 and appendix C. Row i estimates q(z_i) = sum_j w_ij q(z_i|x_j).
    float64 by default (the exact checks), or ``dtype`` (for use beside float32 samples). The
    table holds two values, one on the diagonal and one off it: the estimators take those two
    numbers (``_log_weights``), not the table, and add them after their logsumexps.

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
    others, own = _log_weights(batch_size, dataset_size, estimator)
    log_w = torch.full((batch_size, batch_size), others, dtype=dtype)
    log_w.diagonal().fill_(own)
    return log_w


def _log_weights(batch_size: int, dataset_size: int, estimator: str) -> tuple[float, float]:
    """The two values of the table of ``importance_weights``, after checking its arguments:
    (log w_ij for j != i, log w_ii). The estimators take the weights in this form, as a constant
    plus an extra weight on the sample's own column, rather than as an (M, M) table."""
    validate.positive_int("batch_size", batch_size)
    validate.positive_int("dataset_size", dataset_size)
    validate.one_of("estimator", estimator, ESTIMATORS)
    if dataset_size < batch_size:
        raise ValueError(f"dataset_size (N) must be >= the batch size M = {batch_size}, got {dataset_size}")
    if estimator == "mws":
        return (-math.log(dataset_size * batch_size),) * 2
    if batch_size < 2:
        raise ValueError(f"the 'mss' estimator needs a batch of at least 2 samples, got M = {batch_size}")
    return math.log(dataset_size - 1) - math.log(dataset_size * (batch_size - 1)), -math.log(dataset_size)


def _check_posterior_sample(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                            names: tuple[str, str] = ("mu", "logvar")) -> None:
    """Check z (M, D) and the posteriors' mu, logvar (K, D), named ``names`` in messages."""
    name_mu, name_logvar = names
    validate.tensor("z", z, ndim=2)
    validate.tensor(name_mu, mu, ndim=2)
    validate.tensor(name_logvar, logvar, ndim=2)
    validate.same_shape(**{name_mu: mu, name_logvar: logvar})
    if z.shape[1] != mu.shape[1]:
        raise ValueError(f"z and {name_mu} must have the same number of latent dimensions D, got z "
                         f"{tuple(z.shape)} and {name_mu} {tuple(mu.shape)}")
    if len(z) == 0 or len(mu) == 0:
        raise ValueError(f"z and {name_mu} need at least one row, got z {tuple(z.shape)} and {name_mu} "
                         f"{tuple(mu.shape)}")
    # One sum vouches for every entry at once, as it is finite only if each term is, and a finite
    # exp(|logvar|) means exp(logvar) is finite and > 0 (exp overflows before it underflows to 0);
    # when it is not finite, the checks that name the culprit run (an overflowing sum passes them).
    # It runs on every training step: no graph is recorded, and one number comes back.
    with torch.no_grad():
        total = z.sum() + mu.sum() + logvar.abs().exp().sum()
    if not math.isfinite(total.item()):
        validate.finite("z", z)
        validate.finite(name_mu, mu)
        validate.log_variance(name_logvar, logvar)  # logvar = -1e4 would turn MI and TC into NaN


def pairwise_log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The table log q(z_id | x_j) = log N(z_id; mu_jd, exp(logvar_jd)) for every sample i and
    every data point j: z (M, D), mu and logvar (K, D) -> (M, K, D). The estimators compute the
    same table, transposed and a block of rows at a time (see ``_mixture_logs``)."""
    _check_posterior_sample(z, mu, logvar)
    return log_normal(z[:, None, :], mu[None], logvar[None])


def _logsumexp2_(t: torch.Tensor, log_c: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For t holding log2 values, log_c + the natural log of sum 2^t over the last axis, with t
    overwritten by e = 2^(t - m): returns (log_c + ln 2 * m + ln s, e, s = sum e), m the row
    maxima (raised to the dtype's lowest finite value, so that a row of -inf gives -inf, as in
    torch.logsumexp, not NaN); e / s is the softmax, the gradient of the result with respect
    to ln 2 * t."""
    m = t.amax(-1, keepdim=True).clamp_min_(torch.finfo(t.dtype).min)
    e = t.sub_(m).exp2_()
    s = e.sum(-1, keepdim=True)
    return s.log().add_(m, alpha=LN2).squeeze(-1).add_(log_c), e, s


def _shifted_logsumexp2_(t: torch.Tensor, log_c: float | torch.Tensor,
                          rebuild: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``_logsumexp2_`` summed over the rows of t (B, R, K), for t already shifted by a bound
    known in advance (no entry above 0) instead of its row maxima: t overwritten by e = 2^t,
    returns (sum_r [log_c_r + ln s_r], e, s). When a sum s underflows below the square root of
    the smallest normal number (its terms losing precision), the table ``rebuild()`` (t as it
    was) is shifted by its row maxima instead."""
    e = t.exp2_()
    s = e.sum(-1, keepdim=True)
    if s.amin().item() < torch.finfo(t.dtype).tiny ** 0.5:
        logs, e, s = _logsumexp2_(rebuild(), log_c)
    else:
        logs = s.log().squeeze(-1).add_(log_c)
    return logs.sum(1), e, s


def _add_to_own_column_(t: torch.Tensor, own: torch.Tensor, value: float) -> torch.Tensor:
    """t (B, ..., K) with ``value`` added to the entries t[i, ..., own[i]], in place."""
    shape = (*t.shape[:-1], 1)
    index = own.view(-1, *(1,) * (t.dim() - 1)).expand(shape)
    return t.scatter_add_(-1, index, t.new_full((), value).expand(shape))


class _BlockLogs(torch.autograd.Function):
    """``_mixture_logs`` for one block of rows of z, by hand in both directions (issue 18: the
    autograd version made a beta-TCVAE training step cost 1.3x a beta-VAE step). Each (B, D, K)
    table takes as few passes over memory as the formulas allow: 6 in the forward and 6 in the
    backward (operations that read or write a whole table; HFVAE's groups add an index_add_ to
    the forward, and their (B, G, K) table takes 5 in the forward and 1 in the backward). When
    the groups are runs of consecutive dimensions of one size (the recipe's pairs), the backward
    spreads the groups' weights over their dimensions through a view, in the pass that adds the
    dimensions' own; other groups take an index_select first (a step of the recipe's HFVAE
    spent 0.28 ms less in this backward, 0.87 against 1.14 ms, measured inside training steps).

    - The logs are kept in base 2 (log2 q = log q / ln 2), as torch's exp2 runs in 0.4 of exp's
      time on a CPU (0.16 against 0.43 ms for a 256 x 8 x 256 float32 table, one thread of an
      AVX-512 AMD EPYC).
    - The weights, a constant c with an extra weight on the own column, are not added to the
      tables: c is added to the logs afterwards (log sum_j e^c q_j = c + log sum_j q_j), and the
      own column's extra to that column alone.
    - The dimensions' logsumexp is shifted by a bound known before the table is built, the
      highest peak of the K densities, top = max_jd log2 N(mu_jd; mu_jd, sigma_jd^2), instead of
      each row's maximum (a pass to find it and one to subtract it): the table is built as
      log2 q - top. The sample's own density is in its row (minibatch and exact alike), within
      (logvar_own,d - min_jd logvar_jd + eps_d^2) / (2 ln 2) of top, so 2^(log2 q - top)
      underflows only for a sample far from every posterior; then (some row's sum below the
      square root of the smallest normal number) the table is rebuilt and shifted by its row
      maxima. The same holds for the groups (shifted by |g| top); the joint, a sum over all D
      dimensions whose distances to top add up, is shifted by its maxima, a (B, K) table.
    - The backward reuses the forward's exponentials (the softmax weights of each logsumexp,
      the own column's weight included) instead of recomputing them: one exponential per entry
      of the pairwise table in all."""

    @staticmethod
    def forward(ctx, z, mu, logvar, log_w, own, group_of, group_sizes, run):
        """z (B, D); mu, logvar (K, D); log_w = (c, c_own) the log weights, log w_ij = c for
        every column j but the row's own data point, own[i] (own (B,)), where it is c_own;
        group_of (D,) the group of each dimension, or None, group_sizes the number of
        dimensions in each, and run their common size when the groups are runs of consecutive
        dimensions of one size (0 when not, see ``_group_index``). Returns log q(z_i|x_own) (B,),
        the joint (B,), the sum of the dimensions' logs (B,) and the sum of the groups' logs (B,)."""
        c, c_own = log_w
        dim, k_pos = z.shape[1], mu.shape[0]
        mu_t, logvar_t = mu.T.contiguous(), logvar.T.contiguous()  # (D, K): each table's rows run over k
        peak = (-0.5 / LN2) * (LOG_2PI + logvar_t)  # log2 of each density at its mean
        top = peak.max().item()
        diff = z[:, :, None] - mu_t  # (B, D, K): z_id - mu_jd
        r = diff * torch.exp(-logvar_t)  # (z_id - mu_jd) / sigma_jd^2 = -d log q(z_id|x_j) / d z_id
        extra = (c_own - c) / LN2  # the own column's extra weight, once in each mixture

        def table() -> torch.Tensor:  # (B, D, K): log2 q(z_id|x_j) - top
            # = peak_jd - top - (z_id - mu_jd)^2 / (2 ln 2 sigma_jd^2)
            return torch.addcmul(peak - top, diff, r, value=-0.5 / LN2)

        def grouped(log_q: torch.Tensor) -> torch.Tensor:  # (B, G, K): each group's log densities summed
            return log_q.new_zeros(len(z), len(group_sizes), k_pos).index_add_(1, group_of, log_q)

        def weighted(t: torch.Tensor) -> torch.Tensor:
            return _add_to_own_column_(t, own, extra) if extra else t

        log_q = table()
        log_groups = None if group_of is None else grouped(log_q)
        log_joint = log_q.sum(1) if group_of is None else log_groups.sum(1)  # (B, K), less D top
        log_own = log_joint.gather(1, own[:, None]).squeeze(1).add_(dim * top).mul_(LN2)
        joint, e_joint, s_joint = _logsumexp2_(weighted(log_joint), c + LN2 * dim * top)
        groups, e_groups, s_groups = z.new_empty(0), None, None
        if group_of is not None:
            shifts = torch.tensor([c + LN2 * n * top for n in group_sizes], dtype=z.dtype, device=z.device)
            groups, e_groups, s_groups = _shifted_logsumexp2_(weighted(log_groups), shifts,
                                                              lambda: weighted(grouped(table())))
        dims, e_dims, s_dims = _shifted_logsumexp2_(weighted(log_q), c + LN2 * top, lambda: weighted(table()))
        ctx.run = run
        ctx.save_for_backward(diff, r, own, group_of, e_joint, s_joint, e_dims, s_dims, e_groups, s_groups)
        return log_own, joint, dims, groups

    @staticmethod
    def backward(ctx, g_own, g_joint, g_dims, g_groups):
        """Each output's gradient with respect to the table log q(z_id|x_j) is the incoming
        gradient times its softmax weights (log_own: times 1 on the own column); ``a`` (B, D, K)
        collects them, and d log q(z_id|x_j) = -r dz_id + r dmu_jd + (diff r - 1) / 2 dlogvar_jd:
        with b = a r, the gradients are -sum_j b, sum_i b and sum_i (b diff - a) / 2, the last
        from a - b diff written over a.
        First derivatives only: with ``create_graph=True`` it raises rather than give a second
        derivative without the terms that went through the saved tensors."""
        if torch.is_grad_enabled():
            raise RuntimeError("the q(z) estimators have first derivatives only (their backward is written "
                               "by hand): no create_graph=True, second derivatives or double backward")
        diff, r, own, group_of, e_joint, s_joint, e_dims, s_dims, e_groups, s_groups = ctx.saved_tensors
        per_point = (e_joint * (g_joint[:, None] / s_joint)).scatter_add_(1, own[:, None], g_own[:, None])
        if group_of is None:
            a = torch.addcmul(per_point[:, None, :], e_dims, g_dims[:, None, None] / s_dims)
        else:  # the groups' (B, G, K) weights spread over their dimensions, then the dimensions' own
            a = torch.addcmul(per_point[:, None, :], e_groups, g_groups[:, None, None] / s_groups)
            w_dims = g_dims[:, None, None] / s_dims
            if ctx.run:  # runs of consecutive dimensions: a view spreads the groups, in the same pass
                a = torch.addcmul(a[:, :, None], e_dims.unflatten(1, (-1, ctx.run)),
                                  w_dims.unflatten(1, (-1, ctx.run))).flatten(1, 2)
            else:
                a = a.index_select(1, group_of).addcmul_(e_dims, w_dims)
        b = a * r
        g_z = -b.sum(2) if ctx.needs_input_grad[0] else None
        g_mu = b.sum(0).T if ctx.needs_input_grad[1] else None
        g_logvar = a.addcmul_(b, diff, value=-1).sum(0).mul_(-0.5).T if ctx.needs_input_grad[2] else None
        return g_z, g_mu, g_logvar, None, None, None, None, None


@functools.lru_cache(maxsize=64)
def _group_index(groups: tuple[tuple[int, ...], ...], device: torch.device) -> tuple[torch.Tensor, tuple[int, ...], int]:
    """For ``groups`` partitioning the D dimensions: the group of each dimension (D,), for
    index_add_ over dimensions; each group's size; and, when the groups are runs of consecutive
    dimensions of one size s (0..s-1, s..2s-1, ...), s, else 0. Kept, as a training step asks
    for the same groups every time."""
    group_of = [g for d in range(sum(map(len, groups))) for g, dims in enumerate(groups) if d in dims]
    sizes = tuple(len(g) for g in groups)
    runs = all(list(g) == list(range(i * sizes[0], (i + 1) * sizes[0])) for i, g in enumerate(groups))
    return torch.tensor(group_of, device=device), sizes, sizes[0] if runs else 0


def _mixture_logs(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_w: tuple[float, float],
                  own: torch.Tensor, groups: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
    """The per-sample mixture log densities log sum_j w_ij q(. | x_j) of the joint, ``"joint"``
    (M,); summed over the dimensions, ``"dims"`` (M,) = sum_d log sum_j w_ij q(z_id | x_j);
    and, when ``groups`` are given, summed over the groups of dimensions (each group's log
    densities summed), ``"groups"`` (M,); for z (M, D), mu and logvar (K, D) and the log
    weights ``log_w`` = (c, c_own): log w_ij = c for every j but the column ``own`` (M,) of each
    sample's own data point, where it is c_own (every caller's weights have this form:
    ``_log_weights``). Also ``"own"`` (M,), log q(z_i | x_own_i) =
    sum_d log q(z_id | x_own_i,d), the table's entry in that column.

    The pairwise table of ``pairwise_log_q`` (transposed) is computed once, a block of rows at
    a time, each block at most ``BLOCK_ELEMENTS`` values: the same arithmetic as one table, but
    each block fits in cache and is reused from the allocator instead of being requested from
    the operating system afresh, which costs more than the arithmetic at M = 1024.
    """
    group_of, group_sizes, run = None, (), 0
    if groups is not None:
        group_of, group_sizes, run = _group_index(tuple(map(tuple, groups)), z.device)
    rows = max(1, BLOCK_ELEMENTS // mu.numel())
    if rows >= len(z):  # one block: no slices of z, whose backward would copy the gradient into zeros
        blocks = [_BlockLogs.apply(z, mu, logvar, log_w, own, group_of, group_sizes, run)]
    else:
        blocks = [_BlockLogs.apply(z[s:s + rows], mu, logvar, log_w, own[s:s + rows], group_of,
                                   group_sizes, run) for s in range(0, len(z), rows)]
    names = ("own", "joint", "dims", "groups") if groups is not None else ("own", "joint", "dims")
    return {k: torch.cat([blk[n] for blk in blocks]) if len(blocks) > 1 else blocks[0][n]
            for n, k in enumerate(names)}


def _minibatch_logs(z, mu, logvar, dataset_size, estimator, groups=None):
    """The minibatch mixture logs of ``_mixture_logs``, "own" being log q(z_i|x_i) (M,)."""
    _check_posterior_sample(z, mu, logvar)
    if z.shape != mu.shape:
        raise ValueError(f"z must have one sample per row of mu: z {tuple(z.shape)}, mu {tuple(mu.shape)}")
    groups = None if groups is None else check_groups(groups, z.shape[1])
    log_w = _log_weights(len(z), dataset_size, estimator)
    return _mixture_logs(z, mu, logvar, log_w, torch.arange(len(z), device=z.device), groups)


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
    logs = _minibatch_logs(z, mu, logvar, dataset_size, estimator)
    return logs["joint"], logs["dims"]


def _reduce(terms: dict[str, torch.Tensor], reduction: str) -> dict[str, torch.Tensor]:
    validate.one_of("reduction", reduction, REDUCTIONS)
    return {k: v.mean() if reduction == "mean" else v for k, v in terms.items()}


def _log_prior(z: torch.Tensor) -> torch.Tensor:
    """log p(z_i) = sum_d log N(z_id; 0, 1) = -(D log 2 pi + |z_i|^2) / 2 under p = N(0, I), (M,)."""
    return -0.5 * (z.shape[1] * LOG_2PI + z.square().sum(1))


def _decomposition(logs, z):
    """Per-sample MI, TC and dimension-wise KL (each (M,)) from the mixture logs."""
    log_prod = logs["dims"]
    return {"mi": logs["own"] - logs["joint"], "tc": logs["joint"] - log_prod,
            "dwkl": log_prod - _log_prior(z)}


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
    return _reduce(_decomposition(_minibatch_logs(z, mu, logvar, dataset_size, estimator), z), reduction)


def kl_decomposition_exact(z: torch.Tensor, mu_all: torch.Tensor, logvar_all: torch.Tensor,
                           index: torch.Tensor, reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The same three terms as ``kl_decomposition`` with the exact aggregate posterior of a
    (small) data set, q(z) = (1/N) sum_n q(z|x_n) and q(z_d) = (1/N) sum_n q(z_d|x_n).

    ``mu_all``, ``logvar_all`` (N, D) are the encoder's outputs for the whole data set, z (M, D)
    the samples, and ``index`` (M,) the data point each row of z was drawn from. Costs an
    (M, N, D) table. Returns batch means, or (M,) terms with ``reduction="none"``.
    """
    _check_posterior_sample(z, mu_all, logvar_all, ("mu_all", "logvar_all"))
    validate.integer_tensor("index", index, shape=(len(z),))
    if len(index) and (index.min() < 0 or index.max() >= len(mu_all)):
        raise ValueError(f"index must lie in [0, {len(mu_all) - 1}] (rows of mu_all), got values in "
                         f"[{index.min().item()}, {index.max().item()}]")
    log_w = (-math.log(len(mu_all)),) * 2  # w_ij = 1/N for every j
    logs = _mixture_logs(z, mu_all, logvar_all, log_w, index.long().to(z.device))
    return _reduce(_decomposition(logs, z), reduction)


def check_groups(groups: object, latent_dim: int) -> list[list[int]]:
    """``groups`` as a list of lists, after checking that it partitions the latent dimensions
    0..latent_dim-1 (each dimension in exactly one non-empty group), as the hierarchical
    decomposition of Esmaeili et al. (2019) needs; TypeError or ValueError otherwise."""
    validate.positive_int("latent_dim", latent_dim)
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
    same pairwise table (the HFVAE loss needs all four: one table, not two). Every log q is the
    minibatch mixture of ``log_qz`` with the weights of ``estimator``, the group densities using
    the summed log densities of the group's dimensions, so per sample
    between + within = log q(z) - sum_d log q(z_d), the TC of ``kl_decomposition`` with the same
    estimator. Returns batch means, or (M,) terms with ``reduction="none"``.
    """
    logs = _minibatch_logs(z, mu, logvar, dataset_size, estimator, groups)
    log_groups, log_dims = logs["groups"], logs["dims"]
    terms = {"mi": logs["own"] - logs["joint"], "between": logs["joint"] - log_groups,
             "within": log_groups - log_dims, "dwkl": log_dims - _log_prior(z)}
    return _reduce(terms, reduction)


def estimator_bias(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, batch_size: int,
                   estimator: str, repeats: int = 20, generator: torch.Generator | None = None) -> dict[str, float]:
    """Bias of a minibatch estimator on a small data set of N points: the mean, over ``repeats``
    minibatches of M = ``batch_size`` points drawn without replacement, of the batch's
    ``kl_decomposition`` minus the exact ``kl_decomposition_exact`` of the same
    samples, for each of "mi", "tc", "dwkl" (Chen et al. 2018, section 3). z (N, D) holds one
    sample of q(z|x_n) per data point; mu, logvar (N, D) are the encoder outputs."""
    _check_posterior_sample(z, mu, logvar)
    validate.positive_int("repeats", repeats)
    validate.positive_int("batch_size", batch_size, minimum=2)
    validate.one_of("estimator", estimator, ESTIMATORS)
    exact = kl_decomposition_exact(z, mu, logvar, torch.arange(len(z)), reduction="none")
    bias = dict.fromkeys(TERMS, 0.0)
    for _ in range(repeats):
        idx = torch.randperm(len(z), generator=generator)[:batch_size]
        estimate = kl_decomposition(z[idx], mu[idx], logvar[idx], len(z), estimator)
        for name in bias:
            bias[name] += (estimate[name] - exact[name][idx].mean()).item() / repeats
    return bias
