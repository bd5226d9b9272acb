"""Is the Loop page's training job alive? Judged from the run store alone.

A chunk runs as a background job (forked, or on a Celery worker) that holds its run's
training lock. While the page shows a chunk running, it ticks the watchdog: a job that
died (worker killed or lost, or never started) is reported and ended, and the run is at
its last complete checkpoint. Also here: what the status line says when a job ends,
is cancelled or is lost.
"""

from __future__ import annotations

import time
from pathlib import Path

from hill_dash.dashboard.views import head, open_run
from hill_dash.engine.errors import StoreError
from hill_dash.engine.pending import roll_back_arriving
from hill_dash.engine.store import RUN_ID, RunStore

WATCH_GRACE_SECONDS = 20.0  # a job may take this long to take its run's training lock
WATCH_NEW_RUN_GRACE_SECONDS = 60.0  # longer when it first loads a data set for a new run
WATCH_CONFIRM_TICKS = 2  # ticks in a row that must find the job lost before it is reported
CLOCK_SKEW_SECONDS = 300.0  # tolerated between the web process and a worker on another host


def start_watch(data_dir: str | Path, run_id: object, now: float | None = None) -> dict:
    """What the watchdog remembers about a chunk it starts watching: the run it trains
    (None: a new run, not created yet), its chunk count then, and `now` (server clock),
    which must not be later than the click."""
    _, rid, run = open_run(data_dir, run_id)
    return {
        "run_id": rid,
        "chunks": len(run.get("chunks", [])) if run else 0,
        "since": time.time() if now is None else now,
        "seen": False,
        "misses": 0,
    }


def training_state(
    data_dir: str | Path,
    run_id: str | None,
    since: float,
    chunks_before: int = 0,
    seen: bool = False,
    now: float | None = None,
) -> dict:
    """What the chunk started at `since` is doing, judged from the run store alone.

    Returns {"state", "run_id", "seen", "message"}; state is
    "running"  the run's training lock has a live holder (`seen` becomes True),
    "done"     a new chunk was recorded (the job's result is on its way),
    "starting" no lock yet, within the grace period of a queued or loading job,
    "queued"   no lock yet, but other runs are training: it may wait for a worker,
    "lost"     the lock was seen (or a dead one written after `since` is left) and is
               free or stale now with no new chunk, or the job never took it.
    run_id None means a new run: the newest run created since `since`, if any.
    """
    store = RunStore(data_dir)
    now = time.time() if now is None else now
    rid = run_id if run_id else _run_created_since(store, since)
    run = None
    if rid:
        try:
            run = store.load_run(rid)
        except StoreError:
            run = None
    out = {"state": "lost", "run_id": rid, "seen": bool(seen), "message": ""}
    if run is not None and len(run.get("chunks", [])) > chunks_before:
        return out | {"state": "done"}
    lock = store.read_lock(rid) if run is not None else None
    if lock is not None and store.lock_holder(rid) is not None:
        return out | {"state": "running", "seen": True}
    if lock is not None and _seconds(lock.get("since")) >= since:
        out["seen"] = True  # this job took the lock, and died holding it
    if out["seen"]:
        return out | {"message": lost_message(run, started=True)}
    grace = WATCH_GRACE_SECONDS if run_id else WATCH_NEW_RUN_GRACE_SECONDS
    if now - since < grace:
        return out | {"state": "starting"}
    busy = training_runs(store, exclude=rid)
    if busy:
        return out | {
            "state": "queued",
            "message": f"Waiting for a free worker: {', '.join(busy[:3])} "
            f"{'is' if len(busy) == 1 else 'are'} training. Cancel to give up.",
        }
    return out | {"message": lost_message(run, started=False, waited=now - since)}


def _run_created_since(store: RunStore, since: float) -> str | None:
    """The newest run if it was created after `since` (a worker's clock may be a little off)."""
    runs = store.list_runs()
    if runs and _seconds(runs[0].get("created")) >= since - CLOCK_SKEW_SECONDS:
        return runs[0]["id"]
    return None


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def training_runs(store: RunStore, exclude: str | None = None) -> list[str]:
    """Runs whose training lock has a live holder (cheap: only runs with a lock file)."""
    out = []
    for lock in sorted(store.runs.glob("*/training.lock")):
        rid = lock.parent.name
        if rid != exclude and RUN_ID.match(rid) and store.lock_holder(rid) is not None:
            out.append(rid)
    return out


