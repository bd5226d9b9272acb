"""The fair study (issue 16): is a latent edit worth more than the label it implies?

Per seed, on one scenario:

1. a run is created and its chunk 0 trained (UMAP map, as a person uses it);
2. the primary arm gets its own copy: the scripted user reads that arm's guided map
   before each chunk and makes its edits (`InspectAndPull`: pulls; `GroupWithoutNames`:
   compacts and separates); the engine trains the chunk with the product's defaults
   (λ = 1, output distillation off). Its unguided lineage is the `unguided` arm;
3. every other arm gets its own copy of chunk 0 and, chunk by chunk, the same human input
   turned into its own edits, through the product's edit path (`loop.add_edit` +
   `loop.run_chunk`): the same pulls with distillation on (`latent+kd`) or with only the
   output term (`kd-only`), Relabel edits (`relabel`), Relabel + Weight (`upweight`),
   random groups of the same sizes pulled to their shown class (`random`), the k
   least-confident points of its own head read and relabelled (`queue`), the user's
   selections relabelled to the head's majority prediction (`pseudo-label`);
4. `dfr` refits the unguided lineage's final last layer on all labelled training points,
   groups (class × selected by the user) weighted equally.

Human effort per arm: gestures (one per lasso the person applies, one per point a queue
labels) and thumbnails read, summed over chunks. Test numbers are read once per arm at the
end; groups and true labels are read only to score, and by the `queue` arm to read the k
points it shows (a person reading those thumbnails).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from hill_dash.engine.errors import HillError
from hill_dash.study.fair_arms import ARMS_BY_USER, OVERRIDES, PRIMARY_ARM, ArmEdits, dfr, gestures
from hill_dash.study.provenance import git_state


@dataclass
class FairConfig:
    """One scenario of the fair study (stored in study.json)."""

    dataset: str = "digits-decoy"
    user: str = "inspect-and-pull"
    arms: list[str] | None = None  # None: every arm of the user (ARMS_BY_USER)
    model: str | None = None
    seeds: int = 10
    first_seed: int = 0
    chunks: int = 3
    epochs: int = 5
    batch_size: int = 64
    lam: float = 1.0
    budget: float = 0.1
    thumbnails: int = 50
    trust_after: int = 0
    keep: bool = True
    latent_dim: int = 32
    projection: str = "umap"
    threads: int = 1
    jobs: int = 1
    live: str | None = None  # the arm whose map the user reads (None: the primary arm)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        from hill_dash.engine.scenarios import SCENARIOS

        if self.dataset not in SCENARIOS:
            raise HillError(f"fair study: --dataset {self.dataset!r}: expected a scenario")
        if self.user not in ARMS_BY_USER:
            raise HillError(f"fair study: --user {self.user!r}: expected {list(ARMS_BY_USER)}")
        for a in self.arms or []:
            if a not in ARMS_BY_USER[self.user]:
                raise HillError(
                    f"fair study: --arms {a!r}: expected some of {ARMS_BY_USER[self.user]}"
                )
        live_arms = [a for a in ARMS_BY_USER[self.user] if a not in NOT_LIVE]
        if self.live is not None and self.live not in live_arms:
            raise HillError(f"fair study: --live {self.live!r}: expected one of {live_arms}")
        if self.seeds < 1 or self.chunks < 1 or self.epochs < 1:
            raise HillError("fair study: --seeds, --chunks, --epochs must be at least 1")

    @property
    def arm_list(self) -> list[str]:
        """The live arm first (the user reads its map), then the replayed arms."""
        arms = list(self.arms or ARMS_BY_USER[self.user])
        live = self.live or PRIMARY_ARM[self.user]
        return [live] + [a for a in arms if a != live]


# arms that cannot host the user: a refit after the fact, and two that read nothing
NOT_LIVE = ("dfr", "random", "queue")


def headline(dataset: str) -> str:
    """The scenario's headline test metric: worst-group on decoy / noisy, else accuracy."""
    if dataset.endswith("-decoy") or dataset.endswith("-noisy"):
        return "worst"
    return "acc"


# -- scoring --------------------------------------------------------------------------


def outcome(data, logits: np.ndarray, split: str) -> dict:
    from hill_dash.study.scenario_runner import split_outcome

    out = split_outcome(data, logits, split)
    return {k: v for k, v in out.items() if k != "groups"} | {"groups": out.get("groups")}


# -- one seed -------------------------------------------------------------------------


def _copy(base, root: Path, name: str):
    from hill_dash.engine.store import RunStore

    store = RunStore(root / name.replace("+", "_"))
    shutil.copytree(base.root, store.root, dirs_exist_ok=True)
    return store


