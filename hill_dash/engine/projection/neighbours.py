"""Nearest neighbours and inverse-distance weighting: the one helper every map part uses.

``nearest`` finds the k nearest reference points of each query with scikit-learn's
``NearestNeighbors`` and returns float64 distances recomputed exactly (the GEMM shortcut
of a brute search is not exact, and an unmoved point must hit distance 0). ``idw``
averages values over those neighbours; an exact hit takes that point's value. For the
2-D map, where the same coordinates are searched on every preview request, ``map_index``
keeps a few fitted search trees keyed by a digest of the coordinates.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from sklearn.neighbors import NearestNeighbors

INDEX_CACHE_SIZE = 4  # 2-D search trees kept (one per recently used map)
_ROW_CHUNK = 8192  # rows per block when gathering neighbour latents (bounds memory)


def nearest(
    queries: np.ndarray, points: np.ndarray, k: int, index: NearestNeighbors | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(indices (m, k), exact distances (m, k)) of the k nearest ``points`` of each query."""
    queries = np.asarray(queries, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    k = min(k, points.shape[0])
    if index is None:
        algorithm = "brute" if points.shape[1] > 3 else "auto"
        index = NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(points.astype(np.float32))
        queries_for_index = queries.astype(np.float32)
    else:
        queries_for_index = queries
    _, idx = index.kneighbors(queries_for_index, n_neighbors=k)
    dist = np.empty(idx.shape)
    for start in range(0, len(idx), _ROW_CHUNK):
        rows = slice(start, start + _ROW_CHUNK)
        dist[rows] = np.linalg.norm(points[idx[rows]] - queries[rows, None, :], axis=2)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)


def idw(idx: np.ndarray, dist: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Inverse-distance-weighted mean of ``values[idx]``; an exact hit takes that value."""
    return np.einsum("mk,mk...->m...", idw_weights(dist), np.asarray(values)[idx])


def idw_weights(dist: np.ndarray) -> np.ndarray:
    """Rows of inverse-distance weights summing to 1 (an exact hit takes all the weight)."""
    hit = dist <= 0.0
    weights = np.where(hit.any(axis=1, keepdims=True), hit, 1.0 / np.maximum(dist, 1e-300))
    return weights / weights.sum(axis=1, keepdims=True)


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


def map_index(coords: np.ndarray) -> NearestNeighbors:
    """A fitted 2-D search tree of map coordinates, from a small cache keyed by content.

    A stored map never changes, so the preview of every edit on the same map reuses one
    tree (building it costs ~20 ms at 70k points, the digest ~1 ms). A changed array has
    another digest, so an entry cannot go stale.
    """
    keyed = _Keyed(np.asarray(coords, dtype=np.float64))
    index = _cached_index(keyed)
    keyed.array = None  # the cache keeps the key (its digest) and the tree, not the array
    return index


@lru_cache(maxsize=INDEX_CACHE_SIZE)
def _cached_index(coords: _Keyed) -> NearestNeighbors:
    return NearestNeighbors(algorithm="kd_tree").fit(np.array(coords.array))
