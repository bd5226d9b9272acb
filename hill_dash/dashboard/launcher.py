"""Background jobs without a fork from the threaded web server.

Dash's DiskcacheManager forks every job from the web process. That process is a
threaded Flask server: a fork taken while another request thread holds a lock
(the allocator's, OpenMP's, numba's compiler lock, a logging handler's) gives a
child that can wait on that lock forever. It happened: a chunk that never
started, a progress bar that never moved.

`LauncherManager` forks one *launcher* process while the web process is still
single-threaded (after the app and its callbacks are built, before the server
starts). The launcher warms torch (its first optimizer imports 2 s of modules) and
compiles UMAP's numba kernels once, then waits on a pipe;
for each job it forks a child from itself — a single-threaded, clean parent —
and sends back the child's pid. Everything else is Dash's DiskcacheManager:
results and progress in the shared diskcache, Cancel kills the job by pid.

The launcher ends when the web process closes the pipe (it exits or dies).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

from dash import DiskcacheManager


class LauncherManager(DiskcacheManager):
    """DiskcacheManager whose jobs are forked by a clean launcher process."""

    def __init__(self, cache, **kwargs):
        super().__init__(cache, **kwargs)
        self._conn: Connection | None = None
        self._launcher_pid: int | None = None
        self._lock = threading.Lock()  # one request at a time on the pipe

    @property
    def launcher_pid(self) -> int | None:
        return self._launcher_pid

    def start_launcher(self, warm_up: bool = True, status_path: Path | None = None) -> int:
        """Fork the launcher now: call before any thread starts. Returns its pid.

        With `status_path`, the launcher writes its state there (see `launcher_state`).
        """
        if self._conn is not None:
            return self._launcher_pid
        ours, theirs = Pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the launcher
            code = 0
            try:
                ours.close()
                _serve(self, theirs, warm_up, status_path)
            except BaseException:  # noqa: BLE001 - report, then leave without cleanup
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        theirs.close()
        self._conn, self._launcher_pid = ours, pid
        return pid

    def stop_launcher(self, timeout: float = 10) -> bool:
        """Close the pipe (the launcher then exits) and reap it; running jobs go on.

        True when it left on its own, False when it had to be killed.
        """
        if self._conn is None:
            return True
        self._conn.close()
        self._conn = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(self._launcher_pid, os.WNOHANG) != (0, 0):
                return True
            time.sleep(0.05)
        os.kill(self._launcher_pid, signal.SIGKILL)
        os.waitpid(self._launcher_pid, 0)
        return False

    def _own_job(self, job):
        """The job's psutil.Process while it is alive and the launcher's child, else None.

        The kernel reaps finished jobs at once, so their pids can be reused: never
        kill or report a pid that is not one of ours.
        """
        import psutil

        try:
            proc = psutil.Process(int(job))
            if proc.ppid() != self._launcher_pid or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError, ValueError):
            return None

    def job_running(self, job):
        if self._conn is None:
            return super().job_running(job)
        return self._own_job(job) is not None

    def terminate_job(self, job):
        """Kill a job and what it started. A job that ends meanwhile needs nothing more
        (Dash's own version raised then, and the request that read the result got a 500)."""
        import psutil

        if self._conn is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                super().terminate_job(job)
            return
        proc = self._own_job(job) if job is not None else None
        if proc is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            family = proc.children(recursive=True) + [proc]
            for p in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            psutil.wait_procs(family, timeout=1)

    def call_job_fn(self, key, job_fn, args, context):
        if self._conn is None:  # no launcher (an app built in a test): Dash's own fork
            return super().call_job_fn(key, job_fn, args, context)
        # the launcher was forked after every callback registered: same registry, same keys
        fn_key = next((k for k, fn in self.func_registry.items() if fn is job_fn), None)
        request = (fn_key, key, self._make_progress_key(key), args, dict(context))
        with self._lock:
            try:
                self._conn.send(request)
                reply = self._conn.recv()
            except (OSError, EOFError) as exc:
                raise RuntimeError(
                    f"the job launcher (pid {self._launcher_pid}) is gone: {exc}; "
                    "restart the dashboard"
                ) from exc
        if isinstance(reply, str):  # the launcher could not start the job
            raise RuntimeError(f"the job launcher could not start the job: {reply}")
        return reply


def _serve(
    manager: LauncherManager, conn: Connection, warm_up: bool, status_path: Path | None
) -> None:
    """The launcher's loop: one forked child per request, until the pipe closes."""
    # exited jobs are reaped by the kernel: no zombies, and Dash sees them gone
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the web process
    if warm_up:
        _write_state(status_path, "compiling")
    warm_torch()
    seconds = warm_projection() if warm_up else None
    _write_state(status_path, "ready", seconds=seconds)
    while True:
        try:
            fn_key, key, progress_key, args, context = conn.recv()
        except (EOFError, OSError):
            return  # the web process is gone
        try:
            pid = _fork_job(
                manager.func_registry.get(fn_key),
                conn,
                (key, progress_key, args, context),
                manager.handle,
            )
        except Exception as exc:  # noqa: BLE001 - tell the web process, keep serving
            conn.send(f"{type(exc).__name__}: {exc}")
        else:
            conn.send(pid)


# A finished job waits (at most this long) until its result is read. Dash's poll reads the
# result, then asks whether the job still runs; a job that wrote its result and exited
# between the two looked cancelled, and the page never heard of the chunk (a Train
# click then waited forever). Reading the result kills the waiting job at once.
RESULT_WAIT_SECONDS = 30.0


def _fork_job(job_fn, conn: Connection, job_args: tuple, cache=None) -> int:
    if job_fn is None:
        raise LookupError("no background callback registered for this request")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 0  # the job
    try:
        conn.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        job_fn(*job_args)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = 1
    finally:
        _wait_until_read(cache, job_args[0])
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _wait_until_read(cache, key: str) -> None:
    """Stay alive while the job's result waits in the cache (RESULT_WAIT_SECONDS at most)."""
    deadline = time.monotonic() + RESULT_WAIT_SECONDS
    with contextlib.suppress(Exception):
        while cache is not None and key in cache and time.monotonic() < deadline:
            time.sleep(0.05)


def warm_torch() -> None:
    """One tiny optimizer step, so that no job pays torch's first-use imports.

    The first `torch.optim.Adam` of a process imports `torch._dynamo` (2 s on two cores,
    measured in a job's profile): every job forked from a launcher that never built an
    optimizer paid it again, before its guided lineage could start. The step is tiny
    (no parallel region, so no OpenMP team the forked jobs could inherit). The teacher's
    compiled kernel is loaded too (numba's import and cache, ~1 s in a fresh process).
    """
    import torch

    from hill_dash.engine import teacher_kernel
    from hill_dash.engine.training import make_optimizer

    layer = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(layer, lr=1e-3)
    layer(torch.zeros(1, 2)).sum().backward()
    optimizer.step()
    teacher_kernel.warm_up()


def warm_projection(who: str = "job launcher") -> float | None:
    """UMAP's numba kernels compiled (or loaded from numba's cache) in this process, for
    the processes it forks; the seconds taken, or None when it failed (each job then
    compiles on its own)."""
    try:
        from hill_dash.engine.projection import warm_up_numba

        seconds = warm_up_numba()
        print(f"{who}: UMAP compiled in {seconds:.1f} s", file=sys.stderr)
        return seconds
    except Exception as exc:  # noqa: BLE001 - jobs then compile on their own
        print(f"{who}: UMAP warm-up failed: {exc}", file=sys.stderr)
        return None


def _write_state(path: Path | None, state: str, **extra) -> None:
    if path is None:
        return
    from hill_dash.engine.durable import atomic_write_json

    with contextlib.suppress(OSError):  # a status line is not worth failing a launcher for
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"state": state, "pid": os.getpid(), "since": time.time()} | extra)


def launcher_status_path(data_dir: str | Path) -> Path:
    """Where the launcher of the dashboard on `data_dir` writes its state."""
    return Path(data_dir) / "cache" / "launcher.json"


def launcher_state(path: Path) -> dict | None:
    """What the launcher wrote to `path` ("compiling" or "ready"), if it is still alive."""
    import psutil

    try:
        state = json.loads(Path(path).read_text())
        alive = psutil.pid_exists(int(state["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if alive else None


def startup_note(state: dict | None) -> str:
    """A line for the person who clicked Train while the launcher is still compiling."""
    if not state or state.get("state") != "compiling":
        return ""
    return (
        "Preparing the map engine: UMAP compiles once when the dashboard starts (about 10 s "
        "on two cores). The chunk starts right after."
    )
