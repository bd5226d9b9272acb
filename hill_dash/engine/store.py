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

One chunk per run at a time: `RunStore` inherits the training lock, its heartbeat
and the `Lease` a chunk's writes carry from `hill_dash.engine.run_lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
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
from hill_dash.engine.errors import StoreError
from hill_dash.engine.npy import NPY_READ_LOCK
from hill_dash.engine.revision import (
    REVISION_RETRIES,
    claim_revision,
    release_revision,
)
from hill_dash.engine.revision import revision as _revision
from hill_dash.engine.run_lock import Lease, TrainingLocks
from hill_dash.engine.run_lock import check_lease as _check

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CKPT_ID = re.compile(r"^[a-z][0-9]{1,6}$")


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


class RunStore(TrainingLocks):
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

    def read_run_locked(self, run_id: str) -> dict:
        """run.json read under its file lock: an `update_run` under way finishes first."""
        with self._run_json_lock(run_id):
            return self.load_run(run_id)

    def update_run(
        self, run_id: str, change: Callable[[dict], object], lease: Lease | None = None
    ) -> dict:
        """Read-modify-write run.json; `change` edits the dict in place.

        On one host a file lock orders the writers. Between hosts (a worker elsewhere on a
        shared file system, where `flock` may not hold) run.json's "revision" decides:
        each write first claims the next revision with an exclusive create, so of two
        writers that read the same revision exactly one writes, and the other reads again
        and applies its change to what the winner wrote, instead of overwriting it.
        With `lease` (a chunk's), nothing is written unless it still holds the training lock.
        """
        run_dir = self.run_dir(run_id)
        for _ in range(REVISION_RETRIES):
            with self._run_json_lock(run_id):
                run = self.load_run(run_id)
                revision = _revision(run)
                change(run)
                _check(lease, run_id)
                if claim_revision(run_dir, revision + 1, self.load_run(run_id)):
                    run["revision"] = revision + 1
                    atomic_write_json(run_dir / "run.json", run)
                    release_revision(run_dir, revision)
                    return run
            time.sleep(0.05)
        raise StoreError(f"{run_dir / 'run.json'}: another writer kept changing it; try again")

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
