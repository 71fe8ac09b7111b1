"""The exercise checks catch the mistakes learners make: each case below replaces one function of
a solution by a plausible wrong answer and asserts that the checker fails it with a message that
names the problem and ends with the notebook section that teaches the task.

Run one exercise's cases with `pytest tests/test_exercise_mistakes.py -k ex07`.
"""
import textwrap
from pathlib import Path

import pytest

from vae_course import exercises as ex

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"

# (exercise, wrong definition of one function, a phrase the failure must contain)
MISTAKES = [
    ("01", "no-centring", """
        def pca_svd(x, k):
            _, s, vt = torch.linalg.svd(x, full_matrices=False)
            return x.mean(0), vt[:k], s[:k] ** 2 / (len(x) - 1)""", "between your components"),
    ("01", "divide-by-N", """
        def pca_svd(x, k):
            mean = x.mean(0)
            _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
            return mean, vt[:k], s[:k] ** 2 / len(x)""", "explained_variance"),
    ("01", "float32", """
        def pca_svd(x, k):
            x = x.float()
            mean = x.mean(0)
            _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
            return mean, vt[:k], s[:k] ** 2 / (len(x) - 1)""", "dtype torch.float64"),
    ("01", "no-return", """
        def pca_svd(x, k):
            mean = x.mean(0)""", "returned None"),
    ("01", "no-clamp", """
        def principal_angles(a, b):
            q_a, q_b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
            return torch.rad2deg(torch.arccos(torch.linalg.svdvals(q_a.T @ q_b)))""", "clamp the cosines"),
    ("01", "radians", """
        def principal_angles(a, b):
            q_a, q_b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
            return torch.arccos(torch.linalg.svdvals(q_a.T @ q_b).clamp(0, 1))""", "not radians"),
    ("01", "no-qr", """
        def principal_angles(a, b):
            return torch.rad2deg(torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(0, 1)))""", "orthonormalise"),
    ("02", "relu-after-last", """
        def mlp_encoder_decoder(P, hidden, D):
            def stack(sizes):
                layers = []
                for a, b in zip(sizes[:-1], sizes[1:]):
                    layers += [nn.Linear(a, b), nn.ReLU()]
                return nn.Sequential(*layers)
            return stack([P, *hidden, D]), stack([D, *reversed(hidden), P])""", "none after the last"),
    ("02", "no-zero-grad", """
        def training_step(model, optimizer, x):
            loss = ((model(x) - x) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss.item()""", "zero_grad, backward, step"),
    ("02", "returns-tensor", """
        def training_step(model, optimizer, x):
            optimizer.zero_grad()
            loss = ((model(x) - x) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss""", "Python float"),
    ("03", "ignores-generator", """
        def gaussian_noise(x, level, generator=None):
            return (x + level * torch.randn(x.shape)).clamp(0.0, 1.0)""", "equally seeded generators"),
    ("03", "shared-noise", """
        def gaussian_noise(x, level, generator=None):
            eps = torch.randn(x.shape[0], generator=generator).reshape(-1, *[1] * (x.dim() - 1))
            return (x + level * eps).clamp(0.0, 1.0)""", "correlated noise"),
    ("03", "no-clip", """
        def gaussian_noise(x, level, generator=None):
            return x + level * torch.randn(x.shape, generator=generator)""", "clipped to [0, 1]"),
    ("03", "masking-keeps-level", """
        def masking_noise(x, level, generator=None):
            u = torch.rand(x.shape, generator=generator)
            return x * (u < level)""", "fraction of pixels zeroed"),
    ("03", "pepper-first", """
        def salt_and_pepper_noise(x, level, generator=None):
            salt = (torch.rand(x.shape, generator=generator) < 0.5).to(x.dtype)
            hit = torch.rand(x.shape, generator=generator) < level
            return torch.where(hit, salt, x)""", "order the docstring says"),
    ("03", "rejects-level-0", """
        def corrupt(x, kind, level, generator=None):
            processes = {"gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper_noise}
            if kind not in processes or level <= 0 or (kind != "gaussian" and level > 1):
                raise ValueError("bad arguments")
            return processes[kind](x, level, generator)""", "level 0 is allowed"),
    ("03", "keyerror", """
        def corrupt(x, kind, level, generator=None):
            processes = {"gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper_noise}
            return processes[kind](x, level, generator)""", "raised KeyError"),
]


def _wrong_module(number: str, source: str):
    path = ex.find_exercise(number, SOLUTIONS)
    module = ex.load_module(path)
    exec(textwrap.dedent(source), module.__dict__)
    return path, module


def failures_of(number: str, source: str) -> list[str]:
    """The failure messages of every task of exercise ``number`` with ``source`` swapped in."""
    path, module = _wrong_module(number, source)
    results = [ex.run_task(check, module, ex.task_hint(path, check), time_limit=60)
               for _, check in ex.tasks_of(path)]
    return [r for r in results if r is not None]


@pytest.mark.parametrize("number,source,phrase", [pytest.param(n, s, p, id=f"ex{n}-{name}")
                                                  for n, name, s, p in MISTAKES])
def test_checker_catches_the_mistake(number, source, phrase):
    failures = failures_of(number, source)
    assert failures, "the wrong answer passed every check"
    assert any(phrase in f for f in failures), failures
    for failure in failures:
        assert "\nHint: see notebook " in failure and f"notebook {number}" in failure, failure
