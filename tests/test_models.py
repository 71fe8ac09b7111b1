"""Encoders, decoders and autoencoders: shapes for the course's image sizes, outputs, errors."""
import pytest
import torch

from vae_course import models

SHAPES = [(1, 8, 8), (1, 28, 28), (1, 32, 32), (3, 32, 32)]


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("shape", SHAPES)
def test_encoder_and_decoder_shapes(kind, shape):
    torch.manual_seed(0)
    x = torch.rand(3, *shape)
    encoder = models.make_encoder(kind, shape, 6)
    decoder = models.make_decoder(kind, 5, shape)
    assert encoder(x).shape == (3, 6)
    assert decoder(torch.randn(3, 5)).shape == (3, *shape)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_autoencoder_reconstructs_in_the_unit_interval(kind, shape):
    torch.manual_seed(0)
    model = models.Autoencoder.build(kind, shape, 4)
    x = torch.rand(5, *shape)
    x_hat = model(x)
    assert x_hat.shape == x.shape and model.encode(x).shape == (5, 4)
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    # decode is the sigmoid of the decoder's logits
    assert torch.allclose(model.decode(model.encode(x)), torch.sigmoid(model.decoder(model.encoder(x))))


def test_decoder_logits_are_unbounded():
    torch.manual_seed(0)
    decoder = models.make_decoder("mlp", 2, (1, 8, 8))
    logits = decoder(100 * torch.randn(50, 2))
    assert logits.min() < 0 < logits.max() and logits.abs().max() > 1


def test_mlp_layers_and_activations():
    net = models.mlp([4, 8, 3])
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "ReLU", "Linear"]
    assert net[0].in_features == 4 and net[-1].out_features == 3
    # hand-computed forward pass: W2 relu(W1 x + b1) + b2
    x = torch.randn(2, 4)
    expected = torch.relu(x @ net[0].weight.T + net[0].bias) @ net[2].weight.T + net[2].bias
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_models_are_trainable_end_to_end():
    torch.manual_seed(0)
    model = models.Autoencoder.build("conv", (1, 8, 8), 3)
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("build,error,match", [
    (lambda: models.mlp([4]), ValueError, "at least two"),
    (lambda: models.mlp([4, 0]), ValueError, "positive ints"),
    (lambda: models.MLPEncoder((8, 8), 2), ValueError, "image_shape must be"),
    (lambda: models.ConvDecoder(2, (1, 0, 8)), ValueError, "image_shape must be"),
    (lambda: models.MLPEncoder((1, 8, 8), 0), ValueError, "out_dim"),
    (lambda: models.MLPDecoder(1.5, (1, 8, 8)), TypeError, "latent_dim"),
    (lambda: models.make_encoder("rnn", (1, 8, 8), 2), ValueError, "kind must be one of"),
    (lambda: models.Autoencoder.build("transformer", (1, 8, 8), 2), ValueError, "kind must be one of"),
])
def test_bad_construction_is_rejected(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_bad_inputs_are_rejected(kind):
    model = models.Autoencoder.build(kind, (1, 8, 8), 2)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 1, 8, 8\)"):
        model(torch.rand(3, 1, 28, 28))
    with pytest.raises(ValueError, match=r"z must have shape \(\*, 2\)"):
        model.decode(torch.rand(3, 3))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(3, 1, 8, 8, dtype=torch.int64))


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_runs_the_block_in_eval_mode_and_restores_the_mode(training):
    model = torch.nn.Sequential(torch.nn.Dropout(0.5)).train(training)
    with pytest.raises(RuntimeError, match="inside"):
        with models.evaluating(model):
            assert not model.training and not model[0].training
            raise RuntimeError("an error inside the block")
    assert model.training is training and model[0].training is training
