"""Loop: lasso a cluster on the latent map, edit it, train the next chunk, see what it did.

A person selects points on the guided head's map, moves them (drag the dashed box, click
where they should go, or type Δ), pulls them to a class, compacts or separates them, and
sees the targets as ghosts before training. "Train chunk" runs the guided chunk and its
unguided twin as a background job with a progress bar and Cancel; afterwards the map
(aligned with the previous one) and every panel re-read the run store.

The page reads top to bottom: layout fragments, the layout, then the callbacks. Each
callback is a thin wrapper: `hill_dash.views` reads the store, `hill_dash.figures` draws.
"""

from __future__ import annotations

import time
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from hill_dash import loop, views
from hill_dash.config import data_dir, jobs_on_workers, start_dataset
from hill_dash.errors import HillError
from hill_dash.figures import latent_map as LM
from hill_dash.figures import panels as P
from hill_dash.jobs import train_chunk_job

dash.register_page(__name__, path="/", name="Loop", title="HILL Dash · loop")

PANEL_CONFIG = {"displaylogo": False, "displayModeBar": False}
NO_SELECTION = {"indices": [], "previous": [], "rev": 0, "key": ""}
WATCHDOG_MS = 3000  # how often the page checks, while a chunk runs, that its job is alive
# Only jobs on Celery workers need the watchdog: Dash itself sees a forked job die (and
# the fewer requests run while the web process forks a job, the better).
WATCHDOG_RUNNING = (
    [(Output("watchdog-interval", "disabled"), False, True)] if jobs_on_workers() else []
)


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
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span(title, className="fw-semibold"),
                    html.Small(f" {note}", className="text-muted"),
                ],
                className="py-1 small",
            ),
            dbc.CardBody(
                dcc.Graph(id=graph_id, config=PANEL_CONFIG, figure=P.placeholder_figure("")),
                className="p-1",
            ),
        ],
        className="h-100",
    )


chunk_log_card = dbc.Card(
    [
        dbc.CardHeader(html.Span("Chunks", className="fw-semibold"), className="py-1 small"),
        dbc.CardBody(
            html.Div(id="chunk-log", className="small"),
            className="p-2",
            style={"maxHeight": "250px", "overflowY": "auto"},
        ),
    ],
    className="h-100",
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


def labelled(label: str, component, width: int) -> dbc.Col:
    return dbc.Col(
        [dbc.Label(label, html_for=component.id, className="small mb-0"), component], width=width
    )


train_card = dbc.Card(
    [
        dbc.CardHeader("Train", className="py-1 fw-semibold"),
        dbc.CardBody(
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
                                max=views.MAX_EPOCHS,
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
                        dbc.Button(
                            "Train chunk", id="train-button", color="primary", className="me-2"
                        ),
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
            ],
            className="p-2",
        ),
    ],
    className="mb-2",
)

selection_card = dbc.Card(
    [
        dbc.CardHeader("Selection", className="py-1 fw-semibold"),
        dbc.CardBody(
            [
                html.Div(id="selection-info"),
                html.Small(
                    "Lasso or box-select points on the map; double-click the map to clear.",
                    className="text-muted",
                ),
            ],
            className="p-2",
        ),
    ],
    className="mb-2",
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


edit_card = dbc.Card(
    [
        dbc.CardHeader("Edit the selection", className="py-1 fw-semibold"),
        dbc.CardBody(
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
                    "Shrinks the selection toward its own mean latent "
                    "(β: the spread that remains).",
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
                        dbc.Button(
                            "Apply edit", id="apply-edit-button", color="primary", size="sm"
                        ),
                        dbc.Button(
                            "Undo", id="undo-button", color="secondary", outline=True, size="sm"
                        ),
                        dbc.Button(
                            "Redo", id="redo-button", color="secondary", outline=True, size="sm"
                        ),
                        dbc.Button(
                            "Clear", id="clear-button", color="secondary", outline=True, size="sm"
                        ),
                    ],
                    className="d-flex gap-2 mt-2",
                ),
                html.Div(id="edit-status", className="small mt-2"),
            ],
            className="p-2",
        ),
    ],
    className="mb-2",
)

