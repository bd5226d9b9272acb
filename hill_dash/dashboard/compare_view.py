"""What the Compare page shows of one chunk: the guided checkpoint against one of two baselines.

Two questions, two baselines (the names used everywhere in the UI and in exports):

- the **unguided lineage** (checkpoints u1, u2, …; key "twin" in run.json): it starts at c0
  with the same batches every chunk and is never edited — "where would I be without any
  guidance";
- the **counterfactual chunk** (checkpoints f2, f3, …; key "counterfactual"): it starts from
  the same guided checkpoint as guided chunk k, with the same batches and no edits — "what
  did this chunk's edits do". For chunk 1 it is the unguided lineage's chunk (both start at
  c0, `chunk["counterfactual"] == "u1"`); a chunk without edits has none.

Everything here is computed from the run store (plain values and numpy arrays out); the
figure builders in `figures/compare.py` only draw it and the page only wires it. Test points
are never part of a view: the maps, counts, selections and hovers hold training and
validation points only, before and after the final-evaluation reveal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hill_dash.dashboard.annotation_text import (
    annotation_sentence,
    annotation_words,
    class_name,
    is_annotation_row,
)
from hill_dash.dashboard.read_cache import checkpoint_arrays, checkpoint_member, run_dataset
from hill_dash.engine import realized_text as RT
from hill_dash.engine.edits import ANNOTATION_KINDS
from hill_dash.engine.store import RunStore

LINEAGE = "twin"
COUNTERFACTUAL = "counterfactual"
COMPARISONS = {LINEAGE: "unguided lineage", COUNTERFACTUAL: "counterfactual chunk"}
QUESTIONS = {
    LINEAGE: "where would I be without any guidance? Same start (c0), same batches every "
    "chunk, never any edits.",
    COUNTERFACTUAL: "what did this chunk's edits do? Same guided checkpoint as this chunk's "
    "start, same batches, no edits.",
}
SHOWN_SPLITS = ("train", "val")  # never "test": see the module docstring


# -- which checkpoint is the baseline ----------------------------------------------------


def baseline(chunk: dict, which: str) -> tuple[str | None, str]:
    """(checkpoint, note) of the baseline `which` at this chunk; None with the reason why not."""
    k = chunk.get("index", 0)
    if k == 0 and which == LINEAGE:
        return chunk.get("twin"), "chunk 0 trains one model: both lineages start from it"
    if k == 0:
        return None, "chunk 0 has no edits, so it has no counterfactual chunk"
    if which == LINEAGE:
        return chunk["twin"], ""
    if COUNTERFACTUAL not in chunk:
        return None, (
            f"chunk {k} was trained before counterfactual chunks were recorded: "
            "compare with the unguided lineage"
        )
    ck = chunk[COUNTERFACTUAL]
    if ck is None:
        return None, f"chunk {k} had no edits, so it has no counterfactual chunk"
    if ck == chunk["twin"]:
        return ck, (
            f"for chunk {k} the counterfactual chunk is the unguided lineage's chunk {ck}: "
            "both start from the same checkpoint"
        )
    return ck, ""


def comparison_options(chunk: dict | None) -> list[dict]:
    """The baseline selector's options at this chunk; a missing one is disabled and says why."""
    out = []
    for which, label in COMPARISONS.items():
        ck = baseline(chunk, which)[0] if chunk else None
        if ck:
            text = f"{label} ({ck})"
        elif chunk is None:
            text = label
        elif COUNTERFACTUAL not in chunk and chunk.get("index", 0) > 0:
            text = f"{label} (not recorded in this run)"
        elif chunk.get("index", 0) == 0:
            text = f"{label} (none at chunk 0)"
        else:
            text = f"{label} (none: chunk {chunk.get('index')} had no edits)"
        out.append({"label": text, "value": which, "disabled": ck is None})
    return out


def baseline_label(which: str, ckpt: str | None) -> str:
    return f"{COMPARISONS[which]} {ckpt}" if ckpt else COMPARISONS[which]