def _chunk_row(store, run_id, rec, data, effort: dict, n_edits: int) -> dict:
    from hill_dash.study.scenario_runner import split_outcome

    g = store.load_arrays(run_id, rec["guided"])["logits"]
    shares = [r.get("share") for r in rec.get("realized", []) if r.get("share") is not None]
    return {
        "chunk": rec["index"],
        "val": split_outcome(data, g, "val"),
        "edits": n_edits,
        "realized_median": float(np.median(shares)) if shares else None,
        "annotations": rec.get("annotations"),
    } | effort


def _final(store, run_id, data, lineage: str = "guided") -> dict:
    from hill_dash.study.scenario_runner import split_outcome

    run = store.load_run(run_id)
    logits = store.load_arrays(run_id, run["heads"][lineage])["logits"]
    return split_outcome(data, logits, "test")


def _live_arm(cfg, arm, base, run_id, data, seed, root) -> tuple[dict, list[dict]]:
    """The primary arm: the scripted user reads this arm's map before each chunk."""
    from hill_dash.engine import loop
    from hill_dash.study.strategies import budget_used
    from hill_dash.study.users import USERS
    from hill_dash.study.view import make_view

    store = _copy(base, root, arm)
    if cfg.user == "inspect-and-pull":
        user = USERS[cfg.user](trust_after=cfg.trust_after, keep_pulls=cfg.keep)
    else:
        user = USERS[cfg.user](keep=cfg.keep)
    rng = np.random.default_rng([seed, zlib.crc32(cfg.user.encode())])
    # a live arm other than the primary turns each chunk's reads and selections into its
    # own edits (as it does when replayed), on its own map
    plan = None
    if arm != PRIMARY_ARM[cfg.user]:
        plan = ArmEdits(
            arm, data, user.log, np.random.default_rng([seed, zlib.crc32(arm.encode())])
        )
    truth = np.concatenate(
        [data.y_train_true if data.y_train_true is not None else data.y_train, data.y_val]
    )
    X_visible = np.concatenate([data.X_train, data.X_val])
    split = data.split_array()
    budget = max(1, int(round(cfg.budget * len(data.y_train))))
    chunks = []
    for _ in range(cfg.chunks):
        head = store.load_run(run_id)["heads"]["guided"]
        before = store.load_arrays(run_id, head)
        view = make_view(
            X_visible,
            truth,
            before["coords"],
            data.all_y(),
            before["logits"],
            split,
            data.n_classes,
            rng,
            budget,
            cfg.thumbnails,
        )
        edits = user(view)
        if budget_used(edits, split) > budget or len(view.inspected) > cfg.thumbnails:
            raise AssertionError(f"{arm}: over budget")
        if plan is not None:
            edits, _ = plan(len(user.log), before["logits"])
        for e in edits:
            loop.add_edit(store, run_id, e)
        rec = loop.run_chunk(store, run_id, overrides=OVERRIDES.get(arm, {}))
        effort = {"gestures": gestures(user.log[-1]), "thumbnails": len(view.inspected)}
        chunks.append(_chunk_row(store, run_id, rec, data, effort, len(edits)))
    result = {"chunks": chunks, "test": _final(store, run_id, data)}
    unguided = {"test": _final(store, run_id, data, "twin")}
    return result | {"unguided": unguided, "store": str(store.root)}, user.log


