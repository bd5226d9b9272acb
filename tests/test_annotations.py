"""Annotations (relabel, weight, exclude): validation, where they enter the loss, accounting.

Training semantics are proved by retraining from the recorded parent with the labels and
weights each lineage should have seen: the stored weights come out bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.annotations import annotation_log, fold, shown_labels
from hill_dash.engine.edits import Edit
from hill_dash.engine.errors import StoreError
from hill_dash.engine.lineage import restore
from hill_dash.engine.training import ChunkConfig, pick_device, torch_threads, train_chunk

# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "field", "words"),
    [
        ({"kind": "relabel", "indices": [1]}, "e.target_class", "class index >= 0"),
        ({"kind": "relabel", "indices": [1], "target_class": 12}, "e.target_class", "0..9"),
        ({"kind": "weight", "indices": [1]}, "e.weight", "0 < w <= 100"),
        ({"kind": "weight", "indices": [1], "weight": 0}, "e.weight", "use exclude"),
        ({"kind": "weight", "indices": [1], "weight": 101}, "e.weight", "0 < w <= 100"),
        ({"kind": "weight", "indices": [1], "weight": "x"}, "e.weight", "finite number"),
        ({"kind": "exclude", "indices": []}, "e.indices", "at least one"),
        ({"kind": "exclude", "indices": [150, 160]}, "e.indices", "training points only"),
        ({"kind": "relabel", "indices": [1], "target_class": 2, "group": "a b"}, "e.group", ""),
        ({"kind": "retag", "indices": [1]}, "e.kind", "relabel"),
    ],
)
def test_bad_annotations_name_the_field_and_what_was_expected(d, field, words):
    with pytest.raises(StoreError) as err:
        Edit.from_dict(d, 200, "e", n_classes=10, n_train=100)
    assert str(err.value).startswith(f"{field}:")
    assert words in str(err.value)


def test_good_annotations_parse():
    e = Edit.from_dict({"kind": "weight", "indices": [1, 150], "weight": 5}, 200, n_train=100)
    assert (e.kind, e.weight, e.annotation) == ("weight", 5.0, True)
    r = Edit.from_dict({"kind": "relabel", "indices": [3], "target_class": 2, "group": "g1"})
    assert (r.target_class, r.group) == (2, "g1")
    assert not Edit.from_dict({"kind": "compact", "indices": [3]}).annotation


def test_fold_later_annotations_override_and_val_points_are_skipped():
    y = np.array([0, 1, 2, 3])
    edits = [
        {"kind": "relabel", "indices": [0, 1, 7], "target_class": 5},  # 7: not a training row
        {"kind": "weight", "indices": [1, 2], "weight": 4.0},
        {"kind": "relabel", "indices": [1], "target_class": 6},
        {"kind": "exclude", "indices": [2]},
        {"kind": "pull", "indices": [3], "target_class": 0},  # a latent edit: no label change
    ]
    state = fold(y, edits)
    assert state.y.tolist() == [5, 6, 2, 3]
    assert state.w.tolist() == [1.0, 4.0, 0.0, 1.0]
    assert state.changed
    assert y.tolist() == [0, 1, 2, 3]  # the original is untouched
    assert fold(y, []).weights is None and not fold(y, []).changed


# -- training semantics ---------------------------------------------------------------------


def _retrain(store, run_id, parent, chunk, guided, y, w=None, teacher=None):
    run = store.load_run(run_id)
    cfg = loop.RunConfig.from_dict(run["config"])
    data = store.load_dataset(run_id)
    ccfg = ChunkConfig.from_dict(chunk["config"])
    if not guided:
        ccfg = ChunkConfig.from_dict(ccfg.to_dict() | {"lam": 0.0, "anchor": 0.0, "kd_weight": 0})
    model, opt = restore(store, run_id, parent, cfg, pick_device("cpu"), lr=ccfg.lr)
    with torch_threads(1):  # as run_chunk trains
        train_chunk(model, opt, data.X_train, y, ccfg, teacher, weights=w)
    return model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_guided_sees_annotations_references_do_not(run_copy):
    store, run_id = run_copy
    data = store.load_dataset(run_id)
    y0 = data.y_train.copy()
    threes = np.flatnonzero(y0 == 3)[:30]
    fives = np.flatnonzero(y0 == 5)[:20]
    val_pt = len(y0) + 3
    # chunk 1: annotations only (the teacher is empty) — still a counterfactual (u1)
    loop.add_edit(store, run_id, Edit("relabel", [*threes.tolist(), val_pt], target_class=8))
    first = loop.run_chunk(store, run_id)
    assert first["counterfactual"] == "u1"
    assert first["teacher"]["n_edited"] == 0
    assert first["annotations"]["relabelled"] == 30
    # chunk 2: a weight edit on top; the relabel of chunk 1 stays in force
    loop.add_edit(store, run_id, Edit("weight", fives.tolist(), weight=5.0))
    second = loop.run_chunk(store, run_id)
    assert second["counterfactual"] == "f2"
    run = store.load_run(run_id)
    assert [e["kind"] for e in annotation_log(run)] == ["relabel", "weight"]

    y1 = y0.copy()
    y1[threes] = 8
    w2 = np.ones(len(y0), np.float32)
    w2[fives] = 5.0
    stored = {ck: store.load_state(run_id, ck)["model"] for ck in ("g1", "u1", "g2", "f2", "u2")}
    assert _same(_retrain(store, run_id, "c0", first, True, y1), stored["g1"])
    assert _same(_retrain(store, run_id, "c0", first, False, y0), stored["u1"])
    assert _same(_retrain(store, run_id, "g1", second, True, y1, w2), stored["g2"])
    # the counterfactual: chunk 1's relabel in force, without chunk 2's weight
    assert _same(_retrain(store, run_id, "g1", second, False, y1), stored["f2"])
    assert _same(_retrain(store, run_id, "u1", second, False, y0), stored["u2"])
    assert not _same(stored["g2"], stored["f2"])
    # the data set on disk and its validation / test labels never change
    again = store.load_dataset(run_id)
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(again, f"y_{split}"), getattr(data, f"y_{split}"))

    # the head learnt the relabel; accounting says so, with its spaces named
    rows = {r["kind"]: r for r in second["realized"]}
    assert set(rows) == {"weight"}
    r1 = first["realized"][0]
    assert r1["kind"] == "relabel" and r1["n_train"] == 30 and r1["n_val_near"] == 30
    assert "head predictions" in r1["space"]
    g1 = store.load_arrays(run_id, "g1")["logits"][threes].argmax(1)
    assert r1["train"]["guided"]["after"] == pytest.approx(np.mean(g1 == 8), abs=1e-4)
    assert r1["train"]["guided"]["after"] > r1["train"]["twin"]["after"]
    assert r1["train"]["counterfactual"] == r1["train"]["twin"]  # chunk 1: u1 serves both
    w = rows["weight"]
    assert w["weight"] == 5.0 and "cross-entropy" in w["space"]
    for lineage in ("guided", "counterfactual", "twin"):
        assert w["loss"][lineage]["before"] is not None
    # up-weighting lowers the selection's loss more than the counterfactual does
    assert w["loss"]["guided"]["after"] < w["loss"]["counterfactual"]["after"]


def test_exclude_and_shown_labels_and_undo_as_one_step(run_copy):
    store, run_id = run_copy
    data = store.load_dataset(run_id)
    threes = np.flatnonzero(data.y_train == 3)[:25].tolist()
    run = store.load_run(run_id)
    loop.add_edits(
        store,
        run_id,
        [Edit("pull", threes, target_class=8), Edit("relabel", threes, target_class=8)],
    )
    run = store.load_run(run_id)
    assert len(run["pending"]) == 2 and run["pending"][0]["group"] == run["pending"][1]["group"]
    assert (shown_labels(run, data.y_train).y[threes] == 8).all()  # pending, shown at once
    loop.undo_edit(store, run_id)
    run = store.load_run(run_id)
    assert run["pending"] == [] and len(run["redo"]) == 2  # both, as one step
    assert (shown_labels(run, data.y_train).y[threes] == 3).all()  # undo restores the labels
    loop.redo_edit(store, run_id)
    assert len(store.load_run(run_id)["pending"]) == 2
    loop.clear_edits(store, run_id)
    loop.add_edit(store, run_id, Edit("exclude", threes))
    chunk = loop.run_chunk(store, run_id)
    row = chunk["realized"][0]
    assert row["kind"] == "exclude" and row["weight"] == 0.0
    assert chunk["annotations"]["excluded"] == 25


def test_relabel_of_a_whole_class_is_flagged_like_a_merge(run_copy):
    store, run_id = run_copy
    data = store.load_dataset(run_id)
    ones = np.flatnonzero(data.y_train == 1).tolist()
    loop.add_edit(store, run_id, Edit("relabel", ones, target_class=7))
    chunk = loop.run_chunk(store, run_id)
    rec = store.metrics(run_id)[chunk["guided"]]
    row = rec["bias"][1]
    assert row["flag"] and row["annotated"]["relabelled"] == 1.0 and row["annotated"]["to"] == 7
    assert row["touched"]
    assert rec["counterfactual"]["bias"][1]["annotated"]["flag"]
    assert "annotated" not in rec["bias"][4]  # untouched classes carry no annotation note