# -- the metrics table -----------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    percent: bool = False  # shown as % (deltas in percentage points)
    better: int = 0  # +1 higher is better, -1 lower is better, 0 neither


TABLE_METRICS = (
    MetricSpec("train_acc", "train accuracy", percent=True, better=+1),
    MetricSpec("val_acc", "validation accuracy", percent=True, better=+1),
    MetricSpec("val_loss", "validation loss", better=-1),
    MetricSpec("gap", "validation gap (train − val)", percent=True, better=-1),
    MetricSpec("drift_edited", "drift of edited points"),
    MetricSpec("drift_rest", "drift of the rest"),
    MetricSpec("cka", "CKA to previous latents"),
)


def record_values(rec: dict) -> dict:
    """The table's metrics of one checkpoint record (None when not recorded)."""
    drift = rec.get("drift") or {}
    return {
        "train_acc": rec.get("train", {}).get("acc"),
        "val_acc": rec.get("val", {}).get("acc"),
        "val_loss": rec.get("val", {}).get("loss"),
        "gap": rec.get("gap"),
        "drift_edited": drift.get("edited"),
        "drift_rest": drift.get("rest"),
        "cka": rec.get("cka"),
    }


def drift_on_same_points(point_drift: np.ndarray, edited: np.ndarray) -> dict:
    """Mean per-point drift over the guided run's edited points and over the rest.

    A baseline edits nothing, so its own record has no "edited" drift; measured on the
    points the guided run edited, both compare like for like.
    """
    d = np.asarray(point_drift, dtype=np.float64)
    edited = np.asarray(edited, dtype=bool)
    return {
        "drift_edited": float(d[edited].mean()) if edited.any() else None,
        "drift_rest": float(d[~edited].mean()) if (~edited).any() else None,
    }


def compare_rows(guided: dict, other: dict, other_drift: dict | None = None) -> list[dict]:
    """Table rows {key, metric, guided, other, delta, percent, better}; delta = guided − other."""
    g, o = record_values(guided), record_values(other) | (other_drift or {})
    rows = []
    for spec in TABLE_METRICS:
        a, b = g[spec.key], o[spec.key]
        delta = a - b if a is not None and b is not None else None
        rows.append(
            {
                "key": spec.key,
                "metric": spec.label,
                "guided": a,
                "other": b,
                "delta": delta,
                "percent": spec.percent,
                "better": spec.better,
            }
        )
    return rows


# -- per-class deltas, confusion shifts, realized shares --------------------------------


def class_deltas(guided: dict, other: dict, which: str, touched: list[int]) -> tuple[list, str]:
    """(per-class rows, note): the bias test the engine recorded for this pair, if any.

    Without a recorded test (a run from before it, or a pair it does not cover) the rows
    are the plain per-class accuracy differences, unflagged, and the note says so.
    """
    recorded = guided.get("bias") if which == LINEAGE else None
    if which == COUNTERFACTUAL:
        recorded = (guided.get(COUNTERFACTUAL) or {}).get("bias")
    if recorded:
        return recorded, ""
    g, o = guided["val"]["per_class"], other["val"]["per_class"]
    rows = [
        {
            "class": c,
            "delta": None if np.isnan(a) or np.isnan(b) else a - b,
            "flag": False,
            "touched": c in touched,
        }
        for c, (a, b) in enumerate(zip(g, o, strict=True))
    ]
    return rows, "no bias test recorded for this pair: differences only, nothing flagged"


def confusion_shifts(guided: dict, which: str) -> list[dict]:
    """The engine's confusion shifts for this pair ("B predicted as A went up"), if recorded."""
    if which == COUNTERFACTUAL:
        return list((guided.get(COUNTERFACTUAL) or {}).get("shifts") or [])
    return list(guided.get("shifts") or [])


