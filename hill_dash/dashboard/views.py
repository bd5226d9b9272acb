"""What the pages show of a run, read from the run store: the pure functions behind their callbacks.

Each function takes the store (or arrays) and plain values and returns plain values or
numpy arrays; the pages' callbacks only wire them to components, and the figure
builders in `hill_dash.dashboard.figures` draw them. Nothing here holds model state. The only
module state is a small read cache of checkpoint arrays and data sets keyed by
(path, mtime): a checkpoint never changes once written, so an entry cannot go stale,
and nothing on the request path loads a model, trains or fits a projection.

Here: the cached reads, the current run and its settings, its pending edits, the
guided head's map, the per-chunk panels and the sample under the pointer. The Loop
page's other read-side modules build on these: `hill_dash.dashboard.selection` (the selection
and the edit a tool makes of it), `hill_dash.dashboard.ghosts` (the edits' targets drawn on the
map) and `hill_dash.dashboard.watchdog` (is the training job alive, what happened to it).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import StoreError
from hill_dash.engine.npy import NPY_READ_LOCK
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit

# the Loop page's edit tools and the teacher edit kind each makes (the edit list names tools)
TOOLS = {"move": "translate", "pull": "pull", "compact": "compact", "separate": "separate"}
TOOL_OF_KIND = {kind: tool for tool, kind in TOOLS.items()}
PROJECTIONS = ("umap", "pca")
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}
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
    with NPY_READ_LOCK, np.load(path, allow_pickle=False) as npz:
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


def current_run_id(store: RunStore, run_id: object) -> str | None:
    """The browser's run if it still exists, else the most recent run, else None."""
    if isinstance(run_id, str):
        try:
            if store.exists(run_id):
                return run_id
        except StoreError:
            pass  # a tampered session value falls back like a missing one
    runs = store.list_runs()
    return runs[0]["id"] if runs else None


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


# -- pending edits --------------------------------------------------------------------


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
