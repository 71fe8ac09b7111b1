"""Checks of exercise 10 (the hierarchical TC): against ``estimators.hierarchical_tc`` with the
minibatch weighted estimator, against explicit loops, and against the identities
between + within = TC and the extreme groupings; then the reference solution over the
docstrings' domain: exercise 09's minibatches (M = 1 and odd sizes, float32 and float64, narrow
and wide posteriors, gradients to every input), groups unsorted, in any order, of one dimension
or of all, overlapping where the docstring allows it, and partitions for the hierarchical TC."""
from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from vae_course import estimators
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import batch_sizes, differential, dtypes, reference, tensors
from vae_course.exercise_checks.ex09 import encoding_cases

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
    differential("hierarchical_split", module.hierarchical_split, reference("10", "hierarchical_split"),
                 _split_cases(), grads=("log_qz", "log_q_groups", "log_q_dims"), parts=("between", "within"))


@st.composite
def _split_cases(draw) -> dict:
    m, dtype = draw(batch_sizes), draw(dtypes)
    return {"log_qz": draw(tensors((m,), dtype, -40.0, 5.0)),
            "log_q_groups": draw(tensors((m, draw(st.integers(1, 4))), dtype, -40.0, 5.0)),
            "log_q_dims": draw(tensors((m, draw(st.integers(1, 5))), dtype, -40.0, 5.0))}


@st.composite
def _groups(draw, d: int, partition: bool) -> list[list[int]]:
    """Groups of distinct dimensions in any order: a partition of range(d), or any non-empty groups."""
    if partition:
        order = draw(st.permutations(range(d)))
        cuts = sorted(draw(st.sets(st.integers(1, d - 1), max_size=d - 1))) if d > 1 else []
        return [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, d])]
    group = st.lists(st.integers(0, d - 1), min_size=1, max_size=d, unique=True)
    return draw(st.lists(group, min_size=1, max_size=4))


@st.composite
def _group_cases(draw, partition: bool) -> dict:
    case = draw(encoding_cases())
    case["groups"] = draw(_groups(case["z"].shape[1], partition))
    return case


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
    differential("log_q_groups_mws", module.log_q_groups_mws, reference("10", "log_q_groups_mws"),
                 _group_cases(partition=False), grads=("z", "mu", "logvar"))


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
    differential("hierarchical_tc_mws", module.hierarchical_tc_mws, reference("10", "hierarchical_tc_mws"),
                 _group_cases(partition=True), grads=("z", "mu", "logvar"))


TASKS = [("1. between- and within-group TC from log densities", check_hierarchical_split),
         ("2. log q(z_g) by the minibatch weighted estimator", check_log_q_groups_mws),
         ("3. the hierarchical TC of a minibatch", check_hierarchical_tc_mws)]
