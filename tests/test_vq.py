"""Vector quantization (vae_course.vq: the functions, VectorQuantizer and VQVAE): quantization
against brute force, the straight-through gradient, which parameters each loss moves, usage
statistics and revived codes, the EMA update, dead-code restarts, the categorical prior, the
priors' table, and benchmarks/vq_prior_mnist.py on the digits."""
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from vae_course import objectives, train, vq


def brute_force_nearest(z_e, codebook):
    indices = []
    for z in z_e:
        distances = [sum((z[d] - e[d]).item() ** 2 for d in range(len(z))) for e in codebook]
        indices.append(min(range(len(codebook)), key=distances.__getitem__))
    return torch.tensor(indices)


def test_nearest_code_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z_e, codebook = torch.randn(40, 3, generator=g), torch.randn(7, 3, generator=g)
    z_q, indices = vq.nearest_code(z_e, codebook)
    expected = brute_force_nearest(z_e, codebook)
    assert torch.equal(indices, expected)
    assert torch.equal(z_q, codebook[expected])


def test_nearest_code_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="z_e must have shape"):
        vq.nearest_code(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="codebook must have 2 dimensions"):
        vq.nearest_code(torch.randn(4, 3), torch.randn(5))


def test_straight_through_copies_the_gradient_to_z_e():
    g = torch.Generator().manual_seed(1)
    z_e = torch.randn(6, 4, generator=g, requires_grad=True)
    codebook = torch.randn(5, 4, generator=g, requires_grad=True)
    z_q, _ = vq.nearest_code(z_e.detach(), codebook)
    out = vq.straight_through(z_e, z_q)
    torch.testing.assert_close(out, z_q)  # the forward value is the quantized vector
    weights = torch.randn(6, 4, generator=g)
    (out.pow(2) * weights).sum().backward()
    # d/dz_e of f(z_q) through the estimator is f'(z_q) = 2 z_q w, and z_q's codebook gets nothing
    torch.testing.assert_close(z_e.grad, 2 * z_q.detach() * weights)
    assert codebook.grad is None or torch.count_nonzero(codebook.grad) == 0


def quantizer_with_encoder(ema_decay=None):
    torch.manual_seed(0)
    encoder = nn.Conv2d(1, 3, 1)
    quantizer = vq.VectorQuantizer(6, 3, ema_decay=ema_decay)
    with torch.no_grad():
        quantizer.codebook.normal_()
    return encoder, quantizer, torch.rand(4, 1, 5, 5)


def grads(loss, encoder, quantizer):
    params = [encoder.weight, quantizer.codebook]
    return torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)


def is_zero(grad):
    return grad is None or torch.count_nonzero(grad) == 0


def test_decoder_gradient_reaches_the_encoder_through_the_quantizer():
    encoder, quantizer, x = quantizer_with_encoder()
    out = quantizer(encoder(x))
    g_encoder, g_codebook = grads(out.z_q.sum(), encoder, quantizer)
    assert not is_zero(g_encoder)
    assert is_zero(g_codebook)


def test_codebook_loss_moves_only_the_codebook_and_commitment_only_the_encoder():
    encoder, quantizer, x = quantizer_with_encoder()
    out = quantizer(encoder(x))
    g_encoder, g_codebook = grads(out.codebook_loss, encoder, quantizer)
    assert is_zero(g_encoder) and not is_zero(g_codebook)
    g_encoder, g_codebook = grads(out.commitment_loss, encoder, quantizer)
    assert not is_zero(g_encoder) and is_zero(g_codebook)


def test_losses_are_per_example_sums_of_squared_distances():
    encoder, quantizer, x = quantizer_with_encoder()
    z_e = encoder(x)
    out = quantizer(z_e)
    expected = sum(((z_e[b] - out.z_q[b]) ** 2).sum() for b in range(len(x))) / len(x)
    torch.testing.assert_close(out.codebook_loss, expected)
    torch.testing.assert_close(out.commitment_loss, expected)


