"""MIG table: beta-VAE, beta-TCVAE and HFVAE on procedural sprites, over several seeds.

Every model gets the same budget: the same MLP VAE (D = 8), data, number of steps, batch size
and seeds; only the loss differs. For each method the table gives the MIG (Chen et al. 2018)
of the posterior means against the true factors of the training images, and the held-out
reconstruction error -E log p(x|z) in nats, as mean and spread (standard deviation) over seeds,
plus the CPU seconds per model. The load average is printed beside them: other work on the
machine slows the wall clock, not the numbers.

Run: python benchmarks/mig_table.py [--quick] [--steps 1500] [--seeds 0 1 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vae_course import data, disentangle, losses, report
from vae_course.train import LossFn

LATENT_DIM = 8
GROUPS = [[0, 1], [2, 3], [4, 5], [6, 7]]


def methods(n: int, warmup: int) -> dict[str, LossFn]:
    """The losses compared, for a training set of n images."""
    return {"beta-VAE (beta=4)": losses.vae_loss(beta=4.0, warmup_steps=warmup),
            "beta-TCVAE (beta=6, MSS)": losses.beta_tcvae_loss(n, beta=6.0, warmup_steps=warmup),
            "HFVAE (beta=6, gamma=1, MSS)": losses.hfvae_loss(n, GROUPS, beta=6.0, gamma=1.0, warmup_steps=warmup)}


def run(loss_fn: LossFn, train: data.Sprites, held_out: torch.Tensor, steps: int, seed: int) -> tuple[float, float, float]:
    """(MIG, held-out reconstruction error, CPU seconds) of one model."""
    start = time.process_time()
    model, _ = disentangle.train_vae(loss_fn, train.x, latent_dim=LATENT_DIM, steps=steps, seed=seed, progress=False)
    with torch.no_grad():
        rec = -losses.elbo_terms(model, held_out)["rec"].mean().item()
    return disentangle.model_mig(model, train.x, train.factors), rec, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 100 steps, 1000 images")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds, args.n_train = 100, [0], 1000
    torch.set_num_threads(args.threads)
    print(f"{args.steps} steps x batch 128, {args.n_train} sprites, seeds {args.seeds}, D = {LATENT_DIM}, "
          f"{args.threads} threads; load average at start {os.getloadavg()[0]:.1f}")
    train, held_out = data.sprites(args.n_train, seed=0), data.sprites(500, seed=1).x
    rows = {}
    for name, loss_fn in methods(args.n_train, args.steps // 5).items():
        rows[name] = np.array([run(loss_fn, train, held_out, args.steps, seed) for seed in args.seeds])
    print(f"\n| method | MIG (mean ± std) | reconstruction error, nats (mean ± std) | CPU s / model |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f} | {r[:, 1].mean():.1f} ± {r[:, 1].std():.1f} "
              f"| {r[:, 2].mean():.0f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (2 cores)")
    for name, r in rows.items():
        report.proof(f"MIG {name}, mean over {len(args.seeds)} seeds", r[:, 0].mean(), fmt=".3f")


if __name__ == "__main__":
    main()
