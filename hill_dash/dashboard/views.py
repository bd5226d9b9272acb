"""What the pages show of a run, read from the run store: the pure functions behind their callbacks.

Each function takes the store (or arrays) and plain values and returns plain values or
numpy arrays; the pages' callbacks only wire them to components, and the figure
builders in `hill_dash.dashboard.figures` draw them. Nothing here holds model state, and
nothing on the request path loads a model, trains or fits a projection.

Here: the current run, its pending edits, the guided head's map and the sample under
the pointer. Checkpoint arrays and data sets are read through the read cache
(`hill_dash.dashboard.read_cache`); the Train card's settings are
`hill_dash.dashboard.chunk_settings`. The Loop page's other read-side modules build on
these: `hill_dash.dashboard.selection` (the selection and the edit a tool makes of it),
`hill_dash.dashboard.ghosts` (the edits' targets drawn on the map) and
`hill_dash.dashboard.watchdog` (is the training job alive, what happened to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hill_dash.dashboard.chunk_settings import PROJECTIONS
from hill_dash.dashboard.read_cache import checkpoint_arrays, run_dataset, run_image_range
from hill_dash.engine.annotations import shown_labels
from hill_dash.engine.errors import StoreError
from hill_dash.engine.pending import guided_head
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit

# the Loop page's edit tools and the teacher edit kind each makes (the edit list names tools)
TOOLS = {"move": "translate", "pull": "pull", "compact": "compact", "separate": "separate"}
TOOLS |= {"relabel": "relabel", "weight": "weight", "exclude": "exclude"}  # annotations
TOOL_OF_KIND = {kind: tool for tool, kind in TOOLS.items()}
SPLIT_WORDS = {"train": "training", "val": "validation"}


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
    """The checkpoint the Loop map shows and edits are made on (the guided head, or the
    arriving chunk's guided checkpoint while its references train), None before chunk 0."""
    return guided_head(run or {})


def map_key(run: dict | None) -> str:
    """Changes exactly when the map's points move: another run, another head checkpoint,
    or a re-fit of the map."""
    if not run or not head(run):
        return "none"
    refits = len(run.get("refits") or [])
    return f"{run['id']}:{head(run)}" + (f":r{refits}" if refits else "")


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
        "arriving": bool(run.get("arriving")),
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
                "group": e.get("group") or "",
                "detail": _edit_detail(e, run),
            }
        )
    return rows


def edit_steps(rows: list[dict]) -> list[dict]:
    """The edit list's steps: the edits of one Apply (one group) merged into one row,
    "pull + relabel", as Undo and Redo treat them."""
    steps: list[dict] = []
    for r in rows:
        last = steps[-1] if steps else None
        if last is not None and r["group"] and r["group"] == last["group"]:
            last["tool"] += f" + {r['tool']}"
            last["detail"] += f"; {r['tool']} {r['detail']}"
            continue
        steps.append(dict(r))
    return steps


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
    if kind == "relabel":
        c = e.get("target_class", -1)
        return f"to class {names[c] if isinstance(c, int) and 0 <= c < len(names) else c}"
    if kind == "weight":
        return f"w = {e.get('weight', 1.0):g}"
    return "weight 0" if kind == "exclude" else ""


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
    """The guided head's map of the training and validation points (read-only arrays).

    Map order is (train, val, test); the map holds only the train + val prefix: test
    points are never drawn, selected, counted or coloured before the final evaluation
    (and not after it either: the Compare page reveals their numbers, not the points).
    """

    run_id: str
    checkpoint: str
    method: str  # "umap" | "pca": how these coordinates were made
    coords: np.ndarray  # (n, 2) float32
    y: np.ndarray  # (n,) labels (-1: unlabelled)
    pred: np.ndarray  # (n,) predictions of the guided head
    split: np.ndarray  # (n,) "train" | "val"; training points come first
    label_names: list[str]
    kind: str  # "image" | "sequence" | "flat"
    edited_last: np.ndarray  # (n,) bool: edited in the chunk that made this checkpoint
    y_original: np.ndarray | None = None  # (n,) the data set's labels (y: relabels applied)
    weight: np.ndarray | None = None  # (n,) cross-entropy weight in force (0: excluded)

    @property
    def n(self) -> int:
        return len(self.coords)

    @property
    def n_train(self) -> int:
        return int(np.count_nonzero(self.split == "train"))


