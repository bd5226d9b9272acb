"""The latent map of the Loop page: every point in one Scattergl trace, the selection box,
and ghost targets of the edits (rings at the end of thin arrows).

One trace (`MAIN`) holds the points; the selection box and the ghosts are layout shapes
in a fixed order (`BOX`, then pending and preview arrows and rings). A callback patches
colours, selection, box or ghosts with `dash.Patch` without resending the points, and
a shape patch does not make the browser redraw the points (WebGL redraws are what a
large map costs). Every array goes to the browser as a typed array, and there is no
per-point text: the page's tooltip asks the server about the one point under the pointer.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from hill_dash.dashboard.figures import CLASS_COLOURS, GUIDED, TEMPLATE
from hill_dash.engine.projection.state import extent

MAIN = 0  # the one trace
BOX, PENDING_ARROWS, PENDING_GHOSTS, PREVIEW_ARROWS, PREVIEW_GHOSTS = range(5)  # shapes
RING = 0.006  # ghost ring radius, as a share of the map's extent
PENDING_COLOUR = "#212529"  # targets of the edits the next chunk will use
PREVIEW_COLOUR = "#e8590c"  # targets of the edit being prepared (not applied yet)
UNSELECTED = "#ced4da"  # points outside the selection: greyed, still drawn
# the two ghost layers (rings at the targets), as the key beside the map names them
GHOST_LEGEND = (
    (PENDING_COLOUR, "targets of pending edits"),
    (PREVIEW_COLOUR, "preview (not applied)"),
)
MAP_HEIGHT = 560
IMAGE_OPTIONS = {"format": "png", "filename": "hill-latent-map", "scale": 2}
GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "edits": {"shapePosition": True},  # the selection box can be dragged: the move gesture
    "editSelection": False,  # a dragged lasso outline would re-select, not move
    "modeBarButtonsToRemove": ["autoScale2d"],
    "toImageButtonOptions": IMAGE_OPTIONS,
    # WebGL at the screen's CSS resolution, not plotly's default 2x supersampling: a map of
    # 2-5 px points looks the same, and every frame (a selection, a zoom) costs half as
    # much where WebGL is rendered on the CPU (200 000 points: 0.43 s a frame, not 0.7 s)
    "plotGlPixelRatio": 1,
}
SPECIAL_COLOURS = {
    "correct": ["#e03131", "#2f9e44"],  # wrong, correct
    "edited": ["#ced4da", GUIDED, "#e8590c"],  # not edited, edited last chunk, pending
    "split": ["#1f5fbf", "#f08c00"],  # train, val
}
UNLABELLED_COLOUR = "#868e96"
CONTINUOUS_SCALE = "Viridis"

Ghosts = tuple[np.ndarray, np.ndarray]  # (start (m, 2), target (m, 2)) on the map
_TEMPLATE_LAYOUT = TEMPLATE.layout.to_plotly_json()
TEMPLATE_LOOK = {
    k: _TEMPLATE_LAYOUT[k]
    for k in ("font", "paper_bgcolor", "plot_bgcolor", "hoverlabel", "colorway")
    if k in _TEMPLATE_LAYOUT
}


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
    for i, name in enumerate(names):
        if name in ("unlabelled", "excluded"):  # annotations: excluded points are greyed
            colours[i] = UNLABELLED_COLOUR
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
    base = {"size": marker_size(len(c.values)), "opacity": 0.85, "showscale": True}
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


def arrow_path(start: np.ndarray, target: np.ndarray) -> str:
    """One SVG path drawing every arrow (start to target) in data coordinates."""
    if len(start) == 0:
        return ""
    xy = np.concatenate([start, target], axis=1).astype(np.float64)
    return "".join(f"M{a:.4g},{b:.4g}L{c:.4g},{d:.4g}" for a, b, c, d in xy)


_RING = np.exp(2j * np.pi * np.arange(6) / 6)  # a hexagon reads as a ring at this size


def ring_path(target: np.ndarray, radius: float) -> str:
    """One SVG path of small rings (hexagons) around the targets, in data coordinates
    (plotly's shape paths take absolute M/L/Z only; the axes share a scale)."""
    if len(target) == 0:
        return ""
    t = np.asarray(target, np.float64)
    xs = t[:, :1] + radius * _RING.real
    ys = t[:, 1:2] + radius * _RING.imag
    return "".join(
        "M" + "L".join(f"{x:.4g},{y:.4g}" for x, y in zip(rx, ry, strict=True)) + "Z"
        for rx, ry in zip(xs, ys, strict=True)
    )


# Shapes are never switched off (`visible` makes plotly recompute every point): an unused
# ghost layer is an empty path, an unused box is transparent; both sit at the middle of
# the map (`home`), so they never widen its range.


def box_shape(box: list[float] | None, home: tuple[float, float] = (0.0, 0.0)) -> dict:
    """The draggable rectangle around the selection (shapes[BOX]); transparent without one."""
    x0, x1, y0, y1 = box if box else (home[0], home[0], home[1], home[1])
    return {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": x0,
        "x1": x1,
        "y0": y0,
        "y1": y1,
        "opacity": 1 if box else 0,
        "layer": "above",
        "fillcolor": "rgba(31,95,191,0.05)",
        # solid: a dashed edge can only be grabbed on its dashes (the inside lets the pointer
        # through to the points, see assets/loop.css)
        "line": {"color": GUIDED, "width": 3},
    }


def ghost_shapes(
    ghosts: Ghosts | None,
    colour: str,
    name: str,
    radius: float,
    home: tuple[float, float] = (0.0, 0.0),
) -> list[dict]:
    """Arrows and rings of one ghost layer as two path shapes (the rings in the legend)."""
    start, target = ghosts if ghosts is not None else (np.zeros((0, 2)), np.zeros((0, 2)))
    nothing = f"M{home[0]:.5g},{home[1]:.5g}"
    base = {"type": "path", "xref": "x", "yref": "y", "layer": "above"}
    return [
        base
        | {
            "path": arrow_path(start, target) or nothing,
            "line": {"color": colour, "width": 1},
            "opacity": 0.55,
            "showlegend": False,
            "name": f"{name} (arrows)",
        },
        base
        | {
            "path": ring_path(target, radius) or nothing,
            "line": {"color": colour, "width": 1.5},
            # never transparent, never hidden (switching either recomputes every point):
            # an unused layer is an empty path. Not in plotly's legend either: a shape in
            # the legend makes every zoom recompute every point (1.2 s at 200 000); the
            # page shows the key beside the map (GHOST_LEGEND)
            "opacity": 1,
            "showlegend": False,
            "name": name,
        },
    ]


def ring_radius(coords: np.ndarray) -> float:
    if len(coords) == 0:
        return 0.05
    lo, hi = extent(coords)
    return max(float(np.max(hi - lo)), 1e-6) * RING


def marker_size(n: int) -> float:
    """Smaller markers on denser maps: they stay readable and draw faster."""
    return 5.0 if n <= 20_000 else 3.0 if n <= 100_000 else 2.0


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
    data_revision: str = "",
) -> dict:
    """The map as a figure dict: points coloured by `colouring`, the selection box, the
    ghost targets. A dict, not a `go.Figure`: validating 200,000 points costs time and
    every array is already a typed-array spec.

    `uirevision` should stay the same for a run so zoom persists across chunks;
    `edit_revision` changes when a dragged box should snap back to `box`;
    `selection_revision` changes when the points moved (a new checkpoint): plotly's
    lasso outline is dropped then and the selection is drawn from `selected`;
    `data_revision` must change whenever a later patch changes a data array (colours,
    selection): with it, plotly does not compare 200,000-point arrays on every update,
    and a patch of shapes alone does not redraw the points.
    """
    layout = map_layout(uirevision, edit_revision)
    layout |= {
        "datarevision": data_revision or uirevision,
        "shapes": map_shapes(box, pending, preview, ring_radius(coords), home(coords)),
        "selections": [],
        "selectionrevision": selection_revision or uirevision,
    }
    return {"data": [main_trace(coords, colouring, selected)], "layout": layout}


