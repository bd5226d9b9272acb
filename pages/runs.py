"""Runs: every run in the store with its lineage; open, fork, export, report or delete one.

Opening a run makes it the current run of this browser tab (the `run-id`
store). The current run's lineage is drawn as a tree: the guided lineage, the
unguided lineage and the counterfactual chunks as side branches; a click on a
checkpoint picks it to fork from. A fork starts a new run from any checkpoint;
an export downloads a zip that `python -m hill_dash replay` can re-run; the
report is one offline HTML page for people who do not run the tool.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from hill_dash.dashboard.compare_view import test_split_status
from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures.lineage import make_lineage_graph
from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.figures.theme import themed
from hill_dash.dashboard.report import report_filename, session_report
from hill_dash.dashboard.runs_view import checkpoint_options, lineage_nodes, lineage_summary
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

LINEAGE_HEIGHT = 230

current_run = titled_card(
    "Current run",
    [
        html.Div(id="runs-current"),
        dcc.Graph(
            id="runs-lineage-graph",
            figure=placeholder_figure("loading…", LINEAGE_HEIGHT),
            config={
                "displaylogo": False,
                "modeBarButtons": [["toImage"]],
                "toImageButtonOptions": {"filename": "hill-dash-lineage", "scale": 2},
            },
            className="mt-2",
        ),
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
                    dbc.Button("Session report (.html)", id="report-button", color="secondary"),
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
        dcc.Download(id="report-download"),
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


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def current_run_view(run: dict | None) -> html.Div:
    if run is None:
        return html.Div("No run selected.", className="text-muted")
    row = run_row(run)
    pending = len(run.get("pending", []))
    status = test_split_status(run)
    return html.Div(
        [
            html.Div(
                [html.Strong(row["name"]), html.Span(f"  {row['id']}", className="text-muted")]
            ),
            html.Div(["lineage: ", html.Code(lineage_summary(run), className="text-body")]),
            html.Small(
                f"{row['dataset']} · {row['model']} · {_n(row['chunks'], 'chunk')} · "
                f"{_n(pending, 'pending edit')} · ",
                className="text-muted",
            ),
            html.Small(
                "test split untouched"
                if status["untouched"]
                else f"test split revealed {_n(status['reveals'], 'time')}",
                id="runs-test-status",
                className="text-success" if status["untouched"] else "text-danger",
            ),
        ]
    )


def lineage_figure(store: RunStore, run: dict | None, theme):
    if run is None or not run.get("checkpoints"):
        text = "no run yet" if run is None else "not trained yet: no checkpoint"
        return themed(placeholder_figure(text, LINEAGE_HEIGHT), theme)
    try:
        recs = store.metrics(run["id"], run)
    except HillError:
        recs = {}
    return make_lineage_graph(lineage_nodes(run, recs), LINEAGE_HEIGHT, theme)


def table_row(run: dict) -> dict:
    """The runs table's row: the engine's fields, the lineage in the dashboard's words."""
    return run_row(run) | {"lineage": lineage_summary(run)}


@callback(
    Output("runs-table-container", "children"),
    Output("runs-current", "children"),
    Output("fork-checkpoint", "options"),
    Output("fork-checkpoint", "value"),
    Output("runs-lineage-graph", "figure"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("theme-store", "data"),
)
def list_runs(run_id, _version, theme):
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    runs = store.list_runs()
    run = next((r for r in runs if r["id"] == rid), None)
    options = checkpoint_options(run)
    value = run["heads"].get("guided") if run and run.get("heads") else None
    table = runs_table([table_row(r) for r in runs], rid)
    return table, current_run_view(run), options, value, lineage_figure(store, run, theme)


@callback(
    Output("fork-checkpoint", "value", allow_duplicate=True),
    Input("runs-lineage-graph", "clickData"),
    State("fork-checkpoint", "options"),
    prevent_initial_call=True,
)
def pick_checkpoint_on_the_tree(click, options):
    """A click on a checkpoint of the lineage tree picks it to fork from."""
    points = (click or {}).get("points") or []
    ck = points[0].get("customdata") if points else None
    return ck if ck in {o["value"] for o in options or []} else dash.no_update


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
    Output("report-download", "data"),
    Output("runs-status", "children", allow_duplicate=True),
    Input("report-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def download_report(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    if rid is None:
        return dash.no_update, dbc.Alert("No run to report on.", color="secondary")
    try:
        page = session_report(store, rid)
    except HillError as exc:
        return dash.no_update, error_alert(exc)
    return dcc.send_string(page, report_filename(rid)), dbc.Alert(
        f"Report of {rid} written ({len(page) / 2**20:.1f} MB): one HTML page that opens "
        "offline in any browser.",
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
