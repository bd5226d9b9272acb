"""The README's Python example runs as written (in a fresh data directory)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "Session" in b]
    script = tmp_path / "example.py"
    script.write_text(block)
    env = os.environ | {"HILL_DASH_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    shares, val_acc = r.stdout.strip().splitlines()[-2:]
    assert "'guided'" in shares and "'unguided'" in shares
    assert "'delta'" in val_acc
    assert (tmp_path / "data" / "runs").is_dir()  # the example wrote where it was told
