"""Where a latent point lands on an existing map, and which latent lands on a map point.

Both directions use the same two parts, so that what the teacher asks for is where the
next map shows it (``carry`` adds a third for points that moved off the data):

- local: the inverse-distance-weighted mean over the k nearest points (in latent space
  to place a latent, on the map to invert a map point);
- linear: the map's affine surrogate ``coords ≈ (Z − mean) @ linear + offset`` (exact for
  PCA, least squares for UMAP) carries what the local mean does not explain, so a point
  moved beyond every existing point lands beyond them too, instead of on the nearest
  cluster's edge:

    place(z)  = Σ w_j p_j + (z − Σ w_j z_j) @ linear
    invert(q) = Σ w_j z_j + (q − Σ w_j p_j) @ pinv(linear)

An exact hit (z equal to a reference latent, q equal to a map point) returns that
point's partner exactly.
"""

from __future__ import annotations

import numpy as np

from hill_dash.engine.projection.neighbours import idw_weights, map_index, nearest

PLACE_NEIGHBORS = 10  # neighbours of the local part (placement and inverse)
# Ridge of the linear surrogate, relative to the latents' mean variance. Plain least squares
# gives directions of almost no variance huge weights, and then a move asks for a tiny
# latent shift along dead directions (and noise there moves points on the map): with 1.0
# the surrogate keeps R² ≈ 0.7-0.85 on digits/MNIST-1D UMAP maps and stays well-conditioned.
RIDGE = 1.0


def surrogate(Z: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (d,), linear (d, 2), offset (2,)): the ridge least-squares affine map Z → coords."""
    Z = np.asarray(Z, dtype=np.float64)
    coords = np.asarray(coords, dtype=np.float64)
    mean, offset = Z.mean(axis=0), coords.mean(axis=0)
    Zc = Z - mean
    gram = Zc.T @ Zc
    penalty = RIDGE * np.trace(gram) / gram.shape[0]
    linear = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), Zc.T @ (coords - offset))
    return mean, linear, offset


def place(
    Z_query: np.ndarray,
    Z_ref: np.ndarray,
    coords_ref: np.ndarray,
    linear: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = PLACE_NEIGHBORS,
) -> np.ndarray:
    """Map coordinates (m, 2) of latents ``Z_query`` on the map (``Z_ref`` → ``coords_ref``).

    ``neighbours``: precomputed (indices, distances) of the query rows among Z_ref.
    """
    Z_query = np.asarray(Z_query, dtype=np.float64)
    idx, dist = neighbours if neighbours is not None else nearest(Z_query, Z_ref, k)
    w = idw_weights(dist)
    local_z = np.einsum("mk,mkd->md", w, np.asarray(Z_ref, dtype=np.float64)[idx])
    local_p = np.einsum("mk,mkd->md", w, np.asarray(coords_ref, dtype=np.float64)[idx])
    return local_p + (Z_query - local_z) @ linear


def invert(
    Q: np.ndarray, coords: np.ndarray, Z: np.ndarray, linear: np.ndarray, k: int = PLACE_NEIGHBORS
) -> np.ndarray:
    """Latents (m, d) that land on map points Q (m, 2) of the map ``Z`` → ``coords``."""
    Q = np.atleast_2d(np.asarray(Q, dtype=np.float64))
    idx, dist = nearest(Q, coords, k, index=map_index(coords))
    w = idw_weights(dist)
    local_z = np.einsum("mk,mkd->md", w, np.asarray(Z, dtype=np.float64)[idx])
    local_p = np.einsum("mk,mkd->md", w, np.asarray(coords, dtype=np.float64)[idx])
    return local_z + (Q - local_p) @ np.linalg.pinv(linear)


def carry(
    Z_new: np.ndarray,
    Z_prev: np.ndarray,
    coords_prev: np.ndarray,
    linear: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray],
    steady: np.ndarray | None = None,
    transported: np.ndarray | None = None,
) -> np.ndarray:
    """Where each point of a map goes when its latents move from Z_prev to Z_new.

    Two estimates, blended per point:

    - ``place``: from the new latent's nearest previous latents. Right where the point
      landed among existing points (a pull onto a class shows on that class), and exact
      for a point that did not move;
    - transport: its own previous spot plus its own latent displacement through the
      linear surrogate. Right where it moved into a region with no previous points (a
      cluster dragged into empty space), where the neighbours are just the nearest edge.

    The weight of ``place`` is (d_typ / d)², capped at 1: d is the point's mean distance
    to its nearest previous latents (columns 1.. of ``neighbours``), d_typ the median of
    that over the ``steady`` rows (all rows when None). ``transported`` rows (indices: the
    points a move dragged, whose latent shift was made from the arrow through the same
    surrogate) are carried by transport alone, in every lineage alike. Measured on digits
    and MNIST-1D
    (UMAP, one class moved by a third of the map): place alone showed 0.53-0.80 of the
    move, transport alone 0.58-0.78 but only 0.23 of a pull on digits, the blend 0.74-0.85
    of the move and 0.57-0.93 of the pull.
    """
    transport = coords_prev + (Z_new - Z_prev) @ linear
    local = place(Z_new, Z_prev, coords_prev, linear, neighbours=neighbours)
    d = neighbours[1][:, 1:].mean(axis=1) if neighbours[1].shape[1] > 1 else neighbours[1][:, 0]
    typical = np.median(d if steady is None else d[steady])
    weight = np.clip(typical / np.maximum(d, 1e-12), 0.0, 1.0) ** 2
    if transported is not None:
        weight[transported] = 0.0
    return weight[:, None] * local + (1.0 - weight[:, None]) * transport
