"""The Loop page's right-hand column: the run, training, the selection and "Find points",
the edit tools (with what each does) and the pending edits.

Not a page: Dash's page loader skips files whose name begins with "_".
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from hill_dash.dashboard.chunk_settings import MAX_EPOCHS
from hill_dash.dashboard.points import FIND_OPTIONS
from pages._loop_layout import small_select
from pages._ui import labelled_col, titled_card

run_card = dbc.Card(
    dbc.CardBody([html.Div(id="run-header"), html.Div(id="test-reveal-note")], className="p-2"),
    className="mb-2",
)


def side_card(title, body: list, class_name: str) -> dbc.Card:
    """A card of the right-hand column: a compact title over a padded body."""
    return titled_card(
        title, body, class_name=class_name, header_class="py-1 fw-semibold", body_class="p-2"
    )


def labelled(label: str, component, width: int, hint: str | None = None) -> dbc.Col:
    """A small label over its field; `hint`: what the field does, on hovering the label."""
    if hint:
        label = html.Span(label, title=hint, className="field-hint")
    return labelled_col(label, component, label_class="small mb-0", width=width)


# What λ and the epochs do to an edit, as measured (docs/benchmarks.md §0, round 24)
LAMBDA_HINT = (
    "How strongly the edits compete with the labels. A larger λ does not carry an edit "
    "further in one chunk (Adam sizes each step by itself): a far move on MNIST-1D was "
    "heard 54 %, 59 % and 53 % at λ 0.25, 1 and 4, and λ 4 cost the other classes 15 "
    "points. Empty: the run's own."
)
EPOCHS_HINT = (
    "Epochs per chunk, for the guided and the unguided lineage alike. More epochs carry an "
    "edit further (that move: 59 % at 5, 75 % at 10) and take longer; on MNIST-1D some "
    "edits then cost the other classes more. Empty: the run's own."
)


def number(component_id: str, value: float | None, **kw) -> dbc.Input:
    """A number field. Its range is checked by the page (selection.tool_params), not by the
    browser: a browser-invalid value would arrive as empty and be reported as such."""
    return dbc.Input(id=component_id, type="number", value=value, **kw)


def session_number(component_id: str, value, **kw) -> dbc.Input:
    return number(
        component_id, value, size="sm", persistence=True, persistence_type="session", **kw
    )


advanced = dbc.Collapse(
    [
        dbc.Row(
            [
                labelled(
                    "learning rate",
                    session_number("lr-input", None, step="any", min=1e-7, max=1),
                    6,
                ),
                labelled("batch size", session_number("batch-input", None, step=1), 6),
                labelled("anchor weight", session_number("anchor-input", None, step="any"), 6),
                labelled(
                    "output distillation",
                    session_number("kd-input", None, step="any"),
                    6,
                ),
            ],
            className="g-2 mb-1",
        ),
        html.Small(
            "Empty: the run's setting (shown greyed). Anchor: unedited training points keep "
            "their latent; output distillation: the edited points' outputs follow the frozen "
            "head. Both act on the guided chunk only.",
            id="advanced-note",
            className="text-muted d-block mb-1",
        ),
        html.Div(id="advanced-problem", className="small mb-2"),
    ],
    id="advanced-collapse",
    is_open=False,
)

train_card = side_card(
    "Train",
    [
        dbc.Row(
            [
                labelled(
                    "λ (teacher weight)",
                    session_number("lambda-input", None, min=0, max=100, step=0.1),
                    4,
                    LAMBDA_HINT,
                ),
                labelled(
                    "epochs / chunk",
                    session_number("epochs-input", None, min=1, max=MAX_EPOCHS, step=1),
                    4,
                    EPOCHS_HINT,
                ),
                labelled(
                    "map",
                    dbc.Select(
                        id="projection-select",
                        value="umap",
                        size="sm",
                        options=[
                            {"label": "UMAP", "value": "umap"},
                            {"label": "PCA", "value": "pca"},
                        ],
                    ),
                    4,
                ),
            ],
            className="g-2 mb-1",
        ),
        html.Small(id="projection-note", className="text-muted d-block mb-1"),
        dbc.Button(
            "Advanced settings ▸",
            id="advanced-toggle",
            color="link",
            size="sm",
            className="p-0 mb-1",
        ),
        advanced,
        html.Div(
            [
                dbc.Button("Train chunk", id="train-button", color="primary", className="me-2"),
                dbc.Button(
                    "Cancel", id="cancel-button", color="secondary", outline=True, disabled=True
                ),
                dbc.Button(
                    "Re-fit map",
                    id="refit-map-button",
                    color="secondary",
                    outline=True,
                    className="ms-auto",
                    title="a fresh layout of the guided head's map, recorded in the run",
                ),
            ],
            className="d-flex",
        ),
        dbc.Progress(
            id="chunk-progress",
            value=0,
            max=100,
            label="",
            striped=True,
            animated=True,
            className="my-2",
            style={"height": "18px"},
        ),
        html.Div(id="chunk-status", className="small"),
        html.Div(id="refit-note", className="small text-muted"),
        html.Div(id="refit-status", className="small"),
        html.Div(id="startup-note", className="small text-muted"),
    ],
    "mb-2",
)

find_points = html.Div(
    [
        html.Div("Find points", className="small fw-semibold mt-2"),
        dbc.Row(
            [
                dbc.Col(small_select("select-by", FIND_OPTIONS, "class"), width=7),
                dbc.Col(
                    dbc.RadioItems(
                        id="find-mode",
                        value="replace",
                        inline=True,
                        className="small",
                        options=[
                            {"label": "new", "value": "replace"},
                            {"label": "+", "value": "add"},
                            {"label": "−", "value": "subtract"},
                        ],
                    ),
                    width=5,
                    className="d-flex align-items-center",
                ),
            ],
            className="g-1 mb-1",
        ),
        dbc.InputGroup(
            [
                dbc.Select(id="find-class", options=[], placeholder="class"),
                dbc.Input(id="find-k", type="number", min=1, step=1, value=50, placeholder="k"),
                dbc.Input(id="find-indices", type="text", placeholder="e.g. 3, 17, 40-45"),
                dbc.Button("Find", id="find-button", color="secondary"),
            ],
            size="sm",
        ),
        html.Div(id="find-status", className="small mt-1"),
    ]
)

selection_card = side_card(
    "Selection",
    [
        html.Div(id="selection-info"),
        html.Div(
            [
                html.Small(
                    "Lasso or box-select on the map (shift: add). Esc or double-click clears.",
                    className="text-muted",
                ),
                dbc.Button(
                    "Clear selection",
                    id="clear-selection-button",
                    size="sm",
                    color="link",
                    className="p-0 ms-auto",
                ),
            ],
            className="d-flex align-items-baseline gap-2",
        ),
        find_points,
    ],
    "mb-2",
)

# What each tool does to the selected TRAINING points (validation points never get targets).
TOOL_HELP = {
    "move": "Moves the selected training points by the arrow, keeping their shape, relative "
    "to the rest of the space. Drag the selection box by its edge, click where the cluster "
    "should go, or type the shift in map units:",
    "pull": "Moves the selection's centre α of the way to the centre of the class's "
    "unedited training points, keeping its shape. Points of another label count as "
    "relabels (potential bias).",
    "compact": "Shrinks the selection around its own centre to β of its spread; it stays put.",
    "separate": "Moves the selection away from the other selection's centre by γ × the "
    "distance between the two centres, keeping its shape; the other stays. The other is "
    "your previous selection, else the rest of the selection's majority class.",
    # annotations: the guided lineage's labels and weights (validation and test: never)
    "relabel": "Annotate: the selected training points are class c. The guided lineage "
    "trains with the new label from the next chunk on (the preview shows the new colours; "
    "the hover keeps the original).",
    "weight": "Annotate: weight the selected training points' cross-entropy by w "
    "(0 < w ≤ 100) in the guided lineage.",
    "exclude": "Annotate: leave the selected training points out of the guided lineage's "
    "training (weight 0); they stay on the map, greyed.",
}

# the annotations' heading stands before Relabel's radio (assets/loop.css), not between
# the radio and its label
ANNOTATE_LABEL = [
    html.Span("Annotate:", className="annotate-heading border-start ps-2 me-2 text-muted small"),
    "Relabel",
]


def tool_pane(tool: str, *controls) -> html.Div:
    return html.Div(
        [
            html.Small(TOOL_HELP[tool], className="text-muted d-block mb-1"),
            dbc.InputGroup(list(controls), size="sm") if controls else None,
        ],
        id=f"{tool}-pane",
    )


edit_card = side_card(
    "Edit the selection",
    [
        dbc.RadioItems(
            id="edit-tool",
            value="move",
            inline=True,
            className="mb-1",
            options=[
                {"label": "Move", "value": "move"},
                {"label": "Pull to class", "value": "pull"},
                {"label": "Compact", "value": "compact"},
                {"label": "Separate", "value": "separate"},
                {"label": ANNOTATE_LABEL, "value": "relabel"},
                {"label": "Weight", "value": "weight"},
                {"label": "Exclude", "value": "exclude"},
            ],
        ),
        tool_pane(
            "move",
            dbc.InputGroupText("Δx"),
            number("move-dx", 0, step=0.1),
            dbc.InputGroupText("Δy"),
            number("move-dy", 0, step=0.1),
        ),
        tool_pane(
            "pull",
            dbc.InputGroupText("class"),
            dbc.Select(id="pull-class", options=[]),
            dbc.InputGroupText("α"),
            number("pull-alpha", 1.0, step=0.1),
            # one Apply, one step: Pull to the class and Relabel to it. On by default: in
            # the fair study relabelling beat a bare pull by 40-59 worst-group points on
            # noisy labels and was a no-op where the labels were right (docs/results.md)
            dbc.InputGroupText(
                html.Span(
                    dbc.Checkbox(id="pull-relabel", label="and relabel", value=True),
                    title="Also give the pulled training points the target class as their "
                    "label (a no-op where they already have it). Off: the pull moves the "
                    "latents only.",
                )
            ),
        ),
        tool_pane("compact", dbc.InputGroupText("β"), number("compact-beta", 0.5, step=0.1)),
        tool_pane(
            "separate",
            dbc.InputGroupText("γ"),
            number("separate-gamma", 1.0, step=0.1),
        ),
        tool_pane(
            "relabel", dbc.InputGroupText("class"), dbc.Select(id="relabel-class", options=[])
        ),
        tool_pane("weight", dbc.InputGroupText("w"), number("weight-w", 5.0, step=0.5)),
        tool_pane("exclude"),
        html.Div(
            [
                dbc.Button(
                    "Apply edit",
                    id="apply-edit-button",
                    color="primary",
                    size="sm",
                    title="Enter",
                ),
                dbc.Button(
                    "Undo",
                    id="undo-button",
                    color="secondary",
                    outline=True,
                    size="sm",
                    title="Ctrl/Cmd-Z",
                ),
                dbc.Button(
                    "Redo",
                    id="redo-button",
                    color="secondary",
                    outline=True,
                    size="sm",
                    title="Ctrl/Cmd-Shift-Z",
                ),
                dbc.Button("Clear", id="clear-button", color="secondary", outline=True, size="sm"),
            ],
            className="d-flex gap-2 mt-2",
        ),
        html.Div(id="apply-note", className="small mt-1"),
        html.Div(id="edit-status", className="small mt-2"),
        html.Small(
            "Keys: Enter applies, Ctrl/Cmd-Z undoes, Ctrl/Cmd-Shift-Z redoes, Esc clears the "
            "selection.",
            className="text-muted d-block mt-1",
        ),
    ],
    "mb-2",
)

edits_card = side_card(
    "Pending edits (the next chunk's teacher)",
    [
        html.Div(id="edit-list"),
        html.Small(
            "Greyed edits are stale: made on an older checkpoint, the next chunk "
            "ignores them. Clear removes them.",
            className="text-muted",
        ),
        html.Div(id="last-edits", className="mt-2"),
    ],
    "mb-3",
)
