"""Benchmark: notebook 12's VQ-VAE and its two priors over code maps, on MNIST.

The recipe of notebook 12, sections 8-10, on 28x28 MNIST: a VQ-VAE (K = 128 codes, downsample
2, so a 7x7 map of codes), an independent categorical prior (add-0.1 smoothing) and the PixelCNN
prior of ``code_prior`` trained on the training codes plus jittered copies (``vq.jittered_codes``).
Prints, through ``report.proof``: both priors' held-out NLL of code maps (nats per image), the
bound log p(x|k*) + log p(k*) on the binarized test digits (k* the encoder's map of the grey digit), and the classifier confidence and
class coverage of 1,000 decoded samples (temperature 1 and ``--temperature``), with the
training steps and this process's CPU seconds for the prior (``--threads 1`` makes them "seconds
of one core").

Needs the MNIST files under the data root (``VAE_COURSE_DATA``); says so and stops otherwise.

Measured (2026-12-01, one thread on a shared 2-core machine, so CPU seconds are pessimistic):
held-out NLL of code maps 147.3 (independent) -> 74.9 nats (PixelCNN); bound -204.2 -> -131.9
nats; sample confidence 0.606 (independent), 0.805 (T = 1) and 0.864 (T = 0.8), 10 classes each,
reconstructions 0.948; the prior's 3,000 steps took 587 CPU seconds. With ``--prior-steps 1000
--width 64`` (82 CPU seconds): NLL 82.2, bound -139.1, confidence 0.752 (T = 1), 0.807 (T = 0.8).

    VAE_COURSE_DATA=/path/to/data python benchmarks/vq_prior_mnist.py --threads 1
"""
from __future__ import annotations

import argparse
import time

import torch

from vae_course import code_prior, config, data, quality, report, train, vq

K = 128


def parse_args() -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    p.add_argument("--vq-steps", type=int, default=2000, help="training steps of the VQ-VAE")
    p.add_argument("--prior-steps", type=int, default=3000, help="training steps of the PixelCNN prior")
    p.add_argument("--width", type=int, default=96, help="channels of the PixelCNN prior")
    p.add_argument("--copies", type=int, default=2, help="jittered copies of each training image's code map")
    p.add_argument("--temperature", type=float, default=0.8, help="the second sampling temperature")
    p.add_argument("--classifier-steps", type=int, default=None, help="steps of the scoring classifier (default: the course's)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if not data.mnist_available():
        print(f"MNIST is not under {config.data_root()} (set VAE_COURSE_DATA): nothing to measure.")
        return
    config.seed_everything(0)
    train_set, test_set = data.load_mnist("train"), data.load_mnist("test")
    model = vq.VQVAE((1, 28, 28), K=K, D=8, downsample=2, width=32, restart_every=100)
    train.fit(model, vq.vqvae_loss(beta=0.25), train_set.x, steps=args.vq_steps, lr=2e-3, desc="VQ-VAE")
    train_codes, test_codes = model.codes(train_set.x), model.codes(test_set.x)
    jittered = vq.jittered_codes(model, train_set.x, args.copies, 0.3, generator=torch.Generator().manual_seed(0))
    maps = torch.cat([train_codes, jittered])
    independent = vq.fit_categorical_prior(maps, K, alpha=0.1)
    start = time.process_time()
    prior, _ = code_prior.fit_prior(maps, K, args.prior_steps, width=args.width)
    seconds = time.process_time() - start
    report.proof(f"PixelCNN prior: training steps (width {args.width}, {len(maps)} maps)", args.prior_steps, fmt="d")
    report.proof(f"PixelCNN prior: CPU seconds of training ({args.threads} thread(s))", seconds, fmt=".0f")

    x_bin = data.binarize(test_set.x, torch.Generator().manual_seed(0))
    log_priors = {"independent": lambda k: vq.categorical_log_prob(independent, k), "PixelCNN": prior.log_prob}
    with torch.no_grad():
        for name, log_prior in log_priors.items():
            nll = torch.cat([-log_prior(test_codes[i:i + 1000]) for i in range(0, len(test_codes), 1000)]).mean()
            bound = torch.cat([vq.vqvae_elbo(model, x_bin[i:i + 1000], log_prior, codes=test_codes[i:i + 1000])["elbo"]
                               for i in range(0, len(x_bin), 1000)]).mean()
            report.proof(f"{name}: held-out NLL of code maps (nats per image)", nll.item(), fmt=".2f")
            report.proof(f"{name}: bound log p(x|k*) + log p(k*), binarized test digits (nats)", bound.item(), fmt=".2f")
    classifier = quality.train_classifier(train_set.x, train_set.y, steps=args.classifier_steps, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        recons = model(test_set.x[:1000])
    report.proof("reconstructions of 1,000 test digits: confidence (the ceiling)",
                 quality.sample_quality(classifier, recons)["confidence"], fmt=".3f")
    with torch.no_grad():
        drawn = {"independent": model.decode_indices(vq.sample_categorical_prior(independent, 1000, generator=g)),
                 "PixelCNN, T = 1": model.decode_indices(prior.sample(1000, generator=g)),
                 f"PixelCNN, T = {args.temperature:g}":
                     model.decode_indices(prior.sample(1000, temperature=args.temperature, generator=g))}
    for name, images in drawn.items():
        score = quality.sample_quality(classifier, images)
        report.proof(f"{name}: sample confidence", score["confidence"], target=">= 0.85 with all 10 classes",
                     ok=score["confidence"] >= 0.85 and score["coverage"] == 10, fmt=".3f")
        report.proof(f"{name}: classes covered", score["coverage"], fmt="d")


if __name__ == "__main__":
    main()
