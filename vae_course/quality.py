"""The course's sample-quality score: how digit-like, and how varied, generated samples are.

A small classifier c(y | x) is trained on the real training images. For samples x_1..x_n:

- confidence = (1/n) sum_i max_y c(y | x_i): high when each sample looks clearly like *some*
  digit (blurry blends of several digits and noise score low);
- coverage = #{y : n_y >= min_fraction * n}, where n_y = #{i : argmax c(. | x_i) = y}: how many
  classes the samples cover (a generator stuck on a few classes scores low).

The classifier is trained on real digits *and* on mixup blends (soft targets) and uniform
noise (uniform target), so that blurry blends and noise, the typical failures of generated
samples, get low confidence (a plain MLP is ~80% "confident" on pure noise).

Both are simple relatives of the Inception Score (Salimans et al. 2016), which combines the
same two ingredients (confident per-sample predictions, spread-out predicted classes) in one
number; two separate, readable numbers suit a course better. Used by notebooks 04, 07, 11, 12:
the same ``train_classifier(x, y, seed=0)`` gives the same classifier everywhere.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vae_course import models, train, validate

HIDDEN = (256, 128)
WEIGHT_DECAY = 1e-4


def _images(name: str, x: torch.Tensor, classifier: nn.Module | None = None) -> torch.Tensor:
    """Grey images (N, 1, H, W), finite, in [0, 1], of the classifier's dtype (float32)."""
    validate.not_empty(name, validate.tensor(name, x, ndim=4))
    if x.shape[1] != 1:
        raise ValueError(f"{name} must be grey images (N, 1, H, W), got shape {tuple(x.shape)}")
    if classifier is not None:
        validate.module_input(name, x, classifier)
    elif x.dtype != torch.float32:
        raise TypeError(f"{name} must be float32 images, got dtype {x.dtype}: convert with {name}.float()")
    return validate.unit_interval(name, x)


def _n_classes(classifier: nn.Module) -> int:
    """The number of classes: the width of the classifier's last linear layer."""
    linear = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise TypeError(f"classifier must end in a linear layer (train_classifier's MLP), got {type(classifier).__name__}")
    return linear[-1].out_features


