"""What each map point is, beyond its label: confidence, loss, drift; colours and "Find points".

Pure functions of the guided head's map (`views.MapData`) and its checkpoint arrays:
the per-point quantities the map can be coloured by, the colouring itself, the points
"Find points" selects, the order of the selection gallery, and the selection as CSV.
Every quantity covers the map's points only (training and validation, never test).
"""

from __future__ import annotations

import dataclasses
import functools
import io
from dataclasses import dataclass

import numpy as np

from hill_dash.dashboard.figures.latent_map import Colouring
from hill_dash.dashboard.read_cache import checkpoint_arrays
from hill_dash.dashboard.views import MapData
from hill_dash.engine.errors import StoreError
from hill_dash.engine.store import RunStore

# colour-by options: (value, label); the continuous ones get a colour bar
COLOR_OPTIONS = (
    ("label", "label"),
    ("prediction", "prediction"),
    ("correct", "correct / wrong"),
    ("split", "split (train / val)"),
    ("confidence", "confidence"),
    ("loss", "per-sample loss"),
    ("drift", "latent drift since last chunk"),
    ("edited", "edited"),
)
CONTINUOUS = {"confidence", "loss", "drift"}

# "Find points" criteria: (value, label); the top-k ones take k
FIND_OPTIONS = (
    ("class", "class …"),
    ("misclassified", "misclassified"),
    ("indices", "index list …"),
    ("low-confidence", "lowest confidence (top k)"),
    ("high-loss", "highest loss (top k)"),
    ("high-drift", "highest drift (top k)"),
)
TOP_K = {"low-confidence": "confidence", "high-loss": "loss", "high-drift": "drift"}
MAX_INDEX_TEXT = 200_000  # characters of a pasted index list


@dataclass(frozen=True)
class PointStats:
    """Per map point, from the guided head's logits and drift (read-only arrays)."""

    confidence: np.ndarray  # (n,) softmax probability of the prediction
    loss: np.ndarray  # (n,) cross-entropy of the label (NaN: unlabelled)
    drift: np.ndarray | None  # (n,) ‖z_now − z_prev‖ / s since the last chunk (None: chunk 0)


@functools.lru_cache(maxsize=4)
def _stats(root: str, run_id: str, ckpt: str, mtime: int, n: int, y_key: bytes) -> PointStats:
    store = RunStore(root)
    arrays = checkpoint_arrays(store, run_id, ckpt)
    logits = np.asarray(arrays["logits"][:n], np.float64)
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    y = np.frombuffer(y_key, np.int64)
    labelled = y >= 0
    loss = np.full(n, np.nan)
    loss[labelled] = -logp[np.flatnonzero(labelled), y[labelled]]
    drift = arrays.get("drift")
    out = PointStats(
        confidence=np.exp(logp.max(axis=1)).astype(np.float32),
        loss=loss.astype(np.float32),
        drift=None if drift is None else np.asarray(drift[:n], np.float32),
    )
    for a in (out.confidence, out.loss, out.drift):
        if a is not None:
            a.flags.writeable = False
    return out


def point_stats(store: RunStore, md: MapData) -> PointStats:
    """Confidence, loss and drift of every map point (cached per checkpoint)."""
    path = store.checkpoint_dir(md.run_id, md.checkpoint) / "maps.npz"
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    y = np.ascontiguousarray(md.y, np.int64).tobytes()
    return _stats(str(store.root), md.run_id, md.checkpoint, mtime, md.n, y)


def quantity(stats: PointStats, name: str) -> np.ndarray | None:
    """A continuous per-point quantity by name ("confidence", "loss", "drift")."""
    return {"confidence": stats.confidence, "loss": stats.loss, "drift": stats.drift}.get(name)


