"""2-D maps of a latent space that stay still between checkpoints, and their inverses.

Two methods (DESIGN.md §2 and §5):

- ``"pca"``: ``coords = (Z - mean) @ linear + offset``, an exact affine map, exactly
  invertible on its 2-D image (``inverse_points``, ``inverse_delta``).
- ``"umap"``: umap-learn (n_neighbors=15, min_dist=0.1) on an exact k-NN graph computed
  with scikit-learn; inverted locally by inverse-distance weighting of the latents of the
  nearest map points. The map keeps its k-NN graph (``MapState.knn``, stored with it) for
  the next update.

Fresh fits vs updates. ``fit_map`` fits from scratch; ``update_map`` carries the previous
map over to the next checkpoint so that map movement means latent movement:

- PCA is refitted, then aligned onto the previous coordinates by orthogonal Procrustes
  (rotation/reflection, uniform scale, translation); the alignment is folded into
  ``linear``/``offset`` so the map stays an exact affine function of Z.
- UMAP: each new latent is placed at the inverse-distance-weighted mean of the previous
  coordinates of its 10 nearest previous latents (a point that did not move keeps its spot
  exactly), refined by a short warm-started UMAP optimisation on the new k-NN graph, then
  aligned by Procrustes. The alignment is trimmed (fitted on the ``ALIGN_KEEP`` share of
  points that agree best), so one moved cluster does not drag the rest along.
  Default refinement (``REFINE_SCHEDULE``): 20 epochs up to 2k points, 10 up to 5k, none
  above, which keeps an update >= 10x cheaper than a fresh fit. Without refinement the
  map loses local detail over many updates (averaging), so for large n call
  ``update_map(..., refine_epochs=20)`` now and then (seconds at 20k points).

Neighbours in an update. An exact all-pairs search costs O(n^2) and dominated the update
(28 % of a fresh fit at 70k points). The update instead walks the previous map's k-NN
graph (``hill_dash.engine.graph_search``), O(n) in all: it finds the 10 nearest previous latents
of each new one (for the placement) and the new k-NN graph (for the refinement and the
next update). Approximate, like umap-learn's own NN-descent: recall >= 0.99 when latents
move ~1 %, 0.93-0.999 after a real 5-epoch chunk (digits, MNIST-1D; the missed neighbours
are the next-nearest ones). A map stored before maps kept their graph (no ``knn``) is
updated by the exact search, as before, and its update computes the graph, so the next
update is fast.

Threads and determinism. By default UMAP runs single-threaded with ``random_state=seed``:
reproducible (same latents and seed -> same map) and robust when training or other jobs
share the cores. ``parallel=True`` uses numba threads on all cores and no random_state:
about 1.5x faster on two idle cores, not reproducible, and several times *slower* when
the cores are busy or n is small (numba's parallel epochs wait on descheduled threads).
The graph search of an update is deterministic and single-threaded either way.
UMAP starts from a PCA layout (``init="pca"``), so a fresh UMAP map is oriented like the
PCA map of the same latents.

numba. umap-learn compiles its kernels with numba on first use. Computing the k-NN graph
with scikit-learn (instead of pynndescent) removes most of that cost (~5 s instead of
~30 s on two cores); ``warm_up_numba`` pays the rest off the request path, including the
update's graph search (its kernel is cached on disk, ``cache=True``). pynndescent, which
umap imports, would compile its kernels eagerly at import (11-13 s with an empty cache);
``_import_umap`` defers them to their first call, which never comes here. Kernels
declared with ``cache=True`` are cached on disk: next to the installed package if it is
writable, else in numba's user-wide cache dir (or ``NUMBA_CACHE_DIR``). Where neither is
writable (read-only images, no HOME), call ``configure_numba_cache(path)`` before
anything imports umap/numba; it sets ``NUMBA_CACHE_DIR`` only if the environment does not
set it already.

umap and numba are imported lazily inside functions: importing them costs seconds, and
the web process must stay light (it never runs the graph search). ``inverse_points``
keeps a small cache of 2-D search trees keyed by a hash of the map's coordinates, so the
preview does not rebuild one per request.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hill_dash.engine import graph_search
from hill_dash.engine.errors import StoreError

# numba's OpenMP threading layer kills a process that forks after using it ("fork() called
# from a process already using GNU OpenMP"), and background jobs are forked from the job
# launcher after its UMAP warm-up: use the fork-safe workqueue layer unless the environment
# chose one. Set at import, so every entry point (app, CLI, Session, workers) gets it.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

METHODS = ("umap", "pca")

N_NEIGHBORS = 15  # UMAP graph neighbours (self included, as umap-learn counts them)
MIN_DIST = 0.1
INIT_NEIGHBORS = 10  # neighbours of the local transform in update_map
# Default refinement epochs by size, (max n, epochs); above the last n: none. Chosen so an
# update stays >= 10x cheaper than a fresh fit (measured on two cores).
REFINE_SCHEDULE = ((2_000, 20), (5_000, 10))
REFINE_LEARNING_RATE = 0.25  # low: the start is already a converged layout
ALIGN_KEEP = 0.5  # share of best-agreeing points the trimmed Procrustes is fitted on
TREE_CACHE_SIZE = 4  # 2-D search trees kept by inverse_points (one per recently used map)

_ARRAY_KEYS = ("mean", "linear", "offset")
_ROW_CHUNK = 8192  # rows per block when gathering neighbour latents (bounds memory)


@dataclass
class MapState:
    """2-D map of one checkpoint's latents, plus what is needed to invert it."""

    method: str  # "umap" | "pca"
    coords: np.ndarray  # float32 (n, 2)
    # PCA only: the affine map coords = (Z - mean) @ linear + offset
    mean: np.ndarray | None = None  # (d,)
    linear: np.ndarray | None = None  # (d, 2)
    offset: np.ndarray | None = None  # (2,)
    # UMAP: the k-NN graph of the latents the map was made of, int32 (n, k), each row's own
    # point first; the next update searches along it. None for PCA and for UMAP maps stored
    # before it was kept (their next update falls back to the exact search).
    knn: np.ndarray | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no object arrays; method as a unicode array)."""
        arrays = {"method": np.array(self.method), "coords": np.asarray(self.coords)}
        for key in _ARRAY_KEYS:
            value = getattr(self, key)
            if value is not None:
                arrays[key] = np.asarray(value)
        if self.knn is not None:
            arrays["knn"] = np.asarray(self.knn, dtype=np.int32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MapState:
        """Rebuild from ``to_arrays`` output or an ``np.load(..., allow_pickle=False)`` file."""
        if "method" not in arrays or "coords" not in arrays:
            raise StoreError("map arrays: expected keys 'method' and 'coords'")
        method = str(np.asarray(arrays["method"])[()])
        if method not in METHODS:
            raise StoreError(f"map arrays: field 'method' is {method!r}, expected one of {METHODS}")
        coords = np.asarray(arrays["coords"], dtype=np.float32)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise StoreError(
                f"map arrays: field 'coords' has shape {coords.shape}, expected (n, 2)"
            )
        parts = {k: np.asarray(arrays[k], dtype=np.float64) for k in _ARRAY_KEYS if k in arrays}
        if method == "pca":
            _check_pca_parts(parts)
        knn = None
        if "knn" in arrays:  # absent in maps stored before the graph was kept
            try:
                knn = _check_graph(arrays["knn"], len(coords))
            except ValueError as exc:
                raise StoreError(f"map arrays: {exc}") from exc
        return cls(method, coords, parts.get("mean"), parts.get("linear"), parts.get("offset"), knn)


def _check_pca_parts(parts: Mapping[str, np.ndarray]) -> None:
    """Raise StoreError unless mean (d,), linear (d, 2) and offset (2,) are all there."""
    if len(parts) != len(_ARRAY_KEYS):
        raise StoreError("map arrays: a PCA map needs fields 'mean', 'linear' and 'offset'")
    d = parts["mean"].shape[0] if parts["mean"].ndim == 1 else -1
    if parts["linear"].shape != (d, 2) or parts["offset"].shape != (2,):
        raise StoreError(
            "map arrays: expected 'mean' (d,), 'linear' (d, 2) and 'offset' (2,), got "
            f"{parts['mean'].shape}, {parts['linear'].shape}, {parts['offset'].shape}"
        )


def _check_graph(knn: np.ndarray, n: int) -> np.ndarray:
    """The k-NN graph of n points as int32 (n, k), or ValueError (it indexes unchecked code)."""
    knn = np.asarray(knn)
    if knn.dtype.kind not in "iu" or knn.ndim != 2 or knn.shape[0] != n or knn.shape[1] < 1:
        raise ValueError(
            f"field 'knn' has shape {knn.shape} and dtype {knn.dtype}, expected integers "
            f"(n, k) with n = {n}, the number of map points"
        )
    if knn.size and (knn.min() < 0 or knn.max() >= n):
        raise ValueError(f"field 'knn' has indices outside 0..{n - 1}")
    return knn.astype(np.int32, copy=False)


# --------------------------------------------------------------------------- helpers


def _check_latents(Z: np.ndarray, name: str = "Z") -> np.ndarray:
    """Return Z as a finite float64 (n, d) array, or raise ValueError."""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] < 2 or Z.shape[1] < 1:
        raise ValueError(f"{name}: expected a (n >= 2, d >= 1) array, got shape {Z.shape}")
    if not np.isfinite(Z).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return Z


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}, expected one of {METHODS}")


def _knn(queries: np.ndarray, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest ``points`` of each query: (indices (m, k), exact distances (m, k))."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, points.shape[0])
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute" if points.shape[1] > 3 else "auto")
    nn.fit(points.astype(np.float32))
    _, idx = nn.kneighbors(queries.astype(np.float32))
    # Recompute in float64: the GEMM trick is not exact, and an unmoved point must hit 0.
    dist = np.empty(idx.shape)
    for start in range(0, len(idx), _ROW_CHUNK):
        rows = slice(start, start + _ROW_CHUNK)
        dist[rows] = np.linalg.norm(points[idx[rows]] - queries[rows, None, :], axis=2)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)


def _idw(idx: np.ndarray, dist: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Inverse-distance-weighted mean of ``values[idx]``; an exact hit takes that value."""
    hit = dist <= 0.0
    weights = np.where(hit.any(axis=1, keepdims=True), hit, 1.0 / np.maximum(dist, 1e-300))
    weights = weights / weights.sum(axis=1, keepdims=True)
    return np.einsum("mk,mkd->md", weights, values[idx])


