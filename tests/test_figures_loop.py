"""Figures of the Loop page: trace order, styles and the numbers they carry."""

from __future__ import annotations

import base64
import json

import numpy as np
from dash import Patch

from hill_dash.dashboard.figures import FLAG_RED, GUIDED, TWIN
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.dashboard.figures import panels as P


def decode(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]))


def small_map(n: int = 6):
    coords = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    y = np.array([0, 1, 2, 0, 1, 2])[:n]
    pred = np.array([0, 1, 1, 0, 2, 2])[:n]
    split = np.array(["train", "train", "train", "train", "val", "test"])[:n]
    return coords, y, pred, split


def test_map_figure_has_one_trace_a_box_and_ghost_shapes_and_no_hover_text():
    coords, y, pred, split = small_map()
    start, target = coords[:2], coords[:2] + [1.0, -1.0]
    fig = LM.make_map_figure(
        coords,
        LM.Colouring("label", y, ("a", "b", "c")),
        "run-1",
        box=[0, 1, 2, 3],
        pending=(start, target),
        preview=None,
        edit_revision="7",
        selected=np.array([1, 2]),
        selection_revision="run-1:g2",
        data_revision="label:3:1",
    )
    data, layout = fig["data"], fig["layout"]
    assert [t["type"] for t in data] == ["scattergl"]
    main = data[LM.MAIN]
    assert main["name"] == "points"
    np.testing.assert_array_equal(decode(main["x"]), coords[:, 0])
    assert decode(main["selectedpoints"]).tolist() == [1, 2]
    # no per-point text: the tooltip asks the server; points outside the selection greyed
    assert "text" not in main and "hovertext" not in main and main["hoverinfo"] == "none"
    assert main["unselected"]["marker"]["color"] == LM.UNSELECTED
    assert layout["dragmode"] == "lasso" and layout["uirevision"] == "run-1"
    assert layout["selectionrevision"] == "run-1:g2" and layout["editrevision"] == "run-1:7"
    assert layout["datarevision"] == "label:3:1"
    # no template object (a cloned template makes plotly redraw every point) and no
    # scaleanchor (it recomputes every point on each zoom): the page sets equal units
    assert "template" not in layout and "scaleanchor" not in layout["yaxis"]
    shapes = layout["shapes"]
    assert len(shapes) == 5 and all("visible" not in s for s in shapes)
    box = shapes[LM.BOX]
    assert [box[k] for k in ("x0", "x1", "y0", "y1")] == [0, 1, 2, 3] and box["opacity"] == 1
    assert shapes[LM.PENDING_ARROWS]["path"] == "M0,1L1,0M2,3L3,2"
    rings = shapes[LM.PENDING_GHOSTS]
    assert rings["path"].count("M") == 2 and rings["opacity"] == 1
    # nothing to preview: its rings are an empty path at the map's middle
    idle = shapes[LM.PREVIEW_GHOSTS]
    assert idle["opacity"] == 1 and idle["path"] == "M5,6"  # the middle of x 0..10, y 1..11
    # no shape in plotly's legend (it would make every zoom recompute every point): the
    # page draws the key; the colour bar sits in the right margin
    assert layout["showlegend"] is False and not any(s.get("showlegend") for s in shapes)
    assert main["marker"]["colorbar"]["x"] >= 1.0
    assert layout["xaxis"]["tickfont"]["size"] >= 11
    assert LM.GRAPH_CONFIG["displaylogo"] is False
    assert LM.GRAPH_CONFIG["edits"] == {"shapePosition": True}
    assert "toImage" not in LM.GRAPH_CONFIG["modeBarButtonsToRemove"]
    assert LM.GRAPH_CONFIG["toImageButtonOptions"]["format"] == "png"
    json.dumps(fig)  # a plain figure dict of plain values


def test_ring_and_arrow_paths_and_marker_sizes():
    rings = LM.ring_path(np.array([[1.0, 2.0]]), 0.5)
    pts = [tuple(map(float, p.split(","))) for p in rings[1:-1].split("L")]
    assert len(pts) == 6 and rings.endswith("Z")
    np.testing.assert_allclose(np.hypot(*(np.array(pts) - [1, 2]).T), 0.5, atol=1e-3)
    assert LM.arrow_path(np.zeros((0, 2)), np.zeros((0, 2))) == ""
    assert LM.marker_size(5_000) > LM.marker_size(70_000) > LM.marker_size(200_000)


