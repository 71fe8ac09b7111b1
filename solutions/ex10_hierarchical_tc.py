"""Exercise 10 · the hierarchical split of the total correlation (notebook 10_hfvae.ipynb).

Tasks:
1. ``hierarchical_split``: between-group and within-group total correlation from the log
   densities of the whole code, of each group and of each dimension (notebook 10, section 3).
2. ``log_q_groups_mws``: the minibatch weighted estimate of log q(z_g) for each group of
   latent dimensions (notebook 10, section 3).
3. ``hierarchical_tc_mws``: the three terms between, within and dimension-wise KL of a
   minibatch, from z, mu, logvar and the groups (notebook 10, section 3).

Check your answers with ``python3 -m vae_course check 10``.
"""
from __future__ import annotations

import math

import torch

from vae_course.objectives import log_normal


def hierarchical_split(log_qz: torch.Tensor, log_q_groups: torch.Tensor,
                       log_q_dims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The hierarchical split of the total correlation (Esmaeili et al. 2019), per sample:

        between = log q(z) - sum_g log q(z_g)                  (TC between the groups)
        within  = sum_g log q(z_g) - sum_d log q(z_d)          (TC inside the groups, summed)

    so that between + within = log q(z) - sum_d log q(z_d), the total correlation.

    Shapes: log_qz (M,), log_q_groups (M, G), log_q_dims (M, D), M, G, D >= 1, one dtype
    (float32 or float64); returns (between, within), each (M,) of that dtype, differentiable in
    the three inputs.
    """
    # BEGIN SOLUTION see notebook 10, section "3. The hierarchical split of the total correlation"
    log_groups = log_q_groups.sum(1)
    return log_qz - log_groups, log_groups - log_q_dims.sum(1)
    # END SOLUTION


def log_q_groups_mws(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     groups: list[list[int]]) -> torch.Tensor:
    """The minibatch weighted estimate of log q(z_ig) for every sample i and group g, where
    z_ig are the coordinates of z_i in group g (``groups`` is a list of lists of dimensions):

        log q(z_ig) ~ logsumexp_j [ sum_{d in g} log q(z_id | x_j) ] - log(N M)

    with q(z_d | x_j) = N(z_d; mu_jd, exp(logvar_jd)), j over the minibatch of M points drawn
    from N = ``dataset_size``. One group holding every dimension gives log q(z); one group per
    dimension gives the marginals log q(z_d).

    Shapes: z, mu, logvar (M, D), M, D >= 1, one dtype (float32 or float64); groups: G >= 1
    non-empty lists of distinct dimensions in [0, D), in any order (groups may share
    dimensions; they are not changed). Returns (M, G) of z's dtype, differentiable in z, mu
    and logvar.
    """
    # BEGIN SOLUTION see notebook 10, section "3. The hierarchical split of the total correlation"
    log_q = log_normal(z[:, None, :], mu[None], logvar[None])  # (M, M, D)
    log_nm = math.log(dataset_size * len(z))
    return torch.stack([torch.logsumexp(log_q[:, :, g].sum(2), dim=1) - log_nm for g in groups], dim=1)
    # END SOLUTION


def hierarchical_tc_mws(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                        groups: list[list[int]]) -> dict[str, torch.Tensor]:
    """The batch means of the hierarchical KL terms with the minibatch weighted estimator:

        "between" = mean_i [ log q(z_i) - sum_g log q(z_ig) ]
        "within"  = mean_i [ sum_g log q(z_ig) - sum_d log q(z_id) ]
        "dwkl"    = mean_i sum_d [ log q(z_id) - log p(z_id) ],   p = N(0, 1)

    Use ``log_q_groups_mws`` (with one group of all dimensions, the given groups, and one group
    per dimension) and ``hierarchical_split``.

    Shapes: z, mu, logvar (M, D), M, D >= 1, one dtype (float32 or float64); groups: a
    partition of the D dimensions (each in exactly one group), groups and dimensions in any
    order. Returns a dict of three 0-d tensors of z's dtype, differentiable in z, mu and logvar.
    """
    # BEGIN SOLUTION see notebook 10, section "3. The hierarchical split of the total correlation"
    dims = list(range(z.shape[1]))
    log_qz = log_q_groups_mws(z, mu, logvar, dataset_size, [dims])[:, 0]
    log_q_dims = log_q_groups_mws(z, mu, logvar, dataset_size, [[d] for d in dims])
    log_q_groups = log_q_groups_mws(z, mu, logvar, dataset_size, groups)
    between, within = hierarchical_split(log_qz, log_q_groups, log_q_dims)
    log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    return {"between": between.mean(), "within": within.mean(), "dwkl": (log_q_dims - log_pz).sum(1).mean()}
    # END SOLUTION
