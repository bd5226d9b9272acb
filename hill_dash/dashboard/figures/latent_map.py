"""The latent map of the Loop page: every point in one Scattergl trace, the selection box,
and ghost targets of the edits (hollow markers at the end of thin arrows).

The traces sit in a fixed order (`MAIN`, then pending and preview ghosts) so a callback
can patch colours, box or ghosts with `dash.Patch` without resending the points;
selections are read by `pointIndex` on trace `MAIN`.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from hill_dash.dashboard.figures import CLASS_COLOURS, GUIDED, TEMPLATE

MAIN, PENDING_ARROWS, PENDING_GHOSTS, PREVIEW_ARROWS, PREVIEW_GHOSTS = range(5)
PENDING_COLOUR = "#212529"  # targets of the edits the next chunk will use
PREVIEW_COLOUR = "#e8590c"  # targets of the edit being prepared (not applied yet)
MAP_HEIGHT = 560
GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "edits": {"shapePosition": True},  # the selection box can be dragged: the move gesture
    "editSelection": False,  # a dragged lasso outline would re-select, not move
    "modeBarButtonsToRemove": ["toImage", "autoScale2d"],
}
SPECIAL_COLOURS = {
    "correct": ["#e03131", "#2f9e44"],  # wrong, correct
    "edited": ["#ced4da", GUIDED, "#e8590c"],  # not edited, edited last chunk, pending
}

Ghosts = tuple[np.ndarray, np.ndarray]  # (start (m, 2), target (m, 2)) on the map


def typed(a: np.ndarray, dtype: str = "f4") -> dict:
    """A plotly.js typed-array spec: compact in patches (no per-number JSON)."""
    a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode("ascii")}


def category_colours(names: list[str], by: str) -> list[str]:
    if by in SPECIAL_COLOURS:
        return SPECIAL_COLOURS[by][: len(names)]
    return [CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(len(names))]


def marker_for(codes: np.ndarray, names: list[str], by: str, as_typed: bool = False) -> dict:
    """Marker of the main trace: category codes on a stepped colour scale with a legend bar."""
    colours = category_colours(names, by)
    k = max(len(colours), 1)
    scale = []
    for i, c in enumerate(colours):
        scale += [[i / k, c], [(i + 1) / k, c]]
    return {
        "size": 5,
        "opacity": 0.85,
        "color": typed(codes, "i2") if as_typed else np.asarray(codes, np.int16),
        "colorscale": scale or [[0, "#888"], [1, "#888"]],
        "cmin": -0.5,
        "cmax": k - 0.5,
        "showscale": True,
        "colorbar": {
            "tickvals": list(range(k)),
            "ticktext": list(names),
            "thickness": 10,
            "len": 0.85,
            "title": {"text": by, "side": "top"},
            "x": 1.0,
            "xanchor": "left",
            "xpad": 6,
            "outlinewidth": 0,
        },
    }


def hover_texts(
    y: np.ndarray, pred: np.ndarray, split: np.ndarray, label_names: list[str]
) -> np.ndarray:
    """'label a · pred b · split' per point, built from a small table of combinations."""
    splits = np.array(["train", "val", "test"])
    k = len(label_names)
    table = np.array(
        [[f"label {a} · pred {b} · {s}" for s in splits for b in label_names] for a in label_names]
    ).reshape(k, 3 * k)
    s_code = np.searchsorted(np.array(["test", "train", "val"]), split)
    s_code = np.array([2, 0, 1])[s_code]  # sorted order -> train, val, test
    return table[y, s_code * k + pred]


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
            "x": ax,
            "y": ay,
            "mode": "lines",
            "opacity": 0.55,
            "line": {"color": colour, "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": f"{name} arrows",
        },
        {
            "type": "scattergl",
            "x": np.asarray(target[:, 0], np.float32),
            "y": np.asarray(target[:, 1], np.float32),
            "mode": "markers",
            "name": name,
            "marker": {"symbol": "circle-open", "size": 7, "color": colour, "line": {"width": 1.5}},
            "hoverinfo": "skip",
            "showlegend": len(start) > 0,
        },
    ]


def make_map_figure(
    coords: np.ndarray,
    codes: np.ndarray,
    names: list[str],
    color_by: str,
    hover: np.ndarray,
    uirevision: str,
    box: list[float] | None = None,
    pending: Ghosts | None = None,
    preview: Ghosts | None = None,
    edit_revision: str = "",
    selected: np.ndarray | None = None,
    selection_revision: str = "",
) -> go.Figure:
    """The map: points coloured by category, the selection box, the ghost targets.

    `uirevision` should stay the same for a run so zoom persists across chunks;
    `edit_revision` changes when a dragged box should snap back to `box`;
    `selection_revision` changes when the points moved (a new checkpoint): plotly's
    lasso outline is dropped then and the selection is drawn from `selected`.
    """
    main = {
        "type": "scattergl",
        "x": np.asarray(coords[:, 0], np.float32),
        "y": np.asarray(coords[:, 1], np.float32),
        "mode": "markers",
        "marker": marker_for(codes, names, color_by),
        "text": hover,
        "hovertemplate": "#%{pointNumber} · %{text}<extra></extra>",
        "showlegend": False,
        "name": "points",
        "selected": {"marker": {"opacity": 1.0}},
        "unselected": {"marker": {"opacity": 0.25}},
    }
    if selected is not None and len(selected):
        main["selectedpoints"] = np.asarray(selected, np.int32)
    layout = map_layout(uirevision, edit_revision)
    layout |= {
        "shapes": [box_shape(box)] if box else [],
        "selections": [],
        "selectionrevision": selection_revision or uirevision,
    }
    return go.Figure(
        [
            main,
            *_ghost_traces(pending, PENDING_COLOUR, "targets of pending edits"),
            *_ghost_traces(preview, PREVIEW_COLOUR, "preview (not applied)"),
        ],
        layout,
    )


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
    """Lasso by default, click-anywhere events, equal axes, stable `uirevision`."""
    axis = {
        "zeroline": False,
        "showgrid": True,
        "gridcolor": "#f1f3f5",
        "tickfont": {"size": 9, "color": "#adb5bd"},
    }
    return {
        "template": TEMPLATE,
        "height": MAP_HEIGHT,
        # a fixed right margin holds the colour bar: recolouring never resizes the map
        "margin": {"l": 10, "r": 130, "t": 28, "b": 10, "autoexpand": False},
        "dragmode": "lasso",
        "clickmode": "event",
        "hovermode": "closest",
        "clickanywhere": True,
        "uirevision": uirevision,
        "editrevision": f"{uirevision}:{edit_revision}",
        "legend": {
            "x": 0.01,
            "y": 0.99,
            "xanchor": "left",
            "yanchor": "top",
            "bgcolor": "rgba(255,255,255,0.75)",
            "font": {"size": 11},
        },
        "xaxis": axis,
        "yaxis": axis | {"scaleanchor": "x", "scaleratio": 1},
        "hoverlabel": {"font": {"size": 11}},
    }


# -- patches (partial updates of a drawn map) -------------------------------------------


def patch_colours(patch: Patch, codes: np.ndarray, names: list[str], color_by: str) -> Patch:
    patch["data"][MAIN]["marker"] = marker_for(codes, names, color_by, as_typed=True)
    return patch


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
