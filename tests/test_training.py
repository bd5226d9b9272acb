"""Determinism, same batch order for the twin, and the teacher actually pulls."""

import numpy as np
import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.training import batch_order


def test_batch_order_is_a_pure_function_of_the_seed():
    a = batch_order(100, 16, 3, seed=7)
    b = batch_order(100, 16, 3, seed=7)
    c = batch_order(100, 16, 3, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert sorted(torch.cat(a[:7]).tolist()) == list(range(100))  # one epoch = a permutation


def _weights(store, run_id, ck):
    return store.load_state(run_id, ck)["model"]


def test_same_checkpoint_seed_and_edits_give_bit_identical_weights(run_copy, tmp_path):
    import shutil

    from hill_dash.engine.store import RunStore

    store, run_id = run_copy
    sel = np.flatnonzero(store.load_dataset(run_id).y_train == 3)[:40].tolist()
    loop.add_edit(store, run_id, loop.Edit("pull", sel, target_class=5))
    shutil.copytree(store.root, tmp_path / "twin-store")
    other = RunStore(tmp_path / "twin-store")
    loop.run_chunk(store, run_id)
    loop.run_chunk(other, run_id)
    for ck in ("g1", "u1"):
        w1, w2 = _weights(store, run_id, ck), _weights(other, run_id, ck)
        assert all(torch.equal(w1[k], w2[k]) for k in w1)
    g, u = _weights(store, run_id, "g1"), _weights(store, run_id, "u1")
    assert not all(torch.equal(g[k], u[k]) for k in g)  # guidance is the only difference


def test_guided_chunk_moves_the_selection_half_the_way_relative_to_the_rest(run_copy):
    store, run_id = run_copy
    data = store.load_dataset(run_id)
    sel = np.flatnonzero(data.y_train == 8)[:60].tolist()
    loop.add_edit(store, run_id, loop.Edit("translate", sel, dx=8.0, dy=8.0))
    chunk = loop.run_chunk(store, run_id)
    assert chunk["teacher"]["n_edited"] == 60
    Z0 = store.load_arrays(run_id, "c0")["Z"]
    from hill_dash.engine.projection import MapState
    from hill_dash.engine.realized import shares
    from hill_dash.engine.teacher import build_teacher

    t = build_teacher(
        [loop.Edit("translate", sel, dx=8.0, dy=8.0)],
        Z0,
        MapState.from_arrays(store.load_arrays(run_id, "c0")),
        data.all_y(),
        data.split_array(),
    )
    visible = len(data.y_train) + len(data.y_val)
    rest = np.setdiff1d(np.arange(visible), sel)
    moved = {}
    for ck in ("g1", "u1"):
        Z1 = store.load_arrays(run_id, ck)["Z"][:visible]
        moved[ck] = shares(t.requests, Z0[:visible], Z1, rest)[0]
    assert moved["g1"] >= 0.5  # of the requested move, relative to the rest
    assert moved["g1"] > moved["u1"] + 0.3
    # what the chunk record says is this measurement
    assert chunk["realized"][0]["latent"]["guided"] == pytest.approx(moved["g1"], abs=1e-3)
    assert chunk["realized"][0]["latent"]["twin"] == pytest.approx(moved["u1"], abs=1e-3)


def test_mlp_on_digits_reaches_90_percent_within_four_chunks(run_copy):
    store, run_id = run_copy
    accs = [store.metrics(run_id)["c0"]["val"]["acc"]]
    for _ in range(3):
        loop.run_chunk(store, run_id)
        accs.append(store.metrics(run_id)[store.load_run(run_id)["heads"]["guided"]]["val"]["acc"])
    assert max(accs) >= 0.90, accs


def test_the_curves_per_step_accuracy_is_each_batchs_share_of_right_labelled_rows():
    """The accuracy curve is read once per epoch; it must still be per step, per batch,
    over the labelled rows only (an unlabelled row, -1, counts for nothing)."""
    import copy

    from hill_dash.engine.models import ModelConfig, build_model
    from hill_dash.engine.training import ChunkConfig, make_optimizer, train_chunk

    g = np.random.default_rng(0)
    X = g.normal(size=(150, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    y[::7] = -1
    model = build_model(ModelConfig("mlp", (8,), 2), seed=0)
    cfg = ChunkConfig(epochs=2, batch_size=32, lr=0.0, seed=4)  # lr 0: the weights stay
    before = copy.deepcopy(model)
    curve = train_chunk(model, make_optimizer(model, 0.0), X, y, cfg)["curve"]
    before.train()
    with torch.no_grad():
        pred = before(torch.as_tensor(X))[0].argmax(1).numpy()
    expected = []
    for b in batch_order(len(X), 32, 2, seed=4):
        rows = b.numpy()[y[b.numpy()] >= 0]
        expected.append(float(np.mean(pred[rows] == y[rows])) if len(rows) else 0.0)
    assert len(curve["acc"]) == len(expected) == 10  # 5 batches per epoch, 2 epochs
    np.testing.assert_allclose(curve["acc"], expected, rtol=1e-6)


def test_the_frames_rotation_is_only_estimated_when_it_can_be():
    """No reference rows beyond the latent's dimension: no rotation, nothing observed."""
    from hill_dash.engine.teacher import Teacher
    from hill_dash.engine.teacher_loss import TeacherTable

    frozen = np.random.default_rng(1).normal(size=(40, 16)).astype(np.float32)
    few = Teacher.from_targets(frozen, np.arange(30), frozen[:30] + 1)  # 10 reference rows
    many = Teacher.from_targets(frozen, np.arange(5), frozen[:5] + 1)  # 35 reference rows
    assert not TeacherTable(few, 40, torch.device("cpu")).rotates
    table = TeacherTable(many, 40, torch.device("cpu"))
    assert table.rotates and not table.rotated
    table.observe(torch.arange(40), torch.as_tensor(frozen))
    table.refresh_rotation()
    assert table.rotated
    torch.testing.assert_close(table.rotation, torch.eye(16), atol=1e-5, rtol=0)


def test_adam_is_fused_and_a_restored_optimizer_keeps_the_adam_it_was_saved_with():
    """A new optimizer uses torch's fused Adam; a state saved by the per-tensor Adam (a run
    made before it) restores into the per-tensor Adam and trains on bit for bit as it."""
    import copy

    from hill_dash.engine.training import make_optimizer

    def model_and_batch():
        torch.manual_seed(0)
        return torch.nn.Linear(6, 3), torch.randn(32, 6), torch.randint(0, 3, (32,))

    def steps(model, opt, x, y, n=3):
        for _ in range(n):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    model, x, y = model_and_batch()
    assert make_optimizer(model, 1e-2).param_groups[0]["fused"]

    old_model, x, y = model_and_batch()
    old = torch.optim.Adam(old_model.parameters(), lr=1e-2)  # the per-tensor Adam
    steps(old_model, old, x, y)
    restored_model, _, _ = model_and_batch()
    restored_model.load_state_dict(old_model.state_dict())
    restored = make_optimizer(restored_model, 1e-2)
    restored.load_state_dict(copy.deepcopy(old.state_dict()))  # as stored: no shared tensors
    assert not restored.param_groups[0]["fused"]
    steps(old_model, old, x, y)
    steps(restored_model, restored, x, y)
    assert all(
        torch.equal(a, b)
        for a, b in zip(old_model.parameters(), restored_model.parameters(), strict=True)
    )
