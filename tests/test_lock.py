"""The training lock under a race: many processes take over one stale lock, one wins.

Each taker is a real process (forked); they are released together by a barrier and
race for a lock whose holder is dead. Exactly one may train. A lease whose lock was
taken over writes nothing.

Between judging the old lock stale and replacing it, a taker can be preempted; on an
idle machine that window is microseconds wide. Each taker therefore sleeps a random
0-5 ms before it unlinks or renames the lock file (`jitter`), as a loaded machine
would make it, so a takeover that is not atomic fails here every time.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import socket
import subprocess
import time

import numpy as np
import pytest

from hill_dash.engine import loop
from hill_dash.engine import run_lock as S
from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import RunBusyError
from hill_dash.engine.run_lock import LockLostError
from hill_dash.engine.store import RunStore

TAKERS = 60


def tiny_dataset(n: int = 60) -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.random((n, 8, 8)).astype(np.float32)
    y = np.arange(n) % 3
    return Dataset("tiny", "image", X[:36], y[:36], X[36:48], y[36:48], X[48:], y[48:], list("abc"))


@pytest.fixture
def tiny(tmp_path) -> tuple[RunStore, str]:
    store = RunStore(tmp_path / "store")
    return store, loop.create_run(store, tiny_dataset(), arch="mlp", projection="pca")


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def write_lock(store: RunStore, run_id: str, **fields) -> None:
    (store.run_dir(run_id) / "training.lock").write_text(json.dumps(fields))


def stale_same_host() -> dict:
    return {"pid": dead_pid(), "host": socket.gethostname(), "since": time.time(), "token": "x"}


def stale_other_host() -> dict:
    old = time.time() - S.LOCK_STALE_SECONDS - 30
    return {"pid": 4242, "host": "lost-worker", "since": old, "beat": old, "token": "y"}


def jitter(seed: int) -> None:
    """In this process: a random pause before each unlink or rename of a training lock."""
    import random

    rnd = random.Random(seed)
    real_unlink, real_rename = os.unlink, os.rename

    def pause(path) -> None:
        if os.path.basename(path) == "training.lock":
            time.sleep(rnd.uniform(0, 0.005))

    os.unlink = lambda path, *a, **k: (pause(path), real_unlink(path, *a, **k))[1]
    os.rename = lambda src, dst, *a, **k: (pause(src), real_rename(src, dst, *a, **k))[1]


def _taker(i, root, run_id, barrier, results, check, release, other_host):
    """One contender: wait for the start, try the lock, report; a winner holds it until
    every contender has reported, then says whether its lease is still valid."""
    jitter(i)
    store = RunStore(root)
    if other_host:  # every contender on its own host, where a flock would not reach
        socket.gethostname = lambda: f"host-{i}"
        RunStore._host_lock = lambda self, run_id: contextlib.nullcontext()
    barrier.wait(timeout=60)
    try:
        with store.training_lock(run_id, job=f"taker-{i}") as lease:
            results.put(("won", i))
            check.wait(timeout=120)
            try:
                lease.check()
                results.put(("valid", i))
            except LockLostError:
                results.put(("lost", i))
            release.wait(timeout=120)
    except RunBusyError:
        results.put(("busy", i))
    except BaseException as exc:  # noqa: BLE001 - any other failure is a test failure
        results.put(("error", f"{i}: {type(exc).__name__}: {exc}"))


def race(store: RunStore, run_id: str, other_host: bool = False) -> dict[str, list]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(TAKERS)
    results, check, release = ctx.Queue(), ctx.Event(), ctx.Event()
    args = (str(store.root), run_id, barrier, results, check, release, other_host)
    procs = [ctx.Process(target=_taker, args=(i, *args)) for i in range(TAKERS)]
    for p in procs:
        p.start()
    out: dict[str, list] = {"won": [], "busy": [], "valid": [], "lost": [], "error": []}
    try:
        for _ in range(TAKERS):
            kind, who = results.get(timeout=120)
            out[kind].append(who)
        check.set()
        for _ in out["won"]:
            kind, who = results.get(timeout=60)
            out[kind].append(who)
        release.set()
    finally:
        release.set()
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    return out


@pytest.mark.parametrize("stale", [stale_same_host, stale_other_host])
def test_many_takers_of_a_stale_lock_one_wins(tiny, stale):
    store, run_id = tiny
    write_lock(store, run_id, **stale())
    assert store.lock_holder(run_id) is None  # dead: free to take over
    out = race(store, run_id)
    assert out["error"] == []
    assert len(out["won"]) == 1, out
    assert len(out["busy"]) == TAKERS - 1
    assert out["valid"] == out["won"]
    assert store.read_lock(run_id) is None  # the winner released it
    assert not list(store.run_dir(run_id).glob(".training.lock*"))  # no temp or stale file left


def test_takers_on_many_hosts_leave_one_writer(tiny):
    """Without a flock reaching across hosts, the lock file alone decides: whatever the
    interleaving, exactly one contender holds a lease that still writes."""
    store, run_id = tiny
    write_lock(store, run_id, **stale_other_host())
    out = race(store, run_id, other_host=True)
    assert out["error"] == []
    # more than one may believe it won: a taker that moved a fresh lock aside while
    # judging the stale one can lose the race to put it back (under load, twice); each
    # such "winner" is caught by its lease, and exactly one lease still writes
    assert len(out["won"]) >= 1, out
    assert len(out["valid"]) == 1 and out["valid"][0] in out["won"], out
    assert len(out["busy"]) == TAKERS - len(out["won"])


def test_a_lease_whose_lock_was_taken_over_writes_nothing(tiny):
    store, run_id = tiny
    run_json = store.run_dir(run_id) / "run.json"
    before = run_json.read_bytes()
    with store.training_lock(run_id) as lease:
        lease.check()
        assert lease.beat()
        # judged dead meanwhile (no beat for 90 s) and taken over by a worker elsewhere
        theirs = {"pid": 7, "host": "elsewhere", "since": time.time(), "token": "theirs"}
        write_lock(store, run_id, **theirs)
        with pytest.raises(LockLostError, match="lost its training lock.*pid 7 on elsewhere"):
            lease.check()
        with pytest.raises(LockLostError):
            store.update_run(run_id, lambda r: r.update(name="changed"), lease=lease)
        with pytest.raises(LockLostError):
            store.save_checkpoint(run_id, "g1", {"w": 1}, {"Z": np.zeros(2)}, lease=lease)
        with pytest.raises(LockLostError):
            store.append_jsonl(run_id, "metrics.jsonl", {"checkpoint": "g1"}, lease=lease)
        with pytest.raises(LockLostError):
            store.remove_leftovers(run_id, lease=lease)
        assert not lease.beat()  # their lock is never rewritten
    assert run_json.read_bytes() == before
    assert os.listdir(store.run_dir(run_id) / "checkpoints") == []
    assert not (store.run_dir(run_id) / "metrics.jsonl").exists()
    assert store.read_lock(run_id) == theirs  # left in place on release


def test_a_held_lease_writes(tiny):
    store, run_id = tiny
    with store.training_lock(run_id, job="j") as lease:
        assert store.read_lock(run_id)["token"] == lease.token
        store.update_run(run_id, lambda r: r.update(name="renamed"), lease=lease)
        store.save_checkpoint(run_id, "g1", {"w": 1}, {"Z": np.zeros(2)}, lease=lease)
        store.append_jsonl(run_id, "metrics.jsonl", {"checkpoint": "g1"}, lease=lease)
        other = loop.create_run(store, tiny_dataset(), arch="mlp", projection="pca")
        with pytest.raises(S.StoreError, match="lease of run"):
            store.update_run(other, lambda r: None, lease=lease)
        with (
            pytest.raises(RunBusyError, match="already training"),  # this process too
            store.training_lock(run_id),
        ):
            pass
    assert store.load_run(run_id)["name"] == "renamed"
    assert store.load_state(run_id, "g1") == {"w": 1}
    assert store.read_lock(run_id) is None


def test_an_unreadable_lock_counts_as_held_until_its_file_is_stale(tiny):
    """A crash can keep the lock's name and lose its content: it must not block forever."""
    store, run_id = tiny
    lock = store.run_dir(run_id) / "training.lock"
    for content in ("", "{tor"):
        lock.write_text(content)
        assert store.lock_holder(run_id) is not None  # fresh: someone may be writing it
        with pytest.raises(RunBusyError), store.training_lock(run_id):
            pass
        old = time.time() - S.LOCK_STALE_SECONDS - 5
        os.utime(lock, (old, old))
        assert store.lock_holder(run_id) is None
        with store.training_lock(run_id) as lease:
            lease.check()
        assert store.read_lock(run_id) is None
