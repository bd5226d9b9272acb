"""`MapState`: the 2-D map of one checkpoint's latents, as stored and loaded.

A map holds the coordinates of every point (train, val, test order) and what its update
and inverse need: for PCA the exact affine map ``coords = (Z - mean) @ linear + offset``;
for UMAP the same three fields hold the map's *linear surrogate* (the least-squares affine
map from latents to coordinates), which lets placement and inverse extrapolate into empty
regions, plus the k-NN graph of the fitted points for the next update. Only the first
``fitted`` rows (train and validation) shape a map; the rest (the locked test split) are
placed on it afterwards and never influence it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from hill_dash.engine.errors import StoreError

METHODS = ("umap", "pca")
_ARRAY_KEYS = ("mean", "linear", "offset")


@dataclass
class MapState:
    """2-D map of one checkpoint's latents, plus what is needed to update and invert it."""

    method: str  # "umap" | "pca"
    coords: np.ndarray  # float32 (n, 2)
    # the affine map coords ≈ (Z - mean) @ linear + offset: exact for PCA, a least-squares
    # surrogate for UMAP (None in UMAP maps stored before it was kept)
    mean: np.ndarray | None = None  # (d,)
    linear: np.ndarray | None = None  # (d, 2)
    offset: np.ndarray | None = None  # (2,)
    # UMAP: the k-NN graph of the fitted latents, int32 (n_fitted, k), each row's own point
    # first; the next update searches along it. None for PCA and for old UMAP maps.
    knn: np.ndarray | None = None
    fitted: int | None = None  # rows that shaped the map (None: all of them)

    @property
    def n_fitted(self) -> int:
        return len(self.coords) if self.fitted is None else int(self.fitted)

    def first(self, n: int) -> MapState:
        """The map of its first n points (the fitted ones, say), for an inverse or a search."""
        knn = self.knn if self.knn is not None and len(self.knn) == n else None
        return replace(self, coords=self.coords[:n], knn=knn, fitted=None)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no object arrays; method as a unicode array)."""
        arrays = {"method": np.array(self.method), "coords": np.asarray(self.coords)}
        for key in _ARRAY_KEYS:
            value = getattr(self, key)
            if value is not None:
                arrays[key] = np.asarray(value)
        if self.knn is not None:
            arrays["knn"] = np.asarray(self.knn, dtype=np.int32)
        if self.fitted is not None:
            arrays["fitted"] = np.array(int(self.fitted), dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MapState:
        """Rebuild from ``to_arrays`` output or an ``np.load(..., allow_pickle=False)`` file."""
        if "method" not in arrays or "coords" not in arrays:
            raise StoreError("map arrays: expected keys 'method' and 'coords'")
        method = str(np.asarray(arrays["method"])[()])
        if method not in METHODS:
            raise StoreError(f"map arrays: field 'method' is {method!r}, expected one of {METHODS}")
        coords = np.asarray(arrays["coords"], dtype=np.float32)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise StoreError(
                f"map arrays: field 'coords' has shape {coords.shape}, expected (n, 2)"
            )
        fitted = None
        if "fitted" in arrays:
            raw = np.asarray(arrays["fitted"])
            if raw.shape != () or raw.dtype.kind not in "iu":
                raise StoreError(
                    f"map arrays: field 'fitted' has shape {raw.shape} and dtype {raw.dtype}, "
                    "expected one integer"
                )
            fitted = int(raw)
            if not 2 <= fitted <= len(coords):
                raise StoreError(
                    f"map arrays: field 'fitted' is {fitted}, expected 2..{len(coords)}"
                )
        parts = {k: np.asarray(arrays[k], dtype=np.float64) for k in _ARRAY_KEYS if k in arrays}
        if method == "pca" or parts:
            _check_affine(parts)
        knn = None
        if "knn" in arrays:  # absent in maps stored before the graph was kept
            try:
                knn = check_graph(arrays["knn"], fitted or len(coords))
            except ValueError as exc:
                raise StoreError(f"map arrays: {exc}") from exc
        return cls(
            method,
            coords,
            parts.get("mean"),
            parts.get("linear"),
            parts.get("offset"),
            knn,
            fitted,
        )


def _check_affine(parts: Mapping[str, np.ndarray]) -> None:
    """Raise StoreError unless mean (d,), linear (d, 2) and offset (2,) are all there."""
    if len(parts) != len(_ARRAY_KEYS):
        raise StoreError("map arrays: an affine map needs fields 'mean', 'linear' and 'offset'")
    d = parts["mean"].shape[0] if parts["mean"].ndim == 1 else -1
    if parts["linear"].shape != (d, 2) or parts["offset"].shape != (2,):
        raise StoreError(
            "map arrays: expected 'mean' (d,), 'linear' (d, 2) and 'offset' (2,), got "
            f"{parts['mean'].shape}, {parts['linear'].shape}, {parts['offset'].shape}"
        )


def check_graph(knn: np.ndarray, n: int) -> np.ndarray:
    """The k-NN graph of n points as int32 (n, k), or ValueError (it indexes unchecked code)."""
    knn = np.asarray(knn)
    if knn.dtype.kind not in "iu" or knn.ndim != 2 or knn.shape[0] != n or knn.shape[1] < 1:
        raise ValueError(
            f"field 'knn' has shape {knn.shape} and dtype {knn.dtype}, expected integers "
            f"(n, k) with n = {n}, the number of fitted map points"
        )
    if knn.size and (knn.min() < 0 or knn.max() >= n):
        raise ValueError(f"field 'knn' has indices outside 0..{n - 1}")
    return knn.astype(np.int32, copy=False)


def check_latents(Z: np.ndarray, name: str = "Z") -> np.ndarray:
    """Return Z as a finite float64 (n, d) array, or raise ValueError."""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] < 2 or Z.shape[1] < 1:
        raise ValueError(f"{name}: expected a (n >= 2, d >= 1) array, got shape {Z.shape}")
    if not np.isfinite(Z).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return Z


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}, expected one of {METHODS}")


def extent(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) value of each column of an (n, k) array of map coordinates.

    One column at a time: numpy's reduction along axis 0 of an (n, 2) array walks it two
    values at a time, 7 ms at 200 000 points against 0.2 ms by columns, and the map's
    previews ask for these bounds several times per answer.
    """
    columns = np.asarray(coords).T
    return (
        np.array([c.min() for c in columns]),
        np.array([c.max() for c in columns]),
    )