def run_fair_seed(cfg: FairConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    """One seed on `cfg.threads` torch threads; the caller's count is put back after."""
    from hill_dash.engine.training import torch_threads

    with torch_threads(cfg.threads):
        return _run_fair_seed(cfg, seed, work_dir, data_dir)


def _run_fair_seed(cfg: FairConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    from hill_dash.engine import loop
    from hill_dash.engine.data import load_dataset
    from hill_dash.engine.store import RunStore
    from hill_dash.engine.training import ChunkConfig

    t0 = time.time()
    root = Path(work_dir) / f"seed{seed}"
    base = RunStore(root / "base")
    data = load_dataset(cfg.dataset, data_dir, seed)
    chunk = ChunkConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lam=cfg.lam, kd_weight=0.0)
    run_id = loop.create_run(
        base,
        data,
        arch=cfg.model,
        latent_dim=cfg.latent_dim,
        projection=cfg.projection,
        chunk=chunk,
        seed=seed,
        device="cpu",
        name=f"fair-seed{seed}",
    )
    loop.run_chunk(base, run_id)
    seconds = {"c0": time.time() - t0}
    arms: dict[str, dict] = {}
    primary = cfg.arm_list[0]  # the live arm
    t = time.time()
    live, log = _live_arm(cfg, primary, base, run_id, data, seed, root)
    arms[primary] = {k: v for k, v in live.items() if k not in ("unguided", "store")}
    arms["unguided"] = live["unguided"] | {"chunks": []}
    seconds[primary] = time.time() - t
    _log(f"seed {seed} {primary}: {seconds[primary]:.0f} s")
    for arm in cfg.arm_list[1:]:
        t = time.time()
        if arm == "dfr":
            twin = RunStore(Path(live["store"])).load_run(run_id)["heads"]["twin"]
            Z = RunStore(Path(live["store"])).load_arrays(run_id, twin)["Z"]
            out = dfr(data, Z, log)
            effort = {
                "gestures": sum(gestures(e) for e in log),
                "thumbnails": sum(len(e["inspected"]) for e in log),
            }
            arms[arm] = {
                "chunks": [],
                "test": outcome(data, out["logits"], "test"),
                "fitted_on": out["fitted_on"],
                "selected": out["selected"],
                "effort": effort,
            }
        else:
            arms[arm] = _replay(cfg, arm, base, run_id, data, seed, root, log)
        seconds[arm] = time.time() - t
        _log(f"seed {seed} {arm}: {seconds[arm]:.0f} s")
    for res in arms.values():
        if "effort" not in res:
            res["effort"] = {
                "gestures": sum(c.get("gestures", 0) for c in res["chunks"]),
                "thumbnails": sum(c.get("thumbnails", 0) for c in res["chunks"]),
            }
    seconds["total"] = time.time() - t0
    shutil.rmtree(root, ignore_errors=True)
    _log(f"seed {seed} done in {seconds['total']:.0f} s")
    return {"seed": seed, "arms": arms, "log": log, "seconds": seconds}


def _replay(cfg, arm, base, run_id, data, seed, root, log) -> dict:
    from hill_dash.engine import loop

    store = _copy(base, root, arm)
    plan = ArmEdits(arm, data, log, np.random.default_rng([seed, zlib.crc32(arm.encode())]))
    chunks = []
    for k in range(1, cfg.chunks + 1):
        head = store.load_run(run_id)["heads"]["guided"]
        logits = store.load_arrays(run_id, head)["logits"]
        edits, effort = plan(k, logits)
        for e in edits:
            loop.add_edit(store, run_id, e)
        # the replayed arms read only their guided lineage: no references to train
        rec = loop.run_chunk(store, run_id, overrides=OVERRIDES.get(arm, {}), references=False)
        chunks.append(_chunk_row(store, run_id, rec, data, effort, len(edits)))
    test = _final(store, run_id, data)
    shutil.rmtree(store.root, ignore_errors=True)
    return {"chunks": chunks, "test": test}


def _log(msg: str) -> None:
    print(f"[fair] {msg}", file=sys.stderr, flush=True)


# -- the study ------------------------------------------------------------------------


def run_fair_study(
    cfg: FairConfig,
    out_dir: str | Path,
    work_dir: str | Path | None = None,
    command: str | None = None,
    git: dict | None = None,
) -> dict:
    from hill_dash.engine.data import load_dataset
    from hill_dash.study.fair_report import summarize, write_report
    from hill_dash.study.runner import machine_info

    cfg.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hill-fair-"))
    data_dir = work / "data"
    data = load_dataset(cfg.dataset, data_dir, cfg.first_seed)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    t0 = time.time()
    try:
        if cfg.jobs > 1:
            with ProcessPoolExecutor(cfg.jobs, mp_context=get_context("spawn")) as pool:
                futures = [
                    pool.submit(run_fair_seed, cfg, s, str(work), str(data_dir)) for s in seeds
                ]
                results = [f.result() for f in futures]
        else:
            results = [run_fair_seed(cfg, s, str(work), str(data_dir)) for s in seeds]
    finally:
        if not work_dir:
            shutil.rmtree(work, ignore_errors=True)
    study = {
        "kind": "fair",
        "config": cfg.to_dict(),
        "command": command,
        "git": git or git_state(),
        "headline": headline(cfg.dataset),
        "dataset": {
            "name": data.name,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
            "n_test": len(data.y_test),
            "group_names": data.group_names,
        },
        "machine": machine_info(),
        "seconds": time.time() - t0,
        "seeds": results,
    }
    study["summary"] = summarize(study)
    write_report(study, out_dir)
    return study