def map_size(run: dict) -> int:
    """Points on the Loop map: the training and validation points (never the test split)."""
    sizes = run.get("sizes", {})
    return int(sizes.get("train", 0)) + int(sizes.get("val", 0))


def load_map_data(store: RunStore, run: dict) -> MapData | None:
    """The guided head's map (train + val points), or None before the first chunk."""
    ck = head(run)
    if ck is None:
        return None
    arrays = checkpoint_arrays(store, run["id"], ck)
    data, y, split = run_dataset(store, run["id"])
    n = len(data.y_train) + len(data.y_val)
    edited = arrays.get("edited")
    # annotations (trained and pending) are shown at once; the data set's labels stay
    shown = shown_labels(run, data.y_train)
    y_shown, weight = np.array(y[:n]), np.ones(n, np.float32)
    y_shown[: len(shown.y)], weight[: len(shown.w)] = shown.y, shown.w
    return MapData(
        run_id=run["id"],
        checkpoint=ck,
        method=str(np.asarray(arrays["method"])[()]),
        coords=arrays["coords"][:n],
        y=y_shown,
        pred=arrays["pred"][:n],
        split=split[:n],
        label_names=list(data.label_names),
        kind=data.kind,
        edited_last=edited[:n] if edited is not None else np.zeros(n, bool),
        y_original=y[:n],
        weight=weight,
    )


def _label_text(md: MapData, i: int) -> str:
    """The shown label; a relabel keeps the original in view, an exclude says so."""
    text = label_name(md.label_names, md.y[i])
    if md.y_original is not None and md.y_original[i] != md.y[i]:
        text += f" (relabelled; was {label_name(md.label_names, md.y_original[i])})"
    if md.weight is not None and md.weight[i] != 1:
        text += " · excluded" if md.weight[i] == 0 else f" · weight ×{md.weight[i]:g}"
    return text


def label_name(names: list[str], c: int) -> str:
    """A class's name; -1 is an unlabelled point."""
    c = int(c)
    return names[c] if 0 <= c < len(names) else ("unlabelled" if c < 0 else str(c))


def reveal_count(run: dict | None) -> int:
    """How often the final evaluation (the locked test split) was revealed for this run."""
    return len((run or {}).get("test_reveals") or [])


# -- the sample under the pointer -----------------------------------------------------


def hovered_index(hover: dict | None, n: int, curve: int = 0) -> int | None:
    """The map point under the pointer (main trace only)."""
    for p in (hover or {}).get("points", []):
        if p.get("curveNumber", 0) == curve and isinstance(p.get("pointIndex"), int):
            i = p["pointIndex"]
            return i if 0 <= i < n else None
    return None


def sample_info(store: RunStore, md: MapData, index: int) -> dict:
    """The raw sample of a map point (training or validation) and what it is."""
    if not 0 <= index < md.n:
        raise StoreError(f"map point {index}: expected 0 to {md.n - 1}")
    data, _, _ = run_dataset(store, md.run_id)
    n_tr = len(data.y_train)
    x = data.X_train[index] if index < n_tr else data.X_val[index - n_tr]
    return {
        "index": index,
        "x": x,
        "kind": data.kind,
        "label": _label_text(md, index),
        "pred": label_name(md.label_names, md.pred[index]),
        "split": str(md.split[index]),
    }


def thumbnail(store: RunStore, md: MapData, index: int) -> str:
    """A data URI picturing map point `index` (images on the data set's one value scale)."""
    from hill_dash.dashboard.thumbnails import sample_thumbnail

    value_range = run_image_range(store, md.run_id)
    return sample_thumbnail(sample_info(store, md, index)["x"], md.kind, value_range)
