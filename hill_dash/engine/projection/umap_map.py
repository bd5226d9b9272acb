"""UMAP maps: a fresh fit, and an update that shows where the latents moved.

A fit runs umap-learn (n_neighbors=15, min_dist=0.1, init="pca") on the fitted rows with
an exact k-NN graph from scikit-learn, keeps that graph for the next update, and stores
the map's linear surrogate (``placement.surrogate``). Rows past ``fitted`` (the locked
test split) are placed on the finished map and never shape it.

An update (the next checkpoint, same points):

1. takes out a global similarity transform of the latents (trimmed Procrustes onto the
   previous latents, fitted on the ``steady`` rows when the caller knows which points an
   edit moved), so a shift, rotation or scaling of the whole layer moves nothing;
2. finds each point's nearest previous latents by walking the previous map's k-NN graph
   (``graph_search``), which also gives the new graph;
3. carries each point over (``placement.carry``): from those neighbours' previous
   coordinates where it landed among previous points, from its own spot plus its latent
   displacement through the map's linear surrogate where it moved off them; a point that
   did not move keeps its spot exactly, and a cluster moved into a region where nothing
   was before lands there;
4. refines with a short warm-started UMAP optimisation on the new graph (small maps;
   ``REFINE_SCHEDULE``), then aligns onto the previous map (trimmed 2-D Procrustes, so
   one moved cluster does not drag the rest along). The rows an edit selected (all
   but ``steady``, and ``transported``) keep their carried spot through the refinement:
   the optimisation pulls a cluster moved a short way back toward its old neighbours
   (a near move on digits showed 0.47 of the way where its latents went 0.88; 0.83 with
   the rows kept) and tightens clusters by itself (a compact's unguided lineage read
   1.25 of the request on the map against 0.28 in latent space; 0.55 kept).

Threads: single-threaded with ``random_state=seed`` by default (reproducible, and robust
when training shares the cores); ``parallel=True`` uses numba threads, not reproducible.
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache

import numpy as np

import hill_dash.engine.projection.graph_search as graph_search
from hill_dash.engine.projection.align import align_trimmed
from hill_dash.engine.projection.neighbours import nearest
from hill_dash.engine.projection.placement import PLACE_NEIGHBORS, carry, place, surrogate
from hill_dash.engine.projection.state import MapState, check_graph
from hill_dash.engine.projection.umap_import import import_umap

N_NEIGHBORS = 15  # UMAP graph neighbours (self included, as umap-learn counts them)
MIN_DIST = 0.1
# Default refinement epochs by size, (max n, epochs); above the last n: none. Chosen so an
# update stays >= 10x cheaper than a fresh fit (measured on two cores).
REFINE_SCHEDULE = ((2_000, 20), (5_000, 10))
REFINE_LEARNING_RATE = 0.25  # low: the start is already a converged layout
# the rows an edit selected keep their carried spot through the refinement (step 4 above);
# False only to measure what the refinement did to them (bench_edits --set)
PIN_EDITED = True


def default_refine_epochs(n: int) -> int:
    """Refinement epochs an update uses for n points when none are given."""
    return next((epochs for max_n, epochs in REFINE_SCHEDULE if n <= max_n), 0)


def graph_knn(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-NN graph in umap-learn's layout: self first, int32 indices, float32 distances."""
    idx, dist = nearest(Z, Z, N_NEIGHBORS)
    return idx.astype(np.int32), dist.astype(np.float32)


def fit_umap(
    Z: np.ndarray, seed: int, parallel: bool, fitted: int, n_epochs: int | None = None
) -> MapState:
    umap = import_umap()
    Zf = Z[:fitted]
    idx, dist = graph_knn(Zf)
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
    coords = np.asarray(model.fit_transform(Zf.astype(np.float32)), dtype=np.float64)
    return _finish(Z, coords, idx, fitted)


