"""Similarity alignment (rotation or reflection, uniform scale, translation) of point sets.

Used wherever "relative to the rest" is meant: a map update takes out what a global
rotation, scaling or shift of the latents did, and the realized share of an edit is
measured after the same alignment fitted on the unedited points. The rotation is
``scipy.linalg.orthogonal_procrustes``; the scale and the translation are closed-form.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes

ALIGN_KEEP = 0.5  # share of best-agreeing points a trimmed alignment is fitted on


def similarity(
    A: np.ndarray, B: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, float, np.ndarray]:
    """(R, s, t) with ``s * A @ R + t`` the best fit of ``A[rows]`` onto ``B[rows]``.

    R (d, d) is a rotation or reflection, s > 0 a float, t (d,). All rows when rows is None.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if rows is not None:
        A, B = A[rows], B[rows]
    mu_a, mu_b = A.mean(axis=0), B.mean(axis=0)
    A0, B0 = A - mu_a, B - mu_b
    R, singular_sum = orthogonal_procrustes(A0, B0)
    norm = float((A0**2).sum())
    s = float(singular_sum / norm) if norm > 0 and singular_sum > 0 else 1.0
    return R, s, mu_b - s * mu_a @ R


def align_to(
    coords: np.ndarray, target: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """``coords`` aligned onto ``target``: ``(aligned, R, s, t)``, aligned = s·coords@R + t."""
    R, s, t = similarity(coords, target, rows)
    return s * np.asarray(coords, dtype=np.float64) @ R + t, R, s, t


def align_trimmed(
    coords: np.ndarray,
    target: np.ndarray,
    keep: float = ALIGN_KEEP,
    rounds: int = 3,
    rows: np.ndarray | None = None,
    starts: int = 4,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """``align_to``, refitted ``rounds`` times on the ``keep`` share of best-agreeing points.

    A least-trimmed-squares Procrustes: with keep = 0.5 up to half the points may have
    moved without dragging the alignment of the rest. ``rows``: indices of the points the
    fit may use at all (say, those no edit touched); every row is transformed.

    One start (the fit on every row) can settle on "the moved cluster plus half of the
    rest"; as in FAST-LTS, ``starts`` more begin from random halves (seeded, so the result
    is reproducible) and the fit with the lowest trimmed residual wins.

    In many dimensions a rotation is flexible enough to carry one moved cluster back onto
    its old place while barely moving the rest, so when the caller knows which points
    were moved on purpose it should leave them out through ``rows``.
    """
    coords = np.asarray(coords, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    pool = np.arange(len(coords)) if rows is None else np.asarray(rows)
    first = align_to(coords, target, pool)
    if len(pool) < 10 or keep >= 1.0:
        return first
    rng = np.random.default_rng(0)
    seeds = [None] + [
        rng.choice(pool, max(len(pool) // 2, 3), replace=False) for _ in range(starts)
    ]
    best, best_cost = first, np.inf
    for seed_rows in seeds:
        fit = first if seed_rows is None else align_to(coords, target, seed_rows)
        for _ in range(rounds):
            residual = np.linalg.norm(fit[0][pool] - target[pool], axis=1)
            inliers = pool[residual <= np.quantile(residual, keep)]
            fit = align_to(coords, target, inliers)
        residual = np.linalg.norm(fit[0][pool] - target[pool], axis=1)
        cost = float(np.sort(residual)[: max(int(keep * len(pool)), 1)].sum())
        if cost < best_cost:
            best, best_cost = fit, cost
    return best


def procrustes_disparity(A: np.ndarray, B: np.ndarray) -> float:
    """``scipy.spatial.procrustes``' disparity: both standardised, 0 = the same shape."""
    return float(procrustes(np.asarray(A, np.float64), np.asarray(B, np.float64))[2])