def _share(d: dict | None, key: str) -> float | None:
    v = (d or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def realized_rows(chunk: dict, label_names: list[str]) -> list[dict]:
    """One row per edit of the chunk: how much of the requested change happened.

    1 = all of it, 0 = none, negative = the wrong way, None = not measurable (run.json
    "realized", relative to the unedited training points).
    """
    edits = {e.get("id"): e for e in chunk.get("edits", [])}
    rows = []
    for r in chunk.get("realized") or []:
        e = edits.get(r.get("edit"), {})
        if is_annotation_row(r):
            rows.append(
                {
                    "edit": r.get("edit"),
                    "what": edit_words(e or {"kind": r.get("kind")}, label_names),
                    "text": annotation_sentence(r, label_names),
                    "latent": dict.fromkeys(("guided", COUNTERFACTUAL, LINEAGE)),
                    "map": dict.fromkeys(("guided", COUNTERFACTUAL, LINEAGE)),
                }
            )
            continue
        rows.append(
            {
                "edit": r.get("edit"),
                "kind": r.get("kind") or e.get("kind"),
                "what": edit_words(e or {"kind": r.get("kind")}, label_names),
            }
            | {
                space: {k: _share(r.get(space), k) for k in ("guided", COUNTERFACTUAL, LINEAGE)}
                for space in RT.REALIZED_SPACES
                if space in ("latent", "map") or isinstance(r.get(space), dict)
            }
        )
    return rows


def edit_words(e: dict, label_names: list[str]) -> str:
    """An edit as a person says it: "Pull 40 points to class 8 (α 1)"."""
    n = len(e.get("indices", []))
    pts = f"{n} point{'s' * (n != 1)}" if n else "points"
    kind = e.get("kind")
    if kind == "translate":
        return f"Move {pts} by ({e.get('dx', 0):+.2f}, {e.get('dy', 0):+.2f})"
    if kind == "pull":
        name = class_name(e.get("target_class"), label_names)
        return f"Pull {pts} to class {name} (α {e.get('alpha', 1.0):g})"
    if kind == "compact":
        return f"Compact {pts} (β {e.get('beta', 0.5):g})"
    if kind == "separate":
        return f"Separate {pts} from {len(e.get('other', []))} (γ {e.get('gamma', 1.0):g})"
    if kind in ANNOTATION_KINDS:
        return annotation_words(e, label_names)
    return str(kind or "edit")


pct = RT.pct


def realized_text(row: dict, space: str = "latent") -> str:
    """The realized share in words, its space named (`RT.realized_text`); an annotation's
    own measures (`annotation_text`)."""
    if row.get("text"):
        return row["text"]
    return RT.realized_text(row, space)


# -- the test split ----------------------------------------------------------------------


def test_split_status(run: dict | None) -> dict:
    """Whether the locked test split is still untouched, in words and numbers."""
    reveals = list((run or {}).get("test_reveals", []))
    n = len(reveals)
    if n == 0:
        text = (
            "Test split untouched: no test point is drawn, counted or used here, "
            "and no test number has been shown."
        )
    else:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(reveals[-1].get("time", 0)))
        text = (
            f"Test split no longer untouched: its accuracy was revealed {n} "
            f"time{'s' * (n != 1)} (last {when}). Anything chosen after a reveal is tuned "
            "on the test set."
        )
    return {"reveals": n, "untouched": n == 0, "text": text}


# -- one chunk's view ---------------------------------------------------------------------


@dataclass(frozen=True)
class CompareView:
    """Guided checkpoint vs one baseline at one chunk; arrays are over the shown points."""

    run_id: str
    chunk: int
    which: str  # LINEAGE | COUNTERFACTUAL
    guided: str
    other: str | None  # None: this baseline does not exist at this chunk (see note)
    note: str
    label_names: list[str]
    shown: np.ndarray  # global point indices (training then validation points), never test
    y: np.ndarray
    split: np.ndarray  # "train" | "val"
    coords_g: np.ndarray
    coords_o: np.ndarray | None
    pred_g: np.ndarray
    pred_o: np.ndarray | None
    rows: list[dict] = field(default_factory=list)  # empty: no metrics for this pair
    bias: list[dict] = field(default_factory=list)
    bias_note: str = ""
    conf_g: list[list[int]] | None = None
    conf_o: list[list[int]] | None = None
    shifts: list[dict] = field(default_factory=list)
    realized: list[dict] = field(default_factory=list)

    @property
    def other_label(self) -> str:
        return baseline_label(self.which, self.other)

    @property
    def same_checkpoint(self) -> bool:
        return self.other == self.guided


