"""How much of an annotation happened: the accounting of relabel, weight and exclude.

The latent edits report a realized share (`hill_dash.engine.realized`). An annotation asks
for something else, so it is measured in the space it acts on, for the guided chunk, the
counterfactual chunk and the unguided lineage alike, each before (its parent checkpoint)
and after the chunk:

- relabel to c, in the head's predictions:
  - "train": the share of the selection's training points the head predicts as c;
  - "val_near": the same share for the k unedited validation points nearest to the
    selection on the map the person edited on (k = the selection's training points,
    at most VAL_NEAR_MAX). A guided "train" share near 1 with a "val_near" share
    near the counterfactual's says the head memorised the labels rather than learnt them;
- weight w / exclude, in cross-entropy: the mean loss of the selection's training points
  (with the labels the guided chunk trains with), before → after. Up-weighting should
  lower it faster than the counterfactual; excluding lets it drift.

Each row names its measure ("space") so that a reader never mistakes a prediction share
for a realized share. Pure numpy; `loop.run_chunk` records the rows in chunk["realized"].
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

VAL_NEAR_MAX = 100
LINEAGES = ("guided", "counterfactual", "twin")
SPACES = {
    "relabel": "head predictions (share predicted as the new class)",
    "weight": "cross-entropy (mean loss of the selection)",
    "exclude": "cross-entropy (mean loss of the selection)",
}


def annotation_rows(
    edits: list[dict],
    labels: np.ndarray,
    trained: dict,
    parent_logits: dict[str, np.ndarray],
    coords: np.ndarray,
    n_val: int,
    selected: np.ndarray,
) -> list[dict]:
    """One row per annotation of a chunk (see the module docstring).

    `labels`: the training labels in force after the chunk; `trained`: lineage → Trained;
    `parent_logits`: checkpoint → its logits; `coords`: the edited map's coordinates;
    `selected`: (visible,) bool, the points any edit of this chunk selected.
    """
    n_train = len(labels)
    rows = []
    for e in edits:
        idx = np.unique(np.asarray(e["indices"], dtype=np.int64))
        tr = idx[idx < n_train]
        row = {
            "edit": e.get("id"),
            "kind": e["kind"],
            "group": e.get("group") or "",
            "space": SPACES[e["kind"]],
            "n_train": int(len(tr)),
        }
        if e["kind"] == "relabel":
            c = int(e["target_class"])
            near = nearest_val(coords, tr, n_train, n_val, selected)
            row |= {"target_class": c, "n_val_near": int(len(near))}
            row["train"] = _per_lineage(
                trained, parent_logits, lambda lg, s=tr, c=c: _share(lg, s, c)
            )
            row["val_near"] = _per_lineage(
                trained, parent_logits, lambda lg, s=near, c=c: _share(lg, s, c)
            )
        else:
            row["weight"] = 0.0 if e["kind"] == "exclude" else float(e["weight"])
            row["loss"] = _per_lineage(
                trained, parent_logits, lambda lg, s=tr: mean_loss(lg, s, labels)
            )
        rows.append(row)
    return rows


def chunk_rows(labels, trained: dict, logits_of, steady: np.ndarray, n_val: int) -> list[dict]:
    """The rows of one chunk's annotations (`labels`: annotations.ChunkLabels).

    `logits_of(ckpt)`: a stored checkpoint's logits; `steady`: the visible points no edit
    of the chunk selected (`edits.steady_rows`); `n_val`: validation points.
    """
    if not labels.edits:
        return []
    parents = {t.task.parent for t in trained.values()}
    guided = trained["guided"]
    selected = np.ones(len(labels.after.y) + n_val, bool)
    selected[steady] = False
    return annotation_rows(
        labels.edits,
        labels.after.y,
        trained,
        {ck: logits_of(ck) for ck in parents},
        guided.map_p.coords,  # the map the person edited on
        n_val,
        selected,
    )


def in_edit_order(pending: list[dict], rows: list[dict]) -> list[dict]:
    """Realized rows (latent edits' and annotations') in the order the edits were made."""
    order = {e.get("id"): i for i, e in enumerate(pending)}
    return sorted(rows, key=lambda r: order.get(r.get("edit"), len(order)))


def nearest_val(
    coords: np.ndarray, train_sel: np.ndarray, n_train: int, n_val: int, selected: np.ndarray
) -> np.ndarray:
    """Indices (map rows) of the unedited validation points nearest to the selection."""
    val = np.arange(n_train, n_train + n_val)
    val = val[~selected[val]]
    k = min(len(train_sel), VAL_NEAR_MAX, len(val))
    if k == 0:
        return np.zeros(0, np.int64)
    dist, _ = cKDTree(coords[train_sel]).query(coords[val], k=1)
    return np.sort(val[np.argsort(dist, kind="stable")[:k]])


def _per_lineage(trained: dict, parent_logits: dict, measure) -> dict:
    out = {}
    for lineage in LINEAGES:
        t = trained.get(lineage)
        if t is None and lineage == "counterfactual":
            t = trained.get("twin")  # chunk 1: the unguided chunk is the counterfactual
        if t is None:
            continue
        before = parent_logits.get(t.task.parent)
        out[lineage] = {
            "before": _rounded(None if before is None else measure(before)),
            "after": _rounded(measure(t.logits)),
        }
    return out


def _share(logits: np.ndarray, rows: np.ndarray, c: int) -> float | None:
    if len(rows) == 0:
        return None
    return float(np.mean(logits[rows].argmax(1) == c))


def mean_loss(logits: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean cross-entropy of the labelled `rows` (training points) under `labels`."""
    rows = rows[labels[rows] >= 0]
    if len(rows) == 0:
        return None
    lg = logits[rows].astype(np.float64)
    lg -= lg.max(1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(rows)), labels[rows]]))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
