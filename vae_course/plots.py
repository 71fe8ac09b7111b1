"""Figures used across the course: image grids, latent scatters and training curves.

Every function titles its axes object and labels both axes, and returns the ``Axes`` so a
notebook can add to it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torchvision.utils import make_grid

from vae_course import validate

if TYPE_CHECKING:  # for the annotation only: plots sits below the training loop
    from vae_course.train import History


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def show_images(images: torch.Tensor, title: str, *, nrow: int = 10, ax: Axes | None = None,
                xlabel: str = "", ylabel: str = "") -> Axes:
    """Show a batch of images (B, C, H, W) in [0, 1] as one grid (torchvision's ``make_grid``)."""
    validate.not_empty("images", validate.tensor("images", images, ndim=4))
    if images.shape[1] not in (1, 3):
        hint = ": channels last? use images.permute(0, 3, 1, 2)" if images.shape[-1] in (1, 3) else ""
        raise ValueError(f"images must be (B, C, H, W) with C = 1 or 3 channels, got shape {tuple(images.shape)}{hint}")
    validate.positive_int("nrow", nrow)
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)
    ax = _axes(ax, (min(12, 0.9 * nrow), 0.9 * max(1, -(-len(images) // nrow))))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xticks=[], yticks=[])
    return ax


def show_rows(rows: Sequence[torch.Tensor], row_labels: Sequence[str], title: str,
              ax: Axes | None = None, xlabel: str = "example") -> Axes:
    """Show several equally long batches (B, C, H, W) as labelled rows of one grid,
    e.g. noisy / denoised / clean."""
    if len(rows) != len(row_labels):
        raise ValueError(f"rows and row_labels must have the same length, got {len(rows)} and {len(row_labels)}")
    ncol = len(rows[0])
    if any(r.shape != rows[0].shape for r in rows):
        raise ValueError(f"every row must have the same shape, got {[tuple(r.shape) for r in rows]}")
    ax = show_images(torch.cat(list(rows)), title, nrow=ncol, ax=ax, xlabel=xlabel)
    height = rows[0].shape[-2] + 1
    ax.set_yticks([height * (i + 0.5) for i in range(len(rows))], labels=list(row_labels))
    return ax


def scatter_latents(z: torch.Tensor, labels: torch.Tensor | None, title: str, *,
                    ax: Axes | None = None, dims: tuple[int, int] = (0, 1), s: float = 6) -> Axes:
    """Scatter two latent dimensions of codes ``z`` (N, D), coloured by integer ``labels`` (N,)."""
    validate.tensor("z", z, ndim=2)
    if z.shape[1] <= max(dims):
        raise ValueError(f"dims={dims} needs z with more than {max(dims)} columns, got shape {tuple(z.shape)}")
    z = z.detach().cpu().numpy()
    ax = _axes(ax, (5, 4.5))
    if labels is None:
        ax.scatter(z[:, dims[0]], z[:, dims[1]], s=s, alpha=0.8)
    else:
        colours = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        points = ax.scatter(z[:, dims[0]], z[:, dims[1]], c=colours, cmap="tab10", s=s, alpha=0.8)
        ax.figure.colorbar(points, ax=ax, label="label")
    ax.set(title=title, xlabel=f"$z_{{{dims[0] + 1}}}$", ylabel=f"$z_{{{dims[1] + 1}}}$")
    return ax


def plot_history(history: History, names: Sequence[str], title: str, *,
                 ax: Axes | None = None, ylabel: str = "value", logy: bool = False) -> Axes:
    """Training curves: each name's training values (thin) and held-out values (dots)."""
    missing = [n for n in names if n not in history.train and n not in history.eval]
    if missing:
        raise KeyError(f"not in the history: {missing}; logged: {sorted(set(history.train) | set(history.eval))}")
    ax = _axes(ax, (6, 3.5))
    for name in names:
        if history.train.get(name):
            line, = ax.plot(history.steps, history.train[name], lw=1, alpha=0.7, label=f"{name} (train)")
            colour = line.get_color()
        else:
            colour = None
        if history.eval.get(name):
            ax.plot(history.eval_steps, history.eval[name], "o-", ms=3, color=colour, label=f"{name} (held-out)")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="training step", ylabel=ylabel)
    ax.legend(fontsize="small")
    return ax


def mi_heatmap(matrix: np.ndarray, factor_names: Sequence[str], title: str, *, ax: Axes | None = None,
               latent_labels: Sequence[str] | None = None) -> Axes:
    """A heat map of ``matrix`` (D, K), e.g. I(z_j; v_k) / H(v_k), one row per latent and one
    column per factor, each cell printed to two decimals; ``latent_labels`` name the rows."""
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.shape[1] != len(factor_names):
        raise ValueError(f"matrix must be a (D, K) numpy array with K = len(factor_names) = {len(factor_names)}, "
                         f"got {getattr(matrix, 'shape', type(matrix).__name__)}")
    ax = _axes(ax, (0.8 * matrix.shape[1] + 1.5, 0.4 * matrix.shape[0] + 1))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (j, k), value in np.ndenumerate(matrix):
        ax.text(k, j, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=8)
    labels = latent_labels if latent_labels is not None else [f"z{j + 1}" for j in range(matrix.shape[0])]
    ax.set_xticks(range(matrix.shape[1]), labels=list(factor_names), rotation=30)
    ax.set_yticks(range(matrix.shape[0]), labels=list(labels))
    ax.set(title=title, xlabel="factor v_k", ylabel="latent z_j")
    ax.figure.colorbar(image, ax=ax, label="I(z_j; v_k) / H(v_k)")
    return ax
