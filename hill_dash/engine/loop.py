"""The latent loop, one chunk at a time, reading and writing only the run store.

`create_run` stores a data set and a config; `run_chunk` trains the next chunk
of both lineages (guided with the pending edits as teacher, and its unguided
twin with the same seed and λ = 0), evaluates them, updates their maps aligned
to the previous ones and records everything. It needs nothing but the store,
so a background job in a fresh process (or on a Celery worker) can run it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hill_dash.engine import metrics as M
from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import StoreError
from hill_dash.engine.models import ModelConfig, build_model, default_arch
from hill_dash.engine.projection import MapState, fit_map, update_map
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit, Teacher, build_teacher, rms_scale
from hill_dash.engine.training import (
    ChunkCancelled,
    ChunkConfig,
    infer,
    make_optimizer,
    pick_device,
    train_chunk,
)

Progress = Callable[[int, int, str], None]  # (step, total, message)
LINEAGES = ("guided", "twin")


@dataclass
class RunConfig:
    """Everything a fresh process needs to continue a run (stored in run.json)."""

    model: ModelConfig
    chunk: ChunkConfig
    projection: str = "umap"  # "umap" | "pca"
    seed: int = 0  # model init and per-chunk batch-order seeds derive from it
    device: str = "auto"  # "auto" | "cpu" | "cuda"

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "chunk": self.chunk.to_dict(),
            "projection": self.projection,
            "seed": self.seed,
            "device": self.device,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        return cls(
            model=ModelConfig.from_dict(d["model"]),
            chunk=ChunkConfig.from_dict(d["chunk"]),
            projection=d.get("projection", "umap"),
            seed=int(d.get("seed", 0)),
            device=d.get("device", "auto"),
        )


@dataclass(frozen=True)
class _TrainedLineage:
    """One lineage after a chunk: everything `_save` stores for its checkpoint."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    Z: np.ndarray  # (n_all, latent_dim) latents of all splits
    logits: np.ndarray  # (n_all, n_classes)
    map_state: MapState  # aligned to the parent's map
    rec: dict  # metrics record, test split included until `_save` locks it away
    edited: np.ndarray  # (n_all,) bool: points the teacher moved (none for the twin)
    Zp: np.ndarray | None  # (n_all, latent_dim) the parent's latents; None for chunk 0


def create_run(
    store: RunStore,
    dataset: Dataset,
    arch: str | None = None,
    latent_dim: int = 32,
    projection: str = "umap",
    chunk: ChunkConfig | None = None,
    seed: int = 0,
    device: str = "auto",
    name: str | None = None,
) -> str:
    """Store the data set and config of a new run (no training yet); returns its id."""
    model = ModelConfig(
        arch=arch or default_arch(dataset.kind),
        sample_shape=tuple(dataset.sample_shape),
        n_classes=dataset.n_classes,
        latent_dim=latent_dim,
    )
    build_model(model)  # fail now, not in a background job, if the config cannot build
    cfg = RunConfig(model=model, chunk=chunk or ChunkConfig(), projection=projection, seed=seed)
    cfg.device = device
    run = {
        "name": name or dataset.name,
        "dataset": dataset.name,
        "created": time.time(),
        "config": cfg.to_dict(),
        "sizes": {
            "train": len(dataset.y_train),
            "val": len(dataset.y_val),
            "test": len(dataset.y_test),
        },
        "label_names": list(dataset.label_names),
        "checkpoints": {},
        "heads": {},
        "chunks": [],
        "pending": [],
        "redo": [],
        "test_reveals": [],
    }
    return store.create_run(run, dataset)


def chunk_seed(run_seed: int, index: int) -> int:
    return run_seed * 100_003 + index


def run_chunk(
    store: RunStore,
    run_id: str,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    overrides: dict | None = None,
) -> dict:
    """Train the next chunk of a run (the first chunk when it has none); returns its record.

    `overrides` may change this chunk's hyper-parameters (epochs, lam, anchor,
    lr, batch_size, kd_weight). Raises ChunkCancelled when stopped; then
    nothing of the chunk is stored.
    """
    with store.training_lock(run_id):
        progress = _beating(progress, store.heartbeat(run_id))
        store.remove_leftovers(run_id)  # of a job killed mid-write
        run = store.load_run(run_id)
        cfg = RunConfig.from_dict(run["config"])
        data = store.load_dataset(run_id)
        device = pick_device(cfg.device)
        if not run["heads"]:
            return _first_chunk(store, run_id, run, cfg, data, device, progress, should_stop)
        return _paired_chunk(
            store, run_id, run, cfg, data, device, progress, should_stop, overrides or {}
        )


