"""The README's worker command loads the app from the repository root (issue 9, "Also").

The `celery` script puts the working directory on sys.path only while it imports
`app`; building the app afterwards must still find `pages`. `celery report` loads
the app exactly as `worker` does and needs no Redis.
"""

from __future__ import annotations

import subprocess

from tests.worker_command import ROOT, readme_worker_command, worker_argv_and_env


def test_the_readme_documents_one_worker_command():
    names, argv = readme_worker_command()
    assert names == ["HILL_DASH_REDIS_URL", "HILL_DASH_DATA_DIR"]
    assert argv[:4] == [".venv/bin/celery", "-A", "app:celery_app", "worker"]


def test_the_readme_worker_command_loads_the_app(tmp_path):
    argv, env = worker_argv_and_env(
        {"HILL_DASH_REDIS_URL": "redis://127.0.0.1:1/0", "HILL_DASH_DATA_DIR": str(tmp_path)},
        {"HILL_DASH_WARMUP": "0"},
    )
    report = [*argv[: argv.index("worker")], "report"]  # the same app loading, no broker
    r = subprocess.run(report, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ModuleNotFoundError" not in r.stderr
    assert "broker_url: 'redis://127.0.0.1:1/0'" in r.stdout


WARM_CHECK = """
import sys
from celery.signals import worker_init
from hill_dash.dashboard.celery_app import make_celery
from hill_dash.engine.projection.umap_import import import_umap

make_celery("redis://127.0.0.1:1/0")
umap = import_umap()
print("before", bool(umap.umap_.smooth_knn_dist.signatures), "torch._dynamo" in sys.modules)
worker_init.send(sender=None)  # what the worker's main process sends before its pool forks
print("after", bool(umap.umap_.smooth_knn_dist.signatures), "torch._dynamo" in sys.modules)

# a pool process forked now fits a map (OpenMP was not left with a team to hang on)
import os
import numpy as np
from hill_dash.dashboard.fork_safety import use_all_cores_in_job
from hill_dash.engine.projection import fit_map

pid = os.fork()
if pid == 0:
    use_all_cores_in_job()  # what every chunk does first
    fit_map(np.random.default_rng(0).normal(size=(300, 8)), "umap")
    os._exit(0)
print("child", os.waitpid(pid, 0)[1])
"""


def test_the_worker_warms_torch_and_umap_before_its_pool_forks(tmp_path):
    """Celery's pool processes fork from the worker's main process after `worker_init`:
    compiled there, UMAP's kernels and torch's first-optimizer imports are theirs from the
    start, and no chunk pays for them (a pool process has only seconds to report up)."""
    import sys

    _, env = worker_argv_and_env({"HILL_DASH_REDIS_URL": "x", "HILL_DASH_DATA_DIR": "y"})
    env |= {"HILL_DASH_WARMUP": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", WARM_CHECK], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "before False False" in r.stdout and "after True True" in r.stdout, r.stdout
    assert "child 0" in r.stdout, r.stdout
    assert "worker: UMAP compiled in" in r.stderr
