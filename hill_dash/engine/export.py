"""Runs as portable records: the run list, lineage, and the session export.

`export_session` packs one run into a zip a person can keep or share:

    session.json        run.json (config, chunks with their edit logs and seeds) + metrics
    metrics.csv         one row per checkpoint (see METRIC_COLUMNS); lineage is "guided",
                        "unguided" (the unguided lineage: same start, same batches, never
                        an edit) or "counterfactual" (a chunk from the guided checkpoint
                        without its edits)
    realized.csv        per edit: the share of the requested change that happened,
                        relative to the rest, for each of the three (REALIZED_COLUMNS);
                        per annotation one row per measure ("measure" names it and its
                        space; *_before / *_after per lineage)
    guided_model.pt     state dict of the guided head checkpoint
    unguided_model.pt   state dict of the unguided lineage's head checkpoint

Member names are fixed here, never taken from the run. The locked test-split
metrics are not exported: they stay behind the final-evaluation button.
`python -m hill_dash replay session.json` (hill_dash.engine.replay) re-runs a session.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import zipfile

import numpy as np
import torch

from hill_dash.engine.data import BUILTINS, SPLITS, Dataset
from hill_dash.engine.realized_text import REALIZED_SPACES
from hill_dash.engine.store import RunStore, check_run_id

SESSION_FORMAT = "hill-dash-session/1"
METRIC_COLUMNS = (
    "checkpoint",
    "lineage",
    "chunk",
    "train_acc",
    "val_acc",
    "val_loss",
    "gap",
    "drift_edited",
    "drift_rest",
    "cka",
)
REALIZED_COLUMNS = (
    ("chunk", "edit", "kind")
    + tuple(
        f"{space}_{lineage}"
        for space in REALIZED_SPACES
        for lineage in ("guided", "counterfactual", "unguided")
    )  # an older chunk's missing spaces are empty cells
    + (
        "measure",
        "guided_before",
        "guided_after",
        "counterfactual_before",
        "counterfactual_after",
        "unguided_before",
        "unguided_after",
    )
)
ANNOTATION_MEASURES = {  # row key → what realized.csv's "measure" says
    "train": "share of the selection's training points predicted as the new class",
    "val_near": "share of the nearest unedited validation points predicted as the new class",
    "loss": "mean cross-entropy of the selection's training points",
}
HEAD_MEMBERS = {"guided": "guided_model.pt", "twin": "unguided_model.pt"}
LINEAGE_NAMES = {"twin": "unguided"}  # run.json's keys → the names a reader sees


# -- the run list ---------------------------------------------------------------


def lineage_text(run: dict, max_chunks: int = 6) -> str:
    """`c0 → g1,u1 → g2,u2`, eliding the middle of long runs."""
    steps = [
        ch["guided"] if ch["guided"] == ch["twin"] else f"{ch['guided']},{ch['twin']}"
        for ch in run.get("chunks", [])
    ]
    if len(steps) > max_chunks:
        steps = [*steps[:2], "…", *steps[-(max_chunks - 3) :]]
    text = " → ".join(steps) or "(not trained yet)"
    fork = run.get("forked_from")
    return f"{fork['run']}@{fork['checkpoint']} ⇒ {text}" if fork else text


def run_row(run: dict) -> dict:
    """What the runs table shows of one run."""
    fork = run.get("forked_from")
    return {
        "id": run["id"],
        "name": run.get("name", run["id"]),
        "dataset": run.get("dataset", "?"),
        "model": run.get("config", {}).get("model", {}).get("arch", "?"),
        "chunks": len(run.get("chunks", [])),
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("created", 0))),
        "forked_from": f"{fork['run']} @ {fork['checkpoint']}" if fork else "",
        "lineage": lineage_text(run),
    }


# -- metrics as rows ------------------------------------------------------------


def metric_row(rec: dict) -> dict:
    """One checkpoint's metrics record flattened to METRIC_COLUMNS (None when absent)."""
    drift = rec.get("drift") or {}
    return {
        "checkpoint": rec.get("checkpoint"),
        "lineage": LINEAGE_NAMES.get(rec.get("lineage"), rec.get("lineage")),
        "chunk": rec.get("chunk"),
        "train_acc": rec.get("train", {}).get("acc"),
        "val_acc": rec.get("val", {}).get("acc"),
        "val_loss": rec.get("val", {}).get("loss"),
        "gap": rec.get("gap"),
        "drift_edited": drift.get("edited"),
        "drift_rest": drift.get("rest"),
        "cka": rec.get("cka"),
    }


