"""Peak memory with a 70 000 x 784 data set (MNIST-sized), in a fresh process per run.

The child builds a synthetic 70 000 x 784 float32 data set in memory (kind
"flat", 10 classes; split 70/15/15), creates a run with the MLP, trains chunk 0
for one epoch and stores the first map (PCA, or UMAP), then reports its peak
resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`), and the peak
already reached once the data set was built (`after_data_mb`: interpreter,
torch, numpy and the data). The data set itself is 70 000 x 784 x 4 B = 220 MB.
Target: <= 2 GB.

    python bench/bench_memory.py [--runs 5] [--projections pca umap]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import common
from common import summary, write_result

CHILD = r"""
import resource, sys, time
import numpy as np
from hill_dash.engine import loop
from hill_dash.engine.data import Dataset
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig
n, f, k = 70_000, 784, 10
g = np.random.default_rng(0)
y = np.arange(n) % k
centres = g.normal(size=(k, f)).astype(np.float32)
X = np.empty((n, f), np.float32)
for s in range(0, n, 5000):  # in float32 blocks: no 440 MB float64 temporary
    X[s : s + 5000] = centres[y[s : s + 5000]] + g.standard_normal(
        (min(5000, n - s), f), dtype=np.float32)
a, b = int(0.7 * n), int(0.85 * n)
data = Dataset("synthetic-70000x784", "flat", X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:],
               [str(c) for c in range(k)])
del X
data_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = RunStore(sys.argv[1])
t0 = time.perf_counter()
run_id = loop.create_run(store, data, arch="mlp", projection=sys.argv[2],
                         chunk=ChunkConfig(epochs=1))
del data
loop.run_chunk(store, run_id)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"PEAK {peak_kb} {time.perf_counter() - t0:.2f} {data_kb}", flush=True)
"""


def one_run(projection: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(common.ROOT))
    with tempfile.TemporaryDirectory(prefix="hill-mem-") as store:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, store, projection],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("PEAK "))
    _, kb, seconds, data_kb = line.split()
    return {
        "peak_mb": int(kb) / 1024,
        "after_data_mb": int(data_kb) / 1024,
        "chunk0_seconds": float(seconds),
        "wall": wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--projections", nargs="+", default=["pca", "umap"])
    p.add_argument("--out", default="memory")
    args = p.parse_args()
    res = {}
    for proj in args.projections:
        runs = [one_run(proj) for _ in range(args.runs)]
        res[proj] = {k: summary([r[k] for r in runs]) for k in runs[0]}
        res[proj]["meets_target"] = res[proj]["peak_mb"]["median"] <= 2048
        write_result(args.out, res)


if __name__ == "__main__":
    main()
