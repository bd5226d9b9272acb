"""Annotation controls: exactly the user's reads and selections, cumulative; no latents."""

import numpy as np
import pytest

from hill_dash.engine import loop
from hill_dash.engine.data import load_builtin
from hill_dash.engine.scenarios import DIGITS_PATCH
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig
from hill_dash.study.controls import annotations, dfr, plan, train_control
from hill_dash.study.view import read_mark

Y = np.array([0, 0, 1, 1, 2, 2, -1, -1, 3, 3])
LOG = [
    {"inspected": [[0, 5], [6, 1]], "pulls": [{"indices": [0, 1, 6, 7], "target": 5}]},
    {"inspected": [[1, 0], [12, 2]], "pulls": [{"indices": [8, 9], "target": 2}]},
]


def test_annotations_accumulate_chunk_by_chunk():
    assert annotations(LOG, 1) == ({0: 5, 6: 1}, {0: 5, 1: 5, 6: 5, 7: 5})
    reads, selection = annotations(LOG, 2)
    assert reads == {0: 5, 6: 1, 1: 0, 12: 2}  # 12 is a validation point
    assert selection[8] == selection[9] == 2


def test_relabel_and_upweight_use_exactly_the_inspected_training_points():
    y, w = plan("relabel-inspected", Y, LOG, 1)
    assert y.tolist() == [5, 0, 1, 1, 2, 2, 1, -1, 3, 3] and w is None
    y, w = plan("upweight-inspected", Y, LOG, 2)
    assert y.tolist() == [5, 0, 1, 1, 2, 2, 1, -1, 3, 3]
    # the 3 inspected training points weigh as much as the 6 other labelled points
    assert w.tolist() == [2.0, 2.0, 1, 1, 1, 1, 2.0, 1, 1, 1]


def test_selection_controls_label_the_lassos_and_keep_what_was_read():
    y, w = plan("relabel-selection", Y, LOG, 2)
    assert y.tolist() == [5, 0, 1, 1, 2, 2, 1, 5, 2, 2] and w is None
    y, w = plan("upweight-selection", Y, LOG, 1)
    assert y.tolist() == [5, 5, 1, 1, 2, 2, 1, 5, 3, 3]
    # 4 marked points (6 and 7 now labelled) weigh as much as the 6 others: W = 1.5
    assert w.tolist() == [1.5, 1.5, 1, 1, 1, 1, 1.5, 1.5, 1, 1]
    assert plan("upweight-inspected", Y, [{"inspected": [], "pulls": []}], 1) == (
        pytest.approx(Y),
        None,
    )


def test_read_mark_finds_the_patch_a_person_sees():
    img = np.zeros((12, 12))
    r, c = DIGITS_PATCH[7]
    img[r : r + 2, c : c + 2] = 1.0
    assert read_mark(img) == 7
    assert read_mark(np.zeros((8, 8))) is None  # plain digits: no border to carry a mark
    signal = np.sin(np.arange(40) / 3.0)
    signal[2 + 4 * 3] += 3.0
    assert read_mark(signal) == 3


def test_a_control_without_annotations_is_the_unguided_lineage_bit_for_bit(tmp_path):
    data = load_builtin("digits-decoy", seed=0)
    store = RunStore(tmp_path)
    run_id = loop.create_run(
        store,
        data,
        arch="mlp",
        projection="pca",
        chunk=ChunkConfig(epochs=1),
        seed=0,
        device="cpu",
    )
    loop.run_chunk(store, run_id)
    loop.run_chunk(store, run_id)
    empty = [{"inspected": [], "pulls": []}]
    out = train_control(store, run_id, data, "upweight-inspected", empty, chunks=1)
    np.testing.assert_array_equal(out["logits"], store.load_arrays(run_id, "u1")["logits"])
    # annotations change it: relabel 30 training 3s as 5 (validation never)
    threes = np.flatnonzero(data.y_train == 3)[:30]
    log = [{"inspected": [[int(i), 5] for i in threes], "pulls": []}]
    out = train_control(store, run_id, data, "relabel-inspected", log, chunks=1)
    assert out["relabelled"] == 30 and out["upweighted"] == 0
    assert not np.array_equal(out["logits"], store.load_arrays(run_id, "u1")["logits"])
    # DFR refits the last layer on the reads only (+ the labelled points when labels are few)
    Z = store.load_arrays(run_id, "u1")["Z"]
    reads = [{"inspected": [[int(i), int(data.y_train[i])] for i in range(0, 400, 2)], "pulls": []}]
    fit = dfr(data, Z, reads, decoy=False)
    assert fit["fitted_on"] == len(data.y_train)  # all labelled training points
    fit = dfr(data, Z, reads, decoy=True)
    assert fit["fitted_on"] == 200 and fit["logits"].shape == (len(data.all_y()), 10)
