"""`python -m hill_dash`: headless training prints both lineages; bad input exits 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=ROOT, timeout=300):
    env = os.environ | {"PYTHONPATH": str(ROOT), "HILL_DASH_WARMUP": "0"}
    return subprocess.run(
        [sys.executable, "-m", "hill_dash", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_prints_per_chunk_metrics_of_both_lineages(tmp_path):
    edits = tmp_path / "edits.json"
    edits.write_text(
        json.dumps([{"kind": "pull", "indices": list(range(40)), "target_class": 3, "chunk": 1}])
    )
    r = run_cli(
        "train",
        "--dataset",
        "digits",
        "--model",
        "mlp",
        "--chunks",
        "1",
        "--epochs",
        "2",
        "--edits",
        str(edits),
        "--json",
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["chunk"] for row in rows] == [0, 1]
    assert rows[0]["guided_val_acc"] == rows[0]["unguided_val_acc"]  # chunk 0 is shared
    assert rows[1]["edited"] == 40
    # chunk 1: the unguided lineage's chunk is the counterfactual (both start at c0)
    assert rows[1]["counterfactual"] == "u1"
    (realized,) = rows[1]["realized"]
    assert realized["kind"] == "pull"
    assert set(realized["map"]) == {"guided", "counterfactual", "unguided"}
    assert realized["map"]["guided"] > realized["map"]["unguided"] + 0.3
    assert 0 < rows[1]["guided_val_acc"] <= 1 and 0 < rows[1]["unguided_val_acc"] <= 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--data-file", "missing.npz"], "missing.npz"),
        (["train", "--dataset", "imagenet"], "imagenet"),
        (["train", "--edits", "nope.json"], "nope.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, needle):
    r = run_cli(*args, "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_edit_in_file_names_the_field(tmp_path):
    edits = tmp_path / "e.json"
    edits.write_text(json.dumps([{"kind": "pull", "indices": [1]}]))
    r = run_cli("train", "--edits", str(edits), "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "target_class" in r.stderr and "e.json" in r.stderr


def test_nan_data_file_is_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 4))
    X[5, 2] = np.nan
    np.savez(tmp_path / "bad.npz", X=X, y=np.arange(60) % 3)
    r = run_cli("train", "--data-file", str(tmp_path / "bad.npz"), "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "bad.npz" in r.stderr and "'X'" in r.stderr


def test_the_installed_command_and_package_work_from_any_folder(tmp_path):
    """`make install` puts the package into .venv (editable) with a `hill-dash` command."""
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-c", "from hill_dash import Session; print(Session.__name__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.strip() == "Session", r.stderr
    r = subprocess.run(
        [str(bindir / "hill-dash"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    for command in ("train", "serve", "replay", "report", "study", "scenario-study"):
        assert command in r.stdout
