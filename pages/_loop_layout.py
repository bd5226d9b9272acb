"""The Loop page's layout fragments and the components its callbacks render from values.

Not a page: Dash's page loader skips files whose name begins with "_". `pages/loop.py`
assembles the page from these fragments and holds its callbacks; every component id
the callbacks use is created here or there, once.
"""

from __future__ import annotations

from pathlib import Path

import dash_bootstrap_components as dbc
from dash import dcc, html

from hill_dash.dashboard.config import start_dataset
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.dashboard.figures import panels as P
from hill_dash.dashboard.views import MAX_EPOCHS
from pages._ui import labelled_col, titled_card

PANEL_CONFIG = {"displaylogo": False, "displayModeBar": False}


def no_run_message() -> str:
    return f"No run yet — click Train chunk to start on {Path(start_dataset()).name}"


# -- layout fragments ----------------------------------------------------------------

color_by = dbc.RadioItems(
    id="color-by",
    value="label",
    inline=True,
    className="small",
    options=[
        {"label": "label", "value": "label"},
        {"label": "prediction", "value": "prediction"},
        {"label": "correct / wrong", "value": "correct"},
        {"label": "edited", "value": "edited"},
    ],
)

map_card = dbc.Card(
    [
        dbc.CardHeader(
            dbc.Row(
                [
                    dbc.Col(html.Span("Latent map", id="map-title", className="fw-semibold")),
                    dbc.Col(
                        [html.Small("colour by", className="text-muted me-2"), color_by],
                        width="auto",
                        className="d-flex align-items-center",
                    ),
                ],
                align="center",
                className="g-1",
            ),
            className="py-1",
        ),
        dbc.CardBody(
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Graph(
                            id="latent-graph",
                            figure=LM.make_empty_map_figure(""),
                            config=LM.GRAPH_CONFIG,
                        ),
                        md=9,
                    ),
                    dbc.Col(
                        [
                            html.Div("Under the pointer", className="small text-muted"),
                            dcc.Graph(
                                id="sample-graph",
                                config={"displayModeBar": False, "staticPlot": True},
                                figure=P.placeholder_figure("hover a point", P.SAMPLE_HEIGHT),
                            ),
                            html.Div(id="sample-caption", className="small"),
                        ],
                        md=3,
                    ),
                ],
                className="g-2",
            ),
            className="p-2",
        ),
        dbc.CardFooter(html.Small(id="preview-info", className="text-muted"), className="py-1"),
    ],
    className="mb-2",
)


def panel(title: str, graph_id: str, note: str = "") -> dbc.Card:
    return titled_card(
        [html.Span(title, className="fw-semibold"), html.Small(f" {note}", className="text-muted")],
        dcc.Graph(id=graph_id, config=PANEL_CONFIG, figure=P.placeholder_figure("")),
        class_name="h-100",
        header_class="py-1 small",
        body_class="p-1",
    )


chunk_log_card = titled_card(
    html.Span("Chunks", className="fw-semibold"),
    html.Div(id="chunk-log", className="small"),
    class_name="h-100",
    header_class="py-1 small",
    body_class="p-2",
    body_style={"maxHeight": "250px", "overflowY": "auto"},
)

panels = html.Div(
    [
        dbc.Row(
            [
                dbc.Col(panel("Accuracy", "accuracy-graph", "train · val per chunk"), md=6),
                dbc.Col(panel("Validation gap", "gap-graph", "train − val accuracy"), md=6),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    panel("Latent drift", "drift-graph", "edited vs rest, or the selection"), md=6
                ),
                dbc.Col(panel("Per-class bias", "bias-graph", "val accuracy guided − twin"), md=6),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    panel("Teacher adherence", "adherence-graph", "distance to targets closed"),
                    md=6,
                ),
                dbc.Col(chunk_log_card, md=6),
            ],
            className="g-2 mb-3",
        ),
    ]
)

run_card = dbc.Card(dbc.CardBody(html.Div(id="run-header"), className="p-2"), className="mb-2")


def side_card(title: str, body: list, class_name: str) -> dbc.Card:
    """A card of the right-hand column: a compact title over a padded body."""
    return titled_card(
        title, body, class_name=class_name, header_class="py-1 fw-semibold", body_class="p-2"
    )


