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

A third question, for a model that re-draws an input as another class (notebook 11): does the
new image keep the input's handwriting? ``style_features`` measures three features from an
image's moments (slant, ink, size) and ``style_correlation`` how strongly a re-drawn image's
features follow its input's, each taken relative to its own class (0: no relation, 1: all).

A fourth number compares samples with real images as *sets*: the Frechet distance between
Gaussians fitted to their classifier features (``classifier_features``, the layer before the
logits), the recipe of the FID (Heusel et al. 2017) with the course's classifier in place of
Inception: ``frechet_distance``. It sees what the two above miss, e.g. samples that are all
confident but too alike, or in the wrong proportions.

Last, whether a generator copies its training set (``memorisation``): the share of samples
nearer to a training image than most held-out images are, against the held-out images' own
share, which is fixed by construction.
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
    if classifier is not None:
        validate.module("classifier", classifier)
    validate.not_empty(name, validate.tensor(name, x, ndim=4))
    if x.shape[1] != 1:
        raise ValueError(f"{name} must be grey images (N, 1, H, W), got shape {tuple(x.shape)}")
    if classifier is not None:
        validate.module_input(name, x, classifier)
    elif x.dtype != torch.float32:
        raise TypeError(f"{name} must be float32 images, got dtype {x.dtype}: convert with {name}.float()")
    return validate.unit_interval(name, x)


def _last_linear(classifier: nn.Module) -> nn.Linear:
    """The classifier's last linear layer, the one that gives the logits."""
    linear = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise TypeError(f"classifier must end in a linear layer (train_classifier's MLP), got {type(classifier).__name__}")
    return linear[-1]


def _n_classes(classifier: nn.Module) -> int:
    """The number of classes: the width of the classifier's last linear layer."""
    return _last_linear(classifier).out_features


