"""The Celery application behind Dash's CeleryManager (Redis as broker and backend).

Workers import the dashboard so its background callbacks register as tasks:
`HILL_DASH_REDIS_URL=redis://127.0.0.1:6379/0 celery -A app:celery_app worker`.
"""

from __future__ import annotations


def make_celery(redis_url: str):
    from celery import Celery

    celery = Celery("hill_dash", broker=redis_url, backend=redis_url)
    # A chunk is acknowledged only when done, so a worker killed mid-chunk does not
    # silently lose it; the run itself stays at its last complete checkpoint.
    celery.conf.update(
        task_acks_late=False, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True
    )
    return celery
