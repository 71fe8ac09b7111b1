"""Checks for exercise 03 (corruption processes): statistics on large seeded inputs, edge
levels, and equality with ``vae_course.corruption.corrupt`` under the same generator; then the
reference solution over the docstrings' domain: x of any shape (a batch of 1, C > 1, 1 to 4
dimensions), float32 and float64, values in [0, 1] with 0 and 1 themselves; levels 0, 1 and
between (and above 1 for Gaussian noise); for ``corrupt`` also every bad kind and level, whose
ValueError must name what was wrong."""
from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from vae_course import corruption
from vae_course.exercise_checks.common import expect_accepts, expect_close, expect_raises, expect_tensor, expect_true
from vae_course.exercise_checks.differential import differential, dtypes, reference, seeds, tensors

N = 200_000  # pixels: observed fractions lie within 4 standard errors of the truth


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fraction(name: str, got: float, expected: float, n: int = N) -> None:
    tol = 4 * math.sqrt(expected * (1 - expected) / n)
    expect_true(abs(got - expected) <= tol, f"{name}: expected about {expected:.4f} (+- {tol:.4f}), got {got:.4f}")


def _same_as_course(fn, kind: str, level: float) -> None:
    """Reproducible with the generator, then equal to the course's own draw (checked in that order:
    the first message says "use the generator", the second "draw in the docstring's order")."""
    x = torch.rand(6, 1, 8, 8, generator=_gen(7))  # four dimensions: the process must work on any shape
    got = expect_tensor(f"{fn.__name__}(x (6, 1, 8, 8), {level})", fn(x, level, _gen(3)), tuple(x.shape))
    expect_close(f"{fn.__name__}(x, {level}) twice with equally seeded generators (draw with "
                 "generator=generator, not the global random state)", fn(x, level, _gen(3)), got, atol=0, rtol=0)
    expect_close(f"{fn.__name__}(x, {level}) with the generator seeded 3 (draw in the order the docstring says)",
                 got, corruption.corrupt(x, kind, level, _gen(3)))


def _independent(name: str, out: torch.Tensor) -> None:
    """Each pixel gets its own noise: the columns of out (n, 2) are uncorrelated."""
    corr = torch.corrcoef(out.T.double())[0, 1].item()
    tol = 5 / math.sqrt(len(out))
    expect_true(abs(corr) < tol, f"{name}: neighbouring pixels got correlated noise (correlation {corr:.3f}, "
                                 f"expected |corr| < {tol:.3f}): draw one random number per pixel, of x's shape")


@st.composite
def _images(draw) -> torch.Tensor:
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    return draw(tensors(shape, draw(dtypes), low=0.0, high=1.0, edges=(0.0, 1.0)))


PROBABILITIES = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))


