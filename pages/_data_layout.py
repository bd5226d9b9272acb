"""The Data page's layout fragments and the summary it renders from a data set's facts.

Not a page: Dash's page loader skips files whose name begins with "_". `pages/data.py`
holds the callbacks; every component id they use is created here, once.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.uploads import UPLOAD_LIMIT_BYTES
from hill_dash.engine.models import ARCHS
from hill_dash.engine.scenarios import FEW, SCENARIOS
from pages._ui import labelled_col, titled_card

CUSTOM_ROW_CLASS = "g-2 mt-1"


def _scenario_label(name: str) -> str:
    """e.g. "digits-decoy (spurious feature)", "mnist1d-few (50 labels per class)"."""
    base, variant = name.split("-", 1)
    hints = {
        "decoy": "spurious feature",
        "noisy": "mislabelled sub-cluster",
        "noisy-uniform": "random label noise, control",
        "few": f"{FEW.get(base)} labels per class",
    }
    return f"{name} ({hints[variant]})"


BUILTIN_OPTIONS = (
    {"label": "digits (8×8 images)", "value": "digits"},
    {"label": "mnist1d (1-D signals)", "value": "mnist1d"},
    *({"label": _scenario_label(name), "value": name} for name in SCENARIOS),
)

# -- layout fragments --------------------------------------------------------------------

data_choice = dbc.Card(
    [
        dbc.CardHeader("1 · Data set"),
        dbc.CardBody(
            [
                dbc.RadioItems(
                    id="dataset-select",
                    value="digits",
                    inline=True,
                    className="mb-2 small",
                    options=[*BUILTIN_OPTIONS],
                ),
                dcc.Upload(
                    id="data-upload",
                    accept=".npz,.csv",
                    multiple=False,
                    children=html.Div(
                        [
                            "Drop a ",
                            html.Code(".npz"),
                            " (arrays X, y) or ",
                            html.Code(".csv"),
                            " (header row, label column) here, or ",
                            html.A("choose a file", href="#"),
                            f" · at most {UPLOAD_LIMIT_BYTES // 2**20} MB",
                        ]
                    ),
                    style={
                        "borderWidth": "1px",
                        "borderStyle": "dashed",
                        "borderRadius": "6px",
                        "padding": "14px",
                        "textAlign": "center",
                    },
                ),
                dbc.Alert(
                    id="data-error",
                    is_open=False,
                    color="danger",
                    className="mt-2 mb-0",
                    dismissable=True,
                ),
            ]
        ),
    ],
    className="mb-2",
)

data_overview = dbc.Card(
    [
        dbc.CardHeader("Summary"),
        dbc.CardBody(
            [
                dcc.Loading(html.Div(id="data-summary")),
                dcc.Graph(
                    id="data-samples-graph",
                    config={"displayModeBar": False},
                    figure=placeholder_figure("loading…", 150),
                ),
            ]
        ),
    ],
    className="mb-2",
)

model_settings = titled_card(
    "2 · Model and loop settings",
    [
        dbc.Row(
            [
                labelled_col(
                    "Model",
                    dbc.Select(
                        id="model-select",
                        value="cnn2d",
                        options=[{"label": a, "value": a} for a in ARCHS],
                    ),
                    md=4,
                ),
                labelled_col(
                    "Latent width",
                    dbc.Input(
                        id="latent-dim-input", type="number", value=32, min=2, max=512, step=1
                    ),
                    md=4,
                ),
                labelled_col(
                    "Map projection",
                    dbc.Select(
                        id="data-projection-select",
                        value="umap",
                        options=[
                            {"label": "UMAP (aligned updates)", "value": "umap"},
                            {"label": "PCA (instant, exact inverse)", "value": "pca"},
                        ],
                    ),
                    md=4,
                ),
            ],
            className="g-2",
        ),
        dbc.Row(
            [
                labelled_col(
                    "Epochs per chunk",
                    dbc.Input(
                        id="data-epochs-input", type="number", value=5, min=1, max=200, step=1
                    ),
                    md=3,
                ),
                labelled_col(
                    "Teacher weight λ",
                    dbc.Input(
                        id="data-lam-input", type="number", value=1.0, min=0, max=1000, step=0.1
                    ),
                    md=3,
                ),
                labelled_col(
                    "Seed",
                    dbc.Input(id="data-seed-input", type="number", value=0, min=0, step=1),
                    md=2,
                ),
                labelled_col(
                    "Run name (optional)",
                    dbc.Input(
                        id="data-run-name-input",
                        type="text",
                        maxLength=40,
                        placeholder="the data set's name",
                    ),
                    md=4,
                ),
            ],
            className="g-2 mt-1",
        ),
        dbc.Row(
            [
                labelled_col(
                    "Your model: module:factory",
                    dbc.Input(
                        id="custom-factory-input",
                        type="text",
                        placeholder="mypkg.models:make",
                        debounce=True,
                    ),
                    md=6,
                ),
                labelled_col(
                    "Latent layer",
                    dbc.Input(
                        id="custom-layer-input",
                        type="text",
                        placeholder="encoder.fc2",
                        debounce=True,
                    ),
                    md=6,
                ),
                html.Small(
                    "factory(sample_shape=..., n_classes=..., latent_dim=...) must return a "
                    "torch.nn.Module whose output is the logits; the map shows the named "
                    "layer's output. Importing it runs its code on this server.",
                    className="text-muted",
                ),
            ],
            id="custom-model-row",
            className=f"{CUSTOM_ROW_CLASS} d-none",
        ),
        html.Small(
            "The seed fixes the data split, the model's initial weights and the batch "
            "order, so a run can be replayed exactly.",
            className="text-muted",
        ),
    ],
    class_name="mb-2",
)

start = dbc.Card(
    [
        dbc.CardHeader("3 · Start"),
        dbc.CardBody(
            [
                dbc.Button("Start run", id="start-run-button", color="primary"),
                html.Div(id="start-run-status", className="mt-2"),
            ]
        ),
    ],
    className="mb-4",
)


def summary_table(facts: dict) -> html.Div:
    """The data set's name, kind, sample shape, classes, split sizes and labelled counts,
    under the scenario's description when it has one."""
    table = _facts_table(facts)
    if not facts.get("description"):
        return html.Div(table)
    return html.Div(
        [
            dbc.Alert(
                facts["description"],
                color="info",
                className="py-2 px-3 mb-2 small",
                id="data-description",
            ),
            table,
        ]
    )


