"""A counterfactual chunk in a test run, until the engine records its own (CONTRACT, issue 9.2).

When the engine already wrote `chunk["counterfactual"]`, nothing is changed. Otherwise a
stand-in checkpoint `f<k>` is made from the unguided lineage's checkpoint of the chunk:
its map mirrored (x → −x, so a test can tell which map it sees) and its validation
accuracy lowered by `acc_drop`, recorded in run.json and metrics.jsonl the way the engine
contract describes (lineage "counterfactual", a side branch from the guided parent).
"""

from __future__ import annotations

import shutil

import numpy as np

from hill_dash.engine.store import RunStore


def ensure_counterfactual(store: RunStore, run_id: str, k: int, acc_drop: float = 0.05) -> str:
    run = store.load_run(run_id)
    chunk = run["chunks"][k]
    if "counterfactual" in chunk and chunk["counterfactual"] is not None:
        return chunk["counterfactual"]
    f = f"f{k}"
    src = store.checkpoint_dir(run_id, chunk["twin"])
    dst = store.checkpoint_dir(run_id, f)
    shutil.copytree(src, dst)
    arrays = store.load_arrays(run_id, f)
    arrays["coords"] = arrays["coords"] * np.array([-1.0, 1.0], dtype=arrays["coords"].dtype)
    np.savez(dst / "maps.npz", **arrays)
    rec = dict(store.metrics(run_id, run)[chunk["twin"]])
    rec["val"] = dict(rec["val"]) | {"acc": rec["val"]["acc"] - acc_drop}
    rec |= {"checkpoint": f, "lineage": "counterfactual"}
    store.append_jsonl(run_id, "metrics.jsonl", rec)

    def record(r: dict) -> None:
        parent = r["chunks"][k]["from"]["guided"]
        r["checkpoints"][f] = {"lineage": "counterfactual", "chunk": k, "parent": parent}
        for ch in r["chunks"][1:]:
            ch.setdefault("counterfactual", "u1" if ch["index"] == 1 else None)
        r["chunks"][k]["counterfactual"] = f

    store.update_run(run_id, record)
    return f
