"""The aligned map update vs a fresh umap-learn fit on the same latents, and map stability.

Latents: realistic blobs, not a trained model (a 70k-point model would take the
benchmark's whole budget to train): 10 classes in 32-d, each class a mixture of
three sub-clusters with different spreads, like the latent layer of a small
classifier mid-training. The next checkpoint's latents move "barely": Gaussian
noise of 1 % of the latents' RMS norm.

Per size, side by side in one loop: `update_map(Z1, Z0, map0)` (the app's
path: graph search along map0's k-NN graph, local transform + Procrustes, plus
a short warm-started UMAP refinement up to 5k points) and `fit_map(Z1, "umap")`
(a fresh umap-learn fit, seeded). Disparity: Procrustes disparity between the
map of Z0 and the map of Z1, for the update and for a fresh fit (0 = the same
layout up to rotation and scale). Timed alongside: the update without
refinement (`refine_epochs=0`), and the update as it was before the graph
search (`exact_update`: exact all-pairs k-NN by scikit-learn, the path a map
stored without its graph still takes). Once per size: the search's recall
against the exact neighbours. The load average is recorded per size.
Targets: fresh / update >= 10; update disparity <= 0.05.

    python bench/bench_projection.py [--sizes 5000 20000 70000] [--update-runs 5]
                                     [--fresh-runs 5 5 3]
"""

from __future__ import annotations

import argparse
import os
import time

import common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
from common import summary, write_result

from hill_dash.engine import projection as P
from hill_dash.engine.projection import (
    MapState,
    default_refine_epochs,
    fit_map,
    procrustes_disparity,
    update_map,
    warm_up_numba,
)


