"""Background work for the dashboard: the callback manager and the job functions.

The manager is DiskCache by default and Celery when a Redis URL is configured
(`HILL_DASH_REDIS_URL` or `--redis-url`); workers then need the same
`HILL_DASH_DATA_DIR` on shared storage. Job functions take only plain values
(run id, data directory, overrides) and read everything else from the store,
so they run the same in a forked process, on a Celery worker, or in a test.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hill_dash.dashboard.fork_safety import use_all_cores_in_job
from hill_dash.engine.errors import HillError

SetProgress = Callable[[tuple], None]


def make_manager(data_dir: Path, redis_url: str | None = None):
    """Dash background-callback manager: CeleryManager with Redis, else a DiskcacheManager
    whose jobs are forked by a clean launcher process (see hill_dash.dashboard.launcher)."""
    if redis_url:
        from hill_dash.dashboard.celery_app import HillCeleryManager, make_celery

        return HillCeleryManager(make_celery(redis_url))
    import diskcache

    cache_dir = Path(data_dir) / "cache" / "background"
    cache_dir.mkdir(parents=True, exist_ok=True)
    from hill_dash.dashboard.launcher import LauncherManager

    return LauncherManager(diskcache.Cache(str(cache_dir)))


def job_revoked() -> bool:
    """On a Celery worker: whether the dashboard cancelled this task before it started."""
    if "celery" not in sys.modules:  # a forked DiskCache job, or a test
        return False
    from celery import current_task

    request = getattr(current_task, "request", None)
    task_id = getattr(request, "id", None)
    if not task_id:
        return False
    try:
        return current_task.AsyncResult(task_id).state == "REVOKED"
    except Exception:  # noqa: BLE001 - the backend is unreachable: run the chunk
        return False


def progress_tuple(step: int, total: int, message: str) -> tuple:
    """(value, max, label) for the progress bar: percent, 100, a short label."""
    pct = int(round(100 * step / max(total, 1)))
    return pct, 100, f"{pct}% · {message}"


def train_chunk_job(
    set_progress: SetProgress | None,
    data_dir: str,
    run_id: str | None,
    overrides: dict | None = None,
    dataset: str = "digits",
) -> dict:
    """Train the next chunk of `run_id` (or start a run on `dataset` when None).

    Returns {"run_id", "ok", "message"}; input problems become a message, never
    an exception, so the dashboard stays usable.
    """
    from hill_dash.engine import loop
    from hill_dash.engine.data import load_dataset
    from hill_dash.engine.store import RunStore

    shown: dict = {}  # the guided checkpoint on the map, once the chunk stored it

    def report(step: int, total: int, message: str) -> None:
        if set_progress is not None:
            set_progress((*progress_tuple(step, total, message), shown.get("map")))

    def guided_shown(ckpt: str) -> None:
        shown["map"] = {"run_id": run_id, "checkpoint": ckpt}

    if job_revoked():  # cancelled (e.g. by the watchdog) while it waited in the queue
        return {"run_id": run_id, "ok": False, "message": "cancelled before a worker started it"}
    t0 = time.time()
    use_all_cores_in_job()
    try:
        store = RunStore(data_dir)
        if not run_id:
            report(0, 1, f"loading {dataset}")
            data = load_dataset(dataset, store.root)
            run_id = loop.create_run(
                store, data, projection=(overrides or {}).get("projection", "umap")
            )
        chunk = loop.run_chunk(
            store,
            run_id,
            progress=report,
            overrides=_chunk_overrides(overrides),
            on_guided=guided_shown,
        )
    except HillError as exc:
        return {"run_id": run_id, "ok": False, "message": str(exc)}
    seconds = time.time() - t0
    return {
        "run_id": run_id,
        "ok": True,
        "chunk": chunk["index"],
        "message": f"chunk {chunk['index']} trained in {seconds:.1f} s (pid {os.getpid()})",
    }


def _chunk_overrides(overrides: dict | None) -> dict:
    keep = ("epochs", "lam", "anchor", "lr", "batch_size", "kd_weight")
    return {k: v for k, v in (overrides or {}).items() if k in keep and v is not None}
