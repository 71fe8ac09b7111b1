"""Benchmark: the course's VAE on dynamically binarized MNIST under a time budget.

Trains ``models.VAE`` (MLP, Bernoulli decoder) with ``train.fit`` and ``losses.vae_loss`` for
``--minutes`` of training time and prints, at a few checkpoints, the test ELBO and the IWAE
(K = 100) negative log-likelihood (Burda et al. 2016) against the training time spent.

For published numbers to compare with, see Burda et al. (2016), table 1: the test NLL of VAEs
and IWAEs trained to convergence on binarized MNIST (estimated with K = 5000).

Choices, and why (the defaults):
- 50 latents: the NLL keeps improving past 20 latents; unused ones just stay at the prior;
- wider layers (512-512): more capacity per second on CPU than deeper ones;
- a cosine learning-rate decay over the *time* budget from a higher rate (2e-3): fast early
  progress, and a small final rate that settles the weights before evaluation;
- a linear KL warm-up over the first steps (Sonderby et al. 2016), so units are not switched
  off by the KL before the decoder has learnt to use them.

Timing: ``--clock wall`` (default) counts wall-clock seconds of training; ``--clock cpu``
counts this process's CPU seconds instead, the fair measure on a machine shared with other
jobs. Evaluation time is never counted. With ``--threads 1 --clock cpu`` the budget is "N
minutes of one core", a harder budget than N minutes on two idle cores.

    python benchmarks/vae_mnist.py --root /path/to/data --minutes 5
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch

from vae_course import config, data, diagnostics, losses, models, train


def parse_args() -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default=str(config.data_root()), help="data root holding MNIST/raw")
    p.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="how training time is counted")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512], help="MLP hidden widths")
    p.add_argument("--latent", type=int, default=50, help="latent dimension D")
    p.add_argument("--lr", type=float, default=2e-3, help="initial learning rate")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning rate: cosine decay to 0 over the budget, or constant")
    p.add_argument("--batch", type=int, default=128, help="batch size")
    p.add_argument("--warmup", type=int, default=2000, help="KL warm-up steps")
    p.add_argument("--checkpoints", type=int, default=4, help="evaluations spread over the budget")
    p.add_argument("--iwae-n", type=int, default=2000, help="test images for the IWAE at intermediate checkpoints")
    p.add_argument("--final-iwae-n", type=int, default=10000, help="test images for the final IWAE")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def clock(kind: str) -> float:
    """Seconds on the chosen clock: wall time, or this process's CPU time (all threads)."""
    return time.perf_counter() if kind == "wall" else time.process_time()


@torch.no_grad()
def evaluate(model: models.VAE, x_test: torch.Tensor, n_iwae: int, seed: int) -> tuple[float, float]:
    """(test ELBO, IWAE K=100 NLL on the first n_iwae test images), both in nats per image."""
    gen = torch.Generator().manual_seed(seed)
    elbo = torch.cat([losses.elbo_terms(model, xb)["elbo"] for xb in x_test.split(1000)]).mean()
    nll = -torch.cat([diagnostics.iwae_estimate(model, xb, K=100, generator=gen)
                      for xb in x_test[:n_iwae].split(500)]).mean()
    return float(elbo), float(nll)


def main() -> None:
    """Train, evaluate at each checkpoint, print the table."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    config.seed_everything(args.seed)
    x_train = data.load_mnist("train", root=args.root).x
    x_test = data.binarize(data.load_mnist("test", root=args.root).x, torch.Generator().manual_seed(123))
    model = models.VAE.build("mlp", (1, 28, 28), args.latent, "bernoulli", hidden=tuple(args.hidden))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = losses.vae_loss(warmup_steps=args.warmup, transform=data.binarize)
    budget = 60 * args.minutes
    epoch_steps = len(x_train) // args.batch
    marks = [budget * (i + 1) / args.checkpoints for i in range(args.checkpoints)]
    print(f"model 784-{'-'.join(map(str, args.hidden))}-{args.latent} VAE, Adam lr {args.lr:g} {args.schedule}, "
          f"batch {args.batch}, KL warm-up {args.warmup} steps, {args.threads} thread(s), "
          f"budget {args.minutes:g} min on the {args.clock} clock; load average {os.getloadavg()}")
    print(f"{'steps':>7} {'epochs':>7} {'train wall s':>12} {'train CPU s':>11} {'test ELBO':>10} "
          f"{'IWAE-100 NLL':>12} {'(test images)':>13}")
    history, spent, wall, cpu, chunk = None, 0.0, 0.0, 0.0, 0
    for i, mark in enumerate(marks):
        while spent < mark:
            for group in optimizer.param_groups:
                group["lr"] = args.lr * (0.5 * (1 + math.cos(math.pi * spent / budget))
                                         if args.schedule == "cosine" else 1.0)
            per_step = spent / (history.steps[-1] + 1) if history else None
            steps = epoch_steps if per_step is None else max(1, min(epoch_steps, int((mark - spent) / per_step) + 1))
            t0, w0, c0 = clock(args.clock), time.perf_counter(), time.process_time()
            history = train.fit(model, loss_fn, x_train, steps=steps, batch_size=args.batch, optimizer=optimizer,
                                seed=args.seed + chunk, log_every=steps, progress=False, history=history)
            spent += clock(args.clock) - t0
            wall, cpu, chunk = wall + time.perf_counter() - w0, cpu + time.process_time() - c0, chunk + 1
        n_iwae = args.final_iwae_n if i == len(marks) - 1 else args.iwae_n
        elbo, nll = evaluate(model, x_test, n_iwae, args.seed)
        step = history.steps[-1] + 1
        print(f"{step:7d} {step / epoch_steps:7.1f} {wall:12.0f} {cpu:11.0f} {elbo:10.2f} {nll:12.2f} "
              f"{min(n_iwae, len(x_test)):13d}", flush=True)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