def test_code_usage_perplexity_and_dead_codes():
    K = 8
    uniform = vq.code_usage(torch.arange(K).repeat(3), K)
    assert math.isclose(vq.perplexity(uniform).item(), K, rel_tol=1e-6)
    assert vq.dead_codes(uniform) == 0
    single = vq.code_usage(torch.full((10,), 3), K)
    assert math.isclose(vq.perplexity(single).item(), 1.0, rel_tol=1e-6)
    assert vq.dead_codes(single) == K - 1
    indices = torch.tensor([[0, 1], [1, 1]])
    torch.testing.assert_close(vq.code_usage(indices, 3), torch.tensor([0.25, 0.75, 0.0]))
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert math.isclose(vq.perplexity(vq.code_usage(indices, 3)).item(), math.exp(h), rel_tol=1e-6)


def test_usage_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"values in \[0, 4\)"):
        vq.code_usage(torch.tensor([0, 4]), 4)
    with pytest.raises(TypeError, match="indices must hold integers"):
        vq.code_usage(torch.tensor([0.0, 1.0]), 4)
    with pytest.raises(TypeError, match="K must be an int"):
        vq.code_usage(torch.tensor([0, 1]), 4.0)
    with pytest.raises(ValueError, match="sum to 1"):
        vq.perplexity(torch.tensor([0.5, 0.6]))


def test_ema_update_with_no_memory_is_a_k_means_step():
    g = torch.Generator().manual_seed(2)
    z_e, codebook = torch.randn(30, 2, generator=g), torch.randn(4, 2, generator=g)
    _, indices = vq.nearest_code(z_e, codebook)
    state = {"counts": torch.ones(4), "sums": codebook.clone()}
    new = vq.ema_codebook_update(state, z_e, indices, decay=0.0, eps=0.0)
    for k in range(4):
        members = [z_e[n] for n in range(len(z_e)) if indices[n] == k]
        if members:
            torch.testing.assert_close(new[k], torch.stack(members).mean(0))


def test_ema_quantizer_has_no_codebook_loss_and_moves_codes_towards_their_data():
    encoder, quantizer, x = quantizer_with_encoder(ema_decay=0.5)
    assert not isinstance(quantizer.codebook, nn.Parameter)
    before = quantizer.codebook.clone()
    quantizer.train()
    z_e = encoder(x).detach()
    out = quantizer(z_e)
    assert out.codebook_loss.item() == 0.0
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    used = out.indices.flatten()
    for k in used.unique():
        mean = flat[used == k].mean(0)
        assert (quantizer.codebook[k] - mean).norm() < (before[k] - mean).norm()


def test_restart_moves_only_dead_codes_onto_encoder_outputs():
    g = torch.Generator().manual_seed(3)
    codebook, z_e = torch.randn(5, 2, generator=g), torch.randn(20, 2, generator=g)
    before = codebook.clone()
    moved = vq.restart_dead_codes(codebook, torch.tensor([3.0, 0.0, 1.0, 0.0, 2.0]), z_e)
    assert moved.tolist() == [1, 3]
    assert torch.equal(codebook[[0, 2, 4]], before[[0, 2, 4]])
    for k in (1, 3):
        assert any(torch.equal(codebook[k], z) for z in z_e)


def test_quantizer_restarts_dead_codes_during_training():
    torch.manual_seed(0)
    quantizer = vq.VectorQuantizer(16, 2, restart_every=2).train()
    z_e = torch.randn(8, 2, 3, 3) + 5.0  # far from the initial codebook: one code wins everything
    for _ in range(3):
        out = quantizer(z_e)
    assert quantizer.restarts >= 15  # all but the winning code were moved
    assert vq.dead_codes(vq.code_usage(out.indices, 16)) < 15


def brute_force_revived(used):
    T, K = used.shape
    return sum(any(not used[t, k] and used[u, k] for t in range(T) for u in range(t + 1, T))
               for k in range(K))


