"""Atomic checkpoints, interrupted writes, run ids, locks, tampered files."""

import json
import os

import numpy as np
import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.errors import RunBusyError, StoreError


def test_interrupted_checkpoint_write_leaves_previous_loadable(run_copy, monkeypatch):
    store, run_id = run_copy
    before = store.load_run(run_id)
    calls = {"n": 0}
    real_savez = np.savez

    def crash_midway(*a, **k):
        calls["n"] += 1
        raise OSError("disk full (simulated) after model.pt was written")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(OSError):
        loop.run_chunk(store, run_id)
    monkeypatch.setattr(np, "savez", real_savez)
    assert calls["n"] == 1
    assert store.load_run(run_id) == before
    assert store.load_state(run_id, "c0")["model"]
    leftovers = [p.name for p in (store.run_dir(run_id) / "checkpoints").iterdir()]
    assert leftovers == ["c0"]
    chunk = loop.run_chunk(store, run_id)  # the run continues
    assert chunk["index"] == 1
    assert store.lock_holder(run_id) is None


def test_half_written_checkpoint_dir_is_ignored(run_copy):
    store, run_id = run_copy
    ckdir = store.run_dir(run_id) / "checkpoints" / ".tmp-g1-abc123"
    ckdir.mkdir()
    (ckdir / "model.pt").write_bytes(b"\x80\x02truncated")
    assert store.load_run(run_id)["heads"] == {"guided": "c0", "twin": "c0"}
    assert loop.run_chunk(store, run_id)["guided"] == "g1"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 65, "a\\b", None])
def test_run_ids_with_path_separators_are_refused(store, bad):
    with pytest.raises(StoreError, match="run id"):
        store.run_dir(bad)


def test_tampered_checkpoint_is_refused_without_unpickling(run_copy, tmp_path):
    store, run_id = run_copy
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Evil()}, store.checkpoint_dir(run_id, "c0") / "model.pt")
    with pytest.raises(StoreError, match="model.pt"):
        store.load_state(run_id, "c0")
    assert not marker.exists()


def test_malformed_run_json_is_a_clear_error(run_copy):
    store, run_id = run_copy
    (store.run_dir(run_id) / "run.json").write_text("{not json")
    with pytest.raises(StoreError, match="run.json"):
        store.load_run(run_id)
    assert store.list_runs() == []  # listed runs skip it; nothing is deleted
    assert store.run_dir(run_id).exists()


def test_second_chunk_on_a_training_run_is_refused(run_copy):
    store, run_id = run_copy
    with store.training_lock(run_id), pytest.raises(RunBusyError, match="already training"):
        loop.run_chunk(store, run_id)


def test_lock_of_a_dead_job_is_taken_over(run_copy):
    import socket
    import subprocess

    store, run_id = run_copy
    p = subprocess.Popen(["true"])
    p.wait()
    lock = store.run_dir(run_id) / "training.lock"
    lock.write_text(json.dumps({"pid": p.pid, "host": socket.gethostname(), "since": 1e12}))
    assert store.lock_holder(run_id) is None
    assert loop.run_chunk(store, run_id)["index"] == 1


def test_metrics_ignore_a_torn_last_line(run_copy):
    store, run_id = run_copy
    with open(store.run_dir(run_id) / "metrics.jsonl", "a") as fh:
        fh.write('{"checkpoint": "g1", "val": {"ac')
    assert set(store.metrics(run_id)) == {"c0"}


def test_fork_and_delete(run_copy):
    store, run_id = run_copy
    loop.run_chunk(store, run_id)
    fork = loop.fork_run(store, run_id, "g1")
    run = store.load_run(fork)
    assert run["forked_from"] == {"run": run_id, "checkpoint": "g1"}
    a = store.load_state(run_id, "g1")["model"]
    b = store.load_state(fork, "c0")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loop.run_chunk(store, fork)["index"] == 1
    store.delete_run(fork)
    assert not store.exists(fork)
    assert store.exists(run_id)


def test_test_split_is_locked_until_revealed(run_copy):
    store, run_id = run_copy
    rec = store.metrics(run_id)["c0"]
    assert "test" not in rec
    out = loop.reveal_test(store, run_id)
    assert 0.0 < out["guided"]["acc"] <= 1.0
    assert out["reveals"] == 1
    assert loop.reveal_test(store, run_id)["reveals"] == 2
    assert len(store.load_run(run_id)["test_reveals"]) == 2


def test_curves_are_stored_with_the_checkpoint_and_checked(store, digits):
    run_id = loop.create_run(store, digits, arch="mlp", projection="pca")
    curves = {
        "step": [1, 2, 3],
        "loss": [2.3, 2.1, 1.9],
        "ce": [2.3, 2.0, 1.8],
        "teacher": [0.0, 0.1, 0.1],
        "acc": [0.1, 0.3, 0.5],
    }
    store.save_checkpoint(run_id, "g1", {"w": 1}, {"Z": np.zeros(2)}, curves=curves)
    assert store.load_curves(run_id, "g1") == curves
    store.save_checkpoint(run_id, "u1", {"w": 1}, {"Z": np.zeros(2)})
    assert store.load_curves(run_id, "u1") is None  # none stored
    with pytest.raises(StoreError, match="'acc': expected 3 values"):
        store.save_checkpoint(run_id, "g2", {}, {"Z": np.zeros(2)}, curves=curves | {"acc": []})
    assert not (store.run_dir(run_id) / "checkpoints" / "g2").exists()
    path = store.checkpoint_dir(run_id, "g1") / "curves.json"
    path.write_text(json.dumps(curves | {"loss": [1, "x", 2]}))
    with pytest.raises(StoreError, match="curves.json: field 'loss'"):
        store.load_curves(run_id, "g1")
