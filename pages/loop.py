"""Loop: lasso a cluster on the latent map, edit it, train the next chunk, see what it did.

A person selects points on the guided head's map, moves them (drag the selection box, click
where they should go, or type Δ), pulls them to a class, compacts or separates them, and
sees the targets as ghosts before training. "Train chunk" runs the guided chunk and the
unguided lineage's chunk as a background job with a progress bar and Cancel; afterwards
the map (aligned with the previous one) and every panel re-read the run store.

The map holds the training and validation points only: the test split is never drawn,
selected, counted or coloured here. A lasso's points become a bitset in the browser
(assets/loop.js) and only that travels; the map is sent once per checkpoint and then
patched.

This module: the layout, the map, the selection and the edits, training. The panels are
in `pages/_loop_panels.py`, the tooltip, gallery, "Find points", export and map re-fit in
`pages/_loop_explore.py`; fragments in `pages/_loop_layout.py`, components in
`pages/_loop_render.py`. Each callback is a thin wrapper over `hill_dash.dashboard`.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
from dash import (
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate

import pages._loop_explore  # noqa: F401 - registers the tooltip, gallery, find, export callbacks
import pages._loop_panels  # noqa: F401 - registers the panels' callbacks
from hill_dash.dashboard import ghosts, launcher, points, selection, views, watchdog
from hill_dash.dashboard.config import data_dir, jobs_on_workers, start_dataset
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.dashboard.jobs import train_chunk_job
from hill_dash.engine import loop
from hill_dash.engine.errors import HillError
from pages._loop_layout import (
    edit_card,
    edits_card,
    gallery_card,
    map_card,
    no_run_message,
    panels,
    run_card,
    selection_card,
    train_card,
)
from pages._loop_render import (
    TRAINING_REASON,
    edit_list,
    reveal_note,
    run_header,
    selection_summary,
    status,
    status_alert,
)

dash.register_page(__name__, path="/", name="Loop", title="HILL Dash · loop")

NO_SELECTION = selection.EMPTY
WATCHDOG_MS = 3000  # how often the page checks, while a chunk runs, that its job is alive
# Only jobs on Celery workers need the watchdog: Dash itself sees a forked job die (and
# the fewer requests run while the web process forks a job, the better).
WATCHDOG_RUNNING = (
    [(Output("watchdog-interval", "disabled"), False, True)] if jobs_on_workers() else []
)
TOOL_INPUTS = (
    "edit-tool.value",
    "move-dx.value",
    "move-dy.value",
    "pull-class.value",
    "pull-alpha.value",
    "compact-beta.value",
    "separate-gamma.value",
)


def tool_deps(kind):
    return [kind(*spec.split(".")) for spec in TOOL_INPUTS]


# -- layout --------------------------------------------------------------------------

layout = html.Div(
    [
        dcc.Store(id="selection-store", data=NO_SELECTION),
        dcc.Store(id="map-key", data=""),
        dcc.Store(id="selection-mirror"),  # never written: the mirror callback's output
        dcc.Store(id="run-state", data={}),  # pending / redo / training of the shown run
        dcc.Store(id="store-change"),  # {"version", "run_id"?}: published to run-id / run-version
        # the training watchdog: ticks only while a chunk runs (see watch_training)
        dcc.Interval(id="watchdog-interval", interval=WATCHDOG_MS, disabled=True),
        dcc.Store(id="watchdog-store"),  # watchdog.start_watch's record of the running chunk
        dcc.Store(id="watchdog-cancel"),  # a cancel input of train_chunk: ends a lost job
        dbc.Row(
            [
                dbc.Col([map_card, gallery_card, panels], md=8),
                dbc.Col([run_card, train_card, selection_card, edit_card, edits_card], md=4),
            ],
            className="g-2",
        ),
    ]
)


# -- the run --------------------------------------------------------------------------


@callback(
    Output("run-header", "children"),
    Output("test-reveal-note", "children"),
    Output("edit-list", "children"),
    Output("pull-class", "options"),
    Output("find-class", "options"),
    Output("projection-select", "value"),
    Output("train-button", "children"),
    Output("map-title", "children"),
    Output("run-state", "data"),
    Input("run-id", "data"),
    Input("run-version", "data"),
)
def show_run(run_id, _version):
    """Run header, pending edits and the controls that depend on the run."""
    store, _, run = views.open_run(data_dir(), run_id)
    if run is None:
        header = run_header(None, no_run_message())
        return header, [], edit_list([]), [], [], no_update, "Train chunk 0", "Latent map", {}
    summary = views.run_summary(store, run)
    rows = views.edit_rows(run)
    classes = [{"label": n, "value": str(i)} for i, n in enumerate(run.get("label_names", []))]
    title = (
        f"Latent map · guided head {summary['head']}"
        if summary["head"]
        else "Latent map · not trained yet"
    )
    state = {
        "edits": len(rows),
        "pending": summary["pending"],
        "redo": summary["can_redo"],
        "training": summary["training"],
        "trained": summary["head"] is not None,
    }
    return (
        run_header(summary, no_run_message()),
        reveal_note(views.reveal_count(run)),
        edit_list(rows),
        classes,
        classes,
        summary["projection"],
        f"Train chunk {summary['chunks']}",
        title,
        state,
    )


# -- the map --------------------------------------------------------------------------


@callback(
    Output("latent-graph", "figure"),
    Output("map-key", "data"),
    Output("preview-info", "children"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("color-by", "value"),
    Input("show-val", "value"),
    Input("selection-store", "data"),
    *tool_deps(Input),
    State("map-key", "data"),
)
def update_map(
    run_id,
    version,
    color_by,
    show_val,
    sel_store,
    tool,
    dx,
    dy,
    pull_class,
    alpha,
    beta,
    gamma,
    shown_key,
):
    """The whole map when its points changed; otherwise a patch of colours, selection,
    box or ghosts (the points themselves are sent once per checkpoint)."""
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    if md is None:
        message = no_run_message() if run is None else "Run not trained yet — click Train chunk"
        return LM.make_empty_map_figure(message), "none", ""
    n_shown = md.n if show_val is not False else md.n_train
    key = f"{views.map_key(run)}:{n_shown}"
    triggers = {t.split(".")[0] for t in ctx.triggered_prop_ids}
    full = key != shown_key or "run-id" in triggers or not triggers
    sel_store = sel_store if isinstance(sel_store, dict) else NO_SELECTION
    sel, prev = selection.selected_points(sel_store, md.n)
    drawn = sel[sel < n_shown]
    stats = points.point_stats(store, md)

    def colours():
        pending = views.pending_mask(run, md.n)
        c = points.colouring(md, color_by, pending, stats)
        return LM.Colouring(
            c.by, c.values[:n_shown], c.names, c.title, c.cmin, c.cmax, c.tickformat
        )

    # a new token whenever a patch changes a data array (see LM.make_map_figure)
    data_rev = f"{color_by}:{sel_store.get('rev', 0)}:{version}"
    if not full and triggers == {"color-by"}:
        return LM.patch_colours(Patch(), colours(), data_rev), no_update, no_update
    box = selection.selection_box(md.coords, drawn)
    edit_rev = f"{sel_store.get('rev', 0)}:{version}"
    params, problem = selection.tool_params(tool, dx, dy, pull_class, alpha, beta, gamma)
    candidate, note = (None, problem) if problem else (None, "")
    if len(sel) and not problem:
        candidate, note = selection.candidate_edit(md, tool, sel, prev, **params)
    pending, preview = ghosts.preview(store, run, md, candidate)
    info = ghosts.preview_text(pending, preview, note)
    rings = (pending.start, pending.target), (preview.start, preview.target)
    if full:
        fig = LM.make_map_figure(
            md.coords[:n_shown],
            colours(),
            uirevision=run["id"],
            box=box,
            pending=rings[0],
            preview=rings[1],
            edit_revision=edit_rev,
            selected=drawn,
            selection_revision=key,
            data_revision=data_rev,
        )
        return fig, key, info
    where = LM.home(md.coords)
    patch = LM.patch_ghosts(
        Patch(),
        *rings,
        LM.ring_radius(md.coords),
        where,
        with_pending=bool(triggers & {"run-version", "run-id"}),
    )
    if triggers & {"run-version", "color-by"}:
        LM.patch_colours(patch, colours(), data_rev)
    if triggers & {"run-version", "selection-store"}:
        LM.patch_box(patch, box, edit_rev, run["id"], where)
    if "selection-store" in triggers:
        LM.patch_selection(patch, drawn, data_rev)
    return patch, no_update, info


# The page's lasso (assets/loop_lasso.js) reads the current selection and map from here.
clientside_callback(
    ClientsideFunction(namespace="hill", function_name="mirrorSelection"),
    Output("selection-mirror", "data"),
    Input("selection-store", "data"),
    Input("map-key", "data"),
)


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
    Input("edit-tool", "value"),
)
def show_tool_pane(tool):
    return [
        {} if tool == name else {"display": "none"}
        for name in ("move", "pull", "compact", "separate")
    ]


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
def edit_buttons(training_here, state, tool, dx, dy, pull_class, alpha, beta, gamma):
    """Apply waits for a chunk to finish and for valid numbers; Undo/Redo/Clear too."""
    state = state or {}
    if not state.get("trained"):
        return True, True, True, True, ""
    if training_here or state.get("training"):
        return True, True, True, True, status_alert(TRAINING_REASON, "warning")
    _, problem = selection.tool_params(tool, dx, dy, pull_class, alpha, beta, gamma)
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
def change_edits(
    _apply, _undo, _redo, _clear, run_id, sel_store, tool, dx, dy, pull_class, alpha, beta, gamma
):
    """Apply / Undo / Redo / Clear on the run's pending edits (stored in run.json)."""
    store, rid, run = views.open_run(data_dir(), run_id)
    if run is None:
        return no_update, status(False, "No run yet: train chunk 0 first."), no_update, no_update
    if store.lock_holder(rid) is not None:  # the button may be stale: the store decides
        return no_update, status_alert(TRAINING_REASON, "warning"), no_update, no_update
    action = ctx.triggered_id
    try:
        if action == "apply-edit-button":
            md = views.load_map_data(store, run)
            if md is None:
                raise HillError("Train chunk 0 first: edits are made on a trained map.")
            params, problem = selection.tool_params(tool, dx, dy, pull_class, alpha, beta, gamma)
            if problem:
                raise HillError(problem)
            sel, prev = selection.selected_points(sel_store, md.n)
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


