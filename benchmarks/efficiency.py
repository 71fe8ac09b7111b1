"""The sprites recipe's training throughput against this machine's own matrix-product rate.

A ratio travels from machine to machine where seconds do not. The numerator: the floating-point
operations a training step of the recipe (``recipe.SpritesRecipe``: the MLP VAE, batches of 256)
must do, COUNTED from the layer sizes, times the steps per second measured. The denominator: the
GFLOP/s of one fp32 2048 x 2048 matrix product (2 * 2048^3 operations) at the same thread count,
about the best this machine's BLAS does.

What is counted: the products of the MLP's ``nn.Linear`` layers, 2 * in * out * B for each
layer's forward, as much again in the backward for the gradient of its weight, and as much again
for the gradient of its input unless that input is the data (which needs none): 3x the forward
for every layer but the encoder's first, 2x for that one. What is ignored (timed, not counted):
bias additions, activations, the likelihood and the KL terms, the estimators of q(z) (beta-TCVAE,
HFVAE), Adam's update, and Python's own time per operation.

What stops a step from reaching the matrix-product rate is then measured in two parts: the same
matrix products replayed alone, with the step's shapes (small matrices run below the 2048 rate),
and the rest of the step, the uncounted work above; and, within it, the time spent in the
course's argument checks (``vae_course.validate``) during the steps. Timings vary with other
programs on the machine: the load average is printed beside them; measure on an otherwise idle
machine.

Run: python benchmarks/efficiency.py [--threads N] [--rounds 7] [--block 10]
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from vae_course import estimators, models, recipe, threads, train, validate

MATMUL_SIZE = 2048
N_SPRITES = 11_520  # the factorial set the recipe trains on
LOSSES = ("beta-VAE", "beta-TCVAE", "HFVAE")  # the KL-split losses of issue 18 (FactorVAE also trains a discriminator)


def linear_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[int, int, int, bool]]:
    """(rows, in, out, input needs a gradient) of every ``nn.Linear`` call in one forward pass
    of ``model`` on x, recorded by forward hooks (autograd on, as in training)."""
    calls = []

    def record(layer: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x_in = inputs[0]
        rows = x_in.numel() // layer.in_features
        calls.append((rows, layer.in_features, layer.out_features, x_in.requires_grad))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def counted_flops(calls: list[tuple[int, int, int, bool]]) -> dict[str, int]:
    """The matrix-product FLOPs of one training step from ``linear_calls``: forward 2 * B * in * out
    per call; backward the same for the weight's gradient plus the same for the input's gradient
    when the input needs one. Returns {"forward", "backward", "step"}."""
    forward = sum(2 * b * n_in * n_out for b, n_in, n_out, _ in calls)
    backward = sum(2 * b * n_in * n_out * (2 if needs_grad else 1) for b, n_in, n_out, needs_grad in calls)
    return {"forward": forward, "backward": backward, "step": forward + backward}


def matmul(n: int = MATMUL_SIZE) -> Callable[[], None]:
    """A function doing one fp32 n x n matrix product, 2 n^3 operations."""
    g = torch.Generator().manual_seed(0)
    a, b, out = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g), torch.empty(n, n)
    return lambda: torch.mm(a, b, out=out)


def replayed_matmuls(calls: list[tuple[int, int, int, bool]]) -> Callable[[], None]:
    """A function doing exactly the matrix products of one training step (``counted_flops``),
    on random tensors of the step's shapes, and nothing else."""
    g = torch.Generator().manual_seed(0)
    tensors = [(torch.randn(b, n_in, generator=g), torch.randn(n_out, n_in, generator=g),
                torch.randn(n_out, generator=g), torch.randn(b, n_out, generator=g), needs_grad)
               for b, n_in, n_out, needs_grad in calls]

    def products() -> None:
        for x, w, bias, grad, needs_grad in tensors:
            torch.addmm(bias, x, w.T)  # forward
            torch.mm(grad.T, x)  # the weight's gradient
            if needs_grad:
                torch.mm(grad, w)  # the input's gradient

    return products


def uncounted_parts(model: nn.Module, x: torch.Tensor) -> dict[str, Callable[[], None]]:
    """Functions doing, each alone, a part of a step's uncounted work on tensors of the recipe's
    shapes: the Bernoulli likelihood of the batch (forward and backward), Adam's update of the
    model's parameters, and the q(z) estimators of beta-TCVAE and HFVAE (forward and backward)."""
    r = recipe.SpritesRecipe()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(x.shape, generator=g, requires_grad=True)
    mu = torch.randn(len(x), r.latent_dim, generator=g, requires_grad=True)
    logvar = (0.5 * torch.randn(len(x), r.latent_dim, generator=g) - 1).requires_grad_()
    z = (mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)).detach().requires_grad_()
    for param in model.parameters():
        param.grad = torch.randn(param.shape, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=r.lr)
    return {"likelihood": lambda: (-model.log_px_given_z(x, logits).mean()).backward(),
            "Adam": optimizer.step,
            "estimators beta-TCVAE": lambda: sum(estimators.kl_decomposition(
                z, mu, logvar, N_SPRITES).values()).backward(),
            "estimators HFVAE": lambda: sum(estimators.hierarchical_tc(
                z, mu, logvar, N_SPRITES, r.groups).values()).backward()}


