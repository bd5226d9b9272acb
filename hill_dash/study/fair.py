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

import csv
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from hill_dash.engine.edits import MAX_WEIGHT, Edit
from hill_dash.engine.errors import HillError
from hill_dash.study.fair_arms import (  # noqa: F401 - re-exported names of the arms
    ARMS_BY_USER,
    DIRECT_ARMS,
    LATENT_ARMS,
    OVERRIDES,
    PRIMARY_ARM,
)


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


# -- provenance: the commit a study ran on, and the log of every invocation -----------


def git_state(where: Path | None = None) -> dict:
    """{commit, branch, clean}: clean = no tracked file outside docs/study differs from
    the commit (the code and docs a study runs on)."""
    where = Path(where or Path(__file__).resolve().parents[2])

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            # the study's own outputs (docs/study: log.csv, study.json files) do not count
            "clean": git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/study")
            == "",
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "branch": None, "clean": None}


LOG_FIELDS = ("time", "command", "commit", "clean", "out")


def log_invocation(log_csv: Path, command: str, git: dict, out: str) -> None:
    """Append one row to docs/study/log.csv (made with its header when missing)."""
    log_csv = Path(log_csv)
    log_csv.parent.mkdir(parents=True, exist_ok=True)
    new = not log_csv.exists()
    with log_csv.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(LOG_FIELDS)
        w.writerow(
            [
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                command,
                git.get("commit"),
                git.get("clean"),
                out,
            ]
        )


def command_line(argv: list[str]) -> str:
    return "python -m hill_dash " + " ".join(shlex.quote(a) for a in argv)


# -- scoring --------------------------------------------------------------------------


def outcome(data, logits: np.ndarray, split: str) -> dict:
    from hill_dash.study.scenario_runner import split_outcome

    out = split_outcome(data, logits, split)
    return {k: v for k, v in out.items() if k != "groups"} | {"groups": out.get("groups")}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


# -- the human input, as each arm uses it ---------------------------------------------


def selections(entry: dict) -> list[tuple[list[int], int]]:
    """(indices, class) of the pulls of one chunk of an `InspectAndPull` log."""
    return [(list(p["indices"]), int(p["target"])) for p in entry.get("pulls", [])]


def reads_of(entry: dict) -> dict[int, int]:
    return {int(i): int(c) for i, c in entry.get("inspected", []) if c is not None and c >= 0}


def gestures(entry: dict) -> int:
    return (
        len(entry.get("pulls", []))
        + len(entry.get("compacts", []))
        + len(entry.get("separates", []))
    )


