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
    from celery.signals import worker_process_init

    worker_process_init.connect(_warm_worker_process, weak=False)
    return celery


def _warm_worker_process(**_kwargs) -> None:
    """Each pool process warms torch as it starts, so its first chunk does not pay torch's
    first-optimizer imports (`hill_dash.dashboard.launcher.warm_torch`)."""
    from hill_dash.dashboard.launcher import warm_torch

    warm_torch()


class HillCeleryManager(CeleryManager):
    """Dash's CeleryManager whose cancel also ends a job that no live worker reports on.

    Dash polls a Celery job while its task is PENDING, and the task of a killed worker
    stays PENDING forever. So a cancel (the Cancel button, or the Loop page's watchdog
    after a lost worker) also marks the task REVOKED in the result backend: the
    browser's polling ends, and a worker that receives the task later skips it
    (`hill_dash.dashboard.jobs.job_revoked`).
    """

    def terminate_job(self, job):
        if job is None:
            return
        super().terminate_job(job)
        with contextlib.suppress(Exception):  # backend unreachable: Dash keeps polling
            if self.handle.AsyncResult(job).state not in ("SUCCESS", "FAILURE"):
                self.handle.backend.mark_as_revoked(job, reason="cancelled by the dashboard")
