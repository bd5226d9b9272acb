"""Making edits on the Loop page: the edit tool's pane, Δ from a move gesture, and Apply /
Undo / Redo / Clear on the run's pending edits.

Not a page (the name begins with "_"): `pages/loop.py` imports it, which registers these
callbacks. The tool's inputs (`tool_deps`) also feed the map's preview in `pages/loop.py`.
Each callback is a thin wrapper over `hill_dash.dashboard.selection` (the edit a tool
makes of the selection) and the engine's pending edits.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from hill_dash.dashboard import selection, views
from hill_dash.dashboard.config import data_dir
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from hill_dash.engine.pending import edits_closed
from pages._loop_render import TRAINING_REASON, status, status_alert

TOOL_INPUTS = (
    "edit-tool.value",
    "move-dx.value",
    "move-dy.value",
    "pull-class.value",
    "pull-alpha.value",
    "compact-beta.value",
    "separate-gamma.value",
    "relabel-class.value",
    "weight-w.value",
    "pull-relabel.value",
)
TOOL_PANES = ("move", "pull", "compact", "separate", "relabel", "weight", "exclude")


def tool_deps(kind):
    return [kind(*spec.split(".")) for spec in TOOL_INPUTS]


# -- the tool --------------------------------------------------------------------------------


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
def read_move_gesture(relayout, click, sel_store, run_id, tool):
    """Δ from the dragged selection box, or from a click where the cluster should go."""
    dragged = "latent-graph.relayoutData" in ctx.triggered_prop_ids
    if dragged and not any(str(k).startswith("shapes") for k in (relayout or {})):
        raise PreventUpdate  # a zoom, a pan or a lasso: no box was dragged
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    sel = selection.selected_points(sel_store, md.n)[0] if md else []
    if md is None or len(sel) == 0:
        raise PreventUpdate
    if dragged:
        shift = selection.shift_from_relayout(relayout, selection.selection_box(md.coords, sel))
        new_tool = "move"
    else:
        shift = (
            selection.shift_from_click(click, md.coords[sel].mean(axis=0))
            if tool == "move"
            else None
        )
        new_tool = no_update
    if shift is None:
        raise PreventUpdate
    return round(shift[0], 3), round(shift[1], 3), new_tool


@callback(
    Output("move-pane", "style"),
    Output("pull-pane", "style"),
    Output("compact-pane", "style"),
    Output("separate-pane", "style"),
    Output("relabel-pane", "style"),
    Output("weight-pane", "style"),
    Output("exclude-pane", "style"),
    Input("edit-tool", "value"),
)
def show_tool_pane(tool):
    return [{} if tool == name else {"display": "none"} for name in TOOL_PANES]


# -- edits ------------------------------------------------------------------------------


@callback(
    Output("apply-edit-button", "disabled"),
    Output("undo-button", "disabled"),
    Output("redo-button", "disabled"),
    Output("clear-button", "disabled"),
    Output("apply-note", "children"),
    Input("train-button", "disabled"),
    Input("run-state", "data"),
    *tool_deps(Input),
)
def edit_buttons(training_here, state, *tool_values):
    """Apply waits for a chunk to finish and for valid numbers; Undo/Redo/Clear too."""
    state = state or {}
    if not state.get("trained"):
        return True, True, True, True, ""
    # while the references of a chunk arrive, its guided map is final: edits are open
    if (training_here or state.get("training")) and not state.get("arriving"):
        return True, True, True, True, status_alert(TRAINING_REASON, "warning")
    _, problem = selection.tool_params(*tool_values)
    note = status_alert(f"Apply is off: {problem}", "warning") if problem else ""
    no_edits = not state.get("edits")
    return bool(problem), no_edits, not state.get("redo"), no_edits, note


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
    *tool_deps(State),
    prevent_initial_call=True,
)
def change_edits(_apply, _undo, _redo, _clear, run_id, sel_store, *tool_values):
    """Apply / Undo / Redo / Clear on the run's pending edits (stored in run.json)."""
    store, rid, run = views.open_run(data_dir(), run_id)
    if run is None:
        return no_update, status(False, "No run yet: train chunk 0 first."), no_update, no_update
    if edits_closed(store, rid, run):  # the button may be stale: the store decides
        return no_update, status_alert(TRAINING_REASON, "warning"), no_update, no_update
    action = ctx.triggered_id
    try:
        if action == "apply-edit-button":
            md = views.load_map_data(store, run)
            if md is None:
                raise HillError("Train chunk 0 first: edits are made on a trained map.")
            tool = tool_values[0]
            params, problem = selection.tool_params(*tool_values)
            if problem:
                raise HillError(problem)
            sel, prev = selection.selected_points(sel_store, md.n)
            loop.add_edits(store, rid, selection.edits_of_selection(md, tool, sel, prev, **params))
            text = selection.applied_message(md, tool, sel)
        elif action == "undo-button":
            loop.undo_edit(store, rid)
            text = "Undid the last pending edit (both edits of a combined Apply)."
        elif action == "redo-button":
            loop.redo_edit(store, rid)
            text = "Redid the last undone edit."
        else:
            loop.clear_edits(store, rid)
            text = "Cleared the pending edits (Redo brings them back one by one)."
    except HillError as exc:
        return no_update, status(False, str(exc)), no_update, no_update
    return {"version": time.time()}, status(True, text), 0, 0