def _first_chunk(store, run_id, run, cfg, data, device, progress, should_stop) -> dict:
    """Chunk 0: ordinary training from a fresh model; both lineages start from it."""
    t0 = time.time()
    model = build_model(cfg.model, seed=cfg.seed).to(device)
    opt = make_optimizer(model, cfg.chunk.lr)
    ccfg = ChunkConfig.from_dict(cfg.chunk.to_dict() | {"seed": chunk_seed(cfg.seed, 0), "lam": 0})
    total = ccfg.epochs * _n_batches(len(data.y_train), ccfg.batch_size) + 1
    step_fn = _step_reporter(progress, "chunk 0")
    stats = train_chunk(
        model, opt, data.X_train, data.y_train, ccfg, None, step_fn, should_stop, total_steps=total
    )
    _report(progress, total - 1, total, "chunk 0: projecting the latent map")
    logits, Z = infer(model, data.all_X())
    map_state = fit_map(Z, cfg.projection, seed=cfg.seed)
    edited = np.zeros(len(Z), bool)
    rec = _evaluate(data, logits, Z, None, None, edited, None)
    rec |= {"checkpoint": "c0", "lineage": "root", "chunk": 0, "train_loss": stats["loss"]}
    root = _TrainedLineage(model, opt, Z, logits, map_state, rec, edited, Zp=None)
    _save(store, run_id, "c0", root, data)
    chunk = {
        "index": 0,
        "seed": ccfg.seed,
        "config": ccfg.to_dict(),
        "edits": [],
        "guided": "c0",
        "twin": "c0",
        "from": None,
        "seconds": time.time() - t0,
    }

    store.update_run(run_id, _record_root(chunk))
    _report(progress, total, total, "chunk 0 done")
    return chunk


def _record_root(chunk: dict) -> Callable[[dict], None]:
    """The run.json change that names checkpoint c0 the root and head of both lineages."""

    def record(r: dict) -> None:
        r["checkpoints"]["c0"] = {"lineage": "root", "chunk": 0, "parent": None}
        r["heads"] = {"guided": "c0", "twin": "c0"}
        r["chunks"].append(chunk)

    return record


def _paired_chunk(store, run_id, run, cfg, data, device, progress, should_stop, overrides):
    t0 = time.time()
    index = len(run["chunks"])
    heads = run["heads"]
    ccfg = ChunkConfig.from_dict(
        cfg.chunk.to_dict() | overrides | {"seed": chunk_seed(cfg.seed, index)}
    )
    pending = [e for e in run.get("pending", []) if e.get("on") == heads["guided"]]
    n_all = len(data.all_y())
    edits = [Edit.from_dict(e, n_all, f"pending[{i}]") for i, e in enumerate(pending)]
    Zg, map_g, _ = store.load_map(run_id, heads["guided"])
    teacher = build_teacher(
        edits, Zg, map_g, data.all_y(), data.split_array(), anchor=ccfg.anchor > 0
    )
    per = ccfg.epochs * _n_batches(len(data.y_train), ccfg.batch_size)
    total = 2 * per + 2
    ids = {"guided": f"g{index}", "twin": f"u{index}"}
    results = {}
    for i, lineage in enumerate(LINEAGES):
        parent = heads[lineage]
        lam_cfg = (
            ccfg
            if lineage == "guided"
            else ChunkConfig.from_dict(
                ccfg.to_dict() | {"lam": 0.0, "anchor": 0.0, "kd_weight": 0.0}
            )
        )
        model, opt = _restore(store, run_id, parent, cfg, device, lr=ccfg.lr)
        step_fn = _step_reporter(progress, f"chunk {index} {lineage}")
        stats = train_chunk(
            model,
            opt,
            data.X_train,
            data.y_train,
            lam_cfg,
            teacher if lineage == "guided" else None,
            step_fn,
            should_stop,
            step_offset=i * per,
            total_steps=total,
        )
        results[lineage] = (model, opt, stats, parent)
    _report(progress, 2 * per, total, f"chunk {index}: updating the latent maps")
    outputs = {}
    for lineage, (model, opt, stats, parent) in results.items():
        if should_stop is not None and should_stop():
            raise ChunkCancelled("stopped while updating the maps")
        Zp, map_p, _ = store.load_map(run_id, parent)
        logits, Z = infer(model, data.all_X())
        map_state = _aligned_map(Z, Zp, map_p, cfg)
        edited = np.zeros(n_all, bool)
        if lineage == "guided":
            edited[teacher.train_idx] = True
        rec = _evaluate(data, logits, Z, Zp, teacher, edited, rms_scale(Zp[: len(data.y_train)]))
        rec |= {
            "checkpoint": ids[lineage],
            "lineage": lineage,
            "chunk": index,
            "train_loss": stats["loss"],
            "teacher_loss": stats["teacher"],
        }
        outputs[lineage] = _TrainedLineage(model, opt, Z, logits, map_state, rec, edited, Zp)
        _report(progress, 2 * per + 1 + (lineage == "twin"), total, f"chunk {index}: {lineage} map")
    g_rec, u_rec = outputs["guided"].rec, outputs["twin"].rec
    g_rec["bias"] = M.bias_flags(
        g_rec["val"]["per_class"],
        u_rec["val"]["per_class"],
        list(np.bincount(data.y_val, minlength=data.n_classes).tolist()),
        teacher.touched_classes,
    )
    for lineage, out in outputs.items():
        _save(store, run_id, ids[lineage], out, data)
    consumed = {e.get("id") for e in pending}
    chunk = {
        "index": index,
        "seed": ccfg.seed,
        "config": ccfg.to_dict(),
        "edits": pending,
        "teacher": _teacher_summary(teacher),
        "guided": ids["guided"],
        "twin": ids["twin"],
        "from": dict(heads),
        "seconds": time.time() - t0,
    }

    def record(r: dict) -> None:
        for lineage in LINEAGES:
            r["checkpoints"][ids[lineage]] = {
                "lineage": lineage,
                "chunk": index,
                "parent": heads[lineage],
            }
        r["heads"] = dict(ids)
        r["chunks"].append(chunk)
        r["pending"] = [e for e in r.get("pending", []) if e.get("id") not in consumed]
        r["redo"] = []

    store.update_run(run_id, record)
    _report(progress, total, total, f"chunk {index} done")
    return chunk


