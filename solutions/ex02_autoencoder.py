"""Exercise 02: a deep autoencoder by hand (notebook 02, "Deep autoencoders").

Tasks
1. ``mlp_encoder_decoder(P, hidden, D)``: an MLP encoder and its mirrored decoder.
2. ``training_step(model, optimizer, x)``: one gradient step on the mean squared error.

Check your work with ``python3 -m vae_course check 02``.
"""
from collections.abc import Sequence

import torch
from torch import nn


def mlp_encoder_decoder(P: int, hidden: Sequence[int], D: int) -> tuple[nn.Sequential, nn.Sequential]:
    """An MLP encoder P -> hidden[0] -> ... -> hidden[-1] -> D and the mirrored decoder
    D -> hidden[-1] -> ... -> hidden[0] -> P.

    Each is an ``nn.Sequential`` of ``nn.Linear`` layers with an ``nn.ReLU()`` between two
    linear layers and nothing after the last one (the encoder outputs a code z in R^D, the
    decoder outputs logits; the autoencoder applies the sigmoid). Example: P=64, hidden=(32,),
    D=2 gives Linear(64, 32), ReLU, Linear(32, 2) and Linear(2, 32), ReLU, Linear(32, 64).
    P, D >= 1; hidden: a tuple or a list of 0 or more sizes >= 1 (not changed; no hidden size
    gives a single Linear(P, D)). Encoder: (B, P) -> (B, D); decoder: (B, D) -> (B, P).
    """
    # BEGIN SOLUTION see notebook 02, section "2. An MLP autoencoder"
    def stack(sizes):
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    return stack([P, *hidden, D]), stack([D, *reversed(hidden), P])
    # END SOLUTION


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> float:
    """One training step of an autoencoder on the batch ``x`` (B, ...); returns the loss.

    Forward x_hat = model(x); loss = mean squared error (1/(B P)) sum (x_hat - x)^2 over all
    entries; clear the old gradients, backpropagate, take one optimiser step. Return the
    loss *before* the step as a Python float. Any batch size B >= 1 and image shape; x is not
    changed; gradients left over from an earlier step must not leak into this one.
    """
    # BEGIN SOLUTION see notebook 02, section "2. An MLP autoencoder"
    loss = (model(x) - x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    # END SOLUTION
