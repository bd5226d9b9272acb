"""One lineage's chunk: restore its parent, train, infer, carry its map over, evaluate, save.

A chunk trains up to three lineages from two parents: the guided run (with the teacher),
the unguided lineage (its own parent, no edits) and the counterfactual chunk (the guided
parent, no edits). Given their parents they are independent, so `train_lineages` trains
the guided lineage first and then the others on a small thread pool (one torch thread
each): the work here must touch no shared state but the store, which it only reads until
`save`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from hill_dash.engine import metrics as M
from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import StoreError
from hill_dash.engine.models import build_model
from hill_dash.engine.progress import ChunkProgress
from hill_dash.engine.projection import MapState, fit_map, update_map
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Teacher, rms_scale
from hill_dash.engine.training import ChunkConfig, ProgressFn, infer, make_optimizer, train_chunk

MAX_PARALLEL = 2  # lineages trained at once (each on one torch thread)
_MAP_LOCK = threading.Lock()


@dataclass
class Task:
    """What one lineage trains in a chunk."""

    lineage: str  # "guided" | "twin" | "counterfactual" | "root"
    ckpt: str  # the checkpoint it makes
    parent: str | None  # the checkpoint it starts from (None: a fresh model, chunk 0)
    cfg: ChunkConfig
    teacher: Teacher | None = None
    labels: np.ndarray | None = None  # training labels in force (None: the data set's own)
    weights: np.ndarray | None = None  # cross-entropy weights (None: all 1)
    annotated: np.ndarray | None = None  # training points this chunk's annotations changed


@dataclass
class Trained:
    """A lineage after its chunk: everything `save` stores for its checkpoint."""

    task: Task
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    stats: dict  # train_chunk's means, steps and per-step curve
    Z: np.ndarray  # (n_all, latent_dim) latents of all splits
    logits: np.ndarray  # (n_all, n_classes)
    map_state: MapState
    Zp: np.ndarray | None  # the parent's latents (None for chunk 0)
    map_p: MapState | None  # the parent's map
    edited: np.ndarray  # (n_all,) bool: points the teacher moved (none without a teacher)


def restore(store: RunStore, run_id: str, ckpt: str, run_cfg, device, lr: float):
    """(model, optimizer) of a stored checkpoint, at the chunk's learning rate."""
    state = store.load_state(run_id, ckpt)
    model = build_model(run_cfg.model, seed=run_cfg.seed)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as exc:
        path = store.checkpoint_dir(run_id, ckpt) / "model.pt"
        raise StoreError(f"{path}: field 'model' does not fit the run's model ({exc})") from exc
    model.to(device)
    opt = make_optimizer(model, run_cfg.chunk.lr)
    opt.load_state_dict(state["optimizer"])
    for group in opt.param_groups:  # the chunk's learning rate wins over the stored one
        group["lr"] = lr
    return model, opt


def restore_map(store: RunStore, run_id: str, ckpt: str) -> tuple[np.ndarray, MapState]:
    """(latents, map) of a stored checkpoint: the parent map its children carry over."""
    arrays = store.load_arrays(run_id, ckpt)
    return arrays["Z"], MapState.from_arrays(arrays)


def train_lineage(
    task: Task,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    data: Dataset,
    parent_map: tuple[np.ndarray, MapState] | None,
    projection: str,
    seed: int,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    steady: np.ndarray | None = None,
    transported: np.ndarray | None = None,
) -> Trained:
    """Train one lineage for a chunk and carry its map over from the parent's."""
    y = data.y_train if task.labels is None else task.labels
    stats = train_chunk(
        model,
        opt,
        data.X_train,
        y,
        task.cfg,
        task.teacher,
        progress,
        should_stop,
        weights=task.weights,
    )
    logits, Z = infer(model, data.all_X())
    fitted = len(data.y_train) + len(data.y_val)  # the test split never shapes a map
    with _MAP_LOCK:  # numba's fork-safe threading layer is not thread-safe: one map at a time
        if parent_map is None:
            map_state, Zp, map_p = fit_map(Z, projection, seed=seed, fitted=fitted), None, None
        else:
            Zp, map_p = parent_map
            map_state = carry_map(Z, Zp, map_p, projection, seed, fitted, steady, transported)
    edited = np.zeros(len(Z), bool)
    if task.teacher is not None:
        edited[task.teacher.train_idx] = True
    if task.annotated is not None:
        edited[task.annotated] = True
    return Trained(task, model, opt, stats, Z, logits, map_state, Zp, map_p, edited)


