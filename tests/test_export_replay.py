"""Session export (zip, CSV) and replay: identical metrics, and hostile session files refused."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile

import numpy as np
import pytest
import torch

from hill_dash import cli
from hill_dash.engine import loop
from hill_dash.engine.errors import StoreError
from hill_dash.engine.export import (
    METRIC_COLUMNS,
    SESSION_FORMAT,
    export_filename,
    export_session,
    session_json,
)
from hill_dash.engine.replay import compare_metrics, parse_session, replay_session
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from hill_dash.engine.training import ChunkConfig


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, digits):
    """digits + MLP on a PCA map: chunk 0, one pull edit, chunk 1 (one epoch each)."""
    store = RunStore(tmp_path_factory.mktemp("export-store"))
    run_id = loop.create_run(
        store, digits, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=1, lam=1.0), seed=0
    )
    loop.run_chunk(store, run_id)
    threes = np.flatnonzero(digits.y_train == 3)[:30].tolist()
    loop.add_edit(store, run_id, Edit("pull", threes, target_class=5, alpha=0.8))
    loop.run_chunk(store, run_id, overrides={"epochs": 1, "lam": 2.0})
    return store, run_id, threes


@pytest.fixture(scope="module")
def session_file(small_run, tmp_path_factory):
    store, run_id, _ = small_run
    path = tmp_path_factory.mktemp("session") / "session.json"
    path.write_text(json.dumps(session_json(store, run_id)))
    return path


def test_export_zip_holds_fixed_members_csv_rows_and_head_weights(small_run):
    store, run_id, _ = small_run
    blob = export_session(store, run_id)
    zf = zipfile.ZipFile(io.BytesIO(blob))
    assert sorted(zf.namelist()) == [
        "guided_model.pt",
        "metrics.csv",
        "realized.csv",
        "session.json",
        "unguided_model.pt",
    ]
    rows = list(csv.DictReader(io.StringIO(zf.read("metrics.csv").decode())))
    assert [r["checkpoint"] for r in rows] == ["c0", "g1", "u1"]
    assert tuple(rows[0]) == METRIC_COLUMNS
    recs = store.metrics(run_id)
    for row in rows:
        rec = recs[row["checkpoint"]]
        assert float(row["val_acc"]) == rec["val"]["acc"]
        assert float(row["train_acc"]) == rec["train"]["acc"]
        assert float(row["val_loss"]) == rec["val"]["loss"]
        assert float(row["gap"]) == rec["gap"]
        names = {"twin": "unguided"}  # exports name the unguided lineage plainly
        assert row["lineage"] == names.get(rec["lineage"], rec["lineage"])
        assert int(row["chunk"]) == rec["chunk"]
    assert rows[0]["drift_edited"] == rows[0]["cka"] == ""  # chunk 0 has no previous latents
    assert float(rows[1]["drift_edited"]) == recs["g1"]["drift"]["edited"]
    realized = list(csv.DictReader(io.StringIO(zf.read("realized.csv").decode())))
    chunk = store.load_run(run_id)["chunks"][1]
    assert len(realized) == len(chunk["edits"]) >= 1
    assert float(realized[0]["map_guided"]) == chunk["realized"][0]["map"]["guided"]
    assert float(realized[0]["latent_unguided"]) == chunk["realized"][0]["latent"]["twin"]
    for member, ck in (("guided_model.pt", "g1"), ("unguided_model.pt", "u1")):
        weights = torch.load(io.BytesIO(zf.read(member)), weights_only=True)
        source = store.load_state(run_id, ck)["model"]
        assert weights.keys() == source.keys()
        assert all(torch.equal(weights[k], source[k]) for k in source)
    assert export_filename(run_id) == f"hill-dash-{run_id}.zip"


def test_session_json_records_edits_seeds_and_dataset_but_not_test_metrics(small_run):
    store, run_id, threes = small_run
    s = session_json(store, run_id)
    assert s["format"] == SESSION_FORMAT
    chunks = s["run"]["chunks"]
    assert [c["index"] for c in chunks] == [0, 1]
    assert chunks[0]["edits"] == []
    assert chunks[1]["edits"][0]["indices"] == threes
    assert chunks[1]["edits"][0]["on"] == "c0"
    assert chunks[1]["config"]["lam"] == 2.0 and chunks[1]["seed"] == loop.chunk_seed(0, 1)
    assert s["dataset"]["name"] == "digits" and s["dataset"]["builtin"] is True
    assert len(s["dataset"]["content_sha256"]) == 64
    assert s["lineage"] == "c0 → g1,u1"
    assert set(s["metrics"]) == {"c0", "g1", "u1"}
    assert all("test" not in rec for rec in s["metrics"].values())  # the test split stays locked


@pytest.fixture(scope="module")
def replayed(session_file, tmp_path_factory):
    """`python -m hill_dash replay session.json` into a fresh store: (exit code, report, store)."""
    root = tmp_path_factory.mktemp("replay-store")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["replay", str(session_file), "--data-dir", str(root)])
    return code, json.loads(out.getvalue()), RunStore(root)


def test_replay_reproduces_every_checkpoint_exactly(small_run, replayed):
    store, run_id, threes = small_run
    code, report, replay_store = replayed
    assert code == 0 and report["identical"] is True and report["seeds_match"] is True
    assert report["max_abs_diff"] == {"train_acc": 0.0, "val_acc": 0.0, "gap": 0.0, "val_loss": 0.0}
    assert [r["checkpoint"] for r in report["checkpoints"]] == ["c0", "g1", "u1"]
    replay_run = replay_store.load_run(report["replay_run"])
    assert replay_run["chunks"][1]["edits"][0]["indices"] == threes
    assert replay_run["chunks"][1]["config"] == store.load_run(run_id)["chunks"][1]["config"]
    source = store.load_state(run_id, "g1")["model"]
    again = replay_store.load_state(report["replay_run"], "g1")["model"]
    assert all(torch.equal(source[k], again[k]) for k in source)


def test_replay_reports_a_changed_metric(session_file, replayed):
    _, report, replay_store = replayed
    s = json.loads(session_file.read_text())
    s["metrics"]["g1"]["val"]["acc"] -= 0.01
    diff = compare_metrics(parse_session(s, "tampered.json"), replay_store, report["replay_run"])
    assert diff["identical"] is False
    assert diff["max_abs_diff"]["val_acc"] == pytest.approx(0.01)
    assert diff["max_abs_diff"]["train_acc"] == 0.0


def _mutate(session: dict, change) -> dict:
    s = json.loads(json.dumps(session))
    change(s)
    return s


HOSTILE = {
    "wrong format": (lambda s: s.update(format="hill-dash-session/0"), "format"),
    "bad edit index": (
        lambda s: s["run"]["chunks"][1]["edits"][0].update(indices=[10**7]),
        r"run\.chunks\[1\]\.edits\[0\]\.indices",
    ),
    "negative edit index": (
        lambda s: s["run"]["chunks"][1]["edits"][0].update(indices=[-1]),
        r"run\.chunks\[1\]\.edits\[0\]\.indices",
    ),
    "edit kind": (
        lambda s: s["run"]["chunks"][1]["edits"][0].update(kind="rm -rf"),
        r"edits\[0\]\.kind",
    ),
    "run id traversal": (lambda s: s["run"].update(id="../../etc"), r"run\.id"),
    "fork id traversal": (
        lambda s: s["run"].update(forked_from={"run": "../x", "checkpoint": "g1"}),
        r"run\.forked_from\.run",
    ),
    "custom model import": (
        lambda s: s["run"]["config"]["model"].update(arch="custom"),
        r"run\.config\.model\.arch",
    ),
    "epochs": (
        lambda s: s["run"]["chunks"][1]["config"].update(epochs=10**9),
        r"run\.chunks\[1\]\.config\.epochs",
    ),
    "edits in chunk 0": (
        lambda s: s["run"]["chunks"][0].update(edits=s["run"]["chunks"][1]["edits"]),
        r"run\.chunks\[0\]\.edits",
    ),
    "missing metrics": (lambda s: s["metrics"].pop("u1"), r"metrics\.u1"),
    "checkpoint id": (
        lambda s: s["run"]["chunks"][1].update(guided="../g1"),
        r"run\.chunks\[1\]\.guided",
    ),
    "dataset digest": (
        lambda s: s["dataset"].update(content_sha256="zz"),
        r"dataset\.content_sha256",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_session_fields_are_named(session_file, case):
    change, field = HOSTILE[case]
    bad = _mutate(json.loads(session_file.read_text()), change)
    with pytest.raises(StoreError, match=field):
        parse_session(bad, "s.json")


@pytest.mark.parametrize(
    "text, field",
    [
        ("[1, 2, 3]", "top level"),
        ('"just a string"', "top level"),
        ("{not json", "file: not valid JSON"),
        ('{"format": NaN}', "file: not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "file: not valid JSON|top level"),
    ],
)
def test_malformed_session_files_are_refused(tmp_path, text, field):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(StoreError, match=field):
        replay_session(path, tmp_path)


def test_huge_session_file_is_refused_before_parsing(tmp_path, monkeypatch):
    import hill_dash.engine.replay as R

    monkeypatch.setattr(R, "MAX_SESSION_BYTES", 1000)
    monkeypatch.setattr(R.json, "loads", lambda *a, **k: pytest.fail("parsed a huge file"))
    path = tmp_path / "s.json"
    path.write_text('{"format": "' + "x" * 5000 + '"}')
    with pytest.raises(StoreError, match="file: larger than"):
        replay_session(path, tmp_path)


def test_export_refuses_run_ids_with_path_separators(small_run):
    store, _, _ = small_run
    for bad in ("../escape", "a/b", ""):
        with pytest.raises(StoreError, match="run id"):
            export_session(store, bad)
        with pytest.raises(StoreError, match="run id"):
            export_filename(bad)


def test_replay_takes_the_exported_zip_as_it_is(small_run, replayed, tmp_path):
    """The Runs page's Export gives a zip; replay takes it without unpacking."""
    store, run_id, _ = small_run
    zipped = tmp_path / export_filename(run_id)
    zipped.write_bytes(export_session(store, run_id))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["replay", str(zipped), "--data-dir", str(tmp_path / "store")])
    report = json.loads(out.getvalue())
    assert code == 0 and report["identical"]
    own = ("replay_run", "session")
    assert {k: v for k, v in report.items() if k not in own} == {
        k: v for k, v in replayed[1].items() if k not in own
    }


def test_a_zip_without_a_session_is_refused_by_name(tmp_path):
    import zipfile

    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(StoreError, match=r"other\.zip: zip: no session\.json inside"):
        replay_session(path, tmp_path)