edits_card = dbc.Card(
    [
        dbc.CardHeader("Pending edits (the next chunk's teacher)", className="py-1 fw-semibold"),
        dbc.CardBody(
            [
                html.Div(id="edit-list"),
                html.Small(
                    "Greyed edits are stale: made on an older checkpoint, the next chunk "
                    "ignores them. Clear removes them.",
                    className="text-muted",
                ),
            ],
            className="p-2",
        ),
    ],
    className="mb-3",
)

layout = html.Div(
    [
        dcc.Store(id="selection-store", data=NO_SELECTION),
        dcc.Store(id="map-key", data=""),
        dcc.Store(id="store-change"),  # {"version", "run_id"?}: published to run-id / run-version
        # the training watchdog: ticks only while a chunk runs (see watch_training)
        dcc.Interval(id="watchdog-interval", interval=WATCHDOG_MS, disabled=True),
        dcc.Store(id="watchdog-store"),  # views.start_watch's record of the running chunk
        dcc.Store(id="watchdog-cancel"),  # a cancel input of train_chunk: ends a lost job
        dbc.Row(
            [
                dbc.Col([map_card, panels], md=8),
                dbc.Col([run_card, train_card, selection_card, edit_card, edits_card], md=4),
            ],
            className="g-2",
        ),
    ]
)


# -- small renderers (components from plain values) ------------------------------------


def status(ok: bool, text: str) -> dbc.Alert:
    return dbc.Alert(text, color="success" if ok else "danger", className="py-1 px-2 mb-0 small")


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


# -- callbacks ------------------------------------------------------------------------


