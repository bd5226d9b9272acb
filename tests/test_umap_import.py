"""umap-learn and numba plumbing (`projection/umap_import.py`): where the compiled
kernels are cached, pynndescent's eager kernels deferred, and umap-learn's uncached
kernels cached. Each check that involves compiling runs in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from hill_dash.engine import projection as proj

ROOT = Path(__file__).resolve().parents[1]


def test_configure_numba_cache_respects_existing_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    path = tmp_path / "numba"
    assert proj.configure_numba_cache(path) == str(path)
    assert path.is_dir()
    assert proj.configure_numba_cache(tmp_path / "other") == str(path)


def test_umap_maps_are_identical_whether_pynndescent_compiled_eagerly_or_not(tmp_path):
    """import_umap defers pynndescent's eager kernels; the maps must not change at all."""
    script = (
        "import sys, numpy as np\n"
        "if sys.argv[1] == 'eager':\n"
        "    import pynndescent  # the plain import: every kernel compiled at import\n"
        "from hill_dash.engine import projection as P\n"
        "Z = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)\n"
        "s = P.fit_map(Z, 'umap', seed=0)\n"
        "u = P.update_map(Z * 1.01, Z, s, seed=0)\n"
        "np.save(sys.argv[2], np.concatenate([s.coords, u.coords]))\n"
    )
    out = {}
    for mode in ("eager", "lazy"):
        path = tmp_path / f"{mode}.npy"
        subprocess.run(
            [sys.executable, "-c", script, mode, str(path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )
        out[mode] = np.load(path)
    assert np.array_equal(out["eager"], out["lazy"])


def test_umaps_own_uncached_kernels_load_from_the_disk_cache_in_the_next_process(tmp_path):
    """umap-learn compiles smooth_knn_dist, compute_membership_strengths and the layout's
    epoch without numba's cache: 4 s of every fresh process's warm-up. import_umap turns
    the cache on, so a second process loads them, and its maps are the same to the bit."""
    script = (
        "import sys, json, numpy as np\n"
        "from hill_dash.engine import projection as P\n"
        "Z = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)\n"
        "s = P.fit_map(Z, 'umap', seed=0)\n"
        "u = P.update_map(Z * 1.01, Z, s, seed=0)\n"
        "np.save(sys.argv[1], np.concatenate([s.coords, u.coords]))\n"
        "import umap.umap_ as U, umap.layouts as L\n"
        "kernels = [U.smooth_knn_dist, U.compute_membership_strengths,\n"
        "           L._nb_optimize_layout_euclidean_single_epoch]\n"
        "print(json.dumps([[sum(k.stats.cache_hits.values()),\n"
        "                   sum(k.stats.cache_misses.values())] for k in kernels]))\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = []
    for name in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"{name}.npy")],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert all(hits == 0 and misses > 0 for hits, misses in runs[0]), runs[0]
    assert all(hits > 0 and misses == 0 for hits, misses in runs[1]), runs[1]
    assert np.array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))