class ArmEdits:
    """Turns the user's log into one arm's edits, chunk by chunk (k = 1, 2, ...)."""

    def __init__(self, arm: str, data, log: list[dict], rng: np.random.Generator):
        self.arm, self.data, self.log, self.rng = arm, data, log, rng
        self.n_train = len(data.y_train)
        self.truth = data.y_train_true if data.y_train_true is not None else data.y_train
        self.queue_read: set[int] = set()
        self.marked: set[int] = set()
        self.labels = np.array(data.y_train, dtype=np.int64)  # labels after relabels so far

    def __call__(self, k: int, logits: np.ndarray) -> tuple[list[Edit], dict]:
        entry = self.log[k - 1]
        fn = getattr(self, "_" + self.arm.replace("+", "_").replace("-", "_"))
        return fn(entry, logits)

    def _train_only(self, idx) -> list[int]:
        return sorted({int(i) for i in idx if int(i) < self.n_train})

    def _pulls(self, entry, logits):
        edits = [Edit("pull", sorted(i), target_class=c) for i, c in selections(entry)]
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}

    _latent = _latent_kd = _kd_only = _pulls

    def _relabels(self, entry) -> list[Edit]:
        """Relabel edits: each pulled group to its class, each read point to its read."""
        edits = []
        reads = reads_of(entry)
        for idx, c in selections(entry):
            idx = [i for i in self._train_only(idx) if i not in reads]
            if idx:
                edits.append(Edit("relabel", idx, target_class=c))
                self.labels[idx] = c
                self.marked.update(idx)
        by_class: dict[int, list[int]] = {}
        for i, c in reads.items():
            if i < self.n_train:
                by_class.setdefault(c, []).append(i)
        for c, idx in sorted(by_class.items()):
            edits.append(Edit("relabel", sorted(idx), target_class=c))
            self.labels[idx] = c
            self.marked.update(idx)
        return edits

    def _relabel(self, entry, logits):
        return self._relabels(entry), {
            "gestures": gestures(entry),
            "thumbnails": len(entry["inspected"]),
        }

    def _upweight(self, entry, logits):
        edits = self._relabels(entry)
        if self.marked:
            marked = sorted(self.marked)
            others = int(np.sum(self.labels >= 0)) - len(marked)
            w = float(np.clip(others / len(marked), 1.0, MAX_WEIGHT))
            edits.append(Edit("weight", marked, weight=w))
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}

    def _random(self, entry, logits):
        """Groups of the user's sizes: random training points shown as a random class c,
        pulled to c (their shown label). A group never takes every point of c: a pull
        needs one outside the selection to pull toward (few labels: a class may have
        fewer points than the user's group)."""
        y = self.data.y_train
        used: set[int] = set()
        edits = []
        for idx, _ in selections(entry):
            size = len(self._train_only(idx))
            c = int(self.rng.integers(self.data.n_classes))
            members = np.flatnonzero(y == c)
            pool = np.array([i for i in members if int(i) not in used])
            k = min(size, len(pool), len(members) - 1)
            if k <= 0:
                continue
            pick = self.rng.choice(pool, size=k, replace=False)
            used.update(int(i) for i in pick)
            edits.append(Edit("pull", sorted(int(i) for i in pick), target_class=c))
        return edits, {"gestures": gestures(entry), "thumbnails": 0}

    def _queue(self, entry, logits):
        """Per-sample labelling: read the k least-confident training points of this arm's
        head not read before (k = the user's thumbnails this chunk), relabel them."""
        k = len(entry["inspected"])
        conf = _softmax(np.asarray(logits[: self.n_train], dtype=np.float64)).max(1)
        order = [int(i) for i in np.argsort(conf, kind="stable") if int(i) not in self.queue_read]
        pick = order[:k]
        self.queue_read.update(pick)
        by_class: dict[int, list[int]] = {}
        for i in pick:
            by_class.setdefault(int(self.truth[i]), []).append(i)  # the thumbnail, read
        edits = [Edit("relabel", sorted(idx), target_class=c) for c, idx in by_class.items()]
        return edits, {"gestures": len(pick), "thumbnails": len(pick)}

    def _pseudo_label(self, entry, logits):
        """The user's selections (compacts; each half of a separate) relabelled to the
        head's majority prediction on them: the label-free use of the same selection."""
        pred = np.asarray(logits[: self.n_train]).argmax(1)
        groups = [list(c) for c in entry.get("compacts", [])]
        for a, b in entry.get("separates", []):
            groups += [list(a), list(b)]
        edits = []
        for idx in groups:
            idx = self._train_only(idx)
            if idx:
                c = int(np.bincount(pred[idx], minlength=self.data.n_classes).argmax())
                edits.append(Edit("relabel", idx, target_class=c))
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}


def dfr(data, Z: np.ndarray, log: list[dict]) -> dict:
    """Last layer refitted on the unguided encoder's latents: every labelled training point
    (labels as the `relabel` arm leaves them), groups = (class, selected by the user),
    each group weighing the same in total."""
    from sklearn.linear_model import LogisticRegression

    n = len(data.y_train)
    y = np.array(data.y_train, dtype=np.int64)
    selected = np.zeros(n, bool)
    for entry in log:
        reads = reads_of(entry)
        for idx, c in selections(entry):
            idx = [i for i in idx if i < n and i not in reads]
            y[idx] = c
            selected[idx] = True
        for i, c in reads.items():
            if i < n:
                y[i] = c
                selected[i] = True
    rows = np.flatnonzero(y >= 0)
    groups = y[rows] * 2 + selected[rows]
    w = np.zeros(len(rows))
    for g in np.unique(groups):
        w[groups == g] = 1.0 / np.sum(groups == g)
    w *= len(rows) / w.sum()
    F = np.maximum(Z.astype(np.float64), 0.0)
    clf = LogisticRegression(C=1.0, max_iter=3000)
    clf.fit(F[rows], y[rows], sample_weight=w)
    logits = np.full((len(F), data.n_classes), -1e9)
    logits[:, clf.classes_] = clf.predict_log_proba(F)
    return {"logits": logits, "fitted_on": int(len(rows)), "selected": int(selected.sum())}


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