def _aligned_map(Z: np.ndarray, Zp: np.ndarray, map_p: MapState, cfg: RunConfig) -> MapState:
    if map_p.method == cfg.projection:
        return update_map(Z, Zp, map_p, seed=cfg.seed)
    from hill_dash.engine.projection import align_to

    fresh = fit_map(Z, cfg.projection, seed=cfg.seed)
    aligned = align_to(fresh.coords, map_p.coords)[0]
    if cfg.projection == "pca":  # keep PCA exact: refit the affine map to the aligned coords
        return update_map(
            Z,
            Z,
            MapState(
                method="pca", coords=aligned.astype(np.float32), mean=None, linear=None, offset=None
            ),
            seed=cfg.seed,
        )
    fresh.coords = aligned.astype(np.float32)
    return fresh


def _teacher_summary(t: Teacher) -> dict:
    return {
        "n_edited": int(len(t.train_idx)),
        "left_out": t.left_out,
        "relabels": t.relabels,
        "touched_classes": t.touched_classes,
        "scale": t.scale,
    }


def _evaluate(data: Dataset, logits, Z, Zp, teacher, edited, scale_prev) -> dict:
    """Metrics of one checkpoint (test split included; the caller locks it away)."""
    n_tr, n_va = len(data.y_train), len(data.y_val)
    parts = {
        "train": slice(0, n_tr),
        "val": slice(n_tr, n_tr + n_va),
        "test": slice(n_tr + n_va, None),
    }
    ys = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
    rec = {
        name: M.split_metrics(logits[sl], ys[name], data.n_classes) for name, sl in parts.items()
    }
    rec["gap"] = rec["train"]["acc"] - rec["val"]["acc"]
    if Zp is not None:
        rec["drift"] = M.latent_drift(Z, Zp, scale_prev, edited)
        rec["cka"] = M.linear_cka(Z[:n_tr], Zp[:n_tr])
    if teacher is not None and not teacher.empty and edited.any():
        rec["adherence"] = M.adherence(teacher.start, Z[teacher.train_idx], teacher.targets)
    return rec


def _save(store, run_id, ckpt, out: _TrainedLineage, data: Dataset) -> None:
    state = {
        "model": {k: v.cpu() for k, v in out.model.state_dict().items()},
        "optimizer": out.opt.state_dict(),
        "rng": torch.get_rng_state(),
    }
    arrays = {
        "Z": out.Z.astype(np.float32),
        "logits": out.logits.astype(np.float32),
        **out.map_state.to_arrays(),
    }
    if out.Zp is not None:
        arrays["drift"] = M.point_drift(out.Z, out.Zp, rms_scale(out.Zp[: len(data.y_train)]))
        arrays["edited"] = out.edited
    store.save_checkpoint(run_id, ckpt, state, arrays)
    test = out.rec.pop("test")
    store.append_jsonl(run_id, "test_metrics.jsonl", {"checkpoint": ckpt, **test})
    store.append_jsonl(run_id, "metrics.jsonl", out.rec)


