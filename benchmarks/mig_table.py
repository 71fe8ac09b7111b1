"""MIG table: beta-VAE, beta-TCVAE and HFVAE on the sprites factorial set, over seeds.

Every model is trained by the course's one recipe (``recipe.train_sprites_vae``: same MLP VAE,
data, steps, batch and seeds; only the loss differs), and loaded from the model cache when
notebooks 08-10 already trained it (``--no-cache`` trains afresh). Per method the table gives,
as mean ± std over seeds: the MIG with the binned estimator (Locatello et al. 2019), with Chen et
al.'s estimator, and with Chen's over the four non-shape factors (as their dSprites code does);
the share of each factor's information held by its best latent; the distortion (reconstruction
cross-entropy) and the rate in nats; and the seconds each model took to train (as recorded when
it was trained: run this on an idle machine, one benchmark at a time).

``--levers`` instead trains one beta-TCVAE (beta = 6, seed 0) per variant of the recipe and
prints the binned and Chen MIG of each: the measurements behind the recipe's choices.

Run: python benchmarks/mig_table.py [--quick] [--seeds 0 1 2] [--no-cache] [--levers]
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

from vae_course import comparison, disentangle, recipe, report, sprites, threads

METHODS = {"beta-VAE (beta=4)": ("beta-VAE", 4.0), "beta-TCVAE (beta=6, MSS)": ("beta-TCVAE", 6.0),
           "HFVAE (beta=6, gamma=1, MSS)": ("HFVAE", 6.0)}
ANCHOR = ("published anchor: users of Chen et al.'s code report MIG (their estimator, shape left out) of "
          "about 0.5 for beta-TCVAE on dSprites (737,280 images of 64x64, far longer training)")


def score(method: str, beta: float, seed: int, factorial: sprites.Sprites, rec: recipe.SpritesRecipe,
          cache: bool, n_samples: int, train_x=None) -> dict[str, float]:
    """The scores of one model on the factorial set, with its training seconds and best-latent
    shares; it trains on ``train_x`` when given, else on the factorial set itself."""
    x = factorial.x if train_x is None else train_x
    model, _, info = recipe.train_sprites_vae(method, x, beta=beta, seed=seed, recipe=rec, cache=cache, progress=False)
    return {**disentangle.sprites_scores(model, factorial, n_samples), "seconds": info["seconds"]}


def main_table(args: argparse.Namespace, factorial: sprites.Sprites, rec: recipe.SpritesRecipe) -> None:
    table = {}
    for name, (method, beta) in METHODS.items():
        rows = [score(method, beta, seed, factorial, rec, not args.no_cache, args.samples) for seed in args.seeds]
        table[name] = comparison.mean_and_spread(rows)
    columns = ["mig_binned", "mig_chen", "mig_chen_no_shape", "distortion", "rate", "seconds"]
    print(report.mean_std_table(table, columns))
    print()
    print(report.mean_std_table(table, [f"share {n}" for n in factorial.names], fmt=".2f"))
    print(f"\n{ANCHOR}")
    for name, row in table.items():
        report.proof(f"MIG (Chen) {name}, mean over {len(args.seeds)} seeds", row["mig_chen"][0], fmt=".3f")


def levers(args: argparse.Namespace, factorial: sprites.Sprites, rec: recipe.SpritesRecipe) -> None:
    """One beta-TCVAE (beta = 6, seed 0) per variant of the recipe, all scored on the factorial set."""
    old_data = sprites.make(4000, seed=0).x  # the course's former recipe: random sprites, small batches
    variants = {"4,000 random sprites, batch 128, 1,500 steps": (dataclasses.replace(rec, batch_size=128, steps=rec.steps * 3 // 8), old_data),
                "the recipe: factorial set, batch 256": (rec, None),
                "batch 512, half the steps": (dataclasses.replace(rec, batch_size=512, steps=rec.steps // 2), None),
                "widths 512, 256": (dataclasses.replace(rec, hidden=(512, 256)), None),
                "D = 6": (dataclasses.replace(rec, latent_dim=6), None),
                "D = 10": (dataclasses.replace(rec, latent_dim=10), None),
                "learning rate 5e-4": (dataclasses.replace(rec, lr=5e-4), None),
                "no KL warm-up": (dataclasses.replace(rec, warmup_fraction=0.0), None)}
    rows = {}
    for name, (variant, train_x) in variants.items():
        s = score("beta-TCVAE", 6.0, 0, factorial, variant, not args.no_cache, args.samples, train_x)
        rows[name] = {k: (v, 0.0) for k, v in s.items()}
    print(report.mean_std_table(rows, ["mig_binned", "mig_chen", "distortion", "rate", "seconds"], key="variant")
          .replace(" ± 0.000", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick mode's recipe (60 steps) and one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=10_000, help="samples per entropy in Chen's estimator")
    parser.add_argument("--no-cache", action="store_true", help="train every model afresh")
    parser.add_argument("--levers", action="store_true", help="compare variants of the recipe instead")
    args = parser.parse_args()
    if args.quick:
        os.environ["VAE_COURSE_QUICK"] = "1"
        args.seeds, args.samples = args.seeds[:1], 1_000
    rec, factorial = recipe.sprites_recipe(), recipe.sprites_data()
    print(f"{rec}; {len(factorial.x)} sprites (the factorial set); seeds {args.seeds}; torch threads "
          f"{threads.use_idle_cores()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    (levers if args.levers else main_table)(args, factorial, rec)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