def recipe_steps(methods: tuple[str, ...] = LOSSES, seed: int = 0) -> tuple[dict, list, tuple]:
    """For each method, a function doing one training step of the recipe (``train.fit``'s own
    update: the loss, its logged values, backward and Adam) on the next of a fixed cycle of
    batches; the ``linear_calls`` of the MLP (the same for every method); and a spare (model,
    batch) of the recipe's shapes."""
    r = recipe.SpritesRecipe()
    x = recipe.sprites_data().x
    g = torch.Generator().manual_seed(seed)
    batches = [x[torch.randperm(len(x), generator=g)[:r.batch_size]] for _ in range(8)]
    warmed_up = int(r.steps * r.warmup_fraction)  # the steps measured run at the full loss weights
    steps = {}
    for method in methods:
        torch.manual_seed(seed)
        model = models.VAE.build("mlp", tuple(x.shape[1:]), r.latent_dim, hidden=r.hidden)
        optimizer = torch.optim.Adam(model.parameters(), lr=r.lr)
        loss_fn = recipe.make_loss(method, len(x), r, beta=4.0)
        counter = itertools.count(warmed_up)

        def step(model=model, optimizer=optimizer, loss_fn=loss_fn, counter=counter) -> None:
            i = next(counter)
            train._update(model, loss_fn, batches[i % len(batches)], i, optimizer, None)

        steps[method] = step
    spare = models.VAE.build("mlp", tuple(x.shape[1:]), r.latent_dim, hidden=r.hidden)
    return steps, linear_calls(spare, batches[0]), (spare, batches[0])


def interleaved_seconds(calls: dict[str, Callable[[], None]], rounds: int,
                        repeats: dict[str, int] | None = None,
                        clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls`` in every one of ``rounds`` rounds, by ``clock``
    (wall-clock by default; ``time.process_time`` for CPU time): in each round, each function in
    turn, called ``repeats[name]`` times (default 1), so that all of them meet the same load on a
    shared machine. One warm-up call each first."""
    repeats = repeats or {}
    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            n = repeats.get(name, 1)
            start = clock()
            for _ in range(n):
                fn()
            times[name].append((clock() - start) / n)
    return times


@contextlib.contextmanager
def timed_checks() -> dict[str, float]:
    """Inside the block, every function of ``vae_course.validate`` adds the seconds of its
    outermost calls (a check calling another check counts once) to the dict yielded."""
    spent, depth = {"seconds": 0.0}, [0]
    originals = {name: f for name, f in vars(validate).items()
                 if inspect.isfunction(f) and f.__module__ == validate.__name__}

    def timing(f):
        def wrapper(*args, **kwargs):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent["seconds"] += time.perf_counter() - start
        return wrapper

    for name, f in originals.items():
        setattr(validate, name, timing(f))
    try:
        yield spent
    finally:
        for name, f in originals.items():
            setattr(validate, name, f)


def checks_share(steps: dict[str, Callable[[], None]], n: int) -> dict[str, float]:
    """For each method, the share of ``n`` training steps' wall-clock time spent in the argument
    checks of ``vae_course.validate`` (the timer's own overhead counts as step time)."""
    shares = {}
    for method, step in steps.items():
        with timed_checks() as spent:
            start = time.perf_counter()
            for _ in range(n):
                step()
            shares[method] = spent["seconds"] / (time.perf_counter() - start)
    return shares


def machine() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and its core count."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: as training chooses, threads.use_idle_cores())")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=int, default=10, help="training steps per method and round")
    args = parser.parse_args()
    n_threads = threads.use_idle_cores() if args.threads is None else args.threads
    torch.set_num_threads(n_threads)
    load = os.getloadavg()[0]
    steps, calls, example = recipe_steps()
    flops = counted_flops(calls)
    parts = uncounted_parts(*example)
    timed = {"matmul": matmul(), "products": replayed_matmuls(calls), **parts, **steps}
    t = interleaved_seconds(timed, args.rounds, {name: args.block for name in timed if name != "matmul"})
    peak = [2 * MATMUL_SIZE ** 3 / s / 1e9 for s in t["matmul"]]  # GFLOP/s, round by round
    med = statistics.median

    def ratio(name: str) -> float:  # the median over rounds of (its rate / that round's matmul rate)
        return med(flops["step"] / s / 1e9 / p for s, p in zip(t[name], peak))

    print(f"{machine()}; torch threads {n_threads}; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (above {n_threads}: other programs shared the cores)")
    print(f"fp32 {MATMUL_SIZE}x{MATMUL_SIZE} matrix product: {med(peak):.1f} GFLOP/s")
    print(f"counted per step: {flops['forward'] / 1e6:.0f} MFLOP forward + {flops['backward'] / 1e6:.0f} "
          f"MFLOP backward = {flops['step'] / 1e6:.0f} MFLOP (the Linear layers only)")
    print(f"the step's matrix products alone: {1e3 * med(t['products']):.2f} ms, "
          f"{ratio('products'):.2f} of the matmul rate (what the small matrices cost)\n")
    print("| loss | ms per step | steps/s | GFLOP/s | ratio to the matmul rate | uncounted work, ms (share) |")
    print("|---|---|---|---|---|---|")
    for method in steps:
        s, rest = med(t[method]), med(a - b for a, b in zip(t[method], t["products"]))
        print(f"| {method} | {1e3 * s:.2f} | {1 / s:.1f} | {flops['step'] / s / 1e9:.1f} | "
              f"{ratio(method):.2f} | {1e3 * rest:.2f} ({rest / s:.0%}) |")
    print("\nuncounted work: bias additions, activations, likelihood and KL terms, the q(z) "
          "estimators, Adam, and Python's time per operation; parts of it timed alone:\n")
    print("| part | ms | share of the beta-VAE step |\n|---|---|---|")
    for name in parts:
        print(f"| {name} | {1e3 * med(t[name]):.2f} | {med(t[name]) / med(t[LOSSES[0]]):.0%} |")
    shares = checks_share(steps, args.rounds * args.block)
    print("\nargument checks (vae_course.validate) during the steps: " + ", ".join(
        f"{method} {share:.1%}" for method, share in shares.items()) + " of the step's time")


if __name__ == "__main__":
    main()
