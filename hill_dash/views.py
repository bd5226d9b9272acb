"""What the Loop page shows, read from the run store: the pure functions behind its callbacks.

Each function takes the store (or arrays) and plain values and returns plain values or
numpy arrays; the page's callbacks only wire them to components, and the figure
builders in `hill_dash.figures` draw them. Nothing here holds model state. The only
module state is a small read cache of checkpoint arrays and data sets keyed by
(path, mtime): a checkpoint never changes once written, so an entry cannot go stale,
and nothing on the request path loads a model, trains or fits a projection.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hill_dash.data import Dataset
from hill_dash.errors import StoreError
from hill_dash.export import current_run_id
from hill_dash.projection import MapState
from hill_dash.store import RUN_ID, RunStore
from hill_dash.teacher import Edit, build_teacher

TOOLS = {"move": "translate", "pull": "pull", "compact": "compact", "separate": "separate"}
TOOL_OF_KIND = {kind: tool for tool, kind in TOOLS.items()}
PROJECTIONS = ("umap", "pca")
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}
MAX_GHOSTS = 2000  # ghost targets drawn per layer; more only slows the browser
KNN_GHOSTS = 200  # UMAP ghosts placed by a k-NN search per layer (the search is the cost)
KNN_REFERENCE = 5000  # latent points that k-NN search looks among
MAX_EPOCHS = 200


# -- cached reads ---------------------------------------------------------------------


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
    with np.load(path, allow_pickle=False) as npz:
        return _readonly(npz[key]) if key in npz.files else None


@functools.lru_cache(maxsize=3)
def _cached_dataset(path: str, mtime_ns: int) -> tuple[Dataset, np.ndarray, np.ndarray]:
    data = Dataset.load_npz(path)
    return data, _readonly(data.all_y()), _readonly(data.split_array())


def checkpoint_arrays(store: RunStore, run_id: str, ckpt: str) -> dict[str, np.ndarray]:
    """maps.npz of one checkpoint (Z, logits, map state, drift, edited) plus `pred`; read-only."""
    path = store.checkpoint_dir(run_id, ckpt) / "maps.npz"
    return _cached_arrays(str(store.root), run_id, ckpt, _mtime(path, "checkpoint maps"))


def checkpoint_member(store: RunStore, run_id: str, ckpt: str, key: str) -> np.ndarray | None:
    """One array of a checkpoint's maps.npz (e.g. per-point `drift`), without the rest."""
    path = store.checkpoint_dir(run_id, ckpt) / "maps.npz"
    return _cached_member(str(path), _mtime(path, "checkpoint maps"), key)


def run_dataset(store: RunStore, run_id: str) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(data set, all labels, split names) of a run; read-only."""
    path = store.run_dir(run_id) / "data.npz"
    return _cached_dataset(str(path), _mtime(path, "data set"))


# -- the run --------------------------------------------------------------------------


def open_run(data_dir: str | Path, run_id: object) -> tuple[RunStore, str | None, dict | None]:
    """(store, run id, run.json) of the browser's run, else of the newest run, else no run."""
    store = RunStore(data_dir)
    rid = current_run_id(store, run_id)
    if rid is None:
        return store, None, None
    try:
        return store, rid, store.load_run(rid)
    except StoreError:
        return store, None, None


def head(run: dict | None) -> str | None:
    """The guided head checkpoint, or None before the first chunk."""
    return (run or {}).get("heads", {}).get("guided")


def map_key(run: dict | None) -> str:
    """Changes exactly when the map's points move: another run, or another head checkpoint."""
    if not run or not head(run):
        return "none"
    return f"{run['id']}:{head(run)}"


def run_summary(store: RunStore, run: dict) -> dict:
    """What the run header shows."""
    rows = edit_rows(run)
    holder = store.lock_holder(run["id"])
    return {
        "id": run["id"],
        "name": run.get("name", run["id"]),
        "dataset": run.get("dataset", "?"),
        "arch": run.get("config", {}).get("model", {}).get("arch", "?"),
        "chunks": len(run.get("chunks", [])),
        "head": head(run),
        "twin": run.get("heads", {}).get("twin"),
        "sizes": run.get("sizes", {}),
        "projection": projection_of(run),
        "pending": sum(not r["stale"] for r in rows),
        "stale": sum(r["stale"] for r in rows),
        "training": holder is not None,
        "can_redo": bool(run.get("redo")),
    }


