"""The guided map first (issue 17): a chunk stores and announces its guided checkpoint
before the unguided lineage and the counterfactual finish; edits made on it wait for the
next chunk; a chunk stopped after it leaves the run at its last complete checkpoint."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.edits import Edit
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkCancelled


def _threes(store, run_id, n=30):
    return np.flatnonzero(store.load_dataset(run_id).y_train == 3)[:n].tolist()


def test_the_guided_map_is_stored_and_takes_edits_while_the_references_train(run_copy):
    store, run_id = run_copy
    loop.add_edit(store, run_id, Edit("compact", _threes(store, run_id), beta=0.5))
    seen = {}

    def on_guided(ckpt: str) -> None:
        run = store.load_run(run_id)
        seen["arriving"] = run.get("arriving")
        seen["heads"] = dict(run["heads"])
        seen["map"] = store.load_arrays(run_id, ckpt)["coords"].shape
        # the person edits the shown map at once, though the chunk still holds its lock
        seen["edit"] = loop.add_edit(
            store, run_id, Edit("compact", _threes(store, run_id, 10), beta=0.5)
        )

    chunk = loop.run_chunk(store, run_id, overrides={"epochs": 1}, on_guided=on_guided)
    assert seen["arriving"]["guided"] == "g1" and len(seen["arriving"]["edits"]) == 1
    assert seen["heads"] == {"guided": "c0", "twin": "c0"}  # the record waits for all three
    assert seen["map"][1] == 2
    assert seen["edit"]["on"] == "g1"
    run = store.load_run(run_id)
    assert "arriving" not in run
    assert run["heads"] == {"guided": "g1", "twin": "u1"}
    assert [e["id"] for e in run["pending"]] == [seen["edit"]["id"]]  # waits, not stale
    assert not run.get("stale_edits")
    assert chunk["counterfactual"] == "u1" and len(chunk["edits"]) == 1
    second = loop.run_chunk(store, run_id, overrides={"epochs": 1})
    assert [e["id"] for e in second["edits"]] == [seen["edit"]["id"]]


def test_a_chunk_stopped_after_its_guided_map_leaves_the_last_complete_checkpoint(run_copy):
    store, run_id = run_copy
    first = loop.add_edit(store, run_id, Edit("compact", _threes(store, run_id), beta=0.5))
    shown = {}

    def on_guided(ckpt: str) -> None:
        shown["edit"] = loop.add_edit(
            store, run_id, Edit("compact", _threes(store, run_id, 10), beta=0.5)
        )

    with pytest.raises(ChunkCancelled):
        loop.run_chunk(
            store,
            run_id,
            overrides={"epochs": 2},
            on_guided=on_guided,
            should_stop=lambda: "edit" in shown,
        )
    run = store.load_run(run_id)
    assert "arriving" not in run and run["heads"] == {"guided": "c0", "twin": "c0"}
    assert [e["id"] for e in run["pending"]] == [first["id"]]  # the chunk's edit is back
    assert [e["id"] for e in run["stale_edits"]] == [shown["edit"]["id"]]  # named, kept
    assert len(run["chunks"]) == 1


def test_an_arriving_chunk_whose_job_died_is_rolled_back_by_the_next(run_copy):
    store, run_id = run_copy
    edit = loop.add_edit(store, run_id, Edit("compact", _threes(store, run_id), beta=0.5))

    def died(r: dict) -> None:  # what a job killed after its guided map leaves behind
        r["arriving"] = {"chunk": 1, "guided": "g1", "edits": r["pending"]}
        r["pending"] = []

    store.update_run(run_id, died)
    chunk = loop.run_chunk(store, run_id, overrides={"epochs": 1})
    assert [e["id"] for e in chunk["edits"]] == [edit["id"]]
    assert "arriving" not in store.load_run(run_id)


def test_the_guided_lineage_does_not_depend_on_its_references(digits_run, tmp_path):
    """references=False (a study's replayed arms) trains the same guided weights."""
    store0, run_id = digits_run
    weights = {}
    for references in (True, False):
        root = tmp_path / str(references)
        shutil.copytree(store0.root, root)
        store = RunStore(root)
        loop.add_edit(store, run_id, Edit("compact", _threes(store, run_id), beta=0.5))
        chunk = loop.run_chunk(store, run_id, overrides={"epochs": 1}, references=references)
        weights[references] = store.load_state(run_id, "g1")["model"]
        run = store.load_run(run_id)
        assert run["heads"]["twin"] == ("u1" if references else "c0")
        assert (chunk["twin"] is None) == (not references)
        assert sorted(run["checkpoints"]) == (["c0", "g1", "u1"] if references else ["c0", "g1"])
    for name, w in weights[True].items():
        assert torch.equal(w, weights[False][name]), name


def test_after_cancel_the_dashboard_forgets_a_guided_map_whose_job_was_killed(run_copy):
    """Cancel kills the job: nothing of it runs its own roll-back, so the Cancel callback
    does (once the killed job's lock is gone)."""
    from hill_dash.dashboard.watchdog import cancelled_message, settle_cancelled

    store, run_id = run_copy
    edit = loop.add_edit(store, run_id, Edit("compact", _threes(store, run_id), beta=0.5))

    def killed(r: dict) -> None:
        r["arriving"] = {"chunk": 1, "guided": "g1", "edits": r["pending"]}
        r["pending"] = []

    store.update_run(run_id, killed)
    run = settle_cancelled(store, run_id, wait=0.5)
    assert "arriving" not in run and [e["id"] for e in run["pending"]] == [edit["id"]]
    assert "guided c0" in cancelled_message(run)
