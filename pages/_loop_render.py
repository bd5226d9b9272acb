"""The Loop page's components made from plain values (what its callbacks return).

Not a page: Dash's page loader skips files whose name begins with "_".
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from hill_dash.dashboard import views
from hill_dash.dashboard.history import realized_text
from pages._ui import plural

TRAINING_REASON = (
    "A chunk is training: edits open as soon as its guided map is shown "
    "(Apply, Undo, Redo and Clear wait until then)."
)


def status_alert(text: str, color: str) -> dbc.Alert:
    """A one-line alert for a status line."""
    return dbc.Alert(text, color=color, className="py-1 px-2 mb-0 small")


def status(ok: bool, text: str) -> dbc.Alert:
    return status_alert(text, "success" if ok else "danger")


def run_header(summary: dict | None, no_run: str) -> list:
    if summary is None:
        return [
            html.Div("No run yet", className="fw-semibold"),
            html.Small(
                f"{no_run}: one click creates a run and trains chunk 0.", className="text-muted"
            ),
        ]
    s = summary
    sizes = s["sizes"]
    badges = [
        dbc.Badge(plural(s["chunks"], "chunk"), color="primary", className="me-1"),
        dbc.Badge(s["projection"].upper(), color="info", className="me-1"),
    ]
    if s["training"]:
        said = "edits open · references training…" if s.get("arriving") else "training…"
        badges.append(dbc.Badge(said, color="warning", className="me-1"))
    return [
        html.Div([html.Span(s["dataset"], className="fw-semibold me-2"), *badges]),
        html.Small(
            f"run {s['id']} · {s['arch']} · guided {s['head'] or '–'} / "
            f"unguided {s['twin'] or '–'}",
            className="text-muted d-block",
        ),
        html.Small(
            f"map: {sizes.get('train', 0) + sizes.get('val', 0):,} points "
            f"({sizes.get('train', 0):,} train · {sizes.get('val', 0):,} val); "
            "the test split is locked and never on this page",
            className="text-muted d-block",
        ),
    ]


def reveal_note(reveals: int) -> list:
    """After a final evaluation the test split is no longer untouched: say so."""
    if not reveals:
        return []
    return [
        dbc.Alert(
            [
                dbc.Badge("test split revealed", color="danger", className="me-2"),
                f"The final evaluation was revealed {plural(reveals, 'time')}: the test split "
                "is no longer untouched, so later test numbers are no longer an unbiased "
                "estimate. (Its points are still never drawn here.)",
            ],
            color="warning",
            className="py-1 px-2 mb-0 mt-2 small",
            id="test-reveal-alert",
        )
    ]


def edit_list(rows: list[dict]) -> html.Div | dbc.ListGroup:
    if not rows:
        return html.Div("No pending edits.", className="small text-muted mb-1")
    items = []
    for i, r in enumerate(views.edit_steps(rows), 1):
        stale = (
            [dbc.Badge("stale", color="secondary", className="ms-1", title=f"made on {r['on']}")]
            if r["stale"]
            else []
        )
        items.append(
            dbc.ListGroupItem(
                [
                    html.Span(f"{i}. {r['tool']}", className="fw-semibold"),
                    f" · {r['n']:,} pts ({r['n_train']:,} train) · {r['detail']}",
                    *stale,
                ],
                className="py-1 px-2 small",
                style={"opacity": 0.5} if r["stale"] else {},
            )
        )
    return dbc.ListGroup(items, className="mb-1")


def last_edits(last: tuple[int, list[dict]] | None) -> list:
    """The newest chunk's edits with how much of each happened."""
    if last is None:
        return []
    chunk, rows = last
    title = html.Div(f"Edits of chunk {chunk}: how much happened", className="small fw-semibold")
    if not rows:
        return [
            title,
            html.Small(
                "Not measured for this chunk (realized shares come with the newer engine).",
                className="text-muted",
            ),
        ]
    return [
        title,
        html.Ul(
            [
                html.Li(
                    [html.Span(f"{i}. {r['tool']}: ", className="fw-semibold"), realized_text(r)]
                )
                for i, r in enumerate(rows, 1)
            ],
            className="small mb-0 ps-3",
            id="last-edits-list",
        ),
    ]