def test_revived_codes_counts_codes_dead_at_one_checkpoint_and_used_at_a_later_one():
    used = torch.tensor([[1, 0, 1, 0, 1, 0],
                         [1, 1, 0, 0, 1, 0],
                         [1, 1, 0, 1, 0, 0]], dtype=torch.bool)
    # code 0 always used, 1 and 3 come back, 2 and 4 die for good, 5 is never used
    assert vq.revived_codes(used) == 2
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        random = torch.rand(5, 7, generator=g) < 0.5
        assert vq.revived_codes(random) == brute_force_revived(random)
    assert vq.revived_codes(used[:1]) == 0  # one checkpoint: nothing can come back
    with pytest.raises(TypeError, match="bool tensor"):
        vq.revived_codes(used.long())
    with pytest.raises(ValueError, match="used must have 2 dimensions"):
        vq.revived_codes(used[0])


def test_usage_checkpoints_record_the_codes_in_use_without_changing_training():
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))

    def trained(wrap):
        torch.manual_seed(0)
        model = vq.VQVAE((1, 8, 8), K=16, D=4, width=8, restart_every=5)
        loss_fn, record = (vq.usage_checkpoints(vq.vqvae_loss(), x, every=4) if wrap
                           else (vq.vqvae_loss(), {}))
        train.fit(model, loss_fn, x, steps=10, batch_size=16, eval_data=x[:8], eval_every=2,
                  progress=False)
        return model, loss_fn, record

    plain, _, _ = trained(wrap=False)
    model, loss_fn, record = trained(wrap=True)
    assert list(record) == [0, 4, 8]
    loss_fn(model.eval(), x[:8], 12)  # as in a held-out evaluation: eval mode records nothing
    assert list(record) == [0, 4, 8]
    for a, b in zip(plain.parameters(), model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(plain.quantizer.codebook, model.quantizer.codebook)
    torch.manual_seed(0)
    fresh = vq.VQVAE((1, 8, 8), K=16, D=4, width=8)  # the model at step 0, before any update
    assert torch.equal(record[0], vq.code_usage(fresh.codes(x), 16) > 0)
    assert all(used.dtype == torch.bool and used.shape == (16,) for used in record.values())
    with pytest.raises(ValueError, match="every must be"):
        vq.usage_checkpoints(vq.vqvae_loss(), x, every=0)


def test_categorical_prior_counts_and_samples():
    indices = torch.tensor([[[0, 1]], [[0, 2]], [[1, 2]], [[0, 2]]])  # (N=4, h=1, w=2)
    probs = vq.fit_categorical_prior(indices, K=3)
    torch.testing.assert_close(probs, torch.tensor([[[0.75, 0.25, 0.0], [0.0, 0.25, 0.75]]]))
    smoothed = vq.fit_categorical_prior(indices, K=3, alpha=1.0)
    torch.testing.assert_close(smoothed[0, 0], torch.tensor([4.0, 2.0, 1.0]) / 7)
    samples = vq.sample_categorical_prior(probs, 20_000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20_000, 1, 2)
    torch.testing.assert_close(vq.fit_categorical_prior(samples, K=3), probs, atol=0.015, rtol=0)


@pytest.mark.parametrize("shape,downsample,code_shape", [((1, 8, 8), 1, (4, 4)), ((1, 28, 28), 2, (7, 7))])
def test_vqvae_shapes(shape, downsample, code_shape):
    torch.manual_seed(0)
    model = vq.VQVAE(shape, K=10, D=4, downsample=downsample, width=8)
    x = torch.rand(3, *shape)
    assert model(x).shape == x.shape
    codes = model.codes(x)
    assert codes.shape == (3, *code_shape) and codes.max() < 10
    assert model.decode_indices(codes).shape == x.shape
    with pytest.raises(ValueError, match="multiples of 2"):
        vq.VQVAE((1, 10, 10), downsample=2)


def test_vqvae_loss_is_reconstruction_plus_both_vq_terms():
    torch.manual_seed(0)
    model = vq.VQVAE((1, 8, 8), K=8, D=4, width=8)
    x = torch.rand(5, 1, 8, 8)
    loss, logs = vq.vqvae_loss(beta=0.5)(model, x, 0)
    torch.testing.assert_close(loss, logs["recon"] + logs["codebook"] + 0.5 * logs["commitment"])
    logits = model.decoder(model.quantize(model.encode(x)).z_q)
    recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    torch.testing.assert_close(logs["recon"], recon)
    assert 1.0 <= logs["perplexity"].item() <= 8.0


def test_categorical_log_prob_is_the_sum_of_log_probabilities_per_position():
    probs = vq.fit_categorical_prior(torch.tensor([[[0, 1]], [[0, 2]], [[1, 2]], [[0, 2]]]), K=3, alpha=0.5)
    maps = torch.tensor([[[0, 2]], [[1, 1]]])
    expected = torch.stack([probs[0, 0, 0].log() + probs[0, 1, 2].log(), probs[0, 0, 1].log() + probs[0, 1, 1].log()])
    torch.testing.assert_close(vq.categorical_log_prob(probs, maps), expected)
    every = torch.tensor([[[a, b]] for a in range(3) for b in range(3)])
    assert math.isclose(vq.categorical_log_prob(probs, every).exp().sum().item(), 1.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match=r"values in \[0, 3\)"):
        vq.categorical_log_prob(probs, torch.tensor([[[0, 3]]]))
    with pytest.raises(ValueError, match="must have shape"):
        vq.categorical_log_prob(probs, torch.tensor([[0, 1]]))


def test_jittered_codes_are_seeded_near_synonyms_of_the_codes():
    torch.manual_seed(0)
    model = vq.VQVAE((1, 8, 8), K=16, D=4, width=8)
    with torch.no_grad():
        model.quantizer.codebook.normal_()
    x = torch.rand(10, 1, 8, 8)
    assert torch.equal(vq.jittered_codes(model, x, 3, 0.0), model.codes(x).repeat(3, 1, 1))
    a = vq.jittered_codes(model, x, 4, 0.5, generator=torch.Generator().manual_seed(0))
    b = vq.jittered_codes(model, x, 4, 0.5, generator=torch.Generator().manual_seed(0))
    assert a.shape == (40, 4, 4) and torch.equal(a, b)
    changed = (a != model.codes(x).repeat(4, 1, 1)).float().mean().item()
    assert 0.0 < changed < 1.0
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        vq.jittered_codes(model, x, 2, -0.1)


def test_vqvae_elbo_is_one_term_of_the_exact_sum_over_code_maps():
    torch.manual_seed(0)
    model = vq.VQVAE((1, 2, 2), K=5, D=2, width=4).eval()  # a 1x1 code map: p(x) sums over 5 maps
    with torch.no_grad():
        model.quantizer.codebook.normal_()
    probs = torch.tensor([[[0.1, 0.2, 0.3, 0.15, 0.25]]])
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]], [[[0.0, 0.0], [1.0, 0.0]]]])
    out = vq.vqvae_elbo(model, x, lambda k: vq.categorical_log_prob(probs, k))
    with torch.no_grad():
        every = torch.arange(5).view(5, 1, 1)
        logits = model.decoder(model.quantizer.codebook[every].permute(0, 3, 1, 2))  # (5, 1, 2, 2)
        log_px_k = torch.stack([objectives.log_bernoulli(xi.expand(5, -1, -1, -1), logits).flatten(1).sum(1) for xi in x])
    log_px = torch.logsumexp(log_px_k + probs.log().view(1, 5), 1)  # exact log p(x)
    k_star = model.codes(x).flatten()
    torch.testing.assert_close(out["log p(x|k)"], log_px_k[torch.arange(2), k_star])
    torch.testing.assert_close(out["log p(k)"], probs.view(5).log()[k_star])
    torch.testing.assert_close(out["elbo"], out["log p(x|k)"] + out["log p(k)"])
    assert (out["elbo"] <= log_px + 1e-6).all()
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, 1, 1, 2, 2)
    with torch.no_grad():  # each p(x | k) sums to 1 over the 16 binary images, so p(x) does too
        per_code = torch.stack([objectives.log_bernoulli(image, logits).flatten(1).sum(1) for image in images]).exp().sum(0)
    torch.testing.assert_close(per_code, torch.ones(5))
    other = (k_star + 1) % 5  # any code map gives a bound, here the wrong one
    given = vq.vqvae_elbo(model, x, lambda k: vq.categorical_log_prob(probs, k), codes=other.view(2, 1, 1))
    torch.testing.assert_close(given["elbo"], log_px_k[torch.arange(2), other] + probs.view(5).log()[other])
    assert (given["elbo"] <= log_px + 1e-6).all()
    with pytest.raises(ValueError, match="binary images"):
        vq.vqvae_elbo(model, torch.full((1, 1, 2, 2), 0.5), lambda k: vq.categorical_log_prob(probs, k))
    with pytest.raises(ValueError, match="codes must have shape"):
        vq.vqvae_elbo(model, x, lambda k: vq.categorical_log_prob(probs, k), codes=torch.zeros(3, 1, 1, dtype=torch.long))


