"""Tests for hill_dash.engine.projection: exact PCA maps, local UMAP inverses, aligned updates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.spatial import procrustes
from sklearn.datasets import make_blobs
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from hill_dash.engine import projection as proj
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import graph_search, neighbours, placement, umap_map
from hill_dash.engine.projection.neighbours import nearest
from hill_dash.engine.projection.umap_map import graph_knn

N, D, CENTERS = 600, 32, 6


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Well-separated blobs in 32-d: latents Z (600, 32) and blob labels."""
    Z, y = make_blobs(N, n_features=D, centers=CENTERS, cluster_std=1.0, random_state=0)
    return Z, y


@pytest.fixture(scope="module")
def pca_state(blobs) -> proj.MapState:
    return proj.fit_map(blobs[0], "pca")


@pytest.fixture(scope="module")
def umap_state(blobs) -> proj.MapState:
    assert proj.warm_up_numba() >= 0.0
    return proj.fit_map(blobs[0], "umap", seed=0)


def _noisy(Z: np.ndarray, scale: float, seed: int = 1) -> np.ndarray:
    return Z + np.random.default_rng(seed).normal(scale=scale * Z.std(), size=Z.shape)


def _affine(state: proj.MapState, Z: np.ndarray) -> np.ndarray:
    return (Z - state.mean) @ state.linear + state.offset


def _assert_exact_affine(state: proj.MapState, Z: np.ndarray) -> None:
    assert state.coords.dtype == np.float32 and state.coords.shape == (len(Z), 2)
    scale = np.abs(state.coords).max()
    np.testing.assert_allclose(state.coords, _affine(state, Z), rtol=0, atol=1e-6 * scale)


# --------------------------------------------------------------------------- PCA


def test_pca_coords_are_exact_affine_function(pca_state, blobs):
    Z = blobs[0]
    _assert_exact_affine(pca_state, Z)
    assert pca_state.linear.shape == (D, 2) and pca_state.mean.shape == (D,)
    np.testing.assert_allclose(pca_state.linear.T @ pca_state.linear, np.eye(2), atol=1e-12)


def test_pca_inverse_points_reprojects_to_same_coords(pca_state, blobs):
    Z = blobs[0]
    X = proj.inverse_points(pca_state.coords, pca_state, Z)
    assert X.shape == Z.shape
    np.testing.assert_allclose(_affine(pca_state, X), pca_state.coords, atol=1e-5)
    W = pca_state.linear  # the inverse is the PCA reconstruction of Z
    reconstruction = pca_state.mean + (Z - pca_state.mean) @ W @ W.T
    np.testing.assert_allclose(X, reconstruction, atol=1e-4)


def test_pca_inverse_delta_is_exact_and_centroid_free(pca_state, blobs):
    Z = blobs[0]
    delta = np.array([3.0, -1.5])
    dz = proj.inverse_delta(delta, pca_state, Z, centroid=np.array([0.0, 0.0]))
    np.testing.assert_array_equal(dz, delta @ np.linalg.pinv(pca_state.linear))
    other = proj.inverse_delta(delta, pca_state, Z, centroid=np.array([50.0, -7.0]))
    np.testing.assert_array_equal(dz, other)
    moved = _affine(pca_state, Z + dz) - _affine(pca_state, Z)
    np.testing.assert_allclose(moved, np.broadcast_to(delta, moved.shape), atol=1e-5)


def test_pca_update_follows_a_slightly_rotated_latent_space(pca_state, blobs):
    Z = blobs[0]
    skew = np.random.default_rng(2).normal(size=(D, D))
    Z2 = _noisy(Z @ expm(0.02 * (skew - skew.T)), 1e-3)
    updated = proj.update_map(Z2, Z, pca_state)
    _assert_exact_affine(updated, Z2)
    assert proj.procrustes_disparity(pca_state.coords, updated.coords) <= 0.05
    drift = np.linalg.norm(updated.coords - pca_state.coords, axis=1).mean()
    assert drift <= 0.05 * pca_state.coords.std()


