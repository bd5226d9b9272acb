"""Training from the Loop page: Train chunk (a background job with progress and Cancel),
its advanced settings, the start-up note, and the watchdog of jobs on Celery workers.

Not a page (the name begins with "_"): `pages/loop.py` imports it, which registers these
callbacks. The job itself is `hill_dash.dashboard.jobs.train_chunk_job`.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, callback, clientside_callback, no_update
from dash.exceptions import PreventUpdate

from hill_dash.dashboard import launcher, views, watchdog
from hill_dash.dashboard.chunk_settings import (
    advanced_overrides,
    advanced_problems,
    chunk_settings,
    train_overrides,
)
from hill_dash.dashboard.config import data_dir, jobs_on_workers, start_dataset
from hill_dash.dashboard.jobs import train_chunk_job
from pages._loop_render import status, status_alert

WATCHDOG_MS = 3000  # how often the page checks, while a chunk runs, that its job is alive
# Only jobs on Celery workers need the watchdog: Dash itself sees a forked job die (and
# the fewer requests run while the web process forks a job, the better).
WATCHDOG_RUNNING = (
    [(Output("watchdog-interval", "disabled"), False, True)] if jobs_on_workers() else []
)


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
    Output("lambda-input", "placeholder"),
    Output("epochs-input", "placeholder"),
    Output("lr-input", "placeholder"),
    Output("batch-input", "placeholder"),
    Output("anchor-input", "placeholder"),
    Output("kd-input", "placeholder"),
    Input("run-id", "data"),
)
def show_run_settings(run_id):
    """The chunk fields show the run's own settings greyed: empty means "keep them" (a run
    made on the Data page with 10 epochs a chunk trains 10 until a field says otherwise)."""
    _, _, run = views.open_run(data_dir(), run_id)
    cfg = chunk_settings(run)
    keys = ("lam", "epochs", "lr", "batch_size", "anchor", "kd_weight")
    return tuple(f"{cfg[k]:g}" for k in keys)


@callback(
    Output("advanced-problem", "children"),
    Input("lr-input", "value"),
    Input("batch-input", "value"),
    Input("anchor-input", "value"),
    Input("kd-input", "value"),
    prevent_initial_call=True,
)
def check_advanced(lr, batch, anchor, kd):
    problems = advanced_problems(lr, batch, anchor, kd)
    if not problems:
        return ""
    return status_alert("; ".join(problems) + " — the run's setting is used instead.", "warning")


@callback(
    Output("chunk-done", "data"),
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
    interval=100,  # ms between polls: a result waits at most 0.1 s (docs/benchmarks.md §7)
    progress=[
        Output("chunk-progress", "value"),
        Output("chunk-progress", "max"),
        Output("chunk-progress", "label"),
        Output("guided-ready", "data"),
    ],
    progress_default=[0, 100, "", None],
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
    overrides = train_overrides(lam, epochs, projection) | advanced_overrides(lr, batch, anchor, kd)
    result = train_chunk_job(
        set_progress, str(data_dir()), rid, overrides=overrides, dataset=start_dataset()
    )
    ok, message = watchdog.job_message(result)
    return {"run_id": result.get("run_id"), "version": time.time()}, status(ok, message)


# The job writes `chunk-done`, never `store-change` itself: Dash holds back every callback
# that reads an output of a callback in flight, and the edits and the guided map publish
# through `store-change` while the job still trains the references. In the browser: a
# server request here would only delay every panel behind one more round trip.
clientside_callback(
    """
    function(done) {
        if (!done) { throw window.dash_clientside.PreventUpdate; }
        return done;
    }
    """,
    Output("store-change", "data", allow_duplicate=True),
    Input("chunk-done", "data"),
    prevent_initial_call=True,
)


# The chunk's guided map is stored: show it (and open the edits) while the unguided lineage
# and the counterfactual still train. Progress repeats it every poll: announce it once. The
# run is named only when it is new (the job created it): a store change alone tells the
# panels that only the map changed. In the browser: a chunk's progress polls four times a
# second, and a server request per poll would take CPU from the job on a small machine.
clientside_callback(
    """
    function(ready, published, runId) {
        const nu = window.dash_clientside.no_update;
        if (!ready || (published && published.run_id === ready.run_id
                       && published.checkpoint === ready.checkpoint)) {
            return [nu, nu];
        }
        const change = {version: Date.now() / 1000};
        if (ready.run_id !== runId) { change.run_id = ready.run_id; }
        return [change, ready];
    }
    """,
    Output("store-change", "data", allow_duplicate=True),
    Output("guided-published", "data"),
    Input("guided-ready", "data"),
    State("guided-published", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)


@callback(
    Output("startup-note", "children"),
    Input("train-button", "n_clicks"),
    prevent_initial_call=True,
)
def show_startup_note(_n_clicks):
    """Right after the app starts the job launcher compiles UMAP and the first chunk waits
    for it: say so, until the bar moves (cleared in the browser, below)."""
    state = launcher.launcher_state(launcher.launcher_status_path(data_dir()))
    return launcher.startup_note(state)


clientside_callback(
    """
    function(progress) {
        return progress ? "" : window.dash_clientside.no_update;
    }
    """,
    Output("startup-note", "children", allow_duplicate=True),
    Input("chunk-progress", "value"),
    prevent_initial_call=True,
)


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
    """After Cancel the store still names the last complete checkpoint: say so (and forget
    a guided map that was shown before its references were trained)."""
    store, rid, run = views.open_run(data_dir(), run_id)
    if run is not None:
        run = watchdog.settle_cancelled(store, rid)
    return status_alert(watchdog.cancelled_message(run), "warning"), {"version": time.time()}