def _restore(store, run_id, ckpt, cfg: RunConfig, device, lr: float):
    state = store.load_state(run_id, ckpt)
    model = build_model(cfg.model, seed=cfg.seed)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as exc:
        path = store.checkpoint_dir(run_id, ckpt) / "model.pt"
        raise StoreError(f"{path}: field 'model' does not fit the run's model ({exc})") from exc
    model.to(device)
    opt = make_optimizer(model, cfg.chunk.lr)
    opt.load_state_dict(state["optimizer"])
    for group in opt.param_groups:  # the chunk's learning rate wins over the stored one
        group["lr"] = lr
    torch.set_rng_state(state["rng"])
    return model, opt


def _n_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def _step_reporter(progress: Progress | None, label: str):
    if progress is None:
        return None
    return lambda step, total, loss: progress(step, total, f"{label}: loss {loss:.4f}")


def _beating(progress: Progress | None, beat: Callable[[], None]) -> Progress:
    """`progress` that also keeps the training lock's heartbeat fresh (throttled by `beat`)."""

    def report(step: int, total: int, message: str) -> None:
        beat()
        if progress is not None:
            progress(step, total, message)

    return report


def _report(progress: Progress | None, step: int, total: int, message: str) -> None:
    if progress is not None:
        progress(step, total, message)


# -- edits and the locked test split ------------------------------------------


def add_edit(store: RunStore, run_id: str, edit: Edit) -> dict:
    """Append a pending edit made on the guided head's map; clears redo."""
    record = edit.to_dict() | {"id": uuid.uuid4().hex[:10]}

    def change(r: dict) -> None:
        if not r["heads"]:
            raise StoreError(f"run {run_id!r}: train a first chunk before editing")
        n_all = sum(r["sizes"].values())
        Edit.from_dict(record, n_all)  # validate against this run
        record["on"] = r["heads"]["guided"]
        r["pending"].append(record)
        r["redo"] = []

    store.update_run(run_id, change)
    return record


def undo_edit(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        if r["pending"]:
            r["redo"].append(r["pending"].pop())

    return store.update_run(run_id, change)


def redo_edit(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        if r["redo"]:
            r["pending"].append(r["redo"].pop())

    return store.update_run(run_id, change)


def clear_edits(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        r["redo"].extend(reversed(r["pending"]))
        r["pending"] = []

    return store.update_run(run_id, change)


def reveal_test(store: RunStore, run_id: str) -> dict:
    """The locked test metrics of both heads; the reveal is recorded in run.json."""
    run = store.load_run(run_id)
    heads = run["heads"]
    tests = {r["checkpoint"]: r for r in store.read_jsonl(run_id, "test_metrics.jsonl")}
    out = {lineage: tests.get(ck) for lineage, ck in heads.items()}

    def change(r: dict) -> None:
        r["test_reveals"].append({"time": time.time(), "heads": dict(heads)})

    run = store.update_run(run_id, change)
    return out | {"reveals": len(run["test_reveals"])}


def fork_run(store: RunStore, run_id: str, ckpt: str, name: str | None = None) -> str:
    """A new run whose root is checkpoint `ckpt` of `run_id` (maps, metrics and weights)."""
    run = store.load_run(run_id)
    if ckpt not in run["checkpoints"]:
        raise StoreError(f"run {run_id!r}: no checkpoint {ckpt!r}")
    data = store.load_dataset(run_id)
    new = {k: run[k] for k in ("dataset", "config", "sizes", "label_names")}
    new |= {
        "name": name or f"{run['name']} fork {ckpt}",
        "created": time.time(),
        "checkpoints": {},
        "heads": {},
        "chunks": [],
        "pending": [],
        "redo": [],
        "test_reveals": [],
        "forked_from": {"run": run_id, "checkpoint": ckpt},
    }
    new_id = store.create_run(new, data)
    state = store.load_state(run_id, ckpt)
    store.save_checkpoint(new_id, "c0", state, store.load_arrays(run_id, ckpt))
    rec = store.metrics(run_id, run).get(ckpt, {})
    test = {r["checkpoint"]: r for r in store.read_jsonl(run_id, "test_metrics.jsonl")}.get(ckpt)
    store.append_jsonl(new_id, "metrics.jsonl", rec | {"checkpoint": "c0", "lineage": "root"})
    if test:
        store.append_jsonl(new_id, "test_metrics.jsonl", test | {"checkpoint": "c0"})

    chunk = {"index": 0, "forked": True, "guided": "c0", "twin": "c0", "edits": [], "from": None}
    # only now does run.json name the complete checkpoint
    store.update_run(new_id, _record_root(chunk))
    return new_id
