"""The autoregressive prior over code maps (vae_course.code_prior): the masks, causality
(perturbing the future leaves the logits unchanged), the likelihood against brute force on
every 2x2 map with K = 3, seeded and correct ancestral sampling, and bad input."""
import itertools
import math

import pytest
import torch

from vae_course import code_prior, train, vq


def small_prior(K=3, code_shape=(2, 2), **kwargs):
    torch.manual_seed(0)
    prior = code_prior.CodePrior(K, code_shape, width=8, depth=2, **kwargs).double().eval()
    with torch.no_grad():  # spread the logits so that the conditionals are far from uniform
        for p in prior.parameters():
            p.mul_(3.0)
    return prior


def all_maps(K, code_shape):
    n = math.prod(code_shape)
    return torch.tensor(list(itertools.product(range(K), repeat=n))).view(-1, *code_shape)


def test_causal_masks_are_raster_order():
    a = code_prior.causal_mask(3, include_centre=False)
    b = code_prior.causal_mask(3, include_centre=True)
    torch.testing.assert_close(a, torch.tensor([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]]))
    torch.testing.assert_close(b, torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]]))
    wide = code_prior.causal_mask((3, 7), include_centre=False)
    assert wide[0].all() and wide[1, :3].all() and not wide[1, 3:].any() and not wide[2].any()
    with pytest.raises(ValueError, match="kernel_size must be an odd"):
        code_prior.causal_mask(4, include_centre=False)
    with pytest.raises(TypeError, match="include_centre must be a bool"):
        code_prior.causal_mask(3, include_centre=1)


@pytest.mark.parametrize("code_shape", [(4, 4), (3, 5), (7, 7)])
def test_each_output_reads_every_earlier_position_and_nothing_else(code_shape):
    prior = small_prior(K=6, code_shape=code_shape)
    indices = torch.randint(0, 6, (4, *code_shape), generator=torch.Generator().manual_seed(1))
    seen = code_prior.dependence(prior, indices, generator=torch.Generator().manual_seed(2))
    n = math.prod(code_shape)
    # strictly lower-triangular: causal; full below the diagonal: no blind spot
    assert torch.equal(seen, torch.ones(n, n, dtype=torch.bool).tril(-1))


def test_perturbing_positions_from_i_on_leaves_the_logits_at_i_unchanged():
    prior = small_prior(K=5, code_shape=(4, 4))
    g = torch.Generator().manual_seed(3)
    indices = torch.randint(0, 5, (8, 4, 4), generator=g)
    logits = prior(indices).view(8, 16, 5)
    for i in range(16):
        other = indices.clone().view(8, 16)
        other[:, i:] = torch.randint(0, 5, (8, 16 - i), generator=g)
        changed = prior(other.view(8, 4, 4)).view(8, 16, 5)
        torch.testing.assert_close(changed[:, i], logits[:, i], rtol=0, atol=1e-12)
        if i + 1 < 16:  # while a later output does move: the check can fail
            assert not torch.allclose(changed[:, i + 1:], logits[:, i + 1:])


def test_a_mask_that_sees_the_centre_in_the_first_layer_leaks():
    prior = small_prior(K=4, code_shape=(3, 3))
    h, w = prior.code_shape
    prior.first.mask.copy_(code_prior.causal_mask((2 * h - 1, 2 * w - 1), include_centre=True)[:h])
    seen = code_prior.dependence(prior, torch.randint(0, 4, (4, 3, 3), generator=torch.Generator().manual_seed(0)))
    assert seen.diagonal().all()  # each output now reads its own input: the future leaks


def test_log_prob_is_a_normalised_distribution_matching_its_conditionals():
    K, code_shape = 3, (2, 2)
    prior = small_prior(K, code_shape)
    maps = all_maps(K, code_shape)  # all 81 maps
    with torch.no_grad():
        log_p = prior.log_prob(maps)
        log_cond = prior(maps).log_softmax(-1).view(len(maps), 4, K)
    assert abs(log_p.exp().sum().item() - 1) < 1e-6
    # brute force: log p(k) = sum_i log p(k_i | k_<i), each conditional the ratio of two marginals
    # sum over completions p(k_<=i, *) / p(k_<i, *) of the enumerated joint
    flat, joint = maps.view(len(maps), 4), log_p.exp()
    for m in range(len(maps)):
        total = 0.0
        for i in range(4):
            before = (flat[:, :i] == flat[m, :i]).all(1)
            upto = before & (flat[:, i] == flat[m, i])
            ratio = joint[upto].sum() / joint[before].sum()
            torch.testing.assert_close(log_cond[m, i, flat[m, i]].exp(), ratio, rtol=1e-9, atol=1e-12)
            total += math.log(ratio)
        assert abs(log_p[m].item() - total) < 1e-9


