"""Annotations: the labels and weights the guided lineage trains with.

A person who finds a mislabelled cluster on the map can say so directly: relabel its
training points to class c, weight their cross-entropy by w, or exclude them (weight 0).
These are edits like the latent ones (`hill_dash.engine.edits`), but they change the
cross-entropy term, not the teacher: per training point i, with the label y'_i and the
weight w_i in force,

    CE = Σ_batch w_i · ce(h(f(x_i)), y'_i) / Σ_batch w_i      (`training.train_chunk`)

Where they hold, and why:

- only on the guided lineage, from the chunk that consumed them on; they stay in force
  for every later guided chunk, and a later annotation of the same point overrides an
  earlier one (relabels and weights independently). The log of annotations in force is
  the guided chunks' edit log itself (plus what a fork inherited, run.json
  "annotations"), so nothing is stored twice;
- the unguided lineage always trains with the original labels and weights: it is "where
  would I be without any guidance", annotations included;
- the counterfactual chunk trains with the labels and weights in force *before* this
  chunk's edits, so "what did this chunk's edits do" covers its annotations exactly;
- only training points: validation and test labels are never changed (their indices in
  a selection are skipped), and the data set on disk is never rewritten — the original
  labels stay in data.npz and in the export.

Without any annotation in force nothing changes: the arrays are the data set's own and
the weights None, so such runs stay bit-identical to runs made before annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hill_dash.engine.edits import ANNOTATION_KINDS


def is_annotation(edit: dict) -> bool:
    return isinstance(edit, dict) and edit.get("kind") in ANNOTATION_KINDS


def annotation_log(run: dict) -> list[dict]:
    """The annotations in force on the guided head, oldest first (consumed ones only)."""
    log = [e for e in run.get("annotations") or [] if is_annotation(e)]
    for ch in run.get("chunks", []):
        log.extend(e for e in ch.get("edits") or [] if is_annotation(e))
    return log


def log_at(run: dict, ckpt: str) -> list[dict]:
    """The annotations a checkpoint of `run` was trained with (what a fork of it inherits):
    a guided checkpoint g k: chunks 1..k; a counterfactual f k: chunks 1..k-1; the
    unguided lineage: none."""
    lineage = (run.get("checkpoints", {}).get(ckpt) or {}).get("lineage")
    if lineage not in ("guided", "counterfactual", "root"):
        return []
    log = [e for e in run.get("annotations") or [] if is_annotation(e)]
    for ch in run.get("chunks", []):
        if ch["index"] > 0 and lineage == "root":
            break
        if ch.get("counterfactual") == ckpt:
            break
        log.extend(e for e in ch.get("edits") or [] if is_annotation(e))
        if ch.get("guided") == ckpt:
            break
    return log


@dataclass
class LabelState:
    """Labels and weights of the training points, and which ones annotations changed."""

    y: np.ndarray  # (n_train,) int64: the label each point trains with (-1: unlabelled)
    w: np.ndarray  # (n_train,) float32: its cross-entropy weight (0: excluded)
    changed: bool  # any annotation in force (else y is the original and w all 1)

    @property
    def weights(self) -> np.ndarray | None:
        """What `train_chunk` takes: None when every weight is 1 (a plain mean)."""
        return None if bool(np.all(self.w == 1.0)) else self.w


def fold(y_train: np.ndarray, edits: list[dict]) -> LabelState:
    """Apply annotations in order to the original training labels (later ones win)."""
    y = np.array(y_train, dtype=np.int64)
    w = np.ones(len(y), dtype=np.float32)
    n = len(y)
    for e in edits:
        if not is_annotation(e):
            continue
        idx = np.asarray(e.get("indices", []), dtype=np.int64)
        idx = idx[idx < n]  # validation and test points are never annotated
        if e["kind"] == "relabel":
            y[idx] = int(e["target_class"])
        elif e["kind"] == "weight":
            w[idx] = float(e["weight"])
        else:  # exclude
            w[idx] = 0.0
    changed = any(is_annotation(e) for e in edits)
    return LabelState(y, w, changed)


def shown_labels(run: dict, y_train: np.ndarray, with_pending: bool = True) -> LabelState:
    """What the map shows: the annotations in force, then the pending ones on top (so a
    relabel is seen at once and Undo restores the colours)."""
    edits = annotation_log(run)
    if with_pending and run.get("heads"):
        on = run["heads"].get("guided")
        edits += [e for e in run.get("pending", []) if is_annotation(e) and e.get("on") == on]
    return fold(y_train, edits)


@dataclass
class ChunkLabels:
    """The labels and weights each lineage of one chunk trains with."""

    before: LabelState  # in force before this chunk: the counterfactual's
    after: LabelState  # with this chunk's annotations: the guided chunk's
    edits: list[dict]  # this chunk's annotations, in order
    touched: list[int]  # classes they touch (original labels of their points, targets)
    original: np.ndarray  # (n_train,) the data set's own labels

    @property
    def annotated(self) -> np.ndarray:
        """Training points this chunk's annotations selected."""
        n = len(self.after.y)
        rows = [np.asarray(e["indices"], dtype=np.int64) for e in self.edits]
        rows = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
        return rows[rows < n]

    def summary(self) -> dict:
        """Counts for the chunk record: points relabelled / weighted / excluded in force."""
        y0 = self.original
        return {
            "edits": len(self.edits),
            "relabelled": int(np.sum(self.after.y != y0)),
            "weighted": int(np.sum((self.after.w != 1.0) & (self.after.w > 0))),
            "excluded": int(np.sum(self.after.w == 0.0)),
            "touched": self.touched,
        }


def chunk_labels(run: dict, y_train: np.ndarray, pending: list[dict]) -> ChunkLabels:
    """Before / after this chunk's annotations (`pending`: the edits the chunk consumes)."""
    log = annotation_log(run)
    mine = [e for e in pending if is_annotation(e)]
    y0 = np.asarray(y_train, dtype=np.int64)
    touched: set[int] = set()
    for e in mine:
        idx = np.asarray(e["indices"], dtype=np.int64)
        touched |= {int(c) for c in y0[idx[idx < len(y0)]] if c >= 0}
        if e["kind"] == "relabel":
            touched.add(int(e["target_class"]))
    return ChunkLabels(fold(y0, log), fold(y0, log + mine), mine, sorted(touched), y0)


def task_labels(state: LabelState, labels: ChunkLabels | None = None) -> tuple:
    """A lineage Task's (labels, weights, annotated): all None when nothing is annotated."""
    if not state.changed:
        return None, None, None
    return state.y, state.weights, None if labels is None else labels.annotated
