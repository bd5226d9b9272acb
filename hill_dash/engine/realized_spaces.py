"""Two more places to measure an edit's realized share: a fresh map, and unedited points.

The chunk record measures each edit in latent space and on the carried map
(`hill_dash.engine.realized`). Two checks that the model, not only the map, heard it:

- **fresh map**: a new layout fitted to the new latents alone (no carried positions, no
  surrogate placing the moved points), then aligned on the unedited points like the
  carried map. A PCA is refitted whole (cheap). A fresh UMAP costs seconds on a small
  machine, so it is fitted with FRESH_UMAP_EPOCHS optimisation epochs instead of the
  library's default (500 below 10 000 points) and, by `realized_rows`, only for the guided
  lineage. Above FRESH_MAX_POINTS it is fitted to a sample (`fresh_sample`): every point
  a request names, and a seeded random sample of the rest to align on. A whole 56 000-
  point fit took 24 s of every chunk of a 70 000-point run.
- **validation points**: the same request asked of the validation points no edit selected
  whose nearest training latent (at edit time) is one of the edit's points: for a whole
  class, roughly that class's validation points. Nothing in training saw them as edited,
  so their share says whether the model generalised the edit or memorised its points.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from hill_dash.engine.projection import fit_map
from hill_dash.engine.projection.umap_map import fit_umap
from hill_dash.engine.realized import Request

FRESH_UMAP_EPOCHS = 100
FRESH_MAX_POINTS = 5000  # a fresh UMAP of more rows is fitted to a sample (fresh_sample)


def fresh_coords(
    Z: np.ndarray, method: str, seed: int, fitted: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """(fitted, 2) coordinates of a fresh map of Z's first `fitted` rows (not aligned).

    `rows` (a UMAP map only): fit those rows alone; the others are NaN.
    """
    if method != "umap":
        state = fit_map(np.asarray(Z[:fitted], dtype=np.float32), method, seed=seed, fitted=fitted)
        return np.asarray(state.coords[:fitted], dtype=np.float64)
    rows = np.arange(fitted) if rows is None else rows
    Zs = np.asarray(Z[rows], dtype=np.float32)
    state = fit_umap(Zs, seed, parallel=False, fitted=len(rows), n_epochs=FRESH_UMAP_EPOCHS)
    out = np.full((fitted, 2), np.nan)
    out[rows] = state.coords[: len(rows)]
    return out


def fresh_sample(
    fitted: int, requests: list[Request | None], seed: int, limit: int = FRESH_MAX_POINTS
) -> np.ndarray | None:
    """The rows a fresh UMAP is fitted to (sorted); None: all `fitted` rows (no more than
    `limit`). Every row a request names (its points, a pull's class, a separate's other
    side) and a seeded random sample of the others: `limit` rows in all, and at least
    half of `limit` of the others to align the map on."""
    if fitted <= limit:
        return None
    named = [r.points for r in requests if r is not None]
    named += [a for r in requests if r is not None for a in (r.members, r.other) if a is not None]
    needed = np.unique(np.concatenate(named)) if named else np.zeros(0, dtype=np.int64)
    needed = needed[needed < fitted]
    rest = np.setdiff1d(np.arange(fitted), needed)
    take = min(len(rest), max(limit - len(needed), limit // 2))
    sample = np.random.default_rng(seed).choice(rest, take, replace=False)
    return np.sort(np.concatenate([needed, sample]).astype(np.int64))


def nearest_train(Z: np.ndarray, n_train: int, rows: np.ndarray) -> np.ndarray:
    """For each of `rows`, the index of its nearest training latent (Euclidean, exact).

    A k-d tree: at 70 000 points (10 500 validation rows against 49 000 training rows,
    32-d) it answers in 0.35–0.64 s what a blocked brute-force search answered in 6.6 s,
    with the same indices (docs/benchmarks.md §7).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    tree = cKDTree(np.asarray(Z[:n_train], dtype=np.float64))
    _, nearest = tree.query(np.asarray(Z[rows], dtype=np.float64), k=1, workers=-1)
    return np.asarray(nearest, dtype=np.int64)


def validation_owners(
    Z: np.ndarray, n_train: int, visible: int, steady: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The unedited validation rows and, for each, its nearest training latent in `Z`.

    `steady`: the visible rows no edit selected. The search is the expensive part (all
    validation × training rows: seconds at 70 000 points), so a chunk does it once per set
    of edit-time latents, not once per lineage (`realized_rows`).
    """
    val = np.asarray(steady)[np.asarray(steady) >= n_train]
    val = val[val < visible]
    return val, nearest_train(Z, n_train, val)


def validation_requests(
    requests: list[Request | None], val: np.ndarray, owner: np.ndarray
) -> list[Request | None]:
    """Each request asked of the unedited validation points `val` whose nearest training
    latent (`owner`, in the latents the edits were made on: `validation_owners`) is one of
    its points (None: no such point).

    A move keeps its shift, a pull its landmark class, a separate its other side; compact
    asks the same β of these points' own spread.
    """
    if len(val) == 0:
        return [None] * len(requests)
    out: list[Request | None] = []
    for r in requests:
        if r is None:
            out.append(None)
            continue
        mine = val[np.isin(owner, r.points)]
        if r.other is not None:  # a separate's other side is not the selection's
            mine = mine[~np.isin(mine, r.other)]
        out.append(replace(r, points=mine) if len(mine) >= 2 else None)
    return out
