"""Per-point cross-entropy weights in train_chunk (used by the study's up-weighting controls)."""

import numpy as np
import pytest
import torch

from hill_dash.engine.errors import HillError
from hill_dash.engine.models import ModelConfig, build_model
from hill_dash.engine.training import ChunkConfig, make_optimizer, train_chunk


def _train(y, weights=None):
    g = np.random.default_rng(0)
    X = g.normal(size=(120, 6)).astype(np.float32)
    model = build_model(ModelConfig("mlp", (6,), 3, 4, hidden=16), seed=0)
    cfg = ChunkConfig(epochs=2, batch_size=32, seed=1)
    train_chunk(model, make_optimizer(model, 1e-2), X, y, cfg, None, weights=weights)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


Y = np.arange(120) % 3


def test_unit_weights_train_like_no_weights():
    torch.testing.assert_close(_train(Y, np.ones(120)), _train(Y), rtol=1e-5, atol=1e-6)


def test_zero_weight_is_the_same_as_an_unlabelled_point():
    w = np.ones(120)
    w[::4] = 0.0
    y_unlabelled = Y.copy()
    y_unlabelled[::4] = -1
    torch.testing.assert_close(_train(Y, w), _train(y_unlabelled), rtol=1e-5, atol=1e-6)


def test_weights_change_training_and_bad_weights_are_refused():
    w = np.ones(120)
    w[Y == 0] = 10.0
    assert not torch.allclose(_train(Y, w), _train(Y), atol=1e-3)
    with pytest.raises(HillError, match="weights"):
        _train(Y, np.ones(119))
    with pytest.raises(HillError, match="weights"):
        _train(Y, -np.ones(120))
