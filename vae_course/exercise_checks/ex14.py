"""Checks for exercise 14 (flow matching): the conditional flow-matching loss and the Euler
sampler, against ``vae_course.flow`` and against fields whose Euler steps are known by hand,
then against the reference solution over the docstrings' domain (``differential``: batches of
1 and odd sizes, 1-4 dimensions, float32 and float64 codes, far-out codes, 1-8 steps, fields
linear and not)."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from vae_course import flow
from vae_course.exercise_checks.common import (expect_close, expect_number, expect_tensor,
                                                expect_true)
from vae_course.exercise_checks.differential import (Named, batch_sizes, differential, dtypes,
                                                      reference, seeds, tensors)

F64 = torch.float64


class _Spy:
    """A velocity field that records the (x_t, t) it is called with and answers ``field(x, t)``."""

    def __init__(self, field=lambda x, t: torch.zeros_like(x)):
        self.field, self.calls = field, []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
        return self.field(x, t)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A velocity field that depends on x and t: 0.3 x + t + 0.1 (any field would do)."""
    return 0.3 * x + t.reshape(-1, 1) + 0.1


def _zero_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def _swirl_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A field that mixes the coordinates and is not linear in t."""
    return x.roll(1, dims=1) * torch.cos(3 * t).reshape(-1, 1) - x


FIELDS = st.sampled_from([
    Named(_zero_field, "lambda x, t: torch.zeros_like(x)"),
    Named(_linear_field, "lambda x, t: 0.3 * x + t.reshape(-1, 1) + 0.1"),
    Named(_swirl_field, "lambda x, t: x.roll(1, dims=1) * torch.cos(3 * t).reshape(-1, 1) - x"),
])


@st.composite
def _loss_cases(draw) -> dict:
    """A field, codes z (B, D): B 1 or odd, D 1-4, float32 or float64, some far out; a seed."""
    b, d, dtype = draw(batch_sizes), draw(st.integers(1, 4)), draw(dtypes)
    z = draw(tensors((b, d), dtype, edges=(-100.0, 100.0)))
    return {"model": draw(FIELDS), "z": z, "generator": draw(seeds)}


@st.composite
def _euler_cases(draw) -> dict:
    """A field, n 1 or odd, D 1-4, 1-8 steps, a seed."""
    return {"velocity": draw(FIELDS), "n": draw(batch_sizes), "D": draw(st.integers(1, 4)),
            "steps": draw(st.integers(1, 8)), "generator": draw(seeds)}


def _number(what: str, value: object) -> torch.Tensor:
    """A scalar loss as a float64 tensor (a Python float would be compared in float32)."""
    if isinstance(value, torch.Tensor):
        expect_tensor(what, value, ())
        return value.detach().double()
    return torch.tensor(expect_number(what, value), dtype=F64)


def _reference_draws(z: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """t (B,), then eps (B, D), drawn as the docstring says from a generator seeded ``seed``."""
    g = _gen(seed)
    t = torch.rand(len(z), generator=g, dtype=z.dtype)
    return t, torch.randn(z.shape, generator=g, dtype=z.dtype)


def check_loss(module) -> None:
    """A spy model reads x_t and t: one call, one t per code, seeded, the path not reversed,
    one eps per code, x_t = (1 - t) eps + t z; the target z - eps; the loss of a network."""
    B, D = 256, 3
    z = 2.0 + torch.randn(B, D, generator=_gen(0), dtype=F64)
    loss, spy = module.flow_matching_loss, _Spy()
    _number("flow_matching_loss(model, z (256, 3), generator)", loss(spy, z, _gen(1)))
    expect_true(len(spy.calls) == 1,
                f"call the model once, on the whole batch; it was called {len(spy.calls)} times")
    x_t, t = spy.calls[0]
    expect_tensor("the t passed to the model", t, (B,))
    expect_tensor("the x_t passed to the model", x_t, (B, D))
    expect_true(bool(((t >= 0) & (t <= 1)).all()) and t.unique().numel() == B,
                "draw one time t ~ U(0, 1) per code: t = torch.rand(B, generator=generator)")
    again = [_number("the loss", loss(_linear_field, z, _gen(5))) for _ in range(2)]
    expect_close("the loss twice with equally seeded generators "
                 "(draw t and eps with generator=generator)",
                 again[1], again[0], atol=1e-12, rtol=0)
    t_ref, eps_ref = _reference_draws(z, 1)
    expect_true(not torch.allclose(x_t.double(), flow.interpolate(eps_ref, z, t_ref), atol=1e-6),
                "time reversed: x_t must be the noise at t = 0 and the code at t = 1, "
                "x_t = (1 - t) eps + t z")
    eps_seen = (x_t.double() - t.double()[:, None] * z) / (1 - t.double()[:, None])
    expect_true(bool((eps_seen - eps_seen[:1]).abs().amax() > 1e-6),
                "eps is shared across the batch: every code needs its own noise vector, "
                "eps = torch.randn(B, D) (z's full shape), not one row broadcast to all")
    expect_close("x_t = (1 - t) eps + t z (t drawn first, then eps, both with the generator)",
                 x_t, flow.interpolate(z, eps_ref, t_ref), atol=1e-6)
    zero = _number("the loss of a zero field", loss(lambda x, t: torch.zeros_like(x), z, _gen(1)))
    expect_true(abs(zero.item() - z.pow(2).sum(1).mean().item()) > 1e-3,
                "the target is the velocity z - eps of the path, not the code z: "
                "loss = mean over the batch of ||model(x_t, t) - (z - eps)||^2")
    expect_close("the loss of a zero field, (1/B) sum_b ||z_b - eps_b||^2 "
                 "(a sum over D, a mean over B)",
                 zero, (z - eps_ref).pow(2).sum(1).mean())
    model = flow.VelocityMLP(D, hidden=8, depth=1).double()
    with torch.no_grad():
        error = model(flow.interpolate(z, eps_ref, t_ref), t_ref) - (z - eps_ref)
        expected = error.pow(2).sum(1).mean()
        got = _number("the loss of a small network", loss(model, z, _gen(1)))
    expect_close("the loss of a small network v_theta", got, expected)
    differential("flow_matching_loss", module.flow_matching_loss, reference("14", "flow_matching_loss"),
                 _loss_cases())


def check_euler(module) -> None:
    """Exactly ``steps`` evaluations at t_i = i/steps; the hand-computed Euler sums; the same
    samples as flow.euler from the same noise; seeded."""
    expect_close("euler_sample twice with equally seeded generators "
                 "(draw x_0 with generator=generator)",
                 module.euler_sample(_linear_field, 5, 3, 4, _gen(7)),
                 module.euler_sample(_linear_field, 5, 3, 4, _gen(7)), atol=1e-12, rtol=0)
    for steps in (1, 3, 8):
        spy = _Spy(lambda x, t: torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand_as(x))
        x = expect_tensor(f"euler_sample(v, 4, 2, steps={steps})",
                          module.euler_sample(spy, 4, 2, steps, _gen(0)), (4, 2))
        expect_true(len(spy.calls) == steps,
                    f"with steps = {steps} the velocity must be evaluated {steps} times "
                    "(once per step, "
                    f"i = 0, ..., steps - 1), got {len(spy.calls)}: one step too many or too few?")
        times = [float(torch.as_tensor(t).reshape(-1)[0]) for _, t in spy.calls]
        expect_close(f"the times t_i the velocity was evaluated at (steps = {steps})",
                     torch.tensor(times), torch.arange(steps, dtype=F64) / steps, atol=1e-6)
        x0 = torch.randn(4, 2, generator=_gen(0))
        # v = t: x_1 = x_0 + h sum_i t_i = x_0 + h^2 steps (steps - 1) / 2
        expect_close(f"euler_sample with v(x, t) = t and steps = {steps} (x_0 + sum_i h t_i)", x,
                     x0 + (steps - 1) / (2 * steps), atol=1e-5)
    got = module.euler_sample(_linear_field, 50, 3, 10, _gen(2))
    expect_close("euler_sample(v, 50, 3, 10) against flow.euler from the same noise", got,
                 flow.euler(_linear_field, torch.randn(50, 3, generator=_gen(2)), 10), atol=1e-5)
    differential("euler_sample", module.euler_sample, reference("14", "euler_sample"), _euler_cases())


TASKS = [
    ("1. the flow-matching loss", check_loss),
    ("2. Euler sampling of a flow", check_euler),
]
