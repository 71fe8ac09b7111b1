"""Checks for exercise 12 (vector quantization): nearest-code quantization, the
straight-through estimator and the causal mask of a PixelCNN prior; then the reference solution
over the docstrings' domain: N = 1 and odd, K = 1 and more, codebooks with repeated rows (any
nearest row will do), float32 and float64; straight-through on any shape, the gradient reaching
z_e unchanged and none reaching z_q; every odd kernel size from 1 to 15, with and without the
centre."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import code_prior, vq
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import (batch_sizes, differential, dtypes, expect_gradients, expect_same,
                                                     reference, tensors)


def check_quantize(module) -> None:
    """Indices and vectors equal vq.nearest_code's; each z_q is a codebook row no farther than any other."""
    g = torch.Generator().manual_seed(0)
    z_e, codebook = torch.randn(50, 4, generator=g), torch.randn(9, 4, generator=g)
    z_q, indices = expect_tuple("quantize(z_e, codebook)", module.quantize(z_e, codebook), 2, "(z_q, indices)")
    expect_tensor("z_q", z_q, (50, 4))
    expect_tensor("indices", indices, (50,))
    expect_true(not indices.is_floating_point(), f"indices must be integers, got {indices.dtype}")
    expect_tensor("indices", indices, dtype=torch.int64)
    ref_q, ref_indices = vq.nearest_code(z_e, codebook)
    expect_close("indices", indices, ref_indices, atol=0)
    expect_close("z_q", z_q, ref_q, atol=0)
    differential("quantize", module.quantize, reference("12", "quantize"), _code_cases(), compare=_same_codes,
                 grads=("codebook",), parts=("z_q", "indices"))