def test_pca_update_undoes_a_flip_that_a_fresh_fit_shows(pca_state, blobs):
    Z = blobs[0]
    Z2 = _noisy(-Z, 1e-3)  # the same shape, mirrored: a fresh fit mirrors the map
    fresh = proj.fit_map(Z2, "pca")
    updated = proj.update_map(Z2, Z, pca_state)
    _assert_exact_affine(updated, Z2)
    fresh_move = np.linalg.norm(fresh.coords - pca_state.coords, axis=1).mean()
    update_move = np.linalg.norm(updated.coords - pca_state.coords, axis=1).mean()
    assert fresh_move > 10 * update_move
    assert proj.procrustes_disparity(pca_state.coords, updated.coords) <= 0.05


# --------------------------------------------------------------------------- UMAP


def test_umap_fit_preserves_neighbourhoods(umap_state, blobs):
    Z = blobs[0]
    assert umap_state.method == "umap" and umap_state.coords.dtype == np.float32
    assert umap_state.coords.shape == (N, 2)
    assert trustworthiness(Z, umap_state.coords, n_neighbors=10) >= 0.9


def test_umap_fit_keeps_its_ridge_linear_surrogate(umap_state, blobs):
    """A UMAP map carries an affine part too: the ridge least-squares map Z -> coords.

    It is not exact (UMAP is not linear), but it explains most of the layout of blobs,
    and it solves the ridge normal equations (Zc'Zc + lam I) L = Zc'(C - offset) with
    lam = RIDGE * trace(Zc'Zc) / d, the mean variance of the latents times n.
    """
    Z = blobs[0]
    C = umap_state.coords.astype(np.float64)
    assert umap_state.linear.shape == (D, 2) and umap_state.offset.shape == (2,)
    np.testing.assert_allclose(umap_state.mean, Z.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(umap_state.offset, C.mean(axis=0), rtol=1e-5, atol=1e-5)
    Zc = Z - umap_state.mean
    lam = placement.RIDGE * np.trace(Zc.T @ Zc) / D
    gradient = Zc.T @ (C - umap_state.offset - Zc @ umap_state.linear)
    scale = np.abs(lam * umap_state.linear).max()
    np.testing.assert_allclose(gradient, lam * umap_state.linear, atol=1e-4 * scale)
    r2 = 1 - ((C - _affine(umap_state, Z)) ** 2).sum() / ((C - C.mean(axis=0)) ** 2).sum()
    assert 0.7 <= r2 < 1.0  # most of the layout, not all of it


def test_umap_fit_is_reproducible_with_a_seed(blobs):
    Z = blobs[0][:300]
    a, b = proj.fit_map(Z, "umap", seed=3), proj.fit_map(Z, "umap", seed=3)
    np.testing.assert_array_equal(a.coords, b.coords)


def test_umap_inverse_points_lands_among_latent_neighbours(umap_state, blobs):
    Z = blobs[0]
    exact = proj.inverse_points(umap_state.coords, umap_state, Z)
    np.testing.assert_array_equal(exact, Z)  # a map point returns its own latent
    map_gap = NearestNeighbors(n_neighbors=2).fit(umap_state.coords)
    step = 0.5 * np.median(map_gap.kneighbors(umap_state.coords)[0][:, 1])
    angle = np.random.default_rng(3).uniform(0, 2 * np.pi, N)
    Q = umap_state.coords + step * np.c_[np.cos(angle), np.sin(angle)]
    X = proj.inverse_points(Q, umap_state, Z)
    r10 = NearestNeighbors(n_neighbors=11).fit(Z).kneighbors(Z)[0][:, 10]
    assert np.mean(np.linalg.norm(X - Z, axis=1) <= r10) >= 0.9


def test_umap_inverse_delta_goes_through_the_surrogate(umap_state, blobs):
    """A move's latent shift is the least-norm preimage of the arrow under the map's linear
    surrogate: the surrogate maps it back onto the arrow, wherever the selection sits."""
    Z = blobs[0]
    centroid = umap_state.coords[:50].mean(axis=0)
    delta = np.array([2.0, 1.0])
    dz = proj.inverse_delta(delta, umap_state, Z, centroid)
    np.testing.assert_allclose(dz @ umap_state.linear, delta, atol=1e-9)
    elsewhere = proj.inverse_delta(delta, umap_state, Z, centroid + 5.0)
    np.testing.assert_allclose(dz, elsewhere)
    assert not np.any(proj.inverse_delta(np.zeros(2), umap_state, Z, centroid))


def test_umap_update_is_stable_when_latents_barely_move(umap_state, blobs):
    Z = blobs[0]
    updated = proj.update_map(_noisy(Z, 1e-3), Z, umap_state)
    assert updated.method == "umap" and updated.coords.dtype == np.float32
    assert proj.procrustes_disparity(umap_state.coords, updated.coords) <= 0.05
    local = proj.update_map(_noisy(Z, 1e-3), Z, umap_state, refine_epochs=0)
    assert proj.procrustes_disparity(umap_state.coords, local.coords) <= 1e-4


def test_umap_update_is_reproducible(umap_state, blobs):
    Z = blobs[0]
    Z2 = _noisy(Z, 0.05)
    first, again = (proj.update_map(Z2, Z, umap_state, seed=7) for _ in range(2))
    np.testing.assert_array_equal(first.coords, again.coords)


def test_umap_update_moves_a_moved_cluster_and_not_the_rest(umap_state, blobs):
    Z, y = blobs
    moved = y == 0
    target = Z[y == 1].mean(axis=0)
    Z2 = Z.copy()
    Z2[moved] += 0.8 * (target - Z[moved].mean(axis=0))
    for epochs in (None, 0):
        updated = proj.update_map(Z2, Z, umap_state, refine_epochs=epochs)
        shift = np.linalg.norm(updated.coords - umap_state.coords, axis=1)
        assert shift[moved].mean() > 3 * shift[~moved].mean()


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact neighbours (rows of indices) that ``found`` has too."""
    return float((np.sort(found, 1)[:, :, None] == exact[:, None, :]).any(1).mean())


def test_umap_fit_keeps_its_exact_knn_graph(umap_state, blobs):
    Z = blobs[0]
    knn = umap_state.knn
    assert knn.dtype == np.int32 and knn.shape == (N, proj.N_NEIGHBORS)
    np.testing.assert_array_equal(knn[:, 0], np.arange(N))  # each point first in its row
    exact = NearestNeighbors(n_neighbors=proj.N_NEIGHBORS).fit(Z).kneighbors(Z)[1]
    assert _recall(knn, exact) == 1.0


def test_umap_update_does_not_search_all_pairs(umap_state, blobs, monkeypatch):
    """With the previous graph the update walks it: no exact k-NN search at all."""

    def no_exact(*args, **kwargs):
        raise AssertionError("the update ran an exact all-pairs k-NN search")

    for module in (neighbours, placement, umap_map):  # graph_knn and the fallback use it
        monkeypatch.setattr(module, "nearest", no_exact)
    Z = blobs[0]
    for epochs in (0, None):  # the refinement takes the new graph from the search too
        updated = proj.update_map(_noisy(Z, 1e-3), Z, umap_state, refine_epochs=epochs)
        assert updated.knn.shape == (N, proj.N_NEIGHBORS) and updated.knn.dtype == np.int32


def _search(Z_new: np.ndarray, Z_prev: np.ndarray, state: proj.MapState):
    """The update's graph search: ((idx, dist) among Z_prev, (g_idx, g_dist) among Z_new)."""
    return umap_map._search(Z_new, Z_prev, state.coords.astype(np.float64), state.knn)


def test_umap_update_finds_the_exact_neighbours_when_latents_barely_move(umap_state, blobs):
    Z = blobs[0]
    Z2 = _noisy(Z, 0.01)
    (idx, dist), (g_idx, g_dist) = _search(Z2, Z, umap_state)
    exact_idx, exact_dist = nearest(Z2, Z, proj.PLACE_NEIGHBORS)
    assert _recall(idx, exact_idx) >= 0.99
    np.testing.assert_allclose(dist[:, 0], exact_dist[:, 0], rtol=1e-9)
    assert np.all(np.diff(dist, axis=1) >= 0)
    exact_graph = graph_knn(Z2)[0]
    assert _recall(g_idx, exact_graph) >= 0.98
    np.testing.assert_array_equal(g_idx[:, 0], np.arange(N))
    assert g_idx.dtype == np.int32 and g_dist.dtype == np.float32


def test_umap_update_finds_a_cluster_that_jumped_to_another_blob(umap_state, blobs):
    """The moved points' nearest previous latents are in another blob, unconnected to
    theirs in the graph: the pivot starts find them."""
    Z, y = blobs
    moved = y == 0
    Z2 = Z.copy()
    Z2[moved] += Z[y == 1].mean(axis=0) - Z[moved].mean(axis=0)  # right into blob 1
    (idx, _), (g_idx, _) = _search(Z2, Z, umap_state)
    assert np.all(y[idx[moved]] == 1)  # all 10 among the previous latents of blob 1
    assert _recall(idx, nearest(Z2, Z, proj.PLACE_NEIGHBORS)[0]) >= 0.99
    assert _recall(g_idx, graph_knn(Z2)[0]) >= 0.95


def test_umap_update_with_graph_matches_the_exact_path(umap_state, blobs):
    Z = blobs[0]
    Z2 = _noisy(Z, 0.01)
    legacy = dataclasses.replace(umap_state, knn=None)
    fast = proj.update_map(Z2, Z, umap_state, seed=3, refine_epochs=0)
    exact = proj.update_map(Z2, Z, legacy, seed=3, refine_epochs=0)
    assert proj.procrustes_disparity(fast.coords, exact.coords) <= 1e-6
    # refined: the search moves the map no more than another seed of the exact path does
    fast = proj.update_map(Z2, Z, umap_state, seed=3)
    exact, other_seed = (proj.update_map(Z2, Z, legacy, seed=s) for s in (3, 4))
    noise = proj.procrustes_disparity(exact.coords, other_seed.coords)
    assert proj.procrustes_disparity(fast.coords, exact.coords) <= max(2 * noise, 1e-4)


def test_map_without_graph_loads_and_updates_by_the_exact_search(
    umap_state, blobs, tmp_path, monkeypatch
):
    """A map stored before the graph (and the surrogate) was kept: the exact search and a
    surrogate fitted on the spot, then the graph and the surrogate for next time."""
    Z = blobs[0]
    Z2 = _noisy(Z, 1e-3)
    old_keys = ("method", "coords")
    arrays = {k: v for k, v in umap_state.to_arrays().items() if k in old_keys}
    np.savez(tmp_path / "old.npz", Z=Z.astype(np.float32), **arrays)
    with np.load(tmp_path / "old.npz", allow_pickle=False) as loaded:
        old = proj.MapState.from_arrays(loaded)
    assert old.knn is None and old.linear is None

    def no_walk(*args, **kwargs):
        raise AssertionError("a map without a graph was updated by walking a graph")

    monkeypatch.setattr(graph_search, "search", no_walk)
    updated = proj.update_map(Z2, Z, old, refine_epochs=0)
    # the exact path, step by step: align the latents, exact neighbours, carry, align
    prev = old.coords.astype(np.float64)
    moved = proj.align_trimmed(Z2, Z)[0]
    near = nearest(moved, Z, proj.PLACE_NEIGHBORS)
    carried = placement.carry(moved, Z, prev, proj.surrogate(Z, prev)[1], near)
    expected = proj.align_trimmed(carried, prev)[0]
    np.testing.assert_array_equal(updated.coords, expected.astype(np.float32))
    np.testing.assert_array_equal(updated.knn[:, 0], np.arange(N))
    assert _recall(updated.knn, graph_knn(Z2)[0]) >= 0.999
    assert updated.linear.shape == (D, 2)
    refined = proj.update_map(Z2, Z, old)
    assert proj.procrustes_disparity(old.coords, refined.coords) <= 0.05
    assert refined.knn.shape == (N, proj.N_NEIGHBORS)


def test_umap_update_with_a_degenerate_graph_falls_back_to_exact(umap_state, blobs):
    """A graph that reaches too few points (every row the same point) cannot give k
    neighbours: those points get the exact search instead of garbage."""
    Z = blobs[0]
    Z2 = _noisy(Z, 1e-3)
    bad = dataclasses.replace(umap_state, knn=np.zeros_like(umap_state.knn))
    (idx, dist), (g_idx, _) = _search(Z2, Z, bad)
    exact_idx, exact_dist = nearest(Z2, Z, proj.PLACE_NEIGHBORS)
    assert (idx >= 0).all() and (g_idx >= 0).all()
    assert _recall(idx, exact_idx) >= 0.99
    np.testing.assert_allclose(dist, exact_dist, rtol=1e-9)


def test_update_rejects_a_graph_that_does_not_fit(umap_state, blobs):
    Z = blobs[0]
    for knn in (umap_state.knn[:-1], umap_state.knn + N, umap_state.knn.astype(np.float64)):
        with pytest.raises(ValueError, match="knn"):
            proj.update_map(Z, Z, dataclasses.replace(umap_state, knn=knn))


def test_umap_updates_chain_along_their_own_graphs(umap_state, blobs):
    """Each update keeps the graph the next one walks; a few chunks of drift stay stable."""
    Z = blobs[0]
    state, Z_prev = umap_state, Z
    for step in range(1, 4):
        Z_next = _noisy(Z_prev, 0.01, seed=step)
        state_next = proj.update_map(Z_next, Z_prev, state, refine_epochs=0)
        assert _recall(state_next.knn, graph_knn(Z_next)[0]) >= 0.98
        assert proj.procrustes_disparity(state.coords, state_next.coords) <= 0.05
        state, Z_prev = state_next, Z_next


def test_update_checks_that_rows_match(umap_state, blobs):
    Z = blobs[0]
    with pytest.raises(ValueError, match="same points"):
        proj.update_map(Z[:-1], Z, umap_state)


# --------------------------------------------------------------------------- helpers


def test_procrustes_disparity_matches_scipy():
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    assert proj.procrustes_disparity(A, B) == pytest.approx(procrustes(A, B)[2], abs=1e-12)
    assert proj.procrustes_disparity(A, 3 * A @ np.array([[0, 1], [1, 0]]) + 5) < 1e-12


def test_align_to_recovers_a_similarity_transform():
    rng = np.random.default_rng(5)
    coords = rng.normal(size=(50, 2))
    theta = 0.7
    R0 = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) @ np.diag(
        [1, -1]
    )
    target = 2.5 * coords @ R0 + np.array([4.0, -1.0])
    aligned, R, s, t = proj.align_to(coords, target)
    np.testing.assert_allclose(aligned, target, atol=1e-10)
    np.testing.assert_allclose(R, R0, atol=1e-10)
    assert s == pytest.approx(2.5) and np.allclose(t, [4.0, -1.0])