def _labels(y: torch.Tensor, n: int, n_classes: int | None = None) -> torch.Tensor:
    """int64 labels (n,) in [0, n_classes) (only >= 0 when n_classes is None)."""
    validate.tensor("y", y, shape=(n,), floating=False)
    if y.dtype != torch.int64:
        raise TypeError(f"y must be int64 class labels, got dtype {y.dtype}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        allowed = f"[0, {n_classes}) (the classifier's {n_classes} classes)" if n_classes else "0, 1, 2, ..."
        raise ValueError(f"y must hold class labels {allowed}, got values in [{low}, {high}]")
    return y


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-(1/B) sum_i sum_y t_iy log softmax(logits_i)_y for soft targets t (B, n_classes)."""
    return -(target * F.log_softmax(logits, 1)).sum(1).mean()


def _calibrated_loss_fn(n_classes: int, seed: int):
    """Cross-entropy on each real batch (x, y), plus, so that confidence *means* something:
    mixup pairs lam x + (1 - lam) x' with target lam t + (1 - lam) t', lam ~ U(0, 1)
    (Zhang et al. 2018), and uniform-noise images with the uniform target 1/n_classes
    (outlier exposure, Hendrycks et al. 2019)."""
    generator = torch.Generator().manual_seed(seed)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], step: int):
        x, y = batch
        t = F.one_hot(y, n_classes).to(x.dtype)
        lam = torch.rand(len(x), 1, generator=generator).to(x.device)
        pair = torch.randperm(len(x), generator=generator).to(x.device)
        x_mix = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[pair]
        noise = torch.rand(x.shape, generator=generator).to(x.device)
        logits = model(torch.cat([x, x_mix, noise]))
        target = torch.cat([t, lam * t + (1 - lam) * t[pair], torch.full_like(t, 1 / n_classes)])
        accuracy = (logits[:len(x)].argmax(1) == y).float().mean()
        return _soft_cross_entropy(logits, target), {"accuracy": accuracy}

    return loss_fn


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, steps: int | None = None,
                     seed: int = 0) -> nn.Module:
    """Train a small digit classifier c(y | x) on images ``x`` (N, 1, H, W) in [0, 1] with
    labels ``y`` (N,); return it in eval mode, on the CPU, giving logits (B, n_classes).

    An MLP ``H*W -> 256 -> 128 -> n_classes`` (n_classes = max(y) + 1) trained with Adam
    (weight decay 1e-4) for ``steps`` minibatches of 128 (default: 10 epochs, at least 1,000
    steps) on the soft-target cross-entropy -(1/B) sum_i sum_y t_iy log c(y | x_i) over
    each real batch, its mixup blends (Zhang et al. 2018) and as many uniform-noise images
    with the uniform target (outlier exposure, Hendrycks et al. 2019). Without the last two,
    an MLP is ~80% "confident" on pure noise; with them its confidence drops on blends and
    noise, which is what the sample-quality score needs. Deterministic for a ``seed``
    (initialisation, minibatches, blends and noise); the global random state is untouched.
    """
    _images("x", x)
    _labels(y, len(x))
    validate.seed("seed", seed)
    steps = validate.positive_int("steps", steps) if steps is not None else max(1000, 10 * math.ceil(len(x) / 128))
    n_classes = int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = nn.Sequential(nn.Flatten(), models.mlp([math.prod(x.shape[1:]), *HIDDEN, n_classes]))
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
    train.fit(classifier, _calibrated_loss_fn(n_classes, seed), (x, y), steps=steps, optimizer=optimizer,
              seed=seed, device="cpu", desc="digit classifier", progress=False)
    return classifier.eval()


@torch.no_grad()
def _probabilities(classifier: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Softmax probabilities c(. | x), (N, n_classes), computed in batches on the classifier's device."""
    device = next(classifier.parameters()).device
    classifier.eval()
    return torch.cat([F.softmax(classifier(x[i:i + batch_size].to(device)), 1).cpu()
                      for i in range(0, len(x), batch_size)])


def classifier_accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy (1/N) sum_i [argmax_y c(y | x_i) = y_i] on images ``x`` (N, 1, H, W), labels ``y`` (N,)."""
    _images("x", x, classifier)
    _labels(y, len(x), _n_classes(classifier))
    return (_probabilities(classifier, x).argmax(1) == y.cpu()).float().mean().item()


def sample_quality(classifier: nn.Module, samples: torch.Tensor, n_classes: int = 10,
                   min_fraction: float = 0.01) -> dict:
    """The sample-quality score of ``samples`` (n, 1, H, W) in [0, 1] under ``classifier``.

    Returns a dict with
    - ``"confidence"``: (1/n) sum_i max_y c(y | x_i), a float in [1/n_classes, 1];
    - ``"coverage"``: #{y : n_y >= min_fraction * n}, an int in [0, n_classes], where n_y counts
      the samples whose predicted class argmax c(. | x_i) is y;
    - ``"class_counts"``: the counts n_y, an int64 tensor (n_classes,).
    """
    _images("samples", samples, classifier)
    validate.positive_int("n_classes", n_classes)
    validate.probability("min_fraction", min_fraction)
    probs = _probabilities(classifier, samples)
    if probs.shape[1] != n_classes:
        raise ValueError(f"n_classes = {n_classes} but the classifier gives {probs.shape[1]} logits")
    counts = torch.bincount(probs.argmax(1), minlength=n_classes)
    return {"confidence": probs.max(1).values.mean().item(),
            "coverage": int((counts >= min_fraction * len(samples)).sum()),
            "class_counts": counts}