def lost_message(run: dict | None, started: bool = True, waited: float = 0.0) -> str:
    """The watchdog's warning: what happened to the job, where the run stands, what to do."""
    what = (
        "The training job stopped (worker lost or killed)"
        if started
        else f"The training job did not start within {waited:.0f} s (no worker took it: "
        "is a Celery worker running?)"
    )
    if not run or not head(run):
        where = "the run has no checkpoint yet"
    else:
        where = f"the run is still at its last complete checkpoint {head(run)}"
    return f"{what} — {where}; click Train chunk to try again."


def watch_tick(data_dir: str | Path, watch: dict | None, now: float | None = None) -> dict:
    """One watchdog tick over `start_watch`'s record: the updated record, and a verdict.

    Returns {"watch", "state", "report", "message"}: report is True once the job is
    found lost WATCH_CONFIRM_TICKS ticks in a row (a job that just ended is not lost:
    its result arrives with the next poll), then the page says `message`.
    """
    if not isinstance(watch, dict) or not isinstance(watch.get("since"), (int, float)):
        return {"watch": watch, "state": "none", "report": False, "message": ""}
    chunks = watch.get("chunks")
    st = training_state(
        data_dir,
        watch.get("run_id") if isinstance(watch.get("run_id"), str) else None,
        float(watch["since"]),
        chunks_before=chunks if isinstance(chunks, int) else 0,
        seen=bool(watch.get("seen")),
        now=now,
    )
    misses = int(watch.get("misses") or 0) + 1 if st["state"] == "lost" else 0
    new = watch | {"seen": st["seen"], "misses": misses}
    if st["run_id"] and not watch.get("run_id"):
        new["run_id"] = st["run_id"]
    report = st["state"] == "lost" and misses >= WATCH_CONFIRM_TICKS
    return {"watch": new, "state": st["state"], "report": report, "message": st["message"]}


def tick_for_click(
    data_dir: str | Path, watch: dict | None, clicks: object, run_id: object, tick_seconds: float
) -> dict:
    """`watch_tick` for the chunk that Train chunk click number `clicks` started.

    The first tick after a new click starts the watch (not the click itself: a request
    running while the click's job forks could leave the job a locked stream or loader),
    dated back to when the click was.
    """
    if not isinstance(watch, dict) or watch.get("clicks") != clicks:
        started = time.time() - 2 * tick_seconds  # the click was one tick ago
        watch = start_watch(data_dir, run_id, now=started) | {"clicks": clicks}
    return watch_tick(data_dir, watch)


# -- what the status line says --------------------------------------------------------


def job_message(result: dict | None) -> tuple[bool, str]:
    """(ok, text) for the status line after a training job."""
    if not isinstance(result, dict):
        return False, "The training job ended without a result."
    ok = bool(result.get("ok"))
    return ok, str(result.get("message") or ("done" if ok else "failed"))


def settle_cancelled(store, run_id: str, wait: float = 3.0) -> dict | None:
    """After Cancel: once the killed job's lock is gone (at most `wait` s), roll back a
    chunk that had shown its guided map but was never recorded; returns the run."""
    deadline = time.time() + wait
    while store.lock_holder(run_id) is not None and time.time() < deadline:
        time.sleep(0.1)
    run = store.load_run(run_id)
    if run.get("arriving") and store.lock_holder(run_id) is None:
        roll_back_arriving(store, run_id)
        run = store.load_run(run_id)
    return run


def cancelled_message(run: dict | None) -> str:
    """After Cancel: nothing of the chunk was stored; the run is at its last checkpoint."""
    if not run or not head(run):
        return "Chunk cancelled. Nothing was stored; the run has no checkpoint yet."
    heads = run["heads"]
    n = len(run["chunks"])
    return (
        f"Chunk cancelled. Nothing of it was stored: the run is at its last complete "
        f"checkpoint (guided {heads['guided']}, unguided {heads['twin']}, "
        f"{n} chunk{'' if n == 1 else 's'})."
    )
