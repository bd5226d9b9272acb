"""Compare's computing side (compare_view), the Runs page's lineage (runs_view) and the pure
compare figures, on a real small run: digits, MLP, PCA map, chunks 0-3 (pull, compact, none)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from hill_dash.dashboard import compare_view as CV
from hill_dash.dashboard import runs_view as RV
from hill_dash.dashboard.figures import FLAG_RED
from hill_dash.dashboard.figures.compare import (
    make_class_delta_figure,
    make_confusion_diff_figure,
    make_map_pair,
)
from hill_dash.dashboard.figures.theme import DARK_BG, TEMPLATES
from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
from tests.conftest import pull_then_compact_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits):
    store = RunStore(tmp_path_factory.mktemp("compare-view"))
    run_id = pull_then_compact_run(store, digits)
    loop.run_chunk(store, run_id)  # chunk 3: no edits, so no counterfactual
    f2 = store.load_run(run_id)["chunks"][2]["counterfactual"]
    assert f2 == "f2"
    return store, run_id, f2


def test_baselines_per_chunk_follow_the_contract(run):
    store, run_id, f2 = run
    chunks = store.load_run(run_id)["chunks"]
    assert CV.baseline(chunks[0], CV.LINEAGE)[0] == "c0"
    assert CV.baseline(chunks[0], CV.COUNTERFACTUAL)[0] is None
    assert CV.comparison_options(chunks[0])[1]["label"] == "counterfactual chunk (none at chunk 0)"
    assert CV.baseline(chunks[2], CV.LINEAGE) == ("u2", "")
    assert CV.baseline(chunks[2], CV.COUNTERFACTUAL) == (f2, "")
    ck, note = CV.baseline(chunks[1], CV.COUNTERFACTUAL)
    assert ck == "u1" and "unguided lineage's chunk u1" in note
    ck, note = CV.baseline(chunks[3], CV.COUNTERFACTUAL)
    assert ck is None and "no edits" in note
    old = {k: v for k, v in chunks[2].items() if k != "counterfactual"}
    ck, note = CV.baseline(old, CV.COUNTERFACTUAL)
    assert ck is None and "before counterfactual chunks were recorded" in note
    opts = {o["value"]: o for o in CV.comparison_options(chunks[3])}
    assert opts[CV.LINEAGE]["label"] == "unguided lineage (u3)"
    assert opts[CV.COUNTERFACTUAL]["disabled"] and "no edits" in opts[CV.COUNTERFACTUAL]["label"]
    assert CV.comparison_options(chunks[2])[1]["label"] == f"counterfactual chunk ({f2})"


def test_a_view_never_holds_a_test_point_before_or_after_a_reveal(run, digits):
    store, run_id, _ = run
    sizes = store.load_run(run_id)["sizes"]
    for revealed in (False, True):
        if revealed:
            loop.reveal_test(store, run_id)
        run_json = store.load_run(run_id)
        for which in CV.COMPARISONS:
            view = CV.load_view(store, run_json, 2, which)
            assert len(view.shown) == sizes["train"] + sizes["val"]
            assert view.shown.max() < sizes["train"] + sizes["val"]
            assert set(view.split) == {"train", "val"}
            assert len(view.coords_g) == len(view.coords_o) == len(view.y) == len(view.shown)
        status = CV.test_split_status(run_json)
        assert status["untouched"] is (not revealed)
        assert ("no longer untouched" in status["text"]) is revealed
    assert "revealed 1 time " in CV.test_split_status(store.load_run(run_id))["text"]


def test_rows_are_guided_minus_the_chosen_baseline(run):
    store, run_id, f2 = run
    run_json = store.load_run(run_id)
    recs = store.metrics(run_id, run_json)
    for which, other in ((CV.LINEAGE, "u2"), (CV.COUNTERFACTUAL, f2)):
        view = CV.load_view(store, run_json, 2, which)
        rows = {r["key"]: r for r in view.rows}
        g, o = recs["g2"], recs[other]
        assert view.other == other
        assert rows["val_acc"]["delta"] == pytest.approx(g["val"]["acc"] - o["val"]["acc"])
        assert rows["gap"]["delta"] == pytest.approx(g["gap"] - o["gap"])
        assert rows["val_acc"]["percent"] and rows["val_loss"]["better"] == -1
        assert "adherence" not in rows  # realized shares replace it (contract)
        edited = store.load_arrays(run_id, "g2")["edited"].astype(bool)
        drift = store.load_arrays(run_id, other)["drift"]
        assert rows["drift_edited"]["other"] == pytest.approx(float(drift[edited].mean()))
        assert np.array_equal(view.conf_o, o["val"]["confusion"])
    cf = CV.load_view(store, run_json, 2, CV.COUNTERFACTUAL)
    assert not np.allclose(cf.coords_o, CV.load_view(store, run_json, 2).coords_o)
    # a side branch from the checkpoint the guided chunk started at (contract)
    info = run_json["checkpoints"][cf.other]
    assert (info["lineage"], info["parent"]) == (
        "counterfactual",
        run_json["chunks"][2]["from"]["guided"],
    )


def test_class_deltas_use_the_recorded_test_else_plain_differences(run):
    store, run_id, _ = run
    run_json = store.load_run(run_id)
    lineage = CV.load_view(store, run_json, 2, CV.LINEAGE)
    assert lineage.bias == store.metrics(run_id)["g2"]["bias"] and lineage.bias_note == ""
    cf = CV.load_view(store, run_json, 2, CV.COUNTERFACTUAL)
    g, o = store.metrics(run_id)["g2"], store.metrics(run_id)[cf.other]
    assert cf.bias == g["counterfactual"]["bias"] and cf.bias_note == ""
    assert cf.shifts == g["counterfactual"]["shifts"]
    # a run from before the bias test for this pair: plain differences, nothing flagged
    old = {k: v for k, v in g.items() if k != "counterfactual"}
    bias, note = CV.class_deltas(old, o, CV.COUNTERFACTUAL, [5])
    assert [b["delta"] for b in bias] == pytest.approx(
        list(np.subtract(g["val"]["per_class"], o["val"]["per_class"]))
    )
    assert not any(b["flag"] for b in bias) and "no bias test recorded" in note
    assert [b["class"] for b in bias if b["touched"]] == [5]
    recorded = {"bias": [{"class": 0, "delta": -0.5, "flag": True, "touched": False}]}
    bias, note = CV.class_deltas({"counterfactual": recorded}, {}, CV.COUNTERFACTUAL, [])
    assert bias == recorded["bias"] and note == ""


def test_points_behind_a_confusion_cell_and_a_class_bar(run):
    store, run_id, _ = run
    view = CV.load_view(store, store.load_run(run_id), 1, CV.LINEAGE)
    conf_g, conf_o = np.array(view.conf_g), np.array(view.conf_o)
    off = conf_g + conf_o - np.diag(np.diag(conf_g + conf_o))
    a, b = np.unravel_index(off.argmax(), off.shape)
    cell = CV.points_of_cell(view, int(a), int(b))
    assert (cell["guided"], cell["other"]) == (conf_g[a, b], conf_o[a, b])
    pos = np.searchsorted(view.shown, cell["indices"])
    assert set(view.split[pos]) == {"val"} and set(view.y[pos]) == {a}
    assert np.all((view.pred_g[pos] == b) | (view.pred_o[pos] == b))
    assert (
        max(cell["guided"], cell["other"]) <= len(cell["indices"]) <= cell["guided"] + cell["other"]
    )
    cls = CV.points_of_class(view, 3)
    _, y_all, split_all = CV.run_dataset(store, run_id)
    assert np.array_equal(cls, np.flatnonzero((y_all == 3) & (split_all != "test")))


def test_realized_shares_in_words():
    chunk = {
        "edits": [{"id": "e1", "kind": "pull", "indices": [1, 2, 3], "target_class": 8}],
        "realized": [
            {
                "edit": "e1",
                "kind": "pull",
                "latent": {"guided": 0.78, "counterfactual": 0.03, "twin": -0.01},
                "map": {"guided": 0.8, "counterfactual": None, "twin": 0.0},
            }
        ],
    }
    (row,) = CV.realized_rows(chunk, [str(i) for i in range(10)])
    assert row["what"] == "Pull 3 points to class 8 (α 1)"
    assert CV.realized_text(row) == (
        "in latent space: pulled 78 % of the way · counterfactual 3 % · unguided lineage -1 %"
        " (guided: map 80 %)"
    )
    assert CV.realized_text(row, "map") == (
        "on the map: pulled 80 % of the way · unguided lineage 0 % (guided: latent 78 %)"
    )


def test_runs_lineage_names_both_baselines(run):
    store, run_id, f2 = run
    run_json = store.load_run(run_id)
    assert RV.lineage_summary(run_json) == (
        f"c0 → g1 → g2 → g3 · unguided lineage u1 → u2 → u3 · counterfactual chunk {f2}"
    )
    labels = {o["value"]: o["label"] for o in RV.checkpoint_options(run_json)}
    assert labels["u2"] == "u2 · unguided lineage · chunk 2"
    assert labels[f2] == f"{f2} · counterfactual chunk · chunk 2"
    nodes = {n["checkpoint"]: n for n in RV.lineage_nodes(run_json, store.metrics(run_id))}
    assert nodes[f2]["parent"] == "g1" and nodes["u2"]["parent"] == "u1"
    rows = RV.chunk_rows(store, run_json)
    recs = store.metrics(run_id)
    assert [r["counterfactual_chunk"] for r in rows] == [None, "u1", f2, None]
    assert rows[2]["delta_vs_counterfactual_chunk"] == pytest.approx(
        recs["g2"]["val"]["acc"] - recs[f2]["val"]["acc"]
    )
    assert rows[2]["delta_vs_unguided_lineage"] == pytest.approx(
        recs["g2"]["val"]["acc"] - recs["u2"]["val"]["acc"]
    )
    parsed = list(csv.DictReader(io.StringIO(RV.rows_csv(rows))))
    assert list(parsed[0]) == list(RV.CHUNK_COLUMNS)
    assert "twin" not in ",".join(RV.CHUNK_COLUMNS)
    assert parsed[2]["counterfactual_chunk"] == f2 and parsed[0]["unguided_lineage"] == ""


# -- figures -------------------------------------------------------------------------------


def test_maps_carry_global_indices_and_show_a_selection_on_both(run):
    store, run_id, _ = run
    view = CV.load_view(store, store.load_run(run_id), 2, CV.COUNTERFACTUAL)
    chosen = view.shown[view.y == 4][:7]
    fig_g, fig_o = make_map_pair(view, ("g", "o"), selected=chosen, theme="dark")
    for fig in (fig_g, fig_o):
        ids = np.concatenate([np.asarray(t.ids, dtype=int) for t in fig.data])
        assert sorted(ids.tolist()) == view.shown.tolist()
        picked = [np.asarray(t.ids, dtype=int)[list(t.selectedpoints)] for t in fig.data]
        assert sorted(np.concatenate(picked).tolist()) == sorted(chosen.tolist())
        assert fig.layout.template.layout.paper_bgcolor == DARK_BG
        assert fig.layout.xaxis.range == fig_g.layout.xaxis.range
        assert all(t.type == "scatter" for t in fig.data)  # small maps animate (SVG)
    plain, _ = make_map_pair(view, ("g", "o"))
    assert plain.layout.title.text == "g" and plain.data[0].text is not None
    moving, _ = make_map_pair(view, ("g", "o"), animated=True)
    assert moving.layout.title.text is None and moving.data[0].text is None
    assert moving.layout.transition.duration > 0
    assert all(t.selectedpoints is None for t in plain.data)
    assert plain.layout.template.layout.paper_bgcolor == TEMPLATES["light"].layout.paper_bgcolor


def test_class_bars_are_red_where_flagged_and_outlined_where_touched():
    bias = [
        {"class": 0, "delta": -0.2, "se": 0.02, "flag": True, "touched": True},
        {"class": 1, "delta": 0.01, "se": 0.02, "flag": False, "touched": False},
    ]
    bar = make_class_delta_figure(bias, ["zero", "one"], "unguided lineage").data[0]
    assert bar.marker.color[0] == FLAG_RED and bar.marker.color[1] != FLAG_RED
    assert bar.marker.line.width[0] > 0 and bar.marker.line.width[1] == 0
    assert list(bar.y) == pytest.approx([-20.0, 1.0])
    assert list(bar.error_y.array) == pytest.approx([4.0, 4.0])
    paired = [
        {
            "class": 0,
            "delta": -0.1,
            "flag": True,
            "touched": False,
            "gained": 1,
            "lost": 9,
            "p_adj": 0.012,
        }
    ]
    fig = make_class_delta_figure(paired, ["zero"], "counterfactual chunk")
    assert fig.data[0].error_y.array is None
    assert "1 gained, 9 lost · p = 0.012 (adjusted)" in fig.data[0].hovertext[0]
    assert "guided − counterfactual chunk" in fig.layout.title.text


def test_confusion_difference_outlines_flagged_shifts():
    shifts = [{"true": 1, "pred": 0, "flag": True}, {"true": 0, "pred": 1, "flag": False}]
    fig = make_confusion_diff_figure([[5, 1], [0, 4]], [[4, 2], [1, 3]], ["a", "b"], "x", shifts)
    heat = fig.data[0]
    assert np.array_equal(np.array(heat.z), [[1, -1], [-1, 1]])
    assert heat.zmin == -1 and heat.zmax == 1 and heat.zmid == 0
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (-0.5, 0.5, 0.5, 1.5)


def test_unlabelled_points_are_drawn_grey_not_dropped():
    from hill_dash.dashboard.figures.compare import UNLABELLED, make_lineage_map

    labels = np.array([0, 1, -1, -1, 1])
    coords = np.arange(10, dtype=float).reshape(5, 2)
    fig = make_lineage_map(
        coords,
        labels,
        np.arange(5),
        np.array([0, 1, 1, 0, 1]),
        ["a", "b"],
        "t",
        ([0.0, 10.0], [0.0, 10.0]),
    )
    assert [t.name for t in fig.data] == ["a", "b", "unlabelled"]
    assert list(fig.data[2].ids) == ["2", "3"] and fig.data[2].marker.color == UNLABELLED
    assert sum(len(t.x) for t in fig.data) == 5