@st.composite
def _code_cases(draw) -> dict:
    k, d, dtype = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(dtypes)
    codebook = draw(tensors((k, d), dtype))
    if draw(st.booleans()):  # repeated rows: ties
        codebook = codebook[torch.arange(k) % max(1, k // 2)]
    return {"z_e": draw(tensors((draw(batch_sizes), d), dtype)), "codebook": codebook}


def _same_codes(name, got, expected, case) -> None:
    """Types, dtypes and shapes as the reference's; each index picks a nearest row (any of tied
    ones), and z_q is that row."""
    got = expect_tuple(name, got, 2, "(z_q, indices)")
    expect_tensor("indices", got[1], tuple(expected[1].shape), dtype=expected[1].dtype)
    expect_same("z_q", got[0], expected[0])  # dtype and shape; values checked below with your indices
    z_e, codebook, indices = case["z_e"].double(), case["codebook"].double(), got[1]
    expect_true(bool(((indices >= 0) & (indices < len(codebook))).all()),
                f"indices must lie in [0, K) = [0, {len(codebook)}), got {indices.tolist()}")
    distances = (z_e[:, None] - codebook[None]).pow(2).sum(-1)  # (N, K)
    nearest, chosen = distances.min(1).values, distances.gather(1, indices[:, None])[:, 0]
    far = (chosen > nearest * (1 + 1e-5) + 1e-6).nonzero().flatten().tolist()
    if far:
        i = far[0]
        raise AssertionError(f"indices: row {i} of z_e is nearest to code {int(distances[i].argmin())} (squared "
                             f"distance {nearest[i].item():.4g}), but your index {int(indices[i])} is at squared "
                             f"distance {chosen[i].item():.4g} (argmin, over the codebook axis?)")
    expect_close("z_q (the codebook rows of your indices)", got[0], case["codebook"][indices], atol=0, rtol=0)


def check_straight_through(module) -> None:
    """Value z_q; the gradient of a loss of the output reaches z_e unchanged and not the codebook."""
    g = torch.Generator().manual_seed(1)
    z_e = torch.randn(6, 3, generator=g, requires_grad=True)
    codebook = torch.randn(4, 3, generator=g, requires_grad=True)
    z_q, _ = vq.nearest_code(z_e.detach(), codebook)
    out = expect_tensor("straight_through(z_e (6, 3), z_q (6, 3))", module.straight_through(z_e, z_q), (6, 3))
    expect_close("straight_through value (must equal z_q)", out, z_q.detach())
    weights = torch.randn(6, 3, generator=g)
    grads = expect_gradients("straight_through", out * weights, {"z_e": z_e, "codebook": codebook}, weighted=False,
                             required=("z_e",))
    expect_true(grads["codebook"] is None or not grads["codebook"].any(),
                "the codebook got a gradient through straight_through: detach (z_q - z_e)")
    expect_close("gradient reaching z_e (must be the output's gradient, copied)", grads["z_e"], weights)
    differential("straight_through", module.straight_through, reference("12", "straight_through"), _pair_cases(),
                 grads=("z_e",), must_not=("z_q",))


@st.composite
def _pair_cases(draw) -> dict:
    shape, dtype = draw(st.lists(st.integers(1, 3), max_size=3)), draw(dtypes)
    return {"z_e": draw(tensors(shape, dtype)), "z_q": draw(tensors(shape, dtype))}


def _mask(module, kernel_size: int, include_centre: bool) -> torch.Tensor:
    what = f"causal_mask({kernel_size}, include_centre={include_centre})"
    mask = expect_tensor(what, module.causal_mask(kernel_size, include_centre), (kernel_size, kernel_size))
    expect_true(mask.is_floating_point(), f"{what}: expected a float tensor of 0s and 1s, got dtype {mask.dtype}")
    expect_true(bool(((mask == 0) | (mask == 1)).all()), f"{what}: every entry must be 0 or 1, got {mask.unique().tolist()}")
    c = kernel_size // 2
    expect_true(not mask[c + 1:].any(), f"{what} has 1s below the centre row: those positions come later in raster "
                "order, so the future leaks")
    return mask.detach().float()


def check_causal_mask(module) -> None:
    """Inside a PixelCNN prior over 4x4 maps (mask A 7x7 first, masks B 3x3 after it), measured with
    code_prior.dependence: no output reads its own or a later position, and every earlier one is read;
    then the masks equal code_prior.causal_mask for kernel sizes 1 to 7."""
    torch.manual_seed(0)
    prior = code_prior.CodePrior(8, (4, 4), width=8, depth=2).eval()
    with torch.no_grad():
        prior.first.mask.copy_(_mask(module, 7, False)[:4])
        for layer in prior.layers:
            layer.mask.copy_(_mask(module, 3, True)[:2])
    codes = torch.randint(0, 8, (4, 4, 4), generator=torch.Generator().manual_seed(0))
    seen = code_prior.dependence(prior, codes, generator=torch.Generator().manual_seed(1))
    leaks = seen.triu().nonzero().tolist()
    expect_true(not leaks, f"the future leaks: the output at position i reads the code at position j >= i for "
                f"(i, j) = {leaks[:4]} (raster order, 4x4 map); mask A must not keep the centre, and no mask may keep "
                "anything right of the centre on the centre row")
    missed = (~seen).tril(-1).nonzero().tolist()
    expect_true(not missed, f"blind spot: the output at position i never reads the earlier position j for (i, j) = "
                f"{missed[:4]}; keep every row above the centre and the whole centre row left of the centre")
    for kernel_size in (1, 3, 5, 7):
        for include_centre in (False, True):
            expect_close(f"causal_mask({kernel_size}, include_centre={include_centre})",
                         _mask(module, kernel_size, include_centre),
                         code_prior.causal_mask(kernel_size, include_centre), atol=0, rtol=0)
    differential("causal_mask", module.causal_mask, reference("12", "causal_mask"),
                 st.fixed_dictionaries({"kernel_size": st.sampled_from(range(1, 16, 2)),
                                        "include_centre": st.booleans()}), atol=0, rtol=0, max_examples=16)


TASKS = [
    ("1. nearest-code quantization", check_quantize),
    ("2. the straight-through estimator", check_straight_through),
    ("3. the causal mask of a PixelCNN prior", check_causal_mask),
]