def align_to(
    coords: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Orthogonal Procrustes with uniform scale and translation of ``coords`` onto ``target``.

    Returns ``(aligned, R, s, t)`` with ``aligned = s * coords @ R + t``; R (2, 2) is a
    rotation or reflection, s > 0 a float, t (2,).
    """
    A = np.asarray(coords, dtype=np.float64)
    B = np.asarray(target, dtype=np.float64)
    mu_a, mu_b = A.mean(axis=0), B.mean(axis=0)
    A0, B0 = A - mu_a, B - mu_b
    U, S, Vt = np.linalg.svd(A0.T @ B0)
    R = U @ Vt
    norm = float((A0**2).sum())
    s = float(S.sum() / norm) if norm > 0 and S.sum() > 0 else 1.0
    t = mu_b - s * mu_a @ R
    return s * A @ R + t, R, s, t


def _align_trimmed(
    coords: np.ndarray, target: np.ndarray, keep: float = ALIGN_KEEP, rounds: int = 3
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """``align_to``, refitted ``rounds`` times on the ``keep`` share of best-agreeing points.

    A least-trimmed-squares Procrustes: with keep=0.5 up to half the points may have moved
    without dragging the alignment of the rest.
    """
    coords = np.asarray(coords, dtype=np.float64)
    aligned, R, s, t = align_to(coords, target)
    if len(coords) < 10 or keep >= 1.0:
        return aligned, R, s, t
    for _ in range(rounds):
        residual = np.linalg.norm(aligned - target, axis=1)
        inliers = residual <= np.quantile(residual, keep)
        _, R, s, t = align_to(coords[inliers], target[inliers])
        aligned = s * coords @ R + t
    return aligned, R, s, t


def procrustes_disparity(A: np.ndarray, B: np.ndarray) -> float:
    """Disparity as in ``scipy.spatial.procrustes``: both standardised, 0 = same shape."""
    A0 = np.asarray(A, dtype=np.float64) - np.mean(A, axis=0)
    B0 = np.asarray(B, dtype=np.float64) - np.mean(B, axis=0)
    na, nb = np.linalg.norm(A0), np.linalg.norm(B0)
    if na == 0 or nb == 0:
        raise ValueError("procrustes_disparity: an input has no spread")
    singular = np.linalg.svd((A0 / na).T @ (B0 / nb), compute_uv=False)
    return float(max(0.0, 1.0 - singular.sum() ** 2))


# --------------------------------------------------------------------------- PCA


def _fit_pca(Z: np.ndarray) -> MapState:
    """Two leading principal axes; signs fixed so each axis' largest loading is positive."""
    mean = Z.mean(axis=0)
    _, _, Vt = np.linalg.svd(Z - mean, full_matrices=False)
    linear = np.zeros((Z.shape[1], 2))
    axes = Vt[:2].T
    axes = axes * np.sign(axes[np.abs(axes).argmax(axis=0), range(axes.shape[1])])
    linear[:, : axes.shape[1]] = axes
    return _pca_state(Z, mean, linear, np.zeros(2))


def _pca_state(Z: np.ndarray, mean: np.ndarray, linear: np.ndarray, offset: np.ndarray) -> MapState:
    coords = ((Z - mean) @ linear + offset).astype(np.float32)
    return MapState("pca", coords, mean, linear, offset)


def _update_pca(Z_new: np.ndarray, prev: MapState) -> MapState:
    fresh = _fit_pca(Z_new)
    _, R, s, t = _align_trimmed(fresh.coords.astype(np.float64), prev.coords)
    linear = s * fresh.linear @ R
    offset = s * fresh.offset @ R + t
    return _pca_state(Z_new, fresh.mean, linear, offset)


# --------------------------------------------------------------------------- UMAP


def _graph_knn(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-NN graph in umap-learn's layout: self first, int32 indices, float32 distances."""
    idx, dist = _knn(Z, Z, N_NEIGHBORS)
    return idx.astype(np.int32), dist.astype(np.float32)


_UMAP_IMPORT_LOCK = threading.Lock()


def _import_umap():
    """umap-learn, imported without compiling pynndescent at import time.

    umap imports pynndescent, whose numba kernels carry explicit signatures and so compile
    eagerly when the module loads: 11-13 s on two cores with an empty numba cache (most of
    a first start), although this module never calls pynndescent (the k-NN graph comes from
    scikit-learn). While pynndescent is imported, ``numba.njit`` drops such signatures, so
    its kernels compile on first call instead, numba's usual lazy way. umap-learn's own
    kernels keep theirs, and the maps are bit-identical (tests/test_projection.py).
    """
    if "pynndescent" not in sys.modules:
        with _UMAP_IMPORT_LOCK:
            if "pynndescent" not in sys.modules:
                import numba

                eager = numba.njit

                def lazy_njit(*args, **kwargs):
                    if args and not callable(args[0]):  # a signature: compile on first call
                        args = args[1:]
                    kwargs.pop("signature_or_function", None)
                    return eager(*args, **kwargs)

                numba.njit = lazy_njit
                try:
                    import pynndescent  # noqa: F401
                finally:
                    numba.njit = eager
    import umap

    return umap


def _fit_umap(Z: np.ndarray, seed: int, parallel: bool, n_epochs: int | None = None) -> MapState:
    umap = _import_umap()

    idx, dist = _graph_knn(Z)
    model = umap.UMAP(
        n_neighbors=idx.shape[1],
        min_dist=MIN_DIST,
        init="pca" if Z.shape[1] >= 2 else "random",
        n_epochs=n_epochs,
        n_jobs=-1 if parallel else 1,
        random_state=None if parallel else seed,
        precomputed_knn=(idx, dist),
    )
    # Without a pynndescent index umap-learn warns that transform() is unavailable; unused.
    warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
    coords = model.fit_transform(Z.astype(np.float32))
    return MapState("umap", np.asarray(coords, dtype=np.float32), knn=idx)


@lru_cache(maxsize=4)
def _ab_params(min_dist: float) -> tuple[float, float]:
    _import_umap()
    from umap.umap_ import find_ab_params

    a, b = find_ab_params(1.0, min_dist)
    return float(a), float(b)


def _refine(
    Z: np.ndarray,
    init: np.ndarray,
    n_epochs: int,
    seed: int,
    parallel: bool,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A short UMAP optimisation on the k-NN graph of Z, starting from ``init`` as is.

    ``knn``: the graph as (int32 indices, float32 distances), self first; None = exact.
    Unlike ``umap.UMAP(init=...)`` this does not rescale the start to a 10x10 box, so a
    converged layout stays where it is.
    """
    _import_umap()
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import fuzzy_simplicial_set, make_epochs_per_sample

    idx, dist = _graph_knn(Z) if knn is None else knn
    rng = np.random.RandomState(seed)
    graph, _, _ = fuzzy_simplicial_set(Z, idx.shape[1], rng, "euclidean", {}, idx, dist)
    graph = graph.tocoo()
    graph.sum_duplicates()
    graph.data[graph.data < graph.data.max() / max(n_epochs, 1)] = 0.0
    graph.eliminate_zeros()
    a, b = _ab_params(MIN_DIST)
    emb = np.ascontiguousarray(init, dtype=np.float32)
    rng_state = rng.randint(np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1, 3)
    return optimize_layout_euclidean(
        emb,
        emb,
        graph.row,
        graph.col,
        n_epochs,
        Z.shape[0],
        make_epochs_per_sample(graph.data, n_epochs),
        a,
        b,
        rng_state.astype(np.int64),
        initial_alpha=REFINE_LEARNING_RATE,
        parallel=parallel,
        move_other=True,
    )


def default_refine_epochs(n: int) -> int:
    """Refinement epochs ``update_map`` uses for n points when none are given."""
    return next((epochs for max_n, epochs in REFINE_SCHEDULE if n <= max_n), 0)


def _update_knn(
    Z_new: np.ndarray, Z_prev: np.ndarray, prev: MapState
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """By graph search along the previous map's graph (``graph_search.search``): the
    INIT_NEIGHBORS nearest previous latents of each new one (indices, distances), and the
    k-NN graph of Z_new (as ``_graph_knn`` returns it).

    How the search seeds and orders its walks is told in ``hill_dash.engine.graph_search``. A
    point whose search reaches too few rows (only with a malformed graph) gets the exact
    search.
    """
    n = Z_new.shape[0]
    graph = _check_graph(prev.knn, n)
    k_prev, k_new = min(INIT_NEIGHBORS, n), min(N_NEIGHBORS, n)
    idx, dist, g_idx, g_dist, short = graph_search.search(
        graph, Z_prev, Z_new, prev.coords, k_prev, k_new
    )
    if short:
        rows = np.flatnonzero((idx[:, -1] < 0) | (g_idx[:, -1] < 0))
        idx[rows], dist[rows] = _knn(Z_new[rows], Z_prev, k_prev)
        g_idx[rows], g_dist[rows] = _knn(Z_new[rows], Z_new, k_new)
    return idx, dist, (g_idx.astype(np.int32), g_dist.astype(np.float32))


def _update_umap(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    prev: MapState,
    seed: int,
    refine_epochs: int,
    parallel: bool,
) -> MapState:
    n = Z_new.shape[0]
    if prev.knn is not None:
        idx, dist, graph = _update_knn(Z_new, Z_prev, prev)
    else:  # a map stored without its graph: the exact search of earlier versions
        idx, dist = _knn(Z_new, Z_prev, INIT_NEIGHBORS)
        graph = None
    coords = _idw(idx, dist, prev.coords.astype(np.float64))
    if refine_epochs > 0 and n > N_NEIGHBORS:
        if graph is None:
            graph = _graph_knn(Z_new)
        coords = _refine(Z_new, coords, refine_epochs, seed, parallel=parallel, knn=graph)
    aligned, _, _, _ = _align_trimmed(coords, prev.coords)
    if graph is None:  # the first update of such a map keeps one: the next takes the fast path
        graph = _graph_knn(Z_new)
    return MapState("umap", aligned.astype(np.float32), knn=graph[0])


# --------------------------------------------------------------------------- public API


def fit_map(Z: np.ndarray, method: str, seed: int = 0, *, parallel: bool = False) -> MapState:
    """Fresh 2-D map of latents Z (n, d).

    PCA: two leading axes, ``linear`` = the axes as columns (d, 2), offset 0.
    UMAP: n_neighbors=15 (exact k-NN), min_dist=0.1, init="pca"; single-threaded and
    reproducible with ``random_state=seed``, or on all cores with ``parallel=True``.
    """
    _check_method(method)
    Z = _check_latents(Z)
    if method == "pca":
        return _fit_pca(Z)
    return _fit_umap(Z, seed, parallel)


def update_map(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    prev: MapState,
    seed: int = 0,
    refine_epochs: int | None = None,
    *,
    parallel: bool = False,
) -> MapState:
    """Map of Z_new aligned with ``prev`` (the map of Z_prev); rows are the same points.

    ``refine_epochs`` (UMAP only): None = ``default_refine_epochs(n)``; 0 = local transform
    and Procrustes only. ``parallel`` as in ``fit_map`` (for the refinement).
    """
    Z_new = _check_latents(Z_new, "Z_new")
    Z_prev = _check_latents(Z_prev, "Z_prev")
    n = prev.coords.shape[0]
    if Z_new.shape[0] != n or Z_prev.shape[0] != n:
        raise ValueError(
            f"update_map: Z_new has {Z_new.shape[0]} rows, Z_prev {Z_prev.shape[0]}, "
            f"prev.coords {n}; expected the same points in the same order"
        )
    if prev.method == "pca":
        return _update_pca(Z_new, prev)
    _check_method(prev.method)
    if Z_new.shape[1] != Z_prev.shape[1]:
        raise ValueError(f"update_map: Z_new has d={Z_new.shape[1]}, Z_prev d={Z_prev.shape[1]}")
    epochs = default_refine_epochs(n) if refine_epochs is None else int(refine_epochs)
    return _update_umap(Z_new, Z_prev, prev, seed, epochs, parallel)


def inverse_points(Q: np.ndarray, state: MapState, Z: np.ndarray, k: int = 10) -> np.ndarray:
    """Latent points (m, d) for 2-D points Q (m, 2) on the map of latents Z.

    PCA: exact, ``mean + (Q - offset) @ pinv(linear)`` (the least-norm preimage).
    UMAP: inverse-distance-weighted mean of the latents of the k nearest map points
    (a query on a map point returns that point's latent).
    """
    Q = np.atleast_2d(np.asarray(Q, dtype=np.float64))
    if state.method == "pca":
        return state.mean + (Q - state.offset) @ np.linalg.pinv(state.linear)
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape[0] != state.coords.shape[0]:
        raise ValueError(f"inverse_points: Z has {Z.shape[0]} rows, map {state.coords.shape[0]}")
    k = min(k, Z.shape[0])
    dist, idx = _coords_tree(state.coords).query(Q, k=k)
    return _idw(idx.reshape(len(Q), k), dist.reshape(len(Q), k), Z)


class _Keyed:
    """An array that hashes and compares by a digest of its contents (an lru_cache key)."""

    __slots__ = ("array", "key")

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array)
        digest = hashlib.blake2b(self.array.view(np.uint8).ravel(), digest_size=20).digest()
        self.key = (self.array.dtype.str, self.array.shape, digest)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and self.key == other.key


def _coords_tree(coords: np.ndarray):
    """A cKDTree of map coordinates, from a small cache keyed by their contents.

    A map's coordinates never change once stored, so the preview of every edit on the same
    map reuses one tree (building it costs ~20 ms at 70k points, the hash ~1 ms). Bounded
    by TREE_CACHE_SIZE maps; a changed array has another hash, so an entry cannot go stale.
    """
    keyed = _Keyed(coords)
    tree = _cached_tree(keyed)
    keyed.array = None  # the cache keeps the key (its digest) and the tree, not the array
    return tree


@lru_cache(maxsize=TREE_CACHE_SIZE)
def _cached_tree(coords: _Keyed):
    from scipy.spatial import cKDTree

    return cKDTree(np.array(coords.array, dtype=np.float64))  # a copy: the tree keeps it


def inverse_delta(
    delta: np.ndarray, state: MapState, Z: np.ndarray, centroid: np.ndarray, k: int = 10
) -> np.ndarray:
    """Latent translation (d,) for a 2-D translation ``delta`` of a selection at ``centroid``.

    PCA: ``delta @ pinv(linear)``, exact and independent of the centroid.
    UMAP: ``inverse_points(centroid + delta) - inverse_points(centroid)``.
    """
    delta = np.asarray(delta, dtype=np.float64).reshape(2)
    if state.method == "pca":
        return delta @ np.linalg.pinv(state.linear)
    centroid = np.asarray(centroid, dtype=np.float64).reshape(2)
    ends = inverse_points(np.stack([centroid + delta, centroid]), state, Z, k)
    return ends[0] - ends[1]


def warm_up_numba(parallel: bool = False) -> float:
    """Compile umap-learn's numba kernels on a tiny problem; return the seconds taken.

    Runs the code paths of ``fit_map``/``update_map`` with the given ``parallel`` setting
    (each setting compiles its own kernels). Safe to call from a background thread or
    process at app start.
    """
    start = time.perf_counter()
    Z = np.random.default_rng(0).normal(size=(200, 8))
    state = _fit_umap(Z, seed=0, parallel=parallel, n_epochs=10)  # + the update's graph search
    _update_umap(Z, Z, state, seed=0, refine_epochs=5, parallel=parallel)
    return time.perf_counter() - start


def configure_numba_cache(path: str | os.PathLike[str]) -> str:
    """Set ``NUMBA_CACHE_DIR`` to ``path`` (created) unless it is set; return the one in use.

    numba reads the variable when it is imported, so call this before importing umap.
    """
    current = os.environ.get("NUMBA_CACHE_DIR")
    if current:
        return current
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return str(path)
