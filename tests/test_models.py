"""The zoo builds for each data kind; any nn.Module can be steered through a named layer."""

import numpy as np
import pytest
import torch
from torch import nn

from hill_dash.engine.models import ModelConfig, build_model, custom_config, wrap_module
from hill_dash.engine.teacher import Teacher
from hill_dash.engine.training import ChunkConfig, infer, make_optimizer, train_chunk


@pytest.mark.parametrize(
    "arch, shape",
    [("mlp", (64,)), ("mlp", (8, 8)), ("cnn1d", (40,)), ("cnn2d", (8, 8)), ("cnn2d", (28, 28))],
)
def test_builtins_give_logits_and_latents(arch, shape):
    model = build_model(ModelConfig(arch, shape, n_classes=7, latent_dim=16))
    logits, z = model(torch.zeros(5, *shape))
    assert logits.shape == (5, 7) and z.shape == (5, 16)


def test_same_seed_same_init():
    cfg = ModelConfig("mlp", (10,), 3)
    a, b = build_model(cfg, seed=3).state_dict(), build_model(cfg, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4))
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(torch.relu(self.body(x)))


def test_bring_your_own_module_is_steered_through_its_layer():
    r = np.random.default_rng(0)
    X = r.normal(size=(200, 6)).astype(np.float32)
    X[:60, 0] += 4.0  # a group of inputs apart from the rest: the one the edit moves
    y = (X[:, 1] > 0).astype(np.int64)
    idx, rest = np.arange(60), np.arange(60, 200)
    moved = {}
    for guided in (True, False):
        torch.manual_seed(0)
        model = wrap_module(Tiny(), "body.2")
        _, Z0 = infer(model, X)
        assert Z0.shape == (200, 4)
        teacher = Teacher.from_targets(Z0, idx, Z0[idx] + 1.0) if guided else None
        cfg = ChunkConfig(epochs=20, lam=5.0 if guided else 0.0)
        train_chunk(model, make_optimizer(model, 1e-2), X, y, cfg, teacher)
        _, Z1 = infer(model, X)
        # the group's shift relative to the rest's, along the requested (1, 1, 1, 1)
        relative = (Z1[idx] - Z0[idx]).mean(0) - (Z1[rest] - Z0[rest]).mean(0)
        moved[guided] = float(relative.sum() / 4.0)
    assert moved[True] > 0.5 and abs(moved[False]) < 0.2, moved


def test_unknown_latent_layer_names_the_field():
    with pytest.raises(ValueError, match="latent_layer"):
        wrap_module(Tiny(), "body.9")


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (4, 9, 7)])
def test_cnn2d_takes_channels(shape):
    model = build_model(ModelConfig("cnn2d", shape, n_classes=10, latent_dim=16))
    assert model.encoder[1].in_channels == shape[0]
    logits, z = model(torch.zeros(5, *shape))
    assert logits.shape == (5, 10) and z.shape == (5, 16)


def test_cnn2d_without_channels_keeps_its_weights():
    """(H, W) images build exactly the model they built before channels were added."""
    a = build_model(ModelConfig("cnn2d", (8, 8), 10), seed=0).state_dict()
    b = build_model(ModelConfig("cnn2d", (1, 8, 8), 10), seed=0).state_dict()
    assert a["encoder.1.weight"].shape == (16, 1, 3, 3)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("shape", [(8, 8), (1, 28, 28)], ids=["digits 8x8", "28x28"])
def test_cnn2d_pools_only_what_needs_pooling_and_computes_what_it_did(shape):
    """The pool passes a 4 × 4 map through (digits) and pools a larger one (28 × 28 → 14 ×
    14 → 4 × 4): latents, logits and gradients are those of torch's own pooling, bit for
    bit, so runs made with it train on unchanged."""
    model = build_model(ModelConfig("cnn2d", shape, n_classes=10, latent_dim=16), seed=0)
    reference = build_model(ModelConfig("cnn2d", shape, n_classes=10, latent_dim=16), seed=0)
    reference.encoder[5] = nn.AdaptiveAvgPool2d((4, 4))
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(1))
    for m in (model, reference):
        logits, z = m(x)
        (logits.sum() + z.pow(2).sum()).backward()
    assert torch.equal(model(x)[1], reference(x)[1])
    for (name, a), b in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name


# factories a user might write, importable as "tests.test_models:<name>"
def make_tiny(sample_shape, n_classes, latent_dim):
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(int(np.prod(sample_shape)), 24), nn.ReLU(), nn.Linear(24, 5)
    )
    return nn.Sequential(net, nn.ReLU(), nn.Linear(5, n_classes))


def make_broken(sample_shape, n_classes, latent_dim):
    raise RuntimeError("no GPU here")


def make_not_a_module(sample_shape, n_classes, latent_dim):
    return "a string"


def make_wrong_width(sample_shape, n_classes, latent_dim):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(sample_shape)), n_classes + 1))


class WithSpare(nn.Module):
    def __init__(self, n_in, n_classes):
        super().__init__()
        self.fc = nn.Linear(n_in, n_classes)
        self.spare = nn.Linear(3, 3)  # never called in forward

    def forward(self, x):
        return self.fc(x.flatten(1))


def make_unused_layer(sample_shape, n_classes, latent_dim):
    return WithSpare(int(np.prod(sample_shape)), n_classes)


def test_custom_config_checks_and_measures_the_latent():
    cfg = custom_config("tests.test_models:make_tiny", "0.3", (8, 8), 10, latent_dim=32)
    assert (cfg.arch, cfg.factory, cfg.latent_layer, cfg.latent_dim) == (
        "custom",
        "tests.test_models:make_tiny",
        "0.3",
        5,  # the real width of the layer, not the requested 32
    )
    model = build_model(cfg, seed=1)
    logits, z = model(torch.zeros(3, 8, 8))
    assert logits.shape == (3, 10) and z.shape == (3, 5)
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg


@pytest.mark.parametrize(
    "factory, layer, field, phrase",
    [
        ("no-colon", "0", "factory", "package.module:function"),
        ("os.path:join; rm", "0", "factory", "package.module:function"),
        ("no_such_module_xyz:make", "0", "factory", "cannot import module 'no_such_module_xyz'"),
        ("tests.test_models:nope", "0", "factory", "no function 'nope'"),
        ("tests.test_models:make_broken", "0", "factory", "raised RuntimeError: no GPU here"),
        ("tests.test_models:make_not_a_module", "0", "factory", "expected a torch.nn.Module"),
        ("tests.test_models:make_tiny", "0.9", "latent_layer", "no submodule '0.9'"),
        ("tests.test_models:make_tiny", "", "latent_layer", "empty"),
        ("tests.test_models:make_wrong_width", "1", "factory", "(2, 11); expected logits"),
        ("tests.test_models:make_unused_layer", "spare", "latent_layer", "did not run"),
        ("tests.test_models:make_wrong_input", "1", "factory", "fails on a batch of shape"),
    ],
)
def test_custom_config_errors_name_the_field(factory, layer, field, phrase):
    with pytest.raises(ValueError) as info:
        custom_config(factory, layer, (8, 8), 10)
    message = str(info.value)
    assert message.startswith(f"{field}:") and phrase in message, message


def make_wrong_input(sample_shape, n_classes, latent_dim):
    return nn.Sequential(nn.Flatten(), nn.Linear(7, n_classes))
