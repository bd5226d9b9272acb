"""Nearest neighbours of a map update, found by walking the previous map's k-NN graph.

An exact all-pairs search costs O(n^2); this search costs O(n). For each point, a
best-first walk along the previous graph (a list of ``SEARCH_LIST`` candidates) starts
from the point's own row and from its nearest ``SEED_PIVOTS`` of ``SEARCH_PIVOTS`` evenly
strided points, in the previous and in the new latents, so a cluster that jumped onto
another one finds it, and is found. One walk gives both the nearest previous latents (to
place the point) and the new k-NN graph (for the refinement and the next update).
Deterministic and single-threaded; the kernel is compiled by numba and cached on disk.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SEARCH_LIST = 32  # candidates kept per query while walking the graph; larger: closer, slower
SEARCH_PIVOTS = 256  # evenly strided points a search may start from ...
SEED_PIVOTS = 2  # ... of which each query starts from its nearest few (in each space)
_ROW_CHUNK = 8192  # queries per block when seeding from the pivots (bounds memory)


def search(
    graph: np.ndarray,
    Z_prev: np.ndarray,
    Z_new: np.ndarray,
    coords_prev: np.ndarray,
    k_prev: int,
    k_new: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(idx, dist) of the k_prev nearest previous latents of each new one, (g_idx, g_dist)
    of its k_new nearest new latents, and how many points came up short (-1 / inf rows).

    ``graph`` is the previous map's k-NN graph, checked (int32 indices below n); points
    are searched in the previous map's order (``morton_order``), which keeps the rows
    one query touches in the CPU cache for the next.
    """
    n = Z_new.shape[0]
    graph = np.ascontiguousarray(graph)
    pair = np.ascontiguousarray(np.concatenate([Z_prev, Z_new], axis=1), dtype=np.float64)
    own = np.arange(n)[:, None]
    seeds = np.concatenate([own, pivot_seeds(Z_new, Z_prev), pivot_seeds(Z_new, Z_new)], 1)
    idx, dist = np.empty((n, k_prev), np.int64), np.empty((n, k_prev))
    g_idx, g_dist = np.empty((n, k_new), np.int64), np.empty((n, k_new))
    width = max(SEARCH_LIST, k_new)
    order = morton_order(coords_prev)
    short = _search_kernel()(
        graph, pair, order, seeds, k_prev, k_new, width, idx, dist, g_idx, g_dist
    )
    return idx, dist, g_idx, g_dist, int(short)


