"""Direct, non-latent uses of what the scripted user learned: the annotation controls.

The reviewer's question: does moving latents beat simply using the annotations? Every
control here gets exactly what the guided user had, chunk by chunk (`InspectAndPull.log`):
the thumbnails it read (index → label read) and the groups it pulled (indices → class),
cumulatively up to each chunk, and trains from the same chunk-0 checkpoint on the same
batches as the unguided lineage (`loop.chunk_seed`), with plain cross-entropy:

- ``relabel-inspected``: every inspected training point takes the label read from it.
- ``upweight-inspected``: the same, and those points weigh together as much as all other
  labelled training points (weight W = n_other / n_inspected per point, at least 1);
  where the labels were right (decoy) this is the whole effect.
- ``relabel-selection``: every point of every pulled group takes the pull's class (the
  lasso, used as a label: no latents); inspected points keep the label read.
- ``upweight-selection``: the same labels, the selected points weighted like
  ``upweight-inspected`` (for the decoy, where the pulls do not change labels).
- ``dfr``: deep feature reweighting: the unguided lineage's final encoder is kept and its
  last layer refitted (logistic regression on the ReLU'd latents) on the inspected points
  with the labels read, groups balanced as a person reads them (decoy: does the mark on
  the thumbnail name the label read?); otherwise (noisy, few labels) fitted on the reads
  plus the other labelled training points with the labels shown, classes balanced.

With no annotation, a control trains exactly the unguided lineage (bit for bit; tested).
"""

from __future__ import annotations

import numpy as np
import torch

from hill_dash.engine.dataset import Dataset
from hill_dash.engine.lineage import restore
from hill_dash.engine.loop import RunConfig, chunk_seed
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig, infer, torch_threads, train_chunk
from hill_dash.study.view import read_mark

CONTROLS = (
    "relabel-inspected",
    "upweight-inspected",
    "relabel-selection",
    "upweight-selection",
    "dfr",
)


def default_controls(dataset: str) -> list[str]:
    """The controls that are not a no-op for a scenario (relabelling a decoy changes nothing)."""
    if "decoy" in dataset:
        return ["upweight-inspected", "upweight-selection", "dfr"]
    if "few" in dataset:
        return ["relabel-inspected", "upweight-inspected", "relabel-selection", "dfr"]
    return ["relabel-inspected", "upweight-inspected", "relabel-selection", "dfr"]


def annotations(log: list[dict], upto: int) -> tuple[dict[int, int], dict[int, int]]:
    """(reads, selection) after the first `upto` chunks of a user's log.

    reads: training index → label read; selection: index → class of its latest pull.
    """
    reads: dict[int, int] = {}
    selection: dict[int, int] = {}
    for entry in log[:upto]:
        reads.update({int(i): int(c) for i, c in entry["inspected"]})
        for pull in entry["pulls"]:
            selection.update({int(i): int(pull["target"]) for i in pull["indices"]})
    return reads, selection


def plan(
    control: str, y_train: np.ndarray, log: list[dict], upto: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training labels and weights of a control for chunk `upto` (1-based)."""
    n = len(y_train)
    reads, selection = annotations(log, upto)
    reads = {i: c for i, c in reads.items() if i < n}  # training points only
    y = y_train.copy()
    if control.endswith("-selection"):
        for i, c in selection.items():
            y[i] = c
        marked = set(selection) | set(reads)
    else:
        marked = set(reads)
    for i, c in reads.items():
        y[i] = c
    if control.startswith("relabel") or not marked:
        return y, None
    w = np.ones(n)
    idx = np.fromiter(marked, dtype=np.int64)
    others = int(np.sum(y >= 0)) - len(idx)
    w[idx] = max(1.0, others / len(idx))
    return y, w


def train_control(
    store: RunStore, run_id: str, data: Dataset, control: str, log: list[dict], chunks: int
) -> dict:
    """Train a control from c0 for `chunks` chunks; validation logits per chunk and the
    final logits of every point (the test rows are for the one final evaluation)."""
    run = store.load_run(run_id)
    cfg = RunConfig.from_dict(run["config"])
    model, opt = restore(store, run_id, "c0", cfg, torch.device("cpu"), lr=cfg.chunk.lr)
    val_logits = []
    relabelled = weighted = 0
    for k in range(1, chunks + 1):
        y, w = plan(control, data.y_train, log, k)
        ccfg = ChunkConfig.from_dict(
            cfg.chunk.to_dict()
            | {"seed": chunk_seed(cfg.seed, k), "lam": 0.0, "anchor": 0.0, "kd_weight": 0.0}
        )
        with torch_threads(ccfg.threads):  # as run_chunk trains: same numbers
            train_chunk(model, opt, data.X_train, y, ccfg, None, weights=w)
            val_logits.append(infer(model, data.X_val)[0])
        relabelled = int(np.sum(y != data.y_train))
        weighted = 0 if w is None else int(np.sum(w > 1))
    with torch_threads(cfg.chunk.threads):
        logits, _ = infer(model, data.all_X())
    return {
        "val_logits": val_logits,
        "logits": logits,
        "relabelled": relabelled,
        "upweighted": weighted,
    }


# -- deep feature reweighting ---------------------------------------------------------


def dfr(data: Dataset, Z: np.ndarray, log: list[dict], decoy: bool) -> dict:
    """Refit the last layer on the unguided encoder's latents `Z` (all points) with the
    user's annotations; returns the logits of every point and what it was fitted on."""
    from sklearn.linear_model import LogisticRegression

    n = len(data.y_train)
    reads, _ = annotations(log, len(log))
    idx = np.array(sorted(i for i in reads if i < n), dtype=np.int64)
    y = np.array([reads[i] for i in idx], dtype=np.int64)
    if not decoy:  # few labels: the labelled points too
        labelled = np.setdiff1d(np.flatnonzero(data.y_train >= 0), idx)
        idx = np.concatenate([idx, labelled])
        y = np.concatenate([y, data.y_train[labelled]])
    if decoy:
        groups = np.array([read_mark(data.X_train[i]) != c for i, c in zip(idx, y, strict=True)])
    else:
        groups = y
    w = np.zeros(len(idx))
    for g in np.unique(groups):
        w[groups == g] = 1.0 / np.sum(groups == g)
    w *= len(idx) / w.sum()
    F = np.maximum(Z.astype(np.float64), 0.0)
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit(F[idx], y, sample_weight=w)
    logits = np.full((len(F), data.n_classes), -np.inf)
    logits[:, clf.classes_] = clf.predict_log_proba(F)
    return {
        "logits": logits,
        "fitted_on": int(len(idx)),
        "groups": {str(g): int(np.sum(groups == g)) for g in np.unique(groups)},
    }