def update_umap(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    prev: MapState,
    seed: int,
    refine_epochs: int,
    parallel: bool,
    fitted: int,
    steady: np.ndarray | None = None,
    transported: np.ndarray | None = None,
) -> MapState:
    Zn, Zp = Z_new[:fitted], Z_prev[:fitted]
    # the new latents with a global similarity transform taken out, fitted on `steady` rows
    moved = align_trimmed(Zn, Zp, rows=steady)[0]
    prev_coords = prev.coords[:fitted].astype(np.float64)
    prev_linear = prev.linear if prev.linear is not None else surrogate(Zp, prev_coords)[1]
    if prev.knn is not None:
        near, graph = _search(moved, Zp, prev_coords, prev.knn)
    else:  # a map stored without its graph: the exact search of earlier versions
        near, graph = nearest(moved, Zp, PLACE_NEIGHBORS), None
    coords = carry(moved, Zp, prev_coords, prev_linear, near, steady, transported)
    if refine_epochs > 0 and fitted > N_NEIGHBORS:
        graph = graph or graph_knn(moved)
        carried = coords
        coords = _refine(moved, coords, refine_epochs, seed, parallel, graph)
        if PIN_EDITED:
            rows = _edited(fitted, steady, transported)
            coords[rows] = carried[rows]
    coords = align_trimmed(coords, prev_coords, rows=steady)[0]
    graph = graph or graph_knn(moved)
    return _finish(Z_new, coords, graph[0], fitted)


def _edited(fitted: int, steady: np.ndarray | None, transported: np.ndarray | None) -> np.ndarray:
    """The fitted rows an edit selected: all but the steady ones, and the dragged ones."""
    rows = np.zeros(fitted, dtype=bool)
    if steady is not None:
        rows[:] = True
        rows[np.asarray(steady, dtype=np.int64)] = False
    if transported is not None:
        dragged = np.asarray(transported, dtype=np.int64)
        rows[dragged[dragged < fitted]] = True
    return np.flatnonzero(rows)


def _finish(Z: np.ndarray, coords_fit: np.ndarray, knn: np.ndarray, fitted: int) -> MapState:
    """The map of all rows: the fitted rows' coordinates, the rest placed on them."""
    mean, linear, offset = surrogate(Z[:fitted], coords_fit)
    coords = coords_fit
    if fitted < len(Z):
        rest = place(Z[fitted:], Z[:fitted], coords_fit, linear)
        coords = np.concatenate([coords_fit, rest])
    return MapState(
        "umap",
        coords.astype(np.float32),
        mean,
        linear,
        offset,
        knn=knn,
        fitted=None if fitted >= len(Z) else fitted,
    )


def _search(moved: np.ndarray, Z_prev: np.ndarray, prev_coords: np.ndarray, knn: np.ndarray):
    """((indices, distances) of each point's nearest previous latents, the new k-NN graph).

    By walking the previous map's graph (``graph_search.search``); a point whose walk
    reaches too few rows (only with a malformed graph) gets the exact search.
    """
    n = moved.shape[0]
    graph = check_graph(knn, n)
    k_prev, k_new = min(PLACE_NEIGHBORS, n), min(N_NEIGHBORS, n)
    idx, dist, g_idx, g_dist, short = graph_search.search(
        graph, Z_prev, moved, prev_coords, k_prev, k_new
    )
    if short:
        rows = np.flatnonzero((idx[:, -1] < 0) | (g_idx[:, -1] < 0))
        idx[rows], dist[rows] = nearest(moved[rows], Z_prev, k_prev)
        g_idx[rows], g_dist[rows] = nearest(moved[rows], moved, k_new)
    return (idx, dist), (g_idx.astype(np.int32), g_dist.astype(np.float32))


@lru_cache(maxsize=4)
def _ab_params(min_dist: float) -> tuple[float, float]:
    import_umap()
    from umap.umap_ import find_ab_params

    a, b = find_ab_params(1.0, min_dist)
    return float(a), float(b)


def _refine(
    Z: np.ndarray,
    init: np.ndarray,
    n_epochs: int,
    seed: int,
    parallel: bool,
    knn: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """A short UMAP optimisation on the k-NN graph of Z, starting from ``init`` as is.

    Unlike ``umap.UMAP(init=...)`` this does not rescale the start to a 10x10 box, so a
    converged layout stays where it is.
    """
    import_umap()
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import fuzzy_simplicial_set, make_epochs_per_sample

    idx, dist = knn
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
    ).astype(np.float64)


def warm_up_numba(parallel: bool = False) -> float:
    """Compile umap-learn's numba kernels on a tiny problem; return the seconds taken.

    Runs the code paths of a fit and an update with the given ``parallel`` setting (each
    setting compiles its own kernels). Safe to call from a background thread or process.
    """
    start = time.perf_counter()
    Z = np.random.default_rng(0).normal(size=(200, 8))
    state = fit_umap(Z, seed=0, parallel=parallel, fitted=200, n_epochs=10)
    update_umap(Z, Z, state, seed=0, refine_epochs=5, parallel=parallel, fitted=200)
    return time.perf_counter() - start