def selection_summary(info: dict | None) -> list:
    if info is None or info["n"] == 0:
        return [html.Div("Nothing selected.", className="small")]
    bs, left = info["by_split"], info["left_out"]
    out = [
        html.Div(
            [
                html.Span(plural(info["n"], "point"), className="fw-semibold"),
                f": {bs['train']:,} train · {bs['val']:,} val",
            ],
            className="small",
        ),
        html.Div(
            [
                html.Small("classes ", className="text-muted"),
                *[
                    dbc.Badge(
                        f"{name}: {count}",
                        color="light",
                        text_color="dark",
                        className="me-1 border",
                    )
                    for name, count in info["classes"][:8]
                ],
            ],
            className="my-1",
        ),
        html.Div(f"{info['wrong']:,} misclassified by the guided head.", className="small"),
    ]
    if left["val"]:
        out.append(
            html.Div(
                f"{left['val']:,} validation points are left out of the edit: they are shown "
                "but never get targets, so validation stays an honest measure of the guidance.",
                className="small text-warning-emphasis",
            )
        )
    return out


def chunk_table(rows: list[dict]) -> html.Div | dbc.Table:
    if not rows:
        return html.Div("No chunks yet.", className="text-muted")
    heads = ("chunk", "edits", "edited pts", "relabels", "realized", "λ", "epochs", "s")
    head = html.Thead(html.Tr([html.Th(h) for h in heads]))
    body = []
    for r in reversed(rows):
        real = r.get("realized")
        realized = (
            "–"
            if not real
            else html.Span(
                realized_text(
                    {f"latent_{k}": real.get(k) for k in ("guided", "counterfactual", "twin")}
                ),
                title="mean over the chunk's edits, latent space",
            )
        )
        clickable = r["edits"] > 0
        body.append(
            html.Tr(
                [
                    html.Td(r["chunk"]),
                    html.Td(r["edits"]),
                    html.Td(r["edited"]),
                    html.Td(r["relabels"]),
                    html.Td(realized),
                    html.Td("–" if r["lam"] is None else f"{r['lam']:g}"),
                    html.Td("–" if r["epochs"] is None else r["epochs"]),
                    html.Td("–" if r["seconds"] is None else f"{r['seconds']:.1f}"),
                ],
                id={"type": "chunk-row", "index": r["chunk"]},
                n_clicks=0,
                style={"cursor": "pointer"} if clickable else {},
                title="select the points this chunk's edits moved" if clickable else "",
            )
        )
    return dbc.Table(
        [head, html.Tbody(body)], size="sm", striped=True, hover=True, className="mb-0"
    )


def thumbnail(uri: str, caption: str, title: str, wrong: bool) -> html.Figure:
    return html.Figure(
        [
            html.Img(src=uri, className="hill-thumb", alt=caption),
            html.Figcaption(caption, className="text-danger" if wrong else ""),
        ],
        className="hill-gallery-item",
        title=title,
    )


def gallery(items: list[dict], total: int, sort_note: str) -> list:
    if not items:
        return [html.Div("Select points to see them here.", className="text-muted")]
    shown = len(items)
    note = (
        f"{plural(total, 'point')} selected · showing {shown:,}, {sort_note}"
        if shown < total
        else f"{plural(total, 'point')} selected, {sort_note}"
    )
    return [
        html.Div(note, className="text-muted mb-1", id="gallery-note"),
        html.Div(
            [
                thumbnail(
                    it["uri"],
                    f"{it['label']} · {it['pred']}",
                    f"#{it['index']} ({it['split']}) · label {it['label']} · predicted "
                    f"{it['pred']} · confidence {it['confidence']:.0%}",
                    it["label"] != it["pred"],
                )
                for it in items
            ],
            className="hill-gallery",
        ),
    ]


def tooltip(s: dict, uri: str) -> list:
    """The map's tooltip: the sample, label, prediction and confidence."""
    wrong = s["pred"] != s["label"]
    return [
        html.Img(src=uri, className="hill-tooltip-img"),
        html.Div(f"#{s['index']} · {s['split']}", className="small text-muted"),
        html.Div(
            [
                f"label {s['label']} · predicted ",
                html.Span(
                    s["pred"], className="fw-semibold text-danger" if wrong else "fw-semibold"
                ),
            ],
            className="small",
        ),
        html.Div(f"confidence {s['confidence']:.0%}", className="small"),
    ]
