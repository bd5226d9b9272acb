"""The latent map of the Loop page: every point in one Scattergl trace, the selection box,
and ghost targets of the edits (hollow markers at the end of thin arrows).

The traces sit in a fixed order (`MAIN`, then pending and preview ghosts) so a callback
can patch colours, selection, box or ghosts with `dash.Patch` without resending the
points; selections are read by `pointIndex` on trace `MAIN`. Every array goes to the
browser as a typed array, and there is no per-point text: the page's tooltip asks the
server about the one point under the pointer.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from hill_dash.dashboard.figures import CLASS_COLOURS, GUIDED, TEMPLATE

MAIN, PENDING_ARROWS, PENDING_GHOSTS, PREVIEW_ARROWS, PREVIEW_GHOSTS = range(5)
PENDING_COLOUR = "#212529"  # targets of the edits the next chunk will use
PREVIEW_COLOUR = "#e8590c"  # targets of the edit being prepared (not applied yet)
UNSELECTED = "#ced4da"  # points outside the selection: greyed, still drawn
MAP_HEIGHT = 560
IMAGE_OPTIONS = {"format": "png", "filename": "hill-latent-map", "scale": 2}
GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "edits": {"shapePosition": True},  # the selection box can be dragged: the move gesture
    "editSelection": False,  # a dragged lasso outline would re-select, not move
    "modeBarButtonsToRemove": ["autoScale2d", "select2d"],
    "toImageButtonOptions": IMAGE_OPTIONS,
}
SPECIAL_COLOURS = {
    "correct": ["#e03131", "#2f9e44"],  # wrong, correct
    "edited": ["#ced4da", GUIDED, "#e8590c"],  # not edited, edited last chunk, pending
    "split": ["#1f5fbf", "#f08c00"],  # train, val
}
UNLABELLED_COLOUR = "#868e96"
CONTINUOUS_SCALE = "Viridis"

Ghosts = tuple[np.ndarray, np.ndarray]  # (start (m, 2), target (m, 2)) on the map


@dataclass(frozen=True)
class Colouring:
    """What the map's colours say: a category per point, or a value on a colour scale."""

    by: str  # the colour-by option, e.g. "label" or "confidence"
    values: np.ndarray  # (n,) category codes (int) or values (float; NaN: none)
    names: tuple[str, ...] = ()  # category names, in code order (empty: continuous)
    title: str = ""  # the colour bar's title
    cmin: float = 0.0  # continuous only: the colour scale's range
    cmax: float = 1.0
    tickformat: str = ""

    @property
    def continuous(self) -> bool:
        return not self.names


def typed(a: np.ndarray, dtype: str = "f4") -> dict:
    """A plotly.js typed-array spec: compact in figures and patches (no per-number JSON)."""
    a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode("ascii")}


def category_colours(names: tuple[str, ...] | list[str], by: str) -> list[str]:
    if by in SPECIAL_COLOURS:
        return SPECIAL_COLOURS[by][: len(names)]
    colours = [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(names))]
    if names and names[-1] == "unlabelled":
        colours[-1] = UNLABELLED_COLOUR
    return colours


def _colorbar(title: str) -> dict:
    return {
        "thickness": 10,
        "len": 0.9,
        "y": 0.5,
        "yanchor": "middle",
        "title": {"text": title, "side": "top", "font": {"size": 11}},
        "x": 1.0,
        "xanchor": "left",
        "xpad": 6,
        "outlinewidth": 0,
        "tickfont": {"size": 11},
    }


def marker_for(c: Colouring) -> dict:
    """Marker of the main trace: stepped categories with their names on the colour bar,
    or a continuous scale with a colour bar (NaN values drawn grey)."""
    base = {"size": 5, "opacity": 0.85, "showscale": True}
    if c.continuous:
        bar = _colorbar(c.title or c.by) | ({"tickformat": c.tickformat} if c.tickformat else {})
        return base | {
            "color": typed(c.values, "f4"),
            "colorscale": CONTINUOUS_SCALE,
            "cmin": float(c.cmin),
            "cmax": float(c.cmax),
            "colorbar": bar,
        }
    colours = category_colours(c.names, c.by)
    k = max(len(colours), 1)
    scale = []
    for i, col in enumerate(colours):
        scale += [[i / k, col], [(i + 1) / k, col]]
    return base | {
        "color": typed(c.values, "i2"),
        "colorscale": scale or [[0, "#888"], [1, "#888"]],
        "cmin": -0.5,
        "cmax": k - 0.5,
        "colorbar": _colorbar(c.title or c.by)
        | {"tickvals": list(range(k)), "ticktext": list(c.names)},
    }


