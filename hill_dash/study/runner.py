"""The study: do scripted users' latent edits beat the unguided twin, and which plant bias?

For every seed, one run is created and its chunk 0 trained; each strategy then
gets its own copy of that run (same split, same initial weights, same batch
orders) and makes its edits on the guided head's map before each of `chunks`
guided chunks. The engine trains every guided chunk together with its unguided
twin (same checkpoint, same seed, λ = 0), so "guided − twin" per seed is a
paired difference that only the edits explain.

What is measured, per strategy and seed:

- validation accuracy, validation gap (train − val accuracy) after every chunk,
  guided and twin, with per-class accuracies, confusions and bias flags;
- the locked test accuracy of both final heads, read once per run through
  `loop.reveal_test` (the scripted user's "final evaluation"; the reveal is
  recorded in run.json like a person's).

The report (`hill_dash.study.report`) turns these into paired differences over
seeds and writes study.json, study.md and the plots.

Projection: "pca" by default (instant, exact inverse); the strategies read
latents and labels, so the map method only changes `translate` edits of the
random control. Torch runs single-threaded per process by default: on two
shared cores one thread is several times faster for these small models, and
`--jobs 2` then runs two seeds at once.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from hill_dash.study.config import StudyConfig
from hill_dash.study.strategies import budget_used, get_strategy, make_state

# -- one seed --------------------------------------------------------------------------


def run_seed(cfg: StudyConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    """Chunk 0 once, then every strategy on its own copy of the run; returns plain numbers.
    Runs on `cfg.threads` torch threads and puts the caller's count back after."""
    from hill_dash.engine.training import torch_threads

    with torch_threads(cfg.threads):
        return _run_seed(cfg, seed, work_dir, data_dir)


def _run_seed(cfg: StudyConfig, seed: int, work_dir: str, data_dir: str) -> dict:
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
        name=f"study-seed{seed}",
    )
    loop.run_chunk(base, run_id)
    c0 = base.metrics(run_id)["c0"]
    y_all, split = data.all_y(), data.split_array()
    out = {"seed": seed, "c0": _split_numbers(c0), "strategies": {}}
    for s_index, spec in enumerate(cfg.strategies):
        store = RunStore(root / f"s{s_index}")
        shutil.copytree(base.root, store.root, dirs_exist_ok=True)
        strategy = get_strategy(spec)
        rng = np.random.default_rng([seed, zlib.crc32(spec.encode())])
        edits_log = []
        for _ in range(cfg.chunks):
            head = store.load_run(run_id)["heads"]["guided"]
            arrays = store.load_arrays(run_id, head)
            state = make_state(
                arrays["Z"],
                arrays["coords"],
                y_all,
                arrays["logits"],
                split,
                data.n_classes,
                rng,
                cfg.budget,
            )
            edits = strategy(state)
            used = budget_used(edits, split)
            if used > state.budget:
                raise AssertionError(f"{spec}: {used} points edited, budget {state.budget}")
            for e in edits:
                loop.add_edit(store, run_id, e)
            rec = loop.run_chunk(store, run_id)
            edits_log.append(
                {
                    "edits": len(edits),
                    "points": used,
                    "budget": state.budget,
                    "kinds": sorted({e.kind for e in edits}),
                    **{
                        k: rec.get("teacher", {}).get(k)
                        for k in ("n_edited", "relabels", "touched_classes")
                    },
                }
            )
        out["strategies"][spec] = _collect(store, run_id, edits_log)
        _log(
            f"seed {seed} {spec}: guided val "
            f"{out['strategies'][spec]['chunks'][-1]['guided']['val_acc']:.4f} twin "
            f"{out['strategies'][spec]['chunks'][-1]['twin']['val_acc']:.4f}"
        )
    out["seconds"] = time.time() - t0
    return out


def _split_numbers(rec: dict) -> dict:
    return {
        "val_acc": rec["val"]["acc"],
        "train_acc": rec["train"]["acc"],
        "gap": rec["gap"],
        "val_per_class": rec["val"]["per_class"],
        "val_confusion": rec["val"]["confusion"],
        "train_per_class": rec["train"]["per_class"],
    }


def _collect(store, run_id: str, edits_log: list[dict]) -> dict:
    from hill_dash.engine import loop

    run = store.load_run(run_id)
    metrics = store.metrics(run_id, run)
    chunks = []
    for ch in run["chunks"][1:]:
        g, u = metrics[ch["guided"]], metrics[ch["twin"]]
        chunks.append(
            {
                "chunk": ch["index"],
                "guided": _split_numbers(g) | {"drift": g.get("drift")},
                "twin": _split_numbers(u),
                # paired signals vs the unguided lineage, and vs the counterfactual chunk
                "bias": g.get("bias", []),
                "shifts": g.get("shifts", []),
                "counterfactual": g.get("counterfactual"),
                "realized": ch.get("realized", []),
            }
        )
    test = loop.reveal_test(store, run_id)  # the scripted user's final evaluation, recorded
    return {
        "chunks": chunks,
        "edits": edits_log,
        "test": {
            lin: {
                "acc": test[lin]["acc"],
                "per_class": test[lin]["per_class"],
                "confusion": test[lin]["confusion"],
            }
            for lin in ("guided", "twin")
        },
        "test_reveals": test["reveals"],
    }


def _log(msg: str) -> None:
    print(f"[study] {msg}", file=sys.stderr, flush=True)


# -- the whole study -------------------------------------------------------------------


def run_study(
    cfg: StudyConfig,
    out_dir: str | Path,
    work_dir: str | Path | None = None,
    keep_runs: bool = False,
    command: str | None = None,
) -> dict:
    """Train every (seed, strategy), summarise, and write study.json, study.md and PNGs."""
    from hill_dash.engine.data import load_dataset
    from hill_dash.study.report import summarize, twins_agree, write_report

    cfg.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hill-study-"))
    data_dir = work / "data"
    data = load_dataset(cfg.dataset, data_dir, cfg.first_seed)  # fail early; caches mnist1d
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    t0 = time.time()
    try:
        if cfg.jobs > 1:
            with ProcessPoolExecutor(cfg.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(run_seed, cfg, s, str(work), str(data_dir)) for s in seeds]
                results = [f.result() for f in futures]
        else:
            results = [run_seed(cfg, s, str(work), str(data_dir)) for s in seeds]
    finally:
        if not keep_runs and not work_dir:
            shutil.rmtree(work, ignore_errors=True)
    study = {
        "config": cfg.to_dict(),
        "command": command,
        "dataset": {
            "name": data.name,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
            "n_test": len(data.y_test),
            "n_classes": data.n_classes,
            "label_names": data.label_names,
        },
        "machine": machine_info(),
        "seconds": time.time() - t0,
        "twins_identical_across_strategies": twins_agree(cfg, results),
        "summary": summarize(cfg, results),
        "seeds": results,
    }
    write_report(study, out_dir)
    return study


def machine_info() -> dict:
    import platform

    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
