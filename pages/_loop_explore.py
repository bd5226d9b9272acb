"""Seeing and finding points on the Loop page: the tooltip, the selection gallery, "Find
points", selections from a click on a panel, the selection as CSV, and the map re-fit.

Not a page (the name begins with "_"): `pages/loop.py` imports it, which registers these
callbacks. Selections made here go into the same selection store as a lasso (a bitset,
`hill_dash.dashboard.selection.with_selection`); the map then draws them.
"""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from hill_dash.dashboard import points, refit, selection, views
from hill_dash.dashboard.chunk_settings import PROJECTIONS
from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures import panels as P
from hill_dash.engine.errors import HillError
from pages._loop_render import gallery, status, status_alert, tooltip
from pages._ui import plural

GALLERY_LIMIT = 48  # thumbnails drawn for a selection; the note says how many there are


def _map(run_id):
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    return store, run, md


def _sample(store, md, index: int) -> dict:
    s = views.sample_info(store, md, index)
    s["confidence"] = float(points.point_stats(store, md).confidence[index])
    s["split"] = views.SPLIT_WORDS[s["split"]]
    return s


# -- under the pointer -------------------------------------------------------------------


@callback(
    Output("map-tooltip", "show"),
    Output("map-tooltip", "bbox"),
    Output("map-tooltip", "children"),
    Output("sample-graph", "figure"),
    Output("sample-caption", "children"),
    Input("latent-graph", "hoverData"),
    State("run-id", "data"),
)
def show_hovered(hover, run_id):
    """The sample under the pointer: a tooltip at the point and the side panel. Nothing
    when the pointer leaves the points (or a drag starts)."""
    store, _, md = _map(run_id)
    index = views.hovered_index(hover, md.n) if md else None
    if index is None:
        return (
            False,
            no_update,
            no_update,
            P.placeholder_figure("hover a point", P.SAMPLE_HEIGHT),
            "",
        )
    s = _sample(store, md, index)
    bbox = (hover["points"][0] or {}).get("bbox")
    uri = views.thumbnail(store, md, index)
    caption = tooltip(s, uri)[1:]
    return (
        bbox is not None,
        bbox or no_update,
        tooltip(s, uri),
        P.make_sample_figure(s["x"], s["kind"]),
        caption,
    )


# -- the selection gallery and its export ----------------------------------------------


@callback(
    Output("selection-gallery", "children"),
    Input("selection-info", "children"),
    Input("gallery-sort", "value"),
    State("run-id", "data"),
    State("selection-store", "data"),
)
def show_gallery(_caption, sort, run_id, sel_store):
    """Thumbnails of the selection with label · prediction, in the chosen order.

    Asked for once the selection's caption is shown (the caption follows the selection,
    the run and its version), not beside it: on a busy page the caption, the first thing
    a person reads after a lasso, is not kept waiting."""
    store, _, md = _map(run_id)
    if md is None:
        return gallery([], 0, "")
    sel, _ = selection.selected_points(sel_store, md.n)
    if len(sel) == 0:
        return gallery([], 0, "")
    stats = points.point_stats(store, md)
    if sort == "drift" and stats.drift is None:
        sort = "confidence"
    order = points.gallery_order(sel, stats, sort, GALLERY_LIMIT)
    items = []
    for i in order.tolist():
        s = _sample(store, md, i)
        items.append(s | {"uri": views.thumbnail(store, md, i)})
    note = dict(points.GALLERY_SORTS).get(sort, "by index")
    return gallery(items, len(sel), note)


