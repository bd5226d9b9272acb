"""The scenario study: does a person's latent guidance beat simply using their annotations?

Per seed, on one scenario (`hill_dash.engine.scenarios`):

1. one run is created and its chunk 0 trained (map: UMAP by default, as a person uses it);
2. the scripted user (`inspect_and_pull.InspectAndPull`) gets its own copy and, before
   each of `chunks` guided chunks, reads the guided head's Loop page (`view.PersonView`:
   map, labels shown, predictions, ≤ `thumbnails` inspected samples) and makes pulls;
   the engine trains the guided chunk, the unguided lineage and the counterfactual chunk;
3. the random control (`random_edits.RandomEdits`) does the same at the same edit budget;
4. the annotation controls (`controls`) get the user's reads and selections, chunk by
   chunk, and train from c0 on the unguided lineage's batches without latents; DFR refits
   the unguided lineage's last layer on the reads.

Validation metrics are read per chunk; the locked test split once per run, at the end
(`loop.reveal_test` records the reveal for the runs in the store; a control's test
logits are computed once, after its last chunk). Groups (`group_*`) and true training
labels are read only here, to score, never by a user.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from hill_dash.study.config import ScenarioConfig
from hill_dash.study.controls import default_controls, dfr, train_control
from hill_dash.study.strategies import budget_used
from hill_dash.study.users import USERS
from hill_dash.study.view import make_view


def split_outcome(data, logits: np.ndarray, split: str) -> dict:
    """Accuracy (and worst-group / average over the scenario's groups) on val or test."""
    from hill_dash.engine.scenarios import group_accuracy

    n_tr, n_va = len(data.y_train), len(data.y_val)
    rows = slice(n_tr, n_tr + n_va) if split == "val" else slice(n_tr + n_va, None)
    if len(logits) != len(data.all_y()):  # validation logits only
        rows = slice(None)
    y = getattr(data, f"y_{split}")
    pred = np.asarray(logits)[rows].argmax(1)
    out = {"acc": float(np.mean(pred == y))}
    if data.has_groups:
        g = group_accuracy(
            y, pred, getattr(data, f"group_{split}"), data.group_names, data.group_train
        )
        out |= {"worst": g["worst"], "average": g["average"], "groups": g["groups"]}
    return out


def _user_arm(cfg, spec, base, run_id, data, seed, root) -> dict:
    """One user (or the random control) on its own copy of the run; test read at the end."""
    from hill_dash.engine import loop
    from hill_dash.engine.store import RunStore

    store = RunStore(root / spec)
    shutil.copytree(base.root, store.root, dirs_exist_ok=True)
    user = (
        USERS[spec](trust_after=cfg.trust_after, keep_pulls=cfg.keep_pulls)
        if spec != "random"
        else USERS[spec]()
    )
    rng = np.random.default_rng([seed, zlib.crc32(spec.encode())])
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
        used = budget_used(edits, split)
        if used > budget or len(view.inspected) > cfg.thumbnails:
            raise AssertionError(f"{spec}: {used} points, {len(view.inspected)} thumbnails")
        for e in edits:
            loop.add_edit(store, run_id, e)
        rec = loop.run_chunk(store, run_id)
        chunks.append(_chunk_numbers(store, run_id, rec, data, edits, before, used, view))
    run = store.load_run(run_id)
    test = loop.reveal_test(store, run_id)  # the final evaluation, recorded in run.json
    final = {lin: store.load_arrays(run_id, ck)["logits"] for lin, ck in run["heads"].items()}
    return {
        "chunks": chunks,
        "log": user.log,
        "test": {lin: split_outcome(data, lg, "test") for lin, lg in final.items()},
        "test_reveals": test["reveals"],
        "budget": budget,
    }


def _chunk_numbers(store, run_id, rec, data, edits, before, used, view) -> dict:
    """Validation outcome of every lineage, and what the head did with the pulled points."""
    n_tr = len(data.y_train)
    names = {"guided": rec["guided"], "twin": rec["twin"], "counterfactual": rec["counterfactual"]}
    logits = {lin: store.load_arrays(run_id, ck)["logits"] for lin, ck in names.items() if ck}
    val = {lin: split_outcome(data, lg, "val") for lin, lg in logits.items()}
    pulls = [e for e in edits if e.kind == "pull"]
    head = {}
    if pulls:
        idx = np.concatenate([np.asarray(e.indices) for e in pulls])
        target = np.concatenate([np.full(len(e.indices), e.target_class) for e in pulls])
        keep = idx < n_tr
        idx, target = idx[keep], target[keep]
        truth = data.y_train_true if data.y_train_true is not None else data.y_train
        head = {
            "points": int(len(idx)),
            # scored here, never seen by the user: were the pulls right, did they find the group
            "precision": float(np.mean(truth[idx] == target)) if len(idx) else None,
            "group_points": int(data.group_train[idx].sum()) if data.has_groups else None,
            "before": _share(before["logits"], idx, target),
        }
        head |= {lin: _share(lg, idx, target) for lin, lg in logits.items()}
    return {
        "chunk": rec["index"],
        "val": val,
        "edits": len(edits),
        "points": used,
        "inspected": len(view.inspected),
        "relabels": (rec.get("teacher") or {}).get("relabels"),
        "realized": rec.get("realized", []),
        "head": head,  # share of the pulled training points predicted as their pull's class
    }


def _share(logits: np.ndarray, idx: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.asarray(logits)[idx].argmax(1) == target)) if len(idx) else None


