"""PCA maps: an exact affine map of the latents, fitted once, then kept.

A fresh fit takes the two leading principal axes of the fitted rows
(``sklearn.decomposition.PCA``), with signs fixed so each axis' largest loading is
positive. An update keeps that frame: the new latents are first aligned onto the previous
ones by a trimmed similarity transform (so a global rotation, scaling or shift of the
latent layer does not move the picture) and then projected with the previous axes. A
cluster that moved relative to the rest moves on the map by exactly its projected
displacement; re-fitting the axes, which would rotate it back into place, is left to the
person ("re-fit map").
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from hill_dash.engine.projection.align import align_trimmed
from hill_dash.engine.projection.state import MapState


def fit_pca(Z: np.ndarray, fitted: int) -> MapState:
    """Two leading principal axes of ``Z[:fitted]``; every row of Z projected."""
    pca = PCA(n_components=min(2, Z.shape[1]), svd_solver="full").fit(Z[:fitted])
    axes = pca.components_.T  # (d, ≤2)
    axes = axes * np.sign(axes[np.abs(axes).argmax(axis=0), range(axes.shape[1])])
    linear = np.zeros((Z.shape[1], 2))
    linear[:, : axes.shape[1]] = axes
    return affine_state(Z, pca.mean_, linear, np.zeros(2), fitted)


def affine_state(
    Z: np.ndarray, mean: np.ndarray, linear: np.ndarray, offset: np.ndarray, fitted: int
) -> MapState:
    coords = ((Z - mean) @ linear + offset).astype(np.float32)
    return MapState("pca", coords, mean, linear, offset, fitted=_fitted(fitted, len(Z)))


def update_pca(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    prev: MapState,
    fitted: int,
    steady: np.ndarray | None = None,
) -> MapState:
    """Z_new in the previous map's frame, after taking out a global similarity transform.

    ``steady``: rows the transform is fitted on (points no edit moved); None: all fitted.
    """
    _, R, s, t = align_trimmed(Z_new[:fitted], Z_prev[:fitted], rows=steady)
    # coords = ((s Z R + t) - mean) @ linear + offset, folded into one affine map of Z
    linear = s * R @ prev.linear
    mean = Z_new[:fitted].mean(axis=0)
    offset = ((s * mean @ R + t) - prev.mean) @ prev.linear + prev.offset
    return affine_state(Z_new, mean, linear, offset, fitted)


def _fitted(fitted: int, n: int) -> int | None:
    return None if fitted >= n else fitted
