"""From the map back to latent space: what the teacher freezes as targets.

PCA: exact, ``mean + (q - offset) @ pinv(linear)`` (the least-norm preimage).
UMAP: ``placement.invert``, the local inverse-distance-weighted mean of the nearest map
points' latents plus the linear surrogate's preimage of what is left, so a point dragged
into an empty region gets a latent beyond its nearest cluster, where the next map will
show it. Only the rows given are used: callers pass the map and latents of the points a
person may see (train and validation), never the locked test split.
"""

from __future__ import annotations

import numpy as np

from hill_dash.engine.projection.placement import PLACE_NEIGHBORS, invert, surrogate
from hill_dash.engine.projection.state import MapState


def inverse_points(
    Q: np.ndarray, state: MapState, Z: np.ndarray, k: int = PLACE_NEIGHBORS
) -> np.ndarray:
    """Latent points (m, d) for 2-D points Q (m, 2) on the map of latents Z (its rows)."""
    Q = np.atleast_2d(np.asarray(Q, dtype=np.float64))
    if state.method == "pca":
        return state.mean + (Q - state.offset) @ np.linalg.pinv(state.linear)
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape[0] != state.coords.shape[0]:
        raise ValueError(f"inverse_points: Z has {Z.shape[0]} rows, map {state.coords.shape[0]}")
    linear = state.linear
    if linear is None or linear.shape[0] != Z.shape[1]:  # a map stored before it was kept
        linear = surrogate(Z, state.coords)[1]
    return invert(Q, state.coords, Z, linear, k)


def inverse_delta(
    delta: np.ndarray,
    state: MapState,
    Z: np.ndarray,
    centroid: np.ndarray,
    k: int = PLACE_NEIGHBORS,
) -> np.ndarray:
    """Latent translation (d,) for a 2-D translation ``delta`` of a selection.

    ``delta @ pinv(linear)``: PCA's exact inverse; for UMAP the least-norm latent shift
    that the map's linear surrogate turns into ``delta``, which is how the next map
    carries a moved selection over (``update_map(..., transported=...)``), so the arrow
    and the next map agree. (The difference of the local inverse at the arrow's two ends
    was tried: it asks for the latents of whatever lies under the arrow's head, and the
    next map showed 0.16-0.74 of a move on digits, against 0.54-0.87 of it asked for.)
    ``centroid`` and ``k`` are kept for callers; the shift does not depend on them.
    """
    delta = np.asarray(delta, dtype=np.float64).reshape(2)
    linear = state.linear
    if linear is None or linear.shape[0] != np.shape(Z)[1]:  # a map stored before it was kept
        linear = surrogate(np.asarray(Z, np.float64), state.coords)[1]
    return delta @ np.linalg.pinv(linear)