def _labels(y: torch.Tensor, n: int, n_classes: int | None = None, name: str = "y") -> torch.Tensor:
    """int64 labels (n,) in [0, n_classes) (only >= 0 when n_classes is None)."""
    validate.tensor(name, y, shape=(n,), floating=False)
    if y.dtype != torch.int64:
        raise TypeError(f"{name} must be int64 class labels, got dtype {y.dtype}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        allowed = f"[0, {n_classes}) (the classifier's {n_classes} classes)" if n_classes else "0, 1, 2, ..."
        raise ValueError(f"{name} must hold class labels {allowed}, got values in [{low}, {high}]")
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


STYLE_FEATURES = ("slant", "ink", "size")


def style_features(x: torch.Tensor) -> torch.Tensor:
    """Three handwriting features of each grey image x (N, 1, H, W) in [0, 1]: (N, 3) float64.

    With ink weights w_rc = x_rc (row r from the top, column c from the left), m = sum_rc w_rc,
    the centroid (r0, c0) and the second moments, e.g. v_rc = (1/m) sum_rc w_rc (r - r0)(c - c0):
    - slant = -v_rc / v_rr: columns moved to the right per row going up (0 upright, > 0 leaning
      right), the shear that moment-based deskewing removes (second-order moments, Hu 1962);
    - ink = m / (H W): the mean grey level, more for thicker (or larger) strokes;
    - size = sqrt(v_rr + v_cc): the ink's spread around its centroid, in pixels.
    An image without ink has none of them (``ValueError``).
    """
    validate.not_empty("x", _images("x", x))
    w = x[:, 0].double()
    m = w.sum((1, 2))
    if (m == 0).any():
        first = int((m == 0).nonzero()[0])
        raise ValueError(f"x must have some ink in every image: image {first} is all 0")
    height, width = w.shape[1:]
    r = torch.arange(height, dtype=w.dtype).view(1, -1, 1)
    c = torch.arange(width, dtype=w.dtype).view(1, 1, -1)

    def moment(f: torch.Tensor) -> torch.Tensor:
        return (w * f).sum((1, 2)) / m

    dr, dc = r - moment(r).view(-1, 1, 1), c - moment(c).view(-1, 1, 1)
    v_rr, v_cc, v_rc = moment(dr * dr), moment(dc * dc), moment(dr * dc)
    slant = -v_rc / v_rr.clamp_min(1e-12)
    return torch.stack([slant, m / (height * width), (v_rr + v_cc).sqrt()], 1)


def _within_class(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """f (N, F) minus the mean of f over the rows of the same class y (N,)."""
    sums = torch.zeros(int(y.max()) + 1, f.shape[1], dtype=f.dtype).index_add_(0, y, f)
    counts = torch.bincount(y, minlength=len(sums)).to(f.dtype).unsqueeze(1)
    return f - (sums / counts.clamp_min(1))[y]


def style_correlation(x: torch.Tensor, y: torch.Tensor, x_new: torch.Tensor,
                      y_new: torch.Tensor) -> dict[str, float]:
    """How much of each input's handwriting its re-drawn image keeps: for each feature of
    ``style_features``, the Pearson correlation over the pairs i of

        a_i = f(x_i) - mean_{j: y_j = y_i} f(x_j),
        b_i = f(x_new_i) - mean_{j: y_new_j = y_new_i} f(x_new_j),

    each image's feature relative to the mean of its own class (so that a 1 being thinner than
    an 8 counts for nothing). x, x_new: grey images (N, 1, H, W); y, y_new: int64 labels (N,),
    the class of each input and the class it was re-drawn as. 1: the re-drawn images order the
    inputs' styles exactly; 0: no relation (e.g. x_new drawn whatever x is). Returns a dict
    {feature name: correlation}.
    """
    n = len(validate.not_empty("x", _images("x", x)))
    validate.tensor("x_new", _images("x_new", x_new), shape=(n, *x.shape[1:]))
    _labels(y, n)
    _labels(y_new, n, name="y_new")
    a = _within_class(style_features(x), y)
    b = _within_class(style_features(x_new), y_new)
    a, b = a - a.mean(0), b - b.mean(0)
    scale = a.norm(dim=0) * b.norm(dim=0)
    if (scale == 0).any():
        name = STYLE_FEATURES[int((scale == 0).nonzero()[0])]
        raise ValueError(f"the {name} of x or x_new does not vary within the classes: "
                         "no correlation to measure")
    return dict(zip(STYLE_FEATURES, ((a * b).sum(0) / scale).tolist()))

@torch.no_grad()
def classifier_features(classifier: nn.Module, x: torch.Tensor,
                        batch_size: int = 1024) -> torch.Tensor:
    """The classifier's features h(x) (N, F): the input of its last linear layer, i.e. the
    activations the logits are read from (F = 128 for ``train_classifier``'s MLP), for images
    ``x`` (N, 1, H, W) in [0, 1]; float64 on the CPU, computed in eval mode."""
    _images("x", x, classifier)
    validate.positive_int("batch_size", batch_size)
    seen: list[torch.Tensor] = []
    hook = _last_linear(classifier).register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0].cpu().double()))
    try:
        _probabilities(classifier, x, batch_size)
    finally:
        hook.remove()
    return torch.cat(seen)


