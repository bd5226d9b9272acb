"""Cold start to the first map: a fresh Python process, on the machine's two cores.

The child process imports the engine, loads digits, creates a run with a UMAP
map and trains chunk 0 (5 epochs) up to and including the first UMAP fit:
what the dashboard does on the first "Train chunk". The parent measures wall
time from spawning the process until the child reports the map is stored.

- cold: NUMBA_CACHE_DIR points to a new, empty directory, so numba compiles
  umap-learn's and pynndescent's kernels (the OS file cache and Python's
  bytecode caches are warm: this is a cold *numba* start on a used machine);
- warm: the same cache directory again, after one cold run filled it.

Target: <= 20 s.

    python bench/bench_coldstart.py [--runs 5]
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
import time
t0 = time.perf_counter()
from hill_dash.engine import loop
from hill_dash.engine.data import load_builtin
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig
t_import = time.perf_counter()
import sys
store = RunStore(sys.argv[1])
data = load_builtin("digits", seed=0)
run_id = loop.create_run(store, data, arch="mlp", projection="umap", chunk=ChunkConfig(epochs=5))
loop.run_chunk(store, run_id)
assert store.load_arrays(run_id, "c0")["coords"].shape == (len(data.all_y()), 2)
print(f"MAP {t_import - t0:.3f} {time.perf_counter() - t0:.3f}", flush=True)
"""


def one_run(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(common.ROOT))
    with tempfile.TemporaryDirectory(prefix="hill-cold-") as store:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, store],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("MAP "))
    _, imports, inside = line.split()
    return {"wall": wall, "imports": float(imports), "in_process": float(inside)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", default="coldstart")
    args = p.parse_args()
    cold, warm = [], []
    shared = tempfile.mkdtemp(prefix="hill-numba-warm-")
    for r in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="hill-numba-cold-") as fresh:
            cold.append(one_run(fresh))
        if r == 0:
            one_run(shared)  # fill the shared cache once
        warm.append(one_run(shared))
    res = {}
    for name, runs in (("cold", cold), ("warm", warm)):
        res[name] = {k: summary([r[k] for r in runs]) for k in ("wall", "imports", "in_process")}
    res["meets_target_cold"] = res["cold"]["wall"]["median"] <= 20
    res["meets_target_warm"] = res["warm"]["wall"]["median"] <= 20
    write_result(args.out, res)


if __name__ == "__main__":
    main()
