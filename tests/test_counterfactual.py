"""The per-chunk counterfactual: the guided chunk's own checkpoint and batches, no edits.

And the unguided lineage: its own head every chunk, never an edit. Proved by retraining
each from its recorded parent with the recorded chunk config: the weights come out
bit-identical, so each was trained from exactly that checkpoint on exactly those batches.
"""

from __future__ import annotations

import numpy as np
import torch

from hill_dash.engine import loop
from hill_dash.engine.edits import Edit
from hill_dash.engine.lineage import restore
from hill_dash.engine.training import ChunkConfig, pick_device, torch_threads, train_chunk


def _retrain(store, run_id, parent: str, chunk: dict, lam: bool, teacher=None) -> dict:
    run = store.load_run(run_id)
    cfg = loop.RunConfig.from_dict(run["config"])
    data = store.load_dataset(run_id)
    ccfg = ChunkConfig.from_dict(chunk["config"])
    if not lam:
        ccfg = ChunkConfig.from_dict(ccfg.to_dict() | {"lam": 0.0, "anchor": 0.0, "kd_weight": 0})
    model, opt = restore(store, run_id, parent, cfg, pick_device("cpu"), lr=ccfg.lr)
    with torch_threads(1):  # as run_chunk trains
        train_chunk(model, opt, data.X_train, data.y_train, ccfg, teacher)
    return model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_counterfactual_shares_the_guided_chunks_checkpoint_and_batches(run_copy):
    store, run_id = run_copy
    data = store.load_dataset(run_id)
    threes = np.flatnonzero(data.y_train == 3).tolist()
    loop.add_edit(store, run_id, Edit("compact", threes, beta=0.5))
    first = loop.run_chunk(store, run_id)
    assert first["counterfactual"] == "u1"  # chunk 1: both start at c0, one chunk serves both
    loop.add_edit(store, run_id, Edit("translate", threes, dx=2.0, dy=0.0))
    second = loop.run_chunk(store, run_id)
    run = store.load_run(run_id)
    assert second["counterfactual"] == "f2"
    assert run["checkpoints"]["f2"] == {"lineage": "counterfactual", "chunk": 2, "parent": "g1"}
    assert run["checkpoints"]["g2"]["parent"] == "g1"
    assert run["checkpoints"]["u2"]["parent"] == "u1"  # the unguided lineage: its own head
    assert run["heads"] == {"guided": "g2", "twin": "u2"}  # the counterfactual is a side branch

    stored = {ck: store.load_state(run_id, ck)["model"] for ck in ("f2", "u2", "g2")}
    assert _same(_retrain(store, run_id, "g1", second, lam=False), stored["f2"])
    assert _same(_retrain(store, run_id, "u1", second, lam=False), stored["u2"])
    assert not _same(stored["f2"], stored["g2"])  # the edit did something
    assert not _same(stored["f2"], stored["u2"])  # and the two references differ

    # its metrics are recorded as such, and the guided record compares against it
    recs = store.metrics(run_id)
    assert recs["f2"]["lineage"] == "counterfactual"
    assert {"bias", "shifts"} <= set(recs["g2"]["counterfactual"])
    # realized shares name all three, and the counterfactual differs from the twin now
    (r,) = second["realized"]
    assert set(r["map"]) == {"guided", "counterfactual", "twin"}
    assert r["map"]["counterfactual"] != r["map"]["twin"]


def test_a_chunk_without_edits_has_no_counterfactual(run_copy):
    store, run_id = run_copy
    chunk = loop.run_chunk(store, run_id)
    assert chunk["counterfactual"] is None and chunk["realized"] == []
    assert "f1" not in store.load_run(run_id)["checkpoints"]
