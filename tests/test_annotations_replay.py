"""An exported session with all seven edit kinds replays to identical checkpoints."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import torch

from hill_dash.engine import loop
from hill_dash.engine.edits import EDIT_KINDS, Edit
from hill_dash.engine.export import export_session, session_json
from hill_dash.engine.replay import replay_session
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig


def test_all_seven_kinds_replay_to_identical_checkpoints(store, digits, tmp_path):
    run_id = loop.create_run(
        store, digits, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=1), seed=0
    )
    loop.run_chunk(store, run_id)
    y = digits.y_train
    c = {k: np.flatnonzero(y == k)[:20].tolist() for k in range(10)}
    loop.add_edits(  # one Apply: pull + relabel of one selection
        store, run_id, [Edit("pull", c[3], target_class=8), Edit("relabel", c[3], target_class=8)]
    )
    loop.add_edit(store, run_id, Edit("translate", c[1], dx=1.0, dy=0.5))
    loop.add_edit(store, run_id, Edit("weight", c[4], weight=4.0))
    loop.run_chunk(store, run_id)
    loop.add_edit(store, run_id, Edit("compact", c[5], beta=0.5))
    loop.add_edit(store, run_id, Edit("separate", c[6], other=c[7], gamma=0.5))
    loop.add_edit(store, run_id, Edit("exclude", c[9]))
    loop.run_chunk(store, run_id)
    run = store.load_run(run_id)
    kinds = {e["kind"] for ch in run["chunks"] for e in ch["edits"]}
    assert kinds == set(EDIT_KINDS)

    blob = export_session(store, run_id)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("realized.csv").decode())))
        exported = json.loads(zf.read("session.json"))
    assert {r["kind"] for r in rows} == set(EDIT_KINDS)
    relabel = [r for r in rows if r["kind"] == "relabel"]
    assert len(relabel) == 2 and "predicted as the new class" in relabel[0]["measure"]
    assert float(relabel[0]["guided_after"]) >= 0.0
    # the export keeps the original labels: the data set is the same as the source's
    assert (
        exported["dataset"]["content_sha256"]
        == session_json(store, run_id)["dataset"]["content_sha256"]
    )

    path = tmp_path / "session.json"
    path.write_text(json.dumps(exported))
    replay_root = tmp_path / "replay"
    report = replay_session(path, replay_root)
    assert report["identical"] and report["seeds_match"]
    again = RunStore(replay_root)
    for ck in ("g1", "u1", "g2", "u2", "f2"):
        a = store.load_state(run_id, ck)["model"]
        b = again.load_state(report["replay_run"], ck)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a), ck
    groups = [e.get("group") for e in again.load_run(report["replay_run"])["chunks"][1]["edits"]]
    assert groups[0] and groups[0] == groups[1] and not groups[2]
