"""Checks of exercise 02 (MLP encoder/decoder; one training step), against ``vae_course``, then
against the reference solution over the docstrings' domain: P, D >= 1 and 0 to 3 hidden layers
given as a tuple or a list; batches of 1 and odd sizes, images with C > 1, SGD and Adam, with
and without gradients left over from before."""
from __future__ import annotations

import copy

import torch
from hypothesis import strategies as st
from torch import nn

from vae_course import models, pca, train
from vae_course.exercise_checks.common import expect_close, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import Named, batch_sizes, differential, reference, tensors


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
    differential("mlp_encoder_decoder", module.mlp_encoder_decoder, reference("02", "mlp_encoder_decoder"),
                 _network_cases(), compare=_same_networks)


@st.composite
def _network_cases(draw) -> dict:
    sizes = st.integers(1, 6)
    hidden = draw(st.lists(sizes, max_size=3))
    return {"P": draw(sizes), "hidden": hidden if draw(st.booleans()) else tuple(hidden), "D": draw(sizes)}


def _same_networks(name, got, expected, case) -> None:
    """The same layers as the reference's networks, computing the same function on a batch of
    one and a batch of three."""
    got = expect_tuple(name, got, 2, "(encoder, decoder)")
    for part, net, ref in zip(("encoder", "decoder"), got, expected):
        n_in = ref[0].in_features
        for batch in (1, 3):
            x = 3 * torch.randn(batch, n_in, generator=torch.Generator().manual_seed(batch))
            _same_function(f"{part} of mlp_encoder_decoder{tuple(case.values())}", net, copy.deepcopy(ref), x)


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
    differential("training_step", module.training_step, _reference_step, _step_cases(), build=_fresh_step,
                 observe=_after_step, parts=("the loss returned", "the parameters after the step"), atol=1e-5,
                 rtol=1e-4, max_examples=25)


def _reference_step(model, optimizer, x):
    return reference("02", "training_step")(model, optimizer, x)


@st.composite
def _step_cases(draw) -> dict:
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    latent, seed = draw(st.integers(1, 3)), draw(st.integers(0, 99))
    model = Named((shape, latent, seed), f"Autoencoder.build('mlp', {shape}, {latent}) after torch.manual_seed({seed})")
    stale = draw(st.booleans())
    if stale:
        model.text += ", every p.grad = 1 (left over from before)"
    kind, lr = draw(st.sampled_from(["SGD", "Adam"])), draw(st.sampled_from([0.5, 0.01]))
    optimizer = Named((kind, lr, stale), f"torch.optim.{kind}(model.parameters(), lr={lr})")
    return {"model": model, "optimizer": optimizer,
            "x": draw(tensors((draw(batch_sizes), *shape), low=0.0, high=1.0))}


def _fresh_step(case: dict) -> dict:
    (shape, latent, seed), (kind, lr, stale) = case["model"].value, case["optimizer"].value
    torch.manual_seed(seed)
    model = models.Autoencoder.build("mlp", shape, latent)
    for p in model.parameters():
        p.grad = torch.ones_like(p) if stale else None
    return {"model": model, "optimizer": getattr(torch.optim, kind)(model.parameters(), lr=lr), "x": case["x"].clone()}


def _after_step(args: dict, loss: object) -> tuple:
    return loss, {name: p.detach().clone() for name, p in args["model"].named_parameters()}


TASKS = [
    ("1. MLP encoder and decoder", check_encoder_decoder),
    ("2. one training step", check_training_step),
]
