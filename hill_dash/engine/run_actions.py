"""What a person does to a run besides training it: reveal the test split, fork, re-fit maps.

- `reveal_test`: the locked test metrics of both heads, once asked for; every reveal is
  recorded in run.json, and from then on the split is no longer untouched.
- `fork_run`: a new run whose root is any checkpoint of an existing one.
- `refit_map`: a fresh layout for the heads' maps, when the person wants one (updates
  keep the old frame so that movement shows); recorded in run.json under "refits".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hill_dash.engine.annotations import log_at
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import METHODS, fit_map
from hill_dash.engine.store import RunStore


def record_root(chunk: dict) -> Callable[[dict], None]:
    """The run.json change that names checkpoint c0 the root and head of both lineages."""

    def record(r: dict) -> None:
        r["checkpoints"]["c0"] = {"lineage": "root", "chunk": 0, "parent": None}
        r["heads"] = {"guided": "c0", "twin": "c0"}
        r["chunks"].append(chunk)

    return record


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
        "refits": [],
        "forked_from": {"run": run_id, "checkpoint": ckpt},
        "annotations": log_at(run, ckpt),  # the labels and weights ckpt was trained with
    }
    new_id = store.create_run(new, data)
    state = store.load_state(run_id, ckpt)
    store.save_checkpoint(new_id, "c0", state, store.load_arrays(run_id, ckpt))
    rec = store.metrics(run_id, run).get(ckpt, {})
    test = {r["checkpoint"]: r for r in store.read_jsonl(run_id, "test_metrics.jsonl")}.get(ckpt)
    store.append_jsonl(new_id, "metrics.jsonl", rec | {"checkpoint": "c0", "lineage": "root"})
    if test:
        store.append_jsonl(new_id, "test_metrics.jsonl", test | {"checkpoint": "c0"})

    chunk = {
        "index": 0,
        "forked": True,
        "guided": "c0",
        "twin": "c0",
        "counterfactual": None,
        "edits": [],
        "from": None,
    }
    # only now does run.json name the complete checkpoint
    store.update_run(new_id, record_root(chunk))
    return new_id


def refit_map(store: RunStore, run_id: str, method: str | None = None) -> dict:
    """A fresh layout of the guided head's map, and of the unguided head's aligned onto it.

    Refused while edits are pending (their arrows and selections belong to the old
    layout) and while a chunk trains. Returns the record added to run.json's "refits".
    """
    with store.training_lock(run_id, job="refit") as lease, lease.keepalive():
        run = store.load_run(run_id)
        if not run.get("heads"):
            raise StoreError(f"run {run_id!r}: train a first chunk before re-fitting its map")
        if run.get("pending"):
            raise StoreError(
                f"run {run_id!r}: {len(run['pending'])} pending edit(s) were made on the current "
                "layout; train or clear them before re-fitting the map"
            )
        method = method or run["config"].get("projection", "umap")
        if method not in METHODS:
            raise StoreError(f"refit: method {method!r}, expected one of {METHODS}")
        seed = int(run["config"].get("seed", 0))
        fitted = run["sizes"]["train"] + run["sizes"]["val"]
        heads = run["heads"]
        guided = store.load_arrays(run_id, heads["guided"])
        fresh = fit_map(guided["Z"], method, seed=seed, fitted=fitted)
        store.replace_map(run_id, heads["guided"], fresh.to_arrays(), lease=lease)
        if heads["twin"] != heads["guided"]:
            twin = store.load_arrays(run_id, heads["twin"])
            aligned = fit_map(twin["Z"], method, seed=seed, fitted=fitted, align_onto=fresh.coords)
            store.replace_map(run_id, heads["twin"], aligned.to_arrays(), lease=lease)
        record = {
            "guided": heads["guided"],
            "twin": heads["twin"],
            "method": method,
            "time": time.time(),
        }

        def change(r: dict) -> None:
            r.setdefault("refits", []).append(record)
            r["config"]["projection"] = method

        store.update_run(run_id, change, lease=lease)
        return record
