"""Compare: the guided run and its unguided twin at the same chunk, side by side.

Both lineages start each chunk from the same checkpoint with the same seed; only
the guidance differs. The maps share their axes; the table, the per-class bars
and the confusion difference are guided − twin. The locked test split is shown
only on request, and every request is recorded in the run.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html

from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures.compare import (
    MAP_HEIGHT,
    PANEL_HEIGHT,
    class_deltas,
    compare_rows,
    drift_on_same_points,
    make_class_delta_figure,
    make_compare_table,
    make_confusion_diff_figure,
    make_map_pair,
)
from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.views import current_run_id
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from hill_dash.engine.projection import MapState
from hill_dash.engine.store import RunStore
from pages._ui import error_alert, titled_card

dash.register_page(__name__, path="/compare", name="Compare", title="HILL Dash · compare")

NO_RUN = "No run yet: start one on the Data page, then train a chunk on the Loop page."
NO_CHUNK = "This run has no trained chunk yet: click Train chunk on the Loop page."
GRAPH_CONFIG = {"displaylogo": False}
PANEL_CONFIG = {"displayModeBar": False}

# -- layout fragments ----------------------------------------------------------------

chunk_controls = dbc.Card(
    dbc.CardBody(
        [
            html.Div(id="compare-run-name", className="fw-semibold mb-2"),
            dcc.Slider(
                id="compare-chunk-slider",
                min=0,
                max=1,
                step=1,
                value=0,
                marks={0: "0"},
                disabled=True,
            ),
            html.Small(
                "Chunk k shows checkpoints g_k and u_k: both trained from the same "
                "checkpoint with the same seed; only the guidance differs.",
                className="text-muted",
            ),
        ]
    ),
    className="mb-2",
)

maps = dbc.Row(
    [
        dbc.Col(
            dcc.Graph(
                id="compare-guided-graph",
                config=GRAPH_CONFIG,
                figure=placeholder_figure("loading…", MAP_HEIGHT),
            ),
            md=6,
        ),
        dbc.Col(
            dcc.Graph(
                id="compare-unguided-graph",
                config=GRAPH_CONFIG,
                figure=placeholder_figure("loading…", MAP_HEIGHT),
            ),
            md=6,
        ),
    ],
    className="g-2",
)

metrics_table = titled_card(
    "Metrics at this chunk",
    [
        html.Div(id="compare-table-container"),
        html.Small(
            "Drift is measured on the points the guided run edited, for both "
            "lineages. The twin has no teacher, so no adherence.",
            className="text-muted",
        ),
    ],
    class_name="h-100",
)


def graph_panel(graph_id: str, note: str) -> dbc.Card:
    """A small panel: a graph (loading until its callback answers) over a note."""
    return dbc.Card(
        dbc.CardBody(
            [
                dcc.Graph(
                    id=graph_id,
                    config=PANEL_CONFIG,
                    figure=placeholder_figure("loading…", PANEL_HEIGHT),
                ),
                html.Small(note, className="text-muted"),
            ]
        ),
        className="h-100",
    )


class_panel = graph_panel(
    "compare-class-graph",
    "Red: a drop beyond noise (2 s.e.). Outlined: classes of the edited points.",
)

confusion_panel = graph_panel(
    "compare-confusion-graph",
    "Blue on the diagonal: the guided run gets more right; blue off the "
    "diagonal: it makes more of that mistake.",
)

final_evaluation = titled_card(
    "Final evaluation on the locked test split",
    [
        dbc.Alert(
            [
                html.Strong("Every reveal is recorded. "),
                "Use the test split once, at the end. Choosing edits, chunks or settings "
                "after looking at test accuracy tunes on the test set and invalidates it.",
                html.Div(id="reveal-count", className="mt-1"),
            ],
            color="warning",
            className="mb-2",
        ),
        dbc.Button(
            "Reveal test accuracy of both heads",
            id="reveal-test-button",
            color="warning",
            outline=True,
            className="mb-2",
        ),
        html.Div(id="test-result"),
    ],
    class_name="mb-4",
)

layout = html.Div(
    [
        chunk_controls,
        maps,
        dbc.Row(
            [
                dbc.Col(metrics_table, lg=4),
                dbc.Col(class_panel, lg=4),
                dbc.Col(confusion_panel, lg=4),
            ],
            className="g-2 my-2",
        ),
        final_evaluation,
    ]
)


# -- callbacks ------------------------------------------------------------------------


def _run_or_none(run_id):
    store = RunStore(data_dir())
    rid = current_run_id(store, run_id)
    return store, rid, (store.load_run(rid) if rid else None)


def reveal_count(n: int) -> str:
    return f"This run has {n} recorded reveal{'s' * (n != 1)}."


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
    return s["min"], s["max"], s["marks"], s["value"], s["disabled"], name, count


def chunk_panels(store: RunStore, run_id: str, run: dict, k: int) -> tuple:
    """Both maps, the table, class deltas and confusion difference at chunk k."""
    chunk = run["chunks"][k]
    gk, uk = chunk["guided"], chunk["twin"]
    recs = store.metrics(run_id, run)
    data = store.load_dataset(run_id)
    ga, ua = store.load_arrays(run_id, gk), store.load_arrays(run_id, uk)
    labels, shown = data.all_y(), np.flatnonzero(data.split_array() != "test")
    names = list(run["label_names"])
    fig_g, fig_u = make_map_pair(
        MapState.from_arrays(ga).coords,
        MapState.from_arrays(ua).coords,
        labels,
        names,
        shown,
        (f"guided {gk} · train + val points", f"unguided twin {uk}"),
    )
    g, u = recs.get(gk), recs.get(uk)
    if g is None or u is None:
        missing = placeholder_figure(f"no metrics recorded for {gk}/{uk}", PANEL_HEIGHT)
        return fig_g, fig_u, html.Em("No metrics recorded."), missing, missing
    twin_drift = None
    if "edited" in ga and "drift" in ua:
        twin_drift = drift_on_same_points(ua["drift"], ga["edited"])
    table = make_compare_table(compare_rows(g, u, twin_drift), gk, uk)
    if gk == uk:
        same = f"chunk {k}: guided and twin are the same checkpoint ({gk})"
        note = placeholder_figure(same, PANEL_HEIGHT)
        return fig_g, fig_u, table, note, note
    return (
        fig_g,
        fig_u,
        table,
        make_class_delta_figure(class_deltas(g, u), names),
        make_confusion_diff_figure(g["val"]["confusion"], u["val"]["confusion"], names),
    )


@callback(
    Output("compare-guided-graph", "figure"),
    Output("compare-unguided-graph", "figure"),
    Output("compare-table-container", "children"),
    Output("compare-class-graph", "figure"),
    Output("compare-confusion-graph", "figure"),
    Input("compare-chunk-slider", "value"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def show_chunk_comparison(k, run_id, _version):
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None or not run["chunks"]:
            short = "no run yet" if run is None else "no chunk trained yet"
            return empty_panels(NO_RUN if run is None else NO_CHUNK, short)
        k = min(max(int(k or 0), 0), len(run["chunks"]) - 1)
        return chunk_panels(store, rid, run, k)
    except HillError as exc:
        return empty_panels(f"Cannot show this run: {exc}", "run unreadable")


def empty_panels(message: str, short: str) -> tuple:
    """Placeholders that say why: the long message on the maps, a short one on small panels."""
    return (
        placeholder_figure(message, MAP_HEIGHT),
        placeholder_figure(message, MAP_HEIGHT),
        html.Em(message, id="compare-table"),
        placeholder_figure(short, PANEL_HEIGHT),
        placeholder_figure(short, PANEL_HEIGHT),
    )


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
                    f"twin {u['checkpoint']}: {100 * u['acc']:.2f} % · ",
                    f"Δ {delta:+.2f} pp",
                ],
                id="test-accuracy",
            ),
            html.Small(
                f"Reveal number {result['reveals']} for this run, recorded at "
                f"{time.strftime('%H:%M:%S')}. These are the current heads, whatever "
                "the slider shows.",
                className="text-muted",
            ),
        ]
    )


@callback(
    Output("test-result", "children"),
    Output("reveal-count", "children", allow_duplicate=True),
    Input("reveal-test-button", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def reveal_test_accuracy(n_clicks, run_id):
    if not n_clicks:
        return dash.no_update, dash.no_update
    try:
        store, rid, run = _run_or_none(run_id)
        if run is None or not run["heads"]:
            return dbc.Alert(
                "Nothing to evaluate yet: train a chunk first.", color="secondary"
            ), dash.no_update
        result = loop.reveal_test(store, rid)
    except HillError as exc:
        return error_alert(exc), dash.no_update
    return revealed_test_view(result), reveal_count(result["reveals"])