def _moments(name: str, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) (divided by n - 1) of features (n, F), n >= 2, in float64."""
    validate.finite(name, validate.tensor(name, features, ndim=2))
    if len(features) < 2:
        raise ValueError(f"{name} needs at least 2 rows for a covariance, "
                         f"got shape {tuple(features.shape)}")
    features = features.double()
    return features.mean(0), torch.cov(features.T).reshape(features.shape[1], features.shape[1])


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (eigenvalues
    below 0 from round-off set to 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def gaussian_frechet_distance(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor,
                              cov_b: torch.Tensor) -> float:
    """The Frechet (2-Wasserstein) distance, squared, between N(m_a, C_a) and N(m_b, C_b)
    (Dowson and Landau 1982):

        d^2 = ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a^{1/2} C_b C_a^{1/2})^{1/2}),

    computed in float64 with symmetric square roots (eigendecompositions), so that it is
    symmetric in a and b and 0 for equal arguments up to round-off. Means (F,), covariances
    (F, F); returns a float >= 0."""
    for name, mean, cov in (("a", mean_a, cov_a), ("b", mean_b, cov_b)):
        validate.tensor(f"mean_{name}", mean, ndim=1)
        validate.tensor(f"cov_{name}", cov, shape=(len(mean), len(mean)))
    validate.same_shape(mean_a=mean_a, mean_b=mean_b)
    mean_a, cov_a, mean_b, cov_b = (t.double() for t in (mean_a, cov_a, mean_b, cov_b))
    root_a = _sqrt_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    distance = (mean_a - mean_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross
    return max(distance.item(), 0.0)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Frechet distance between two feature sets (n_a, F) and (n_b, F): that of the
    Gaussians with their means and covariances (``gaussian_frechet_distance``). With the
    course classifier's features (``classifier_features``) it is the FID recipe of Heusel et
    al. 2017. It depends on the set sizes (a finite sample's covariance is noisy, and the noise
    adds to the distance), so compare distances computed with equal sizes."""
    mean_a, cov_a = _moments("features_a", features_a)
    mean_b, cov_b = _moments("features_b", features_b)
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"features_a and features_b must have the same number of features, got "
                         f"{tuple(features_a.shape)} and {tuple(features_b.shape)}")
    return gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)


def _flat(name: str, x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` (n, ...) flattened to (n, P), float64, checked finite and non-empty."""
    validate.tensor(name, x, ndim=range(2, 6))
    return validate.finite(name, validate.not_empty(name, x)).flatten(1).double()


@torch.no_grad()
def nearest_distances(x: torch.Tensor, reference: torch.Tensor,
                      batch_size: int = 1024) -> torch.Tensor:
    """d_i = min_j || x_i - r_j ||_2, the Euclidean distance from each row of ``x`` (n, ...) to its
    nearest row of ``reference`` (m, ...) (images are flattened), (n,) float64 on the CPU."""
    x, reference = _flat("x", x), _flat("reference", reference)
    if x.shape[1] != reference.shape[1]:
        raise ValueError(f"x and reference must hold items of one size, got {x.shape[1]} and "
                         f"{reference.shape[1]} values per item")
    validate.positive_int("batch_size", batch_size)
    norms = reference.pow(2).sum(1)
    out = []
    for rows in x.split(batch_size):  # ||x - r||^2 = ||x||^2 - 2 x.r + ||r||^2, in float64
        squared = rows.pow(2).sum(1, keepdim=True) - 2 * rows @ reference.T + norms
        out.append(squared.min(1).values.clamp_min(0).sqrt())
    return torch.cat(out)


def memorisation(samples: torch.Tensor, train: torch.Tensor, held_out: torch.Tensor,
                 quantile: float = 0.05) -> dict:
    """A data-copying check: does a generator return (near-)copies of its training items?

    With d(x) = the distance from x to its nearest training item (``nearest_distances``) and the
    threshold tau = the ``quantile`` of d over the held-out items,

        share = #{s : d(s) < tau} / n   over the n samples.

    Held-out items are draws from the data distribution that training never saw, so about a
    ``quantile`` of them (by construction) and of any generator that is no nearer to the
    training set than new data would be, fall below tau; a generator that copies training items
    (d = 0) scores 1. A relative of the nearest-neighbour tests of data copying (Meehan et al.
    2020). ``samples``, ``train`` and ``held_out`` (n, ...), items of one shape (images or
    vectors). Returns ``{"share": float, "threshold": tau}``.
    """
    validate.probability("quantile", quantile)
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile}")
    items = {"samples": _flat("samples", samples), "train": _flat("train", train),
             "held_out": _flat("held_out", held_out)}
    sizes = {name: item.shape[1] for name, item in items.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"samples, train and held_out must hold items of one size, got {sizes} values per item")
    tau = torch.quantile(nearest_distances(items["held_out"], items["train"]), quantile).item()
    share = (nearest_distances(items["samples"], items["train"]) < tau).double().mean().item()
    return {"share": share, "threshold": tau}