def test_map_state_round_trips_through_npz(pca_state, umap_state, tmp_path):
    for state in (pca_state, umap_state):
        arrays = state.to_arrays()
        assert all(a.dtype != object for a in arrays.values())
        assert arrays["method"].dtype.kind == "U"
        path = tmp_path / f"{state.method}.npz"
        np.savez(path, **arrays)
        with np.load(path, allow_pickle=False) as loaded:
            back = proj.MapState.from_arrays(loaded)
        assert back.method == state.method
        np.testing.assert_array_equal(back.coords, state.coords)
        for key in ("mean", "linear", "offset", "knn"):
            original, restored = getattr(state, key), getattr(back, key)
            assert (original is None) == (restored is None)
            if original is not None:
                np.testing.assert_array_equal(restored, original)


def test_from_arrays_rejects_malformed_input(pca_state):
    arrays = pca_state.to_arrays()
    with pytest.raises(StoreError, match="method"):
        proj.MapState.from_arrays({**arrays, "method": np.array("tsne")})
    with pytest.raises(StoreError, match="linear"):
        proj.MapState.from_arrays({k: v for k, v in arrays.items() if k != "linear"})
    with pytest.raises(StoreError, match="offset"):
        proj.MapState.from_arrays({**arrays, "offset": np.zeros(3)})
    with pytest.raises(StoreError, match="coords"):
        proj.MapState.from_arrays({"method": np.array("umap")})


