"""Exercise 12, task 3 (the causal mask of a PixelCNN prior): the check passes the solution and
fails masks that let the future leak or leave a blind spot, saying which."""
import textwrap
from pathlib import Path

import pytest

from vae_course import exercises as ex

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"

WRONG = {
    "centre-in-mask-A": ("""
        def causal_mask(kernel_size, include_centre):
            c = kernel_size // 2
            mask = torch.zeros(kernel_size, kernel_size)
            mask[:c] = 1
            mask[c, :c + 1] = 1
            return mask""", "the future leaks"),
    "whole-centre-row": ("""
        def causal_mask(kernel_size, include_centre):
            c = kernel_size // 2
            mask = torch.zeros(kernel_size, kernel_size)
            mask[:c + 1] = 1
            mask[c, c] = float(include_centre)
            return mask""", "the future leaks"),
    "lower-half": ("""
        def causal_mask(kernel_size, include_centre):
            c = kernel_size // 2
            mask = torch.zeros(kernel_size, kernel_size)
            mask[c + 1:] = 1
            mask[c, :c + int(include_centre)] = 1
            return mask""", "below the centre row"),
    "no-mask": ("""
        def causal_mask(kernel_size, include_centre):
            return torch.ones(kernel_size, kernel_size)""", "below the centre row"),
    "only-the-centre-row": ("""
        def causal_mask(kernel_size, include_centre):
            c = kernel_size // 2
            mask = torch.zeros(kernel_size, kernel_size)
            mask[c, :c + int(include_centre)] = 1
            return mask""", "blind spot"),
}


def failure(source=None):
    path = ex.find_exercise("12", SOLUTIONS)
    module = ex.load_module(path)
    if source is not None:
        exec(textwrap.dedent(source), module.__dict__)
    title, check = [task for task in ex.tasks_of(path) if "causal mask" in task[0]][0]
    return ex.run_task(check, module)


def test_the_solution_passes():
    assert failure() is None


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_mask_fails_and_says_why(name):
    source, phrase = WRONG[name]
    message = failure(source)
    assert message is not None and phrase in message, message