@callback(
    Output("run-header", "children"),
    Output("edit-list", "children"),
    Output("pull-class", "options"),
    Output("projection-select", "value"),
    Output("undo-button", "disabled"),
    Output("redo-button", "disabled"),
    Output("clear-button", "disabled"),
    Output("train-button", "children"),
    Output("map-title", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def show_run(run_id, _version):
    """Run header, pending edits and the controls that depend on the run."""
    store, _, run = views.open_run(data_dir(), run_id)
    if run is None:
        return (
            run_header(None),
            edit_list([]),
            [],
            no_update,
            True,
            True,
            True,
            "Train chunk 0",
            "Latent map",
        )
    summary = views.run_summary(store, run)
    rows = views.edit_rows(run)
    classes = [{"label": n, "value": str(i)} for i, n in enumerate(run.get("label_names", []))]
    title = (
        f"Latent map · guided head {summary['head']}"
        if summary["head"]
        else "Latent map · not trained yet"
    )
    return (
        run_header(summary),
        edit_list(rows),
        classes,
        summary["projection"],
        not rows,
        not summary["can_redo"],
        not rows,
        f"Train chunk {summary['chunks']}",
        title,
    )


@callback(
    Output("latent-graph", "figure"),
    Output("map-key", "data"),
    Output("preview-info", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("color-by", "value"),
    Input("selection-store", "data"),
    Input("edit-tool", "value"),
    Input("move-dx", "value"),
    Input("move-dy", "value"),
    Input("pull-class", "value"),
    Input("pull-alpha", "value"),
    Input("compact-beta", "value"),
    Input("separate-gamma", "value"),
    State("map-key", "data"),
)
def update_map(
    run_id, version, color_by, selection, tool, dx, dy, pull_class, alpha, beta, gamma, shown_key
):
    """The whole map when its points changed; otherwise a patch of colours, box or ghosts."""
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    key = views.map_key(run)
    if md is None:
        message = no_run_message() if run is None else "Run not trained yet — click Train chunk"
        return LM.make_empty_map_figure(message), key, ""
    triggers = {t.split(".")[0] for t in ctx.triggered_prop_ids}
    full = key != shown_key or "run-id" in triggers or not triggers
    selection = selection or NO_SELECTION
    sel = views.clean_indices(selection.get("indices"), md.n)
    prev = views.clean_indices(selection.get("previous"), md.n)
    box = views.selection_box(md.coords, sel)
    edit_rev = f"{selection.get('rev', 0)}:{version}"
    codes, names = views.color_groups(md, color_by, views.pending_mask(run, md.n))
    if not full and triggers == {"color-by"}:
        return LM.patch_colours(Patch(), codes, names, color_by), no_update, no_update
    candidate, note = (
        views.candidate_edit(
            md,
            tool,
            sel,
            prev,
            dx=dx,
            dy=dy,
            target_class=pull_class,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
        )
        if len(sel)
        else (None, "")
    )
    pending, preview = views.preview(store, run, md, candidate)
    info = preview_text(pending, preview, note)
    ghosts = (pending.start, pending.target), (preview.start, preview.target)
    if full:
        fig = LM.make_map_figure(
            md.coords,
            codes,
            names,
            color_by,
            LM.hover_texts(md.y, md.pred, md.split, md.label_names),
            uirevision=run["id"],
            box=box,
            pending=ghosts[0],
            preview=ghosts[1],
            edit_revision=edit_rev,
            selected=sel,
            selection_revision=key,
        )
        return fig, key, info
    patch = LM.patch_ghosts(Patch(), *ghosts)
    if triggers & {"run-version", "color-by"}:
        LM.patch_colours(patch, codes, names, color_by)
    if triggers & {"run-version", "selection-store"}:
        LM.patch_box(patch, box, edit_rev, run["id"])
    return patch, no_update, info


def preview_text(pending: views.Ghosts, preview: views.Ghosts, note: str) -> str:
    parts = []
    if pending.total:
        parts.append(
            f"Black rings: targets of the pending edits ({pending.total:,} training points)."
        )
    if preview.total:
        parts.append(
            f"Orange rings: preview of this edit ({preview.total:,} training points) "
            "— Apply to keep it."
        )
    for name, ghosts in (("pending", pending), ("preview", preview)):
        if len(ghosts.start) < ghosts.total:
            parts.append(
                f"{name.capitalize()}: {len(ghosts.start):,} of {ghosts.total:,} "
                "targets drawn (an even sample)."
            )
    if note:
        parts.append(note)
    return " ".join(parts) or "Select points, choose an edit: its targets appear as rings."


@callback(
    Output("selection-store", "data"),
    Output("move-dx", "value", allow_duplicate=True),
    Output("move-dy", "value", allow_duplicate=True),
    Input("latent-graph", "selectedData"),
    State("selection-store", "data"),
    State("map-key", "data"),
    prevent_initial_call=True,
)
def store_selection(selected, current, shown_key):
    """Keep the lassoed point indices (and the previous selection, for Separate)."""
    new = views.next_selection(current, selected, shown_key)
    if new is None:
        raise PreventUpdate
    if new.get("rev") == (current or {}).get("rev"):
        return new, no_update, no_update  # the same selection on a redrawn map
    return new, 0, 0


@callback(
    Output("selection-info", "children"),
    Input("selection-store", "data"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def show_selection(selection, run_id, _version):
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    if md is None:
        return selection_summary(None)
    sel = views.clean_indices((selection or NO_SELECTION).get("indices"), md.n)
    return selection_summary(views.summarize_selection(md, sel))


@callback(
    Output("move-dx", "value"),
    Output("move-dy", "value"),
    Output("edit-tool", "value"),
    Input("latent-graph", "relayoutData"),
    Input("latent-graph", "clickData"),
    State("selection-store", "data"),
    State("run-id", "data"),
    State("edit-tool", "value"),
    prevent_initial_call=True,
)
def read_move_gesture(relayout, click, selection, run_id, tool):
    """Δ from the dragged selection box, or from a click where the cluster should go."""
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    sel = views.clean_indices((selection or NO_SELECTION).get("indices"), md.n) if md else []
    if md is None or len(sel) == 0:
        return no_update, no_update, no_update
    if "latent-graph.relayoutData" in ctx.triggered_prop_ids:
        shift = views.shift_from_relayout(relayout, views.selection_box(md.coords, sel))
        new_tool = "move"
    else:
        shift = (
            views.shift_from_click(click, md.coords[sel].mean(axis=0)) if tool == "move" else None
        )
        new_tool = no_update
    if shift is None:
        return no_update, no_update, no_update
    return round(shift[0], 3), round(shift[1], 3), new_tool


@callback(
    Output("move-pane", "style"),
    Output("pull-pane", "style"),
    Output("compact-pane", "style"),
    Output("separate-pane", "style"),
    Input("edit-tool", "value"),
)
def show_tool_pane(tool):
    return [
        {} if tool == name else {"display": "none"}
        for name in ("move", "pull", "compact", "separate")
    ]


@callback(
    Output("store-change", "data", allow_duplicate=True),
    Output("edit-status", "children"),
    Output("move-dx", "value", allow_duplicate=True),
    Output("move-dy", "value", allow_duplicate=True),
    Input("apply-edit-button", "n_clicks"),
    Input("undo-button", "n_clicks"),
    Input("redo-button", "n_clicks"),
    Input("clear-button", "n_clicks"),
    State("run-id", "data"),
    State("selection-store", "data"),
    State("edit-tool", "value"),
    State("move-dx", "value"),
    State("move-dy", "value"),
    State("pull-class", "value"),
    State("pull-alpha", "value"),
    State("compact-beta", "value"),
    State("separate-gamma", "value"),
    prevent_initial_call=True,
)
def change_edits(
    _apply, _undo, _redo, _clear, run_id, selection, tool, dx, dy, pull_class, alpha, beta, gamma
):
    """Apply / Undo / Redo / Clear on the run's pending edits (stored in run.json)."""
    store, rid, run = views.open_run(data_dir(), run_id)
    if run is None:
        return no_update, status(False, "No run yet: train chunk 0 first."), no_update, no_update
    action = ctx.triggered_id
    try:
        if action == "apply-edit-button":
            md = views.load_map_data(store, run)
            if md is None:
                raise HillError("Train chunk 0 first: edits are made on a trained map.")
            sel = views.clean_indices((selection or NO_SELECTION).get("indices"), md.n)
            prev = views.clean_indices((selection or NO_SELECTION).get("previous"), md.n)
            other = views.separate_partner(md, sel, prev)[0] if tool == "separate" else None
            edit = views.make_edit(
                tool,
                sel,
                dx=dx,
                dy=dy,
                target_class=pull_class,
                alpha=alpha,
                beta=beta,
                gamma=gamma,
                other=other,
            )
            loop.add_edit(store, rid, edit)
            left = int(np.count_nonzero(md.split[sel] != "train"))
            text = (
                f"Added: {tool} of {len(sel):,} points ({len(sel) - left:,} get targets). "
                "It is the teacher of the next chunk."
            )
        elif action == "undo-button":
            loop.undo_edit(store, rid)
            text = "Undid the last pending edit."
        elif action == "redo-button":
            loop.redo_edit(store, rid)
            text = "Redid the last undone edit."
        else:
            loop.clear_edits(store, rid)
            text = "Cleared the pending edits (Redo brings them back one by one)."
    except HillError as exc:
        return no_update, status(False, str(exc)), no_update, no_update
    return {"version": time.time()}, status(True, text), 0, 0


@callback(
    Output("store-change", "data"),
    Output("chunk-status", "children"),
    Input("train-button", "n_clicks"),
    State("run-id", "data"),
    State("lambda-input", "value"),
    State("epochs-input", "value"),
    State("projection-select", "value"),
    background=True,
    progress=[
        Output("chunk-progress", "value"),
        Output("chunk-progress", "max"),
        Output("chunk-progress", "label"),
    ],
    progress_default=[0, 100, ""],
    running=[
        (Output("train-button", "disabled"), True, False),
        (Output("cancel-button", "disabled"), False, True),
        *WATCHDOG_RUNNING,
    ],
    cancel=[Input("cancel-button", "n_clicks"), Input("watchdog-cancel", "data")],
    prevent_initial_call=True,
)
def train_chunk(set_progress, _n_clicks, run_id, lam, epochs, projection):
    """The guided chunk and its twin, in a background job (a new run when there is none)."""
    _, rid, _ = views.open_run(data_dir(), run_id)
    result = train_chunk_job(
        set_progress,
        str(data_dir()),
        rid,
        overrides=views.train_overrides(lam, epochs, projection),
        dataset=start_dataset(),
    )
    ok, message = views.job_message(result)
    return {"run_id": result.get("run_id"), "version": time.time()}, status(ok, message)


@callback(
    Output("watchdog-store", "data"),
    Output("chunk-status", "children", allow_duplicate=True),
    Output("train-button", "disabled", allow_duplicate=True),
    Output("cancel-button", "disabled", allow_duplicate=True),
    Output("watchdog-interval", "disabled", allow_duplicate=True),
    Output("watchdog-cancel", "data"),
    Output("store-change", "data", allow_duplicate=True),
    Input("watchdog-interval", "n_intervals"),
    State("watchdog-store", "data"),
    State("train-button", "disabled"),
    State("train-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def watch_training(_n, watch, training, clicks, run_id):
    """While a chunk runs: if its job died (worker killed or lost), say so and end it.

    Ending it = cancelling the background job (its task is marked revoked, so Dash
    stops polling), re-enabling Train chunk and stopping this interval. The first tick
    of a chunk starts the watch (not the click itself: a request running while the
    click's job forks could leave the forked job a locked stream or loader).
    """
    if not training:
        raise PreventUpdate
    current = watch
    if not isinstance(watch, dict) or watch.get("clicks") != clicks:
        started = time.time() - 2 * WATCHDOG_MS / 1000  # the click was one tick ago
        current = views.start_watch(data_dir(), run_id, now=started) | {"clicks": clicks}
    tick = views.watch_tick(data_dir(), current)
    if not tick["report"]:
        shown = status_alert(tick["message"], "info") if tick["state"] == "queued" else no_update
        new_watch = tick["watch"] if tick["watch"] != watch else no_update
        if new_watch is no_update and shown is no_update:
            raise PreventUpdate
        return new_watch, shown, no_update, no_update, no_update, no_update, no_update
    now = time.time()
    change = {"version": now}
    if tick["watch"].get("run_id"):
        change["run_id"] = tick["watch"]["run_id"]
    return (
        None,
        status_alert(tick["message"], "warning"),
        False,
        True,
        True,
        now,
        change,
    )


def status_alert(text: str, color: str) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-1 px-2 mb-0 small")


@callback(
    Output("chunk-status", "children", allow_duplicate=True),
    Output("store-change", "data", allow_duplicate=True),
    Input("cancel-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def report_cancel(_n_clicks, run_id):
    """After Cancel the store still names the last complete checkpoint: say so."""
    _, _, run = views.open_run(data_dir(), run_id)
    return dbc.Alert(
        views.cancelled_message(run), color="warning", className="py-1 px-2 mb-0 small"
    ), {"version": time.time()}


@callback(
    Output("run-id", "data", allow_duplicate=True),
    Output("run-version", "data", allow_duplicate=True),
    Input("store-change", "data"),
    prevent_initial_call=True,
)
def publish_store_change(change):
    """Tell every page that the run store changed (and which run is current).

    Buttons write the page's `store-change`, not the app-level stores directly: Dash
    fires a callback whose outputs are already in the app when its inputs arrive with
    a page, prevent_initial_call or not — a button there would start a chunk on load.
    """
    if not change:
        raise PreventUpdate
    return change.get("run_id") or no_update, change["version"]


@callback(
    Output("projection-note", "children"),
    Input("projection-select", "value"),
    State("run-id", "data"),
)
def change_projection(method, run_id):
    """The map method is run config: it takes effect when the next chunk refits the map."""
    store, rid, run = views.open_run(data_dir(), run_id)
    if run is None:
        return f"The first chunk will draw a {method.upper()} map."
    current = views.projection_of(run)
    if method != current:
        try:
            views.set_projection(store, rid, method)
        except HillError as exc:
            return str(exc)
    shown = views.load_map_data(store, run)
    if shown is not None and shown.method != method:
        return f"The map switches to {method.upper()} with the next chunk."
    return f"{method.upper()} map; a change takes effect with the next chunk."


@callback(
    Output("accuracy-graph", "figure"),
    Output("gap-graph", "figure"),
    Output("bias-graph", "figure"),
    Output("adherence-graph", "figure"),
    Output("chunk-log", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def draw_panels(run_id, _version):
    """The per-chunk panels: guided against its twin."""
    store, _, run = views.open_run(data_dir(), run_id)
    h = views.chunk_history(store, run)
    if not h["chunk"]:
        empty = P.placeholder_figure(no_run_message() if run is None else "No chunk yet")
        return empty, empty, empty, empty, chunk_table([])
    bias = views.latest_bias(store, run)
    bias_fig = (
        P.make_bias_figure(bias[1], run.get("label_names", []), bias[0])
        if bias
        else P.placeholder_figure("Bias needs a guided chunk: edit, then train chunk 1")
    )
    adherence = (
        P.make_adherence_figure(h["chunk"], h["adherence"])
        if any(a is not None for a in h["adherence"])
        else P.placeholder_figure("No edits trained yet")
    )
    return (
        P.make_accuracy_figure(
            h["chunk"], h["guided_train"], h["guided_val"], h["twin_train"], h["twin_val"]
        ),
        P.make_gap_figure(h["chunk"], h["guided_gap"], h["twin_gap"]),
        bias_fig,
        adherence,
        chunk_table(views.chunk_log(run)),
    )


@callback(
    Output("drift-graph", "figure"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("selection-store", "data"),
)
def draw_drift(run_id, _version, selection):
    """Drift of edited points vs the rest per chunk, or of the current selection."""
    store, _, run = views.open_run(data_dir(), run_id)
    if run is None:
        return P.placeholder_figure(no_run_message())
    sel = views.clean_indices(
        (selection or NO_SELECTION).get("indices"), sum(run.get("sizes", {}).values())
    )
    chunks, series = views.drift_series(store, run, sel)
    if not chunks:
        return P.placeholder_figure("Drift appears from chunk 1 on")
    return P.make_drift_figure(chunks, series)


@callback(
    Output("sample-graph", "figure"),
    Output("sample-caption", "children"),
    Input("latent-graph", "hoverData"),
    State("run-id", "data"),
)
def show_sample(hover, run_id):
    """The raw sample under the pointer: an 8x8 digit as a heatmap, a sequence as a line."""
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    index = views.hovered_index(hover, md.n) if md else None
    if index is None:
        return P.placeholder_figure("hover a point", P.SAMPLE_HEIGHT), ""
    s = views.sample_info(store, md, index)
    caption = [
        html.Div(f"#{s['index']} · {views.SPLIT_WORDS[s['split']]}"),
        html.Div(
            [
                f"label {s['label']} · predicted ",
                html.Span(
                    s["pred"],
                    className="fw-semibold"
                    if s["pred"] == s["label"]
                    else "fw-semibold text-danger",
                ),
            ]
        ),
    ]
    return P.make_sample_figure(s["x"], s["kind"]), caption
