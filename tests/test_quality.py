"""Sample-quality score: formulas against explicit loops, the trained classifier on real
digits and on noise, determinism, errors."""
import numpy as np
import pytest
import torch
from torch import nn

from vae_course import data, quality


@pytest.fixture(scope="module")
def digits():
    return data.load_digits("train"), data.load_digits("test")


@pytest.fixture(scope="module")
def classifier(digits):
    train, _ = digits
    return quality.train_classifier(train.x, train.y, steps=600, seed=0)


def _linear_classifier(seed=0, n_classes=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, n_classes)).eval()


def test_scores_follow_their_formulas_on_a_fixed_classifier():
    clf = _linear_classifier()
    x = torch.rand(50, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    q = quality.sample_quality(clf, x, n_classes=4, min_fraction=0.2)
    with torch.no_grad():
        probs = [torch.softmax(clf(x[i:i + 1])[0], 0) for i in range(len(x))]
    counts = [sum(int(p.argmax()) == y for p in probs) for y in range(4)]
    assert q["confidence"] == pytest.approx(sum(float(p.max()) for p in probs) / len(x), abs=1e-6)
    assert q["class_counts"].tolist() == counts
    assert q["coverage"] == sum(c >= 0.2 * len(x) for c in counts)
    labels = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(2))
    by_loop = sum(int(probs[i].argmax()) == int(labels[i]) for i in range(len(x))) / len(x)
    assert quality.classifier_accuracy(clf, x, labels) == pytest.approx(by_loop)


def test_classifier_is_accurate_and_confident_on_real_digits(classifier, digits):
    _, test = digits
    assert quality.classifier_accuracy(classifier, test.x, test.y) > 0.94
    q = quality.sample_quality(classifier, test.x)
    assert q["confidence"] > 0.85 and q["coverage"] == 10
    assert q["class_counts"].sum() == len(test.x)


def test_noise_blends_and_a_single_class_score_low(classifier, digits):
    train, test = digits
    noise = torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    assert quality.sample_quality(classifier, noise)["confidence"] < 0.3
    blends = (train.x[:500] + train.x[500:1000]) / 2
    assert quality.sample_quality(classifier, blends)["confidence"] < 0.8
    ones = test.x[test.y == 1]
    assert quality.sample_quality(classifier, ones)["coverage"] <= 2