def projection_of(run: dict | None) -> str:
    return (run or {}).get("config", {}).get("projection", "umap")


def set_projection(store: RunStore, run_id: str, method: str) -> dict:
    """Change the run's projection; the next chunk refits its map with it."""
    if method not in PROJECTIONS:
        raise StoreError(f"projection: expected one of {PROJECTIONS}, got {method!r}")

    def change(r: dict) -> None:
        r["config"]["projection"] = method

    return store.update_run(run_id, change)


def train_overrides(lam: object, epochs: object, projection: object) -> dict:
    """The Train card's inputs as chunk overrides; empty or invalid fields fall back."""
    out: dict = {}
    if isinstance(lam, (int, float)) and not isinstance(lam, bool) and math.isfinite(lam):
        out["lam"] = max(float(lam), 0.0)
    if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and math.isfinite(epochs):
        out["epochs"] = int(min(max(round(epochs), 1), MAX_EPOCHS))
    if projection in PROJECTIONS:
        out["projection"] = projection
    return out


def job_message(result: dict | None) -> tuple[bool, str]:
    """(ok, text) for the status line after a training job."""
    if not isinstance(result, dict):
        return False, "The training job ended without a result."
    ok = bool(result.get("ok"))
    return ok, str(result.get("message") or ("done" if ok else "failed"))


def cancelled_message(run: dict | None) -> str:
    """After Cancel: nothing of the chunk was stored; the run is at its last checkpoint."""
    if not run or not head(run):
        return "Chunk cancelled. Nothing was stored; the run has no checkpoint yet."
    heads = run["heads"]
    return (
        f"Chunk cancelled. Nothing of it was stored: the run is at its last complete "
        f"checkpoint (guided {heads['guided']}, twin {heads['twin']}, "
        f"{len(run['chunks'])} chunk(s))."
    )


# -- the training watchdog -------------------------------------------------------------

WATCH_GRACE_SECONDS = 20.0  # a job may take this long to take its run's training lock
WATCH_NEW_RUN_GRACE_SECONDS = 60.0  # longer when it first loads a data set for a new run
WATCH_CONFIRM_TICKS = 2  # ticks in a row that must find the job lost before it is reported
CLOCK_SKEW_SECONDS = 300.0  # tolerated between the web process and a worker on another host


def start_watch(data_dir: str | Path, run_id: object, now: float | None = None) -> dict:
    """What the watchdog remembers about a chunk it starts watching: the run it trains
    (None: a new run, not created yet), its chunk count then, and `now` (server clock),
    which must not be later than the click."""
    _, rid, run = open_run(data_dir, run_id)
    return {
        "run_id": rid,
        "chunks": len(run.get("chunks", [])) if run else 0,
        "since": time.time() if now is None else now,
        "seen": False,
        "misses": 0,
    }


def training_state(
    data_dir: str | Path,
    run_id: str | None,
    since: float,
    chunks_before: int = 0,
    seen: bool = False,
    now: float | None = None,
) -> dict:
    """What the chunk started at `since` is doing, judged from the run store alone.

    Returns {"state", "run_id", "seen", "message"}; state is
    "running"  the run's training lock has a live holder (`seen` becomes True),
    "done"     a new chunk was recorded (the job's result is on its way),
    "starting" no lock yet, within the grace period of a queued or loading job,
    "queued"   no lock yet, but other runs are training: it may wait for a worker,
    "lost"     the lock was seen (or a dead one written after `since` is left) and is
               free or stale now with no new chunk, or the job never took it.
    run_id None means a new run: the newest run created since `since`, if any.
    """
    store = RunStore(data_dir)
    now = time.time() if now is None else now
    rid = run_id if run_id else _run_created_since(store, since)
    run = None
    if rid:
        try:
            run = store.load_run(rid)
        except StoreError:
            run = None
    out = {"state": "lost", "run_id": rid, "seen": bool(seen), "message": ""}
    if run is not None and len(run.get("chunks", [])) > chunks_before:
        return out | {"state": "done"}
    lock = store.read_lock(rid) if run is not None else None
    if lock is not None and store.lock_holder(rid) is not None:
        return out | {"state": "running", "seen": True}
    if lock is not None and _seconds(lock.get("since")) >= since:
        out["seen"] = True  # this job took the lock, and died holding it
    if out["seen"]:
        return out | {"message": lost_message(run, started=True)}
    grace = WATCH_GRACE_SECONDS if run_id else WATCH_NEW_RUN_GRACE_SECONDS
    if now - since < grace:
        return out | {"state": "starting"}
    busy = training_runs(store, exclude=rid)
    if busy:
        return out | {
            "state": "queued",
            "message": f"Waiting for a free worker: {', '.join(busy[:3])} "
            f"{'is' if len(busy) == 1 else 'are'} training. Cancel to give up.",
        }
    return out | {"message": lost_message(run, started=False, waited=now - since)}