def test_colours_are_stepped_categories_or_a_continuous_scale_and_patches_stay_small():
    codes = np.array([0, 2, 1, 1], np.int16)
    marker = LM.marker_for(LM.Colouring("label", codes, ("wrong", "correct", "x")))
    assert marker["cmin"] == -0.5 and marker["cmax"] == 2.5
    assert marker["colorbar"]["ticktext"] == ["wrong", "correct", "x"]
    assert (
        len(marker["colorscale"]) == 6 and marker["colorscale"][0][1] == marker["colorscale"][1][1]
    )
    two = LM.marker_for(LM.Colouring("correct", codes[:2], ("wrong", "correct")))
    assert two["colorscale"][0][1] == LM.SPECIAL_COLOURS["correct"][0]
    values = np.array([0.2, np.nan, 0.9], np.float32)
    cont = LM.marker_for(LM.Colouring("confidence", values, (), "confidence", 0, 1, ".0%"))
    assert cont["colorscale"] == LM.CONTINUOUS_SCALE and cont["showscale"] is True
    assert (cont["cmin"], cont["cmax"]) == (0.0, 1.0)
    assert cont["colorbar"]["tickformat"] == ".0%" and "tickvals" not in cont["colorbar"]
    np.testing.assert_array_equal(decode(cont["color"]), values)
    colouring = LM.Colouring("label", np.arange(20_000) % 10, tuple(str(i) for i in range(10)))
    patch = LM.patch_colours(Patch(), colouring, "r2")
    op = patch.to_plotly_json()["operations"][0]
    assert op["location"] == ["data", LM.MAIN, "marker"]
    np.testing.assert_array_equal(decode(op["params"]["value"]["color"]), np.arange(20_000) % 10)
    assert len(json.dumps(patch.to_plotly_json())) < 60_000
    # a data array changed: a new data revision tells plotly to look at the arrays
    assert patch.to_plotly_json()["operations"][1]["location"] == ["layout", "datarevision"]


def test_ghost_and_box_patches_touch_only_their_shapes():
    start = np.array([[0, 0], [1, 1]], np.float32)
    patch = LM.patch_ghosts(Patch(), (start, start + 1), None, 0.1, (5.0, 5.0))
    ops = {tuple(o["location"]): o["params"]["value"] for o in patch.to_plotly_json()["operations"]}
    assert set(ops) == {("layout", "shapes", i) for i in range(1, 5)}  # never the points
    assert ops[("layout", "shapes", 1)]["path"] == "M0,0L1,1M1,1L2,2"
    assert ops[("layout", "shapes", 4)]["path"] == "M5,5"  # nothing drawn
    preview_only = LM.patch_ghosts(Patch(), None, (start, start), 0.1, with_pending=False)
    locations = [o["location"] for o in preview_only.to_plotly_json()["operations"]]
    assert locations == [["layout", "shapes", 3], ["layout", "shapes", 4]]
    box = LM.patch_box(Patch(), [0, 1, 0, 1], "3", "run").to_plotly_json()["operations"]
    assert [o["location"] for o in box] == [["layout", "shapes", 0], ["layout", "editrevision"]]
    assert box[1]["params"]["value"] == "run:3"
    gone = LM.patch_box(Patch(), None, "4", "run", (2.0, 3.0)).to_plotly_json()["operations"]
    shape = gone[0]["params"]["value"]
    assert shape["opacity"] == 0 and (shape["x0"], shape["y1"]) == (2.0, 3.0)


def test_empty_map_keeps_the_traces_and_says_why():
    fig = LM.make_empty_map_figure("No run yet — click Train chunk to start on digits")
    assert len(fig.data) == 1 and len(fig.layout.shapes) == 5
    assert fig.layout.annotations[0].text.startswith("No run yet")


