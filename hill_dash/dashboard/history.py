"""The Loop page's per-chunk history, read from the run store: the numbers behind its panels.

Per chunk, the guided lineage against the unguided one (key "twin" in the store):
accuracy, gap, drift (of the edited points, or of the current selection), the
per-class bias of the newest guided chunk, the chunk log, the realized share of each
edit (guided, counterfactual chunk, unguided lineage; `chunk["realized"]`) and the
per-step training curves (`RunStore.load_curves`). Plain values out; figures draw them.
"""

from __future__ import annotations

import numpy as np

from hill_dash.dashboard import views
from hill_dash.dashboard.annotation_text import annotation_sentence, is_annotation_row
from hill_dash.dashboard.read_cache import checkpoint_member
from hill_dash.engine import realized_text as RT
from hill_dash.engine.errors import StoreError
from hill_dash.engine.store import RunStore

LINEAGE_NAMES = {"guided": "guided", "counterfactual": "counterfactual", "twin": "unguided"}
CURVE_KEYS = ("loss", "ce", "teacher", "acc")
# points per trace of the training-curves panel: about two per pixel column of a wide
# panel. A 70 000-point run trains ~5 500 steps a chunk; unthinned, twenty chunks sent
# ~900 000 numbers to the browser at every chunk's end.
MAX_CURVE_POINTS = 2000


def chunk_history(store: RunStore, run: dict | None) -> dict[str, list]:
    """Per chunk, guided and unguided: accuracy, gap, drift (None where absent)."""
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
            ("selection · unguided", d["twin"], "twin"),
        ]
    h = chunk_history(store, run)
    keys = ("drift_edited", "drift_rest", "drift_twin")
    keep = [i for i in range(len(h["chunk"])) if any(h[k][i] is not None for k in keys)]
    curves = {k: [h[k][i] for i in keep] for k in ("chunk", *keys)}
    return curves["chunk"], [
        ("edited · guided", curves["drift_edited"], "guided"),
        ("rest · guided", curves["drift_rest"], "guided-rest"),
        ("all · unguided", curves["drift_twin"], "twin"),
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
                "realized": realized_summary(ch),
            }
        )
    return rows


# -- realized shares (issue 8): how much of each edit happened --------------------------


