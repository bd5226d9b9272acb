"""The Celery application behind Dash's CeleryManager (Redis as broker and backend).

Workers import the dashboard so its background callbacks register as tasks:
`HILL_DASH_REDIS_URL=redis://127.0.0.1:6379/0 celery -A app:celery_app worker`.
"""

from __future__ import annotations

import contextlib

from dash import CeleryManager


def make_celery(redis_url: str):
    from celery import Celery

    celery = Celery("hill_dash", broker=redis_url, backend=redis_url)
    # A chunk is acknowledged when a worker starts it (not when it ends), so a worker
    # killed mid-chunk does not make another worker re-run it unasked: the run stays at
    # its last complete checkpoint and the dashboard's watchdog says so.
    celery.conf.update(
        task_acks_late=False, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True
    )
    from celery.signals import worker_init

    worker_init.connect(warm_worker, weak=False)
    return celery


def warm_worker(**_kwargs) -> None:
    """The worker's main process warms up before its pool processes fork from it, so no
    chunk pays for it: torch's first-optimizer imports (`launcher.warm_torch`) and, unless
    HILL_DASH_WARMUP=0, UMAP's numba kernels (~0.4 s with numba's cache kept, ~10–20 s
    compiling without; a pool process has only a few seconds to report itself up, so this
    cannot wait for each of them). The same warm-up the dashboard's job launcher makes, and
    as there, OpenMP stays single-threaded in the forking process: a pool process forked
    from one that ran an OpenMP team hangs in its first k-NN search."""
    from hill_dash.dashboard.config import AppConfig
    from hill_dash.dashboard.fork_safety import keep_openmp_single_threaded
    from hill_dash.dashboard.launcher import warm_projection, warm_torch

    keep_openmp_single_threaded()
    warm_torch()
    if AppConfig.from_env().projection_warmup:
        warm_projection("worker")


# How long the backend remembers which result key a job writes (a day: longer than any
# chunk, short enough that the keys do not pile up).
JOB_KEY_SECONDS = 24 * 3600


class HillCeleryManager(CeleryManager):
    """Dash's CeleryManager with two mends: a cancel that ends a job no live worker
    reports on, and a finished job that counts as running until its result is read.

    Dash polls a Celery job while its task is PENDING, and the task of a killed worker
    stays PENDING forever. So a cancel (the Cancel button, or the Loop page's watchdog
    after a lost worker) also marks the task REVOKED in the result backend: the
    browser's polling ends, and a worker that receives the task later skips it
    (`hill_dash.dashboard.jobs.job_revoked`).

    Dash's poll reads the result, then asks whether the job still runs. A task that
    wrote its result and finished between the two looked cancelled: the poll closed
    with no output and the result was never read (the Train click waited forever; the
    same race as the launcher's, `launcher.RESULT_WAIT_SECONDS`). So each job's result
    key is kept in the backend beside it, and a finished task whose result is still
    there counts as running; the next poll reads it.
    """

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        with contextlib.suppress(Exception):  # unreachable backend: Dash's own behaviour
            backend = self.handle.backend
            backend.set(_job_key(job), key)
            backend.expire(_job_key(job), JOB_KEY_SECONDS)
        return job

    def job_running(self, job):
        if super().job_running(job):
            return True
        task = self.get_task(job)  # FAILURE, REVOKED: Dash's answer stands
        return task is not None and task.state == "SUCCESS" and self._result_unread(job)

    def _result_unread(self, job) -> bool:
        """True when the job's result is in the backend and nobody has read it yet."""
        backend = self.handle.backend
        key = backend.get(_job_key(job))
        if key is None:
            return False
        return backend.get(key.decode() if isinstance(key, bytes) else key) is not None

    def terminate_job(self, job):
        if job is None:
            return
        super().terminate_job(job)
        with contextlib.suppress(Exception):  # backend unreachable: Dash keeps polling
            if self.handle.AsyncResult(job).state not in ("SUCCESS", "FAILURE"):
                self.handle.backend.mark_as_revoked(job, reason="cancelled by the dashboard")


def _job_key(job: str) -> str:
    return f"hill-dash-job-result-key-{job}"
