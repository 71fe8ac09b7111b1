# Your copy of this exercise: replace each `raise NotImplementedError(...)` with your code,
# then run `python3 -m vae_course check 03`.
# (Maintainers: generated from solutions/ex03_corruption.py by `python3 -m vae_course exercises`.)
"""Exercise 03: corruption processes for a denoising autoencoder (notebook 03).

Tasks (check them with `python3 -m vae_course check 03`):
1. `gaussian_noise`: additive Gaussian noise, clipped to [0, 1].
2. `masking_noise`: zero each pixel with probability `level`.
3. `salt_and_pepper_noise`: set each pixel, with probability `level`, to 0 or 1 (equal chance).
4. `corrupt`: choose the process by name and reject bad arguments.

Draw your random numbers exactly as each docstring says, from `generator`: the checker then
compares your output with the course's own `vae_course.corruption.corrupt` value for value.
"""
import torch


def gaussian_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_tilde = clip(x + level * eps, 0, 1) with
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).

    x: images of any shape (a batch of 1, channels C >= 1, ...), float32 or float64, values in
    [0, 1]; level: the noise standard deviation, any number >= 0 (0 leaves x as it is).
    Returns a new tensor of x's shape and dtype with values in [0, 1]; x itself is not changed.
    """
    raise NotImplementedError('see notebook 03, section "2. Corruption processes"')


def masking_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_tilde_p = 0 with probability level, else x_p.

    Draw u = torch.rand(x.shape, generator=generator, dtype=x.dtype) and keep the pixels where
    u >= level (so P(keep) = 1 - level). x as in ``gaussian_noise``; level in [0, 1] (0 keeps
    every pixel, 1 zeroes every pixel). Returns a new tensor of x's shape and dtype.
    """
    raise NotImplementedError('see notebook 03, section "2. Corruption processes"')


def salt_and_pepper_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_tilde_p = s_p with probability level, else x_p, where s_p is 0 or 1 with probability 1/2.

    Draw u = torch.rand(x.shape, generator=generator, dtype=x.dtype) first (pixel p is hit
    when u_p < level), then v = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    (s_p = 1 when v_p < 0.5, else 0). x as in ``gaussian_noise``; level in [0, 1]. Returns a
    new tensor of x's shape and dtype.
    """
    raise NotImplementedError('see notebook 03, section "2. Corruption processes"')


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt x with the process named by kind: "gaussian", "masking" or "salt_and_pepper".

    Raise ValueError for any other kind, for level < 0 (whatever the kind), and for level > 1
    when the level is a probability (masking, salt and pepper), before drawing anything; the
    message names the bad kind or level it got. Level 0 (every kind) and 1 (every kind) are
    allowed. Then call the matching function above.
    """
    raise NotImplementedError('see notebook 03, section "2. Corruption processes"')