def load_view(store: RunStore, run: dict, k: int, which: str = LINEAGE) -> CompareView:
    """The comparison at chunk k (clamped to the run's chunks) against baseline `which`."""
    run_id = run["id"]
    chunks = run["chunks"]
    chunk = chunks[min(max(int(k), 0), len(chunks) - 1)]
    which = which if which in COMPARISONS else LINEAGE
    other, note = baseline(chunk, which)
    data, y_all, split_all = run_dataset(store, run_id)
    shown = np.flatnonzero(np.isin(split_all, SHOWN_SPLITS))
    gk = chunk["guided"]
    ga = checkpoint_arrays(store, run_id, gk)
    oa = _arrays_or_none(store, run_id, other)
    view = {
        "run_id": run_id,
        "chunk": chunk["index"],
        "which": which,
        "guided": gk,
        "other": other,
        "note": note,
        "label_names": list(run.get("label_names") or data.label_names),
        "shown": shown,
        "y": y_all[shown],
        "split": split_all[shown],
        "coords_g": ga["coords"][shown],
        "coords_o": None if oa is None else oa["coords"][shown],
        "pred_g": ga["pred"][shown],
        "pred_o": None if oa is None else oa["pred"][shown],
        "realized": realized_rows(chunk, list(run.get("label_names", []))),
    }
    if other is not None and oa is None:
        view["note"] = f"no map stored for {other}"
    recs = store.metrics(run_id, run)
    g, o = recs.get(gk), recs.get(other) if other else None
    if g is not None and o is not None:
        other_drift = None
        edited = checkpoint_member(store, run_id, gk, "edited")
        drift = checkpoint_member(store, run_id, other, "drift") if oa is not None else None
        if edited is not None and drift is not None:
            other_drift = drift_on_same_points(drift, edited)
        touched = (chunk.get("teacher") or {}).get("touched_classes", [])
        bias, bias_note = class_deltas(g, o, which, touched)
        view |= {
            "rows": compare_rows(g, o, other_drift),
            "bias": bias,
            "bias_note": bias_note,
            "conf_g": g["val"]["confusion"],
            "conf_o": o["val"]["confusion"],
            "shifts": confusion_shifts(g, which),
        }
    return CompareView(**view)


def _arrays_or_none(store: RunStore, run_id: str, ckpt: str | None) -> dict | None:
    if ckpt is None:
        return None
    path = store.checkpoint_dir(run_id, ckpt) / "maps.npz"
    return checkpoint_arrays(store, run_id, ckpt) if path.exists() else None


# -- points behind a click ----------------------------------------------------------------


def points_of_class(view: CompareView, c: int) -> np.ndarray:
    """Global indices of the shown points (training and validation) of class c."""
    return view.shown[view.y == c]


def points_of_cell(view: CompareView, true_c: int, pred_c: int) -> dict:
    """Validation points of true class A predicted as B by the guided run or the baseline.

    The confusion difference counts validation points, so the highlight holds exactly those;
    "guided" and "other" are the cell's counts in each confusion matrix.
    """
    val = (view.split == "val") & (view.y == true_c)
    by_g = val & (view.pred_g == pred_c)
    by_o = val & (view.pred_o == pred_c) if view.pred_o is not None else np.zeros_like(val)
    return {
        "indices": view.shown[by_g | by_o],
        "guided": int(by_g.sum()),
        "other": int(by_o.sum()),
    }
