"""The minibatch estimators of q(z) and the KL decompositions, against explicit loops and
against the exact aggregate posterior of a tiny data set."""
import itertools
import math

import pytest
import torch

from vae_course import estimators as E

N, D = 6, 3


@pytest.fixture
def tiny():
    """A data set of N = 6 encodings (mu, logvar) and one sample z_n ~ q(z|x_n) each, float64."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(N, D, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(N, D, generator=g, dtype=torch.float64) - 0.5
    z = mu + (0.5 * logvar).exp() * torch.randn(N, D, generator=g, dtype=torch.float64)
    return z, mu, logvar


def log_q_loop(z_i, mu_j, logvar_j, dims):
    """log prod_{d in dims} N(z_id; mu_jd, exp(logvar_jd)) by an explicit loop."""
    return sum(-0.5 * (math.log(2 * math.pi) + logvar_j[d] + (z_i[d] - mu_j[d]) ** 2 / math.exp(logvar_j[d]))
               for d in dims)


def mixture_loop(z, mu, logvar, weights, dims):
    """log sum_j w_ij prod_{d in dims} q(z_id|x_j) for every row i, by explicit loops."""
    z, mu, logvar, weights = (t.tolist() for t in (z, mu, logvar, weights))
    return torch.tensor([math.log(sum(w_ij * math.exp(log_q_loop(z[i], mu[j], logvar[j], dims))
                                      for j, w_ij in enumerate(weights[i])))
                         for i in range(len(z))], dtype=torch.float64)


def weights_loop(m, n, estimator):
    """The importance weights written out: 1/(N M) everywhere (mws); 1/N on the sample's own
    point and (N-1)/(N(M-1)) on the others (mss)."""
    if estimator == "mws":
        return torch.full((m, m), 1 / (n * m), dtype=torch.float64)
    return torch.tensor([[1 / n if i == j else (n - 1) / (n * (m - 1)) for j in range(m)] for i in range(m)],
                        dtype=torch.float64)


def exact_log_q(z, mu, logvar, dims):
    """log of the exact aggregate density (1/N) sum_n prod_{d in dims} q(z_d|x_n), by loops."""
    return mixture_loop(z, mu, logvar, torch.full((len(z), len(mu)), 1 / len(mu), dtype=torch.float64), dims)


def test_pairwise_table_matches_loops(tiny):
    z, mu, logvar = tiny
    table = E.pairwise_log_q(z[:4], mu, logvar)
    assert table.shape == (4, N, D)
    for i, j, d in itertools.product(range(4), range(N), range(D)):
        expected = log_q_loop(z[i].tolist(), mu[j].tolist(), logvar[j].tolist(), [d])
        assert table[i, j, d].item() == pytest.approx(expected)


def test_mss_weights_put_1_over_n_on_the_own_sample_and_sum_to_one():
    w = E.importance_weights(4, 10, "mss").exp()
    assert torch.allclose(w.diagonal(), torch.full((4,), 0.1, dtype=torch.float64))
    assert torch.allclose(w.sum(1), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(w, weights_loop(4, 10, "mss"))


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_estimators_weights_are_those_of_the_table(estimator):
    """The estimators take the weights as (c, c_own): one value off the sample's own column
    and one on it, which must be the two values of ``importance_weights``."""
    c, c_own = E._log_weights(5, 12, estimator)
    expected = torch.full((5, 5), c, dtype=torch.float64).fill_diagonal_(c_own)
    assert torch.equal(E.importance_weights(5, 12, estimator), expected)
    assert torch.allclose(expected.exp(), weights_loop(5, 12, estimator))


def test_mws_weights_sum_to_one_over_n():
    w = E.importance_weights(4, 10, "mws").exp()
    assert torch.allclose(w.sum(1), torch.full((4,), 0.1, dtype=torch.float64))
    assert torch.allclose(w, weights_loop(4, 10, "mws"))


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_log_qz_matches_explicit_loops(tiny, estimator):
    z, mu, logvar = (t[:4] for t in tiny)
    log_qz, log_prod = E.log_qz(z, mu, logvar, N, estimator)
    w = weights_loop(4, N, estimator)
    assert torch.allclose(log_qz, mixture_loop(z, mu, logvar, w, range(D)))
    # the product of marginals: each dimension's mixture gets the weights once
    marginals = sum(mixture_loop(z, mu, logvar, w, [d]) for d in range(D))
    assert torch.allclose(log_prod, marginals)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_mss_averaged_over_every_minibatch_is_the_exact_q(tiny, m):
    """The stratified construction: the batch is the sample's own point plus M - 1 others
    drawn uniformly from the other N - 1. Every M-subset of the data set is such a batch for
    each of its members (at every position in the batch); over all of them each member's
    estimate averages to the exact q(z), for the joint and for a single dimension."""
    z, mu, logvar = tiny
    joint, dim0 = {i: [] for i in range(N)}, {i: [] for i in range(N)}
    for batch in map(list, itertools.combinations(range(N), m)):
        est_joint = E.log_qz(z[batch], mu[batch], logvar[batch], N, "mss")[0].exp()
        est_dim0 = E.log_qz(z[batch, :1], mu[batch, :1], logvar[batch, :1], N, "mss")[0].exp()
        for row, i in enumerate(batch):
            joint[i].append(est_joint[row])
            dim0[i].append(est_dim0[row])
    exact = exact_log_q(z, mu, logvar, range(D)).exp()
    exact_dim0 = exact_log_q(z, mu, logvar, [0]).exp()
    for i in range(N):
        assert torch.stack(joint[i]).mean().item() == pytest.approx(exact[i].item(), rel=1e-12)
        assert torch.stack(dim0[i]).mean().item() == pytest.approx(exact_dim0[i].item(), rel=1e-12)


def test_mss_on_the_whole_data_set_is_exact(tiny):
    z, mu, logvar = tiny
    log_qz, log_prod = E.log_qz(z, mu, logvar, N, "mss")
    assert torch.allclose(log_qz, exact_log_q(z, mu, logvar, range(D)))
    assert torch.allclose(log_prod, sum(exact_log_q(z, mu, logvar, [d]) for d in range(D)))


def test_mws_is_biased_by_its_weights(tiny):
    z, mu, logvar = tiny
    # whole data set as the batch: exactly log q(z) - log N, and TC inflated by (D - 1) log N
    log_qz, log_prod = E.log_qz(z, mu, logvar, N, "mws")
    assert torch.allclose(log_qz, exact_log_q(z, mu, logvar, range(D)) - math.log(N))
    tc_mws = E.kl_decomposition(z, mu, logvar, N, "mws")["tc"]
    tc_exact = E.kl_decomposition_exact(z, mu, logvar, torch.arange(N))["tc"]
    assert (tc_mws - tc_exact).item() == pytest.approx((D - 1) * math.log(N), rel=1e-10)
    # smaller batches: averaged over every batch it still misses q(z), where mss does not
    i, exact = 0, exact_log_q(z, mu, logvar, range(D))[0].exp()
    batches = [[i, *others] for others in itertools.combinations(range(1, N), 2)]
    mean = {est: torch.stack([E.log_qz(z[b], mu[b], logvar[b], N, est)[0][0].exp() for b in batches]).mean()
            for est in ("mws", "mss")}
    assert mean["mss"].item() == pytest.approx(exact.item(), rel=1e-12)
    assert abs(math.log(mean["mws"] / exact)) > 0.5


def test_batch_order_does_not_matter(tiny):
    """Permuting the batch permutes the estimates: the 1/N follows each sample's own column
    (a weight put in the wrong column, as with a flattened stride of M, breaks this)."""
    z, mu, logvar = tiny
    perm = torch.tensor([3, 0, 4, 1, 2])
    for est in ("mws", "mss"):
        before = E.log_qz(z[:5], mu[:5], logvar[:5], 20, est)
        after = E.log_qz(z[perm], mu[perm], logvar[perm], 20, est)
        for a, b in zip(before, after):
            torch.testing.assert_close(b, a[perm])


def test_exact_decomposition_matches_explicit_loops(tiny):
    z, mu, logvar = tiny
    index = torch.tensor([2, 0, 5])
    zs = z[index] + 0.1  # samples need not be the data set's own draws
    terms = E.kl_decomposition_exact(zs, mu, logvar, index, reduction="none")
    log_qzx = torch.tensor([log_q_loop(zs[k].tolist(), mu[n].tolist(), logvar[n].tolist(), range(D))
                            for k, n in enumerate(index.tolist())], dtype=torch.float64)
    log_qz = exact_log_q(zs, mu, logvar, range(D))
    log_prod = sum(exact_log_q(zs, mu, logvar, [d]) for d in range(D))
    log_pz = torch.tensor([log_q_loop(row, [0.0] * D, [0.0] * D, range(D)) for row in zs.tolist()],
                          dtype=torch.float64)
    torch.testing.assert_close(terms["mi"], log_qzx - log_qz)
    torch.testing.assert_close(terms["tc"], log_qz - log_prod)
    torch.testing.assert_close(terms["dwkl"], log_prod - log_pz)
    means = E.kl_decomposition_exact(zs, mu, logvar, index)
    assert all(torch.allclose(means[k], terms[k].mean()) for k in E.TERMS)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_three_terms_sum_to_the_kl_sample_by_sample(tiny, estimator):
    z, mu, logvar = tiny
    terms = E.kl_decomposition(z[:4], mu[:4], logvar[:4], N, estimator, reduction="none")
    log_qzx = torch.tensor([log_q_loop(z[i].tolist(), mu[i].tolist(), logvar[i].tolist(), range(D))
                            for i in range(4)], dtype=torch.float64)
    log_pz = torch.tensor([log_q_loop(z[i].tolist(), [0.0] * D, [0.0] * D, range(D)) for i in range(4)],
                          dtype=torch.float64)
    torch.testing.assert_close(terms["mi"] + terms["tc"] + terms["dwkl"], log_qzx - log_pz)


def test_mss_with_the_whole_data_set_equals_the_exact_decomposition(tiny):
    z, mu, logvar = tiny
    mss = E.kl_decomposition(z, mu, logvar, N, "mss")
    exact = E.kl_decomposition_exact(z, mu, logvar, torch.arange(N))
    assert all(torch.allclose(mss[k], exact[k]) for k in E.TERMS)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_hierarchical_split_matches_loops_and_adds_up_to_the_tc(tiny, estimator):
    z, mu, logvar = (t[:5] for t in tiny)
    groups = [[2, 0], [1]]
    terms = E.hierarchical_tc(z, mu, logvar, N, groups, estimator, reduction="none")
    w = weights_loop(5, N, estimator)
    log_qz = mixture_loop(z, mu, logvar, w, range(D))
    log_groups = sum(mixture_loop(z, mu, logvar, w, g) for g in groups)
    log_dims = sum(mixture_loop(z, mu, logvar, w, [d]) for d in range(D))
    torch.testing.assert_close(terms["between"], log_qz - log_groups)
    torch.testing.assert_close(terms["within"], log_groups - log_dims)
    flat = E.kl_decomposition(z, mu, logvar, N, estimator, reduction="none")
    torch.testing.assert_close(terms["between"] + terms["within"], flat["tc"])
    torch.testing.assert_close(terms["dwkl"], flat["dwkl"])


def test_hierarchical_extremes(tiny):
    z, mu, logvar = tiny
    tc = E.kl_decomposition(z, mu, logvar, N, reduction="none")["tc"]  # both default to MSS
    singletons = E.hierarchical_tc(z, mu, logvar, N, [[0], [1], [2]], reduction="none")
    one_group = E.hierarchical_tc(z, mu, logvar, N, [[0, 1, 2]], reduction="none")
    torch.testing.assert_close(singletons["between"], tc)
    torch.testing.assert_close(singletons["within"], torch.zeros(N, dtype=torch.float64))
    torch.testing.assert_close(one_group["within"], tc)
    torch.testing.assert_close(one_group["between"], torch.zeros(N, dtype=torch.float64))


def test_blocks_of_rows_give_the_same_numbers(tiny, monkeypatch):
    z, mu, logvar = tiny
    whole = E.hierarchical_tc(z, mu, logvar, 50, [[0], [1, 2]], "mss", reduction="none")
    monkeypatch.setattr(E, "BLOCK_ELEMENTS", 2 * D * N)  # two rows per block
    blocked = E.hierarchical_tc(z, mu, logvar, 50, [[0], [1, 2]], "mss", reduction="none")
    assert all(torch.equal(whole[k], blocked[k]) for k in whole)


def test_float32_gradients_flow():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(64, 5, generator=g).requires_grad_()
    logvar = torch.zeros(64, 5, requires_grad=True)
    z = mu + torch.randn(64, 5, generator=g)
    terms = E.kl_decomposition(z, mu, logvar, 1000)
    assert all(t.dtype == torch.float32 and t.shape == () for t in terms.values())
    sum(terms.values()).backward()
    assert torch.isfinite(mu.grad).all() and mu.grad.abs().sum() > 0


@pytest.mark.parametrize("call,error,match", [
    (lambda z, m, v: E.log_qz(z, m, v[:, :2], N), ValueError, "shapes must match"),
    (lambda z, m, v: E.log_qz(z[:, :2], m, v, N), ValueError, "latent dimensions"),
    (lambda z, m, v: E.log_qz(z[:3], m, v, N), ValueError, "one sample per row"),
    (lambda z, m, v: E.kl_decomposition_exact(z[:0], m, v, torch.arange(0)), ValueError, "at least one row"),
    (lambda z, m, v: E.log_qz(z, m, v, N - 1), ValueError, "dataset_size"),
    (lambda z, m, v: E.log_qz(z, m, v, 6.0), TypeError, "dataset_size must be an int"),
    (lambda z, m, v: E.log_qz(z, m, v, N, "naive"), ValueError, "estimator must be one of"),
    (lambda z, m, v: E.log_qz(z[:1], m[:1], v[:1], N, "mss"), ValueError, "at least 2"),
    (lambda z, m, v: E.kl_decomposition(z, m, v, N, reduction="sum"), ValueError, "reduction"),
    (lambda z, m, v: E.kl_decomposition(z.numpy(), m, v, N), TypeError, "z must be a torch.Tensor"),
    (lambda z, m, v: E.hierarchical_tc(z, m, v, N, [[0, 1]]), ValueError, "partition"),
    (lambda z, m, v: E.hierarchical_tc(z, m, v, N, [[0, 1], [1, 2]]), ValueError, "partition"),
    (lambda z, m, v: E.hierarchical_tc(z, m, v, N, [[0, 1], [2, 3]]), ValueError, "partition"),
    (lambda z, m, v: E.hierarchical_tc(z, m, v, N, [[0, 1], []]), TypeError, "non-empty"),
    (lambda z, m, v: E.hierarchical_tc(z, m, v, N, [0, 1, 2]), TypeError, "list of non-empty lists"),
    (lambda z, m, v: E.kl_decomposition_exact(z, m, v, torch.arange(N) + 1), ValueError, "index must lie"),
    (lambda z, m, v: E.kl_decomposition_exact(z, m, v, torch.arange(3)), ValueError, "index must have shape"),
])
def test_bad_input_raises_clear_errors(tiny, call, error, match):
    with pytest.raises(error, match=match):
        call(*tiny)


def test_float32_samples_stay_float32_and_match_float64():
    """The training path runs in float32 (no promotion of the (M, D, M) table); the float64 exact
    checks keep float64 weights."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(32, 4, generator=g, dtype=torch.float64), torch.randn(32, 4, generator=g, dtype=torch.float64) - 1
    z = mu + (0.5 * logvar).exp() * torch.randn(32, 4, generator=g, dtype=torch.float64)
    assert E.importance_weights(4, 10).dtype == torch.float64
    assert E.importance_weights(4, 10, dtype=torch.float32).dtype == torch.float32
    terms64 = E.kl_decomposition(z, mu, logvar, 1000)
    terms32 = E.kl_decomposition(z.float(), mu.float(), logvar.float(), 1000)
    for name in terms64:
        assert terms32[name].dtype == torch.float32
        assert terms32[name].item() == pytest.approx(terms64[name].item(), abs=1e-4)


