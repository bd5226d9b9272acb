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
