"""Timings of the minibatch estimators of issue 4 on the CPU.

``kl_decomposition`` with M = 1024 samples, D = 10 latent dimensions in float32, for the
minibatch weighted (mws) and stratified (mss) estimators, and ``hierarchical_tc`` with three
groups: the median (and the fastest) of several runs, plus the CPU time per call. The target is
``kl_decomposition`` under 100 ms on 2 CPU cores. Other work on the machine slows the wall-clock
figures, so the load average is printed beside them; CPU time is the less load-sensitive figure.

Run: python benchmarks/estimators.py [--threads 2] [--repeats 15] [--batch 1024] [--dim 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from vae_course import estimators

TARGET_MS = 100.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=10)
    args = parser.parse_args()
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
