"""Checks for exercise 11 (one-hot conditioning): the one-hot code and the conditioned input; then
the reference solution over the docstrings' domain: labels of every integer dtype (int8, int16,
int32, int64, uint8), empty batches, batches of 1 and odd sizes, unsorted and repeated labels;
out-of-range labels (ValueError naming the range and the bad values), float and boolean labels
and Python lists (TypeError); x of 2 to 4 dimensions, float32 and float64, with its gradient."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import models
from vae_course.exercise_checks.common import expect_accepts, expect_close, expect_raises, expect_tensor, expect_true
from vae_course.exercise_checks.differential import differential, dtypes, reference, tensors


def check_one_hot(module) -> None:
    """Equals models.one_hot on random labels, float32 as the docstring says; int32 labels and an
    empty batch work; out-of-range labels raise ValueError, float and boolean labels TypeError."""
    y = torch.randint(0, 7, (12,), generator=torch.Generator().manual_seed(0))
    got = expect_tensor("one_hot(y (12,), 7)", module.one_hot(y, 7), (12, 7))
    expect_true(got.is_floating_point(), f"one_hot must return floats (for a dense layer), got {got.dtype}")
    expect_tensor("one_hot(y, 7)", got, dtype=torch.float32)
    expect_close("one_hot(y, 7)", got, models.one_hot(y, 7), atol=0, rtol=0)
    what = "one_hot of int32 labels (any integer dtype is a label)"
    expect_close(what, expect_accepts(lambda: module.one_hot(y.int(), 7), what), models.one_hot(y, 7), atol=0, rtol=0)
    what = "one_hot of an empty batch, torch.tensor([], dtype=torch.int64)"
    empty = expect_accepts(lambda: module.one_hot(torch.tensor([], dtype=torch.int64), 7), what)
    expect_tensor(what, empty, (0, 7))
    for bad, value in (([0, 9], "9"), ([-3, 1], "-3")):
        expect_raises(lambda: module.one_hot(torch.tensor(bad), 7), ValueError,
                      f"one_hot(torch.tensor({bad}), 7) (labels must lie in [0, 7))", names=("7", value))
    expect_raises(lambda: module.one_hot(torch.tensor([0.0, 1.0]), 7), TypeError, "float labels")
    expect_raises(lambda: module.one_hot(torch.tensor([True, False]), 7), TypeError,
                  "boolean labels (a mask, not class numbers)")
    expect_raises(lambda: module.one_hot([0, 1], 7), TypeError, "a Python list [0, 1] (not a tensor)")
    differential("one_hot", module.one_hot, reference("11", "one_hot"), _label_cases(), mentions=_range_and_values,
                 promise="the docstring: ValueError naming the allowed range and the bad values, TypeError for "
                         "labels that are not an integer tensor", max_examples=60)


INTEGER_TYPES = [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]
N_CLASSES = st.one_of(st.integers(1, 9), st.sampled_from([200, 300]))  # labels past int8's 127 and uint8's 255


@st.composite
def _labels(draw, n_classes: int, batch: int, valid: bool) -> object:
    """y (batch,) of integer labels in [0, n_classes) of any integer dtype (each label one the
    dtype can hold); or, unless ``valid``, a label out of range, float or boolean labels, or a
    Python list."""
    bad_kinds = st.sampled_from(["out of range", "float", "bool", "list"])
    kind = "labels" if valid else draw(st.one_of(st.just("labels"), bad_kinds))  # half of them valid
    dtype = draw(st.sampled_from(INTEGER_TYPES))
    info = torch.iinfo(dtype)
    values = draw(st.lists(st.integers(0, min(n_classes, info.max + 1) - 1), min_size=batch, max_size=batch))
    bad = [v for v in (-3, n_classes, n_classes + 4) if info.min <= v <= info.max and not 0 <= v < n_classes]
    if kind == "out of range" and batch and bad:
        values[draw(st.integers(0, batch - 1))] = draw(st.sampled_from(bad))
    if kind == "list":
        return values
    y = torch.tensor(values, dtype=torch.int64)
    return y.float() if kind == "float" else y.bool() if kind == "bool" else y.to(dtype)


@st.composite
def _label_cases(draw) -> dict:
    n_classes, batch = draw(N_CLASSES), draw(st.sampled_from([0, 1, 2, 3, 5, 8]))
    return {"y": draw(_labels(n_classes, batch, valid=False)), "n_classes": n_classes}


def _range_and_values(case: dict) -> list:
    """What one_hot's ValueError names: n_classes (the range [0, n_classes)) and a bad label."""
    y = case["y"]
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
        return []  # a TypeError: nothing it must name
    bad = [v for v in y.tolist() if not 0 <= v < case["n_classes"]]
    return [case["n_classes"], tuple(bad)] if bad else []


def check_conditioned_input(module) -> None:
    """[flatten(x), e_y], and it is exactly what a ConditionalVAE's encoder reads."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(5, 1, 8, 8, generator=g), torch.randint(0, 10, (5,), generator=g)
    got = expect_tensor("conditioned_input(x (5, 1, 8, 8), y (5,), 10)", module.conditioned_input(x, y, 10), (5, 74))
    expect_close("conditioned_input", got, torch.cat([x.flatten(1), models.one_hot(y, 10)], 1), atol=0)
    torch.manual_seed(0)
    cvae = models.ConditionalVAE((1, 8, 8), latent_dim=2, hidden=(16,))
    mu, _ = cvae.encode(x, y)
    expect_close("ConditionalVAE encoder fed with conditioned_input (mu)", cvae.encoder(got).chunk(2, -1)[0], mu)
    z = torch.randn(5, 3, generator=g)
    expect_tensor("conditioned_input(z (5, 3), y, 10)", module.conditioned_input(z, y, 10), (5, 13))
    expect_tensor("conditioned_input(z (5, 3) float64, y, 10) (keep x's dtype)",
                  module.conditioned_input(z.double(), y, 10), (5, 13), dtype=torch.float64)
    differential("conditioned_input", module.conditioned_input, reference("11", "conditioned_input"),
                 _input_cases(), grads=("x",), mentions=_range_and_values,
                 promise="the docstring: y is checked as one_hot checks it")


@st.composite
def _input_cases(draw) -> dict:
    n_classes, batch = draw(N_CLASSES), draw(st.sampled_from([0, 1, 2, 3, 5]))
    shape = (batch, *draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    return {"x": draw(tensors(shape, draw(dtypes))), "y": draw(_labels(n_classes, batch, valid=draw(st.booleans()))),
            "n_classes": n_classes}


TASKS = [
    ("1. one-hot labels with validation", check_one_hot),
    ("2. the conditioned input [flatten(x), e_y]", check_conditioned_input),
]
