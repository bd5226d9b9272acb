"""One chunk per run at a time: the training lock, its heartbeat and the lease.

On one host an `fcntl.flock` makes taking the lock, or taking over a dead job's,
atomic; between hosts the lock file's heartbeat decides, and every write a chunk makes
can carry the `Lease` it got, whose token is checked against the lock file first, so a
job whose lock was taken over writes nothing more. `RunStore` inherits these methods;
the lock file is `runs/<run_id>/training.lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from hill_dash.engine.durable import atomic_write_json
from hill_dash.engine.errors import RunBusyError, StoreError

# A training lock names its holder (pid, host, token); its heartbeat lives beside it in a
# file of the holder's own (`.training.beat.<token>`), rewritten by a thread of the job
# every BEAT_SECONDS through every phase of a chunk. The lock file itself is never
# rewritten, so a beat can never bring back a lock that was taken over meanwhile. On the
# lock's own host a dead pid frees it at once; from another host (a Celery worker
# elsewhere) a lock whose beat is older than LOCK_STALE_SECONDS is taken as dead.
# LOCK_MAX_SECONDS guards against a recycled pid on the same host.
LOCK_STALE_SECONDS = 90.0
LOCK_MAX_SECONDS = 6 * 3600.0
BEAT_SECONDS = 2.0  # at most one heartbeat write per this many seconds


class TrainingLocks:
    """The training-lock methods of `RunStore` (which provides `run_dir`)."""

    def run_dir(self, run_id: str) -> Path:  # pragma: no cover - RunStore's
        raise NotImplementedError

    def _lock_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "training.lock"

    @contextlib.contextmanager
    def training_lock(self, run_id: str, job: str = "") -> Iterator[Lease]:
        """One training chunk per run at a time; a lock of a dead job is taken over.

        Yields the `Lease`: pass it to every store write of the chunk (`update_run`,
        `save_checkpoint`, `append_jsonl`, `remove_leftovers`) and beat through it.

        Taking the lock, or taking over a dead job's, is atomic: on this host all takers
        queue on an `fcntl.flock` of `.training.flock` (held until release; the kernel
        drops it when the holder dies), so only one of them judges the old lock and
        replaces it. A taker on another host is not stopped by that flock on every shared
        file system; there the lock file decides: it is created with `os.link` (exactly one
        creator wins), a stale one is moved away with `os.rename` and checked to be the one
        judged stale (else put back), and a job that still lost its lock to a race finds
        out at its next write, which its lease refuses.
        """
        path = self._lock_path(run_id)
        now = time.time()
        token = uuid.uuid4().hex
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": now,
            "beat": now,
            "job": job,
            "token": token,
        }
        with self._host_lock(run_id):
            self._take(path, run_id, me)
            try:
                yield Lease(self, run_id, token)
            finally:
                self._release(path, token)

    @contextlib.contextmanager
    def _host_lock(self, run_id: str) -> Iterator[None]:
        with open(self.run_dir(run_id) / ".training.flock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy(run_id, self.read_lock(run_id)) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _take(self, path: Path, run_id: str, me: dict) -> None:
        tmp = path.with_name(f".training.lock.{me['token'][:12]}")
        tmp.write_text(json.dumps(me))
        try:
            for _ in range(3):
                try:
                    os.link(tmp, path)  # atomic: the lock appears with its content, or not at all
                    return
                except FileExistsError:
                    pass
                old = self.read_lock(run_id)
                if old is not None and _live(old):
                    raise self._busy(run_id, old)
                if old is not None:
                    self._bury(path, old)
        finally:
            tmp.unlink()
        raise RunBusyError(f"run {run_id!r}: could not take the training lock; try again")

    def _bury(self, path: Path, stale: dict) -> None:
        """Move a stale lock out of the way, unless it changed since it was judged stale."""
        grave = path.with_name(f".training.lock.stale-{uuid.uuid4().hex[:12]}")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return  # someone else moved it meanwhile
        try:
            if _read_lock_file(grave) != stale:  # a fresh lock replaced it: put it back
                with contextlib.suppress(FileExistsError):
                    os.link(grave, path)
            elif stale.get("token"):
                _beat_path(path, str(stale["token"])).unlink(missing_ok=True)
        finally:
            grave.unlink()

    def _release(self, path: Path, token: str) -> None:
        """Remove our lock; a successor's lock (ours was taken over) is put back."""
        _beat_path(path, token).unlink(missing_ok=True)
        grave = path.with_name(f".training.lock.done-{token[:12]}")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return
        try:
            if (_read_lock_file(grave) or {}).get("token") != token:
                with contextlib.suppress(FileExistsError):
                    os.link(grave, path)
        finally:
            grave.unlink()

    @staticmethod
    def _busy(run_id: str, holder: dict | None) -> RunBusyError:
        who = f" (pid {holder.get('pid')} on {holder.get('host')})" if holder else ""
        return RunBusyError(f"run {run_id!r} is already training{who}; wait for it or cancel it")

    def read_lock(self, run_id: str) -> dict | None:
        """The training lock's content as written (holder alive or not), or None if free.

        An unreadable lock (empty or torn: its content was lost in a crash while its name
        survived) reads as {"pid": None, "host": "?", "beat": <its mtime>}, so it is
        judged like another host's lock without a heartbeat.
        """
        return _read_lock_file(self._lock_path(run_id))

    def beat(self, run_id: str, token: str | None = None) -> bool:
        """Refresh the heartbeat of the training lock this process holds; False if it holds none.

        With `token` (a lease's), only the lock carrying it is refreshed; without, the one
        naming this process and host. What is written is the holder's own beat file, never
        the lock file: a job whose lock was taken over between the check and the write only
        refreshes a file that no lock names any more.
        """
        lock = self.read_lock(run_id)
        if not lock:
            return False
        if token is not None and lock.get("token") != token:
            return False
        if lock.get("pid") != os.getpid() or lock.get("host") != socket.gethostname():
            return False
        if not lock.get("token"):
            return False
        beat = _beat_path(self._lock_path(run_id), str(lock["token"]))
        try:
            atomic_write_json(beat, {"beat": time.time()}, durable=False)
        except OSError:
            return False
        return True

    def heartbeat(
        self, run_id: str, every: float | None = None, token: str | None = None
    ) -> Callable[[], None]:
        """A cheap callable for progress callbacks: beats at most once per `every` seconds
        (BEAT_SECONDS by default)."""
        every = BEAT_SECONDS if every is None else every
        last = time.monotonic()

        def tick() -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= every:
                last = now
                if token is None:
                    self.beat(run_id)
                else:
                    self.beat(run_id, token)

        return tick

    def lock_holder(self, run_id: str) -> dict | None:
        """The live holder of the training lock, or None if free or held by a dead job.

        Same host: the holder's pid decides. Another host: its heartbeat must be fresher
        than LOCK_STALE_SECONDS (a killed worker there stops beating).
        """
        holder = self.read_lock(run_id)
        if holder is None:
            return None
        return holder if _live(holder) else None