def arrow_xy(start: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one line trace drawing every arrow, NaN-separated."""
    m = len(start)
    xy = np.full((m, 3, 2), np.nan, np.float32)
    xy[:, 0], xy[:, 1] = start, target
    flat = xy.reshape(3 * m, 2)
    return flat[:, 0], flat[:, 1]


def box_shape(box: list[float]) -> dict:
    """The draggable rectangle around the selection (shapes[0])."""
    x0, x1, y0, y1 = box
    return {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": x0,
        "x1": x1,
        "y0": y0,
        "y1": y1,
        "editable": True,
        "layer": "above",
        "fillcolor": "rgba(31,95,191,0.05)",
        "line": {"color": GUIDED, "width": 2, "dash": "dash"},
    }


def _ghost_traces(ghosts: Ghosts | None, colour: str, name: str) -> list[dict]:
    start, target = ghosts if ghosts is not None else (np.zeros((0, 2)), np.zeros((0, 2)))
    ax, ay = arrow_xy(start, target)
    return [
        {
            "type": "scattergl",
            "x": typed(ax),
            "y": typed(ay),
            "mode": "lines",
            "opacity": 0.55,
            "line": {"color": colour, "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": f"{name} arrows",
        },
        {
            "type": "scattergl",
            "x": typed(target[:, 0]),
            "y": typed(target[:, 1]),
            "mode": "markers",
            "name": name,
            "marker": {"symbol": "circle-open", "size": 7, "color": colour, "line": {"width": 1.5}},
            "hoverinfo": "skip",
            "showlegend": len(start) > 0,
        },
    ]


def main_trace(coords: np.ndarray, colouring: Colouring, selected: np.ndarray | None) -> dict:
    """The points: typed arrays, no hover text (the tooltip asks the server), the
    selection drawn by plotly (`selectedpoints`), the rest greyed but visible."""
    main = {
        "type": "scattergl",
        "x": typed(coords[:, 0]),
        "y": typed(coords[:, 1]),
        "mode": "markers",
        "marker": marker_for(colouring),
        "hoverinfo": "none",
        "showlegend": False,
        "name": "points",
        "selected": {"marker": {"opacity": 1.0}},
        "unselected": {"marker": {"opacity": 0.3, "color": UNSELECTED}},
    }
    if selected is not None and len(selected):
        main["selectedpoints"] = typed(selected, "i4")
    return main


def make_map_figure(
    coords: np.ndarray,
    colouring: Colouring,
    uirevision: str,
    box: list[float] | None = None,
    pending: Ghosts | None = None,
    preview: Ghosts | None = None,
    edit_revision: str = "",
    selected: np.ndarray | None = None,
    selection_revision: str = "",
) -> dict:
    """The map as a figure dict: points coloured by `colouring`, the selection box, the
    ghost targets. A dict, not a `go.Figure`: validating 200,000 points costs time and
    every array is already a typed-array spec.

    `uirevision` should stay the same for a run so zoom persists across chunks;
    `edit_revision` changes when a dragged box should snap back to `box`;
    `selection_revision` changes when the points moved (a new checkpoint): plotly's
    lasso outline is dropped then and the selection is drawn from `selected`.
    """
    layout = map_layout(uirevision, edit_revision)
    layout |= {
        "shapes": [box_shape(box)] if box else [],
        "selections": [],
        "selectionrevision": selection_revision or uirevision,
    }
    layout["template"] = TEMPLATE.to_plotly_json()
    return {
        "data": [
            main_trace(coords, colouring, selected),
            *_ghost_traces(pending, PENDING_COLOUR, "targets of pending edits"),
            *_ghost_traces(preview, PREVIEW_COLOUR, "preview (not applied)"),
        ],
        "layout": layout,
    }


def make_empty_map_figure(message: str) -> go.Figure:
    """The map's placeholder: the same traces (empty) so patches stay valid, and a message."""
    empty = np.zeros((0, 2), np.float32)
    main = {
        "type": "scattergl",
        "x": [],
        "y": [],
        "mode": "markers",
        "name": "points",
        "showlegend": False,
    }
    layout = map_layout("none", "")
    layout |= {
        "dragmode": "pan",
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "annotations": [
            {
                "text": message,
                "showarrow": False,
                "x": 0.5,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
                "font": {"size": 15, "color": "#6c757d"},
            }
        ],
    }
    return go.Figure(
        [
            main,
            *_ghost_traces((empty, empty), PENDING_COLOUR, "pending"),
            *_ghost_traces((empty, empty), PREVIEW_COLOUR, "preview"),
        ],
        layout,
    )


def map_layout(uirevision: str, edit_revision: str) -> dict:
    """Lasso by default, click-anywhere events, equal axes, stable `uirevision`.

    The legend (ghost arrows) sits above the plot, the colour bar in the right margin:
    neither covers points nor each other.
    """
    axis = {
        "zeroline": False,
        "showgrid": True,
        "gridcolor": "#eef0f2",
        "tickfont": {"size": 11, "color": "#495057"},
        "automargin": False,
    }
    return {
        "template": TEMPLATE,
        "height": MAP_HEIGHT,
        # a fixed right margin holds the colour bar: recolouring never resizes the map
        "margin": {"l": 42, "r": 130, "t": 30, "b": 28, "autoexpand": False},
        "dragmode": "lasso",
        "clickmode": "event",
        "hovermode": "closest",
        "hoverdistance": 12,
        "clickanywhere": True,
        "uirevision": uirevision,
        "editrevision": f"{uirevision}:{edit_revision}",
        "legend": {
            "orientation": "h",
            "x": 0.0,
            "y": 1.0,
            "xanchor": "left",
            "yanchor": "bottom",
            "bgcolor": "rgba(0,0,0,0)",
            "font": {"size": 11},
        },
        "xaxis": axis,
        "yaxis": axis | {"scaleanchor": "x", "scaleratio": 1},
    }


# -- patches (partial updates of a drawn map) -------------------------------------------


def patch_colours(patch: Patch, colouring: Colouring) -> Patch:
    patch["data"][MAIN]["marker"] = marker_for(colouring)
    return patch


def patch_selection(patch: Patch, selected: np.ndarray, drop_outline: bool) -> Patch:
    """Which points are selected (none: every point drawn normally); `drop_outline` also
    removes plotly's lasso outline (a selection made by "Find points" or a click)."""
    patch["data"][MAIN]["selectedpoints"] = typed(selected, "i4") if len(selected) else None
    if drop_outline:
        patch["layout"]["selections"] = []
    return patch


def patch_points(patch: Patch, coords: np.ndarray, colouring: Colouring) -> Patch:
    """Points shown (e.g. validation points toggled): positions and colours together."""
    patch["data"][MAIN]["x"] = typed(coords[:, 0])
    patch["data"][MAIN]["y"] = typed(coords[:, 1])
    return patch_colours(patch, colouring)


def patch_box(patch: Patch, box: list[float] | None, edit_revision: str, uirevision: str) -> Patch:
    patch["layout"]["shapes"] = [box_shape(box)] if box else []
    patch["layout"]["editrevision"] = f"{uirevision}:{edit_revision}"
    return patch


def patch_ghosts(patch: Patch, pending: Ghosts | None, preview: Ghosts | None) -> Patch:
    for trace, ghosts in ((PENDING_ARROWS, pending), (PREVIEW_ARROWS, preview)):
        start, target = ghosts if ghosts is not None else (np.zeros((0, 2)), np.zeros((0, 2)))
        ax, ay = arrow_xy(start, target)
        patch["data"][trace]["x"], patch["data"][trace]["y"] = typed(ax), typed(ay)
        patch["data"][trace + 1]["x"] = typed(target[:, 0])
        patch["data"][trace + 1]["y"] = typed(target[:, 1])
        patch["data"][trace + 1]["showlegend"] = len(start) > 0
    return patch
