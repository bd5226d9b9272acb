"""A one-page HTML report of a run, for people who do not run the tool.

    html = session_report(store, run_id)          # a str: one self-contained page
    python -m hill_dash report RUN_ID --out report.html

The page holds the lineage, the per-chunk comparison with the unguided lineage and the
counterfactual chunks, validation accuracy per chunk, the maps and panels of the newest
chunk, the edit log with realized shares (when recorded) and every checkpoint's metrics.
It works offline: plotly.js is embedded once (no CDN), the styles are inline.

The locked test split stays locked: no test point is drawn or counted, and test accuracy
appears only as it was revealed on the Compare page (each reveal, with the checkpoints it
showed); a run without a reveal shows no test number at all.
"""

from __future__ import annotations

import html
import time

import plotly.graph_objects as go

from hill_dash.dashboard import compare_view as CV
from hill_dash.dashboard.figures.compare import (
    make_class_delta_figure,
    make_confusion_diff_figure,
    make_map_pair,
)
from hill_dash.dashboard.figures.lineage import make_chunk_curves, make_lineage_graph
from hill_dash.dashboard.runs_view import chunk_rows, lineage_name, lineage_nodes, lineage_summary
from hill_dash.engine.store import RunStore, check_run_id

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1200px;color:#212529;line-height:1.45;padding:0 16px}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #dee2e6;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #e9ecef;padding:3px 8px;text-align:right}td{white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f8f9fa}
.muted{color:#6c757d}.ok{color:#18bc9c}.bad{color:#e74c3c;font-weight:600}
.row{display:grid;grid-template-columns:1fr 1fr;gap:8px}.row>div{min-width:0}
@media (max-width:900px){.row{grid-template-columns:1fr}}
ul{margin:.2rem 0 .6rem}
"""


def _pct(v, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.2f} pp" if signed else f"{100 * v:.2f} %"


def _num(v) -> str:
    return "–" if v is None else f"{v:.4f}"


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


class _Figures:
    """Figures as HTML divs; plotly.js is embedded with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure | None) -> str:
        if fig is None:
            return ""
        out = fig.to_html(
            full_html=False,
            include_plotlyjs=self.first,  # True: the bundled plotly.min.js, inline
            config={"displaylogo": False, "responsive": True},
        )
        self.first = False
        return f"<div>{out}</div>"


def _chunk_table(rows: list[dict]) -> str:
    head = [
        "chunk",
        "edits",
        "guided",
        "val acc",
        "unguided lineage",
        "val acc",
        "Δ vs unguided lineage",
        "counterfactual chunk",
        "val acc",
        "Δ vs counterfactual chunk",
        "flagged classes (vs lineage · vs counterfactual)",
    ]
    body = [
        [
            _e(r["chunk"]),
            _e(r["edits"]),
            _e(r["guided"]),
            _pct(r["val_acc_guided"]),
            _e(r["unguided_lineage"] or "–"),
            _pct(r["val_acc_unguided_lineage"]),
            _pct(r["delta_vs_unguided_lineage"], signed=True),
            _e(r["counterfactual_chunk"] or "–"),
            _pct(r["val_acc_counterfactual_chunk"]),
            _pct(r["delta_vs_counterfactual_chunk"], signed=True),
            _e(
                f"{r['flagged_vs_unguided_lineage'] or '–'} · "
                f"{r['flagged_vs_counterfactual_chunk'] or '–'}"
            ),
        ]
        for r in rows
    ]
    return _table(head, body)


def _metrics_table(run: dict, recs: dict) -> str:
    head = ["checkpoint", "lineage", "chunk", "train acc", "val acc", "val loss", "gap"]
    head += ["drift edited", "drift rest", "CKA"]
    body = []
    for ck, info in run.get("checkpoints", {}).items():
        r = recs.get(ck)
        if r is None:
            continue
        v = CV.record_values(r)
        body.append(
            [
                _e(ck),
                _e(lineage_name(info.get("lineage"))),
                _e(info.get("chunk")),
                _pct(v["train_acc"]),
                _pct(v["val_acc"]),
                _num(v["val_loss"]),
                _pct(v["gap"], signed=True),
                _num(v["drift_edited"]),
                _num(v["drift_rest"]),
                _num(v["cka"]),
            ]
        )
    return _table(head, body)


def _edit_log(run: dict) -> str:
    names = list(run.get("label_names", []))
    parts = []
    for ch in run.get("chunks", []):
        edits = ch.get("edits", [])
        if not edits:
            continue
        realized = {r["edit"]: r for r in CV.realized_rows(ch, names)}
        items = []
        for e in edits:
            r = realized.get(e.get("id"))
            share = f" — {_e(CV.realized_text(r))}" if r else ""
            items.append(f"<li>{_e(CV.edit_words(e, names))}{share}</li>")
        teacher = ch.get("teacher") or {}
        note = f"{teacher.get('n_edited', 0)} training points edited"
        if teacher.get("relabels"):
            note += f", {teacher['relabels']} relabelled"
        parts.append(
            f"<p><strong>Chunk {ch['index']}</strong> ({_e(note)})</p><ul>{''.join(items)}</ul>"
        )
    if not realized_any(run):
        parts.append(
            '<p class="muted">Realized shares (how much of each edit happened) were not '
            "recorded for this run.</p>"
        )
    pending = len(run.get("pending", []))
    if pending:
        parts.append(f'<p class="muted">{pending} pending edit(s), not trained yet.</p>')
    return "".join(parts) or '<p class="muted">No edits yet.</p>'


