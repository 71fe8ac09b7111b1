"""Checks of exercise 10 (the hierarchical TC): against ``estimators.hierarchical_tc`` with the
minibatch weighted estimator, against explicit loops, and against the identities
between + within = TC and the extreme groupings."""
from __future__ import annotations

import math

import torch

from vae_course import estimators
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple

GROUPS = [[0, 3], [1], [2, 4]]


def _encodings(seed: int, m: int = 6, d: int = 5, log_scale: float = -0.5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(m, d, generator=g)
    logvar = 0.5 * torch.randn(m, d, generator=g) + log_scale
    return mu + (0.5 * logvar).exp() * torch.randn(m, d, generator=g), mu, logvar


def check_hierarchical_split(module) -> None:
    g = torch.Generator().manual_seed(0)
    log_qz, log_groups, log_dims = (torch.randn(*s, generator=g) for s in [(4,), (4, 3), (4, 5)])
    got = expect_tuple("hierarchical_split", module.hierarchical_split(log_qz, log_groups, log_dims), 2,
                       "(between, within)")
    between, within = (expect_tensor(name, t, (4,)) for name, t in zip(("between", "within"), got))
    expect_close("between = log q(z) - sum_g log q(z_g)", between, log_qz - log_groups.sum(1))
    expect_close("within = sum_g log q(z_g) - sum_d log q(z_d)", within, log_groups.sum(1) - log_dims.sum(1))
    expect_close("between + within = total correlation", between + within, log_qz - log_dims.sum(1))


def _group_loop(z, mu, logvar, n, dims) -> torch.Tensor:
    """log q(z_ig) by the minibatch weighted estimator, with explicit loops over i, j, d."""
    m = len(z)
    out = []
    for i in range(m):
        total = 0.0
        for j in range(m):
            total += math.exp(sum(-0.5 * (math.log(2 * math.pi) + logvar[j, d].item()
                                          + (z[i, d].item() - mu[j, d].item()) ** 2 / math.exp(logvar[j, d].item()))
                                  for d in dims))
        out.append(math.log(total / (n * m)))
    return torch.tensor(out)


def check_log_q_groups_mws(module) -> None:
    z, mu, logvar = _encodings(1)
    got = expect_tensor("log_q_groups_mws", module.log_q_groups_mws(z, mu, logvar, 500, GROUPS), (6, 3))
    for g, dims in enumerate(GROUPS):
        expect_close(f"log q(z_g) of group {dims}", got[:, g], _group_loop(z, mu, logvar, 500, dims), atol=1e-4)
    joint = module.log_q_groups_mws(z, mu, logvar, 500, [list(range(5))])[:, 0]
    expect_close("one group of every dimension = log q(z)", joint,
                 estimators.log_qz(z, mu, logvar, 500, estimator="mws")[0], atol=1e-4)
    # 64 dimensions a group: exp() of the summed log-densities overflows (narrow) or underflows (wide)
    for log_scale, what in [(-6.0, "narrow posteriors, logvar = -6"), (1.0, "wide posteriors, logvar = 1")]:
        z, mu, logvar = _encodings(4, 16, 128, log_scale)
        halves = [list(range(64)), list(range(64, 128))]
        got = expect_tensor(f"log_q_groups_mws at D = 128 with {what}",
                            module.log_q_groups_mws(z, mu, logvar, 1000, halves), (16, 2))
        expect_true(bool(torch.isfinite(got).all()),
                    f"log q(z_g) for groups of 64 dimensions with {what} is not finite ({got[0].tolist()}...): "
                    "use torch.logsumexp instead of log(sum(exp))")
        want = torch.stack([estimators.log_qz(z[:, g], mu[:, g], logvar[:, g], 1000, estimator="mws")[0]
                            for g in halves], 1)
        expect_close(f"log_q_groups_mws at D = 128 with {what}", got, want, atol=1e-3)


def check_hierarchical_tc_mws(module) -> None:
    for seed, groups in [(2, GROUPS), (3, [[4, 1, 0], [3, 2]])]:
        z, mu, logvar = _encodings(seed)
        got = module.hierarchical_tc_mws(z, mu, logvar, 500, groups)
        expect_true(isinstance(got, dict) and set(got) == {"between", "within", "dwkl"},
                    "hierarchical_tc_mws must return a dict with keys between, within, dwkl, got "
                    + (f"keys {sorted(got)}" if isinstance(got, dict) else f"a {type(got).__name__}"))
        want = estimators.hierarchical_tc(z, mu, logvar, 500, groups, estimator="mws")
        for key in ("between", "within", "dwkl"):
            expect_tensor(key, got[key], ())
            expect_close(f"{key} with groups {groups}", got[key], want[key], atol=1e-4)
    tc = estimators.kl_decomposition(z, mu, logvar, 500, estimator="mws")["tc"]
    expect_close("between + within = TC of kl_decomposition", got["between"] + got["within"], tc, atol=1e-4)


TASKS = [("1. between- and within-group TC from log densities", check_hierarchical_split),
         ("2. log q(z_g) by the minibatch weighted estimator", check_log_q_groups_mws),
         ("3. the hierarchical TC of a minibatch", check_hierarchical_tc_mws)]