# -- training ---------------------------------------------------------------------------


@callback(
    Output("advanced-collapse", "is_open"),
    Output("advanced-toggle", "children"),
    Input("advanced-toggle", "n_clicks"),
    State("advanced-collapse", "is_open"),
    prevent_initial_call=True,
)
def toggle_advanced(_n, is_open):
    return not is_open, "Advanced settings ▸" if is_open else "Advanced settings ▾"


@callback(
    Output("lr-input", "placeholder"),
    Output("batch-input", "placeholder"),
    Output("anchor-input", "placeholder"),
    Output("kd-input", "placeholder"),
    Input("run-id", "data"),
)
def show_run_settings(run_id):
    """The advanced fields show the run's own settings greyed: empty means "keep them"."""
    _, _, run = views.open_run(data_dir(), run_id)
    cfg = views.chunk_settings(run)
    return tuple(f"{cfg[k]:g}" for k in ("lr", "batch_size", "anchor", "kd_weight"))


@callback(
    Output("advanced-problem", "children"),
    Input("lr-input", "value"),
    Input("batch-input", "value"),
    Input("anchor-input", "value"),
    Input("kd-input", "value"),
    prevent_initial_call=True,
)
def check_advanced(lr, batch, anchor, kd):
    problems = views.advanced_problems(lr, batch, anchor, kd)
    if not problems:
        return ""
    return status_alert("; ".join(problems) + " — the run's setting is used instead.", "warning")


@callback(
    Output("store-change", "data"),
    Output("chunk-status", "children"),
    Input("train-button", "n_clicks"),
    State("run-id", "data"),
    State("lambda-input", "value"),
    State("epochs-input", "value"),
    State("projection-select", "value"),
    State("lr-input", "value"),
    State("batch-input", "value"),
    State("anchor-input", "value"),
    State("kd-input", "value"),
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
def train_chunk(set_progress, _n_clicks, run_id, lam, epochs, projection, lr, batch, anchor, kd):
    """The guided chunk and the unguided lineage's chunk, in a background job (a new run
    when there is none)."""
    _, rid, _ = views.open_run(data_dir(), run_id)
    overrides = views.train_overrides(lam, epochs, projection) | views.advanced_overrides(
        lr, batch, anchor, kd
    )
    result = train_chunk_job(
        set_progress, str(data_dir()), rid, overrides=overrides, dataset=start_dataset()
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