def realized_rows(run: dict) -> list[dict]:
    """Per edit of every chunk: the share of the requested change that happened, relative
    to the rest of the space, in each of REALIZED_SPACES (latent space, the carried map, a
    fresh map, the unedited validation points nearest the selection), for the guided run,
    the counterfactual chunk (same start, no edits) and the unguided lineage."""
    rows = []
    for ch in run.get("chunks", []):
        for r in ch.get("realized") or []:
            row = {"chunk": ch["index"], "edit": r.get("edit"), "kind": r.get("kind")}
            row |= dict.fromkeys(REALIZED_COLUMNS[3:])
            measures = [k for k in ANNOTATION_MEASURES if isinstance(r.get(k), dict)]
            for key in measures:  # an annotation: its measures, before → after
                values = r[key]
                rows.append(row | {"measure": ANNOTATION_MEASURES[key]})
                for lineage, name in (
                    ("guided", "guided"),
                    ("counterfactual", "counterfactual"),
                    ("twin", "unguided"),
                ):
                    v = values.get(lineage) or {}
                    rows[-1][f"{name}_before"] = v.get("before")
                    rows[-1][f"{name}_after"] = v.get("after")
            if measures:
                continue
            for space in REALIZED_SPACES:
                values = r.get(space) or {}
                row[f"{space}_guided"] = values.get("guided")
                row[f"{space}_counterfactual"] = values.get("counterfactual")
                row[f"{space}_unguided"] = values.get("twin")
            rows.append(row)
    return rows


def metric_rows(store: RunStore, run_id: str, run: dict | None = None) -> list[dict]:
    """metric_row per checkpoint, in the order run.json recorded them (c0, g1, u1, ...)."""
    run = run or store.load_run(run_id)
    recs = store.metrics(run_id, run)
    return [metric_row(recs[ck]) for ck in run.get("checkpoints", {}) if ck in recs]


def metrics_csv(rows: list[dict], columns: tuple[str, ...] = METRIC_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in columns})
    return buf.getvalue()


# -- the session ------------------------------------------------------------------


def dataset_digest(data: Dataset) -> str:
    """sha256 of the data set's arrays and labels; independent of how the file was zipped."""
    h = hashlib.sha256()
    h.update(f"{data.kind}|{'|'.join(data.label_names)}".encode())
    for split in SPLITS:
        for part in ("X", "y"):
            a = np.ascontiguousarray(getattr(data, f"{part}_{split}"))
            h.update(f"|{part}_{split}:{a.dtype.str}:{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dataset_identity(store: RunStore, run_id: str, run: dict, data: Dataset) -> dict:
    """Enough to rebuild a built-in (name + seed), and digests to check any rebuild."""
    builtin = data.name in BUILTINS
    return {
        "name": data.name,
        "builtin": builtin,
        # Built-ins are split with the run seed (the dashboard, CLI and Session all do so);
        # replay checks the digest, so a different split is caught, not trusted.
        "seed": int(run.get("config", {}).get("seed", 0)),
        "kind": data.kind,
        "sample_shape": list(data.sample_shape),
        "n_classes": data.n_classes,
        "sizes": {s: len(getattr(data, f"y_{s}")) for s in SPLITS},
        "content_sha256": dataset_digest(data),
        "data_npz_sha256": file_sha256(store.run_dir(run_id) / "data.npz"),
        "note": None
        if builtin
        else (
            "uploaded data: replay needs this exact data set; it uses the source run's "
            "data.npz when that run is still in the store"
        ),
    }


def session_json(store: RunStore, run_id: str) -> dict:
    """The run's record (config, lineage, chunks with edits and seeds) and its metrics."""
    run_id = check_run_id(run_id)
    run = store.load_run(run_id)
    data = store.load_dataset(run_id)
    recs = store.metrics(run_id, run)
    return {
        "format": SESSION_FORMAT,
        "exported": time.time(),
        "run": run,
        "dataset": dataset_identity(store, run_id, run, data),
        "lineage": lineage_text(run, max_chunks=10**6),
        "heads": dict(run.get("heads", {})),
        "metrics": {ck: recs[ck] for ck in run.get("checkpoints", {}) if ck in recs},
    }


def export_session(store: RunStore, run_id: str) -> bytes:
    """A zip: session.json, metrics.csv, realized.csv and both heads' state dicts."""
    run_id = check_run_id(run_id)
    session = session_json(store, run_id)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("session.json", json.dumps(session, indent=1, allow_nan=False))
        zf.writestr("metrics.csv", metrics_csv(metric_rows(store, run_id, session["run"])))
        zf.writestr("realized.csv", metrics_csv(realized_rows(session["run"]), REALIZED_COLUMNS))
        for lineage, ck in session["heads"].items():
            if lineage in HEAD_MEMBERS:
                weights = io.BytesIO()
                torch.save(store.load_state(run_id, ck)["model"], weights)
                zf.writestr(HEAD_MEMBERS[lineage], weights.getvalue())
    return buf.getvalue()


def export_filename(run_id: str) -> str:
    return f"hill-dash-{check_run_id(run_id)}.zip"
