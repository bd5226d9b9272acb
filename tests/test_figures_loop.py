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


def test_map_figure_has_fixed_traces_lasso_and_an_editable_box():
    coords, y, pred, split = small_map()
    start, target = coords[:2], coords[:2] + [1.0, -1.0]
    fig = LM.make_map_figure(
        coords,
        y,
        ["a", "b", "c"],
        "label",
        LM.hover_texts(y, pred, split, ["a", "b", "c"]),
        "run-1",
        box=[0, 1, 2, 3],
        pending=(start, target),
        preview=None,
        edit_revision="7",
        selected=np.array([1, 2]),
        selection_revision="run-1:g2",
    )
    assert [t.type for t in fig.data] == ["scattergl"] * 5
    assert [t.name for t in fig.data][LM.MAIN] == "points"
    main = fig.data[LM.MAIN]
    np.testing.assert_array_equal(main.x, coords[:, 0])
    assert list(main.selectedpoints) == [1, 2]
    assert fig.layout.dragmode == "lasso" and fig.layout.uirevision == "run-1"
    assert fig.layout.selectionrevision == "run-1:g2" and fig.layout.editrevision == "run-1:7"
    assert fig.layout.clickanywhere is True
    shape = fig.layout.shapes[0]
    assert shape.editable and (shape.x0, shape.x1, shape.y0, shape.y1) == (0, 1, 2, 3)
    arrows = fig.data[LM.PENDING_ARROWS]
    np.testing.assert_array_equal(arrows.x[:3], [0, 1, np.nan])
    np.testing.assert_array_equal(arrows.y[:2], [1, 0])
    np.testing.assert_array_equal(fig.data[LM.PENDING_GHOSTS].x, target[:, 0])
    assert fig.data[LM.PENDING_GHOSTS].marker.symbol == "circle-open"
    assert fig.data[LM.PREVIEW_GHOSTS].showlegend is False  # nothing to preview
    assert LM.GRAPH_CONFIG["displaylogo"] is False
    assert LM.GRAPH_CONFIG["edits"] == {"shapePosition": True}


def test_hover_texts_name_label_prediction_and_split():
    coords, y, pred, split = small_map()
    text = LM.hover_texts(y, pred, split, ["zero", "one", "two"])
    assert text[2] == "label two · pred one · train"
    assert text[4] == "label one · pred two · val"
    assert text[5] == "label two · pred two · test"


def test_colours_are_stepped_categories_and_patches_stay_small():
    codes = np.array([0, 2, 1, 1], np.int16)
    marker = LM.marker_for(codes, ["wrong", "correct", "x"], "label")
    assert marker["cmin"] == -0.5 and marker["cmax"] == 2.5
    assert marker["colorbar"]["ticktext"] == ["wrong", "correct", "x"]
    assert (
        len(marker["colorscale"]) == 6 and marker["colorscale"][0][1] == marker["colorscale"][1][1]
    )
    assert (
        LM.marker_for(codes[:2], ["wrong", "correct"], "correct")["colorscale"][0][1]
        == (LM.SPECIAL_COLOURS["correct"][0])
    )
    patch = LM.patch_colours(Patch(), np.arange(20_000) % 10, [str(i) for i in range(10)], "label")
    op = patch.to_plotly_json()["operations"][0]
    assert op["location"] == ["data", LM.MAIN, "marker"]
    np.testing.assert_array_equal(decode(op["params"]["value"]["color"]), np.arange(20_000) % 10)
    assert len(json.dumps(patch.to_plotly_json())) < 60_000


def test_ghost_and_box_patches_touch_only_their_traces():
    start = np.array([[0, 0], [1, 1]], np.float32)
    patch = LM.patch_ghosts(Patch(), (start, start + 1), None)
    ops = {tuple(o["location"]): o["params"]["value"] for o in patch.to_plotly_json()["operations"]}
    assert {k[1] for k in ops} == {1, 2, 3, 4}
    np.testing.assert_array_equal(decode(ops[("data", 2, "x")]), [1, 2])
    assert ops[("data", 2, "showlegend")] is True and ops[("data", 4, "showlegend")] is False
    arrows_x = decode(ops[("data", 1, "x")])
    np.testing.assert_array_equal(arrows_x[[0, 1, 3, 4]], [0, 1, 1, 2])
    assert np.isnan(arrows_x[[2, 5]]).all()
    box = LM.patch_box(Patch(), [0, 1, 0, 1], "3", "run").to_plotly_json()["operations"]
    assert [o["location"] for o in box] == [["layout", "shapes"], ["layout", "editrevision"]]
    assert box[1]["params"]["value"] == "run:3"


def test_empty_map_keeps_the_traces_and_says_why():
    fig = LM.make_empty_map_figure("No run yet — click Train chunk to start on digits")
    assert len(fig.data) == 5
    assert fig.layout.annotations[0].text.startswith("No run yet")


def test_accuracy_and_gap_draw_guided_strong_and_twin_grey_dashed():
    fig = P.make_accuracy_figure([0, 1], [0.8, 0.9], [0.7, 0.85], [0.8, 0.88], [0.7, 0.8])
    by_name = {t.name: t for t in fig.data}
    assert by_name["guided val"].line.color == GUIDED and by_name["guided val"].line.dash == "solid"
    assert by_name["twin val"].line.color == TWIN and by_name["twin val"].line.dash == "dash"
    assert list(by_name["twin val"].y) == [0.7, 0.8]
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


def test_adherence_skips_chunks_without_edits_and_drift_styles_roles():
    fig = P.make_adherence_figure([0, 1, 2], [None, 0.6, -0.1])
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [0.6, -0.1]
    assert fig.layout.yaxis.range[0] < -0.1
    drift = P.make_drift_figure(
        [1, 2],
        [
            ("edited", [0.3, 0.2], "guided"),
            ("rest", [0.1, 0.1], "guided-rest"),
            ("twin", [0.12, 0.1], "twin"),
        ],
    )
    assert [t.line.dash for t in drift.data] == ["solid", "dot", "dash"]


def test_sample_figure_by_kind():
    img = P.make_sample_figure(np.eye(8), "image")
    assert img.data[0].type == "heatmap" and img.layout.yaxis.autorange == "reversed"
    seq = P.make_sample_figure(np.sin(np.arange(40)), "sequence")
    assert seq.data[0].type == "scatter" and len(seq.data[0].y) == 40
    assert P.make_sample_figure(np.ones(5), "flat").data[0].type == "bar"
    note = P.placeholder_figure("No chunk yet")
    assert note.layout.annotations[0].text == "No chunk yet"
