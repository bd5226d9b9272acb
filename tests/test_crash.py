"""kill -9 of a training job, mid-chunk or mid-write: completed chunks survive, the run goes on."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]

TRAIN_FOREVER = """
import sys
from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
store = RunStore(sys.argv[1])
def progress(step, total, msg):
    print(step, flush=True)
loop.run_chunk(store, sys.argv[2], progress=progress, overrides={"epochs": 500})
"""

HANG_IN_WRITE = """
import sys, time
import numpy as np
from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
def half_written(path, **arrays):
    with open(path, "wb") as fh:
        fh.write(b"PK\\x03\\x04 half a file")
    print("writing", flush=True)
    time.sleep(600)
np.savez = half_written
loop.run_chunk(RunStore(sys.argv[1]), sys.argv[2])
"""


def start(script: str, store: RunStore, run_id: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(store.root), run_id],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line:
            return line
        if proc.poll() is not None:
            break
    raise AssertionError("the job printed nothing")


def assert_consistent_and_continues(store: RunStore, run_id: str, before: dict) -> None:
    assert store.load_run(run_id) == before  # run.json untouched
    for ck in before["checkpoints"]:
        assert store.load_state(run_id, ck)["model"]
        assert store.load_arrays(run_id, ck)["Z"].shape[0] == sum(before["sizes"].values())
    assert store.lock_holder(run_id) is None  # the dead job's lock is not held forever
    chunk = loop.run_chunk(store, run_id)
    assert chunk["index"] == len(before["chunks"])
    names = sorted(p.name for p in (store.run_dir(run_id) / "checkpoints").iterdir())
    assert not [n for n in names if n.startswith(".")], names


@pytest.mark.parametrize(
    "script, wait_for",
    [(TRAIN_FOREVER, "a training step"), (HANG_IN_WRITE, "a half-written checkpoint")],
)
def test_kill_9_leaves_the_last_checkpoint(run_copy, script, wait_for):
    store, run_id = run_copy
    loop.run_chunk(store, run_id)  # chunk 1 completes: it must survive
    before = store.load_run(run_id)
    proc = start(script, store, run_id)
    try:
        wait_for_line(proc)
        time.sleep(0.5)
        assert store.lock_holder(run_id) is not None  # training: a second chunk is refused
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, wait_for
    # leftovers of the killed write are in a hidden temp dir, never under a checkpoint name
    weights = store.load_state(run_id, before["heads"]["guided"])["model"]
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert_consistent_and_continues(store, run_id, before)
