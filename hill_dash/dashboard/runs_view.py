"""A run's lineage and its per-chunk comparison, as the Runs page, the CSV and the report show them.

Every checkpoint belongs to one lineage: the root c0, the **guided** lineage (g1, g2, …),
the **unguided lineage** (u1, u2, …; "twin" in run.json) and the **counterfactual chunks**
(f2, f3, …), side branches that start from a guided checkpoint and are never continued.
Plain values out; no Dash, no plotly.
"""

from __future__ import annotations

import csv
import io

from hill_dash.dashboard.compare_view import COUNTERFACTUAL, LINEAGE
from hill_dash.engine.store import RunStore

LINEAGE_NAMES = {
    "root": "root",
    "guided": "guided",
    LINEAGE: "unguided lineage",
    COUNTERFACTUAL: "counterfactual chunk",
}


def lineage_name(lineage: str | None) -> str:
    return LINEAGE_NAMES.get(lineage or "", lineage or "?")


def _elide(items: list[str], keep: int = 4) -> str:
    if len(items) <= keep:
        return " → ".join(items)
    return " → ".join([*items[:2], "…", *items[-(keep - 2) :]])


def lineage_summary(run: dict) -> str:
    """ "c0 → g1 → g2 · unguided lineage u1 → u2 · counterfactual chunks f2" (long runs elided)."""
    chunks = run.get("chunks", [])
    if not chunks:
        return "(not trained yet)"
    guided = [ch["guided"] for ch in chunks]
    twin = [ch["twin"] for ch in chunks if ch.get("index", 0) > 0]
    side = [
        ch[COUNTERFACTUAL]
        for ch in chunks
        if ch.get(COUNTERFACTUAL) and ch[COUNTERFACTUAL] != ch["twin"]
    ]
    parts = [_elide(guided)]
    if twin:
        parts.append(f"unguided lineage {_elide(twin, 3)}")
    if side:
        shown = side if len(side) <= 3 else [side[0], "…", side[-1]]
        parts.append(f"counterfactual chunk{'s' * (len(side) > 1)} {', '.join(shown)}")
    text = " · ".join(parts)
    fork = run.get("forked_from")
    return f"{fork['run']}@{fork['checkpoint']} ⇒ {text}" if fork else text


def checkpoint_options(run: dict | None) -> list[dict]:
    """Every checkpoint of the run, labelled with its lineage and chunk (for the fork menu)."""
    if run is None:
        return []
    return [
        {
            "label": f"{ck} · {lineage_name(info.get('lineage'))} · chunk {info.get('chunk')}",
            "value": ck,
        }
        for ck, info in run.get("checkpoints", {}).items()
    ]


def lineage_nodes(run: dict | None, recs: dict[str, dict]) -> list[dict]:
    """One node per checkpoint: {checkpoint, lineage, name, chunk, parent, val_acc}."""
    out = []
    for ck, info in (run or {}).get("checkpoints", {}).items():
        rec = recs.get(ck) or {}
        out.append(
            {
                "checkpoint": ck,
                "lineage": info.get("lineage"),
                "name": lineage_name(info.get("lineage")),
                "chunk": int(info.get("chunk", 0)),
                "parent": info.get("parent"),
                "val_acc": (rec.get("val") or {}).get("acc"),
            }
        )
    return out


# -- the per-chunk comparison ---------------------------------------------------------------

CHUNK_COLUMNS = (
    "chunk",
    "edits",
    "edited_points",
    "guided",
    "unguided_lineage",
    "counterfactual_chunk",
    "val_acc_guided",
    "val_acc_unguided_lineage",
    "val_acc_counterfactual_chunk",
    "delta_vs_unguided_lineage",
    "delta_vs_counterfactual_chunk",
    "flagged_vs_unguided_lineage",
    "flagged_vs_counterfactual_chunk",
)


def _acc(recs: dict, ck: str | None) -> float | None:
    rec = recs.get(ck) if ck else None
    return (rec.get("val") or {}).get("acc") if rec else None


def _diff(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def _flagged(bias: list[dict] | None, names: list[str]) -> str:
    flagged = [b["class"] for b in bias or [] if b.get("flag")]
    return " ".join(names[c] if 0 <= c < len(names) else str(c) for c in flagged)


def chunk_rows(store: RunStore, run: dict) -> list[dict]:
    """One row per chunk (CHUNK_COLUMNS): validation accuracy of the guided checkpoint, the
    unguided lineage and the counterfactual chunk, the differences and the flagged classes."""
    recs = store.metrics(run["id"], run)
    names = list(run.get("label_names", []))
    rows = []
    for ch in run.get("chunks", []):
        g, u = ch["guided"], ch["twin"]
        f = ch.get(COUNTERFACTUAL) if ch.get("index", 0) > 0 else None
        grec = recs.get(g) or {}
        ag, au, af = _acc(recs, g), _acc(recs, u), _acc(recs, f)
        cf_bias = (grec.get(COUNTERFACTUAL) or {}).get("bias")
        if f is not None and f == u and cf_bias is None:
            cf_bias = grec.get("bias")  # chunk 1: the counterfactual is the lineage's u1
        rows.append(
            {
                "chunk": ch["index"],
                "edits": len(ch.get("edits", [])),
                "edited_points": (ch.get("teacher") or {}).get("n_edited", 0),
                "guided": g,
                "unguided_lineage": u if ch.get("index", 0) > 0 else None,
                "counterfactual_chunk": f,
                "val_acc_guided": ag,
                "val_acc_unguided_lineage": au if ch.get("index", 0) > 0 else None,
                "val_acc_counterfactual_chunk": af,
                "delta_vs_unguided_lineage": _diff(ag, au) if ch.get("index", 0) > 0 else None,
                "delta_vs_counterfactual_chunk": _diff(ag, af),
                "flagged_vs_unguided_lineage": _flagged(grec.get("bias"), names),
                "flagged_vs_counterfactual_chunk": _flagged(cf_bias, names) if f else "",
            }
        )
    return rows


def rows_csv(rows: list[dict], columns: tuple[str, ...] = CHUNK_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()