def _share(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else None


def realized_edits(chunk: dict) -> list[dict]:
    """One row per edit of a chunk: its tool and the realized shares of the guided chunk,
    the counterfactual chunk and the unguided lineage (None: not measured, or no
    counterfactual): flat as "<space>_<lineage>" for latent space and the map, and every
    recorded space under "shares" ({space: {lineage: share}}, `RT.REALIZED_SPACES`)."""
    edits = {e.get("id"): e for e in chunk.get("edits", []) if isinstance(e, dict)}
    rows = []
    for r in chunk.get("realized") or []:
        if not isinstance(r, dict):
            continue
        kind = r.get("kind") or edits.get(r.get("edit"), {}).get("kind", "?")
        row = {"edit": r.get("edit"), "kind": kind, "tool": views.TOOL_OF_KIND.get(kind, kind)}
        if is_annotation_row(r):  # measured in its own space: said by annotation_text
            row["text"] = annotation_sentence(r, [])
        for space in ("latent", "map"):
            shares = r.get(space) if isinstance(r.get(space), dict) else {}
            for lineage in LINEAGE_NAMES:
                row[f"{space}_{lineage}"] = _share(shares.get(lineage))
        row["shares"] = {
            space: {lineage: _share(r[space].get(lineage)) for lineage in LINEAGE_NAMES}
            for space in RT.REALIZED_SPACES
            if isinstance(r.get(space), dict)
        }
        rows.append(row)
    return rows


def realized_text(row: dict, space: str = "latent") -> str:
    """The realized share in words (`RT.realized_text`: the space named, the other measured
    spaces after it); an annotation's own measures (`annotation_text`). `row`: a
    `realized_edits` row, or flat "<space>_<lineage>" values."""
    if row.get("text"):
        return row["text"]
    shares = row.get("shares")
    if not isinstance(shares, dict):
        shares = {
            s: {lin: row.get(f"{s}_{lin}") for lin in LINEAGE_NAMES}
            for s in RT.REALIZED_SPACES
            if any(f"{s}_{lin}" in row for lin in LINEAGE_NAMES)
        }
    return RT.realized_text(shares, space, kind=row.get("kind"))


def realized_summary(chunk: dict) -> dict | None:
    """Mean realized share (latent) over a chunk's edits per lineage, or None without any."""
    rows = realized_edits(chunk)
    if not rows:
        return None
    out = {"n": len(rows), "edits": rows}
    for lineage in LINEAGE_NAMES:  # latent edits only: annotations have no latent share
        vals = [r.get(f"latent_{lineage}") for r in rows]
        vals = [v for v in vals if v is not None]
        out[lineage] = float(np.mean(vals)) if vals else None
    return out


def realized_history(run: dict | None) -> dict[str, list]:
    """Per guided chunk with measured edits: the chunk, mean shares per lineage, and the
    per-edit rows (the realized-share panel)."""
    out: dict[str, list] = {"chunk": [], "guided": [], "counterfactual": [], "twin": [], "rows": []}
    for ch in (run or {}).get("chunks", []):
        summary = realized_summary(ch)
        if summary is None:
            continue
        out["chunk"].append(ch["index"])
        for lineage in LINEAGE_NAMES:
            out[lineage].append(summary[lineage])
        out["rows"].append(summary["edits"])
    return out


def last_chunk_edits(run: dict | None) -> tuple[int, list[dict]] | None:
    """(chunk, realized rows) of the newest chunk that had edits, or None."""
    for ch in reversed((run or {}).get("chunks", [])):
        if ch.get("edits"):
            return ch["index"], realized_edits(ch)
    return None


def chunk_points(run: dict | None, index: int, n: int) -> np.ndarray:
    """The map points the edits of chunk `index` selected (below n: never test points)."""
    for ch in (run or {}).get("chunks", []):
        if ch.get("index") == index:
            idx = [
                i
                for e in ch.get("edits", [])
                if isinstance(e, dict)
                for i in e.get("indices", [])
                if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n
            ]
            return np.unique(np.asarray(idx, np.int64))
    return np.zeros(0, np.int64)


# -- per-step training curves -----------------------------------------------------------


def load_curves(store: RunStore, run_id: str, ckpt: str) -> dict | None:
    """`RunStore.load_curves` when the engine has it (None: no curves for this checkpoint)."""
    reader = getattr(store, "load_curves", None)
    if reader is None:
        return None
    try:
        curves = reader(run_id, ckpt)
    except (StoreError, OSError, ValueError):
        return None
    return curves if isinstance(curves, dict) and curves.get("step") else None


def step_curves(store: RunStore, run: dict | None, key: str) -> dict[str, dict]:
    """Per lineage ("guided", "twin"): one metric's batch values over every chunk, on a
    running step axis, and where each chunk starts: {"step", "value", "starts"}."""
    out: dict[str, dict] = {}
    if not run or key not in CURVE_KEYS:
        return out
    for lineage in ("guided", "twin"):
        steps: list[float] = []
        values: list[float | None] = []
        starts: list[tuple[int, int]] = []
        offset = 0
        for ch in run.get("chunks", []):
            curves = load_curves(store, run["id"], ch.get(lineage, ""))
            if curves is None or key not in curves:
                continue
            step = [s for s in curves["step"] if isinstance(s, (int, float))]
            vals = curves[key][: len(step)]
            starts.append((ch["index"], offset))
            steps += [offset + s for s in step]
            values += [_share(v) for v in vals]
            offset += int(max(step, default=0)) + 1
        if steps:
            out[lineage] = {"step": steps, "value": values, "starts": starts}
    return out


def smooth(values: list[float | None], weight: float) -> list[float | None]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start;
    gaps (None) stay gaps and do not enter the average."""
    weight = min(max(float(weight), 0.0), 0.999)
    out: list[float | None] = []
    last, n = 0.0, 0
    for v in values:
        if v is None:
            out.append(None)
            continue
        last = weight * last + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n) if weight > 0 else v)
    return out


def curve_traces(
    series: dict[str, dict], weight: float, max_points: int = MAX_CURVE_POINTS
) -> tuple[dict[str, dict], dict[str, dict]]:
    """The training-curves panel's traces, at most `max_points` points each.

    Returns (raw, smoothed), per lineage {"step", "value"} (raw also keeps "starts").
    The smoothing runs over every step first. The raw values keep, per bucket of
    consecutive steps, its lowest and its highest value (where they occur), so a spike
    stays visible; the smoothed line keeps each bucket's last value (the exact moving
    average at that step). A bucket with no value is a gap.
    """
    raw: dict[str, dict] = {}
    smoothed: dict[str, dict] = {}
    for lineage, s in series.items():
        sm = smooth(s["value"], weight)
        if len(s["step"]) <= max_points:
            raw[lineage] = dict(s)
            smoothed[lineage] = {"step": list(s["step"]), "value": sm}
            continue
        buckets = max(max_points // 2, 1)
        edges = np.linspace(0, len(s["step"]), buckets + 1).astype(int)[:-1]
        x = np.asarray(s["step"], dtype=float)
        v = _as_floats(s["value"])
        w = _as_floats(sm)
        bucket = np.repeat(np.arange(len(edges)), np.diff(np.append(edges, len(v))))
        lo = np.minimum.reduceat(np.where(np.isnan(v), np.inf, v), edges)
        hi = np.maximum.reduceat(np.where(np.isnan(v), -np.inf, v), edges)
        empty = np.isinf(lo)
        # per bucket, the first step holding its lowest and its highest value
        keep = _first_per_bucket(v == lo[bucket], bucket) | _first_per_bucket(
            v == hi[bucket], bucket
        )
        keep[edges[empty]] = True  # an empty bucket: one gap at its start
        rx = x[keep].tolist()
        rv = [None if np.isnan(a) else float(a) for a in v[keep]]
        last = np.append(edges[1:], len(v)) - 1
        sx = x[last].tolist()
        sv = [None if np.isnan(a) else float(a) for a in w[last]]
        raw[lineage] = {"step": rx, "value": rv, "starts": s["starts"]}
        smoothed[lineage] = {"step": sx, "value": sv}
    return raw, smoothed


def _first_per_bucket(mask: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """A mask of, per bucket, the first position where `mask` holds."""
    hits = np.flatnonzero(mask)
    _, first = np.unique(bucket[hits], return_index=True)
    out = np.zeros(len(mask), dtype=bool)
    out[hits[first]] = True
    return out


def _as_floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)
