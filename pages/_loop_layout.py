"""The Loop page's layout fragments: the map, the selection gallery and the panels (the
right-hand column is in `pages/_loop_side.py`, the components callbacks render in
`pages/_loop_render.py`).

Not a page: Dash's page loader skips files whose name begins with "_". `pages/loop.py`
assembles the page from these fragments; every component id the callbacks use is
created here or there, once.
"""

from __future__ import annotations

from pathlib import Path

import dash_bootstrap_components as dbc
from dash import dcc, html

from hill_dash.dashboard.config import start_dataset
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.dashboard.figures import panels as P
from hill_dash.dashboard.points import COLOR_OPTIONS, GALLERY_SORTS
from pages._ui import titled_card


def panel_config(graph_id: str) -> dict:
    """A panel's mode bar: the camera (a PNG named after the panel) and reset. Never
    changed later: a new config makes plotly re-create the plot and drop Dash's event
    listeners (clicks, hover)."""
    return {
        "displaylogo": False,
        "displayModeBar": "hover",
        "modeBarButtons": [["toImage", "resetScale2d"]],
        "toImageButtonOptions": {
            "format": "png",
            "scale": 2,
            "filename": "hill-" + graph_id.removesuffix("-graph"),
        },
    }


def svg_button(graph_id: str) -> html.Button:
    """ "SVG": downloads the figure as SVG (assets/loop.js; the camera gives PNG)."""
    return html.Button(
        "SVG",
        className="hill-svg btn btn-link btn-sm p-0 ms-2 align-baseline",
        title="download this figure as SVG (the camera in its mode bar: PNG)",
        **{"data-graph": graph_id, "data-filename": "hill-" + graph_id.removesuffix("-graph")},
    )


def no_run_message() -> str:
    return f"No run yet — click Train chunk to start on {Path(start_dataset()).name}"


def small_select(component_id: str, options, value, **kw) -> dbc.Select:
    return dbc.Select(
        id=component_id,
        value=value,
        size="sm",
        options=[{"label": label, "value": v} for v, label in options],
        **kw,
    )


# -- the map and what is under the pointer ---------------------------------------------

color_by = small_select("color-by", COLOR_OPTIONS, "label", style={"width": "14rem"})

map_header = dbc.Row(
    [
        dbc.Col(
            [
                html.Span("Latent map", id="map-title", className="fw-semibold"),
                svg_button("latent-graph"),
            ]
        ),
        dbc.Col(
            [
                html.Small("colour by", className="text-muted me-2"),
                color_by,
                dbc.Switch(
                    id="show-val",
                    label="validation points",
                    value=True,
                    className="ms-3 mb-0 small",
                ),
            ],
            width="auto",
            className="d-flex align-items-center",
        ),
    ],
    align="center",
    className="g-1",
)


def ring_key(colour: str, name: str) -> html.Span:
    """One entry of the ghosts' key: a ring drawn as the map draws it, and its name."""
    ring = (
        "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='14' height='14'>"
        f"<polygon points='12,7 9.5,11.3 4.5,11.3 2,7 4.5,2.7 9.5,2.7' fill='none' "
        f"stroke='{colour.replace('#', '%23')}' stroke-width='1.5'/></svg>"
    )
    return html.Span(
        [html.Img(src=ring, width=14, height=14, className="me-1", alt=""), name],
        className="me-3 text-nowrap",
    )


# the key of the ghost rings, the page's and not plotly's (a shape in plotly's legend makes
# every zoom recompute every point)
map_legend = html.Div(
    [ring_key(colour, name) for colour, name in LM.GHOST_LEGEND],
    id="map-legend",
    className="small text-muted d-inline-flex flex-wrap",
)

