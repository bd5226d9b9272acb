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

This module: the layout, the run, the map and the selection. Making edits (the tool
panes, a move gesture, Apply / Undo / Redo / Clear) is in `pages/_loop_edit.py`, training
in `pages/_loop_train.py`, the panels in `pages/_loop_panels.py`, the tooltip, gallery,
"Find points", export and map re-fit in `pages/_loop_explore.py`; fragments in
`pages/_loop_layout.py` and `pages/_loop_side.py`, components in `pages/_loop_render.py`.
Each callback is a thin wrapper over `hill_dash.dashboard`.
"""

from __future__ import annotations

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

import pages._loop_explore  # noqa: F401 - registers the tooltip, gallery, find, export callbacks
import pages._loop_panels  # noqa: F401 - registers the panels' callbacks
from hill_dash.dashboard import ghosts, points, selection, views
from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.engine.errors import HillError
from pages._loop_edit import tool_deps  # registers the edit tools, Apply, Undo, Redo, Clear
from pages._loop_layout import gallery_card, map_card, no_run_message, panels
from pages._loop_render import edit_list, reveal_note, run_header, selection_summary
from pages._loop_side import edit_card, edits_card, run_card, selection_card, train_card
from pages._loop_train import WATCHDOG_MS  # registers Train chunk, Cancel and the watchdog

dash.register_page(__name__, path="/", name="Loop", title="HILL Dash · loop")

NO_SELECTION = selection.EMPTY


# -- layout --------------------------------------------------------------------------

layout = html.Div(
    [
        dcc.Store(id="selection-store", data=NO_SELECTION),
        dcc.Store(id="map-key", data=""),
        dcc.Store(id="map-colours", data=""),  # a token of the colours the map shows
        dcc.Store(id="selection-mirror"),  # never written: the mirror callback's output
        dcc.Store(id="run-state", data={}),  # pending / redo / training of the shown run
        dcc.Store(id="store-change"),  # {"version", "run_id"?}: published to run-id / run-version
        dcc.Store(id="chunk-done"),  # the training job's result, published to store-change
        dcc.Store(id="guided-ready"),  # a training job's progress: its guided map is stored
        dcc.Store(id="guided-published"),  # the guided map already announced (once each)
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
    Output("relabel-class", "options"),
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
        return header, [], edit_list([]), [], [], [], no_update, "Train chunk 0", "Latent map", {}
    summary = views.run_summary(store, run)
    rows = views.edit_rows(run)
    classes = [{"label": n, "value": str(i)} for i, n in enumerate(run.get("label_names", []))]
    title = (
        f"Latent map · guided head {summary['head']}"
        if summary["head"]
        else "Latent map · not trained yet"
    )
    if summary["arriving"]:
        title += " · unguided lineage and counterfactual arriving"
    state = {
        "run_id": run["id"],  # the run shown (run-id is None while it is the newest)
        "edits": len(rows),
        "pending": summary["pending"],
        "redo": summary["can_redo"],
        "training": summary["training"],
        "arriving": summary["arriving"],
        "trained": summary["head"] is not None,
    }
    return (
        run_header(summary, no_run_message()),
        reveal_note(views.reveal_count(run)),
        edit_list(rows),
        classes,
        classes,
        classes,
        summary["projection"],
        f"Train chunk {summary['chunks']}",
        title,
        state,
    )


# Tell every page that the run store changed (and which run is current). Buttons write
# the page's `store-change`, not the app-level stores directly: Dash fires a callback
# whose outputs are already in the app when its inputs arrive with a page,
# prevent_initial_call or not — a button there would start a chunk on load. In the
# browser: every panel waits for this hop. The run is named only when it is not the one
# shown: Dash fires a store's callbacks for any write, the same value too, and a chunk's
# end names its run (the job may have created it) — the whole map would be sent again
# and every point recomputed.
clientside_callback(
    """
    function(change, current, shown) {
        if (!change) { throw window.dash_clientside.PreventUpdate; }
        const named = change.run_id && change.run_id !== current
            && change.run_id !== (shown && shown.run_id);
        return [named ? change.run_id : window.dash_clientside.no_update, change.version];
    }
    """,
    Output("run-id", "data", allow_duplicate=True),
    Output("run-version", "data", allow_duplicate=True),
    Input("store-change", "data"),
    State("run-id", "data"),
    State("run-state", "data"),
    prevent_initial_call=True,
)


# -- the map --------------------------------------------------------------------------


@callback(
    Output("latent-graph", "figure"),
    Output("map-key", "data"),
    Output("preview-info", "children"),
    Output("map-colours", "data"),
    Input("run-id", "data"),
    Input("run-version", "data"),
    Input("color-by", "value"),
    Input("show-val", "value"),
    Input("selection-store", "data"),
    *tool_deps(Input),
    State("map-key", "data"),
    State("map-colours", "data"),
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
    *annotate,
):
    """The whole map when its points changed; otherwise a patch of colours, selection,
    box or ghosts (the points themselves are sent once per checkpoint, their colours only
    when they differ from the ones shown: a chunk's end recolours nothing, and a colour
    patch makes plotly recompute every point)."""
    *annotate, shown_key, shown_colours = annotate  # relabel class, w, "and relabel"; then
    # the shown map and its colours' token
    store, _, run = views.open_run(data_dir(), run_id)
    md = views.load_map_data(store, run) if run else None
    if md is None:
        message = no_run_message() if run is None else "Run not trained yet — click Train chunk"
        return LM.make_empty_map_figure(message), "none", "", ""
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
        c = points.colouring(points.with_annotation(md, candidate), color_by, pending, stats)
        return LM.Colouring(
            c.by, c.values[:n_shown], c.names, c.title, c.cmin, c.cmax, c.tickformat
        )

    # a new token whenever a patch changes a data array (see LM.make_map_figure)
    data_rev = f"{color_by}:{sel_store.get('rev', 0)}:{version}"
    params, problem = selection.tool_params(tool, dx, dy, pull_class, alpha, beta, gamma, *annotate)
    candidate, note = (None, problem) if problem else (None, "")
    if len(sel) and not problem:
        candidate, note = selection.candidate_edit(md, tool, sel, prev, **params)
    if not full and triggers == {"color-by"}:
        c = colours()
        return LM.patch_colours(Patch(), c, data_rev), no_update, no_update, LM.colour_token(c)
    box = selection.selection_box(md.coords, drawn)
    edit_rev = f"{sel_store.get('rev', 0)}:{version}"
    recolour = tool in selection.ANNOTATION_TOOLS or "edit-tool" in triggers
    if recolour:  # the preview of an annotation is its colours
        data_rev += f":{tool}:{len(sel)}:{annotate[0]}"
    pending, preview = ghosts.preview(store, run, md, candidate)
    info = ghosts.preview_text(pending, preview, note)
    rings = (pending.start, pending.target), (preview.start, preview.target)
    if full:
        c = colours()
        fig = LM.make_map_figure(
            md.coords[:n_shown],
            c,
            uirevision=run["id"],
            box=box,
            pending=rings[0],
            preview=rings[1],
            edit_revision=edit_rev,
            selected=drawn,
            selection_revision=key,
            data_revision=data_rev,
        )
        return fig, key, info, LM.colour_token(c)
    where = LM.home(md.coords)
    patch = LM.patch_ghosts(
        Patch(),
        *rings,
        LM.ring_radius(md.coords),
        where,
        with_pending=bool(triggers & {"run-version", "run-id"}),
    )
    token = no_update
    if triggers & {"run-version", "color-by"} or recolour:
        c = colours()
        if (shown := LM.colour_token(c)) != shown_colours:
            LM.patch_colours(patch, c, data_rev)
            token = shown
    if triggers & {"run-version", "selection-store"}:
        LM.patch_box(patch, box, edit_rev, run["id"], where)
    # a new selection is drawn by the page itself (assets/loop.js, drawSelection): through
    # plotly's `selectedpoints` it would recompute every point before one frame
    return patch, no_update, info, token


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