def _run_created_since(store: RunStore, since: float) -> str | None:
    """The newest run if it was created after `since` (a worker's clock may be a little off)."""
    runs = store.list_runs()
    if runs and _seconds(runs[0].get("created")) >= since - CLOCK_SKEW_SECONDS:
        return runs[0]["id"]
    return None


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def training_runs(store: RunStore, exclude: str | None = None) -> list[str]:
    """Runs whose training lock has a live holder (cheap: only runs with a lock file)."""
    out = []
    for lock in sorted(store.runs.glob("*/training.lock")):
        rid = lock.parent.name
        if rid != exclude and RUN_ID.match(rid) and store.lock_holder(rid) is not None:
            out.append(rid)
    return out


def lost_message(run: dict | None, started: bool = True, waited: float = 0.0) -> str:
    """The watchdog's warning: what happened to the job, where the run stands, what to do."""
    what = (
        "The training job stopped (worker lost or killed)"
        if started
        else f"The training job did not start within {waited:.0f} s (no worker took it: "
        "is a Celery worker running?)"
    )
    if not run or not head(run):
        where = "the run has no checkpoint yet"
    else:
        where = f"the run is still at its last complete checkpoint {head(run)}"
    return f"{what} — {where}; click Train chunk to try again."


def watch_tick(data_dir: str | Path, watch: dict | None, now: float | None = None) -> dict:
    """One watchdog tick over `start_watch`'s record: the updated record, and a verdict.

    Returns {"watch", "state", "report", "message"}: report is True once the job is
    found lost WATCH_CONFIRM_TICKS ticks in a row (a job that just ended is not lost:
    its result arrives with the next poll), then the page says `message`.
    """
    if not isinstance(watch, dict) or not isinstance(watch.get("since"), (int, float)):
        return {"watch": watch, "state": "none", "report": False, "message": ""}
    chunks = watch.get("chunks")
    st = training_state(
        data_dir,
        watch.get("run_id") if isinstance(watch.get("run_id"), str) else None,
        float(watch["since"]),
        chunks_before=chunks if isinstance(chunks, int) else 0,
        seen=bool(watch.get("seen")),
        now=now,
    )
    misses = int(watch.get("misses") or 0) + 1 if st["state"] == "lost" else 0
    new = watch | {"seen": st["seen"], "misses": misses}
    if st["run_id"] and not watch.get("run_id"):
        new["run_id"] = st["run_id"]
    report = st["state"] == "lost" and misses >= WATCH_CONFIRM_TICKS
    return {"watch": new, "state": st["state"], "report": report, "message": st["message"]}


# -- the map --------------------------------------------------------------------------


@dataclass(frozen=True)
class MapData:
    """The guided head's map with what each point is (read-only arrays, map order)."""

    run_id: str
    checkpoint: str
    method: str  # "umap" | "pca": how these coordinates were made
    coords: np.ndarray  # (n, 2) float32
    y: np.ndarray  # (n,) labels
    pred: np.ndarray  # (n,) predictions of the guided head
    split: np.ndarray  # (n,) "train" | "val" | "test"; training points come first
    label_names: list[str]
    kind: str  # "image" | "sequence" | "flat"
    edited_last: np.ndarray  # (n,) bool: edited in the chunk that made this checkpoint

    @property
    def n(self) -> int:
        return len(self.coords)

    @property
    def n_train(self) -> int:
        return int(np.count_nonzero(self.split == "train"))


def load_map_data(store: RunStore, run: dict) -> MapData | None:
    """The guided head's map, or None before the first chunk."""
    ck = head(run)
    if ck is None:
        return None
    arrays = checkpoint_arrays(store, run["id"], ck)
    data, y, split = run_dataset(store, run["id"])
    edited = arrays.get("edited")
    return MapData(
        run_id=run["id"],
        checkpoint=ck,
        method=str(np.asarray(arrays["method"])[()]),
        coords=arrays["coords"],
        y=y,
        pred=arrays["pred"],
        split=split,
        label_names=list(data.label_names),
        kind=data.kind,
        edited_last=edited if edited is not None else np.zeros(len(y), bool),
    )


