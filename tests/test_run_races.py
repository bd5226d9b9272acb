"""Races on a run's files (issue 19): an edit added as a chunk starts, two writers of
run.json on hosts that do not share a file lock, and a heartbeat racing a takeover."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from hill_dash.engine import loop
from hill_dash.engine import run_lock as S
from hill_dash.engine.edits import Edit
from hill_dash.engine.errors import StoreError
from hill_dash.engine.store import RunStore


def test_an_edit_added_as_a_chunk_starts_is_trained_or_refused_never_stranded(
    run_copy, monkeypatch
):
    store, run_id = run_copy
    threes = np.flatnonzero(store.load_dataset(run_id).y_train == 3)[:20].tolist()
    inside, real_load = threading.Event(), RunStore.load_run

    def slow_load(self, rid):  # the edit's thread reads run.json, then the chunk starts
        run = real_load(self, rid)
        if threading.current_thread().name == "editor" and not inside.is_set():
            inside.set()
            time.sleep(1.0)
        return run

    monkeypatch.setattr(RunStore, "load_run", slow_load)
    outcome = {}

    def edit() -> None:
        try:
            outcome["record"] = loop.add_edit(store, run_id, Edit("compact", threes, beta=0.5))
        except StoreError as exc:
            outcome["refused"] = str(exc)

    editor = threading.Thread(target=edit, name="editor")
    editor.start()
    assert inside.wait(10)
    chunk = loop.run_chunk(store, run_id, overrides={"epochs": 1})  # takes the lock meanwhile
    editor.join()
    run = store.load_run(run_id)
    head = run["heads"]["guided"]
    assert all(e["on"] == head for e in run["pending"])  # nothing stamped with an old head
    if "refused" in outcome:
        assert "a chunk is training" in outcome["refused"]
    else:
        assert [e["id"] for e in chunk["edits"]] == [outcome["record"]["id"]]


def test_a_writer_that_lost_a_race_for_run_json_retries_instead_of_overwriting(
    run_copy, monkeypatch
):
    """Two writers on hosts whose file lock does not reach each other (shared storage)."""
    store, run_id = run_copy
    monkeypatch.setattr(RunStore, "_run_json_lock", lambda self, rid: contextlib.nullcontext())
    both_read = threading.Barrier(2)
    tries = {"a": 0, "b": 0}

    def writer(name: str) -> None:
        def change(r: dict) -> None:
            tries[name] += 1
            if tries[name] == 1:
                both_read.wait(10)  # both have read the same revision
            r.setdefault("notes", []).append(name)

        store.update_run(run_id, change)

    before = store.load_run(run_id).get("revision", 0)
    threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = store.load_run(run_id)
    assert sorted(run["notes"]) == ["a", "b"]  # neither change was overwritten
    assert run["revision"] == before + 2
    assert sorted(tries.values()) == [1, 2]  # the loser read again and re-applied


def test_a_dead_writers_claim_does_not_block_run_json_for_good(run_copy, monkeypatch):
    from hill_dash.engine import revision

    store, run_id = run_copy
    rev = store.load_run(run_id).get("revision", 0)
    claim = store.run_dir(run_id) / f".rev-{rev + 1}"
    claim.touch()  # a writer claimed the next revision and died before writing run.json
    old = time.time() - revision.CLAIM_STALE_SECONDS - 1
    os.utime(claim, (old, old))
    run = store.update_run(run_id, lambda r: r.update(note="after"))
    assert run["note"] == "after" and run["revision"] == rev + 1


def test_a_beat_cannot_bring_back_a_lock_that_was_taken_over(run_copy, monkeypatch):
    store, run_id = run_copy
    lock_path = store.run_dir(run_id) / "training.lock"
    with store.training_lock(run_id) as lease:
        assert lease.beat()
        taken = {"pid": 7, "host": "gpu-box-7", "since": time.time(), "token": "theirs"}
        real_read = S.TrainingLocks.read_lock

        def read_then_lose(self, rid):  # the takeover lands between beat's read and write
            lock = real_read(self, rid)
            lock_path.unlink()
            lock_path.write_text(json.dumps(taken))
            return lock

        monkeypatch.setattr(S.TrainingLocks, "read_lock", read_then_lose)
        lease.beat()
        monkeypatch.undo()
        assert json.loads(lock_path.read_text()) == taken  # their lock, untouched
        assert store.read_lock(run_id)["token"] == "theirs"
        with pytest.raises(S.LockLostError):
            lease.check()
    assert json.loads(lock_path.read_text()) == taken  # our release left it alone too
    assert socket.gethostname() != "gpu-box-7"
