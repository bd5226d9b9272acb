"""The Celery job manager against a real redis-server: a finished job counts as running
until its result is read, so Dash's poll never takes it for a cancelled one."""

from __future__ import annotations

import pytest

from tests.redis_server import redis_server, skip_without_redis

pytestmark = pytest.mark.redis

skip_without_redis()


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    from hill_dash.dashboard.celery_app import HillCeleryManager, make_celery

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        celery = make_celery(url)
        # The task runs in this process and its state is stored in Redis as a worker's
        # would be: what is under test is what the web process reads back from Redis.
        celery.conf.update(task_always_eager=True, task_store_eager_result=True)
        yield HillCeleryManager(celery)


def double(x):
    return 2 * x


def test_a_finished_job_counts_as_running_until_its_result_is_read(manager):
    """Dash's poll reads the result, then asks whether the job runs. A task that wrote its
    result and ended between the two looked cancelled, and the Train click waited forever."""
    job_fn = manager.make_job_fn(double, progress=False, key="double")
    job = manager.call_job_fn("result-a", job_fn, [21], {})
    assert manager.get_task(job).state == "SUCCESS"  # the task has ended ...
    assert manager.job_running(job)  # ... but its result is unread: the poll goes on
    assert manager.get_result("result-a", job) == 42
    assert not manager.job_running(job)  # read: the job is over
    assert manager.get_task(job).state == "SUCCESS"  # and not marked revoked by the read


def test_a_job_whose_result_is_gone_is_not_running(manager):
    job_fn = manager.make_job_fn(double, progress=False, key="double-b")
    job = manager.call_job_fn("result-b", job_fn, [1], {})
    manager.clear_cache_entry("result-b")  # expired, or read by another poll
    assert not manager.job_running(job)