def _noise_cases(levels: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({"x": _images(), "level": levels, "generator": seeds})


def _same_as_reference(m, name: str, levels: st.SearchStrategy) -> None:
    differential(name, getattr(m, name), reference("03", name), _noise_cases(levels), atol=1e-6, rtol=0)


def _unchanged_at_zero(fn) -> None:
    x = torch.rand(3, 1, 4, 4, generator=_gen(5))
    expect_close(f"{fn.__name__}(x, 0) (level 0 leaves the image unchanged)", fn(x, 0.0, _gen()), x, atol=0, rtol=0)


def check_gaussian(m) -> None:
    x = torch.full((N,), 0.5)
    out = expect_tensor("gaussian_noise(x, 0.1)", m.gaussian_noise(x, 0.1, _gen()), (N,))
    expect_close("mean of gaussian_noise(0.5, level=0.1)", out.mean(), 0.5, atol=4 * 0.1 / math.sqrt(N), rtol=0)
    expect_close("std of gaussian_noise(0.5, level=0.1) (should be level)", out.std(), 0.1, atol=0.001, rtol=0)
    _independent("gaussian_noise(x (N/2, 2), 0.1)", m.gaussian_noise(x.reshape(-1, 2), 0.1, _gen()))
    clipped = m.gaussian_noise(x, 1.0, _gen())
    expect_true(clipped.min() >= 0 and clipped.max() <= 1,
                f"values must be clipped to [0, 1], got range [{clipped.min():.3f}, {clipped.max():.3f}]")
    _fraction("fraction clipped to 0 at level 1 (= P(eps < -0.5))", (clipped == 0).float().mean().item(),
              0.5 * (1 + math.erf(-0.5 / math.sqrt(2))))
    _unchanged_at_zero(m.gaussian_noise)
    _same_as_course(m.gaussian_noise, "gaussian", 0.3)
    _same_as_reference(m, "gaussian_noise", st.one_of(st.sampled_from([0.0, 1.0, 2.5]), st.floats(0.0, 3.0)))


def check_masking(m) -> None:
    x = torch.full((N,), 0.6)
    out = expect_tensor("masking_noise(x, 0.3)", m.masking_noise(x, 0.3, _gen()), (N,))
    _fraction("fraction of pixels zeroed at level 0.3", (out == 0).float().mean().item(), 0.3)
    expect_true(bool(torch.all((out == 0) | (out == x))), "pixels that are not zeroed must keep their value")
    _independent("masking_noise(x (N/2, 2), 0.5)", m.masking_noise(x.reshape(-1, 2), 0.5, _gen()))
    _unchanged_at_zero(m.masking_noise)
    expect_close("masking_noise at level 1 (everything masked)", m.masking_noise(x[:10], 1.0, _gen()),
                 torch.zeros(10), atol=0, rtol=0)
    _same_as_course(m.masking_noise, "masking", 0.4)
    _same_as_reference(m, "masking_noise", PROBABILITIES)


def check_salt_and_pepper(m) -> None:
    x = torch.full((N,), 0.5)
    out = expect_tensor("salt_and_pepper_noise(x, 0.4)", m.salt_and_pepper_noise(x, 0.4, _gen()), (N,))
    expect_true(bool(torch.all((out == 0) | (out == 1) | (out == x))), "every pixel must be 0, 1 or unchanged")
    hit = out != x
    _fraction("fraction of pixels replaced at level 0.4", hit.float().mean().item(), 0.4)
    _fraction("fraction of replaced pixels set to 1 (salt)", (out[hit] == 1).float().mean().item(), 0.5,
              n=int(hit.sum()))
    _independent("salt_and_pepper_noise(x (N/2, 2), 1.0)", m.salt_and_pepper_noise(x.reshape(-1, 2), 1.0, _gen()))
    _unchanged_at_zero(m.salt_and_pepper_noise)
    _same_as_course(m.salt_and_pepper_noise, "salt_and_pepper", 0.3)
    _same_as_reference(m, "salt_and_pepper_noise", PROBABILITIES)


def check_corrupt(m) -> None:
    x = torch.rand(6, 1, 8, 8, generator=_gen(7))
    expect_raises(lambda: m.corrupt(x, "blur", 0.1), ValueError, "kind='blur'", names=("blur",))
    for kind in corruption.KINDS:
        expect_raises(lambda: m.corrupt(x, kind, -0.1), ValueError, f"{kind} with the negative level -0.1",
                      names=("-0.1",))
    expect_raises(lambda: m.corrupt(x, "masking", 1.5), ValueError, "masking with level 1.5 > 1", names=("1.5",))
    expect_raises(lambda: m.corrupt(x, "salt_and_pepper", 1.5), ValueError, "salt and pepper with level 1.5 > 1",
                  names=("1.5",))
    expect_tensor("corrupt(x, 'gaussian', 1.5) (a std may exceed 1)", m.corrupt(x, "gaussian", 1.5, _gen()),
                  tuple(x.shape))
    for kind in corruption.KINDS:
        what = f"corrupt(x, {kind!r}, 0) (level 0 is allowed and changes nothing)"
        expect_close(what, expect_accepts(lambda: m.corrupt(x, kind, 0.0, _gen()), what), x, atol=0, rtol=0)
    what = "corrupt(x, 'masking', 1) (level 1 is allowed: everything masked)"
    expect_close(what, expect_accepts(lambda: m.corrupt(x, "masking", 1.0, _gen()), what), torch.zeros_like(x),
                 atol=0, rtol=0)
    for kind in corruption.KINDS:
        expect_close(f"corrupt(x, {kind!r}, 0.3) with the generator seeded 3", m.corrupt(x, kind, 0.3, _gen(3)),
                     corruption.corrupt(x, kind, 0.3, _gen(3)))
    differential("corrupt", m.corrupt, reference("03", "corrupt"), _corrupt_cases(), mentions=_bad_argument,
                 promise="the docstring: ValueError for another kind, a level < 0, or a probability > 1, "
                         "naming the bad kind or level", atol=1e-6, rtol=0, max_examples=60)


@st.composite
def _corrupt_cases(draw) -> dict:
    kind = draw(st.one_of(st.sampled_from(corruption.KINDS), st.sampled_from(["blur", "Gaussian", "", "mask"])))
    level = draw(st.one_of(st.sampled_from([-0.1, 0, 1, 1.5, -2.0]), st.floats(-1.0, 2.0)))
    return {"x": draw(_images()), "kind": kind, "level": level, "generator": draw(seeds)}


def _bad_argument(case: dict) -> list:
    """What corrupt's ValueError must name: the kind if it is unknown, else the level."""
    return [case["kind"]] if case["kind"] not in corruption.KINDS else [case["level"]]


TASKS = [
    ("1. additive Gaussian noise, clipped to [0, 1]", check_gaussian),
    ("2. masking noise", check_masking),
    ("3. salt-and-pepper noise", check_salt_and_pepper),
    ("4. corrupt: choose the process by name, reject bad arguments", check_corrupt),
]
