"""Checks of exercise 02 (MLP encoder/decoder; one training step), against ``vae_course``."""
from __future__ import annotations

import copy

import torch
from torch import nn

from vae_course import models, pca, train
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple


def _same_function(name: str, got: nn.Module, reference: nn.Sequential, x: torch.Tensor) -> None:
    """Load ``got``'s weights into ``reference`` (same layers) and compare the outputs."""
    expect_true(isinstance(got, nn.Module), f"{name}: expected an nn.Module, got {type(got).__name__}")
    got_shapes = [tuple(p.shape) for p in got.parameters()]
    ref_shapes = [tuple(p.shape) for p in reference.parameters()]
    expect_true(got_shapes == ref_shapes, f"{name}: expected parameters of shapes {ref_shapes}, got {got_shapes}")
    with torch.no_grad():
        for p_ref, p in zip(reference.parameters(), got.parameters()):
            p_ref.copy_(p)
        out = expect_tensor(f"{name} output", got(x), (len(x), ref_shapes[-1][0]))
        expect_close(f"{name} output (ReLU between layers, none after the last?)", out, reference(x), atol=1e-5)


def check_encoder_decoder(module) -> None:
    torch.manual_seed(0)
    for P, hidden, D in [(64, (32,), 2), (10, (8, 6), 3)]:
        encoder, decoder = expect_tuple(f"mlp_encoder_decoder({P}, {hidden}, {D})",
                                        module.mlp_encoder_decoder(P, hidden, D), 2, "(encoder, decoder)")
        _same_function(f"encoder{(P, *hidden, D)}", encoder, models.mlp([P, *hidden, D]), 3 * torch.randn(5, P))
        _same_function(f"decoder{(D, *reversed(hidden), P)}", decoder, models.mlp([D, *reversed(hidden), P]),
                       3 * torch.randn(5, D))


def check_training_step(module) -> None:
    torch.manual_seed(0)
    model = models.Autoencoder.build("mlp", (1, 8, 8), 3)
    reference = copy.deepcopy(model)
    x = torch.rand(16, 1, 8, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    for p in model.parameters():  # stale gradients that a correct step clears first
        p.grad = torch.ones_like(p)
    for step in range(2):
        loss = module.training_step(model, optimizer, x)
        expect_true(isinstance(loss, float), f"training_step should return a Python float, got {type(loss).__name__}")
        history = train.fit(reference, pca.reconstruction_loss, x, steps=1, batch_size=len(x),
                            optimizer=ref_optimizer, progress=False, device="cpu")
        expect_close(f"loss returned at step {step + 1} (the MSE before the update)", loss,
                     history.train["loss"][0], atol=1e-6)
        for (name, p), p_ref in zip(model.named_parameters(), reference.parameters()):
            expect_close(f"parameter {name} after step {step + 1} (zero_grad, backward, step?)",
                         p.detach(), p_ref.detach(), atol=1e-5)


TASKS = [
    ("1. MLP encoder and decoder", check_encoder_decoder),
    ("2. one training step", check_training_step),
]