class LockLostError(RunBusyError):
    """A chunk's training lock was taken over (judged dead); the chunk must stop writing."""


class Lease:
    """A held training lock: its token is checked before each write of the chunk."""

    def __init__(self, store: TrainingLocks, run_id: str, token: str):
        self.store, self.run_id, self.token = store, run_id, token

    def check(self) -> None:
        """Raise LockLostError unless the run's lock file still carries this lease's token."""
        lock = self.store.read_lock(self.run_id)
        if (lock or {}).get("token") != self.token:
            who = f"pid {lock.get('pid')} on {lock.get('host')}" if lock else "nobody"
            raise LockLostError(
                f"run {self.run_id!r}: this job lost its training lock (now held by {who}), "
                "so it writes nothing more; the run stays at its last complete checkpoint"
            )

    def holds(self) -> bool:
        """Whether the run's lock file still carries this lease's token."""
        return (self.store.read_lock(self.run_id) or {}).get("token") == self.token

    def beat(self) -> bool:
        return self.store.beat(self.run_id, self.token)

    def heartbeat(self, every: float | None = None) -> Callable[[], None]:
        return self.store.heartbeat(self.run_id, every, token=self.token)

    @contextlib.contextmanager
    def keepalive(self, every: float | None = None) -> Iterator[Lease]:
        """Beat from a thread of its own every `every` seconds (BEAT_SECONDS) while the
        block runs: the job is alive whatever it does, training, inference, a slow map fit
        or saving, not only while it reports progress."""
        every = BEAT_SECONDS if every is None else every
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(max(every, 0.01)):
                self.beat()

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.run_id}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()


def check_lease(lease: Lease | None, run_id: str) -> None:
    if lease is None:
        return
    if lease.run_id != run_id:
        raise StoreError(f"lease of run {lease.run_id!r} used to write run {run_id!r}")
    lease.check()


def _read_lock_file(path: Path) -> dict | None:
    """A lock file's content (see `RunStore.read_lock`), or None when there is none; its
    "beat" is the later of the lock's own and its holder's beat file."""
    try:
        lock = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        lock = None
    if isinstance(lock, dict) and lock:
        if isinstance(lock.get("token"), str):
            beat = _read_beat(_beat_path(path, lock["token"]))
            if beat is not None and beat > _float(lock.get("beat")):
                lock = lock | {"beat": beat}
        return lock
    try:
        return {"pid": None, "host": "?", "beat": path.stat().st_mtime}
    except FileNotFoundError:
        return None


def _beat_path(lock_path: Path, token: str) -> Path:
    return lock_path.with_name(f".training.beat.{token[:32]}")


def _read_beat(path: Path) -> float | None:
    try:
        return _float(json.loads(path.read_text()).get("beat"))
    except (OSError, ValueError, AttributeError):
        return None


def _float(value: object) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _live(holder: dict) -> bool:
    """Whether a lock's holder counts as alive (see `RunStore.lock_holder`)."""
    try:
        last = max(float(holder.get("beat") or 0), float(holder.get("since") or 0))
    except (TypeError, ValueError):
        last = 0.0
    age = time.time() - last
    if holder.get("pid") is None:  # unreadable: dead once its file is old enough
        return age <= LOCK_STALE_SECONDS
    if holder.get("host") == socket.gethostname():
        return _pid_alive(holder.get("pid")) and age <= LOCK_MAX_SECONDS
    return age <= LOCK_STALE_SECONDS


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