def blobs(n: int, d: int = 32, classes: int = 10, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    centres = g.normal(scale=4.0, size=(classes, d))
    sub = centres[:, None, :] + g.normal(scale=1.5, size=(classes, 3, d))
    spread = g.uniform(0.5, 1.2, size=(classes, 3))
    c = np.arange(n) % classes
    k = g.integers(0, 3, size=n)
    Z = sub[c, k] + g.normal(size=(n, d)) * spread[c, k, None]
    return np.maximum(Z, 0.0).astype(np.float32)  # ReLU-like, as after an activation


def exact_update(Z_new, Z_prev, prev: MapState, seed: int = 0) -> MapState:
    """`update_map` for UMAP as it was before the graph search (the same code path)."""
    Z_new, Z_prev = P._check_latents(Z_new), P._check_latents(Z_prev)
    epochs = default_refine_epochs(len(Z_new))
    idx, dist = P._knn(Z_new, Z_prev, P.INIT_NEIGHBORS)
    coords = P._idw(idx, dist, prev.coords.astype(np.float64))
    if epochs > 0:
        coords = P._refine(Z_new, coords, epochs, seed, parallel=False)  # exact graph inside
    aligned, _, _, _ = P._align_trimmed(coords, prev.coords)
    return MapState("umap", aligned.astype(np.float32))


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float((np.sort(found, 1)[:, :, None] == exact[:, None, :]).any(1).mean())


def clocks(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bench_size(n: int, update_runs: int, fresh_runs: int) -> dict:
    Z0 = blobs(n)
    scale = float(np.sqrt((Z0.astype(np.float64) ** 2).sum(axis=1).mean()))
    Z1 = Z0 + np.random.default_rng(1).normal(
        scale=0.01 * scale / np.sqrt(Z0.shape[1]), size=Z0.shape
    ).astype(np.float32)
    load = [os.getloadavg()[0]]
    t_first, _, map0 = clocks(lambda: fit_map(Z0, "umap", seed=0))
    upd_wall, upd_cpu, fresh_wall, fresh_cpu, ratio = [], [], [], [], []
    upd_disp, fresh_disp, bare_wall, bare_disp = [], [], [], []
    exact_wall, exact_disp, exact_ratio, fresh_exact_ratio, graph_vs_exact = [], [], [], [], []
    for r in range(max(update_runs, fresh_runs)):
        # rotate the order within a repetition, so load bursts hit every side alike
        def run_update():
            w, c, upd = clocks(lambda: update_map(Z1, Z0, map0, seed=0))
            upd_wall.append(w)
            upd_cpu.append(c)
            upd_disp.append(procrustes_disparity(map0.coords, upd.coords))
            return upd

        def run_exact():
            w, _, old = clocks(lambda: exact_update(Z1, Z0, map0, seed=0))
            exact_wall.append(w)
            exact_disp.append(procrustes_disparity(map0.coords, old.coords))
            return old

        if r % 2 == 0:
            upd, old = run_update(), run_exact()
        else:
            old, upd = run_exact(), run_update()
        exact_ratio.append(exact_wall[-1] / upd_wall[-1])
        graph_vs_exact.append(procrustes_disparity(old.coords, upd.coords))
        w0, _, bare = clocks(lambda: update_map(Z1, Z0, map0, seed=0, refine_epochs=0))
        bare_wall.append(w0)
        bare_disp.append(procrustes_disparity(map0.coords, bare.coords))
        if r < fresh_runs:
            fw, fc, fresh = clocks(lambda r=r: fit_map(Z1, "umap", seed=r))
            fresh_wall.append(fw)
            fresh_cpu.append(fc)
            ratio.append(fw / upd_wall[-1])
            fresh_exact_ratio.append(fw / exact_wall[-1])
            fresh_disp.append(procrustes_disparity(map0.coords, fresh.coords))
        load.append(os.getloadavg()[0])
    # the search's quality, once: its neighbours against the exact ones
    Z0d, Z1d = Z0.astype(np.float64), Z1.astype(np.float64)
    idx, _, (g_idx, _) = P._update_knn(Z1d, Z0d, map0)
    search_recall = {
        "previous_10nn": recall(idx, P._knn(Z1d, Z0d, P.INIT_NEIGHBORS)[0]),
        "new_graph_15nn": recall(g_idx, P._graph_knn(Z1d)[0]),
    }
    pca0 = fit_map(Z0, "pca")
    pca_wall = [clocks(lambda: update_map(Z1, Z0, pca0))[0] for _ in range(update_runs)]
    out = {
        "n": n,
        "d": int(Z0.shape[1]),
        "noise_of_rms": 0.01,
        "first_fit_seconds": t_first,
        "update_seconds": summary(upd_wall),
        "update_cpu_seconds": summary(upd_cpu),
        "fresh_seconds": summary(fresh_wall),
        "fresh_cpu_seconds": summary(fresh_cpu),
        "fresh_over_update": summary(ratio),
        "refine_epochs": default_refine_epochs(n),
        "update_no_refine_seconds": summary(bare_wall),
        "update_no_refine_disparity": summary(bare_disp),
        "update_disparity": summary(upd_disp),
        "fresh_disparity": summary(fresh_disp),
        "pca_update_seconds": summary(pca_wall),
        "exact_update_seconds": summary(exact_wall),
        "exact_update_disparity": summary(exact_disp),
        "exact_over_update": summary(exact_ratio),
        "fresh_over_exact_update": summary(fresh_exact_ratio),
        "update_vs_exact_update_disparity": summary(graph_vs_exact),
        "search_recall": search_recall,
        "load_avg_1m": load,
    }
    out["meets_speed_target"] = out["fresh_over_update"]["median"] >= 10
    out["meets_stability_target"] = out["update_disparity"]["median"] <= 0.05
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 70000])
    p.add_argument("--update-runs", type=int, default=5)
    p.add_argument("--fresh-runs", type=int, nargs="+", default=[5, 5, 3])
    p.add_argument("--out", default="projection")
    args = p.parse_args()
    warm = warm_up_numba()
    results = []
    for n, fresh in zip(args.sizes, args.fresh_runs, strict=True):
        results.append(bench_size(n, args.update_runs, fresh))
        write_result(args.out, {"numba_warm_up_seconds": warm, "sizes": results})


if __name__ == "__main__":
    main()