def map_shapes(
    box: list[float] | None,
    pending: Ghosts | None,
    preview: Ghosts | None,
    radius: float,
    where: tuple[float, float] = (0.0, 0.0),
) -> list[dict]:
    """Every shape of the map in its fixed place: box, pending arrows and rings, preview
    arrows and rings."""
    return [
        box_shape(box, where),
        *ghost_shapes(pending, *GHOST_LEGEND[0], radius, where),
        *ghost_shapes(preview, *GHOST_LEGEND[1], radius, where),
    ]


def home(coords: np.ndarray) -> tuple[float, float]:
    """Where unused shapes wait: the middle of the map (never widening its range)."""
    if len(coords) == 0:
        return (0.0, 0.0)
    lo, hi = extent(coords)
    mid = (lo + hi) / 2
    return (float(mid[0]), float(mid[1]))


def make_empty_map_figure(message: str) -> go.Figure:
    """The map's placeholder: the same traces (empty) so patches stay valid, and a message."""
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
    layout["shapes"] = map_shapes(None, None, None, 0.05)
    layout["showlegend"] = False
    return go.Figure([main], layout)


def map_layout(uirevision: str, edit_revision: str) -> dict:
    """Lasso by default, click-anywhere events, equal axes, stable `uirevision`.

    The colour bar sits in the right margin, so it never covers points; the key of the
    ghost rings is drawn by the page above the map.
    """
    axis = {
        "zeroline": False,
        "showgrid": True,
        "gridcolor": "#eef0f2",
        "tickfont": {"size": 11, "color": "#495057"},
        "automargin": False,
    }
    return {
        # the template's look inline, not `template`: the graph clones the layout on every
        # update, and a cloned template makes plotly recompute and redraw every point
        **TEMPLATE_LOOK,
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
        "showlegend": False,  # the ghosts' key is the page's (GHOST_LEGEND), not plotly's
        # equal units on both axes are set by the page once per map (assets/loop.js,
        # `equalAspect`): plotly's scaleanchor recomputes every point on each zoom
        "xaxis": axis,
        "yaxis": axis,
    }