@callback(
    Output("selection-download", "data"),
    Output("edit-status", "children", allow_duplicate=True),
    Input("export-selection-button", "n_clicks"),
    State("selection-store", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def export_selection(_n, sel_store, run_id):
    """The selection as CSV: indices, split, labels, predictions, confidence, coordinates."""
    store, run, md = _map(run_id)
    if md is None:
        return no_update, status(False, "No map yet: train chunk 0 first.")
    sel, _ = selection.selected_points(sel_store, md.n)
    if len(sel) == 0:
        return no_update, status(False, "Nothing selected to export.")
    text = points.selection_csv(md, points.point_stats(store, md), sel)
    name = f"{run['id']}-{md.checkpoint}-selection.csv"
    return dcc.send_string(text, name), status(True, f"Exported {plural(len(sel), 'point')}.")


# -- selections made by the server ----------------------------------------------------


@callback(
    Output("find-class", "style"),
    Output("find-k", "style"),
    Output("find-indices", "style"),
    Input("select-by", "value"),
)
def show_find_fields(criterion):
    hidden = {"display": "none"}
    return (
        {} if criterion == "class" else hidden,
        {} if criterion in points.TOP_K else hidden,
        {} if criterion == "indices" else hidden,
    )


def _select(sel_store, key, indices, source):
    new = selection.with_selection(sel_store, indices, key, source)
    return (new, 0, 0) if new is not None else (no_update, no_update, no_update)


@callback(
    Output("selection-store", "data", allow_duplicate=True),
    Output("move-dx", "value", allow_duplicate=True),
    Output("move-dy", "value", allow_duplicate=True),
    Output("find-status", "children"),
    Input("find-button", "n_clicks"),
    State("select-by", "value"),
    State("find-class", "value"),
    State("find-k", "value"),
    State("find-indices", "value"),
    State("find-mode", "value"),
    State("show-val", "value"),
    State("selection-store", "data"),
    State("map-key", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def find(_n, criterion, cls, k, text, mode, show_val, sel_store, key, run_id):
    """Select by class, misclassified, index list, or the top k by confidence, loss or
    drift; replace the selection, add to it or subtract from it."""
    store, _, md = _map(run_id)
    if md is None:
        return no_update, no_update, no_update, status(False, "No map yet: train chunk 0 first.")
    shown = md.n if show_val is not False else md.n_train
    try:
        found = points.find_points(
            md, points.point_stats(store, md), criterion, cls=cls, k=k, text=text, shown=shown
        )
    except HillError as exc:
        return no_update, no_update, no_update, status(False, str(exc))
    current, _ = selection.selected_points(sel_store, md.n)
    new = selection.combine(current, found, mode)
    word = {"add": "added", "subtract": "removed"}.get(mode, "found")
    note = status_alert(f"{plural(len(found), 'point')} {word}: {len(new):,} selected.", "info")
    return (*_select(sel_store, key, new, "find"), note)


@callback(
    Output("selection-store", "data", allow_duplicate=True),
    Output("move-dx", "value", allow_duplicate=True),
    Output("move-dy", "value", allow_duplicate=True),
    Input("clear-selection-button", "n_clicks"),
    State("selection-store", "data"),
    State("map-key", "data"),
    prevent_initial_call=True,
)
def clear_selection(_n, sel_store, key):
    """Clear the selection (the button, or Esc on the page)."""
    return _select(sel_store, key, [], "clear")


@callback(
    Output("selection-store", "data", allow_duplicate=True),
    Output("move-dx", "value", allow_duplicate=True),
    Output("move-dy", "value", allow_duplicate=True),
    Input("bias-graph", "clickData"),
    Input({"type": "chunk-row", "index": ALL}, "n_clicks"),
    State("show-val", "value"),
    State("selection-store", "data"),
    State("map-key", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def select_from_panels(click, rows, show_val, sel_store, key, run_id):
    """A bias bar selects its class; a chunk-table row selects the points its edits moved."""
    store, run, md = _map(run_id)
    if md is None:
        raise PreventUpdate
    shown = md.n if show_val is not False else md.n_train
    if ctx.triggered_id == "bias-graph":
        names = list(md.label_names)
        x = ((click or {}).get("points") or [{}])[0].get("x")
        if x not in names:
            raise PreventUpdate
        found = points.find_points(md, points.point_stats(store, md), "class", cls=names.index(x))
        return _select(sel_store, key, found[found < shown], "click")
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(isinstance(n, int) and n > 0 for n in rows):
        raise PreventUpdate  # the table was redrawn, nobody clicked
    from hill_dash.dashboard.history import chunk_points

    found = chunk_points(run, trigger.get("index"), shown)
    if len(found) == 0:
        raise PreventUpdate
    return _select(sel_store, key, found, "click")


# -- map re-fit ----------------------------------------------------------------------------


@callback(
    Output("refit-map-button", "disabled"),
    Output("refit-note", "children"),
    Input("run-state", "data"),
    Input("train-button", "disabled"),
)
def refit_button(state, training_here):
    reason = refit.refit_blocked(state, bool(training_here))
    return bool(reason), reason


@callback(
    Output("store-change", "data", allow_duplicate=True),
    Output("refit-status", "children"),
    Input("refit-map-button", "n_clicks"),
    State("run-id", "data"),
    State("projection-select", "value"),
    background=True,
    running=[
        (Output("refit-map-button", "disabled"), True, False),
        (Output("refit-map-button", "children"), "Re-fitting…", "Re-fit map"),
    ],
    prevent_initial_call=True,
)
def refit_map(_n, run_id, method):
    """A fresh layout of the guided head's map, in a background job; recorded in the run."""
    _, rid, _ = views.open_run(data_dir(), run_id)
    result = refit.refit_map_job(str(data_dir()), rid, method if method in PROJECTIONS else None)
    return {"version": time.time()}, status(result["ok"], result["message"])
