"""Durable writes: the file is fsynced before its rename and the directory after it.

A power loss cannot be staged in a test, so these tests record the system calls
(the real ones still run) and check their order, for the helper and for each
store write that a run depends on: run.json, checkpoints, a new run, metrics.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

from hill_dash.engine import durable
from hill_dash.engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("replace", destination) in the order they happened."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        out = real_replace(src, dst, *a, **k)
        seen.append(("replace", os.path.realpath(dst)))
        return out

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return seen


def after(calls, event) -> list[tuple[str, str]]:
    return calls[calls.index(event) + 1 :]


def before(calls, event) -> list[tuple[str, str]]:
    return calls[: calls.index(event)]


def test_atomic_write_syncs_the_file_then_the_directory(tmp_path, calls):
    target = tmp_path / "state.json"
    durable.atomic_write_json(target, {"a": 1})
    replaced = ("replace", str(target.resolve()))
    assert [kind for kind, _ in before(calls, replaced)] == ["fsync"]  # the temp file
    assert Path(before(calls, replaced)[0][1]).parent == tmp_path.resolve()
    assert after(calls, replaced) == [("fsync", str(tmp_path.resolve()))]
    assert target.read_text() == '{\n "a": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "state.json"
    durable.atomic_write_json(target, {"a": 1})

    def boom(fh):
        fh.write(b"half")
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="disk full"):
        durable.atomic_write(target, boom)
    assert target.read_text() == '{\n "a": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_not_durable_skips_the_fsyncs(tmp_path, calls):
    durable.atomic_write_json(tmp_path / "lock", {"beat": 1}, compact=True, durable=False)
    assert [kind for kind, _ in calls] == ["replace"]
    assert (tmp_path / "lock").read_text() == '{"beat":1}'


@pytest.fixture
def store_run(run_copy):
    return run_copy


def test_run_json_is_durable(store_run, calls):
    store, run_id = store_run
    store.update_run(run_id, lambda r: r.update(name="renamed"))
    run_dir = str(store.run_dir(run_id).resolve())
    replaced = ("replace", run_dir + "/run.json")
    assert ("fsync", run_dir) in after(calls, replaced)
    assert before(calls, replaced)[-1][0] == "fsync"  # the new run.json's content first


def test_checkpoint_is_durable(store_run, calls):
    store, run_id = store_run
    store.save_checkpoint(run_id, "g9", {"w": 1}, {"Z": np.zeros(3)})
    final = str(store.checkpoint_dir(run_id, "g9").resolve())
    replaced = ("replace", final)
    synced_before = [Path(p) for kind, p in before(calls, replaced) if kind == "fsync"]
    names = {p.name for p in synced_before}
    assert {"model.pt", "maps.npz"} <= names  # the files
    assert any(p.name.startswith(".tmp-g9-") for p in synced_before)  # their directory
    assert ("fsync", str(Path(final).parent)) in after(calls, replaced)  # the rename


def test_new_run_and_new_metrics_file_are_durable(tmp_path, digits, calls):
    from hill_dash.engine import loop

    store = RunStore(tmp_path / "store")
    run_id = loop.create_run(store, digits, arch="mlp", projection="pca")
    run_dir = store.run_dir(run_id).resolve()
    replaced = ("replace", str(run_dir))
    synced = [p for kind, p in before(calls, replaced) if kind == "fsync"]
    assert {Path(p).name for p in synced} >= {"data.npz", "run.json", "checkpoints"}
    assert ("fsync", str(run_dir.parent)) in after(calls, replaced)
    calls.clear()
    store.append_jsonl(run_id, "metrics.jsonl", {"checkpoint": "c0"})
    assert calls == [("fsync", str(run_dir / "metrics.jsonl")), ("fsync", str(run_dir))]
    calls.clear()
    store.append_jsonl(run_id, "metrics.jsonl", {"checkpoint": "g1"})
    assert calls == [("fsync", str(run_dir / "metrics.jsonl"))]  # the name is durable already


def _replace_calls(path: Path) -> list[int]:
    """Lines where a module calls os.replace / os.rename (an atomic write of its own)."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("replace", "rename")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "os"
    ]


# Renames that are not writes of content: a run moved to the trash before deletion, the
# lock file's takeover and release (its content comes from os.link).
ALLOWED = {"hill_dash/engine/store.py": 1, "hill_dash/engine/run_lock.py": 2}


def test_one_atomic_write_helper_for_the_whole_code_base():
    files = [*(ROOT / "hill_dash").rglob("*.py"), ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    found = {}
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        if rel == "hill_dash/engine/durable.py":
            continue
        lines = _replace_calls(f)
        if lines:
            found[rel] = len(lines)
    assert found == ALLOWED
