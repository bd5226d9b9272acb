"""The pages' reads of checkpoint arrays and data sets, cached and keyed by (path, mtime).

The module state here is a small read cache: a checkpoint never changes once written,
so an entry cannot go stale, and the cached arrays are read-only (requests share them).
Nothing here loads a model, trains or fits a projection. `hill_dash.dashboard.views` and
the Loop page's other read-side modules read checkpoints and data sets through it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import StoreError
from hill_dash.engine.npy import NPY_READ_LOCK
from hill_dash.engine.store import RunStore


def _mtime(path: Path, what: str) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: {what} not found") from exc


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # cached arrays are shared between requests
    return a


@functools.lru_cache(maxsize=6)
def _cached_arrays(root: str, run_id: str, ckpt: str, mtime_ns: int) -> dict[str, np.ndarray]:
    arrays = RunStore(root).load_arrays(run_id, ckpt)
    if "logits" in arrays:
        arrays["pred"] = arrays["logits"].argmax(axis=1)
    return {k: _readonly(v) for k, v in arrays.items()}


@functools.lru_cache(maxsize=512)
def _cached_member(path: str, mtime_ns: int, key: str) -> np.ndarray | None:
    with NPY_READ_LOCK, np.load(path, allow_pickle=False) as npz:
        return _readonly(npz[key]) if key in npz.files else None


@functools.lru_cache(maxsize=3)
def _cached_dataset(path: str, mtime_ns: int) -> tuple[Dataset, np.ndarray, np.ndarray]:
    data = Dataset.load_npz(path)
    return data, _readonly(data.all_y()), _readonly(data.split_array())


@functools.lru_cache(maxsize=3)
def _cached_image_range(path: str, mtime_ns: int) -> tuple[float, float]:
    from hill_dash.dashboard.thumbnails import image_range

    data = _cached_dataset(path, mtime_ns)[0]
    return image_range(data.X_train) if data.kind == "image" else (0.0, 1.0)


def checkpoint_stamp(store: RunStore, run_id: str, ckpt: str) -> int:
    """The checkpoint maps file's modification time (ns): part of a cache key."""
    return _mtime(store.checkpoint_dir(run_id, ckpt) / "maps.npz", "checkpoint maps")


def checkpoint_arrays(store: RunStore, run_id: str, ckpt: str) -> dict[str, np.ndarray]:
    """maps.npz of one checkpoint (Z, logits, map state, drift, edited) plus `pred`; read-only."""
    return _cached_arrays(str(store.root), run_id, ckpt, checkpoint_stamp(store, run_id, ckpt))


def checkpoint_member(store: RunStore, run_id: str, ckpt: str, key: str) -> np.ndarray | None:
    """One array of a checkpoint's maps.npz (e.g. per-point `drift`), without the rest."""
    path = store.checkpoint_dir(run_id, ckpt) / "maps.npz"
    return _cached_member(str(path), _mtime(path, "checkpoint maps"), key)


def run_dataset(store: RunStore, run_id: str) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(data set, all labels, split names) of a run; read-only."""
    path = store.run_dir(run_id) / "data.npz"
    return _cached_dataset(str(path), _mtime(path, "data set"))


def run_image_range(store: RunStore, run_id: str) -> tuple[float, float]:
    """The value range that scales every thumbnail of a run's data set (images; else 0 to 1)."""
    path = store.run_dir(run_id) / "data.npz"
    return _cached_image_range(str(path), _mtime(path, "data set"))