def test_from_arrays_rejects_a_malformed_graph(umap_state):
    arrays = umap_state.to_arrays()
    assert arrays["knn"].dtype == np.int32
    n = len(umap_state.coords)
    for knn in (arrays["knn"][:-1], arrays["knn"] - 1, arrays["knn"] + 1, np.zeros((n, 3))):
        with pytest.raises(StoreError, match="knn"):
            proj.MapState.from_arrays({**arrays, "knn": knn})
    back = proj.MapState.from_arrays({**arrays, "knn": arrays["knn"].astype(np.int64)})
    assert back.knn.dtype == np.int32


def test_inverse_points_reuses_one_tree_per_map(umap_state, blobs):
    Z = blobs[0]
    from scipy.spatial import cKDTree

    def on(coords: np.ndarray) -> proj.MapState:  # the same map (and surrogate), moved
        return dataclasses.replace(umap_state, coords=coords)

    neighbours._cached_index.cache_clear()
    Q = umap_state.coords[:20] + 0.3
    first = proj.inverse_points(Q, umap_state, Z)
    again = proj.inverse_points(Q, on(umap_state.coords.copy()), Z)
    info = neighbours._cached_index.cache_info()
    assert (info.hits, info.misses) == (1, 1)  # the same contents: the same tree
    np.testing.assert_array_equal(first, again)
    # independently: IDW over cKDTree's 10 nearest map points plus the surrogate's preimage
    C = umap_state.coords.astype(np.float64)
    dist, idx = cKDTree(C).query(Q, k=10)
    w = (1 / dist) / (1 / dist).sum(axis=1, keepdims=True)
    local_z, local_p = np.einsum("mk,mkd->md", w, Z[idx]), np.einsum("mk,mkd->md", w, C[idx])
    expected = local_z + (Q - local_p) @ np.linalg.pinv(umap_state.linear)
    np.testing.assert_allclose(first, expected, rtol=1e-10, atol=1e-10 * np.abs(Z).max())
    shifted = on(umap_state.coords + np.float32(1.0))
    moved = proj.inverse_points(Q + 1.0, shifted, Z)  # new contents: a new tree, not a stale one
    assert neighbours._cached_index.cache_info().misses == 2
    np.testing.assert_allclose(moved, first, rtol=1e-4)  # float32 rounding of the shift
    for i in range(2 * neighbours.INDEX_CACHE_SIZE):
        proj.inverse_points(Q, on(umap_state.coords * (i + 2)), Z)
    assert neighbours._cached_index.cache_info().currsize == neighbours.INDEX_CACHE_SIZE


def test_fit_map_rejects_bad_input(blobs):
    with pytest.raises(ValueError, match="method"):
        proj.fit_map(blobs[0], "tsne")
    bad = blobs[0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        proj.fit_map(bad, "pca")


def test_default_refine_epochs_shrink_with_size():
    assert proj.default_refine_epochs(600) == 20
    assert proj.default_refine_epochs(5_000) == 10
    assert proj.default_refine_epochs(20_000) == 0