def realized_any(run: dict) -> bool:
    return any(ch.get("realized") for ch in run.get("chunks", []))


def _test_section(store: RunStore, run: dict) -> str:
    status = CV.test_split_status(run)
    cls = "ok" if status["untouched"] else "bad"
    out = f'<p class="{cls}">{_e(status["text"])}</p>'
    if status["untouched"]:
        return out
    tests = {r.get("checkpoint"): r for r in store.read_jsonl(run["id"], "test_metrics.jsonl")}
    rows = []
    for i, rev in enumerate(run.get("test_reveals", []), start=1):
        heads = rev.get("heads", {})
        g, u = tests.get(heads.get("guided")), tests.get(heads.get("twin"))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rev.get("time", 0)))
        rows.append(
            [
                _e(i),
                _e(when),
                _e(f"{heads.get('guided')}: {_pct(g and g.get('acc'))}"),
                _e(f"{heads.get('twin')}: {_pct(u and u.get('acc'))}"),
            ]
        )
    return out + _table(
        ["reveal", "time", "guided (test acc)", "unguided lineage (test acc)"], rows
    )


def _newest_chunk(store: RunStore, run: dict, fig) -> str:
    if not run.get("chunks"):
        return '<p class="muted">No chunk trained yet.</p>'
    k = len(run["chunks"]) - 1
    parts = []
    for which in CV.COMPARISONS:
        view = CV.load_view(store, run, k, which)
        if view.other is None:
            parts.append(f'<p class="muted">{_e(CV.COMPARISONS[which])}: {_e(view.note)}</p>')
            continue
        if which == CV.COUNTERFACTUAL and view.other == run["chunks"][k]["twin"] and k > 0:
            parts.append(f'<p class="muted">{_e(view.note)}.</p>')
            continue
        head = f"<h3>Chunk {view.chunk}: guided {view.guided} vs {_e(view.other_label)}</h3>"
        question = f'<p class="muted">{_e(CV.QUESTIONS[which])} {_e(view.note)}</p>'
        titles = (f"guided {view.guided} · training + validation points", view.other_label)
        fig_g, fig_o = make_map_pair(view, titles)
        panels = ""
        if view.rows and not view.same_checkpoint:
            other = CV.COMPARISONS[which]
            panels = (
                '<div class="row">'
                + fig(make_class_delta_figure(view.bias, view.label_names, other))
                + fig(
                    make_confusion_diff_figure(
                        view.conf_g, view.conf_o, view.label_names, other, view.shifts
                    )
                )
                + "</div>"
            )
        parts.append(
            head + question + '<div class="row">' + fig(fig_g) + fig(fig_o) + "</div>" + panels
        )
        if view.same_checkpoint:
            break  # chunk 0: one model, one map pair is enough
    return "".join(parts)


def session_report(store: RunStore, run_id: str) -> str:
    """The whole report as one HTML page (str)."""
    run_id = check_run_id(run_id)
    run = store.load_run(run_id)
    recs = store.metrics(run_id, run)
    fig = _Figures()
    cfg = run.get("config", {})
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("created", 0)))
    rows = chunk_rows(store, run) if run.get("chunks") else []
    body = [
        f"<h1>HILL Dash session report · {_e(run.get('name', run_id))}</h1>",
        f'<p class="muted">run {_e(run_id)} · data {_e(run.get("dataset", "?"))} · model '
        f"{_e(cfg.get('model', {}).get('arch', '?'))} · map "
        f"{_e(cfg.get('projection', '?'))} · created {created} · report written "
        f"{time.strftime('%Y-%m-%d %H:%M')} · {len(run.get('chunks', []))} chunks</p>",
        "<p>Each guided chunk is compared with two baselines: the <strong>unguided "
        "lineage</strong> (same start c0, same batches every chunk, never any edits: "
        "where the model would be without any guidance) and the <strong>counterfactual "
        "chunk</strong> (from the same guided checkpoint, same batches, no edits: what that "
        "chunk's edits did). Differences are guided − baseline on the validation split.</p>",
        "<h2>Test split</h2>",
        _test_section(store, run),
        "<h2>Lineage</h2>",
        f"<p><code>{_e(lineage_summary(run))}</code></p>",
        fig(make_lineage_graph(lineage_nodes(run, recs))) if run.get("checkpoints") else "",
        "<h2>Per chunk</h2>",
        _chunk_table(rows) if rows else '<p class="muted">No chunk trained yet.</p>',
        fig(make_chunk_curves(rows)) if rows else "",
        "<h2>The newest chunk</h2>",
        _newest_chunk(store, run, fig),
        "<h2>Edit log</h2>",
        _edit_log(run),
        "<h2>Metrics of every checkpoint (training and validation splits)</h2>",
        _metrics_table(run, recs),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>HILL Dash report · {_e(run.get('name', run_id))}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )


def report_filename(run_id: str) -> str:
    return f"hill-dash-{check_run_id(run_id)}-report.html"
