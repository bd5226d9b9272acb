"""A synthetic Loop run for the callback tests: 20,000 points written straight into a
RunStore (clustered 32-d latents, PCA and UMAP-style maps, two chunks with metrics and
per-point drift), so no training or projection fitting happens; and the server-time
record the tests print (`pytest -s`), never assert: that is for benchmarks.
"""

from __future__ import annotations

import time

import numpy as np

from hill_dash.dashboard import views
from hill_dash.engine import loop
from hill_dash.engine import metrics as M
from hill_dash.engine.data import Dataset
from hill_dash.engine.projection import MapState, fit_map
from hill_dash.engine.store import RunStore
from tests import unpaired_rule

N = 20_000
N_MAP = int(N * 0.7) + int(N * 0.15)  # train + val: the test split is never on the map
K = 10
D = 32
TIMINGS: dict[str, float] = {}


def synthetic_run(root, method: str = "pca", n: int = N, seed: int = 0) -> tuple[RunStore, str]:
    """A run with chunk 0 (c0) and one paired chunk (g1, u1), written without training."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (K, D))
    n_tr, n_va = int(n * 0.7), int(n * 0.15)
    y = rng.integers(0, K, n)
    X = rng.random((n, 8, 8)).astype(np.float32)
    data = Dataset(
        "synthetic",
        "image",
        X[:n_tr],
        y[:n_tr],
        X[n_tr : n_tr + n_va],
        y[n_tr : n_tr + n_va],
        X[n_tr + n_va :],
        y[n_tr + n_va :],
        [f"c{i}" for i in range(K)],
    )
    store = RunStore(root)
    run_id = loop.create_run(store, data, arch="mlp", projection=method)
    y_all = data.all_y()
    W = np.linalg.pinv(centres.T)  # logits = Z @ W.T: mostly right, some noise
    Z0 = (centres[y_all] + rng.normal(0, 1.5, (n, D))).astype(np.float32)
    Zg = Z0 + rng.normal(0, 0.2, (n, D)).astype(np.float32)
    Zu = Z0 + rng.normal(0, 0.2, (n, D)).astype(np.float32)

    def map_of(Z):
        state = fit_map(Z, "pca")
        return state if method == "pca" else MapState("umap", state.coords)

    def save(ck, Z, lineage, chunk, prev=None, edited=None):
        logits = (Z @ W.T).astype(np.float32)
        arrays = {"Z": Z, "logits": logits, **map_of(Z).to_arrays()}
        rec = {"checkpoint": ck, "lineage": lineage, "chunk": chunk, "train_loss": 0.5}
        for name, sl in (("train", slice(0, n_tr)), ("val", slice(n_tr, n_tr + n_va))):
            rec[name] = M.split_metrics(logits[sl], y_all[sl], K)
        rec["gap"] = rec["train"]["acc"] - rec["val"]["acc"]
        if prev is not None:
            scale = float(np.sqrt((prev[:n_tr] ** 2).sum(1).mean()))
            arrays["drift"] = M.point_drift(Z, prev, scale)
            arrays["edited"] = edited
            rec["drift"] = M.latent_drift(Z, prev, scale, edited)
        store.save_checkpoint(run_id, ck, {"model": {}}, arrays)
        return rec

    store.append_jsonl(run_id, "metrics.jsonl", save("c0", Z0, "root", 0))
    edited = np.zeros(n, bool)
    edited[:500] = True
    g = save("g1", Zg, "guided", 1, Z0, edited)
    u = save("u1", Zu, "twin", 1, Z0, np.zeros(n, bool))
    g["bias"] = unpaired_rule.bias_flags(
        g["val"]["per_class"],
        u["val"]["per_class"],
        np.bincount(y_all[n_tr : n_tr + n_va], minlength=K).tolist(),
        [0, 1],
    )
    store.append_jsonl(run_id, "metrics.jsonl", g)
    store.append_jsonl(run_id, "metrics.jsonl", u)

    def record(r):
        r["checkpoints"] = {
            "c0": {"lineage": "root", "chunk": 0, "parent": None},
            "g1": {"lineage": "guided", "chunk": 1, "parent": "c0"},
            "u1": {"lineage": "twin", "chunk": 1, "parent": "c0"},
        }
        r["heads"] = {"guided": "g1", "twin": "u1"}
        r["chunks"] = [
            {
                "index": 0,
                "edits": [],
                "guided": "c0",
                "twin": "c0",
                "from": None,
                "config": {"lam": 0, "epochs": 5},
                "seconds": 1.0,
            },
            {
                "index": 1,
                "edits": [{"kind": "compact", "indices": list(range(500)), "beta": 0.5}],
                "guided": "g1",
                "twin": "u1",
                "from": {"guided": "c0", "twin": "c0"},
                "config": {"lam": 1.0, "epochs": 5},
                "teacher": {"n_edited": 500, "relabels": 0},
                "seconds": 2.0,
            },
        ]

    store.update_run(run_id, record)
    return store, run_id


def timed(name: str, fn, *args, repeat: int = 3, **kwargs):
    """Best of `repeat` (the first call warms the read cache), recorded for the summary."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    TIMINGS[name] = best * 1000
    return out


def print_timings():
    """Print what `timed` recorded, and forget it (each module's autouse fixture calls it
    at the module's end)."""
    if TIMINGS:
        print("\nLoop callbacks at 20,000 points (best of 3, ms):")
        for name, ms in TIMINGS.items():
            print(f"  {name:<44} {ms:8.2f}")
    TIMINGS.clear()


def map_data(store, run_id):
    run = store.load_run(run_id)
    return run, views.load_map_data(store, run)