# -- patches (partial updates of a drawn map) -------------------------------------------


def colour_token(c: Colouring) -> str:
    """A short token of everything the colours draw: equal tokens, the same colours."""
    digest = hashlib.blake2b(np.ascontiguousarray(c.values).tobytes(), digest_size=8)
    digest.update(repr((c.by, c.names, c.title, c.cmin, c.cmax, c.tickformat)).encode())
    return f"{c.by}:{len(c.values)}:{digest.hexdigest()}"


def patch_colours(patch: Patch, colouring: Colouring, data_revision: str) -> Patch:
    patch["data"][MAIN]["marker"] = marker_for(colouring)
    patch["layout"]["datarevision"] = data_revision
    return patch


def patch_box(
    patch: Patch,
    box: list[float] | None,
    edit_revision: str,
    uirevision: str,
    where: tuple[float, float] = (0.0, 0.0),
) -> Patch:
    patch["layout"]["shapes"][BOX] = box_shape(box, where)
    patch["layout"]["editrevision"] = f"{uirevision}:{edit_revision}"
    return patch


def patch_ghosts(
    patch: Patch,
    pending: Ghosts | None,
    preview: Ghosts | None,
    radius: float,
    where: tuple[float, float] = (0.0, 0.0),
    with_pending: bool = True,
) -> Patch:
    """The ghost shapes only (the points are not redrawn); the pending layer only when
    `with_pending` (it changes with the pending edits, not with the preview)."""
    shapes = map_shapes(None, pending, preview, radius, where)
    first = PENDING_ARROWS if with_pending else PREVIEW_ARROWS
    for i in range(first, PREVIEW_GHOSTS + 1):
        patch["layout"]["shapes"][i] = shapes[i]
    return patch
