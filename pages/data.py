"""Data: choose a data set (built-in, a scenario, or your own file), a model and settings;
start a run.

Scenarios (issue 10) are built-ins where a person can know something the labels do not say;
the summary shows each one's description. A model of your own (module:factory and a latent
layer) is offered only when the dashboard was started with HILL_DASH_ALLOW_CUSTOM_MODELS=1.

Uploads are untrusted: `hill_dash.dashboard.uploads` refuses files over 64 MB before decoding, saves
the bytes under a generated name and validates them. Problems are shown inline, naming
the file, the field and what was expected; nothing stored is touched.
Starting a run stores the data and config only; training happens on the Loop
page.
"""

from __future__ import annotations

import time

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from hill_dash.dashboard.config import data_dir
from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.figures.samples import make_samples_figure
from hill_dash.dashboard.new_run import ARCHS_BY_KIND, custom_models_allowed, start_run
from hill_dash.dashboard.uploads import (
    UPLOAD_LIMIT_BYTES,
    display_name,
    load_choice,
    save_upload,
    summary_facts,
)
from hill_dash.engine.errors import DataError, HillError
from hill_dash.engine.models import ARCHS, default_arch
from pages._data_layout import (
    BUILTIN_OPTIONS,
    CUSTOM_ROW_CLASS,
    data_choice,
    data_overview,
    model_settings,
    start,
    summary_table,
)

dash.register_page(__name__, path="/data", name="Data", title="HILL Dash · data")

# -- layout (its fragments and the summary renderer are in `pages/_data_layout.py`) ----

layout = html.Div(
    [
        dcc.Store(id="upload-payload"),
        dcc.Store(id="data-upload-store", storage_type="session"),
        dbc.Row(
            [
                dbc.Col([data_choice, data_overview], lg=6),
                dbc.Col([model_settings, start], lg=6),
            ],
            className="g-2",
        ),
    ]
)


# -- callbacks ---------------------------------------------------------------------------

# Oversized files never travel to the server: the browser sends their size only.
clientside_callback(
    f"""
    function(contents, filename) {{
        if (!contents) {{ return window.dash_clientside.no_update; }}
        const b64 = contents.slice(contents.indexOf(",") + 1);
        const size = Math.floor(b64.length * 3 / 4);
        if (size > {UPLOAD_LIMIT_BYTES}) {{
            return {{filename: filename, size: size, contents: null, at: Date.now()}};
        }}
        return {{filename: filename, size: size, contents: contents, at: Date.now()}};
    }}
    """,
    Output("upload-payload", "data"),
    Input("data-upload", "contents"),
    State("data-upload", "filename"),
    prevent_initial_call=True,
)


def _builtin_options(upload: dict | None) -> list[dict]:
    """The data set choices: the built-ins, and this tab's upload if there is one."""
    options = [*BUILTIN_OPTIONS]
    if upload:
        options.append(
            {"label": f"uploaded: {display_name(upload.get('filename'))}", "value": "upload"}
        )
    return options


def _model_options(kind: str) -> list[dict]:
    """Every architecture, the ones that do not fit ``kind`` data disabled; "your own model"
    when the dashboard allows custom models."""
    fits = ARCHS_BY_KIND[kind]
    options = [
        {
            "label": a if a in fits else f"{a} (does not fit {kind} data)",
            "value": a,
            "disabled": a not in fits,
        }
        for a in ARCHS
    ]
    if custom_models_allowed():
        options.append({"label": "your own (module:factory)", "value": "custom", "disabled": False})
    return options


@callback(
    Output("custom-model-row", "className"),
    Input("model-select", "value"),
    prevent_initial_call=True,  # hidden in the layout until the model changes
)
def show_custom_model_fields(arch):
    return CUSTOM_ROW_CLASS if arch == "custom" else f"{CUSTOM_ROW_CLASS} d-none"


@callback(
    Output("data-error", "children"),
    Output("data-error", "is_open"),
    Output("data-upload-store", "data"),
    Output("dataset-select", "options"),
    Output("dataset-select", "value"),
    Input("upload-payload", "data"),
    State("data-seed-input", "value"),
    prevent_initial_call=True,
)
def accept_upload(payload, seed):
    if not payload:
        return dash.no_update, False, dash.no_update, dash.no_update, dash.no_update
    filename = payload.get("filename")
    try:
        token, _ = save_upload(
            payload.get("contents"),
            filename,
            data_dir(),
            size=payload.get("size"),
            seed=int(seed) if isinstance(seed, int) else 0,
        )
    except DataError as exc:
        return str(exc), True, dash.no_update, dash.no_update, dash.no_update
    upload = {"token": token, "filename": display_name(filename)}
    return "", False, upload, _builtin_options(upload), "upload"


@callback(
    Output("data-summary", "children"),
    Output("data-samples-graph", "figure"),
    Output("model-select", "options"),
    Output("model-select", "value"),
    Output("dataset-select", "options", allow_duplicate=True),
    Input("dataset-select", "value"),
    State("data-upload-store", "data"),
    State("data-seed-input", "value"),
    prevent_initial_call="initial_duplicate",
)
def show_chosen_data(choice, upload, seed):
    seed = int(seed) if isinstance(seed, int) else 0
    options = _builtin_options(upload)
    try:
        data = load_choice(choice, upload, data_dir(), seed)
    except HillError as exc:
        all_archs = [{"label": a, "value": a} for a in ARCHS]
        return (
            dbc.Alert(str(exc), color="danger"),
            placeholder_figure("no data", 150),
            all_archs,
            dash.no_update,
            options,
        )
    return (
        summary_table(summary_facts(data)),
        make_samples_figure(data),
        _model_options(data.kind),
        default_arch(data.kind),
        options,
    )


@callback(
    Output("run-id", "data", allow_duplicate=True),
    Output("run-version", "data", allow_duplicate=True),
    Output("start-run-status", "children"),
    Input("start-run-button", "n_clicks"),
    State("dataset-select", "value"),
    State("data-upload-store", "data"),
    State("model-select", "value"),
    State("latent-dim-input", "value"),
    State("data-projection-select", "value"),
    State("data-epochs-input", "value"),
    State("data-lam-input", "value"),
    State("data-seed-input", "value"),
    State("data-run-name-input", "value"),
    State("custom-factory-input", "value"),
    State("custom-layer-input", "value"),
    prevent_initial_call=True,
)
def create_new_run(
    n_clicks,
    choice,
    upload,
    arch,
    latent_dim,
    projection,
    epochs,
    lam,
    seed,
    name,
    factory=None,
    latent_layer=None,
):
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update
    try:
        run_id = start_run(
            data_dir(),
            choice,
            upload,
            arch,
            latent_dim,
            projection,
            epochs,
            lam,
            seed,
            name,
            factory=factory,
            latent_layer=latent_layer,
        )
    except HillError as exc:
        return dash.no_update, dash.no_update, dbc.Alert(str(exc), color="danger")
    return (
        run_id,
        time.time(),
        dbc.Alert(
            [
                html.Div([html.Strong("Run created: "), run_id]),
                "Nothing is trained yet. Go to the ",
                dcc.Link("Loop page", href="/"),
                " and click ",
                html.Strong("Train chunk"),
                ".",
            ],
            color="success",
            id="start-run-ok",
        ),
    )