def test_sampling_is_seeded_and_draws_from_the_tempered_model():
    K, code_shape = 3, (2, 2)
    prior = small_prior(K, code_shape)
    s1 = prior.sample(50, generator=torch.Generator().manual_seed(0))
    s2 = prior.sample(50, generator=torch.Generator().manual_seed(0))
    s3 = prior.sample(50, generator=torch.Generator().manual_seed(1))
    assert s1.shape == (50, 2, 2) and s1.dtype == torch.int64
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)
    maps = all_maps(K, code_shape)
    for temperature in (1.0, 0.5):
        with torch.no_grad():  # the tempered ancestral distribution: prod_i softmax(logits_i / T)[k_i]
            log_cond = (prior(maps) / temperature).log_softmax(-1)
            exact = log_cond.gather(-1, maps.unsqueeze(-1)).flatten(1).sum(1).exp()
            tempered = prior.log_prob(maps, temperature=temperature)
        torch.testing.assert_close(tempered.exp(), exact)  # log_prob at T scores the sampler at T
        assert abs(exact.sum().item() - 1) < 1e-9
        draws = prior.sample(20_000, temperature=temperature, generator=torch.Generator().manual_seed(2))
        index = (draws.view(-1, 4) * torch.tensor([27, 9, 3, 1])).sum(1)  # map -> its row in all_maps
        freq = torch.bincount(index, minlength=len(maps)).double() / len(draws)
        torch.testing.assert_close(freq, exact, atol=0.012, rtol=0)
    assert prior.training is False


def test_bad_input_is_rejected_before_work():
    prior = code_prior.CodePrior(4, (2, 3), width=8)
    for bad, match in [(torch.tensor([[[0, 1, 4], [0, 0, 0]]]), r"in \[0, 4\)"),
                       (torch.tensor([[[0, 1, -1], [0, 0, 0]]]), r"in \[0, 4\)"),
                       (torch.zeros(2, 3, 2, dtype=torch.long), "must have shape"),
                       (torch.zeros(2, 3, dtype=torch.long), "must have shape")]:
        with pytest.raises(ValueError, match=match):
            prior.log_prob(bad)
    with pytest.raises(TypeError, match="integer"):
        prior(torch.zeros(1, 2, 3))
    for temperature in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            prior.sample(3, temperature=temperature)
    with pytest.raises(TypeError, match="temperature must be a number"):
        prior.sample(3, temperature="1")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        prior.log_prob(torch.zeros(1, 2, 3, dtype=torch.long), temperature=0.0)
    with pytest.raises(ValueError, match="code_shape"):
        code_prior.CodePrior(4, (2, 3, 1))


def test_lower_temperature_samples_have_lower_entropy():
    K, code_shape = 3, (2, 2)
    prior, maps = small_prior(K, code_shape), all_maps(K, code_shape)
    entropies = []
    for temperature in (2.0, 1.0, 0.5):
        with torch.no_grad():
            log_q = prior.log_prob(maps, temperature=temperature)
        entropies.append(-(log_q.exp() * log_q).sum().item())  # exact H(q_T) over all 81 maps
        draws = prior.sample(4000, temperature=temperature,
                             generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            estimate = -prior.log_prob(draws, temperature=temperature).mean().item()
        assert abs(estimate - entropies[-1]) < 0.05  # the Monte Carlo estimate the notebook prints
    assert entropies[0] > entropies[1] > entropies[2]


def test_trained_prior_beats_the_independent_one_on_dependent_maps():
    # maps whose four codes are all equal: the independent prior pays log 4 at every position,
    # the autoregressive one only at the first
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (600, 1, 1), generator=g).expand(600, 2, 2).contiguous()
    train_maps, test_maps = codes[:500], codes[500:]
    torch.manual_seed(0)
    prior = code_prior.CodePrior(4, (2, 2), width=16, depth=1, dropout=0.0)
    train.fit(prior, code_prior.prior_loss(), train_maps, steps=150, lr=1e-2, device="cpu", progress=False)
    with torch.no_grad():
        ar_nll = -prior.log_prob(test_maps).mean().item()
    independent = vq.fit_categorical_prior(train_maps, 4, alpha=1.0)
    independent_nll = -vq.categorical_log_prob(independent, test_maps).mean().item()
    assert independent_nll > 4 * math.log(4) - 0.1
    assert ar_nll < math.log(4) + 0.2 < independent_nll


def test_fit_prior_checks_its_maps_and_returns_a_trained_prior_in_eval_mode():
    maps = torch.randint(0, 4, (200, 2, 2), generator=torch.Generator().manual_seed(0))
    prior, history = code_prior.fit_prior(maps, 4, 3, eval_maps=maps[:8], width=8, seed=1)
    assert not prior.training and prior.K == 4 and prior.code_shape == (2, 2)
    assert len(history.eval["loss"]) >= 1
    again, _ = code_prior.fit_prior(maps, 4, 3, eval_maps=maps[:8], width=8, seed=1)
    torch.testing.assert_close(again.log_prob(maps), prior.log_prob(maps))  # seeded
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        code_prior.fit_prior(maps, 3, 3)
    with pytest.raises(TypeError, match="integer"):
        code_prior.fit_prior(maps.float(), 4, 3)
