"""The run store on disk: the single source of truth for every process.

Layout under the data directory (default `~/.hill_dash`, `HILL_DASH_DATA_DIR`
or `--data-dir` override it):

    runs/<run_id>/run.json              config, lineage, chunk log, pending edits
    runs/<run_id>/data.npz              the run's data set (train/val/test)
    runs/<run_id>/checkpoints/<ck>/     model.pt (model, optimizer, RNG) + maps.npz
    runs/<run_id>/metrics.jsonl         one line per checkpoint, append-only
    runs/<run_id>/test_metrics.jsonl    locked test-split metrics, append-only

Every write is atomic and durable (temp file or directory, fsync, `os.replace`,
fsync of the directory: `hill_dash.engine.durable`), and run.json only ever
names checkpoints whose directory is complete, so an interrupted write, a killed
job or a power loss leaves the previous state loadable. Loads never unpickle:
`torch.load(weights_only=True)` and `np.load(allow_pickle=False)`.

One chunk per run at a time (`training_lock`): on one host an `fcntl.flock`
makes taking the lock, or taking over a dead job's, atomic; between hosts the
lock file's heartbeat decides, and every write a chunk makes can carry the
`Lease` it got, whose token is checked against the lock file first, so a job
whose lock was taken over writes nothing more.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from hill_dash.engine.data import Dataset
from hill_dash.engine.durable import (
    atomic_write,
    atomic_write_json,
    fsync_dir,
    fsync_tree,
    replace_durably,
)
from hill_dash.engine.errors import RunBusyError, StoreError
from hill_dash.engine.npy import NPY_READ_LOCK

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CKPT_ID = re.compile(r"^[a-z][0-9]{1,6}$")
# A training lock names its holder (pid, host, token) and carries a heartbeat ("beat"),
# rewritten while the chunk makes progress. On the lock's own host a dead pid frees it at
# once; from another host (a Celery worker elsewhere) a lock whose beat is older than
# LOCK_STALE_SECONDS is taken as dead. LOCK_MAX_SECONDS guards against a recycled pid on
# the same host.
LOCK_STALE_SECONDS = 90.0
LOCK_MAX_SECONDS = 6 * 3600.0
BEAT_SECONDS = 2.0  # at most one heartbeat write per this many seconds


def default_data_dir() -> Path:
    return Path(os.environ.get("HILL_DASH_DATA_DIR") or Path.home() / ".hill_dash")


def read_json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: {what} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: {what} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise StoreError(f"{path}: {what} must be a JSON object")
    return obj


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise StoreError(
            f"run id {run_id!r}: expected 1-64 letters, digits, '-' or '_' (no path separators)"
        )
    return run_id


def new_run_id(name: str = "run") -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:40] or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


class RunStore:
    """Runs under one data directory; safe to use from several processes."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_data_dir()
        self.runs = self.root / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)

    # -- runs ---------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs / check_run_id(run_id)

    def exists(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "run.json").exists()

    def create_run(self, run: dict, dataset: Dataset, run_id: str | None = None) -> str:
        run_id = check_run_id(run_id or new_run_id(run.get("name", dataset.name)))
        tmp = self.runs / f".new-{run_id}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        dataset.save_npz(tmp / "data.npz")
        (tmp / "checkpoints").mkdir()
        atomic_write_json(tmp / "run.json", run | {"id": run_id})
        fsync_tree(tmp)
        replace_durably(tmp, self.run_dir(run_id))
        return run_id

    def load_run(self, run_id: str) -> dict:
        run = read_json(self.run_dir(run_id) / "run.json", "run.json")
        if run.get("id") != run_id:
            raise StoreError(f"{self.run_dir(run_id) / 'run.json'}: field 'id' does not match")
        return run

    @contextlib.contextmanager
    def _run_json_lock(self, run_id: str) -> Iterator[None]:
        lock = self.run_dir(run_id) / ".run.json.lock"
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def update_run(
        self, run_id: str, change: Callable[[dict], object], lease: Lease | None = None
    ) -> dict:
        """Read-modify-write run.json under a file lock; `change` edits the dict in place.

        With `lease` (a chunk's), nothing is written unless it still holds the training lock.
        """
        with self._run_json_lock(run_id):
            run = self.load_run(run_id)
            change(run)
            _check(lease, run_id)
            atomic_write_json(self.run_dir(run_id) / "run.json", run)
            return run

    def list_runs(self) -> list[dict]:
        out = []
        for d in sorted(self.runs.iterdir()):
            if d.name.startswith(".") or not RUN_ID.match(d.name):
                continue
            try:
                out.append(self.load_run(d.name))
            except StoreError:
                continue  # a broken run is skipped in the list, never deleted
        return sorted(out, key=lambda r: r.get("created", 0), reverse=True)

    def delete_run(self, run_id: str) -> None:
        path = self.run_dir(run_id)
        if not path.exists():
            raise StoreError(f"run {run_id!r}: not found")
        trash = self.runs / f".deleted-{run_id}-{uuid.uuid4().hex[:6]}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def load_dataset(self, run_id: str) -> Dataset:
        return Dataset.load_npz(self.run_dir(run_id) / "data.npz")

    # -- checkpoints --------------------------------------------------------
    def checkpoint_dir(self, run_id: str, ckpt: str) -> Path:
        if not CKPT_ID.match(ckpt):
            raise StoreError(f"checkpoint id {ckpt!r}: expected a letter and digits, e.g. 'g3'")
        return self.run_dir(run_id) / "checkpoints" / ckpt

    def save_checkpoint(
        self,
        run_id: str,
        ckpt: str,
        state: dict,
        arrays: dict[str, np.ndarray],
        lease: Lease | None = None,
        curves: dict | None = None,
    ) -> None:
        """Write model.pt, maps.npz (and curves.json) into a temp dir, fsync it, then move
        it into place.

        `curves`: the chunk's per-step training curves, {"step", "loss", "ce", "teacher",
        "acc"} lists of one length. With `lease`, the checkpoint is moved into place only
        while the lease holds.
        """
        final = self.checkpoint_dir(run_id, ckpt)
        if curves is not None:
            curves = _check_curves(curves, f"checkpoint {ckpt!r} curves")
        tmp = final.parent / f".tmp-{ckpt}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        try:
            torch.save(state, tmp / "model.pt")
            np.savez(tmp / "maps.npz", **arrays)
            if curves is not None:
                (tmp / "curves.json").write_text(json.dumps(curves, allow_nan=False))
            fsync_tree(tmp)
            _check(lease, run_id)
            if final.exists():  # a leftover of an earlier, unrecorded attempt
                shutil.rmtree(final)
            replace_durably(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def remove_leftovers(self, run_id: str, lease: Lease | None = None) -> list[str]:
        """Delete temp dirs of interrupted checkpoint writes; call only under the training lock
        (pass its lease: then only while it holds)."""
        _check(lease, run_id)
        removed = []
        for p in (self.run_dir(run_id) / "checkpoints").glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
        return removed

    def load_state(self, run_id: str, ckpt: str) -> dict:
        path = self.checkpoint_dir(run_id, ckpt) / "model.pt"
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: checkpoint not found") from exc
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            raise StoreError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from exc

    def load_curves(self, run_id: str, ckpt: str) -> dict | None:
        """The per-step training curves of a checkpoint, or None when it has none
        (chunk 0 of an older run, a fork's root)."""
        path = self.checkpoint_dir(run_id, ckpt) / "curves.json"
        if not path.exists():
            return None
        return _check_curves(read_json(path, "curves.json"), str(path))

    def load_arrays(self, run_id: str, ckpt: str) -> dict[str, np.ndarray]:
        path = self.checkpoint_dir(run_id, ckpt) / "maps.npz"
        try:
            with NPY_READ_LOCK, np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: checkpoint maps not found") from exc
        except (ValueError, OSError, EOFError) as exc:
            raise StoreError(f"{path}: not a readable maps file ({exc})") from exc

    def replace_map(
        self,
        run_id: str,
        ckpt: str,
        map_arrays: dict[str, np.ndarray],
        lease: Lease | None = None,
    ) -> None:
        """Swap a checkpoint's map for another layout (a re-fit); its other arrays stay."""
        arrays = self.load_arrays(run_id, ckpt)
        for key in ("method", "coords", "mean", "linear", "offset", "knn", "fitted"):
            arrays.pop(key, None)
        _check(lease, run_id)
        atomic_write(
            self.checkpoint_dir(run_id, ckpt) / "maps.npz",
            lambda fh: np.savez(fh, **(arrays | map_arrays)),
        )

    # -- metrics ------------------------------------------------------------
    def append_jsonl(
        self, run_id: str, name: str, record: dict, lease: Lease | None = None
    ) -> None:
        """Append one JSON line and fsync it (and the directory when the file is new)."""
        line = json.dumps(record, allow_nan=False) + "\n"
        path = self.run_dir(run_id) / name
        _check(lease, run_id)
        new = not path.exists()
        with open(path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fsync_dir(path.parent)

    def read_jsonl(self, run_id: str, name: str) -> list[dict]:
        path = self.run_dir(run_id) / name
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line is skipped
                rec = json.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def metrics(self, run_id: str, run: dict | None = None) -> dict[str, dict]:
        """Metrics by checkpoint id, for the checkpoints run.json records."""
        run = run or self.load_run(run_id)
        known = set(run.get("checkpoints", {}))
        recs = self.read_jsonl(run_id, "metrics.jsonl")
        return {r["checkpoint"]: r for r in recs if r.get("checkpoint") in known}

    # -- training lock ------------------------------------------------------
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
        finally:
            grave.unlink()

    def _release(self, path: Path, token: str) -> None:
        """Remove our lock; a successor's lock (ours was taken over) is put back."""
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
        naming this process and host. The lock is rewritten whole (temp file + rename), so a
        reader never sees it torn.
        """
        lock = self.read_lock(run_id)
        if not lock:
            return False
        if token is not None and lock.get("token") != token:
            return False
        if lock.get("pid") != os.getpid() or lock.get("host") != socket.gethostname():
            return False
        try:
            atomic_write_json(self._lock_path(run_id), lock | {"beat": time.time()}, durable=False)
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

    def __init__(self, store: RunStore, run_id: str, token: str):
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

    def beat(self) -> bool:
        return self.store.beat(self.run_id, self.token)

    def heartbeat(self, every: float | None = None) -> Callable[[], None]:
        return self.store.heartbeat(self.run_id, every, token=self.token)


CURVE_KEYS = ("step", "loss", "ce", "teacher", "acc")


def _check_curves(curves: object, where: str) -> dict:
    """{"step", "loss", "ce", "teacher", "acc"}: lists of finite numbers of one length."""
    if not isinstance(curves, dict):
        raise StoreError(f"{where}: expected an object with {', '.join(CURVE_KEYS)}")
    out, length = {}, None
    for key in CURVE_KEYS:
        values = curves.get(key)
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            for v in values
        ):
            raise StoreError(f"{where}: field {key!r}: expected a list of finite numbers")
        if length is not None and len(values) != length:
            raise StoreError(f"{where}: field {key!r}: expected {length} values like 'step'")
        length = len(values)
        out[key] = [int(v) for v in values] if key == "step" else [float(v) for v in values]
    return out


def _check(lease: Lease | None, run_id: str) -> None:
    if lease is None:
        return
    if lease.run_id != run_id:
        raise StoreError(f"lease of run {lease.run_id!r} used to write run {run_id!r}")
    lease.check()


def _read_lock_file(path: Path) -> dict | None:
    """A lock file's content (see `RunStore.read_lock`), or None when there is none."""
    try:
        lock = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        lock = None
    if isinstance(lock, dict) and lock:
        return lock
    try:
        return {"pid": None, "host": "?", "beat": path.stat().st_mtime}
    except FileNotFoundError:
        return None


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