map_card = dbc.Card(
    [
        dbc.CardHeader(map_header, className="py-1"),
        dbc.CardBody(
            dbc.Row(
                [
                    dbc.Col(
                        [
                            map_legend,
                            dcc.Graph(
                                id="latent-graph",
                                figure=LM.make_empty_map_figure(""),
                                config=LM.GRAPH_CONFIG,
                                clear_on_unhover=True,
                            ),
                            dcc.Tooltip(id="map-tooltip", direction="right", loading_text=""),
                        ],
                        md=9,
                    ),
                    dbc.Col(
                        [
                            html.Div("Under the pointer", className="small text-muted"),
                            dcc.Graph(
                                id="sample-graph",
                                config={"displayModeBar": False, "staticPlot": True},
                                figure=P.placeholder_figure("hover a point", P.SAMPLE_HEIGHT),
                            ),
                            html.Div(id="sample-caption", className="small"),
                        ],
                        md=3,
                    ),
                ],
                className="g-2",
            ),
            className="p-2",
        ),
        dbc.CardFooter(html.Small(id="preview-info", className="text-muted"), className="py-1"),
    ],
    className="mb-2",
)

gallery_card = titled_card(
    dbc.Row(
        [
            dbc.Col(html.Span("Selection gallery", className="fw-semibold")),
            dbc.Col(
                [
                    small_select(
                        "gallery-sort", GALLERY_SORTS, "confidence", style={"width": "13rem"}
                    ),
                    dbc.Button(
                        "Export CSV",
                        id="export-selection-button",
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="ms-2",
                        title="indices, split, label, prediction, confidence, map x and y",
                    ),
                    dcc.Download(id="selection-download"),
                ],
                width="auto",
                className="d-flex align-items-center",
            ),
        ],
        align="center",
        className="g-1",
    ),
    html.Div(id="selection-gallery", className="small"),
    class_name="mb-2",
    header_class="py-1 small",
    body_class="p-2",
)


# -- the linked panels -------------------------------------------------------------------


def panel(title: str, graph_id: str, note: str = "", controls=None) -> dbc.Card:
    head = [
        html.Span(title, className="fw-semibold"),
        html.Small(f" {note}", className="text-muted"),
        svg_button(graph_id),
    ]
    body = [dcc.Graph(id=graph_id, config=panel_config(graph_id), figure=P.placeholder_figure(""))]
    if controls is not None:
        body.insert(0, controls)
    return titled_card(head, body, class_name="h-100", header_class="py-1 small", body_class="p-1")


chunk_log_card = titled_card(
    [
        html.Span("Chunks", className="fw-semibold"),
        html.Small(" click a row: select the points its edits moved", className="text-muted"),
    ],
    html.Div(id="chunk-log", className="small"),
    class_name="h-100",
    header_class="py-1 small",
    body_class="p-2",
    body_style={"maxHeight": "250px", "overflowY": "auto"},
)

curve_controls = html.Div(
    [
        small_select(
            "curve-metric",
            (
                ("loss", "loss"),
                ("ce", "cross-entropy"),
                ("teacher", "teacher loss"),
                ("acc", "accuracy"),
            ),
            "loss",
            style={"width": "9rem"},
        ),
        html.Small("smoothing", className="text-muted ms-2 me-1"),
        html.Div(
            dcc.Slider(
                id="curve-smoothing",
                min=0,
                max=0.99,
                step=0.01,
                value=0.6,
                marks=None,
                tooltip={"placement": "bottom"},
            ),
            style={"width": "9rem"},
        ),
        dbc.Switch(id="curve-logy", label="log y", value=False, className="ms-2 mb-0 small"),
    ],
    className="d-flex align-items-center px-1",
)

panels = html.Div(
    [
        dbc.Row(
            [
                dbc.Col(panel("Accuracy", "accuracy-graph", "train · val per chunk"), md=6),
                dbc.Col(panel("Validation gap", "gap-graph", "train − val accuracy"), md=6),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    panel("Latent drift", "drift-graph", "edited vs rest, or the selection"), md=6
                ),
                dbc.Col(
                    panel(
                        "Per-class bias",
                        "bias-graph",
                        "val accuracy guided − unguided · click a bar: select the class",
                    ),
                    md=6,
                ),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    panel(
                        "Realized share",
                        "realized-graph",
                        "how much of the edits happened · guided vs counterfactual",
                    ),
                    md=6,
                ),
                dbc.Col(chunk_log_card, md=6),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            dbc.Col(
                panel(
                    "Training curves",
                    "step-curves-graph",
                    "per step, every chunk",
                    controls=curve_controls,
                ),
                md=12,
            ),
            className="g-2 mb-2",
        ),
    ]
)
