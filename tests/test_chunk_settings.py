"""A chunk's settings (issue 19): checked before anything trains, a diverging chunk stops
with a message naming the setting, and a chunk's numbers do not depend on the thread
count of the process that runs it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hill_dash import Session
from hill_dash.engine import loop
from hill_dash.engine.edits import Edit
from hill_dash.engine.errors import HillError
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig, ChunkDiverged, make_optimizer, train_chunk


def test_an_unknown_setting_raises_with_the_valid_names(run_copy):
    store, run_id = run_copy
    s = Session(store, run_id)
    with pytest.raises(HillError) as err:
        s.train_chunk(lamda=3)
    assert "'lamda'" in str(err.value)
    assert all(name in str(err.value) for name in ("lam", "lr", "epochs"))
    assert len(store.load_run(run_id)["chunks"]) == 1  # nothing trained


@pytest.mark.parametrize(
    "key, value", [("lr", 0.0), ("lr", 5.0), ("lam", -1.0), ("epochs", 2.5), ("lam", "1")]
)
def test_a_setting_out_of_bounds_names_the_range(run_copy, key, value):
    store, run_id = run_copy
    with pytest.raises(HillError, match=rf"overrides\.{key}: expected .* in \["):
        loop.run_chunk(store, run_id, overrides={key: value})


def test_a_diverging_chunk_stops_with_a_message_and_keeps_the_last_checkpoint(
    run_copy, monkeypatch
):
    """A learning rate far above what the Advanced settings allow makes the loss explode."""
    from hill_dash.engine import training

    monkeypatch.setitem(training.CHUNK_BOUNDS, "lr", (1e-7, 1e4, False))
    store, run_id = run_copy
    before = store.load_run(run_id)
    threes = np.flatnonzero(store.load_dataset(run_id).y_train == 3)[:30].tolist()
    loop.add_edit(store, run_id, Edit("compact", threes, beta=0.5))
    with pytest.raises(ChunkDiverged) as err:
        loop.run_chunk(store, run_id, overrides={"lr": 1e3})
    message = str(err.value)
    assert "learning rate 1000" in message
    assert "diverged" in message and "learning rate" in message and "Advanced" in message
    after = store.load_run(run_id)
    assert after["chunks"] == before["chunks"] and after["heads"] == before["heads"]
    assert len(after["pending"]) == 1  # the edit waits for a chunk that trains
    assert store.lock_holder(run_id) is None


def test_a_chunks_numbers_do_not_depend_on_the_callers_thread_count(run_copy, tmp_path):
    store, run_id = run_copy
    twin_root = tmp_path / "twin"
    shutil.copytree(store.root, twin_root)
    twin = RunStore(twin_root)
    threes = np.flatnonzero(store.load_dataset(run_id).y_train == 3)[:30].tolist()
    weights = []
    for s, threads in ((store, 1), (twin, 2)):
        loop.add_edit(s, run_id, Edit("compact", threes, beta=0.5))
        torch.set_num_threads(threads)  # the conftest guard puts it back
        loop.run_chunk(s, run_id, overrides={"epochs": 2})
        assert torch.get_num_threads() == threads  # the chunk put it back too
        ck = s.checkpoint_dir(run_id, "g1") / "model.pt"
        weights.append(torch.load(ck, weights_only=True)["model"])
    a, b = weights
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_dashboard_store_defaults_to_the_documented_place(monkeypatch, tmp_path):
    from hill_dash.dashboard.config import AppConfig

    monkeypatch.delenv("HILL_DASH_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert AppConfig().data_dir == tmp_path / ".hill_dash"
    monkeypatch.setenv("HILL_DASH_DATA_DIR", str(tmp_path / "elsewhere"))
    assert AppConfig().data_dir == tmp_path / "elsewhere"


def test_a_nan_loss_stops_training_at_its_step(digits):
    from hill_dash.engine.models import ModelConfig, build_model

    cfg = ModelConfig(arch="mlp", sample_shape=tuple(digits.sample_shape), n_classes=10)
    model = build_model(cfg, seed=0)
    X = digits.X_train.copy()
    X[5] = np.nan  # one bad sample poisons its batch's loss
    with pytest.raises(ChunkDiverged, match="cross-entropy became nan"):
        train_chunk(model, make_optimizer(model, 1e-3), X, digits.y_train, ChunkConfig(epochs=1))
