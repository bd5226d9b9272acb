"""Library replacements give the numbers of the code they replaced.

``align.align_to`` (scipy.linalg.orthogonal_procrustes), ``align.procrustes_disparity``
(scipy.spatial.procrustes), ``align.align_trimmed`` and ``pca.fit_pca``
(sklearn.decomposition.PCA, sign rule kept) against the hand-written versions they
replaced, copied verbatim below from ``hill_dash/engine/projection.py`` as it was before
the package (commit c653e4a~1), on random inputs of a few seeds and d = 2..32.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from hill_dash.engine.projection import align, pca
from hill_dash.engine.projection.state import MapState

ALIGN_KEEP = 0.5  # as in the old module

# --------------------------------------------------------------------------- the old code
# Verbatim from git show c653e4a~1:hill_dash/engine/projection.py


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


# --------------------------------------------------------------------------- inputs

SEEDS = (0, 1, 2)
DIMS = (2, 3, 8, 32)
CASES = [(seed, d) for seed in SEEDS for d in DIMS]


def _pair(seed: int, d: int, n: int = 80, related: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random points A (n, d) and B: a noisy similarity image of A, or unrelated points."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    if not related:
        return A, rng.normal(size=(n, d)) * 2.0 + 1.0
    Q = ortho_group.rvs(d, random_state=seed) if d > 1 else np.eye(1)
    B = 1.3 * A @ Q + rng.normal(size=d) + rng.normal(scale=0.2, size=(n, d))
    B[: n // 5] += rng.normal(scale=3.0, size=(n // 5, d))  # outliers for the trimmed fit
    return A, B


def _assert_same_alignment(new, old, tol: float = 1e-9) -> None:
    (aligned, R, s, t), (aligned0, R0, s0, t0) = new, old
    scale = max(1.0, np.abs(aligned0).max())
    np.testing.assert_allclose(R, R0, rtol=0, atol=tol)
    assert s == pytest.approx(s0, rel=tol)
    np.testing.assert_allclose(t, t0, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(aligned, aligned0, rtol=0, atol=tol * scale)


# --------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("related", [True, False])
@pytest.mark.parametrize(("seed", "d"), CASES)
def test_align_to_matches_the_old_svd_procrustes(seed, d, related):
    A, B = _pair(seed, d, related=related)
    new = align.align_to(A, B)
    _assert_same_alignment(new, align_to(A, B))
    R = new[1]
    np.testing.assert_allclose(R.T @ R, np.eye(d), atol=1e-12)


@pytest.mark.parametrize(("seed", "d"), CASES)
def test_align_to_on_rows_is_the_old_fit_on_those_rows_applied_to_all(seed, d):
    A, B = _pair(seed, d)
    rows = np.random.default_rng(seed + 100).choice(len(A), size=len(A) // 2, replace=False)
    aligned, R, s, t = align.align_to(A, B, rows)
    _, R0, s0, t0 = align_to(A[rows], B[rows])
    _assert_same_alignment((aligned, R, s, t), (s0 * A @ R0 + t0, R0, s0, t0))


@pytest.mark.parametrize(("seed", "d"), CASES)
def test_align_trimmed_matches_the_old_trimmed_procrustes(seed, d):
    """With one start (the old algorithm) the numbers are the old ones; more starts only
    ever pick a fit with a lower trimmed residual."""
    A, B = _pair(seed, d)
    _assert_same_alignment(align.align_trimmed(A, B, starts=0), _align_trimmed(A, B))

    def trimmed_cost(fit):
        r = np.sort(np.linalg.norm(fit[0] - B, axis=1))
        return r[: len(r) // 2].sum()

    assert trimmed_cost(align.align_trimmed(A, B)) <= trimmed_cost(_align_trimmed(A, B)) + 1e-9
    small_A, small_B = A[:9], B[:9]  # below 10 points: no trimming, in both
    _assert_same_alignment(align.align_trimmed(small_A, small_B), _align_trimmed(small_A, small_B))


def test_align_to_of_a_point_set_without_spread_keeps_the_scale():
    A = np.ones((5, 2))
    B = np.random.default_rng(0).normal(size=(5, 2))
    new, old = align.align_to(A, B), align_to(A, B)
    assert new[2] == old[2] == 1.0
    np.testing.assert_allclose(new[0], old[0], atol=1e-12)


@pytest.mark.parametrize("related", [True, False])
@pytest.mark.parametrize(("seed", "d"), CASES)
def test_procrustes_disparity_matches_the_old_formula(seed, d, related):
    A, B = _pair(seed, d, related=related)
    new = align.procrustes_disparity(A, B)
    assert new == pytest.approx(procrustes_disparity(A, B), rel=1e-9, abs=1e-12)
    assert 0.0 <= new <= 1.0
    assert align.procrustes_disparity(A, B) == pytest.approx(align.procrustes_disparity(B, A))


@pytest.mark.parametrize("d", DIMS)
def test_procrustes_disparity_of_the_same_shape_is_zero_in_both(d):
    A, _ = _pair(0, d)
    B = 2.0 * A @ ortho_group.rvs(d, random_state=1) - 7.0
    assert align.procrustes_disparity(A, B) == pytest.approx(0.0, abs=1e-12)
    assert procrustes_disparity(A, B) == pytest.approx(0.0, abs=1e-12)


def test_procrustes_disparity_rejects_a_set_without_spread_like_the_old_one():
    A, B = np.ones((6, 2)), np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError):
        procrustes_disparity(A, B)
    with pytest.raises(ValueError):
        align.procrustes_disparity(A, B)


# --------------------------------------------------------------------------- PCA


def _latents(seed: int, n: int, d: int) -> np.ndarray:
    """Anisotropic latents (distinct principal variances, so the axes are well defined)."""
    rng = np.random.default_rng(seed)
    spread = np.linspace(3.0, 0.2, d) * rng.uniform(0.9, 1.1, size=d)
    basis = ortho_group.rvs(d, random_state=seed) if d > 1 else np.eye(1)
    return (rng.normal(size=(n, d)) * spread) @ basis + rng.normal(size=d)


def _assert_same_pca(new: MapState, old: MapState, Z: np.ndarray) -> None:
    assert new.method == old.method == "pca"
    np.testing.assert_allclose(new.mean, old.mean, rtol=0, atol=1e-12 * np.abs(Z).max())
    np.testing.assert_allclose(new.linear, old.linear, rtol=0, atol=1e-9)  # signs too
    np.testing.assert_array_equal(new.offset, old.offset)
    np.testing.assert_allclose(new.coords, old.coords, rtol=0, atol=1e-5 * np.abs(old.coords).max())


@pytest.mark.parametrize("n", [200, 20])  # 20 < d = 32: fewer points than dimensions
@pytest.mark.parametrize(("seed", "d"), CASES + [(0, 1)])
def test_fit_pca_matches_the_old_svd(seed, d, n):
    Z = _latents(seed, n, d)
    new = pca.fit_pca(Z, len(Z))
    _assert_same_pca(new, _fit_pca(Z), Z)
    assert new.fitted is None


@pytest.mark.parametrize(("seed", "d"), CASES)
def test_fit_pca_on_fitted_rows_is_the_old_fit_of_those_rows(seed, d):
    Z = _latents(seed, 150, d)
    Z[120:] = np.random.default_rng(seed).normal(scale=50.0, size=(30, d))  # never fitted
    new = pca.fit_pca(Z, 120)
    old = _fit_pca(Z[:120])
    assert new.fitted == 120
    _assert_same_pca(new.first(120), old, Z[:120])
    np.testing.assert_allclose(
        new.coords,
        ((Z - old.mean) @ old.linear).astype(np.float32),
        rtol=0,
        atol=1e-5 * np.abs(new.coords).max(),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_fit_pca_sign_rule_each_axis_largest_loading_is_positive(seed):
    Z = _latents(seed, 200, 8)
    for flipped in (Z, -Z, Z * np.r_[-1.0, np.ones(7)]):
        linear = pca.fit_pca(flipped, len(flipped)).linear
        largest = linear[np.abs(linear).argmax(axis=0), [0, 1]]
        assert (largest > 0).all()
