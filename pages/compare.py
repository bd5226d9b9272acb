"""Compare: the guided run against a baseline at any chunk, on two linked maps.

Two baselines answer two questions (see hill_dash/dashboard/compare_view.py): the
**unguided lineage** ("where would I be without any guidance") and the **counterfactual
chunk** ("what did this chunk's edits do"). The maps share their axes and, if asked, their
zoom; a selection on either map, a class bar or a confusion cell lights up the same points
on both. Play steps through the chunks and the points glide between the aligned layouts.
The test split is never drawn or counted here; it is shown only on request, and every
request is recorded in the run.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from hill_dash.dashboard import compare_view as CV
from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures.compare import (
    MAP_HEIGHT,
    PANEL_HEIGHT,
    make_class_delta_figure,
    make_confusion_diff_figure,
    make_map_pair,
)
from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.figures.theme import themed
from hill_dash.dashboard.report import report_filename, session_report
from hill_dash.dashboard.runs_view import chunk_rows, rows_csv
from hill_dash.dashboard.views import current_run_id
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from hill_dash.engine.store import RunStore
from pages._compare_layout import GRAPHS, graph_config, layout, table_columns  # noqa: F401
from pages._ui import error_alert

dash.register_page(__name__, path="/compare", name="Compare", title="HILL Dash · compare")

NO_RUN = "No run yet: start one on the Data page, then train a chunk on the Loop page."
NO_CHUNK = "This run has no trained chunk yet: click Train chunk on the Loop page."


def _run_or_none(run_id):
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    return store, rid, (store.load_run(rid) if rid else None)


def reveal_count(n: int) -> str:
    return f"This run has {n} recorded reveal{'s' * (n != 1)}."


def test_status_view(run: dict | None) -> html.Span:
    status = CV.test_split_status(run)
    colour = "text-success" if status["untouched"] else "text-danger fw-semibold"
    return html.Span(status["text"], className=colour, **{"data-reveals": status["reveals"]})


def slider_settings(run: dict | None) -> dict:
    """Slider range, marks and value (the newest chunk) for a run's chunks."""
    n = len(run["chunks"]) if run else 0
    if n == 0:
        return {"min": 0, "max": 1, "marks": {0: "0"}, "value": 0, "disabled": True}
    every = max(1, -(-n // 12))  # at most ~12 marks
    marks = {k: str(k) for k in range(0, n, every)} | {n - 1: str(n - 1)}
    return {"min": 0, "max": max(n - 1, 1), "marks": marks, "value": n - 1, "disabled": n == 1}


@callback(
    Output("compare-chunk-slider", "min"),
    Output("compare-chunk-slider", "max"),
    Output("compare-chunk-slider", "marks"),
    Output("compare-chunk-slider", "value"),
    Output("compare-chunk-slider", "disabled"),
    Output("compare-run-name", "children"),
    Output("reveal-count", "children"),
    Output("compare-test-status", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def chunk_slider_for_run(run_id, _version):
    try:
        _, rid, run = _run_or_none(run_id)
    except HillError as exc:
        rid, run, name = None, None, f"Run unreadable: {exc}"
    else:
        name = f"Run {run['name']} ({rid})" if run else NO_RUN
    s = slider_settings(run)
    count = reveal_count(len(run.get("test_reveals", [])) if run else 0)
    status = test_status_view(run) if run else ""
    return s["min"], s["max"], s["marks"], s["value"], s["disabled"], name, count, status


@callback(
    [Output("compare-baseline", "options")],  # a list: one output, answered as a list
    Input("compare-chunk-slider", "value"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def baseline_choices(k, run_id, _version):
    """Both baselines at this chunk; one that does not exist here is disabled and says why.

    The choice itself stays (while playing through the chunks, a chunk without a
    counterfactual shows why on the baseline map, and the next one shows it again).
    """
    try:
        _, _, run = _run_or_none(run_id)
    except HillError:
        run = None
    return [CV.comparison_options(_chunk(run, k))]


def _chunk(run: dict | None, k) -> dict | None:
    if not run or not run["chunks"]:
        return None
    return run["chunks"][min(max(int(k or 0), 0), len(run["chunks"]) - 1)]


def chunk_panels(view: CV.CompareView, selected, theme) -> tuple:
    """Both maps, the table, class deltas, confusion difference and notes of one view."""
    note = " ".join(
        x for x in (f"{CV.COMPARISONS[view.which]}: {CV.QUESTIONS[view.which]}", view.note) if x
    )
    titles = (f"guided {view.guided} · training + validation points", view.other_label)
    fig_g, fig_o = make_map_pair(view, selected=selected, theme=theme, animated=True)
    if fig_o is None:
        fig_o = themed(placeholder_figure(view.note or "no baseline here", MAP_HEIGHT - 12), theme)
    other = CV.COMPARISONS[view.which]
    columns = table_columns(f"guided {view.guided}", view.other_label)
    realized = realized_view(view)
    if not view.rows:
        why = (
            view.note
            if view.other is None
            else f"no metrics recorded for {view.guided}/{view.other}"
        )
        missing = themed(placeholder_figure(why, PANEL_HEIGHT), theme)
        return fig_g, fig_o, [], columns, missing, missing, realized, note, *titles, view.chunk
    if view.same_checkpoint:
        same = f"chunk {view.chunk}: guided and baseline are the same checkpoint ({view.guided})"
        blank = themed(placeholder_figure(same, PANEL_HEIGHT), theme)
        return fig_g, fig_o, view.rows, columns, blank, blank, realized, note, *titles, view.chunk
    class_fig = make_class_delta_figure(view.bias, view.label_names, other, theme)
    conf_fig = make_confusion_diff_figure(
        view.conf_g, view.conf_o, view.label_names, other, view.shifts, theme
    )
    if view.bias_note:
        note = f"{note} Per-class bars: {view.bias_note}."
    return (
        fig_g,
        fig_o,
        view.rows,
        columns,
        class_fig,
        conf_fig,
        realized,
        note,
        *titles,
        view.chunk,
    )


def realized_view(view: CV.CompareView) -> html.Div | str:
    """How much of each edit of this chunk happened, in words (the contract's realized shares)."""
    if view.chunk == 0:
        return ""
    if not view.realized:
        return html.Small("Realized shares: not recorded for this chunk.", className="text-muted")
    items = [
        html.Li(
            [
                html.Strong(f"{r['what']}: "),
                CV.realized_text(r, "latent"),
            ]
        )
        for r in view.realized
    ]
    return html.Div(
        [
            html.Small("How much of each edit happened (latent space):", className="fw-semibold"),
            html.Ul(items, className="small mb-0 ps-3"),
        ],
        id="compare-realized-list",
    )


def empty_panels(message: str, short: str, theme) -> tuple:
    """Placeholders that say why: the long message on the maps, a short one on small panels."""
    big = themed(placeholder_figure(message, MAP_HEIGHT - 12), theme)
    small = themed(placeholder_figure(short, PANEL_HEIGHT), theme)
    return big, big, [], table_columns(), small, small, "", message, "", "", None


@callback(
    Output("compare-guided-graph", "figure"),
    Output("compare-baseline-graph", "figure"),
    Output("compare-table", "rowData"),
    Output("compare-table", "columnDefs"),
    Output("compare-class-graph", "figure"),
    Output("compare-confusion-graph", "figure"),
    Output("compare-realized", "children"),
    Output("compare-baseline-note", "children"),
    Output("compare-guided-graph-title", "children"),
    Output("compare-baseline-graph-title", "children"),
    Output("compare-shown-chunk", "data"),  # Play waits for each chunk to be drawn
    Input("compare-chunk-slider", "value"),
    Input("compare-baseline", "value"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("theme-store", "data"),
    State("compare-selection", "data"),
)
def show_chunk_comparison(k, which, run_id, _version, theme, selection):
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None or not run["chunks"]:
            short = "no run yet" if run is None else "no chunk trained yet"
            return empty_panels(NO_RUN if run is None else NO_CHUNK, short, theme)
        view = CV.load_view(store, run, int(k or 0), which or CV.LINEAGE)
    except HillError as exc:
        return empty_panels(f"Cannot show this run: {exc}", "run unreadable", theme)
    return chunk_panels(view, selected_indices(selection), theme)


def selected_indices(selection) -> np.ndarray | None:
    idx = (selection or {}).get("indices") or []
    return np.asarray(idx, dtype=np.int64) if idx else None


# -- linking: panels select points; the maps show them ---------------------------------------


@callback(
    Output("compare-selection", "data", allow_duplicate=True),
    Input("compare-class-graph", "clickData"),
    Input("compare-confusion-graph", "clickData"),
    State("compare-chunk-slider", "value"),
    State("compare-baseline", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def select_from_panels(class_click, cell_click, k, which, run_id):
    """A class bar selects that class; a confusion cell the points true A predicted as B."""
    trigger = dash.ctx.triggered_id
    click = class_click if trigger == "compare-class-graph" else cell_click
    points = (click or {}).get("points") or []
    if not points:
        return dash.no_update
    try:
        store, _, run = _run_or_none(run_id)
        if run is None or not run["chunks"]:
            return dash.no_update
        view = CV.load_view(store, run, int(k or 0), which or CV.LINEAGE)
    except HillError:
        return dash.no_update
    names = view.label_names
    if trigger == "compare-class-graph":
        c = names.index(points[0]["x"]) if points[0].get("x") in names else None
        if c is None:
            return dash.no_update
        idx = CV.points_of_class(view, c)
        return {"indices": idx.tolist(), "source": f"class {names[c]} (training + validation)"}
    true_c, pred_c = points[0].get("y"), points[0].get("x")
    if true_c not in names or pred_c not in names:
        return dash.no_update
    cell = CV.points_of_cell(view, names.index(true_c), names.index(pred_c))
    source = (
        f"true {true_c} predicted as {pred_c} (validation): {cell['guided']} by guided, "
        f"{cell['other']} by {CV.COMPARISONS[view.which]}"
    )
    return {"indices": cell["indices"].tolist(), "source": source}


clientside_callback(
    ClientsideFunction("hill_compare", "selectionFromMaps"),
    Output("compare-selection", "data"),
    Input("compare-guided-graph", "selectedData"),
    Input("compare-baseline-graph", "selectedData"),
    Input("compare-clear-selection", "n_clicks"),
    State("compare-guided-graph", "figure"),
    State("compare-baseline-graph", "figure"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("hill_compare", "highlight"),
    Output("compare-guided-graph", "figure", allow_duplicate=True),
    Output("compare-baseline-graph", "figure", allow_duplicate=True),
    Output("compare-selection-note", "children"),
    Input("compare-selection", "data"),
    State("compare-guided-graph", "figure"),
    State("compare-baseline-graph", "figure"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("hill_compare", "shareZoom"),
    Output("compare-zoom-sync", "data"),
    Input("compare-guided-graph", "relayoutData"),
    Input("compare-baseline-graph", "relayoutData"),
    State("compare-zoom-link", "value"),
    prevent_initial_call=True,
)

# -- play through the chunks -------------------------------------------------------------------

clientside_callback(
    ClientsideFunction("hill_compare", "togglePlay"),
    Output("compare-play-interval", "disabled"),
    Output("compare-play-button", "children"),
    Output("compare-chunk-slider", "value", allow_duplicate=True),
    Input("compare-play-button", "n_clicks"),
    State("compare-play-interval", "disabled"),
    State("compare-chunk-slider", "value"),
    State("compare-chunk-slider", "max"),
    State("compare-chunk-slider", "disabled"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("hill_compare", "playStep"),
    Output("compare-chunk-slider", "value", allow_duplicate=True),
    Output("compare-play-interval", "disabled", allow_duplicate=True),
    Output("compare-play-button", "children", allow_duplicate=True),
    Input("compare-play-interval", "n_intervals"),
    State("compare-chunk-slider", "value"),
    State("compare-chunk-slider", "max"),
    State("compare-shown-chunk", "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("hill_compare", "imageFormat"),
    [Output(g, "config") for g in GRAPHS],
    Input("compare-image-format", "value"),
    [State(g, "config") for g in GRAPHS],
    prevent_initial_call=True,
)


# -- the final evaluation ------------------------------------------------------------------------


def revealed_test_view(result: dict) -> html.Div:
    """The revealed test accuracy of both heads and the run's reveal count."""
    g, u = result.get("guided"), result.get("twin")
    if g is None or u is None:
        return html.Div(
            dbc.Alert("No test metrics recorded yet: train a chunk first.", color="secondary")
        )
    delta = 100 * (g["acc"] - u["acc"])
    return html.Div(
        [
            html.Div(
                [
                    html.Strong("Test accuracy · "),
                    f"guided {g['checkpoint']}: {100 * g['acc']:.2f} % · ",
                    f"unguided lineage {u['checkpoint']}: {100 * u['acc']:.2f} % · ",
                    f"Δ {delta:+.2f} pp",
                ],
                id="test-accuracy",
            ),
            html.Small(
                f"Reveal number {result['reveals']} for this run, recorded at "
                f"{time.strftime('%H:%M:%S')}. These are the current heads, whatever "
                "the slider shows. The test split is no longer untouched.",
                className="text-muted",
            ),
        ]
    )


@callback(
    Output("test-result", "children"),
    Output("reveal-count", "children", allow_duplicate=True),
    Output("compare-test-status", "children", allow_duplicate=True),
    Input("reveal-test-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def reveal_test_accuracy(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None or not run["heads"]:
            return (
                dbc.Alert("Nothing to evaluate yet: train a chunk first.", color="secondary"),
                dash.no_update,
                dash.no_update,
            )
        result = loop.reveal_test(store, rid)
        run = store.load_run(rid)
    except HillError as exc:
        return error_alert(exc), dash.no_update, dash.no_update
    return revealed_test_view(result), reveal_count(result["reveals"]), test_status_view(run)


# -- downloads -------------------------------------------------------------------------


@callback(
    Output("compare-csv-download", "data"),
    Output("compare-download-status", "children", allow_duplicate=True),
    Input("compare-csv-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def download_chunk_csv(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None:
            return dash.no_update, dbc.Alert(NO_RUN, color="secondary")
        text = rows_csv(chunk_rows(store, run))
    except HillError as exc:
        return dash.no_update, error_alert(exc)
    return dcc.send_string(text, f"hill-dash-{rid}-chunks.csv"), ""


@callback(
    Output("compare-report-download", "data"),
    Output("compare-download-status", "children", allow_duplicate=True),
    Input("compare-report-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def download_report(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None:
            return dash.no_update, dbc.Alert(NO_RUN, color="secondary")
        page = session_report(store, rid)
    except HillError as exc:
        return dash.no_update, error_alert(exc)
    return dcc.send_string(page, report_filename(rid)), ""
