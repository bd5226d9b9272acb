"""Loop: lasso a cluster on the latent map, edit it, train the next chunk, see what it did.

A person selects points on the guided head's map, moves them (drag the dashed box, click
where they should go, or type Δ), pulls them to a class, compacts or separates them, and
sees the targets as ghosts before training. "Train chunk" runs the guided chunk and its
unguided twin as a background job with a progress bar and Cancel; afterwards the map
(aligned with the previous one) and every panel re-read the run store.

The page reads top to bottom: the layout (its fragments and renderers are in
`pages/_loop_layout.py`), then the callbacks. Each callback is a thin wrapper:
`hill_dash.dashboard.views`, `.selection`, `.ghosts` and `.watchdog` read the store,
`hill_dash.dashboard.figures` draws.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from hill_dash.dashboard import ghosts, launcher, selection, views, watchdog
from hill_dash.dashboard.config import data_dir, jobs_on_workers, start_dataset
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.dashboard.figures import panels as P
from hill_dash.dashboard.jobs import train_chunk_job
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from pages._loop_layout import (
    chunk_table,
    edit_card,
    edit_list,
    edits_card,
    map_card,
    no_run_message,
    panels,
    run_card,
    run_header,
    selection_card,
    selection_summary,
    status,
    status_alert,
    train_card,
)

dash.register_page(__name__, path="/", name="Loop", title="HILL Dash · loop")

NO_SELECTION = {"indices": [], "previous": [], "rev": 0, "key": ""}
WATCHDOG_MS = 3000  # how often the page checks, while a chunk runs, that its job is alive
# Only jobs on Celery workers need the watchdog: Dash itself sees a forked job die (and
# the fewer requests run while the web process forks a job, the better).
WATCHDOG_RUNNING = (
    [(Output("watchdog-interval", "disabled"), False, True)] if jobs_on_workers() else []
)


# -- layout --------------------------------------------------------------------------

layout = html.Div(
    [
        dcc.Store(id="selection-store", data=NO_SELECTION),
        dcc.Store(id="map-key", data=""),
        dcc.Store(id="store-change"),  # {"version", "run_id"?}: published to run-id / run-version
        # the training watchdog: ticks only while a chunk runs (see watch_training)
        dcc.Interval(id="watchdog-interval", interval=WATCHDOG_MS, disabled=True),
        dcc.Store(id="watchdog-store"),  # watchdog.start_watch's record of the running chunk
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
    run_id, version, color_by, sel_store, tool, dx, dy, pull_class, alpha, beta, gamma, shown_key
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
    sel, prev = selection.selected_points(sel_store, md.n)
    box = selection.selection_box(md.coords, sel)
    edit_rev = f"{(sel_store or NO_SELECTION).get('rev', 0)}:{version}"
    codes, names = views.color_groups(md, color_by, views.pending_mask(run, md.n))
    if not full and triggers == {"color-by"}:
        return LM.patch_colours(Patch(), codes, names, color_by), no_update, no_update
    params = selection.tool_params(dx, dy, pull_class, alpha, beta, gamma)
    candidate, note = (
        selection.candidate_edit(md, tool, sel, prev, **params) if len(sel) else (None, "")
    )
    pending, preview = ghosts.preview(store, run, md, candidate)
    info = ghosts.preview_text(pending, preview, note)
    rings = (pending.start, pending.target), (preview.start, preview.target)
    if full:
        fig = LM.make_map_figure(
            md.coords,
            codes,
            names,
            color_by,
            LM.hover_texts(md.y, md.pred, md.split, md.label_names),
            uirevision=run["id"],
            box=box,
            pending=rings[0],
            preview=rings[1],
            edit_revision=edit_rev,
            selected=sel,
            selection_revision=key,
        )
        return fig, key, info
    patch = LM.patch_ghosts(Patch(), *rings)
    if triggers & {"run-version", "color-by"}:
        LM.patch_colours(patch, codes, names, color_by)
    if triggers & {"run-version", "selection-store"}:
        LM.patch_box(patch, box, edit_rev, run["id"])
    return patch, no_update, info


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
    new = selection.next_selection(current, selected, shown_key)
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
def show_selection(sel_store, run_id, _version):
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    if md is None:
        return selection_summary(None)
    sel, _ = selection.selected_points(sel_store, md.n)
    return selection_summary(selection.summarize_selection(md, sel))


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
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    sel = selection.selected_points(sel_store, md.n)[0] if md else []
    if md is None or len(sel) == 0:
        return no_update, no_update, no_update
    if "latent-graph.relayoutData" in ctx.triggered_prop_ids:
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
    _apply, _undo, _redo, _clear, run_id, sel_store, tool, dx, dy, pull_class, alpha, beta, gamma
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
            sel, prev = selection.selected_points(sel_store, md.n)
            params = selection.tool_params(dx, dy, pull_class, alpha, beta, gamma)
            edit = selection.edit_of_selection(md, tool, sel, prev, **params)
            loop.add_edit(store, rid, edit)
            text = selection.applied_message(md, tool, sel)
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
    interval=500,  # ms between progress polls: the bar moves twice a second
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
    ok, message = watchdog.job_message(result)
    return {"run_id": result.get("run_id"), "version": time.time()}, status(ok, message)


@callback(
    Output("startup-note", "children"),
    Input("train-button", "n_clicks"),
    Input("chunk-progress", "value"),
    prevent_initial_call=True,
)
def show_startup_note(_n_clicks, progress):
    """Right after the app starts the job launcher compiles UMAP and the first chunk waits
    for it: say so, until the bar moves."""
    if ctx.triggered_id == "chunk-progress" and progress:
        return ""
    state = launcher.launcher_state(launcher.launcher_status_path(data_dir()))
    return launcher.startup_note(state)


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
    tick = watchdog.tick_for_click(data_dir(), watch, clicks, run_id, WATCHDOG_MS / 1000)
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
    return status_alert(watchdog.cancelled_message(run), "warning"), {"version": time.time()}


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
def draw_drift(run_id, _version, sel_store):
    """Drift of edited points vs the rest per chunk, or of the current selection."""
    store, _, run = views.open_run(data_dir(), run_id)
    if run is None:
        return P.placeholder_figure(no_run_message())
    sel = selection.clean_indices(
        (sel_store or NO_SELECTION).get("indices"), sum(run.get("sizes", {}).values())
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