def label_codes(md: MapData, y: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as colour codes; unlabelled points (-1) get a last "unlabelled" category."""
    names = tuple(md.label_names)
    if np.any(y < 0):
        return np.where(y < 0, len(names), y).astype(np.int16), (*names, "unlabelled")
    return y.astype(np.int16), names


def with_annotation(md: MapData, edit) -> MapData:
    """The map as it would look with a candidate annotation applied (Relabel previews its
    new colours, Exclude its greyed points, before Apply); other edits change nothing."""
    if edit is None or edit.kind not in ("relabel", "exclude"):
        return md
    idx = np.asarray(edit.indices, np.int64)
    idx = idx[md.split[idx] == "train"]  # validation labels never change
    if edit.kind == "relabel":
        y = np.array(md.y)
        y[idx] = edit.target_class
        return dataclasses.replace(md, y=y)
    weight = np.ones(md.n, np.float32) if md.weight is None else np.array(md.weight)
    weight[idx] = 0.0
    return dataclasses.replace(md, weight=weight)


def colouring(md: MapData, by: str, pending: np.ndarray, stats: PointStats) -> Colouring:
    """The map's colours for a colour-by option (unknown options colour by label)."""
    if by == "prediction":
        return Colouring(by, md.pred.astype(np.int16), tuple(md.label_names), "prediction")
    if by == "correct":
        return Colouring(by, (md.pred == md.y).astype(np.int16), ("wrong", "correct"), "correct?")
    if by == "split":
        return Colouring(by, (md.split == "val").astype(np.int16), ("train", "val"), "split")
    if by == "edited":
        codes = md.edited_last.astype(np.int16)
        codes[pending] = 2
        return Colouring(by, codes, ("not edited", "edited last chunk", "in a pending edit"))
    if by in CONTINUOUS:
        return _continuous(md, by, stats)
    codes, names = label_codes(md, md.y)
    if md.weight is not None and np.any(md.weight == 0):  # excluded from training: greyed
        codes = np.where(md.weight == 0, len(names), codes).astype(np.int16)
        names = (*names, "excluded")
    return Colouring("label", codes, names, "label")


def _continuous(md: MapData, by: str, stats: PointStats) -> Colouring:
    values = quantity(stats, by)
    if values is None:  # drift before chunk 1: nothing moved yet
        return Colouring(by, np.full(md.n, np.nan, np.float32), (), "drift (from chunk 1)", 0, 1)
    if by == "confidence":
        return Colouring(by, values, (), "confidence", 0.0, 1.0, ".0%")
    finite = values[np.isfinite(values)]
    top = float(np.quantile(finite, 0.99)) if len(finite) else 1.0
    title = "loss (CE)" if by == "loss" else "drift / s"
    return Colouring(by, values, (), title, 0.0, max(top, 1e-6), ".2f")


# -- Find points ------------------------------------------------------------------------


def parse_index_list(text: object, n: int) -> np.ndarray:
    """ "3, 17, 40-45" as map point indices; StoreError names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise StoreError("index list is empty: type point numbers like 3, 17, 40-45")
    if len(text) > MAX_INDEX_TEXT:
        raise StoreError(f"index list: at most {MAX_INDEX_TEXT:,} characters")
    out: list[np.ndarray] = []
    for token in text.replace(";", ",").replace("\n", ",").replace(" ", ",").split(","):
        if not token:
            continue
        lo, sep, hi = token.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise StoreError(f"index list: {token!r} is not a number or a range like 40-45")
        a, b = int(lo), int(hi) if sep else int(lo)
        if a > b or b >= n:
            raise StoreError(
                f"index list: {token!r} is outside the map (points 0 to {n - 1}; test points "
                "are never on it)"
            )
        out.append(np.arange(a, b + 1))
    return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


def find_points(
    md: MapData,
    stats: PointStats,
    criterion: str,
    *,
    cls: object = None,
    k: object = None,
    text: object = None,
    shown: int | None = None,
) -> np.ndarray:
    """The map points a "Find points" criterion picks, among the first `shown` points
    (validation points hidden: training points only). StoreError says what is missing."""
    n = md.n if shown is None else min(shown, md.n)
    if criterion == "class":
        if isinstance(cls, str) and cls.lstrip("-").isdigit():
            cls = int(cls)
        if not isinstance(cls, int) or isinstance(cls, bool):
            raise StoreError("Find points: choose a class")
        return np.flatnonzero(md.y[:n] == cls)
    if criterion == "misclassified":
        return np.flatnonzero((md.pred[:n] != md.y[:n]) & (md.y[:n] >= 0))
    if criterion == "indices":
        return parse_index_list(text, n)
    if criterion in TOP_K:
        if not isinstance(k, (int, float)) or isinstance(k, bool) or not k >= 1:
            raise StoreError("k is empty or below 1: type how many points to find")
        values = quantity(stats, TOP_K[criterion])
        if values is None:
            raise StoreError("Drift appears from chunk 1 on: train a chunk first")
        v = np.asarray(values[:n], np.float64)
        v = np.where(np.isfinite(v), v, np.inf if criterion == "low-confidence" else -np.inf)
        order = np.argsort(v if criterion == "low-confidence" else -v, kind="stable")
        return np.sort(order[: int(min(k, n))])
    raise StoreError(f"Find points: unknown criterion {criterion!r}")


# -- the selection gallery and its export -----------------------------------------------

GALLERY_SORTS = (
    ("confidence", "lowest confidence first"),
    ("drift", "highest drift first"),
    ("index", "index"),
)


def gallery_order(indices: np.ndarray, stats: PointStats, by: str, limit: int) -> np.ndarray:
    """The first `limit` selected points in the gallery's order."""
    if by == "confidence":
        key = stats.confidence[indices]
    elif by == "drift" and stats.drift is not None:
        key = -stats.drift[indices]
    else:
        return indices[:limit]
    return indices[np.argsort(key, kind="stable")[:limit]]


def selection_csv(md: MapData, stats: PointStats, indices: np.ndarray) -> str:
    """The selection as CSV: index, split, label, prediction, confidence, map x and y."""
    names = [*md.label_names]
    buf = io.StringIO()
    buf.write("index,split,label,prediction,confidence,x,y\n")
    for i in indices.tolist():
        label = names[md.y[i]] if md.y[i] >= 0 else "unlabelled"
        buf.write(
            f"{i},{md.split[i]},{_csv(label)},{_csv(names[md.pred[i]])},"
            f"{stats.confidence[i]:.4f},{md.coords[i, 0]:.5f},{md.coords[i, 1]:.5f}\n"
        )
    return buf.getvalue()


def _csv(text: str) -> str:
    """A CSV field: quoted when it holds a comma, quote or newline; no formula injection."""
    if text[:1] in ("=", "+", "-", "@"):
        text = "'" + text
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
