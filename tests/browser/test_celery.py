"""Scale-out in real Chromium: chunks run on a real Celery worker through a real redis-server.

The app runs with HILL_DASH_REDIS_URL (Dash's CeleryManager); each worker is started with
exactly the README's command (read from the README: `.venv/bin/celery -A app:celery_app
worker ...`, with this test's Redis URL and data directory), so it shares the app's data
directory and proves the documented command works. A worker
killed with SIGKILL mid-chunk leaves the run at its last checkpoint; the Loop page's
watchdog says so, re-enables Train chunk, and a new worker trains the chunk.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from hill_dash.session import Session
from tests.browser.conftest import ROOT, LiveApp
from tests.browser.helpers import click, progress_value, severe_logs, text_of, watch_progress
from tests.redis_server import redis_server, skip_without_redis
from tests.worker_command import worker_argv_and_env

pytestmark = pytest.mark.redis

skip_without_redis()

PID = re.compile(r"\(pid (\d+)\)")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


class Worker:
    """The README's worker command in its own process group, on the shared data dir."""

    def __init__(self, redis_url: str, data_dir: Path, numba_cache: Path, name: str):
        self.log_path = data_dir.parent / f"worker-{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        argv, env = worker_argv_and_env(
            {"HILL_DASH_REDIS_URL": redis_url, "HILL_DASH_DATA_DIR": str(data_dir)},
            # isolation only: numba's cache for these tests. The worker warms UMAP up as
            # the README's command does, before its pool forks (chunks must not hang on it)
            {"NUMBA_CACHE_DIR": str(numba_cache), "HILL_DASH_WARMUP": "1"},
        )
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,  # the README: "from the repository root"
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.read_log()}")
            if re.search(r"\S+@\S+ ready\.", self.read_log()):
                assert "background_callback_" in self.read_log()  # the chunk task is registered
                return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready: {self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def pids(self) -> set[int]:
        """The worker's main process and its pool children (the processes that run jobs)."""
        try:
            main = psutil.Process(self.proc.pid)
            return {main.pid, *(c.pid for c in main.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()

    def kill_9(self) -> None:
        """SIGKILL the main process and every child at once: no clean-up runs anywhere."""
        procs = [psutil.Process(p) for p in self.pids()]
        for p in procs:
            p.kill()
        psutil.wait_procs(procs, timeout=10)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_9()
        self.log.close()


class ScaleOut:
    """The dashboard on Celery and the workers started for it, all on one data directory."""

    def __init__(self, data_dir: Path, numba_cache: Path, redis_url: str):
        self.data_dir, self.numba_cache, self.redis_url = data_dir, numba_cache, redis_url
        self.workers: list[Worker] = []
        self.app: LiveApp | None = None

    def start_worker(self, wait: bool = True) -> Worker:
        w = Worker(self.redis_url, self.data_dir, self.numba_cache, f"w{len(self.workers)}")
        self.workers.append(w)
        if wait:
            w.wait_ready()
        return w

    @property
    def worker(self) -> Worker:
        return self.workers[-1]

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()
        for w in self.workers:
            w.stop()


@pytest.fixture(scope="module")
def own_numba_cache(tmp_path_factory) -> Path:
    """numba's cache for these tests only: kernels compiled on the worker must not land in
    the session's cache, where they would change the timing of the other browser tests."""
    return tmp_path_factory.mktemp("numba-cache-celery")


@pytest.fixture
def scale_out(tmp_path, own_numba_cache, redis_url):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    so = ScaleOut(data_dir, own_numba_cache, redis_url)
    try:
        first = so.start_worker(wait=False)  # boots while the app starts
        so.app = LiveApp(
            data_dir,
            own_numba_cache,
            extra_env={"HILL_DASH_REDIS_URL": redis_url, "HILL_DASH_WARMUP": "0"},
        )
        first.wait_ready()
        yield so
    finally:
        so.stop()


def job_pid(text: str) -> int:
    m = PID.search(text)
    assert m, text
    return int(m.group(1))


def callback_jobs(driver) -> int:
    """Background jobs the page is still polling."""
    return driver.execute_script(
        "return Object.keys(window.store.getState().callbackJobs || {}).length;"
    )


def test_chunks_run_on_the_celery_worker(dash_br, scale_out):
    app, worker = scale_out.app, scale_out.worker
    br = dash_br
    br.server_url = app.url
    br.wait_for_contains_text("#run-header", "No run yet", timeout=30)
    pool: set[int] = set()  # the worker's pool children seen while chunks ran

    def done(chunk: int) -> bool:
        pool.update(worker.pids() - {worker.proc.pid})
        return f"chunk {chunk} trained" in text_of(br.driver, "chunk-status")

    # the newcomer's one click: a run on digits and its chunk 0, trained on the worker
    click(br, "#train-button")
    progress = watch_progress(br.driver, lambda: done(0), timeout=300)
    assert {v for v in progress if 0 < v < 100}, progress
    pid = job_pid(text_of(br.driver, "chunk-status"))
    web = {app.proc.pid, *(c.pid for c in psutil.Process(app.proc.pid).children(recursive=True))}
    assert pid in pool and pid not in web, (pid, pool, web)
    store = RunStore(app.data_dir)
    (run,) = store.list_runs()
    assert run["heads"] == {"guided": "c0", "twin": "c0"}
    assert (store.checkpoint_dir(run["id"], "c0") / "model.pt").exists()
    br.wait_for_contains_text("#run-header", "1 chunk", timeout=30)

    # an edit (as the lasso would add it), then the guided chunk and its twin on the worker
    loop.add_edit(store, run["id"], Edit("translate", list(range(40)), dx=2.0, dy=-1.0))
    click(br, "#train-button")
    watch_progress(br.driver, lambda: done(1), timeout=300)
    assert job_pid(text_of(br.driver, "chunk-status")) in pool
    after = store.load_run(run["id"])
    assert after["heads"] == {"guided": "g1", "twin": "u1"} and after["pending"] == []
    assert len(after["chunks"][1]["edits"]) == 1
    br.wait_for_contains_text("#run-header", "2 chunk", timeout=30)
    assert store.lock_holder(run["id"]) is None
    assert callback_jobs(br.driver) == 0
    assert severe_logs(br) == []


def test_killed_worker_leaves_the_last_checkpoint_and_the_page_says_so(dash_br, scale_out):
    app = scale_out.app
    s = Session.new("digits", model="mlp", projection="pca", epochs=2, data_dir=app.data_dir)
    store = RunStore(app.data_dir)
    before = store.load_run(s.run_id)
    br = dash_br
    br.server_url = app.url
    br.wait_for_contains_text("#run-header", "1 chunk", timeout=30)
    epochs = br.find_element("#epochs-input")
    epochs.clear()
    epochs.send_keys("200")  # the most a chunk may have: long enough to kill it mid-way
    click(br, "#train-button")
    deadline = time.time() + 120
    while (progress_value(br.driver) or 0) < 3 and time.time() < deadline:
        time.sleep(0.2)
    assert (progress_value(br.driver) or 0) >= 3, scale_out.worker.read_log()[-2000:]
    holder = store.lock_holder(s.run_id)
    assert holder and holder["pid"] in scale_out.worker.pids()  # the worker trains it

    scale_out.worker.kill_9()
    t_kill = time.time()
    br.wait_for_contains_text("#chunk-status", "worker lost or killed", timeout=60)
    detected = time.time() - t_kill
    status = text_of(br.driver, "chunk-status")
    assert "last complete checkpoint c0" in status and "click Train chunk" in status, status
    br.wait_for_element("#train-button:not([disabled])", timeout=10)
    br.wait_for_element("#cancel-button[disabled]", timeout=10)
    until = time.time() + 10
    while callback_jobs(br.driver) and time.time() < until:
        time.sleep(0.2)
    assert callback_jobs(br.driver) == 0  # the page stopped polling the dead job
    after = store.load_run(s.run_id)
    assert (after["heads"], after["chunks"]) == (before["heads"], before["chunks"])
    assert store.lock_holder(s.run_id) is None
    print(f"watchdog reported the killed worker after {detected:.1f} s")

    # a new worker; Train chunk works again and completes the chunk
    scale_out.start_worker()
    epochs.clear()
    epochs.send_keys("1")
    click(br, "#train-button")
    pool: set[int] = set()

    def done() -> bool:
        pool.update(scale_out.worker.pids() - {scale_out.worker.proc.pid})
        return "chunk 1 trained" in text_of(br.driver, "chunk-status")

    watch_progress(br.driver, done)
    assert job_pid(text_of(br.driver, "chunk-status")) in pool
    assert store.load_run(s.run_id)["heads"] == {"guided": "g1", "twin": "u1"}
    assert severe_logs(br) == []
