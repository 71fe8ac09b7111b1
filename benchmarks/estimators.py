"""Timings of the minibatch estimators of q(z) on the CPU, alone and inside a training step.

By default: ``kl_decomposition`` with M = 1024 samples, D = 10 latent dimensions in float32, for
the minibatch weighted (mws) and stratified (mss) estimators, and ``hierarchical_tc`` with three
groups: the median (and the fastest) of several runs, plus the CPU time per call. The target is
``kl_decomposition`` under 100 ms on 2 CPU cores.

With ``--steps``: what the estimators add to a training step of the sprites recipe (issue 18).
A step (forward, backward, Adam) of beta-TCVAE and of HFVAE against a step of beta-VAE, the same
MLP on the same batches of 256, at each thread count of ``--thread-counts``: wall-clock and CPU
ms per step and the ratios, each the median over rounds of that round's ratio, with the quartiles
of those ratios beside it (blocks of steps of the three losses in turn, so that all meet the
same load). Target: both ratios at most 1.25 on
2 threads.

Other work on the machine slows the wall-clock figures (with 2 threads, one busy core slows
every operation's wait for the other thread), so the load average is printed beside them;
measure on an otherwise idle machine.

Run: python benchmarks/estimators.py [--threads 2] [--repeats 15] [--batch 1024] [--dim 10]
     python benchmarks/estimators.py --steps [--thread-counts 1 2] [--rounds 7] [--block 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from vae_course import estimators

TARGET_MS = 100.0
TARGET_STEP_RATIO = 1.25


def inputs(m: int, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encoder outputs and samples of a plausible batch: z = mu + sigma * eps, float32."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(m, d, generator=g)
    logvar = 0.5 * torch.randn(m, d, generator=g) - 1.0
    return mu + (0.5 * logvar).exp() * torch.randn(m, d, generator=g), mu, logvar


def time_call(fn, repeats: int) -> dict[str, float]:
    """Median and fastest wall-clock time and median CPU time of ``fn()`` in ms (one warm-up)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(1e3 * (time.perf_counter() - w))
        cpu.append(1e3 * (time.process_time() - c))
    return {"median": statistics.median(wall), "min": min(wall), "cpu": statistics.median(cpu)}


def _median_and_middle_half(values: list[float]) -> str:
    """The median of ``values`` and, in brackets, their quartiles: how far the rounds spread."""
    q1, median, q3 = statistics.quantiles(values, n=4)
    return f"{median:.2f} ({q1:.2f}-{q3:.2f})"


def step_ratios(thread_counts: list[int], rounds: int, block: int) -> None:
    """Print the ms per training step of each loss of the recipe and the step-cost ratios
    beta-TCVAE / beta-VAE and HFVAE / beta-VAE at each thread count (see the module docstring)."""
    from efficiency import interleaved_seconds, machine, recipe_steps  # a sibling script

    steps, _, _ = recipe_steps()
    base, *others = steps
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"| threads | clock | {' | '.join(f'{m} ms' for m in steps)} | "
          f"{' | '.join(f'{m} / {base}' for m in others)} |")
    print(f"|---|---|{'---|' * (len(steps) + len(others))}")
    for n_threads in thread_counts:
        torch.set_num_threads(n_threads)
        for clock_name, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
            t = interleaved_seconds(steps, rounds, {m: block for m in steps}, clock)
            ms = [f"{1e3 * statistics.median(t[m]):.2f}" for m in steps]
            ratios = [_median_and_middle_half([a / b for a, b in zip(t[m], t[base])]) for m in others]
            print(f"| {n_threads} | {clock_name} | {' | '.join(ms)} | {' | '.join(ratios)} |")
    load = os.getloadavg()[0]
    print("each ratio: the median of the rounds' own ratios, their quartiles in brackets")
    print(f"target: each ratio <= {TARGET_STEP_RATIO} with 2 threads, wall-clock, on an idle machine; load "
          f"average at the end {load:.1f} (above 1: other programs shared the cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--steps", action="store_true", help="step-cost ratios of the recipe's losses instead")
    parser.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=int, default=10, help="training steps per loss and round")
    args = parser.parse_args()
    if args.steps and args.rounds < 2:
        parser.error(f"--rounds must be at least 2 (the ratios' quartiles need two rounds), got {args.rounds}")
    if args.steps:
        step_ratios(args.thread_counts, args.rounds, args.block)
        return
    torch.set_num_threads(args.threads)
    m, d = args.batch, args.dim
    z, mu, logvar = inputs(m, d)
    n = 11_520  # the size of the default sprites grid
    groups = [list(range(0, d // 3)), list(range(d // 3, 2 * d // 3)), list(range(2 * d // 3, d))]
    cases = [(f"kl_decomposition {est}", lambda est=est: estimators.kl_decomposition(z, mu, logvar, n, est))
             for est in estimators.ESTIMATORS]
    cases += [(f"hierarchical_tc {est} (3 groups)",
               lambda est=est: estimators.hierarchical_tc(z, mu, logvar, n, groups, est))
              for est in estimators.ESTIMATORS]
    load = os.getloadavg()
    print(f"M = {m}, D = {d}, float32, N = {n}; torch threads {torch.get_num_threads()} of "
          f"{os.cpu_count()} cores; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"| {'call':<32} | median ms | fastest ms | CPU ms | target |")
    print(f"|{'-' * 34}|-----------|------------|--------|--------|")
    with torch.no_grad():
        for name, fn in cases:
            t = time_call(fn, args.repeats)
            target = f"< {TARGET_MS:.0f}" if name.startswith("kl_") else "-"
            print(f"| {name:<32} | {t['median']:9.1f} | {t['min']:10.1f} | {t['cpu']:6.1f} | {target:>6} |")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} (above {args.threads} means other work shared the cores)")


if __name__ == "__main__":
    main()
