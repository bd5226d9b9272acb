"""Issue 5's bad-input table: each case gives its clear error and nothing stored is touched.

Every row goes through the entry point a user reaches (file loader, upload, session
replay, checkpoint load, run id) against a store that already holds a trained run;
after the error the store's files are byte-for-byte what they were.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hill_dash.engine.data import load_file
from hill_dash.engine.errors import HillError
from hill_dash.engine.replay import replay_session


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "uploads" not in p.parts
    }


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def good_X(n=60, f=4):
    return np.random.default_rng(0).normal(size=(n, f))


def with_nan():
    X = good_X()
    X[3, 1] = np.nan
    return npz_bytes(X=X, y=np.arange(60) % 3)


def with_inf():
    X = good_X()
    X[9, 0] = np.inf
    return npz_bytes(X=X, y=np.arange(60) % 3)


def pickle_bearing():
    return npz_bytes(X=np.array([{"a": 1}] * 60, dtype=object), y=np.arange(60) % 3)


def ten_million_rows_header() -> bytes:
    """A .npz whose X header claims 10 000 000 rows (the data is not there)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10_000_000, 4)}
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("X.npy", header.getvalue() + b"\0" * 64)
        z.writestr("y.npy", npz_member(np.arange(60) % 3))
    return buf.getvalue()


def npz_member(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


FILE_CASES = [
    ("nan.npz", with_nan, "'X'"),
    ("inf.npz", with_inf, "'X'"),
    (
        "wrong-shape.npz",
        lambda: npz_bytes(X=np.zeros((60, 2, 2, 2, 2)), y=np.arange(60) % 3),
        "'X'",
    ),
    ("short-y.npz", lambda: npz_bytes(X=good_X(), y=np.arange(59) % 3), "'y'"),
    ("one-class.npz", lambda: npz_bytes(X=good_X(), y=np.zeros(60, int)), "class"),
    ("empty.npz", lambda: b"", "empty"),
    ("empty.csv", lambda: b"", "empty"),
    ("ten-million.npz", ten_million_rows_header, "rows"),
    ("text.csv", lambda: b"a,b,label\n1,2,0\n3,x,1\n" + b"1,2,0\n" * 60, "'b'"),
    ("objects.npz", pickle_bearing, "object"),
    ("not-a-zip.npz", lambda: pickle.dumps({"X": 1}), "npz"),
]


@pytest.fixture(scope="module")
def data_page(tmp_path_factory):
    """pages.data registers a Dash page, so it is imported under a built app."""
    import sys

    import app as app_module
    from hill_dash.dashboard.config import AppConfig

    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("app")
    mp.setenv("HILL_DASH_DATA_DIR", str(root))
    app_module.create_app(AppConfig(data_dir=root, projection_warmup=False))
    yield sys.modules["pages.data"]
    mp.undo()


@pytest.fixture
def stored(run_copy):
    store, run_id = run_copy
    return store, run_id, snapshot(store.root)


@pytest.mark.parametrize("name, make, field", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_files_give_a_clear_error_and_touch_nothing(stored, tmp_path, name, make, field):
    store, _, before = stored
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(HillError) as err:
        load_file(path)
    message = str(err.value)
    assert name in message and field.lower() in message.lower(), message
    assert "\n" not in message
    assert snapshot(store.root) == before


def test_pickle_bearing_npz_never_runs_code(stored, tmp_path):
    store, _, before = stored
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    arr = np.empty(60, dtype=object)
    arr[:] = [Evil()] * 60
    path = tmp_path / "evil.npz"
    np.savez(path, X=arr, y=np.arange(60) % 3)
    with pytest.raises(HillError, match="evil.npz"):
        load_file(path)
    assert not marker.exists()
    assert snapshot(store.root) == before


def test_oversized_upload_is_refused_before_decoding(stored, data_page):
    save_upload = data_page.save_upload
    store, _, before = stored
    payload = "data:application/octet-stream;base64," + "A" * (8 * 1024)
    with pytest.raises(HillError, match="big.npz.*upload limit"):
        save_upload(payload, "big.npz", store.root, size=65 * 2**20)
    with pytest.raises(HillError, match="small.npz.*upload limit"):
        save_upload(payload, "small.npz", store.root, limit=1024)
    assert not list(store.root.glob("uploads/*"))  # refused before anything was written
    assert snapshot(store.root) == before


def test_bad_upload_content_names_the_uploaded_file(stored, data_page):
    save_upload = data_page.save_upload
    store, _, before = stored
    payload = "data:application/octet-stream;base64," + base64.b64encode(with_nan()).decode()
    with pytest.raises(HillError) as err:
        save_upload(payload, "mine.npz", store.root)
    assert "mine.npz" in str(err.value) and "upload-" not in str(err.value)
    assert snapshot(store.root) == before


SESSION_CASES = [
    ("not-json", b"{nope", "JSON"),
    ("a-list", b"[1, 2]", "object"),
    ("wrong-format", json.dumps({"format": "other/9"}).encode(), "format"),
    (
        "run-id-traversal",
        json.dumps({"format": "hill-dash-session/1", "run": {"id": "../../etc"}}).encode(),
        "run",
    ),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "JSON"),
]


@pytest.mark.parametrize("name, content, field", SESSION_CASES, ids=[c[0] for c in SESSION_CASES])
def test_malformed_or_hostile_session_json(stored, tmp_path, name, content, field):
    store, _, before = stored
    path = tmp_path / f"{name}.json"
    path.write_bytes(content)
    with pytest.raises(HillError) as err:
        replay_session(path, store.root)
    assert field.lower() in str(err.value).lower(), str(err.value)
    assert snapshot(store.root) == before


def test_tampered_checkpoint_is_a_clear_error(stored):
    store, run_id, _ = stored
    path = store.checkpoint_dir(run_id, "c0") / "model.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(HillError, match="model.pt"):
        store.load_state(run_id, "c0")
    torch.save({"model": {"weird": torch.zeros(2)}}, path)
    from hill_dash.engine import loop

    with pytest.raises(HillError, match="model"):
        loop.run_chunk(store, run_id)
    assert store.load_run(run_id)["heads"] == {"guided": "c0", "twin": "c0"}
    assert store.lock_holder(run_id) is None


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "..", "a\x00b", "ok id"])
def test_run_ids_never_reach_the_filesystem(stored, bad):
    from hill_dash.engine import loop

    store, _, before = stored
    with pytest.raises(HillError, match="run id"):
        loop.fork_run(store, bad, "c0")
    with pytest.raises(HillError, match="run id"):
        store.delete_run(bad)
    assert snapshot(store.root) == before
