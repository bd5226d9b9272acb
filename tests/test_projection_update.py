"""Map updates show relative latent movement, and only train/val rows shape a map.

- PCA keeps its frame between checkpoints: a cluster moved in the map's plane moves by
  exactly its projected displacement, whatever rotation, scaling or shift the whole
  latent layer went through.
- UMAP carries points over by a blend of local placement and linear transport, so a
  cluster moved into a region where no latent was lands there (not on the nearest edge).
- Rows past ``fitted`` (the locked test split) never change the fitted rows' coordinates.
- ``MapState`` stores ``fitted`` and the UMAP surrogate; ``fit_map(align_onto=...)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.stats import ortho_group
from sklearn.datasets import make_blobs

from hill_dash.engine import projection as proj
from hill_dash.engine.errors import StoreError


def _global_similarity(Z: np.ndarray, seed: int) -> np.ndarray:
    """Z rotated (a random orthogonal d x d), scaled by 1.7 and shifted: nothing relative."""
    d = Z.shape[1]
    Q = ortho_group.rvs(d, random_state=seed)
    shift = np.random.default_rng(seed).normal(scale=5.0, size=d)
    return 1.7 * Z @ Q + shift


def _relative_move(before: np.ndarray, after: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """How far the moved rows' centre went on the map, relative to the other rows' centre."""
    before, after = before.astype(np.float64), after.astype(np.float64)
    own = after[moved].mean(axis=0) - before[moved].mean(axis=0)
    rest = after[~moved].mean(axis=0) - before[~moved].mean(axis=0)
    return own - rest


# --------------------------------------------------------------------------- PCA


@pytest.fixture(scope="module")
def three_blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(300, n_features=12, centers=3, cluster_std=1.0, random_state=1)


@pytest.mark.parametrize("out_of_plane", [0.0, 3.0])
def test_pca_update_keeps_the_frame(three_blobs, out_of_plane):
    """Blob 0 moves by v = Δ @ pinv(linear) (plus, in the second case, a larger part
    orthogonal to the map's plane that a fresh fit would turn towards); every latent is
    also rotated, scaled and shifted. The update shows blob 0 moved by Δ, the rest still."""
    Z, y = three_blobs
    state = proj.fit_map(Z, "pca")
    C = state.coords.astype(np.float64)
    span = np.ptp(C, axis=0).max()
    moved, steady = y == 0, np.flatnonzero(y != 0)
    delta = np.array([0.4, -0.3]) * span
    v = delta @ np.linalg.pinv(state.linear)
    np.testing.assert_allclose(v @ state.linear, delta, atol=1e-9 * span)  # in the plane
    w = np.random.default_rng(3).normal(size=Z.shape[1])
    w -= state.linear @ np.linalg.lstsq(state.linear, w, rcond=None)[0]  # ⟂ to the plane
    w *= out_of_plane * np.linalg.norm(v) / np.linalg.norm(w)
    Z2 = _global_similarity(Z + moved[:, None] * (v + w), seed=4)

    updated = proj.update_map(Z2, Z, state, steady=steady)

    U = updated.coords.astype(np.float64)
    np.testing.assert_allclose(
        U[moved] - C[moved],
        np.broadcast_to(delta, C[moved].shape),
        atol=0.02 * np.linalg.norm(delta),
    )
    np.testing.assert_allclose(U[~moved], C[~moved], atol=1e-5 * span)
    # still an exact affine map of the new latents
    affine = (Z2 - updated.mean) @ updated.linear + updated.offset
    np.testing.assert_allclose(U, affine, atol=1e-6 * span)
    if out_of_plane:  # the premise: a fresh fit (aligned on the same rows) shows another move
        fresh = proj.fit_map(Z2, "pca")
        shown = proj.align_to(fresh.coords, C, steady)[0]
        error = np.linalg.norm(_relative_move(C, shown, moved) - delta)
        assert error > 0.1 * np.linalg.norm(delta)


def test_pca_update_of_an_unchanged_layer_changes_nothing(three_blobs):
    Z, y = three_blobs
    state = proj.fit_map(Z, "pca")
    for steady in (None, np.flatnonzero(y != 0)):
        updated = proj.update_map(_global_similarity(Z, seed=5), Z, state, steady=steady)
        np.testing.assert_allclose(updated.coords, state.coords, atol=1e-5)


# --------------------------------------------------------------------------- UMAP


@pytest.fixture(scope="module")
def four_blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(400, n_features=16, centers=4, cluster_std=1.0, random_state=0)


@pytest.fixture(scope="module")
def umap_state(four_blobs) -> proj.MapState:
    return proj.fit_map(four_blobs[0], "umap", seed=0)


def _move_out(state: proj.MapState, Z: np.ndarray, moved: np.ndarray, frac: float):
    """(Δ, Z2): Δ a 2-D move of ``frac`` map spans away from the other points; Z2 with the
    moved rows shifted by pinv(surrogate)·Δ, which must leave every previous latent behind."""
    C = state.coords.astype(np.float64)
    away = C[moved].mean(axis=0) - C[~moved].mean(axis=0)
    delta = frac * np.ptp(C, axis=0).max() * away / np.linalg.norm(away)
    v = delta @ np.linalg.pinv(state.linear)
    Z2 = Z + moved[:, None] * v
    u = v / np.linalg.norm(v)
    assert (Z2[moved] @ u).min() > (Z @ u).max()  # beyond all previous latents along v
    return delta, Z2


@pytest.mark.parametrize("frac", [0.5, 1.0])
def test_umap_update_places_a_cluster_in_an_empty_region(umap_state, four_blobs, frac):
    Z, y = four_blobs
    moved, steady = y == 0, np.flatnonzero(y != 0)
    delta, Z2 = _move_out(umap_state, Z, moved, frac)

    updated = proj.update_map(Z2, Z, umap_state, refine_epochs=0, steady=steady)

    shown = _relative_move(umap_state.coords, updated.coords, moved)
    along = shown @ delta / (delta @ delta)
    assert along >= 0.6, f"the moved cluster showed {along:.2f} of the move"
    across = np.linalg.norm(shown - along * delta) / np.linalg.norm(delta)
    assert along <= 1.4 and across <= 0.3
    # without refinement an unmoved point keeps its coordinates exactly
    np.testing.assert_array_equal(updated.coords[~moved], umap_state.coords[~moved])


def test_umap_update_places_it_also_after_a_global_transform_and_refinement(umap_state, four_blobs):
    """The same move under a rotation, scaling and shift of the whole layer, refined."""
    Z, y = four_blobs
    moved, steady = y == 0, np.flatnonzero(y != 0)
    delta, Z2 = _move_out(umap_state, Z, moved, 0.5)
    updated = proj.update_map(_global_similarity(Z2, seed=6), Z, umap_state, steady=steady)
    shown = _relative_move(umap_state.coords, updated.coords, moved)
    assert shown @ delta / (delta @ delta) >= 0.6
    unrefined = proj.update_map(
        _global_similarity(Z2, seed=6), Z, umap_state, refine_epochs=0, steady=steady
    )
    span = np.ptp(umap_state.coords, axis=0).max()
    np.testing.assert_allclose(
        unrefined.coords[~moved], umap_state.coords[~moved], atol=1e-5 * span
    )


def test_a_dragged_cluster_keeps_its_carried_spot_through_the_refinement(umap_state, four_blobs):
    """A short move (a tenth of the map) of one cluster, its latents shifted exactly as asked:
    the rows it dragged land by their own displacement through the surrogate, and the
    refinement that tidies the rest does not pull them back toward their old neighbours
    (it took a near move on digits from 0.84 of the arrow to 0.47; benchmarks §0)."""
    Z, y = four_blobs
    moved, steady = y == 0, np.flatnonzero(y != 0)
    C = umap_state.coords.astype(np.float64)
    delta = np.array([0.1 * np.ptp(C[:, 0]), 0.0])
    Z2 = Z + moved[:, None] * (delta @ np.linalg.pinv(umap_state.linear))
    dragged = np.flatnonzero(moved)

    def along(updated) -> float:
        shown = _relative_move(umap_state.coords, updated.coords, moved)
        return float(shown @ delta / (delta @ delta))

    refined = proj.update_map(Z2, Z, umap_state, steady=steady, transported=dragged)
    carried = proj.update_map(
        Z2, Z, umap_state, refine_epochs=0, steady=steady, transported=dragged
    )
    assert along(carried) == pytest.approx(1.0, abs=0.05)
    assert along(refined) >= 0.9
    # the dragged rows are where the carry put them, up to the map's final alignment; the
    # rest was refined
    assert procrustes(carried.coords[dragged], refined.coords[dragged])[2] < 1e-9
    assert procrustes(carried.coords[~moved], refined.coords[~moved])[2] > 1e-6


def test_any_edited_cluster_keeps_its_carried_spot_through_the_refinement(umap_state, four_blobs):
    """A compact (no dragged rows: the edit is known by the rows it left steady): the
    selected rows stay where the carry put them, so the map's own tightening of clusters
    does not read as the edit (a compact's unguided lineage read 1.25 of the request on a
    digits map, 0.28 in latent space; benchmarks §0)."""
    Z, y = four_blobs
    selected, steady = y == 1, np.flatnonzero(y != 1)
    Z2 = Z.copy()
    centre = Z[selected].mean(axis=0)
    Z2[selected] = centre + 0.5 * (Z[selected] - centre)
    refined = proj.update_map(Z2, Z, umap_state, steady=steady)
    carried = proj.update_map(Z2, Z, umap_state, refine_epochs=0, steady=steady)
    assert procrustes(carried.coords[selected], refined.coords[selected])[2] < 1e-9
    assert procrustes(carried.coords[~selected], refined.coords[~selected])[2] > 1e-6
    plain = proj.update_map(Z2, Z, umap_state)  # no edits named: everything is refined
    assert procrustes(carried.coords[selected], plain.coords[selected])[2] > 1e-6


# --------------------------------------------------------------------------- fitted rows


FITTED = 240


@pytest.fixture(scope="module")
def split() -> dict:
    """Latents of 240 fitted rows and 60 test rows, twice: the test rows differ wildly."""
    Z, y = make_blobs(300, n_features=16, centers=4, cluster_std=1.0, random_state=2)
    rng = np.random.default_rng(7)
    Z_b = Z.copy()
    Z_b[FITTED:] = rng.normal(scale=30.0, size=Z_b[FITTED:].shape) + 40.0
    Z_b[FITTED] = Z[0]  # a test row on a fitted one lands exactly on it
    noise = rng.normal(scale=0.05, size=Z.shape)
    Z_next_b = Z_b + noise
    Z_next_b[FITTED:] = rng.normal(scale=10.0, size=Z_b[FITTED:].shape)
    return {
        "y": y,
        "a": (Z, Z + noise, proj.fit_map(Z, "umap", seed=0, fitted=FITTED)),
        "b": (Z_b, Z_next_b, proj.fit_map(Z_b, "umap", seed=0, fitted=FITTED)),
    }


@pytest.mark.parametrize("method", ["umap", "pca"])
def test_rows_past_fitted_never_shape_the_map(split, method):
    maps = {}
    for key in ("a", "b"):
        Z, Z_next, umap_state = split[key]
        state = umap_state if method == "umap" else proj.fit_map(Z, "pca", fitted=FITTED)
        assert state.fitted == FITTED and state.n_fitted == FITTED
        updated = proj.update_map(Z_next, Z, state, seed=1)  # refined: 20 epochs at 240
        assert updated.fitted == FITTED and updated.coords.shape == (len(Z), 2)
        maps[key] = state, updated
    for i in range(2):
        a, b = maps["a"][i], maps["b"][i]
        np.testing.assert_array_equal(a.coords[:FITTED], b.coords[:FITTED])
        assert not np.array_equal(a.coords[FITTED:], b.coords[FITTED:])
        for key in ("mean", "linear", "offset", "knn"):
            if getattr(a, key) is not None:
                np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    fresh_b = maps["b"][0]  # its first test row is a copy of fitted row 0
    if method == "umap":  # placed by an exact hit
        np.testing.assert_array_equal(fresh_b.coords[FITTED], fresh_b.coords[0])
    else:
        np.testing.assert_allclose(fresh_b.coords[FITTED], fresh_b.coords[0], atol=1e-5)
    if method == "umap":
        assert fresh_b.knn.shape == (FITTED, proj.N_NEIGHBORS)
        assert (fresh_b.knn < FITTED).all()


def test_fitted_must_leave_at_least_two_rows(split):
    Z = split["a"][0]
    for fitted in (1, len(Z) + 1):
        with pytest.raises(ValueError, match="fitted"):
            proj.fit_map(Z, "pca", fitted=fitted)


# --------------------------------------------------------------------------- storage


def _round_trip(state: proj.MapState, path) -> proj.MapState:
    arrays = state.to_arrays()
    assert all(a.dtype != object for a in arrays.values())
    np.savez(path, **arrays)
    with np.load(path, allow_pickle=False) as loaded:
        return proj.MapState.from_arrays(loaded)


def test_map_state_round_trips_fitted_and_the_umap_surrogate(split, tmp_path):
    Z = split["a"][0]
    for state in (split["a"][2], proj.fit_map(Z, "pca", fitted=FITTED)):
        back = _round_trip(state, tmp_path / f"{state.method}.npz")
        assert back.method == state.method and back.fitted == FITTED
        np.testing.assert_array_equal(back.coords, state.coords)
        for key in ("mean", "linear", "offset", "knn"):
            original, restored = getattr(state, key), getattr(back, key)
            assert (original is None) == (restored is None)
            if original is not None:
                np.testing.assert_array_equal(restored, original)
        if state.method == "umap":
            assert back.linear.shape == (Z.shape[1], 2) and back.knn.shape[0] == FITTED
    full = _round_trip(proj.fit_map(Z, "pca"), tmp_path / "full.npz")
    assert full.fitted is None and full.n_fitted == len(Z)


def _bad(value, reason=None):
    marks = () if reason is None else pytest.mark.xfail(strict=True, reason=reason)
    return pytest.param(value, marks=marks, id=repr(value))


@pytest.mark.parametrize(
    "fitted",
    [
        _bad(np.array(0)),
        _bad(np.array(1)),
        _bad(np.array(-3)),
        _bad(np.array(301)),
        _bad(np.array(40.5)),
        _bad(np.array([240, 241])),
        _bad(np.array("many")),
    ],
)
def test_from_arrays_rejects_a_bad_fitted(split, fitted):
    arrays = split["a"][2].to_arrays()
    with pytest.raises(StoreError, match="'fitted'"):
        proj.MapState.from_arrays({**arrays, "fitted": fitted})


def test_from_arrays_wants_the_graph_of_the_fitted_rows(split):
    arrays = split["a"][2].to_arrays()
    knn = arrays["knn"]
    all_rows = np.concatenate([knn, knn[: 300 - FITTED]])  # one row per point, not per fitted
    with pytest.raises(StoreError, match="knn"):
        proj.MapState.from_arrays({**arrays, "knn": all_rows})
    with pytest.raises(StoreError, match="knn"):
        proj.MapState.from_arrays({**arrays, "fitted": np.array(FITTED - 1)})


def test_from_arrays_wants_the_whole_surrogate_of_a_umap_map(split):
    arrays = split["a"][2].to_arrays()
    with pytest.raises(StoreError, match="mean"):
        proj.MapState.from_arrays({k: v for k, v in arrays.items() if k != "linear"})


# --------------------------------------------------------------------------- align_onto


def _similar(coords: np.ndarray, scale: float, angle: float, shift) -> np.ndarray:
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return scale * np.asarray(coords, np.float64) @ rot + np.asarray(shift, np.float64)


def test_fit_map_align_onto_keeps_pca_an_exact_affine_map(split):
    Z = split["a"][0]
    plain = proj.fit_map(Z, "pca", fitted=FITTED)
    span = np.ptp(plain.coords, axis=0).max()
    noise = np.random.default_rng(8).normal(scale=0.01 * span, size=plain.coords.shape)
    target = _similar(plain.coords, 2.5, 0.9, [4.0, -1.0]) @ np.diag([1.0, -1.0]) + noise
    target[FITTED:] = 1e6  # only the fitted rows of the target count

    state = proj.fit_map(Z, "pca", fitted=FITTED, align_onto=target)

    assert state.method == "pca" and state.fitted == FITTED
    C = state.coords.astype(np.float64)
    affine = (Z - state.mean) @ state.linear + state.offset
    np.testing.assert_allclose(C, affine, atol=1e-6 * np.abs(C).max())  # test rows too
    np.testing.assert_allclose(C[:FITTED], target[:FITTED], atol=0.05 * 2.5 * span)
    # the axes are the fresh ones, rotated and scaled: orthogonal columns of norm s = 2.5
    gram = state.linear.T @ state.linear
    np.testing.assert_allclose(gram, 2.5**2 * np.eye(2), rtol=0.01, atol=0.01)
    # and exactly the aligned plain map: s·coords@R + t of align_to on the fitted rows
    expected = proj.align_to(plain.coords[:FITTED], target[:FITTED])[1:]
    R, s, t = expected
    np.testing.assert_allclose(state.linear, s * plain.linear @ R, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        C, s * plain.coords.astype(np.float64) @ R + t, atol=1e-5 * np.abs(C).max()
    )


def test_fit_map_align_onto_moves_a_umap_map_with_its_surrogate(split):
    Z, _, plain = split["a"]
    target = _similar(plain.coords, 0.5, -2.0, [10.0, 3.0])
    state = proj.fit_map(Z, "umap", seed=0, fitted=FITTED, align_onto=target)
    span = np.ptp(target, axis=0).max()
    np.testing.assert_allclose(state.coords, target, atol=1e-5 * span)  # test rows too
    np.testing.assert_array_equal(state.knn, plain.knn)
    # the surrogate moved with the map: it is still the surrogate of the aligned map
    mean, linear, offset = proj.surrogate(Z[:FITTED], state.coords[:FITTED])
    np.testing.assert_allclose(state.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(state.linear, linear, atol=1e-5 * np.abs(linear).max())
    np.testing.assert_allclose(state.offset, offset, atol=1e-5 * span)


def test_a_big_move_without_steady_rows_still_shows_as_a_move():
    """A single trimmed start settles on "moved blob plus half of the rest" (0.30 of a move
    of 0.4 of the span was shown); several starts find the fit on the unmoved blobs."""
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=6.0, size=(3, 12))
    Z = np.concatenate([c + rng.normal(size=(80, 12)) for c in centres])
    state = proj.fit_map(Z, "pca")
    span = float(np.ptp(state.coords[:, 0]))
    delta = np.array([0.4 * span, 0.0])
    Z2 = Z.copy()
    Z2[:80] += delta @ np.linalg.pinv(state.linear)
    new = proj.update_map(Z2, Z, state)
    shown = (new.coords[:80] - state.coords[:80]).mean(0)
    assert shown[0] == pytest.approx(delta[0], rel=0.05)
    np.testing.assert_allclose(new.coords[80:], state.coords[80:], atol=1e-3 * span)