def test_non_finite_posteriors_are_rejected_before_they_turn_into_nan():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="logvar must give a positive, finite variance"):
        E.kl_decomposition(z, torch.zeros(4, 2), torch.full((4, 2), -1e4), 10)
    with pytest.raises(ValueError, match="z must be finite"):
        E.log_qz(torch.full((4, 2), float("nan")), torch.zeros(4, 2), torch.zeros(4, 2), 10)


@pytest.mark.parametrize("case", ["minibatch", "exact", "own anywhere", "groups", "runs", "blocks", "far"])
def test_hand_written_backward_passes_gradcheck(tiny, monkeypatch, case):
    """The backward of the mixture logs (issue 18: written by hand, reusing the forward's
    exponentials) against finite differences, for every output: log q(z|x_own), the joint, the
    dimensions and the groups (listed in any order, or as runs of consecutive dimensions); own
    columns on the diagonal (minibatch) or anywhere (exact, and with an extra weight on them);
    "far": a sample 40 from its posterior, whose densities underflow under the shift known in
    advance, so that its block is shifted by its maxima."""
    z, mu, logvar = (t.clone().requires_grad_() for t in tiny)
    own, log_w = torch.arange(N), E._log_weights(N, 40, "mss")
    groups = [[2, 0], [1]] if case in ("groups", "blocks", "own anywhere", "far") else None
    groups = [[0], [1], [2]] if case == "runs" else groups  # spread by a view in the backward
    if case == "far":
        z = z.detach().index_add(0, torch.tensor([1]), torch.full((1, D), 40.0, dtype=z.dtype)).requires_grad_()
    if case in ("exact", "own anywhere"):
        z, own = z[:4].detach().add(0.3).requires_grad_(), torch.tensor([5, 0, 5, 2])
        log_w = (-math.log(N), -math.log(N) + (0.0 if case == "exact" else 1.5))
    if case == "blocks":
        monkeypatch.setattr(E, "BLOCK_ELEMENTS", 2 * D * N)  # two rows per block

    def outputs(z, mu, logvar):
        return tuple(E._mixture_logs(z, mu, logvar, log_w, own, groups).values())

    assert len(outputs(z, mu, logvar)) == (4 if groups else 3)
    assert torch.autograd.gradcheck(outputs, (z, mu, logvar))


