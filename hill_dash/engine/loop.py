"""The latent loop, one chunk at a time, reading and writing only the run store.

`create_run` stores a data set and a config; `run_chunk` trains the next chunk and
records everything. A chunk k ≥ 1 trains, from two parents, up to three lineages:

- guided (g k): the guided head, with the pending edits as its teacher;
- the unguided lineage (u k, key "twin"): its own head, the same batches, never an edit —
  "where would I be without any guidance";
- the counterfactual chunk (f k): the *guided* head again, the same batches, no edits —
  "what did this chunk's edits do". For chunk 1 both start at c0, so the unguided chunk
  is the counterfactual (the record names u1); without edits there is none.

Given their parents the lineages are independent: the guided one trains first, then the
others at once, one torch thread each (`hill_dash.engine.lineage`). Then every checkpoint
is evaluated, its map carried over from its parent's, the bias signals compare guided
with both references, and each edit's realized share is measured for every lineage
(`hill_dash.engine.realized`; annotations — relabel, weight, exclude — by
`hill_dash.engine.annotation_effects`; which labels and weights each lineage trains
with: `hill_dash.engine.annotations`). It needs nothing but the store, so a background
job in a fresh process (or on a Celery worker) can run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hill_dash.engine import bias as B
from hill_dash.engine.annotation_effects import chunk_rows, in_edit_order
from hill_dash.engine.annotations import chunk_labels, task_labels
from hill_dash.engine.data import Dataset
from hill_dash.engine.edits import Edit, dragged_rows, steady_rows
from hill_dash.engine.lineage import (
    Task,
    Trained,
    evaluate,
    restore,
    restore_map,
    save,
    save_checkpoint,
    save_records,
    train_lineages,
)
from hill_dash.engine.models import ModelConfig, build_model, default_arch
from hill_dash.engine.pending import (
    add_edit,
    add_edits,
    clear_edits,
    guided_head,
    redo_edit,
    roll_back_arriving,
    undo_edit,
)
from hill_dash.engine.progress import ChunkProgress, Progress
from hill_dash.engine.realized_rows import realized_rows
from hill_dash.engine.run_actions import fork_run, record_root, refit_map, reveal_test
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Teacher, build_teacher
from hill_dash.engine.training import (
    ChunkCancelled,
    ChunkConfig,
    check_overrides,
    make_optimizer,
    pick_device,
    torch_threads,
)

__all__ = [
    "LINEAGES",
    "RunConfig",
    "add_edit",
    "add_edits",
    "chunk_seed",
    "clear_edits",
    "create_run",
    "fork_run",
    "guided_head",
    "redo_edit",
    "refit_map",
    "reveal_test",
    "roll_back_arriving",
    "run_chunk",
    "undo_edit",
]

LINEAGES = ("guided", "twin")  # the heads of a run
PROGRESS_SECONDS = 0.25  # at most one progress report this often (the bar polls every 0.25 s)


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


def create_run(
    store: RunStore,
    dataset: Dataset,
    arch: str | ModelConfig | None = None,
    latent_dim: int = 32,
    projection: str = "umap",
    chunk: ChunkConfig | None = None,
    seed: int = 0,
    device: str = "auto",
    name: str | None = None,
) -> str:
    """Store the data set and config of a new run (no training yet); returns its id.

    `arch`: a built-in architecture name, None (the one that suits the data), or a whole
    `ModelConfig` (e.g. a model of your own from `models.custom_config`).
    """
    if isinstance(arch, ModelConfig):
        model = arch
    else:
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
        "refits": [],
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
    references: bool = True,
    on_guided: Callable[[str], None] | None = None,
) -> dict:
    """Train the next chunk of a run (the first chunk when it has none); returns its record.

    The guided lineage trains first: as soon as its checkpoint is stored the run names it
    `arriving` (the Loop map shows it and takes the next edits) and `on_guided(ckpt)` is
    called, while the unguided lineage and the counterfactual finish; only then is the
    chunk recorded. A chunk stopped before that leaves the run at its last complete
    checkpoint, the chunk's edits pending again. `references=False` trains the guided
    lineage alone (a study's replayed arms, which never read the references): the record
    then names no unguided or counterfactual checkpoint and the unguided head stays put.

    `overrides` may change this chunk's hyper-parameters (epochs, lam, anchor, lr,
    batch_size, kd_weight, kd_temperature, threads); an unknown key or a value out of
    bounds raises a HillError naming it. Raises ChunkCancelled when stopped and
    ChunkDiverged when the loss turns NaN; then nothing of the chunk is stored. The job
    keeps its training lock alive with a heartbeat thread through every phase (training,
    inference, the map, saving), so a slow map fit is not mistaken for a dead worker.
    """
    overrides = check_overrides(overrides or {})
    with store.training_lock(run_id) as lease, lease.keepalive():
        store.remove_leftovers(run_id, lease=lease)  # of a job killed mid-write
        # read under run.json's lock: an edit being added now is either in this read or
        # sees the training lock and is refused (never stranded on the old head)
        run = store.read_run_locked(run_id)
        if run.get("arriving"):  # a chunk whose job died after its guided map was shown
            roll_back_arriving(store, run_id, lease)
            run = store.read_run_locked(run_id)
        cfg = RunConfig.from_dict(run["config"])
        data = store.load_dataset(run_id)
        threads = ChunkConfig.from_dict(cfg.chunk.to_dict() | overrides).threads
        with torch_threads(threads):
            if not run["heads"]:
                return _first_chunk(store, lease, cfg, data, progress, should_stop)
            try:
                return _paired_chunk(
                    store,
                    lease,
                    run,
                    cfg,
                    data,
                    progress,
                    should_stop,
                    overrides,
                    references,
                    on_guided,
                )
            except BaseException:
                if lease.holds() and store.load_run(run_id).get("arriving"):
                    roll_back_arriving(store, run_id, lease)
                raise


def _first_chunk(store, lease, cfg: RunConfig, data, progress, should_stop) -> dict:
    """Chunk 0: ordinary training from a fresh model; both lineages start from it."""
    t0 = time.time()
    ccfg = ChunkConfig.from_dict(cfg.chunk.to_dict() | {"seed": chunk_seed(cfg.seed, 0), "lam": 0})
    model = build_model(cfg.model, seed=cfg.seed).to(pick_device(cfg.device))
    task = Task("root", "c0", None, ccfg)
    steps = ChunkProgress(
        progress, ccfg.epochs * _n_batches(len(data.y_train), ccfg.batch_size) + 1, PROGRESS_SECONDS
    )
    trained = train_lineages(
        [(task, model, make_optimizer(model, ccfg.lr), None)], data, cfg, steps, should_stop
    )[0]
    steps.report("chunk 0: latent map made")
    run_id = lease.run_id
    save(store, run_id, trained, evaluate(data, trained) | {"chunk": 0}, data, lease)
    chunk = {
        "index": 0,
        "seed": ccfg.seed,
        "config": ccfg.to_dict(),
        "edits": [],
        "guided": "c0",
        "twin": "c0",
        "counterfactual": None,
        "from": None,
        "seconds": time.time() - t0,
    }
    store.update_run(run_id, record_root(chunk), lease=lease)
    steps.done("chunk 0 done")
    return chunk


def _paired_chunk(
    store, lease, run, cfg: RunConfig, data, progress, should_stop, overrides, references, on_guided
):
    t0 = time.time()
    run_id = lease.run_id
    index = len(run["chunks"])
    heads = run["heads"]
    device = pick_device(cfg.device)
    ccfg = ChunkConfig.from_dict(
        cfg.chunk.to_dict() | overrides | {"seed": chunk_seed(cfg.seed, index)}
    )
    bare = ChunkConfig.from_dict(ccfg.to_dict() | {"lam": 0.0, "anchor": 0.0, "kd_weight": 0.0})
    pending = [e for e in run.get("pending", []) if e.get("on") == heads["guided"]]
    n_all = len(data.all_y())
    edits = [
        Edit.from_dict(e, n_all, f"pending[{i}]", n_classes=data.n_classes)
        for i, e in enumerate(pending)
    ]
    parents = {ck: restore_map(store, run_id, ck) for ck in {heads["guided"], heads["twin"]}}
    latent = [(e, rec) for e, rec in zip(edits, pending, strict=True) if not e.annotation]
    teacher = _teacher([e for e, _ in latent], parents[heads["guided"]], data, ccfg.anchor > 0)
    labels = chunk_labels(run, data.y_train, pending)  # annotations: guided lineage only
    after, before = labels.after, labels.before
    tasks = [
        Task("guided", f"g{index}", heads["guided"], ccfg, teacher, *task_labels(after, labels)),
        Task("twin", f"u{index}", heads["twin"], bare),
    ]
    counterfactual = None
    if not references:
        tasks = tasks[:1]
    elif not teacher.empty or labels.edits:
        counterfactual = f"u{index}"
        if heads["guided"] != heads["twin"] or before.changed:
            counterfactual = f"f{index}"
            cf = Task(
                "counterfactual", counterfactual, heads["guided"], bare, None, *task_labels(before)
            )
            tasks.append(cf)
    jobs = []
    for task in tasks:
        model, opt = restore(store, run_id, task.parent, cfg, device, lr=ccfg.lr)
        jobs.append((task, model, opt, parents[task.parent]))
    per = ccfg.epochs * _n_batches(len(data.y_train), ccfg.batch_size)
    steps = ChunkProgress(progress, len(tasks) * per + 1, PROGRESS_SECONDS)
    visible = len(data.y_train) + len(data.y_val)
    steady, dragged = steady_rows(edits, visible), dragged_rows(edits, visible)
    consumed = {e.get("id") for e in pending}

    def guided_ready(t: Trained) -> None:
        """In the guided lineage's thread: store its checkpoint and show it."""
        if t.task.lineage != "guided" or len(tasks) == 1:
            return
        save_checkpoint(store, run_id, t, data, lease)

        def arrive(r: dict) -> None:
            r["arriving"] = {
                "chunk": index,
                "guided": t.task.ckpt,
                "edits": [e for e in r.get("pending", []) if e.get("id") in consumed],
            }
            r["pending"] = [e for e in r.get("pending", []) if e.get("id") not in consumed]

        store.update_run(run_id, arrive, lease=lease)
        if on_guided is not None:
            on_guided(t.task.ckpt)
        steps.report(f"chunk {index}: guided map shown · unguided lineage arriving")

    trained = {
        t.task.lineage: t
        for t in train_lineages(jobs, data, cfg, steps, should_stop, steady, dragged, guided_ready)
    }
    if should_stop is not None and should_stop():  # a Cancel is heard until it is recorded
        raise ChunkCancelled(f"chunk {index} cancelled before it was recorded")
    steps.report(f"chunk {index}: evaluating")
    recs = {lin: evaluate(data, t) | {"chunk": index} for lin, t in trained.items()}
    if references:
        recs["guided"] |= _bias(run, data, trained, teacher, labels)
    realized = realized_rows(
        [e for e, _ in latent], [r for _, r in latent], teacher, trained, data, cfg.seed
    )
    logits_of = lambda ck: store.load_arrays(run_id, ck)["logits"]  # noqa: E731
    realized = in_edit_order(
        pending, realized + chunk_rows(labels, trained, logits_of, steady, len(data.y_val))
    )
    for lineage, t in trained.items():
        if lineage == "guided" and len(tasks) > 1:  # its files are stored (guided_ready)
            save_records(store, run_id, t, recs[lineage], lease)
        else:
            save(store, run_id, t, recs[lineage], data, lease)
    chunk = {
        "index": index,
        "seed": ccfg.seed,
        "config": ccfg.to_dict(),
        "edits": pending,
        "teacher": _teacher_summary(teacher),
        "annotations": labels.summary(),
        "guided": f"g{index}",
        "twin": f"u{index}" if references else None,
        "counterfactual": counterfactual,
        "from": dict(heads),
        "realized": realized,
        "seconds": time.time() - t0,
    }
    guided_ckpt = f"g{index}"

    def record(r: dict) -> None:
        for t in tasks:
            r["checkpoints"][t.ckpt] = {"lineage": t.lineage, "chunk": index, "parent": t.parent}
        r["heads"] = {"guided": guided_ckpt, "twin": f"u{index}" if references else heads["twin"]}
        r["chunks"].append(chunk)
        r.pop("arriving", None)
        # edits made on the arriving map wait for the next chunk; any other edit was made
        # on an older head and cannot be trained any more (its selection and arrow belong
        # to a map that is gone): kept aside, named, never silently lost
        left = [e for e in r.get("pending", []) if e.get("id") not in consumed]
        r.setdefault("stale_edits", []).extend(e for e in left if e.get("on") != guided_ckpt)
        r["pending"] = [e for e in left if e.get("on") == guided_ckpt]
        r["redo"] = [e for e in r.get("redo", []) if e.get("on") == guided_ckpt]

    store.update_run(run_id, record, lease=lease)
    steps.done(f"chunk {index} done")
    return chunk


def _bias(run, data: Dataset, trained: dict, teacher: Teacher, labels) -> dict:
    """The paired tests of the guided chunk against the references (`bias.lineage_bias`)."""
    reference = trained.get("counterfactual", trained["twin"])
    val = slice(len(data.y_train), len(data.y_train) + len(data.y_val))
    return B.lineage_bias(
        data.y_val,
        {lin: t.logits[val].argmax(1) for lin, t in trained.items()},
        reference.logits[val].argmax(1),
        data.n_classes,
        run.get("chunks", []),
        sorted(set(teacher.touched_classes) | set(labels.touched)),
        B.annotation_signals(labels, data.n_classes),
    )


def _teacher(edits: list[Edit], parent, data: Dataset, anchor: bool) -> Teacher:
    Z, map_state = parent
    return build_teacher(
        edits, Z, map_state, data.all_y(), data.split_array(), anchor, data.n_classes
    )


def _teacher_summary(t: Teacher) -> dict:
    return {
        "n_edited": int(len(t.train_idx)),
        "left_out": t.left_out,
        "relabels": t.relabels,
        "touched_classes": t.touched_classes,
        "scale": t.scale,
    }


def _n_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)