def _per_class_text(facts: dict, limit: int = 10) -> str:
    pairs = [f"{n}: {c}" for n, c in zip(facts["classes"], facts["train_per_class"], strict=True)]
    text = " · ".join(pairs[:limit]) + (" …" if len(pairs) > limit else "")
    if facts.get("unlabelled"):
        text += f" · unlabelled: {facts['unlabelled']}"
    return text


def _facts_table(facts: dict) -> dbc.Table:
    classes = ", ".join(facts["classes"][:20]) + (" …" if len(facts["classes"]) > 20 else "")
    return dbc.Table(
        html.Tbody(
            [
                html.Tr([html.Th("data set"), html.Td(f"{facts['name']} ({facts['kind']})")]),
                html.Tr(
                    [html.Th("sample shape"), html.Td(" × ".join(map(str, facts["sample_shape"])))]
                ),
                html.Tr([html.Th("classes"), html.Td(f"{len(facts['classes'])}: {classes}")]),
                html.Tr([html.Th("train per class"), html.Td(_per_class_text(facts))]),
                html.Tr(
                    [
                        html.Th("samples"),
                        html.Td(
                            f"train {facts['train']} · val {facts['val']} · "
                            f"test {facts['test']} (locked)"
                        ),
                    ]
                ),
            ]
        ),
        size="sm",
        className="mb-1",
        id="data-summary-table",
    )