def labelled(label: str, component, width: int) -> dbc.Col:
    return labelled_col(label, component, label_class="small mb-0", width=width)


train_card = side_card(
    "Train",
    [
        dbc.Row(
            [
                labelled(
                    "λ (teacher weight)",
                    dbc.Input(
                        id="lambda-input",
                        type="number",
                        min=0,
                        step=0.1,
                        value=1.0,
                        size="sm",
                        persistence=True,
                        persistence_type="session",
                    ),
                    4,
                ),
                labelled(
                    "epochs / chunk",
                    dbc.Input(
                        id="epochs-input",
                        type="number",
                        min=1,
                        max=MAX_EPOCHS,
                        step=1,
                        value=5,
                        size="sm",
                        persistence=True,
                        persistence_type="session",
                    ),
                    4,
                ),
                labelled(
                    "map",
                    dbc.Select(
                        id="projection-select",
                        value="umap",
                        size="sm",
                        options=[
                            {"label": "UMAP", "value": "umap"},
                            {"label": "PCA", "value": "pca"},
                        ],
                    ),
                    4,
                ),
            ],
            className="g-2 mb-1",
        ),
        html.Small(id="projection-note", className="text-muted d-block mb-2"),
        html.Div(
            [
                dbc.Button("Train chunk", id="train-button", color="primary", className="me-2"),
                dbc.Button(
                    "Cancel",
                    id="cancel-button",
                    color="secondary",
                    outline=True,
                    disabled=True,
                ),
            ],
            className="d-flex",
        ),
        dbc.Progress(
            id="chunk-progress",
            value=0,
            max=100,
            label="",
            striped=True,
            animated=True,
            className="my-2",
            style={"height": "18px"},
        ),
        html.Div(id="chunk-status", className="small"),
        html.Div(id="startup-note", className="small text-muted"),
    ],
    "mb-2",
)

selection_card = side_card(
    "Selection",
    [
        html.Div(id="selection-info"),
        html.Small(
            "Lasso or box-select points on the map; double-click the map to clear.",
            className="text-muted",
        ),
    ],
    "mb-2",
)


def tool_pane(pane_id: str, help_text: str, *controls) -> html.Div:
    return html.Div(
        [
            html.Small(help_text, className="text-muted d-block mb-1"),
            dbc.InputGroup(list(controls), size="sm"),
        ],
        id=pane_id,
    )


def number(component_id: str, value: float, **kw) -> dbc.Input:
    return dbc.Input(id=component_id, type="number", value=value, **kw)


edit_card = side_card(
    "Edit the selection",
    [
        dbc.RadioItems(
            id="edit-tool",
            value="move",
            inline=True,
            className="mb-1",
            options=[
                {"label": "Move", "value": "move"},
                {"label": "Pull to class", "value": "pull"},
                {"label": "Compact", "value": "compact"},
                {"label": "Separate", "value": "separate"},
            ],
        ),
        tool_pane(
            "move-pane",
            "Drag the dashed box on the map, click where the cluster "
            "should go, or type the shift in map units:",
            dbc.InputGroupText("Δx"),
            number("move-dx", 0, step=0.1),
            dbc.InputGroupText("Δy"),
            number("move-dy", 0, step=0.1),
        ),
        tool_pane(
            "pull-pane",
            "Moves the selected training points toward the mean latent of "
            "a class (α: share of the way). Points of another label are relabelled by "
            "hand and counted as potential bias.",
            dbc.InputGroupText("class"),
            dbc.Select(id="pull-class", options=[]),
            dbc.InputGroupText("α"),
            number("pull-alpha", 1.0, min=0, max=1, step=0.1),
        ),
        tool_pane(
            "compact-pane",
            "Shrinks the selection toward its own mean latent (β: the spread that remains).",
            dbc.InputGroupText("β"),
            number("compact-beta", 0.5, min=0, max=1, step=0.1),
        ),
        tool_pane(
            "separate-pane",
            "Pushes the selection away from your previous selection "
            "(the one before this one). With no previous selection: away from the rest "
            "of its majority class (its other training points). γ: push distance, in "
            "centroid distances.",
            dbc.InputGroupText("γ"),
            number("separate-gamma", 1.0, min=0, max=10, step=0.1),
        ),
        html.Div(
            [
                dbc.Button("Apply edit", id="apply-edit-button", color="primary", size="sm"),
                dbc.Button("Undo", id="undo-button", color="secondary", outline=True, size="sm"),
                dbc.Button("Redo", id="redo-button", color="secondary", outline=True, size="sm"),
                dbc.Button("Clear", id="clear-button", color="secondary", outline=True, size="sm"),
            ],
            className="d-flex gap-2 mt-2",
        ),
        html.Div(id="edit-status", className="small mt-2"),
    ],
    "mb-2",
)