def test_group_index_spots_runs_of_one_size():
    """The backward spreads the groups with a view only when they are runs of consecutive
    dimensions of one size, in order; any other partition takes the index_select path."""
    cpu = torch.device("cpu")
    group_of, sizes, run = E._group_index(((0, 1), (2, 3), (4, 5)), cpu)
    assert group_of.tolist() == [0, 0, 1, 1, 2, 2] and sizes == (2, 2, 2) and run == 2
    assert E._group_index(((0,), (1,), (2,)), cpu)[2] == 1
    for groups in (((0, 2), (1, 3)), ((0, 1), (2,)), ((1, 0), (2, 3)), ((2, 3), (0, 1))):
        assert E._group_index(groups, cpu)[2] == 0, groups
    assert E._group_index(((2, 3), (0, 1)), cpu)[0].tolist() == [1, 1, 0, 0]


def test_both_ways_of_spreading_the_groups_give_the_same_gradients():
    """The same partition into pairs, as runs (a view in the backward) and listed in another
    order (index_select): the same terms and the same gradients, in float64."""
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(12, 4, generator=g, dtype=torch.float64)
    logvar = 0.4 * torch.randn(12, 4, generator=g, dtype=torch.float64) - 1.0
    z = mu + (0.5 * logvar).exp() * torch.randn(12, 4, generator=g, dtype=torch.float64)
    results = []
    for groups in ([[0, 1], [2, 3]], [[3, 2], [1, 0]]):
        leaves = [t.clone().requires_grad_() for t in (z, mu, logvar)]
        terms = E.hierarchical_tc(*leaves, 50, groups)
        (terms["mi"] + 2 * terms["between"] + 3 * terms["within"] + terms["dwkl"]).backward()
        results.append([terms[k].detach() for k in sorted(terms)] + [t.grad for t in leaves])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_samples_far_from_every_posterior_keep_finite_logs():
    """A sample many standard deviations from every posterior mean (log q(z|x_j) about -5000 for
    every j) gets the log-sum-exp of ``torch.logsumexp``, not -inf, and finite gradients."""
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(8, 2, generator=g)
    logvar = torch.zeros(8, 2)
    z = (mu + torch.randn(8, 2, generator=g)).index_fill(0, torch.tensor([3]), 100.0).requires_grad_()
    log_qz, log_prod = E.log_qz(z, mu, logvar, 100)
    table = E.pairwise_log_q(z, mu, logvar)  # (M, M, D)
    log_w = E.importance_weights(8, 100, dtype=torch.float32)
    torch.testing.assert_close(log_qz, torch.logsumexp(table.sum(2) + log_w, 1))
    torch.testing.assert_close(log_prod, torch.logsumexp(table + log_w[:, :, None], 1).sum(1))
    assert log_qz[3] < -4000
    (log_qz.sum() + log_prod.sum()).backward()
    assert torch.isfinite(z.grad).all()


def test_second_derivatives_are_refused_not_wrong(tiny):
    """The hand-written backward is not itself differentiable: asking for a graph of the
    gradient (for a second derivative) raises instead of returning a wrong one."""
    z, mu, logvar = (t.clone().requires_grad_() for t in tiny)
    dwkl = E.kl_decomposition(z, mu, logvar, N)["dwkl"]  # log p(z) gives z a second path
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(dwkl, z, create_graph=True)
