"""The training lock's heartbeat and the Loop page's watchdog over it (no browser, no worker).

A lock of a dead job on this host is free at once (its pid is gone); a lock written on
another host is free once its heartbeat is older than LOCK_STALE_SECONDS. The watchdog
(`watchdog.training_state` / `watchdog.watch_tick`) turns that into what the page says.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import numpy as np
import pytest

from hill_dash.dashboard import watchdog
from hill_dash.engine import loop
from hill_dash.engine import store as S
from hill_dash.engine.data import Dataset
from hill_dash.engine.store import RunStore


def tiny_dataset(n: int = 90, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 8, 8)).astype(np.float32)
    y = np.arange(n) % 3
    a, b = int(n * 0.6), int(n * 0.8)
    return Dataset("tiny", "image", X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:], ["a", "b", "c"])


@pytest.fixture
def tiny(tmp_path) -> tuple[RunStore, str]:
    """A run with chunk 0 recorded (as run.json says; no weights needed by the watchdog)."""
    store = RunStore(tmp_path / "store")
    run_id = loop.create_run(store, tiny_dataset(), arch="mlp", projection="pca")

    def chunk0(r: dict) -> None:
        r["checkpoints"]["c0"] = {"lineage": "root", "chunk": 0, "parent": None}
        r["heads"] = {"guided": "c0", "twin": "c0"}
        r["chunks"].append({"index": 0, "guided": "c0", "twin": "c0", "edits": [], "from": None})

    store.update_run(run_id, chunk0)
    return store, run_id


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def write_lock(store: RunStore, run_id: str, **fields) -> None:
    (store.run_dir(run_id) / "training.lock").write_text(json.dumps(fields))


# -- the lock's heartbeat ------------------------------------------------------------------


def test_beat_refreshes_only_the_lock_this_process_holds(tiny):
    store, run_id = tiny
    assert store.beat(run_id) is False  # no lock
    with store.training_lock(run_id, job="t"):
        first = store.read_lock(run_id)
        assert first["pid"] == os.getpid() and first["beat"] == first["since"]
        time.sleep(0.01)
        assert store.beat(run_id) is True
        lock = store.read_lock(run_id)
        assert lock["beat"] > first["beat"]
        assert {k: v for k, v in lock.items() if k != "beat"} == {
            k: v for k, v in first.items() if k != "beat"
        }
        assert not list(store.run_dir(run_id).glob(".training.lock.*"))  # no temp left
    write_lock(store, run_id, pid=os.getpid() + 1, host=socket.gethostname(), since=time.time())
    assert store.beat(run_id) is False  # someone else's lock is never touched


def test_heartbeat_is_throttled(tiny, monkeypatch):
    store, run_id = tiny
    calls = []
    monkeypatch.setattr(RunStore, "beat", lambda self, rid: calls.append(rid) or True)
    tick = store.heartbeat(run_id, every=3600)
    for _ in range(1000):
        tick()
    assert calls == []
    tick = store.heartbeat(run_id, every=0)
    tick()
    tick()
    assert calls == [run_id, run_id]


def test_lock_of_another_host_is_dead_once_its_beat_is_stale(tiny):
    store, run_id = tiny
    now = time.time()
    old = now - S.LOCK_STALE_SECONDS - 5
    write_lock(store, run_id, pid=1, host="gpu-box-7", since=old, beat=now - 1)
    assert store.lock_holder(run_id)["host"] == "gpu-box-7"  # beating: alive
    write_lock(store, run_id, pid=1, host="gpu-box-7", since=old, beat=old)
    assert store.lock_holder(run_id) is None  # the worker stopped beating
    write_lock(store, run_id, pid=1, host="gpu-box-7", since=old)  # an old lock, no beat
    assert store.lock_holder(run_id) is None
    # the stale lock is taken over like a dead one
    with store.training_lock(run_id):
        assert store.read_lock(run_id)["pid"] == os.getpid()
    assert store.read_lock(run_id) is None


def test_same_host_lock_follows_the_pid_not_the_beat(tiny):
    store, run_id = tiny
    old = time.time() - S.LOCK_STALE_SECONDS - 60  # a long map fit without progress
    write_lock(store, run_id, pid=os.getpid(), host=socket.gethostname(), since=old, beat=old)
    assert store.lock_holder(run_id) is not None
    write_lock(store, run_id, pid=dead_pid(), host=socket.gethostname(), since=time.time())
    assert store.lock_holder(run_id) is None


def test_released_lock_leaves_a_successors_lock_alone(tiny):
    store, run_id = tiny
    with store.training_lock(run_id):
        # declared dead meanwhile and taken over by a job elsewhere
        write_lock(store, run_id, pid=7, host="elsewhere", since=time.time(), token="theirs")
    assert store.read_lock(run_id)["token"] == "theirs"


def test_run_chunk_beats_while_it_trains(tiny, monkeypatch):
    store, run_id = tiny
    run_id = loop.create_run(store, tiny_dataset(seed=1), arch="mlp", projection="pca")
    monkeypatch.setattr(S, "BEAT_SECONDS", 0.0)
    monkeypatch.setattr(loop, "PROGRESS_SECONDS", 0.0)
    beats = []

    def progress(step, total, message):
        lock = store.read_lock(run_id)
        beats.append(lock["beat"] - lock["since"])

    loop.run_chunk(store, run_id, progress=progress)
    assert len(beats) > 3 and beats[-1] > 0 and beats == sorted(beats)
    assert store.read_lock(run_id) is None


# -- the watchdog ----------------------------------------------------------------------------


def test_training_state_follows_the_lock(tiny):
    store, run_id = tiny
    watch = watchdog.start_watch(store.root, run_id, now=1000.0)
    assert watch == {"run_id": run_id, "chunks": 1, "since": 1000.0, "seen": False, "misses": 0}
    t0 = time.time()

    def state(**kw):
        return watchdog.training_state(store.root, run_id, t0, chunks_before=1, **kw)

    assert state(now=t0 + 1)["state"] == "starting"  # queued: no lock yet, within the grace
    with store.training_lock(run_id):
        st = state()
        assert (st["state"], st["seen"]) == ("running", True)
    # the lock was seen, now it is free and no chunk was recorded: the job is gone
    st = state(seen=True)
    assert st["state"] == "lost"
    assert st["message"] == (
        "The training job stopped (worker lost or killed) — the run is still at its last "
        "complete checkpoint c0; click Train chunk to try again."
    )
    # a worker killed between two ticks leaves its dead lock behind: lost at once
    write_lock(store, run_id, pid=dead_pid(), host=socket.gethostname(), since=t0 + 0.5)
    assert state()["state"] == "lost" and state()["seen"]
    # ... but a dead lock from before the click is not this job's
    write_lock(store, run_id, pid=dead_pid(), host=socket.gethostname(), since=t0 - 50)
    assert state(now=t0 + 1)["state"] == "starting"
    # a worker on another host that stopped beating
    old = time.time() - S.LOCK_STALE_SECONDS - 1
    write_lock(store, run_id, pid=4242, host="gpu-box-7", since=old, beat=old)
    assert state(seen=True)["state"] == "lost"
    write_lock(store, run_id, pid=4242, host="gpu-box-7", since=old, beat=time.time())
    assert state()["state"] == "running"


def test_training_state_done_queued_and_never_started(tiny):
    store, run_id = tiny
    t0 = time.time()
    late = t0 + watchdog.WATCH_GRACE_SECONDS + 1
    st = watchdog.training_state(store.root, run_id, t0, chunks_before=1, now=late)
    assert st["state"] == "lost" and "did not start within 21 s" in st["message"]
    assert "checkpoint c0" in st["message"]
    # another run is training: this job may be waiting for the worker
    other = loop.create_run(store, tiny_dataset(seed=2), arch="mlp", projection="pca")
    with store.training_lock(other):
        st = watchdog.training_state(store.root, run_id, t0, chunks_before=1, now=late)
        assert st["state"] == "queued" and other in st["message"]
    # a new chunk recorded: done, whatever the lock says
    store.update_run(run_id, lambda r: r["chunks"].append({"index": 1}))
    st = watchdog.training_state(store.root, run_id, t0, chunks_before=1, seen=True)
    assert st["state"] == "done"


def test_new_run_is_found_once_the_job_created_it(tmp_path):
    root = tmp_path / "store"
    watch = watchdog.start_watch(root, None)
    assert watch["run_id"] is None and watch["chunks"] == 0
    tick = watchdog.watch_tick(root, watch)
    assert tick["state"] == "starting" and not tick["report"]
    store = RunStore(root)
    run_id = loop.create_run(store, tiny_dataset(), arch="mlp", projection="pca")
    with store.training_lock(run_id):
        tick = watchdog.watch_tick(root, watch)
    assert tick["state"] == "running" and tick["watch"]["run_id"] == run_id
    tick = watchdog.watch_tick(root, tick["watch"])
    assert tick["state"] == "lost" and "no checkpoint yet" in tick["message"]


def test_watch_tick_reports_only_a_confirmed_loss(tiny):
    store, run_id = tiny
    watch = watchdog.start_watch(store.root, run_id)
    with store.training_lock(run_id):
        tick = watchdog.watch_tick(store.root, watch)
    assert (tick["state"], tick["report"], tick["watch"]["seen"]) == ("running", False, True)
    first = watchdog.watch_tick(store.root, tick["watch"])  # the lock is free now
    assert (first["state"], first["report"], first["watch"]["misses"]) == ("lost", False, 1)
    second = watchdog.watch_tick(store.root, first["watch"])
    assert second["report"] and second["message"].startswith("The training job stopped")
    # a lock holder in between resets the count (a slow poll, not a dead job)
    with store.training_lock(run_id):
        again = watchdog.watch_tick(store.root, first["watch"])
    assert again["watch"]["misses"] == 0
    assert watchdog.watch_tick(store.root, None)["report"] is False
    assert watchdog.watch_tick(store.root, {"since": "x"})["state"] == "none"
