"""Where the edits send their points, drawn on the map as ghosts (the preview before training).

The teacher's targets live in latent space; these functions bring them back onto the
2-D map: exactly for PCA (an affine map), by the gesture itself for UMAP translates,
and by a k-NN estimate (`project_points`) for other UMAP targets. Each layer is capped
so the browser only draws an even sample.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from hill_dash.dashboard.read_cache import checkpoint_arrays, checkpoint_stamp
from hill_dash.dashboard.views import MapData, fresh_edits, head
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import MapState
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit, edit_targets

MAX_GHOSTS = 1000  # ghost targets drawn per layer (SVG paths); more only slows the browser
KNN_GHOSTS = 200  # UMAP ghosts placed by a k-NN search per layer (the search is the cost)
KNN_REFERENCE = 5000  # latent points that k-NN search looks among


@dataclass
class Ghosts:
    """Edited training points on the map (start) and their targets projected to 2-D."""

    start: np.ndarray  # (m, 2) float32
    target: np.ndarray  # (m, 2) float32
    total: int  # edited training points before the drawing cap
    problem: str = ""  # why there is nothing to draw (the edit cannot be made as it is)

    @classmethod
    def empty(cls, problem: str = "") -> Ghosts:
        z = np.zeros((0, 2), np.float32)
        return cls(z, z.copy(), 0, problem)


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
    edits = on_map(edits, md.n)
    if not edits:
        return Ghosts.empty()
    Z, state = map_points_only(Z, state, md)
    idx, T = edit_targets(edits, Z, state, md.y, md.split, n_classes=len(md.label_names))
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


def map_points_only(Z: np.ndarray, state: MapState, md: MapData) -> tuple[np.ndarray, MapState]:
    """Latents and map of the map's points only (train + val): test latents never enter a
    preview (no UMAP inverse over them, no mean of them)."""
    if len(Z) == md.n and len(state.coords) == md.n:
        return Z, state
    return Z[: md.n], dataclasses.replace(state, coords=md.coords, knn=None)


def on_map(edits: list[Edit], n: int) -> list[Edit]:
    """The edits restricted to the map's points (train + val): an edit stored before the
    test split was taken off the map may name test points; they never count."""
    out = []
    for e in edits:
        idx = [i for i in e.indices if i < n]
        other = [i for i in e.other if i < n]
        if idx and (other or e.kind != "separate"):
            out.append(dataclasses.replace(e, indices=idx, other=other))
    return out


class _Recent:
    """The last few pending layers, by (checkpoint, its file's stamp, the edits): they do
    not change while the person lassoes and previews, and at 200 000 points each costs a
    teacher build (~0.1 s) per request. A stored checkpoint never changes, so an entry
    cannot go stale."""

    def __init__(self, size: int = 4):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    # not functools.lru_cache: the inputs (latents, map data, edits) are not hashable; the
    # key names them instead
    def get(self, key: tuple, make) -> Ghosts:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_PENDING = _Recent()


def _pending_key(run: dict) -> tuple:
    """The fresh pending edits by their ids (an edit's record never changes once made; one
    without an id, as a notebook may write, by its content)."""
    now = head(run)
    return tuple(
        e.get("id") or json.dumps(e, sort_keys=True)
        for e in run.get("pending", [])
        if e.get("on") == now
    )


def preview(
    store: RunStore, run: dict, md: MapData, candidate: Edit | None
) -> tuple[Ghosts, Ghosts]:
    """Ghosts of the fresh pending edits, and of the candidate edit applied after them.

    Only the map's points (train + val) enter: test latents never shape a preview.
    """
    arrays = checkpoint_arrays(store, run["id"], md.checkpoint)
    Z, state = map_points_only(arrays["Z"], MapState.from_arrays(arrays), md)
    pending = on_map(fresh_edits(run), md.n)
    key = (
        str(store.root),
        run["id"],
        md.checkpoint,
        checkpoint_stamp(store, run["id"], md.checkpoint),
        md.n,
        _pending_key(run),
    )
    ghosts = _PENDING.get(key, lambda: targets_on_map(pending, Z, state, md))
    if candidate is None:
        return ghosts, Ghosts.empty()
    try:
        cand = targets_on_map(
            [*pending, candidate], Z, state, md, points=np.asarray(candidate.indices, np.int64)
        )
    except StoreError as exc:  # e.g. a pull toward a class the selection holds entirely
        return ghosts, Ghosts.empty(str(exc))
    return ghosts, cand


def preview_text(pending: Ghosts, preview: Ghosts, note: str) -> str:
    """The line under the map: what the rings show, how many are drawn, and `note`."""
    parts = []
    if pending.total:
        parts.append(
            f"Black rings: targets of the pending edits ({pending.total:,} training points)."
        )
    if preview.total:
        parts.append(
            f"Orange rings: preview of this edit ({preview.total:,} training points) "
            "— Apply to keep it."
        )
    for name, ghosts in (("pending", pending), ("preview", preview)):
        if len(ghosts.start) < ghosts.total:
            parts.append(
                f"{name.capitalize()}: {len(ghosts.start):,} of {ghosts.total:,} "
                "targets drawn (an even sample)."
            )
    if preview.problem:
        parts.append(f"No preview: {preview.problem}")
    if note:
        parts.append(note)
    return " ".join(parts) or "Select points, choose an edit: its targets appear as rings."
