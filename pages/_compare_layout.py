"""The Compare page's layout: controls, the two linked maps, the panels, the final evaluation.

Not a page: Dash's page loader skips files whose name begins with "_". The callbacks
live in pages/compare.py.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from hill_dash.dashboard.compare_view import COMPARISONS, LINEAGE
from hill_dash.dashboard.figures.compare import MAP_HEIGHT, PANEL_HEIGHT
from hill_dash.dashboard.figures.panels import placeholder_figure
from pages._ui import titled_card

PLAY_MS = 1600  # one chunk per tick while playing: the map transition takes ~0.7 s of it


def graph_config(name: str, fmt: str = "png", panel: bool = False) -> dict:
    """Mode bar with the camera (PNG or SVG download named after the figure), no logo.

    Small panels keep only the camera and the reset button, so the bar does not cover
    their titles.
    """
    config = {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": f"hill-dash-{name}", "scale": 2},
    }
    if panel:
        return config | {"modeBarButtons": [["toImage", "resetScale2d"]]}
    return config | {"modeBarButtonsToRemove": ["autoScale2d", "toggleSpikelines"]}


GRAPHS = {  # graph id -> download name
    "compare-guided-graph": "guided-map",
    "compare-baseline-graph": "baseline-map",
    "compare-class-graph": "class-deltas",
    "compare-confusion-graph": "confusion-difference",
}

# -- controls ------------------------------------------------------------------------------

play_button = dbc.Button(
    "▶ Play", id="compare-play-button", color="secondary", outline=True, size="sm"
)

chunk_controls = dbc.Card(
    dbc.CardBody(
        [
            html.Div(id="compare-run-name", className="fw-semibold mb-1"),
            dbc.Row(
                [
                    dbc.Col(play_button, width="auto", className="pt-1"),
                    dbc.Col(
                        dcc.Slider(
                            id="compare-chunk-slider",
                            min=0,
                            max=1,
                            step=1,
                            value=0,
                            marks={0: "0"},
                            disabled=True,
                        ),
                    ),
                ],
                className="g-2 align-items-center",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Compare the guided run with", className="me-2 mb-0"),
                            dbc.RadioItems(
                                id="compare-baseline",
                                options=[{"label": v, "value": k} for k, v in COMPARISONS.items()],
                                value=LINEAGE,
                                inline=True,
                            ),
                        ],
                        md=7,
                    ),
                    dbc.Col(
                        [
                            dbc.Switch(
                                id="compare-zoom-link",
                                label="Maps share zoom",
                                value=True,
                                className="mb-0",
                            ),
                            html.Div(
                                [
                                    html.Small("Camera saves ", className="text-muted me-1"),
                                    dbc.RadioItems(
                                        id="compare-image-format",
                                        options=[
                                            {"label": "PNG", "value": "png"},
                                            {"label": "SVG", "value": "svg"},
                                        ],
                                        value="png",
                                        inline=True,
                                        className="d-inline-block small",
                                    ),
                                ]
                            ),
                        ],
                        md=5,
                    ),
                ],
                className="g-2 mt-1",
            ),
            html.Small(id="compare-baseline-note", className="text-muted d-block"),
            html.Small(id="compare-test-status", className="d-block mt-1"),
            dcc.Interval(id="compare-play-interval", interval=PLAY_MS, disabled=True),
            dcc.Store(id="compare-shown-chunk"),
        ]
    ),
    className="mb-2",
)


def map_graph(graph_id: str) -> html.Div:
    """A map under its title. The title sits outside the figure: a chunk change then glides
    the points to their new, aligned place (Plotly.react animates the figures' positions
    with their layout.transition, see figures/compare.py)."""
    return html.Div(
        [
            html.Div(id=f"{graph_id}-title", className="fw-semibold ms-2 mt-1"),
            dcc.Graph(
                id=graph_id,
                config=graph_config(GRAPHS[graph_id]),
                figure=placeholder_figure("loading…", MAP_HEIGHT - 12),
            ),
        ]
    )


maps = html.Div(
    [
        dbc.Row(
            [
                dbc.Col(map_graph("compare-guided-graph"), md=6),
                dbc.Col(map_graph("compare-baseline-graph"), md=6),
            ],
            className="g-2",
        ),
        html.Div(
            [
                html.Span(
                    "Lasso or box-select on either map, or click a class bar or a confusion "
                    "cell: the same points light up on both maps.",
                    id="compare-selection-note",
                    className="small text-muted me-2",
                ),
                dbc.Button(
                    "Clear selection",
                    id="compare-clear-selection",
                    size="sm",
                    color="link",
                    className="p-0 align-baseline",
                ),
            ]
        ),
        dcc.Store(id="compare-selection", data={"indices": [], "source": ""}),
        dcc.Store(id="compare-zoom-sync"),
    ]
)

# -- panels -------------------------------------------------------------------------------

NUMBER = (
    "params.value == null ? '–' : params.data.percent ? d3.format('.2%')(params.value)"
    " : d3.format('.4f')(params.value)"
)
DELTA = (
    "params.value == null ? '–' : params.data.percent ? d3.format('+.2f')(100 * params.value)"
    " + ' pp' : d3.format('+.4f')(params.value)"
)
BETTER = "params.value != null && params.data.better * params.value > 0"
WORSE = "params.value != null && params.data.better * params.value < 0"


def table_columns(guided: str = "guided", other: str = "baseline") -> list[dict]:
    """The metrics grid's columns; headers name the checkpoints compared."""
    number = {"type": "numericColumn", "valueFormatter": {"function": NUMBER}}
    return [
        {
            "field": "metric",
            "headerName": "metric",
            "flex": 2,
            "wrapText": True,
            "autoHeight": True,
        },
        {"field": "guided", "headerName": guided, "flex": 1} | number,
        {"field": "other", "headerName": other, "flex": 1} | number,
        {
            "field": "delta",
            "headerName": "Δ guided − baseline",
            "flex": 1,
            "type": "numericColumn",
            "valueFormatter": {"function": DELTA},
            "cellClassRules": {
                "text-success fw-semibold": BETTER,
                "text-danger fw-semibold": WORSE,
            },
        },
    ]