def hover_codes(md: MapData) -> np.ndarray:
    """(n, 3) int16 [label, prediction, split] per point, for the map's hover."""
    split_code = np.searchsorted(np.array(["test", "train", "val"]), md.split)
    return np.stack([md.y, md.pred, split_code], axis=1).astype(np.int16)


def color_groups(md: MapData, by: str, pending: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Category code per point and the category names for the map's colours."""
    if by == "prediction":
        return md.pred.astype(np.int16), md.label_names
    if by == "correct":
        return (md.pred == md.y).astype(np.int16), ["wrong", "correct"]
    if by == "edited":
        codes = md.edited_last.astype(np.int16)
        codes[pending] = 2
        return codes, ["not edited", "edited last chunk", "in a pending edit"]
    return md.y.astype(np.int16), md.label_names


# -- selection ------------------------------------------------------------------------


def selection_from_event(selected: dict | None, curve: int = 0) -> list[int]:
    """Point indices of a selectedData event on the main trace (pointIndex, never customdata)."""
    if not selected:
        return []
    idx = {
        int(p["pointIndex"])
        for p in selected.get("points", [])
        if p.get("curveNumber", 0) == curve and "pointIndex" in p
    }
    return sorted(idx)


def clean_indices(indices: object, n: int) -> np.ndarray:
    """Browser-sent indices as a sorted unique int array within the map."""
    if not isinstance(indices, list):
        return np.zeros(0, np.int64)
    a = np.asarray([i for i in indices if isinstance(i, int) and not isinstance(i, bool)], np.int64)
    return np.unique(a[(a >= 0) & (a < n)])


def selection_box(coords: np.ndarray, indices: np.ndarray) -> list[float] | None:
    """[x0, x1, y0, y1] around the selected points, padded so a single point has a box."""
    if len(indices) == 0:
        return None
    pts = coords[indices]
    lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
    span = coords.max(axis=0) - coords.min(axis=0)
    pad = 0.015 * float(max(span.max(), 1e-6))
    return [lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad]


def summarize_selection(md: MapData, indices: np.ndarray) -> dict:
    """Count, split mix, class mix and the points the edit would leave out (and why)."""
    split = md.split[indices]
    by_split = {s: int(np.count_nonzero(split == s)) for s in ("train", "val", "test")}
    counts = np.bincount(md.y[indices], minlength=len(md.label_names))
    order = np.argsort(-counts, kind="stable")
    classes = [(md.label_names[c], int(counts[c])) for c in order if counts[c] > 0]
    wrong = int(np.count_nonzero(md.pred[indices] != md.y[indices]))
    return {
        "n": int(len(indices)),
        "by_split": by_split,
        "classes": classes,
        "n_train": by_split["train"],
        "left_out": {"val": by_split["val"], "test": by_split["test"]},
        "wrong": wrong,
    }


def separate_partner(
    md: MapData, indices: np.ndarray, previous: np.ndarray
) -> tuple[np.ndarray, str]:
    """What "separate" pushes away from: the previous selection, else the rest of the class.

    The rest of the class = the training points of the selection's majority class
    that are not selected.
    """
    prev = np.setdiff1d(previous, indices)
    if len(prev):
        return prev, f"the previous selection ({len(prev)} points)"
    if len(indices) == 0:
        return np.zeros(0, np.int64), "nothing (no selection)"
    c = int(np.bincount(md.y[indices]).argmax())
    rest = np.flatnonzero((md.y == c) & (md.split == "train"))
    rest = np.setdiff1d(rest, indices)
    return rest, f"the rest of class {md.label_names[c]} ({len(rest)} training points)"


# -- edits ----------------------------------------------------------------------------


def make_edit(
    tool: str,
    indices: np.ndarray,
    *,
    dx: object = 0.0,
    dy: object = 0.0,
    target_class: object = None,
    alpha: object = 1.0,
    beta: object = 0.5,
    gamma: object = 1.0,
    other: np.ndarray | None = None,
) -> Edit:
    """The Edit a tool makes from the current selection; StoreError says what is missing."""
    if tool not in TOOLS:
        raise StoreError(f"edit tool: expected one of {tuple(TOOLS)}, got {tool!r}")
    if len(indices) == 0:
        raise StoreError("Select points on the map first (lasso or box).")
    idx = [int(i) for i in indices]
    if tool == "move":
        dx, dy = _number(dx, "Δx"), _number(dy, "Δy")
        if dx == 0 and dy == 0:
            raise StoreError(
                "Move: drag the dashed box, click where the cluster should go, or type Δx / Δy."
            )
        return Edit("translate", idx, dx=dx, dy=dy)
    if tool == "pull":
        if isinstance(target_class, str) and target_class.isdigit():
            target_class = int(target_class)  # a <select> sends its value as text
        if not isinstance(target_class, int) or isinstance(target_class, bool):
            raise StoreError("Pull: choose the class to pull the selection to.")
        return Edit("pull", idx, target_class=target_class, alpha=_number(alpha, "α", 0.0, 1.0))
    if tool == "compact":
        return Edit("compact", idx, beta=_number(beta, "β", 0.0, 1.0))
    if other is None or len(other) == 0:
        raise StoreError("Separate: there is nothing to push away from.")
    return Edit(
        "separate", idx, other=[int(i) for i in other], gamma=_number(gamma, "γ", 0.0, 10.0)
    )


def candidate_edit(
    md: MapData, tool: str, indices: np.ndarray, previous: np.ndarray, **params: object
) -> tuple[Edit | None, str]:
    """The edit the tool would make now (for the preview), or None and what is missing."""
    other = None
    note = ""
    if tool == "separate":
        other, partner = separate_partner(md, indices, previous)
        note = f"Separate pushes away from {partner}."
    try:
        return make_edit(tool, indices, other=other, **params), note
    except StoreError as exc:
        return None, note or str(exc)


def next_selection(current: dict | None, selected: dict | None, shown_key: str) -> dict | None:
    """The selection store after a selectedData event, or None to keep it as it is.

    The store keeps the new points, the selection before them (`previous`, for
    Separate) and the map they were made on (`key`). When a chunk redraws the map,
    plotly drops its lasso and reports an empty selection the person did not make: an
    empty event on a map other than the one the selection was made on keeps the
    selection (it is re-drawn on the new map) and only adopts the new map.
    """
    current = current if isinstance(current, dict) else {}
    old = current.get("indices") or []
    indices = selection_from_event(selected)
    if not indices and old and current.get("key") != shown_key:
        return current | {"key": shown_key}
    if indices == old:
        return None
    previous = old if old else current.get("previous") or []
    return {
        "indices": indices,
        "previous": previous,
        "rev": int(current.get("rev", 0)) + 1,
        "key": shown_key,
    }


def _number(value: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if value is None or value == "":
        value = 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StoreError(f"{name}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise StoreError(f"{name}: expected a number from {lo:g} to {hi:g}, got {value:g}")
    return float(value)


def edit_rows(run: dict | None) -> list[dict]:
    """Pending edits as the edit list shows them; stale = made on an older checkpoint."""
    if not run:
        return []
    n_train = int(run.get("sizes", {}).get("train", 0))
    now = head(run)
    rows = []
    for e in run.get("pending", []):
        idx = e.get("indices", [])
        rows.append(
            {
                "id": e.get("id", ""),
                "kind": e.get("kind", "?"),
                "tool": TOOL_OF_KIND.get(e.get("kind"), e.get("kind", "?")),
                "n": len(idx),
                "n_train": sum(1 for i in idx if isinstance(i, int) and i < n_train),
                "on": e.get("on"),
                "stale": e.get("on") != now,
                "detail": _edit_detail(e, run),
            }
        )
    return rows


def _edit_detail(e: dict, run: dict) -> str:
    names = run.get("label_names", [])
    kind = e.get("kind")
    if kind == "translate":
        return f"Δ = ({e.get('dx', 0):+.2f}, {e.get('dy', 0):+.2f})"
    if kind == "pull":
        c = e.get("target_class", -1)
        name = names[c] if isinstance(c, int) and 0 <= c < len(names) else c
        return f"to class {name}, α = {e.get('alpha', 1.0):g}"
    if kind == "compact":
        return f"β = {e.get('beta', 0.5):g}"
    if kind == "separate":
        return f"from {len(e.get('other', []))} points, γ = {e.get('gamma', 1.0):g}"
    return ""


def fresh_edits(run: dict) -> list[Edit]:
    """The pending edits the next chunk will use (those made on the current head)."""
    n_all = sum(run.get("sizes", {}).values())
    now = head(run)
    return [
        Edit.from_dict(e, n_all, f"pending[{i}]")
        for i, e in enumerate(run.get("pending", []))
        if e.get("on") == now
    ]


def pending_mask(run: dict, n: int) -> np.ndarray:
    """Points in a fresh pending edit (validation/test points included: they were selected)."""
    mask = np.zeros(n, bool)
    for e in fresh_edits(run):
        idx = np.asarray(e.indices, np.int64)
        mask[idx[idx < n]] = True
    return mask


# -- ghost preview of the targets -----------------------------------------------------


@dataclass
class Ghosts:
    """Edited training points on the map (start) and their targets projected to 2-D."""

    start: np.ndarray  # (m, 2) float32
    target: np.ndarray  # (m, 2) float32
    total: int  # edited training points before the drawing cap

    @classmethod
    def empty(cls) -> Ghosts:
        z = np.zeros((0, 2), np.float32)
        return cls(z, z.copy(), 0)


def project_points(
    T: np.ndarray, Z: np.ndarray, coords: np.ndarray, k: int = 10, reference: int = KNN_REFERENCE
) -> np.ndarray:
    """2-D positions of latent points T: inverse-distance-weighted mean of the map
    positions of their k nearest latent neighbours among Z.

    UMAP has no fast, faithful forward transform for new points; this local estimate
    mirrors the map's local inverse. For speed on the request path the neighbours are
    searched among at most `reference` evenly strided points of Z (all of them on small
    maps, where a point of Z lands exactly on its own spot).
    """
    step = max(1, -(-len(Z) // reference))
    Zr = np.ascontiguousarray(Z[::step], np.float32)
    Cr = np.asarray(coords[::step], np.float64)
    T = np.asarray(T, np.float32)
    k = int(min(k, len(Zr)))
    zz = np.einsum("ij,ij->i", Zr, Zr)
    out = np.empty((len(T), 2), np.float32)
    for s in range(0, len(T), 256):
        t = T[s : s + 256]
        d2 = zz - 2.0 * (t @ Zr.T)  # |t - z|² - |t|²: the same order within a row
        nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
        # exact distances of the k found (the GEMM shortcut is not): an own point hits 0
        diff = Zr[nn].astype(np.float64) - t[:, None, :].astype(np.float64)
        dist = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff))
        hit = dist <= 1e-9 * (1.0 + np.abs(t).max())
        w = np.where(hit.any(1, keepdims=True), hit, 1.0 / np.maximum(dist, 1e-300))
        out[s : s + 256] = np.einsum("mk,mkd->md", w / w.sum(1, keepdims=True), Cr[nn])
    return out


def _cap(idx: np.ndarray, limit: int) -> np.ndarray:
    if len(idx) <= limit:
        return np.arange(len(idx))
    return np.unique(np.linspace(0, len(idx) - 1, limit).round().astype(np.int64))


def _rigid_shifts(edits: list[Edit], n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Per training point: the summed map shift of its translate edits, and whether any
    other kind of edit touched it (then its target has no exact map position)."""
    shift = np.zeros((n_train, 2))
    bent = np.zeros(n_train, bool)
    for e in edits:
        sel = np.unique(np.asarray(e.indices, np.int64))
        tr = sel[sel < n_train]
        if e.kind == "translate":
            shift[tr] += (e.dx, e.dy)
        else:
            bent[tr] = True
    return shift, bent


def targets_on_map(
    edits: list[Edit],
    Z: np.ndarray,
    state: MapState,
    md: MapData,
    points: np.ndarray | None = None,
    limit: int = MAX_GHOSTS,
) -> Ghosts:
    """Where the teacher of `edits` sends the edited training points, drawn on the map.

    PCA: exact (the map is affine, so a latent displacement D lands at coords + D·W).
    UMAP: a point only moved by translates lands at coords + Σ Δ, the gesture itself;
    other targets are placed by `project_points` (an even sample of at most KNN_GHOSTS
    of them). `points` restricts the ghosts to those map points (e.g. the selection
    being previewed). `total` counts every edited training point, drawn or not.
    """
    if not edits:
        return Ghosts.empty()
    teacher = build_teacher(edits, Z, state, md.y, md.split)
    idx = teacher.train_idx
    T = teacher.targets
    if points is not None:
        keep = np.isin(idx, points)
        idx, T = idx[keep], T[keep]
    total = len(idx)
    if total == 0:
        return Ghosts.empty()
    if state.method == "pca":
        pick = _cap(idx, limit)
        idx, T = idx[pick], T[pick]
        start = np.asarray(md.coords[idx], np.float32)
        shift = (T.astype(np.float64) - Z[idx]) @ np.asarray(state.linear, np.float64)
        return Ghosts(start, (start + shift).astype(np.float32), total)
    shift, bent = _rigid_shifts(edits, md.n_train)
    rigid, other = np.flatnonzero(~bent[idx]), np.flatnonzero(bent[idx])
    rigid, other = rigid[_cap(rigid, limit)], other[_cap(other, min(limit, KNN_GHOSTS))]
    start = np.asarray(md.coords[idx[rigid]], np.float32)
    target = (start + shift[idx[rigid]]).astype(np.float32)
    if len(other):
        start = np.concatenate([start, md.coords[idx[other]]]).astype(np.float32)
        target = np.concatenate([target, project_points(T[other], Z, md.coords)])
    return Ghosts(start, target, total)


def preview(
    store: RunStore, run: dict, md: MapData, candidate: Edit | None
) -> tuple[Ghosts, Ghosts]:
    """Ghosts of the fresh pending edits, and of the candidate edit applied after them."""
    arrays = checkpoint_arrays(store, run["id"], md.checkpoint)
    Z, state = arrays["Z"], MapState.from_arrays(arrays)
    pending = fresh_edits(run)
    ghosts = targets_on_map(pending, Z, state, md)
    if candidate is None:
        return ghosts, Ghosts.empty()
    cand = targets_on_map(
        [*pending, candidate], Z, state, md, points=np.asarray(candidate.indices, np.int64)
    )
    return ghosts, cand


# -- panels ---------------------------------------------------------------------------


def chunk_history(store: RunStore, run: dict | None) -> dict[str, list]:
    """Per chunk, guided and twin: accuracy, gap, drift, adherence (None where absent)."""
    keys = (
        "chunk",
        "guided_train",
        "guided_val",
        "twin_train",
        "twin_val",
        "guided_gap",
        "twin_gap",
        "drift_edited",
        "drift_rest",
        "drift_twin",
        "adherence",
        "n_edits",
    )
    out: dict[str, list] = {k: [] for k in keys}
    if not run:
        return out
    recs = store.metrics(run["id"], run)
    for ch in run.get("chunks", []):
        g, u = recs.get(ch["guided"]), recs.get(ch["twin"])
        if g is None or u is None:
            continue
        gd, ud = g.get("drift") or {}, u.get("drift") or {}
        out["chunk"].append(ch["index"])
        out["guided_train"].append(g["train"]["acc"])
        out["guided_val"].append(g["val"]["acc"])
        out["twin_train"].append(u["train"]["acc"])
        out["twin_val"].append(u["val"]["acc"])
        out["guided_gap"].append(g["gap"])
        out["twin_gap"].append(u["gap"])
        out["drift_edited"].append(gd.get("edited"))
        out["drift_rest"].append(gd.get("rest"))
        out["drift_twin"].append(ud.get("all"))
        out["adherence"].append(g.get("adherence"))
        out["n_edits"].append(len(ch.get("edits", [])))
    return out


def selection_drift(store: RunStore, run: dict | None, indices: np.ndarray) -> dict[str, list]:
    """Per chunk, mean per-point drift of the selected points in the guided run and the twin."""
    out: dict[str, list] = {"chunk": [], "guided": [], "twin": []}
    if not run or len(indices) == 0:
        return out
    for ch in run.get("chunks", []):
        if ch.get("from") is None:
            continue  # chunk 0 (or a fork's root) has no previous checkpoint to drift from
        g = checkpoint_member(store, run["id"], ch["guided"], "drift")
        u = checkpoint_member(store, run["id"], ch["twin"], "drift")
        if g is None or u is None:
            continue
        sel = indices[indices < len(g)]
        out["chunk"].append(ch["index"])
        out["guided"].append(float(g[sel].mean()) if len(sel) else None)
        out["twin"].append(float(u[sel].mean()) if len(sel) else None)
    return out


def drift_series(
    store: RunStore, run: dict | None, indices: np.ndarray
) -> tuple[list[int], list[tuple[str, list, str]]]:
    """The drift panel's curves from chunk 1 on: (chunks, [(name, values, role)]).

    With a selection: its mean drift in the guided run and in the twin. Without: the
    guided run's edited points vs the rest, and the twin's points.
    """
    if len(indices):
        d = selection_drift(store, run, indices)
        return d["chunk"], [
            (f"selection ({len(indices):,}) · guided", d["guided"], "guided"),
            ("selection · twin", d["twin"], "twin"),
        ]
    h = chunk_history(store, run)
    keys = ("drift_edited", "drift_rest", "drift_twin")
    keep = [i for i in range(len(h["chunk"])) if any(h[k][i] is not None for k in keys)]
    curves = {k: [h[k][i] for i in keep] for k in ("chunk", *keys)}
    return curves["chunk"], [
        ("edited · guided", curves["drift_edited"], "guided"),
        ("rest · guided", curves["drift_rest"], "guided-rest"),
        ("all · twin", curves["drift_twin"], "twin"),
    ]


def latest_bias(store: RunStore, run: dict | None) -> tuple[int, list[dict]] | None:
    """(chunk, per-class bias rows) of the newest guided chunk, or None before one."""
    if not run:
        return None
    recs = store.metrics(run["id"], run)
    for ch in reversed(run.get("chunks", [])):
        rec = recs.get(ch["guided"], {})
        if rec.get("bias"):
            return ch["index"], rec["bias"]
    return None


def chunk_log(run: dict | None) -> list[dict]:
    """One row per chunk: edits used, λ, epochs, seconds."""
    rows = []
    for ch in (run or {}).get("chunks", []):
        cfg = ch.get("config", {})
        teacher = ch.get("teacher", {})
        rows.append(
            {
                "chunk": ch["index"],
                "edits": len(ch.get("edits", [])),
                "edited": teacher.get("n_edited", 0),
                "lam": cfg.get("lam"),
                "epochs": cfg.get("epochs"),
                "seconds": ch.get("seconds"),
                "relabels": teacher.get("relabels", 0),
                "forked": ch.get("forked", False),
            }
        )
    return rows


# -- the sample under the pointer -----------------------------------------------------


def hovered_index(hover: dict | None, n: int, curve: int = 0) -> int | None:
    """The map point under the pointer (main trace only)."""
    for p in (hover or {}).get("points", []):
        if p.get("curveNumber", 0) == curve and isinstance(p.get("pointIndex"), int):
            i = p["pointIndex"]
            return i if 0 <= i < n else None
    return None


def sample_info(store: RunStore, md: MapData, index: int) -> dict:
    """The raw sample of a map point and what it is."""
    data, _, _ = run_dataset(store, md.run_id)
    n_tr, n_va = len(data.y_train), len(data.y_val)
    if index < n_tr:
        x = data.X_train[index]
    elif index < n_tr + n_va:
        x = data.X_val[index - n_tr]
    else:
        x = data.X_test[index - n_tr - n_va]
    return {
        "index": index,
        "x": x,
        "kind": data.kind,
        "label": md.label_names[md.y[index]],
        "pred": md.label_names[md.pred[index]],
        "split": str(md.split[index]),
    }


# -- the move gesture -----------------------------------------------------------------


def shift_from_relayout(
    relayout: dict | None, box: list[float] | None
) -> tuple[float, float] | None:
    """Δ of the selection box dragged on the map: the shift of its centre."""
    if not relayout or not box:
        return None
    new = None
    if isinstance(relayout.get("shapes"), list) and relayout["shapes"]:
        s = relayout["shapes"][0]
        new = [s.get("x0"), s.get("x1"), s.get("y0"), s.get("y1")]
    elif any(k.startswith("shapes[0].") for k in relayout):
        new = [
            relayout.get(f"shapes[0].{k}", box[i]) for i, k in enumerate(("x0", "x1", "y0", "y1"))
        ]
    if new is None or not all(isinstance(v, (int, float)) for v in new):
        return None
    dx = (new[0] + new[1] - box[0] - box[1]) / 2
    dy = (new[2] + new[3] - box[2] - box[3]) / 2
    return float(dx), float(dy)


def shift_from_click(click: dict | None, centroid: np.ndarray | None) -> tuple[float, float] | None:
    """Δ that moves the selection's centroid to the clicked spot (anywhere on the map)."""
    if not click or centroid is None:
        return None
    xs, ys = click.get("xvals"), click.get("yvals")
    if xs and ys:
        x, y = xs[0], ys[0]
    else:
        pts = click.get("points") or [{}]
        x, y = pts[0].get("x"), pts[0].get("y")
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
        return None
    return float(x - centroid[0]), float(y - centroid[1])