def _search_py(
    graph, pair, order, seeds, k_prev, k_new, width, prev_idx, prev_dist, new_idx, new_dist
):  # pragma: no cover - compiled by numba (``_search_kernel``)
    """Best-first search along ``graph`` for each point's nearest previous and new latents.

    ``pair`` is (n, 2d): the previous latents, then the new ones, side by side (one row
    fetch serves both distances). Query q is the new latent of point q, visited in
    ``order``. Two lists of the ``width`` best rows seen, sorted by distance: one by
    distance to the previous latents, one to the new. Both start with ``seeds[q]`` (-1 =
    none); then the best row of either list not yet expanded (the lists take turns)
    offers its graph neighbours, until every row in both lists has been expanded. Ties
    keep the order rows were found in. Writes the k best rows of each list and their
    Euclidean distances (-1 and inf where fewer were reached); returns how many points
    came up short. ``graph`` must index the rows (``projection.state.check_graph``).
    """
    n, d2 = pair.shape
    d = d2 // 2
    kg = graph.shape[1]
    n_seeds = seeds.shape[1]
    seen = np.full(n, -1, np.int64)  # the query that last computed the row's distances
    done = np.full(n, -1, np.int64)  # the query that last expanded the row
    pi = np.empty(width, np.int64)  # the list by distance to the previous latents
    pd = np.empty(width, np.float64)
    px = np.zeros(width, np.bool_)
    ni = np.empty(width, np.int64)  # the list by distance to the new latents
    nd = np.empty(width, np.float64)
    nx = np.zeros(width, np.bool_)
    short = 0
    for j in range(order.shape[0]):
        q = order[j]
        p_size = 0
        n_size = 0
        turn = 0
        v = -1  # row whose neighbours are offered; -1: the seeds
        while True:
            count = n_seeds if v < 0 else kg
            for e in range(count):
                c = seeds[q, e] if v < 0 else graph[v, e]
                if c < 0 or seen[c] == q:
                    continue
                seen[c] = q
                a2 = 0.0
                b2 = 0.0
                for t in range(d):
                    x = pair[q, d + t] - pair[c, t]
                    a2 += x * x
                    y = pair[q, d + t] - pair[c, d + t]
                    b2 += y * y
                if p_size < width or a2 < pd[p_size - 1]:
                    b = p_size if p_size < width else width - 1
                    while b > 0 and pd[b - 1] > a2:
                        pi[b] = pi[b - 1]
                        pd[b] = pd[b - 1]
                        px[b] = px[b - 1]
                        b -= 1
                    pi[b] = c
                    pd[b] = a2
                    px[b] = False
                    if p_size < width:
                        p_size += 1
                if n_size < width or b2 < nd[n_size - 1]:
                    b = n_size if n_size < width else width - 1
                    while b > 0 and nd[b - 1] > b2:
                        ni[b] = ni[b - 1]
                        nd[b] = nd[b - 1]
                        nx[b] = nx[b - 1]
                        b -= 1
                    ni[b] = c
                    nd[b] = b2
                    nx[b] = False
                    if n_size < width:
                        n_size += 1
            v = -1
            for attempt in range(2):
                if (turn + attempt) % 2 == 0:
                    for a in range(p_size):
                        if not px[a]:
                            px[a] = True
                            if done[pi[a]] != q:
                                v = pi[a]
                                break
                else:
                    for a in range(n_size):
                        if not nx[a]:
                            nx[a] = True
                            if done[ni[a]] != q:
                                v = ni[a]
                                break
                if v >= 0:
                    break
            if v < 0:
                break
            done[v] = q
            turn = 1 - turn
        if p_size < k_prev or n_size < k_new:
            short += 1
        for a in range(k_prev):
            prev_idx[q, a] = pi[a] if a < p_size else -1
            prev_dist[q, a] = np.sqrt(pd[a]) if a < p_size else np.inf
        for a in range(k_new):
            new_idx[q, a] = ni[a] if a < n_size else -1
            new_dist[q, a] = np.sqrt(nd[a]) if a < n_size else np.inf
    return short


@lru_cache(maxsize=1)
def _search_kernel():
    """``_search_py`` compiled (once per process; cached on disk by numba)."""
    import numba

    # reassoc/contract vectorise the distance sums; no nnan/ninf: -1/inf fill short rows
    fastmath = {"reassoc", "contract", "nsz", "arcp"}
    return numba.njit(cache=True, nogil=True, fastmath=fastmath)(_search_py)


def pivot_seeds(queries: np.ndarray, data: np.ndarray) -> np.ndarray:
    """(m, SEED_PIVOTS) int64: each query's nearest of SEARCH_PIVOTS evenly strided rows."""
    n = data.shape[0]
    pivots = np.unique(np.linspace(0, n - 1, min(n, SEARCH_PIVOTS)).round().astype(np.int64))
    per = min(SEED_PIVOTS, len(pivots))
    P = data[pivots]
    pp = np.einsum("ij,ij->i", P, P)
    seeds = np.empty((len(queries), per), np.int64)
    for start in range(0, len(queries), _ROW_CHUNK):
        rows = slice(start, start + _ROW_CHUNK)
        d2 = pp - 2.0 * (queries[rows] @ P.T)  # |q - p|^2 - |q|^2: the same order within a row
        every = np.arange(d2.shape[0])
        for s in range(per):  # a few argmins: several times faster than argpartition here
            best = d2.argmin(axis=1)
            seeds[rows, s] = pivots[best]
            d2[every, best] = np.inf
    return seeds


def morton_order(coords: np.ndarray, bits: int = 16) -> np.ndarray:
    """Indices that sort 2-D points along a Z-order curve: neighbours on the map end up
    close together in the order."""
    c = np.asarray(coords, dtype=np.float64)
    span = float(np.ptp(c, axis=0).max()) if len(c) else 0.0
    q = ((c - c.min(axis=0)) / (span or 1.0) * (2**bits - 1)).astype(np.uint64)
    key = np.zeros(len(c), np.uint64)
    one = np.uint64(1)
    for b in range(bits):
        key |= ((q[:, 0] >> np.uint64(b)) & one) << np.uint64(2 * b)
        key |= ((q[:, 1] >> np.uint64(b)) & one) << np.uint64(2 * b + 1)
    return np.argsort(key, kind="stable")