def test_prior_table_lists_each_priors_nll_and_bound_terms():
    torch.manual_seed(0)
    model = vq.VQVAE((1, 4, 4), K=5, D=2, width=4).eval()
    x = (torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    codes = model.codes(x)
    uniform = torch.full((2, 2, 5), 0.2)
    skewed = vq.fit_categorical_prior(codes, 5, alpha=0.5)
    log_priors = {"uniform": lambda k: vq.categorical_log_prob(uniform, k),
                  "skewed": lambda k: vq.categorical_log_prob(skewed, k)}
    table = vq.prior_table(model, x, codes, log_priors)
    assert math.isclose(table["uniform"]["held-out NLL"], 4 * math.log(5), rel_tol=1e-6)
    for name, log_prior in log_priors.items():
        row, bound = table[name], vq.vqvae_elbo(model, x, log_prior, codes=codes)
        assert math.isclose(row["held-out NLL"], -log_prior(codes).mean().item(), rel_tol=1e-6)
        assert math.isclose(row["log p(k*)"], -row["held-out NLL"], rel_tol=1e-6)
        assert math.isclose(row["log p(x|k*)"], bound["log p(x|k)"].mean().item(), rel_tol=1e-6)
        assert math.isclose(row["bound"], row["log p(x|k*)"] + row["log p(k*)"], rel_tol=1e-5)
    gain = table["uniform"]["held-out NLL"] - table["skewed"]["held-out NLL"]
    assert gain > 0  # fitted to these maps, the skewed prior gives them more probability
    assert math.isclose(table["skewed"]["bound"] - table["uniform"]["bound"], gain, rel_tol=1e-4)


def test_the_benchmark_prints_the_product_target_on_digits():
    # the README's command, briefly: notebook 12's recipe on the digits with a few steps each
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "vq_prior_mnist.py"
    args = ["--data", "digits", "--vq-steps", "3", "--prior-steps", "2", "--copies", "1",
            "--classifier-steps", "3", "--threads", "1"]
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "VAE_COURSE_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("[proof]")]
    target = [line for line in lines if "the product target" in line]
    assert len(target) == 1 and "PixelCNN, T = 1: sample confidence" in target[0]
    assert "met" in target[0].split("->")[-1]
    for name in ["independent", "PixelCNN"]:
        assert any(line.startswith(f"[proof] {name}: held-out NLL of code maps") for line in lines)
        assert any(line.startswith(f"[proof] {name}: bound log p(x|k*)") for line in lines)
