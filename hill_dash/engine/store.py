"""The run store on disk: the single source of truth for every process.

Layout under the data directory (default `~/.hill_dash`, `HILL_DASH_DATA_DIR`
or `--data-dir` override it):

    runs/<run_id>/run.json              config, lineage, chunk log, pending edits
    runs/<run_id>/data.npz              the run's data set (train/val/test)
    runs/<run_id>/checkpoints/<ck>/     model.pt (model, optimizer, RNG) + maps.npz
    runs/<run_id>/metrics.jsonl         one line per checkpoint, append-only
    runs/<run_id>/test_metrics.jsonl    locked test-split metrics, append-only

Every write is atomic (temp file or directory, then `os.replace`), and run.json
only ever names checkpoints whose directory is complete, so an interrupted
write leaves the previous state loadable. Loads never unpickle:
`torch.load(weights_only=True)` and `np.load(allow_pickle=False)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import RunBusyError, StoreError
from hill_dash.engine.npy import NPY_READ_LOCK

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CKPT_ID = re.compile(r"^[a-z][0-9]{1,6}$")
# A training lock names its holder (pid, host) and carries a heartbeat ("beat"), rewritten
# while the chunk makes progress. On the lock's own host a dead pid frees it at once; from
# another host (a Celery worker elsewhere) a lock whose beat is older than LOCK_STALE_SECONDS
# is taken as dead. LOCK_MAX_SECONDS guards against a recycled pid on the same host.
LOCK_STALE_SECONDS = 90.0
LOCK_MAX_SECONDS = 6 * 3600.0
BEAT_SECONDS = 2.0  # at most one heartbeat write per this many seconds


def default_data_dir() -> Path:
    return Path(os.environ.get("HILL_DASH_DATA_DIR") or Path.home() / ".hill_dash")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, allow_nan=False).encode())


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
        os.replace(tmp, self.run_dir(run_id))
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

    def update_run(self, run_id: str, change: Callable[[dict], object]) -> dict:
        """Read-modify-write run.json under a file lock; `change` edits the dict in place."""
        with self._run_json_lock(run_id):
            run = self.load_run(run_id)
            change(run)
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
        self, run_id: str, ckpt: str, state: dict, arrays: dict[str, np.ndarray]
    ) -> None:
        """Write model.pt and maps.npz into a temp dir, then move it into place."""
        final = self.checkpoint_dir(run_id, ckpt)
        tmp = final.parent / f".tmp-{ckpt}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        try:
            torch.save(state, tmp / "model.pt")
            np.savez(tmp / "maps.npz", **arrays)
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            if final.exists():  # a leftover of an earlier, unrecorded attempt
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def remove_leftovers(self, run_id: str) -> list[str]:
        """Delete temp dirs of interrupted checkpoint writes; call only under the training lock."""
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

    def load_arrays(self, run_id: str, ckpt: str) -> dict[str, np.ndarray]:
        path = self.checkpoint_dir(run_id, ckpt) / "maps.npz"
        try:
            with NPY_READ_LOCK, np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: checkpoint maps not found") from exc
        except (ValueError, OSError, EOFError) as exc:
            raise StoreError(f"{path}: not a readable maps file ({exc})") from exc

    def replace_map(self, run_id: str, ckpt: str, map_arrays: dict[str, np.ndarray]) -> None:
        """Swap a checkpoint's map for another layout (a re-fit); its other arrays stay."""
        arrays = self.load_arrays(run_id, ckpt)
        for key in ("method", "coords", "mean", "linear", "offset", "knn", "fitted"):
            arrays.pop(key, None)
        buf = io.BytesIO()
        np.savez(buf, **(arrays | map_arrays))
        atomic_write_bytes(self.checkpoint_dir(run_id, ckpt) / "maps.npz", buf.getvalue())

    def load_curves(self, run_id: str, ckpt: str) -> dict[str, list[float]] | None:
        """Per-step training curves of the chunk that made `ckpt` ({"step", "loss", "ce",
        "teacher", "acc"}), or None for a checkpoint stored before curves were kept."""
        arrays = self.load_arrays(run_id, ckpt)
        names = ("loss", "ce", "teacher", "acc")
        if not all(f"curve_{k}" in arrays for k in names):
            return None
        curves = {k: arrays[f"curve_{k}"].astype(float).tolist() for k in names}
        return {"step": list(range(1, len(curves["loss"]) + 1))} | curves

    # -- metrics ------------------------------------------------------------
    def append_jsonl(self, run_id: str, name: str, record: dict) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"
        with open(self.run_dir(run_id) / name, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

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
    def training_lock(self, run_id: str, job: str = "") -> Iterator[None]:
        """One training chunk per run at a time; a lock of a dead job is taken over."""
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
        tmp = path.with_name(f".training.lock.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(me))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, path)  # atomic: the lock appears with its content, or not at all
                    break
                except FileExistsError:
                    holder = self.lock_holder(run_id)
                    if holder is not None:
                        raise RunBusyError(
                            f"run {run_id!r} is already training (pid {holder.get('pid')} on "
                            f"{holder.get('host')}); wait for it or cancel it"
                        ) from None
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)  # stale: its job died
            else:
                raise RunBusyError(f"run {run_id!r}: could not take the training lock")
        finally:
            tmp.unlink()
        try:
            yield
        finally:
            if (self.read_lock(run_id) or {}).get("token") == token:  # not a successor's lock
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def read_lock(self, run_id: str) -> dict | None:
        """The training lock's content as written (holder alive or not), or None if free."""
        path = self._lock_path(run_id)
        try:
            lock = json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"pid": None, "host": "?"} if path.exists() else None
        return lock if isinstance(lock, dict) else {"pid": None, "host": "?"}

    def beat(self, run_id: str) -> bool:
        """Refresh the heartbeat of the training lock this process holds; False if it holds none.

        The lock is rewritten whole (temp file + rename), so a reader never sees it torn.
        """
        lock = self.read_lock(run_id)
        if not lock or lock.get("pid") != os.getpid() or lock.get("host") != socket.gethostname():
            return False
        path = self._lock_path(run_id)
        tmp = path.with_name(f".training.lock.{uuid.uuid4().hex[:8]}")
        try:
            tmp.write_text(json.dumps(lock | {"beat": time.time()}))
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True

    def heartbeat(self, run_id: str, every: float | None = None) -> Callable[[], None]:
        """A cheap callable for progress callbacks: beats at most once per `every` seconds
        (BEAT_SECONDS by default)."""
        every = BEAT_SECONDS if every is None else every
        last = time.monotonic()

        def tick() -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= every:
                last = now
                self.beat(run_id)

        return tick

    def lock_holder(self, run_id: str) -> dict | None:
        """The live holder of the training lock, or None if free or held by a dead job.

        Same host: the holder's pid decides. Another host: its heartbeat must be fresher
        than LOCK_STALE_SECONDS (a killed worker there stops beating).
        """
        holder = self.read_lock(run_id)
        if holder is None or holder.get("pid") is None:
            return holder
        try:
            last = max(float(holder.get("beat") or 0), float(holder.get("since") or 0))
        except (TypeError, ValueError):
            last = 0.0
        age = time.time() - last
        if holder.get("host") == socket.gethostname():
            if not _pid_alive(holder.get("pid")):
                return None
            return None if age > LOCK_MAX_SECONDS else holder
        return None if age > LOCK_STALE_SECONDS else holder


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
