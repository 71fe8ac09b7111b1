"""Sample-quality score: formulas against explicit loops, the trained classifier on real
digits and on noise, determinism, errors."""
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