def test_accuracy_and_gap_draw_guided_strong_and_twin_grey_dashed():
    fig = P.make_accuracy_figure([0, 1], [0.8, 0.9], [0.7, 0.85], [0.8, 0.88], [0.7, 0.8])
    by_name = {t.name: t for t in fig.data}
    assert by_name["guided val"].line.color == GUIDED and by_name["guided val"].line.dash == "solid"
    unguided = by_name["unguided val"]
    assert unguided.line.color == TWIN and unguided.line.dash == "dash"
    assert list(unguided.y) == [0.7, 0.8]
    assert list(fig.layout.xaxis.range) == [-0.5, 1.5]
    assert fig.layout.legend.orientation == "h"
    gap = P.make_gap_figure([0, 1, 2], [0.1, None, 0.05], [0.1, 0.12, 0.2])
    assert list(gap.data[0].y) == [0.1, None, 0.05] and gap.data[1].line.dash == "dash"


def test_bias_bars_flag_red_and_hatch_touched_classes():
    rows = [
        {"class": 0, "delta": -0.2, "se": 0.03, "flag": True, "touched": False},
        {"class": 1, "delta": 0.05, "se": 0.02, "flag": False, "touched": True},
        {"class": 2, "delta": None, "se": None, "flag": False, "touched": False},
    ]
    fig = P.make_bias_figure(rows, ["a", "b", "c"], chunk=3)
    bars = fig.data[0]
    assert list(bars.x) == ["a", "b", "c"] and list(bars.y) == [-0.2, 0.05, None]
    assert list(bars.marker.color) == [FLAG_RED, GUIDED, GUIDED]
    assert list(bars.marker.pattern.shape) == ["", "/", ""]
    assert list(bars.error_y.array) == [0.06, 0.04, None]
    assert "chunk 3" in fig.layout.yaxis.title.text
    # a class that did not change (a bar of no height) is hovered and clicked by its slot:
    # plotly's "closest" hover never finds such a bar (checked in headless Chromium)
    assert fig.layout.hovermode == "x"


def test_realized_share_bars_and_drift_styles_and_one_chunk_is_not_drawn_to_two():
    fig = P.make_realized_figure([1, 3], [0.78, None], [0.03, 0.1], [0.01, -0.2])
    assert [t.name for t in fig.data] == ["guided", "counterfactual", "unguided"]
    assert list(fig.data[0].y) == [0.78, None] and fig.data[0].marker.color == GUIDED
    assert fig.layout.barmode == "group" and fig.layout.yaxis.range[0] < -0.2
    assert fig.layout.yaxis.range[1] >= 1.0
    drift = P.make_drift_figure(
        [1],
        [
            ("edited", [0.3], "guided"),
            ("rest", [0.1], "guided-rest"),
            ("twin", [0.12], "twin"),
        ],
    )
    assert [t.line.dash for t in drift.data] == ["solid", "dot", "dash"]
    assert list(drift.layout.xaxis.range) == [0.5, 1.5]  # not 0 to 2 with one chunk


def test_step_curves_smooth_raw_and_mark_chunk_starts():
    starts = [(0, 0), (1, 2)]
    series = {
        "guided": {"step": [0, 1, 2, 3], "value": [1.0, 0.5, None, 0.2], "starts": starts},
        "twin": {"step": [0, 1, 2, 3], "value": [1.0, 0.6, 0.4, 0.3], "starts": starts},
    }
    smoothed = {k: {"step": s["step"], "value": list(s["value"])} for k, s in series.items()}
    fig = P.make_step_curves_figure(series, "loss", smoothed, log_y=True)
    assert [t.name for t in fig.data] == ["guided (raw)", "guided", "unguided (raw)", "unguided"]
    assert fig.layout.yaxis.type == "log" and len(fig.layout.shapes) == 1
    assert fig.layout.shapes[0].x0 == 2 and fig.data[3].line.dash == "dash"
    acc = P.make_step_curves_figure(series, "acc", smoothed, log_y=False)
    assert acc.layout.yaxis.type == "linear" and acc.layout.yaxis.tickformat == ".0%"


def test_sample_figure_by_kind():
    img = P.make_sample_figure(np.eye(8), "image")
    assert img.data[0].type == "heatmap" and img.layout.yaxis.autorange == "reversed"
    seq = P.make_sample_figure(np.sin(np.arange(40)), "sequence")
    assert seq.data[0].type == "scatter" and len(seq.data[0].y) == 40
    assert P.make_sample_figure(np.ones(5), "flat").data[0].type == "bar"
    note = P.placeholder_figure("No chunk yet")
    assert note.layout.annotations[0].text == "No chunk yet"
