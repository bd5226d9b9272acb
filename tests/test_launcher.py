"""The job launcher: jobs are forked by a clean process, not by the threaded web server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import diskcache
import psutil
import pytest

from hill_dash.dashboard.launcher import LauncherManager


def wait_for(predicate, timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def manager(tmp_path):
    m = LauncherManager(diskcache.Cache(str(tmp_path / "cache")))
    out = tmp_path / "out"
    out.mkdir()

    def write_pids(key, progress_key, args, context):
        (out / key).write_text(f"{os.getpid()} {os.getppid()} {args['x']} {context['who']}")
        time.sleep(float(args.get("sleep", 0)))

    m.func_registry["write-pids"] = write_pids
    m.out = out
    m.start_launcher(warm_up=False)
    yield m
    m.stop_launcher()


def test_jobs_are_children_of_the_launcher_not_of_this_process(manager):
    job_fn = manager.func_registry["write-pids"]
    pid = manager.call_job_fn("job-a", job_fn, {"x": 3}, {"who": "tab-1"})
    done = manager.out / "job-a"
    assert wait_for(done.exists) and wait_for(lambda: done.read_text().count(" ") == 3)
    job_pid, parent, x, who = done.read_text().split()
    assert int(job_pid) == pid
    assert int(parent) == manager.launcher_pid != os.getpid()
    assert (x, who) == ("3", "tab-1")  # arguments and context arrive intact
    assert wait_for(lambda: not manager.job_running(pid))  # reaped, no zombie left behind


def test_cancel_kills_a_running_job(manager):
    job_fn = manager.func_registry["write-pids"]
    pid = manager.call_job_fn("job-b", job_fn, {"x": 1, "sleep": 60}, {"who": "tab-2"})
    assert wait_for((manager.out / "job-b").exists)
    assert manager.job_running(pid)
    manager.terminate_job(pid)
    assert wait_for(lambda: not manager.job_running(pid))
    # the launcher survives its job and starts the next one
    pid2 = manager.call_job_fn("job-c", job_fn, {"x": 2}, {"who": "tab-2"})
    assert pid2 != pid and wait_for((manager.out / "job-c").exists)


def test_unknown_callback_is_a_clear_error_and_the_launcher_keeps_serving(manager):
    with pytest.raises(RuntimeError, match="no background callback registered"):
        manager.call_job_fn("job-d", lambda *a: None, {"x": 0}, {"who": "?"})
    job_fn = manager.func_registry["write-pids"]
    manager.call_job_fn("job-e", job_fn, {"x": 5}, {"who": "tab-3"})
    assert wait_for((manager.out / "job-e").exists)


def test_launcher_ends_when_the_web_process_closes_the_pipe(tmp_path: Path):
    m = LauncherManager(diskcache.Cache(str(tmp_path / "cache")))
    pid = m.start_launcher(warm_up=False)
    assert psutil.pid_exists(pid)
    assert m.stop_launcher(timeout=30)  # it left on its own, no SIGKILL needed
    assert not psutil.pid_exists(pid)


def test_finished_or_foreign_pids_are_never_killed(manager):
    job_fn = manager.func_registry["write-pids"]
    pid = manager.call_job_fn("job-f", job_fn, {"x": 1}, {"who": "tab-4"})
    assert wait_for(lambda: not manager.job_running(pid))
    manager.terminate_job(pid)  # ended meanwhile: nothing to do, no error
    manager.terminate_job(os.getpid())  # not one of the launcher's jobs: left alone
    manager.terminate_job(manager.launcher_pid)
    assert psutil.pid_exists(manager.launcher_pid) and not manager.job_running(os.getpid())
    pid2 = manager.call_job_fn("job-g", job_fn, {"x": 2}, {"who": "tab-4"})
    assert wait_for((manager.out / "job-g").exists) and pid2 != pid


def test_launcher_writes_its_state_and_the_page_explains_the_wait(tmp_path: Path):
    from hill_dash.dashboard.launcher import launcher_state, launcher_status_path, startup_note

    path = launcher_status_path(tmp_path)
    assert launcher_state(path) is None and startup_note(None) == ""
    m = LauncherManager(diskcache.Cache(str(tmp_path / "cache" / "background")))
    pid = m.start_launcher(warm_up=False, status_path=path)
    try:
        assert wait_for(path.exists)
        state = launcher_state(path)
        assert state["state"] == "ready" and state["pid"] == pid
        assert startup_note(state) == ""  # ready: nothing to explain
    finally:
        assert m.stop_launcher()
    assert launcher_state(path) is None  # the file outlives its launcher; its word does not
    compiling = {"state": "compiling", "pid": os.getpid(), "since": time.time()}
    assert "UMAP compiles" in startup_note(compiling)


def test_the_command_line_keeps_the_environments_warm_up_setting(monkeypatch):
    """`HILL_DASH_WARMUP=0 python app.py` starts a launcher that does not compile UMAP
    (the flags built their config without it, so every start compiled)."""
    from app import parse_args

    monkeypatch.setenv("HILL_DASH_WARMUP", "0")
    assert parse_args(["--port", "8123"]).projection_warmup is False
    monkeypatch.setenv("HILL_DASH_WARMUP", "1")
    assert parse_args([]).projection_warmup is True


def test_after_the_launchers_warm_up_a_jobs_first_optimizer_imports_nothing(tmp_path):
    """A job forked from the launcher builds optimizers at once: torch's first-use imports
    (torch._dynamo, ~2 s on two cores) must already be in the launcher, not in every job."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from hill_dash.dashboard.launcher import warm_torch\n"
        "cold = 'torch._dynamo' in sys.modules\n"
        "warm_torch()\n"
        "before = set(sys.modules)\n"
        "layer = torch.nn.Linear(3, 2)\n"
        "opt = torch.optim.Adam(layer.parameters())\n"
        "layer(torch.ones(4, 3)).sum().backward()\n"
        "opt.step()\n"
        "print(cold, sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.split("\n")[0]
    assert out == "False []", out  # cold before the warm-up, nothing left to import after


def test_a_finished_job_stays_until_its_result_is_read(tmp_path):
    """Dash reads a result, then asks whether the job still runs: a job gone in between
    looked cancelled, and the page never heard of its chunk. A job now waits, alive, while
    its result is unread; reading it (Dash's get_result) ends it."""
    m = LauncherManager(diskcache.Cache(str(tmp_path / "cache")))

    def store_result(key, progress_key, args, context):
        m.handle.set(key, {"done": args["x"]})

    m.func_registry["store-result"] = store_result
    m.start_launcher(warm_up=False)
    try:
        pid = m.call_job_fn("job-h", store_result, {"x": 7}, {"who": "tab-5"})
        assert wait_for(lambda: "job-h" in m.handle)
        time.sleep(0.5)
        assert m.job_running(pid)  # finished, its result unread: still there
        assert m.get_result("job-h", pid) == {"done": 7}
        assert wait_for(lambda: not m.job_running(pid), timeout=5)
    finally:
        m.stop_launcher()
