"""OpenMP across fork: single-threaded in a process that forks jobs, lifted in each job.

GNU OpenMP cannot be used in a child forked from a parent that ran an OpenMP thread team:
scikit-learn's k-NN (the UMAP inverse, previews, the warm-up's map) would hang the child.
The web process, the job launcher it forks and a Celery worker's main process keep one
OpenMP thread, so they never start a team; each job lifts the limit for itself.
"""

from __future__ import annotations

import os


def keep_openmp_single_threaded() -> None:
    """In a process that forks jobs (the web process and so its job launcher, a Celery
    worker's main process): one OpenMP thread, so it never starts a team."""
    import sklearn.neighbors  # noqa: F401 - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")


def use_all_cores_in_job() -> None:
    """In a forked job: lift its parent's OpenMP limit (a fresh team is safe here)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(os.cpu_count() or 1, user_api="openmp")
