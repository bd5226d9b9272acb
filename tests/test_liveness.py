"""A chunk's job keeps its training lock alive through every phase, not only while it
reports training progress (issue 19): a healthy worker on another host in a slow map fit
is never judged dead, and a killed one still is.

The worker is a real process (`tests/remote_worker.py`) that calls itself another host,
so this process judges its lock by the heartbeat alone, with a stale limit of 1.5 s
against a map fit of 4 s that reports no progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hill_dash.dashboard import watchdog
from hill_dash.engine import loop
from hill_dash.engine import run_lock as S
from hill_dash.engine.store import RunStore
from tests.test_watchdog import tiny_dataset

ROOT = Path(__file__).resolve().parents[1]
STALE = 1.5  # seconds without a beat before another host's lock counts as dead
FIT = 4.0  # the worker's map fit takes this long, without a progress report


def start_worker(store: RunStore, run_id: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT), "HILL_DASH_WARMUP": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.remote_worker", str(store.root), run_id, str(FIT), "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lock(store: RunStore, run_id: str, worker: subprocess.Popen) -> dict:
    deadline = time.time() + 60
    while time.time() < deadline:
        lock = store.read_lock(run_id)
        if lock is not None:
            return lock
        if worker.poll() is not None:
            pytest.fail(f"the worker ended before taking the lock: {worker.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("the worker never took the training lock")


@pytest.fixture
def new_run(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "LOCK_STALE_SECONDS", STALE)
    store = RunStore(tmp_path / "store")
    return store, loop.create_run(store, tiny_dataset(), arch="mlp", projection="pca")


def test_a_healthy_chunk_in_a_slow_map_fit_is_never_judged_dead(new_run):
    store, run_id = new_run
    since = time.time()
    worker = start_worker(store, run_id)
    try:
        lock = wait_for_lock(store, run_id, worker)
        assert lock["host"] == "worker-elsewhere"
        states = []
        while worker.poll() is None:
            states.append(watchdog.training_state(store.root, run_id, since)["state"])
            time.sleep(0.1)
        assert worker.returncode == 0, worker.stderr.read()
    finally:
        worker.kill()
    # the map fit alone took FIT > STALE seconds without progress: the thread beat through it
    assert len(states) > FIT / 0.1 / 2
    assert set(states) <= {"running", "done", "starting"}, states
    assert "running" in states
    assert len(store.load_run(run_id)["chunks"]) == 1


def test_a_killed_chunk_is_judged_dead_once_its_beat_is_stale(new_run):
    store, run_id = new_run
    since = time.time()
    worker = start_worker(store, run_id)
    try:
        wait_for_lock(store, run_id, worker)
        assert watchdog.training_state(store.root, run_id, since)["state"] == "running"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        worker.kill()
    time.sleep(STALE + 0.5)
    state = watchdog.training_state(store.root, run_id, since, seen=True)
    assert state["state"] == "lost"
    assert store.lock_holder(run_id) is None
    assert store.load_run(run_id)["chunks"] == []  # nothing of the killed chunk is recorded