edits_card = side_card(
    "Pending edits (the next chunk's teacher)",
    [
        html.Div(id="edit-list"),
        html.Small(
            "Greyed edits are stale: made on an older checkpoint, the next chunk "
            "ignores them. Clear removes them.",
            className="text-muted",
        ),
    ],
    "mb-3",
)


# -- renderers: components from plain values -----------------------------------------


def status_alert(text: str, color: str) -> dbc.Alert:
    """A one-line alert for a status line."""
    return dbc.Alert(text, color=color, className="py-1 px-2 mb-0 small")


def status(ok: bool, text: str) -> dbc.Alert:
    return status_alert(text, "success" if ok else "danger")


def run_header(summary: dict | None) -> list:
    if summary is None:
        return [
            html.Div("No run yet", className="fw-semibold"),
            html.Small(
                f"{no_run_message()}: one click creates a run and trains chunk 0.",
                className="text-muted",
            ),
        ]
    s = summary
    sizes = s["sizes"]
    badges = [
        dbc.Badge(f"{s['chunks']} chunk(s)", color="primary", className="me-1"),
        dbc.Badge(s["projection"].upper(), color="info", className="me-1"),
    ]
    if s["training"]:
        badges.append(dbc.Badge("training…", color="warning", className="me-1"))
    return [
        html.Div([html.Span(s["dataset"], className="fw-semibold me-2"), *badges]),
        html.Small(
            f"run {s['id']} · {s['arch']} · heads {s['head'] or '–'} / {s['twin'] or '–'}",
            className="text-muted d-block",
        ),
        html.Small(
            f"{sum(sizes.values()):,} points: {sizes.get('train', 0):,} train · "
            f"{sizes.get('val', 0):,} val · {sizes.get('test', 0):,} test (locked)",
            className="text-muted d-block",
        ),
    ]


def edit_list(rows: list[dict]) -> html.Div | dbc.ListGroup:
    if not rows:
        return html.Div("No pending edits.", className="small text-muted mb-1")
    items = []
    for i, r in enumerate(rows, 1):
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


def selection_summary(info: dict | None) -> list:
    if info is None or info["n"] == 0:
        return [html.Div("Nothing selected.", className="small")]
    bs, left = info["by_split"], info["left_out"]
    out = [
        html.Div(
            [
                html.Span(f"{info['n']:,} points", className="fw-semibold"),
                f": {bs['train']:,} train · {bs['val']:,} val · {bs['test']:,} test",
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
    n_left = left["val"] + left["test"]
    if n_left:
        out.append(
            html.Div(
                f"{n_left:,} left out of the edit ({left['val']:,} validation, {left['test']:,} "
                "test): they are shown but never get targets, so validation and test stay honest "
                "measures of the guidance.",
                className="small text-warning-emphasis",
            )
        )
    return out


def chunk_table(rows: list[dict]) -> html.Div | dbc.Table:
    if not rows:
        return html.Div("No chunks yet.", className="text-muted")
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in ("chunk", "edits", "edited pts", "relabels", "λ", "epochs", "seconds")
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r["chunk"]),
                    html.Td(r["edits"]),
                    html.Td(r["edited"]),
                    html.Td(r["relabels"]),
                    html.Td("–" if r["lam"] is None else f"{r['lam']:g}"),
                    html.Td("–" if r["epochs"] is None else r["epochs"]),
                    html.Td("–" if r["seconds"] is None else f"{r['seconds']:.1f}"),
                ]
            )
            for r in reversed(rows)
        ]
    )
    return dbc.Table([head, body], size="sm", striped=True, className="mb-0")
