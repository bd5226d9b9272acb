"""Runs: every run in the store with its lineage; open, fork, export or delete one.

Opening a run makes it the current run of this browser tab (the `run-id`
store). A fork starts a new run from any checkpoint of the current run; an
export downloads a zip that `python -m hill_dash replay` can re-run.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.views import current_run_id
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from hill_dash.engine.export import export_filename, export_session, run_row
from hill_dash.engine.store import RunStore
from pages._ui import error_alert, titled_card

dash.register_page(__name__, path="/runs", name="Runs", title="HILL Dash · runs")

COLUMNS = ("name", "dataset", "model", "chunks", "created", "forked from", "lineage", "")

# -- layout fragments ------------------------------------------------------------------

runs_list = titled_card(
    "Runs in the store (newest first)",
    html.Div(id="runs-table-container"),
    class_name="mb-2",
    body_class="p-0",
)

current_run = titled_card(
    "Current run",
    [
        html.Div(id="runs-current"),
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("Fork from checkpoint", html_for="fork-checkpoint"),
                        dcc.Dropdown(
                            id="fork-checkpoint",
                            options=[],
                            clearable=False,
                            placeholder="no checkpoint yet",
                        ),
                    ],
                    md=4,
                ),
                dbc.Col(
                    dbc.Button("Fork", id="fork-button", color="primary"),
                    md="auto",
                    className="d-flex align-items-end",
                ),
                dbc.Col(
                    dbc.Button("Export session (.zip)", id="export-button", color="secondary"),
                    md="auto",
                    className="d-flex align-items-end",
                ),
                dbc.Col(
                    dbc.Button("Delete run…", id="delete-button", color="danger", outline=True),
                    md="auto",
                    className="d-flex align-items-end",
                ),
            ],
            className="g-2 mt-2",
        ),
        html.Div(id="runs-status", className="mt-2"),
    ],
    class_name="mb-4",
)

delete_confirm = dbc.Modal(
    [
        dbc.ModalHeader(dbc.ModalTitle("Delete this run?")),
        dbc.ModalBody(id="delete-confirm-body"),
        dbc.ModalFooter(
            [
                dbc.Button("Cancel", id="delete-cancel-button", color="secondary"),
                dbc.Button("Delete for good", id="delete-confirm-button", color="danger"),
            ]
        ),
    ],
    id="delete-confirm",
    is_open=False,
)

layout = html.Div(
    [
        dbc.Row(dbc.Col(runs_list)),
        dbc.Row(dbc.Col(current_run)),
        delete_confirm,
        dcc.Store(id="delete-target"),
        dcc.Download(id="export-download"),
    ]
)


# -- callbacks -------------------------------------------------------------------------


def runs_table(rows: list[dict], current: str | None) -> dbc.Table:
    """The run list; the current run is highlighted and each row has an Open button."""
    head = html.Thead(html.Tr([html.Th(c) for c in COLUMNS]))
    body = []
    for r in rows:
        is_current = r["id"] == current
        body.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Div(r["name"], className="fw-semibold"),
                            html.Small(r["id"], className="text-muted"),
                        ]
                    ),
                    html.Td(r["dataset"]),
                    html.Td(r["model"]),
                    html.Td(r["chunks"]),
                    html.Td(r["created"]),
                    html.Td(r["forked_from"] or "–"),
                    html.Td(html.Code(r["lineage"], className="text-body")),
                    html.Td(
                        dbc.Badge("current", color="success")
                        if is_current
                        else dbc.Button(
                            "Open", id={"type": "run-open", "run": r["id"]}, size="sm", color="link"
                        )
                    ),
                ],
                className="table-active" if is_current else None,
            )
        )
    if not body:
        body = [
            html.Tr(
                html.Td(
                    "No runs yet: start one on the Data page.",
                    colSpan=len(COLUMNS),
                    className="text-muted",
                )
            )
        ]
    return dbc.Table(
        [head, html.Tbody(body)],
        id="runs-table",
        hover=True,
        size="sm",
        responsive=True,
        className="mb-0",
    )


def current_run_view(run: dict | None) -> html.Div:
    if run is None:
        return html.Div("No run selected.", className="text-muted")
    row = run_row(run)
    pending = len(run.get("pending", []))
    reveals = len(run.get("test_reveals", []))
    return html.Div(
        [
            html.Div(
                [html.Strong(row["name"]), html.Span(f"  {row['id']}", className="text-muted")]
            ),
            html.Div(["lineage: ", html.Code(row["lineage"], className="text-body")]),
            html.Small(
                f"{row['dataset']} · {row['model']} · {row['chunks']} chunk(s) · "
                f"{pending} pending edit(s) · {reveals} test reveal(s)",
                className="text-muted",
            ),
        ]
    )


def checkpoint_options(run: dict | None) -> list[dict]:
    """Every checkpoint of the run, labelled with its lineage and chunk."""
    if run is None:
        return []
    return [
        {"label": f"{ck} · {info['lineage']} · chunk {info['chunk']}", "value": ck}
        for ck, info in run.get("checkpoints", {}).items()
    ]


@callback(
    Output("runs-table-container", "children"),
    Output("runs-current", "children"),
    Output("fork-checkpoint", "options"),
    Output("fork-checkpoint", "value"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def list_runs(run_id, _version):
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    runs = store.list_runs()
    run = next((r for r in runs if r["id"] == rid), None)
    options = checkpoint_options(run)
    value = run["heads"].get("guided") if run and run.get("heads") else None
    return runs_table([run_row(r) for r in runs], rid), current_run_view(run), options, value


@callback(
    Output("run-id", "data", allow_duplicate=True),
    Input({"type": "run-open", "run": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def open_run(clicks):
    target = ctx.triggered_id
    if not target or not any(clicks):  # re-rendered buttons report n_clicks None
        return dash.no_update
    store = RunStore(data_dir())
    try:
        return target["run"] if store.exists(target["run"]) else dash.no_update
    except HillError:
        return dash.no_update


@callback(
    Output("run-id", "data", allow_duplicate=True),
    Output("run-version", "data", allow_duplicate=True),
    Output("runs-status", "children", allow_duplicate=True),
    Input("fork-button", "n_clicks"),
    State("fork-checkpoint", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def fork_checkpoint(n_clicks, ckpt, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    if rid is None or not ckpt:
        return (
            dash.no_update,
            dash.no_update,
            dbc.Alert("Choose a run and a checkpoint first.", color="secondary"),
        )
    try:
        new_id = loop.fork_run(store, rid, ckpt)
    except HillError as exc:
        return dash.no_update, dash.no_update, error_alert(exc)
    return (
        new_id,
        time.time(),
        dbc.Alert(
            [
                f"Forked {rid} at {ckpt} into {new_id}; it is now the current run. ",
                dcc.Link("Continue on the Loop page", href="/"),
            ],
            color="success",
        ),
    )


@callback(
    Output("export-download", "data"),
    Output("runs-status", "children", allow_duplicate=True),
    Input("export-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def download_export(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    if rid is None:
        return dash.no_update, dbc.Alert("No run to export.", color="secondary")
    try:
        payload = export_session(store, rid)
    except HillError as exc:
        return dash.no_update, error_alert(exc)
    return dcc.send_bytes(payload, export_filename(rid)), dbc.Alert(
        f"Exported {rid} ({len(payload) / 1024:.0f} KB). To check it reproduces, unzip it and "
        "run `python -m hill_dash replay session.json`.",
        color="info",
    )


@callback(
    Output("delete-confirm", "is_open"),
    Output("delete-confirm-body", "children"),
    Output("delete-target", "data"),
    Input("delete-button", "n_clicks"),
    Input("delete-cancel-button", "n_clicks"),
    Input("delete-confirm-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def toggle_delete_confirm(_open, _cancel, _confirm, run_id):
    if ctx.triggered_id != "delete-button":
        return False, dash.no_update, dash.no_update
    rid = current_run_id(RunStore(data_dir()), run_id)
    if rid is None:
        return False, dash.no_update, None
    body = [
        f"Run {rid}: its checkpoints, maps, metrics and edit log are removed from disk. ",
        html.Strong("This cannot be undone."),
        " Export it first to keep a copy.",
    ]
    return True, body, rid


@callback(
    Output("run-id", "data", allow_duplicate=True),
    Output("run-version", "data", allow_duplicate=True),
    Output("runs-status", "children", allow_duplicate=True),
    Input("delete-confirm-button", "n_clicks"),
    State("delete-target", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def delete_confirmed_run(n_clicks, target, run_id):
    if not n_clicks or not target:
        return dash.no_update, dash.no_update, dash.no_update
    store = RunStore(data_dir())
    try:
        if store.lock_holder(target) is not None:
            return (
                dash.no_update,
                dash.no_update,
                dbc.Alert(
                    f"Run {target} is training right now; cancel or wait, then delete.",
                    color="warning",
                ),
            )
        store.delete_run(target)
    except HillError as exc:
        return dash.no_update, dash.no_update, error_alert(exc)
    new_current = None if run_id == target else dash.no_update
    return new_current, time.time(), dbc.Alert(f"Deleted run {target}.", color="success")
