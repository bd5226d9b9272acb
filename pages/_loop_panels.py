"""The Loop page's linked panels: per-chunk curves, bias, realized shares, drift, the
chunk log and per-step training curves.

Not a page (the name begins with "_"): `pages/loop.py` imports it, which registers these
callbacks. Each is a thin wrapper over `hill_dash.dashboard.history` and the figure
builders in `hill_dash.dashboard.figures.panels`.
"""

from __future__ import annotations

from dash import Input, Output, callback, ctx
from dash.exceptions import PreventUpdate

from hill_dash.dashboard import history, selection, views
from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures import panels as P
from pages._loop_layout import no_run_message
from pages._loop_render import chunk_table, last_edits


def _unchanged_while_arriving(run: dict | None) -> None:
    """While a chunk's references still train, a store change (its guided map, an edit on
    it) changes no panel: they draw recorded chunks only. Not redrawing five figures then
    leaves the browser's time to the guided map."""
    if run and run.get("arriving") and ctx.triggered_prop_ids.keys() == {"run-version.data"}:
        raise PreventUpdate


@callback(
    Output("accuracy-graph", "figure"),
    Output("gap-graph", "figure"),
    Output("bias-graph", "figure"),
    Output("realized-graph", "figure"),
    Output("chunk-log", "children"),
    Output("last-edits", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def draw_panels(run_id, _version):
    """The per-chunk panels: the guided lineage against the unguided one."""
    store, _, run = views.open_run(data_dir(), run_id)
    _unchanged_while_arriving(run)
    h = history.chunk_history(store, run)
    if not h["chunk"]:
        empty = P.placeholder_figure(no_run_message() if run is None else "No chunk yet")
        return empty, empty, empty, empty, chunk_table([]), []
    bias = history.latest_bias(store, run)
    bias_fig = (
        P.make_bias_figure(bias[1], run.get("label_names", []), bias[0])
        if bias
        else P.placeholder_figure("Bias needs a guided chunk: edit, then train chunk 1")
    )
    r = history.realized_history(run)
    realized = (
        P.make_realized_figure(r["chunk"], r["guided"], r["counterfactual"], r["twin"])
        if r["chunk"]
        else P.placeholder_figure(
            "No edits measured yet: realized shares appear after a guided chunk"
        )
    )
    return (
        P.make_accuracy_figure(
            h["chunk"], h["guided_train"], h["guided_val"], h["twin_train"], h["twin_val"]
        ),
        P.make_gap_figure(h["chunk"], h["guided_gap"], h["twin_gap"]),
        bias_fig,
        realized,
        chunk_table(history.chunk_log(run)),
        last_edits(history.last_chunk_edits(run)),
    )


@callback(
    Output("drift-graph", "figure"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("selection-store", "data"),
)
def draw_drift(run_id, _version, sel_store):
    """Drift of edited points vs the rest per chunk, or of the current selection."""
    store, _, run = views.open_run(data_dir(), run_id)
    _unchanged_while_arriving(run)
    if run is None:
        return P.placeholder_figure(no_run_message())
    sel, _ = selection.selected_points(sel_store, views.map_size(run))
    chunks, series = history.drift_series(store, run, sel)
    if not chunks:
        return P.placeholder_figure("Drift appears from chunk 1 on")
    return P.make_drift_figure(chunks, series)


@callback(
    Output("step-curves-graph", "figure"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("curve-metric", "value"),
    Input("curve-smoothing", "value"),
    Input("curve-logy", "value"),
)
def draw_step_curves(run_id, _version, key, smoothing, log_y):
    """Per-step loss, teacher loss or accuracy of every chunk, smoothed as in TensorBoard."""
    store, _, run = views.open_run(data_dir(), run_id)
    _unchanged_while_arriving(run)
    if run is None:
        return P.placeholder_figure(no_run_message())
    series = history.step_curves(store, run, key)
    if not series:
        return P.placeholder_figure(
            "No per-step curves recorded for this run yet (they come with each new chunk)"
        )
    weight = smoothing if isinstance(smoothing, (int, float)) else 0.0
    raw, smoothed = history.curve_traces(series, weight)
    return P.make_step_curves_figure(raw, key, smoothed, bool(log_y))
