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


def test_training_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(digits):
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