def test_training_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(digits, monkeypatch):
    # One thread for all three runs: the thread count follows the cores other programs leave
    # idle, and two counts sum in two orders, so equal seeds alone would not give equal bits.
    monkeypatch.setenv("VAE_COURSE_THREADS", "1")
    train, _ = digits
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = quality.train_classifier(train.x[:300], train.y[:300], steps=20, seed=1)
    assert torch.equal(torch.rand(3), before)
    b = quality.train_classifier(train.x[:300], train.y[:300], steps=20, seed=1)
    c = quality.train_classifier(train.x[:300], train.y[:300], steps=20, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("call,error,match", [
    (lambda c: quality.sample_quality(c, torch.rand(5, 64)), ValueError, "samples must have 4 dimensions"),
    (lambda c: quality.sample_quality(c, torch.rand(5, 3, 8, 8)), ValueError, r"grey images \(N, 1, H, W\)"),
    (lambda c: quality.sample_quality(c, torch.rand(5, 1, 8, 8), n_classes=5), ValueError, "gives 10 logits"),
    (lambda c: quality.sample_quality(c, torch.rand(5, 1, 8, 8), min_fraction=1.5), ValueError, "min_fraction"),
    (lambda c: quality.train_classifier(torch.rand(5, 1, 8, 8), torch.zeros(4, dtype=torch.long)),
     ValueError, r"y must have shape \(5\)"),
    (lambda c: quality.train_classifier(torch.rand(5, 1, 8, 8), torch.zeros(5)), TypeError, "y must be int64"),
    (lambda c: quality.train_classifier(torch.rand(5, 1, 8, 8), torch.zeros(5, dtype=torch.long), steps=0),
     ValueError, "steps"),
    (lambda c: quality.classifier_accuracy(c, torch.rand(5, 1, 8, 8), torch.zeros(3, dtype=torch.long)),
     ValueError, r"y must have shape \(5\)"),
])
def test_bad_input_is_rejected(classifier, call, error, match):
    with pytest.raises(error, match=match):
        call(classifier)


def _stroke(shear: float, thickness: int = 1, length: int = 6) -> torch.Tensor:
    """A vertical stroke (1, 1, 8, 8) whose column moves by ``shear`` per row going up."""
    x = torch.zeros(1, 1, 8, 8)
    for row in range(1, 1 + length):
        col = round(3 + shear * (1 + length / 2 - row))
        x[0, 0, row, col:col + thickness] = 1.0
    return x


def test_style_features_follow_their_formulas():
    x = torch.rand(6, 1, 5, 4, generator=torch.Generator().manual_seed(4))
    got = quality.style_features(x)
    for i in range(len(x)):
        w = x[i, 0].double()
        m = w.sum()
        r0 = sum(w[r, c] * r for r in range(5) for c in range(4)) / m
        c0 = sum(w[r, c] * c for r in range(5) for c in range(4)) / m
        v = {k: sum(w[r, c] * f(r, c) for r in range(5) for c in range(4)) / m for k, f in {
            "rr": lambda r, c: (r - r0) ** 2, "cc": lambda r, c: (c - c0) ** 2,
            "rc": lambda r, c: (r - r0) * (c - c0)}.items()}
        expected = [-v["rc"] / v["rr"], m / 20, (v["rr"] + v["cc"]).sqrt()]
        torch.testing.assert_close(got[i], torch.stack(expected))


def test_style_features_read_slant_ink_and_size():
    upright, leaning_right, leaning_left = _stroke(0.0), _stroke(0.5), _stroke(-0.5)
    slant = quality.style_features(torch.cat([upright, leaning_right, leaning_left]))[:, 0]
    assert slant[0] == 0 and slant[1] > 0.3 and slant[2] < -0.3
    thin, thick = quality.style_features(torch.cat([_stroke(0.0), _stroke(0.0, thickness=2)]))
    assert thick[1] == 2 * thin[1]
    short, long = quality.style_features(torch.cat([_stroke(0.0, length=3),
                                                    _stroke(0.0, length=6)]))
    assert long[2] > short[2]


def test_style_correlation_is_one_for_a_copy_and_near_zero_for_unrelated_images(digits):
    _, test = digits
    g = torch.Generator().manual_seed(5)
    same = quality.style_correlation(test.x, test.y, test.x, test.y)
    assert same == pytest.approx({"slant": 1.0, "ink": 1.0, "size": 1.0})
    # the same images under other class labels: centring per class changes, correlation stays high
    relabelled = quality.style_correlation(test.x, test.y, test.x, (test.y + 1) % 10)
    assert relabelled == pytest.approx(same)
    shuffled = torch.randperm(len(test.x), generator=g)
    unrelated = quality.style_correlation(test.x, test.y, test.x[shuffled], test.y[shuffled])
    assert all(abs(r) < 0.15 for r in unrelated.values())   # 360 pairs: sd of r about 0.05


def test_style_correlation_measures_deviations_from_each_class_mean():
    # class 1 is all darker than class 0, in the inputs and in the re-drawn images: the raw ink
    # correlates strongly across the pairs, the ink relative to each class mean does not
    g = torch.Generator().manual_seed(6)
    y = torch.arange(200) % 2
    x, x_new = (torch.rand(200, 1, 8, 8, generator=g) * 0.5 + 0.5 * y.view(-1, 1, 1, 1)
                for _ in range(2))
    ink, ink_new = quality.style_features(x)[:, 1], quality.style_features(x_new)[:, 1]
    assert torch.corrcoef(torch.stack([ink, ink_new]))[0, 1] > 0.9

    def within(f):
        return f - torch.stack([f[y == c].mean() for c in (0, 1)])[y]

    expected = torch.corrcoef(torch.stack([within(ink), within(ink_new)]))[0, 1]
    r = quality.style_correlation(x, y, x_new, y)["ink"]
    assert r == pytest.approx(expected.item()) and abs(r) < 0.2


def _pair(x_new=None, y_new=None):
    """Three images, each its own class, and their re-drawn versions (defaults: random)."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(3, 1, 8, 8, generator=g)
    return (x, torch.arange(3), torch.rand(3, 1, 8, 8, generator=g) if x_new is None else x_new,
            torch.arange(3) if y_new is None else y_new)


@pytest.mark.parametrize("call,error,match", [
    (lambda: quality.style_features(torch.zeros(2, 1, 8, 8)), ValueError, "image 0 is all 0"),
    (lambda: quality.style_features(torch.rand(2, 8, 8)), ValueError, "x must have 4 dimensions"),
    (lambda: quality.style_correlation(*_pair(x_new=torch.rand(2, 1, 8, 8))), ValueError,
     r"x_new must have shape \(3, 1, 8, 8\)"),
    (lambda: quality.style_correlation(*_pair(y_new=torch.zeros(3))), TypeError,
     "y_new must be int64"),
    (lambda: quality.style_correlation(*_pair(y_new=torch.tensor([0, 1, -1]))), ValueError,
     r"y_new must hold class labels 0, 1, 2, ..., got values in \[-1, 1\]"),
    (lambda: quality.style_correlation(*_pair()), ValueError, "does not vary within the classes"),
])
def test_style_helpers_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _gaussian_features(mean, std, n, seed):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, len(mean), generator=g, dtype=torch.float64)
    return torch.tensor(mean, dtype=torch.float64) + torch.tensor(std, dtype=torch.float64) * noise


def test_frechet_distance_is_zero_for_one_set_and_symmetric():
    a = _gaussian_features([0.0, 1.0, 2.0], [1.0, 0.5, 2.0], 500, 0)
    b = _gaussian_features([1.0] * 3, [1.0] * 3, 300, 1)
    assert quality.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert quality.frechet_distance(a, b) == pytest.approx(quality.frechet_distance(b, a), rel=1e-9)
    assert quality.frechet_distance(a, b) > 1.0
    g = torch.Generator().manual_seed(2)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0]
    rotated = quality.frechet_distance(a @ rotation, b @ rotation)
    assert rotated == pytest.approx(quality.frechet_distance(a, b))


def test_frechet_distance_of_two_known_gaussians():
    """Diagonal covariances commute: d^2 = ||m_a - m_b||^2 + sum_i (s_a,i - s_b,i)^2."""
    m_a, s_a, m_b, s_b = [0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.5]
    exact = sum((x - y) ** 2 for x, y in [*zip(m_a, m_b), *zip(s_a, s_b)])
    cov = lambda s: torch.diag(torch.tensor(s, dtype=torch.float64) ** 2)
    closed = quality.gaussian_frechet_distance(torch.tensor(m_a), cov(s_a), torch.tensor(m_b),
                                               cov(s_b))
    assert closed == pytest.approx(exact, rel=1e-12)
    a, b = _gaussian_features(m_a, s_a, 200_000, 3), _gaussian_features(m_b, s_b, 200_000, 4)
    assert quality.frechet_distance(a, b) == pytest.approx(exact, rel=0.01)


def test_frechet_distance_with_full_covariances_against_scipy():
    from scipy import linalg

    g = torch.Generator().manual_seed(5)
    draw = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
    a, b = draw(400, 4) @ draw(4, 4), 0.5 + draw(300, 4) @ draw(4, 4)
    m_a, m_b = a.mean(0).numpy(), b.mean(0).numpy()
    c_a, c_b = np.cov(a.numpy().T), np.cov(b.numpy().T)
    brute = ((m_a - m_b) ** 2).sum() + np.trace(c_a + c_b - 2 * linalg.sqrtm(c_a @ c_b).real)
    assert quality.frechet_distance(a, b) == pytest.approx(brute, rel=1e-8)


def test_classifier_features_are_the_input_of_the_last_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    x = torch.rand(7, 1, 2, 2, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = net[2](net[1](net[0](x))).double()
    assert torch.allclose(quality.classifier_features(net, x, batch_size=3), expected)


def test_memorisation_flags_copies_and_not_new_draws(digits):
    train, test = digits
    noise = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    copies = quality.memorisation(train.x[:300], train.x, test.x)
    own = quality.memorisation(test.x, train.x, test.x, quantile=0.1)
    assert copies["share"] == 1.0 and copies["threshold"] > 0
    assert own["share"] == pytest.approx(0.1, abs=1 / len(test.x))
    assert quality.memorisation(noise, train.x, test.x)["share"] == 0.0
    x, ref = torch.randn(9, 5, dtype=torch.float64), torch.randn(11, 5, dtype=torch.float64)
    loop = torch.tensor([min((xi - r).norm().item() for r in ref) for xi in x], dtype=torch.float64)
    assert torch.allclose(quality.nearest_distances(x, ref, batch_size=4), loop)


ROWS = torch.zeros(4, 3)


@pytest.mark.parametrize("call,error,match", [
    (lambda: quality.frechet_distance(torch.zeros(1, 3), ROWS), ValueError, "at least 2 rows"),
    (lambda: quality.frechet_distance(ROWS, torch.zeros(5, 2)), ValueError,
     "same number of features"),
    (lambda: quality.frechet_distance(torch.full((4, 3), float("nan")), ROWS), ValueError,
     "finite"),
    (lambda: quality.memorisation(ROWS, ROWS, ROWS, quantile=0.0), ValueError, "strictly between"),
    (lambda: quality.nearest_distances(ROWS, torch.zeros(5, 2)), ValueError, "one size"),
])
def test_bad_input_to_the_set_scores(call, error, match):
    with pytest.raises(error, match=match):
        call()