def train_lineages(
    jobs,
    data: Dataset,
    run_cfg,
    steps: ChunkProgress,
    should_stop,
    steady=None,
    dragged=None,
    on_done: Callable[[Trained], None] | None = None,
) -> list[Trained]:
    """Train the (task, model, optimizer, parent map) jobs, MAX_PARALLEL at once in their
    order, one torch thread each; `on_done(trained)` runs in a job's thread as it ends."""

    def one(job) -> Trained:
        task, model, opt, parent_map = job
        label = "chunk 0" if task.lineage == "root" else f"{task.ckpt} {_NAMES[task.lineage]}"
        trained = train_lineage(
            task,
            model,
            opt,
            data,
            parent_map,
            run_cfg.projection,
            run_cfg.seed,
            steps.reporter(label),
            should_stop,
            steady,
            dragged,
        )
        if on_done is not None:
            on_done(trained)
        return trained

    # the guided lineage (the first job) trains alone, so its map is shown as early as the
    # machine allows; then the references train at once, each on the chunk's torch
    # thread count (two threads on a two-core machine slow each other ~1.4x)
    first = one(jobs[0])
    rest = jobs[1:]
    workers = min(len(rest), MAX_PARALLEL, os.cpu_count() or 1)
    if workers <= 1:
        return [first] + [one(job) for job in rest]
    with ThreadPoolExecutor(workers, thread_name_prefix="lineage") as pool:
        return [first, *pool.map(one, rest)]


_NAMES = {"guided": "guided", "twin": "unguided", "counterfactual": "counterfactual"}


def carry_map(
    Z: np.ndarray,
    Zp: np.ndarray,
    map_p: MapState,
    method: str,
    seed: int,
    fitted: int,
    steady: np.ndarray | None = None,
    transported: np.ndarray | None = None,
) -> MapState:
    """The parent's map carried to Z; a fresh layout aligned onto it if the method changed.

    ``steady``: the points no edit of this chunk selected; ``transported``: the points a
    move of this chunk dragged. Every lineage's map is carried over with the same ones, so
    the guided map and its references stay comparable.
    """
    if map_p.method == method:
        return update_map(
            Z, Zp, map_p, seed=seed, fitted=fitted, steady=steady, transported=transported
        )
    return fit_map(Z, method, seed=seed, fitted=fitted, align_onto=map_p.coords)


def evaluate(data: Dataset, trained: Trained) -> dict:
    """Metrics of one checkpoint (test split included; `save` locks it away)."""
    n_tr, n_va = len(data.y_train), len(data.y_val)
    parts = {
        "train": slice(0, n_tr),
        "val": slice(n_tr, n_tr + n_va),
        "test": slice(n_tr + n_va, None),
    }
    ys = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
    logits, Z, Zp = trained.logits, trained.Z, trained.Zp
    rec = {}
    for name, sl in parts.items():
        labelled = ys[name] >= 0  # unlabelled training points (-1) have no accuracy
        rec[name] = M.split_metrics(logits[sl][labelled], ys[name][labelled], data.n_classes)
    rec["gap"] = rec["train"]["acc"] - rec["val"]["acc"]
    if Zp is not None:
        scale = rms_scale(Zp[:n_tr])
        rec["drift"] = M.latent_drift(Z, Zp, scale, trained.edited)
        rec["cka"] = M.linear_cka(Z[:n_tr], Zp[:n_tr])
    stats = trained.stats
    return rec | {
        "checkpoint": trained.task.ckpt,
        "lineage": trained.task.lineage,
        "train_loss": stats["loss"],
        "teacher_loss": stats["teacher"],
    }


def save(
    store: RunStore, run_id: str, trained: Trained, rec: dict, data: Dataset, lease=None
) -> None:
    """The checkpoint (weights, latents, logits, map, curves) and its metrics records.

    `lease`: the chunk's hold on the training lock; nothing is written once it is lost.
    """
    save_checkpoint(store, run_id, trained, data, lease)
    save_records(store, run_id, trained, rec, lease)


def save_checkpoint(
    store: RunStore, run_id: str, trained: Trained, data: Dataset, lease=None
) -> None:
    """The checkpoint's files alone (weights, latents, logits, map, curves): enough to show
    its map while the chunk's other lineages still train (`save_records` comes after)."""
    state = {
        "model": {k: v.cpu() for k, v in trained.model.state_dict().items()},
        "optimizer": trained.opt.state_dict(),
    }  # no RNG state: training draws nothing from the process's generators (see design §3)
    curve = trained.stats.get("curve")
    curves = {"step": list(range(1, len(curve["loss"]) + 1))} | curve if curve else None
    arrays = {
        "Z": trained.Z.astype(np.float32),
        "logits": trained.logits.astype(np.float32),
        **trained.map_state.to_arrays(),
    }
    if trained.Zp is not None:
        scale = rms_scale(trained.Zp[: len(data.y_train)])
        arrays["drift"] = M.point_drift(trained.Z, trained.Zp, scale)
        arrays["edited"] = trained.edited
    store.save_checkpoint(run_id, trained.task.ckpt, state, arrays, lease=lease, curves=curves)


def save_records(store: RunStore, run_id: str, trained: Trained, rec: dict, lease=None) -> None:
    """The checkpoint's metrics records (validation and the locked test split)."""
    rec = dict(rec)
    test = rec.pop("test")
    test_rec = {"checkpoint": trained.task.ckpt, **test}
    store.append_jsonl(run_id, "test_metrics.jsonl", test_rec, lease=lease)
    store.append_jsonl(run_id, "metrics.jsonl", rec, lease=lease)