metrics_table = titled_card(
    "Metrics at this chunk",
    [
        dag.AgGrid(
            id="compare-table",
            columnDefs=table_columns(),
            rowData=[],
            getRowId="params.data.key",
            defaultColDef={
                "sortable": True,
                "resizable": True,
                "suppressMovable": True,
                "wrapHeaderText": True,
                "autoHeaderHeight": True,
                "cellStyle": {"lineHeight": "1.3", "paddingTop": "4px", "paddingBottom": "4px"},
            },
            dashGridOptions={
                "domLayout": "autoHeight",
                "animateRows": False,
                # compact, and light or dark with the page (data-ag-theme-mode on <html>)
                "theme": {"function": "themeQuartz.withParams({fontSize: 12, spacing: 4})"},
            },
            style={"height": None},
            className="mb-1",
        ),
        html.Small(
            "Green: better for the guided run, red: worse. Drift is measured on the points "
            "the guided run edited, for both checkpoints.",
            className="text-muted",
        ),
        html.Div(id="compare-realized", className="mt-2"),
    ],
    class_name="h-100",
)


def graph_panel(graph_id: str, note: str) -> dbc.Card:
    """A small panel: a graph (loading until its callback answers) over a note."""
    return dbc.Card(
        dbc.CardBody(
            [
                dcc.Graph(
                    id=graph_id,
                    config=graph_config(GRAPHS[graph_id], panel=True),
                    figure=placeholder_figure("loading…", PANEL_HEIGHT),
                ),
                html.Small(note, id=f"{graph_id}-note", className="text-muted"),
            ]
        ),
        className="h-100",
    )


class_panel = graph_panel(
    "compare-class-graph",
    "Red: a drop the bias test flags. Outlined: classes of the edited points. Click a bar: "
    "its class lights up on both maps.",
)

confusion_panel = graph_panel(
    "compare-confusion-graph",
    "Blue on the diagonal: the guided run gets more right; blue off the diagonal: it "
    "makes more of that mistake. Red outline: a flagged confusion shift. Click a cell: "
    "those validation points light up on both maps.",
)

final_evaluation = titled_card(
    "Final evaluation on the locked test split",
    [
        dbc.Alert(
            [
                html.Strong("Every reveal is recorded. "),
                "Use the test split once, at the end. Choosing edits, chunks or settings "
                "after looking at test accuracy tunes on the test set and invalidates it.",
                html.Div(id="reveal-count", className="mt-1"),
            ],
            color="warning",
            className="mb-2",
        ),
        dbc.Button(
            "Reveal test accuracy of both heads",
            id="reveal-test-button",
            color="warning",
            outline=True,
            className="mb-2",
        ),
        html.Div(id="test-result"),
    ],
    class_name="mb-2",
)

downloads = html.Div(
    [
        dbc.Button(
            "Per-chunk comparison (.csv)",
            id="compare-csv-button",
            color="secondary",
            outline=True,
            size="sm",
            className="me-2",
        ),
        dbc.Button(
            "Session report (.html)",
            id="compare-report-button",
            color="secondary",
            outline=True,
            size="sm",
        ),
        dcc.Download(id="compare-csv-download"),
        dcc.Download(id="compare-report-download"),
        html.Div(id="compare-download-status", className="mt-1"),
    ],
    className="mb-4",
)

layout = html.Div(
    [
        chunk_controls,
        maps,
        dbc.Row(
            [
                dbc.Col(metrics_table, lg=4),
                dbc.Col(class_panel, lg=4),
                dbc.Col(confusion_panel, lg=4),
            ],
            className="g-2 my-2",
        ),
        final_evaluation,
        downloads,
    ]
)
