"""Metrics per checkpoint: accuracy, gap, latent drift, CKA (docs/design.md, section 5).

Pure functions of numpy arrays, so the dashboard, the CLI and the study all
compute the same numbers the same way. Counting and log-probabilities come from
scikit-learn and SciPy. The paired bias statistics live in `hill_dash.engine.bias`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax
from sklearn.metrics import confusion_matrix, recall_score


def softmax_ce(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of integer labels under logits (numerically stable)."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    return float(-logp[np.arange(len(y)), y].mean())


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y)) if len(y) else float("nan")


def per_class_accuracy(pred: np.ndarray, y: np.ndarray, n_classes: int) -> list[float]:
    """Per class: the share of its points predicted as it (its recall); NaN without points."""
    if len(y) == 0:
        return [float("nan")] * n_classes
    rec = recall_score(y, pred, labels=np.arange(n_classes), average=None, zero_division=np.nan)
    return [float(r) for r in rec]


def confusion(pred: np.ndarray, y: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    return confusion_matrix(y, pred, labels=np.arange(n_classes)).tolist()


def split_metrics(logits: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """Accuracy, loss, per-class accuracy and confusion over the labelled points
    (unlabelled points, label -1, are left out)."""
    labelled = y >= 0
    logits, y = logits[labelled], y[labelled]
    pred = logits.argmax(axis=1)
    return {
        "acc": accuracy(pred, y),
        "loss": softmax_ce(logits, y) if len(y) else float("nan"),
        "per_class": per_class_accuracy(pred, y, n_classes),
        "confusion": confusion(pred, y, n_classes),
    }


def linear_cka(A: np.ndarray, B: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) between two latent sets of the same points."""
    A = A.astype(np.float64) - A.mean(axis=0)
    B = B.astype(np.float64) - B.mean(axis=0)
    cross = np.linalg.norm(B.T @ A, "fro") ** 2
    norm = np.linalg.norm(A.T @ A, "fro") * np.linalg.norm(B.T @ B, "fro")
    return float(cross / norm) if norm > 0 else float("nan")


def latent_drift(Z_now: np.ndarray, Z_prev: np.ndarray, scale_prev: float, edited: np.ndarray):
    """Mean ‖z_now − z_prev‖ / s_prev over edited points and over the rest (collateral)."""
    d = np.linalg.norm(Z_now.astype(np.float64) - Z_prev, axis=1) / scale_prev
    rest = ~edited
    return {
        "edited": float(d[edited].mean()) if edited.any() else None,
        "rest": float(d[rest].mean()) if rest.any() else None,
        "all": float(d.mean()),
    }


def point_drift(Z_now: np.ndarray, Z_prev: np.ndarray, scale_prev: float) -> np.ndarray:
    """Per-point drift ‖z_now − z_prev‖ / s_prev (the drift panel narrows it to a selection)."""
    return (np.linalg.norm(Z_now.astype(np.float64) - Z_prev, axis=1) / scale_prev).astype(
        np.float32
    )