def run_scenario_seed(cfg: ScenarioConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    """One seed on `cfg.threads` torch threads; the caller's count is put back after."""
    from hill_dash.engine.training import torch_threads

    with torch_threads(cfg.threads):
        return _run_scenario_seed(cfg, seed, work_dir, data_dir)


def _run_scenario_seed(cfg: ScenarioConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    from hill_dash.engine import loop
    from hill_dash.engine.data import load_dataset
    from hill_dash.engine.store import RunStore
    from hill_dash.engine.training import ChunkConfig

    t0 = time.time()
    root = Path(work_dir) / f"seed{seed}"
    base = RunStore(root / "base")
    data = load_dataset(cfg.dataset, data_dir, seed)
    chunk = ChunkConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lam=cfg.lam, kd_weight=cfg.kd_weight
    )
    run_id = loop.create_run(
        base,
        data,
        arch=cfg.model,
        latent_dim=cfg.latent_dim,
        projection=cfg.projection,
        chunk=chunk,
        seed=seed,
        device="cpu",
        name=f"scenario-seed{seed}",
    )
    loop.run_chunk(base, run_id)
    c0 = split_outcome(data, base.load_arrays(run_id, "c0")["logits"], "val")
    arms, seconds = {}, {"c0": time.time() - t0}
    for spec in (cfg.user, "random"):
        t = time.time()
        arms[spec] = _user_arm(cfg, spec, base, run_id, data, seed, root)
        seconds[spec] = time.time() - t
        _log(f"seed {seed} {spec}: {seconds[spec]:.0f} s")
    log = arms[cfg.user]["log"]
    controls = {}
    for name in cfg.controls or default_controls(cfg.dataset):
        t = time.time()
        if name == "dfr":
            twin_final = RunStore(root / cfg.user).load_run(run_id)["heads"]["twin"]
            Z = RunStore(root / cfg.user).load_arrays(run_id, twin_final)["Z"]
            out = dfr(data, Z, log, decoy="decoy" in cfg.dataset)
            controls[name] = {
                "val": [split_outcome(data, out["logits"], "val")],
                "test": split_outcome(data, out["logits"], "test"),
                "fitted_on": out["fitted_on"],
                "groups": out["groups"],
            }
        else:
            out = train_control(base, run_id, data, name, log, cfg.chunks)
            controls[name] = {
                "val": [split_outcome(data, lg, "val") for lg in out["val_logits"]],
                "test": split_outcome(data, out["logits"], "test"),
                "relabelled": out["relabelled"],
                "upweighted": out["upweighted"],
            }
        seconds[name] = time.time() - t
    seconds["total"] = time.time() - t0
    _log(f"seed {seed} done in {seconds['total']:.0f} s")
    return {"seed": seed, "c0": c0, "arms": arms, "controls": controls, "seconds": seconds}


def _log(msg: str) -> None:
    print(f"[scenario] {msg}", file=sys.stderr, flush=True)


def run_scenario_study(
    cfg: ScenarioConfig,
    out_dir: str | Path,
    work_dir: str | Path | None = None,
    command: str | None = None,
    git: dict | None = None,
) -> dict:
    """Train every seed, summarise, and write study.json, study.md and the plots."""
    from hill_dash.engine.data import load_dataset
    from hill_dash.study.runner import machine_info
    from hill_dash.study.scenario_report import summarize_scenario, write_scenario_report

    cfg.check()
    cfg.controls = list(cfg.controls or default_controls(cfg.dataset))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hill-scenario-"))
    data_dir = work / "data"
    data = load_dataset(cfg.dataset, data_dir, cfg.first_seed)  # fail early; caches mnist1d
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    load_before = _load()
    t0 = time.time()
    try:
        if cfg.jobs > 1:
            with ProcessPoolExecutor(cfg.jobs, mp_context=get_context("spawn")) as pool:
                futures = [
                    pool.submit(run_scenario_seed, cfg, s, str(work), str(data_dir)) for s in seeds
                ]
                results = [f.result() for f in futures]
        else:
            results = [run_scenario_seed(cfg, s, str(work), str(data_dir)) for s in seeds]
    finally:
        if not work_dir:
            shutil.rmtree(work, ignore_errors=True)
    study = {
        "kind": "scenario",
        "config": cfg.to_dict(),
        "command": command,
        "git": git,  # commit and whether the tree was clean (provenance.git_state)
        "dataset": {
            "name": data.name,
            "description": data.description,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
            "n_test": len(data.y_test),
            "n_unlabelled": data.n_unlabelled,
            "group_names": data.group_names,
        },
        "machine": machine_info() | {"load_before": load_before, "load_after": _load()},
        "seconds": time.time() - t0,
        "seeds": results,
    }
    study["summary"] = summarize_scenario(study)
    write_scenario_report(study, out_dir)
    return study


def _load() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None
