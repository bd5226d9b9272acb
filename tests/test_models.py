"""The zoo builds for each data kind; any nn.Module can be steered through a named layer."""

import numpy as np
import pytest
import torch
from torch import nn

from hill_dash.engine.models import ModelConfig, build_model, wrap_module
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
    torch.manual_seed(0)
    model = wrap_module(Tiny(), "body.2")
    r = np.random.default_rng(0)
    X = r.normal(size=(200, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    _, Z0 = infer(model, X)
    assert Z0.shape == (200, 4)
    idx = np.arange(20)
    targets = Z0[idx] + 3.0
    teacher = Teacher(
        idx,
        targets,
        Z0[idx],
        float(np.sqrt((Z0**2).sum(1).mean())),
        np.zeros(0, int),
        np.zeros((0, 4), np.float32),
        {},
        0,
        [],
    )
    train_chunk(model, make_optimizer(model, 1e-2), X, y, ChunkConfig(epochs=20, lam=5.0), teacher)
    _, Z1 = infer(model, X)
    before = np.linalg.norm(Z0[idx] - targets, axis=1).mean()
    after = np.linalg.norm(Z1[idx] - targets, axis=1).mean()
    assert after < 0.5 * before


def test_unknown_latent_layer_names_the_field():
    with pytest.raises(ValueError, match="latent_layer"):
        wrap_module(Tiny(), "body.9")
