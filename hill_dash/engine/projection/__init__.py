"""2-D maps of a latent space that move where, and only where, the latents moved.

- ``state``: ``MapState``, what a map stores (coordinates, affine part, k-NN graph).
- ``pca`` / ``umap_map``: fresh fits and updates per method; ``umap_import``: the lazy,
  compiled-once umap/numba plumbing; ``graph_search``: the update's neighbour search.
- ``placement``: where a latent lands on a map and which latent lands on a map point
  (local inverse-distance weighting plus the map's linear surrogate), shared by updates,
  previews and inverses; ``inverse``: the teacher's map → latent inverse.
- ``align``: similarity (Procrustes) alignment; ``neighbours``: the one k-NN / IDW helper.

Fresh fits vs updates: ``fit_map`` makes a fresh layout (the first chunk, or when the
person asks to re-fit); ``update_map`` carries the previous map to the next checkpoint so
that map movement means relative latent movement. Only the first ``fitted`` rows (train
and validation) shape a map; later rows (the locked test split) are placed on it.
"""

from __future__ import annotations

import numpy as np

from hill_dash.engine.projection.align import align_to, align_trimmed, procrustes_disparity
from hill_dash.engine.projection.inverse import inverse_delta, inverse_points
from hill_dash.engine.projection.pca import affine_state, fit_pca, update_pca
from hill_dash.engine.projection.placement import PLACE_NEIGHBORS, place, surrogate
from hill_dash.engine.projection.state import METHODS, MapState, check_latents, check_method
from hill_dash.engine.projection.umap_import import configure_numba_cache
from hill_dash.engine.projection.umap_map import (
    N_NEIGHBORS,
    REFINE_SCHEDULE,
    default_refine_epochs,
    fit_umap,
    update_umap,
    warm_up_numba,
)

__all__ = [
    "METHODS",
    "N_NEIGHBORS",
    "PLACE_NEIGHBORS",
    "REFINE_SCHEDULE",
    "MapState",
    "align_to",
    "align_trimmed",
    "configure_numba_cache",
    "default_refine_epochs",
    "fit_map",
    "inverse_delta",
    "inverse_points",
    "place",
    "procrustes_disparity",
    "surrogate",
    "update_map",
    "warm_up_numba",
]


def fit_map(
    Z: np.ndarray,
    method: str,
    seed: int = 0,
    *,
    parallel: bool = False,
    fitted: int | None = None,
    align_onto: np.ndarray | None = None,
) -> MapState:
    """A fresh 2-D map of latents Z (n, d), shaped by its first ``fitted`` rows (all: None).

    ``align_onto``: coordinates of the same points on another map (a previous layout, the
    other lineage's map); the fresh layout is rotated, scaled and shifted onto them.
    """
    check_method(method)
    Z = check_latents(Z)
    fitted = _fitted_rows(fitted, len(Z))
    state = fit_pca(Z, fitted) if method == "pca" else fit_umap(Z, seed, parallel, fitted)
    if align_onto is None:
        return state
    _, R, s, t = align_to(state.coords[:fitted], np.asarray(align_onto)[:fitted])
    if method == "pca":
        return affine_state(Z, state.mean, s * state.linear @ R, s * state.offset @ R + t, fitted)
    state.coords = (s * state.coords.astype(np.float64) @ R + t).astype(np.float32)
    state.linear, state.offset = s * state.linear @ R, s * state.offset @ R + t
    return state


def update_map(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    prev: MapState,
    seed: int = 0,
    refine_epochs: int | None = None,
    *,
    parallel: bool = False,
    fitted: int | None = None,
    steady: np.ndarray | None = None,
    transported: np.ndarray | None = None,
) -> MapState:
    """Map of Z_new carried over from ``prev`` (the map of Z_prev); rows are the same points.

    ``refine_epochs`` (UMAP only): None = ``default_refine_epochs(n)``; 0 = placement and
    alignment only. ``fitted``: as in ``fit_map`` (default: the previous map's).
    ``steady``: the fitted rows no edit moved on purpose; the global alignment is fitted
    on them only (None: a trimmed fit on all fitted rows). ``transported`` (UMAP): rows
    a move dragged, carried over by their own latent displacement through the map's
    linear surrogate (``placement.carry``).
    """
    Z_new = check_latents(Z_new, "Z_new")
    Z_prev = check_latents(Z_prev, "Z_prev")
    n = prev.coords.shape[0]
    if Z_new.shape[0] != n or Z_prev.shape[0] != n:
        raise ValueError(
            f"update_map: Z_new has {Z_new.shape[0]} rows, Z_prev {Z_prev.shape[0]}, "
            f"prev.coords {n}; expected the same points in the same order"
        )
    if Z_new.shape[1] != Z_prev.shape[1]:
        raise ValueError(f"update_map: Z_new has d={Z_new.shape[1]}, Z_prev d={Z_prev.shape[1]}")
    fitted = _fitted_rows(fitted if fitted is not None else prev.fitted, n)
    check_method(prev.method)
    if prev.method == "pca":
        return update_pca(Z_new, Z_prev, prev, fitted, steady)
    epochs = default_refine_epochs(fitted) if refine_epochs is None else int(refine_epochs)
    return update_umap(Z_new, Z_prev, prev, seed, epochs, parallel, fitted, steady, transported)


def _fitted_rows(fitted: int | None, n: int) -> int:
    if fitted is None:
        return n
    if not 2 <= fitted <= n:
        raise ValueError(f"fitted: {fitted} rows, expected 2..{n}")
    return int(fitted)
