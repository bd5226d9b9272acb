"""The Loop page's read side (hill_dash.dashboard.views) on a real digits run, in numbers."""

from __future__ import annotations

import numpy as np
import pytest

from hill_dash.dashboard import ghosts, history, selection, views, watchdog
from hill_dash.dashboard.chunk_settings import train_overrides
from hill_dash.dashboard.read_cache import checkpoint_arrays, run_dataset
from hill_dash.engine import loop
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import MapState, fit_map
from hill_dash.engine.teacher import Edit, build_teacher


@pytest.fixture
def run_md(run_copy):
    store, run_id = run_copy
    run = store.load_run(run_id)
    return store, run, views.load_map_data(store, run)


# -- selection ----------------------------------------------------------------------------


def test_selection_uses_point_index_of_the_main_trace_only():
    event = {
        "points": [
            {"curveNumber": 0, "pointIndex": 7, "pointNumber": 7, "customdata": 99},
            {"curveNumber": 0, "pointIndex": 3},
            {"curveNumber": 4, "pointIndex": 1},  # a ghost marker
            {"curveNumber": 0, "pointIndex": 7},
        ]
    }
    assert selection.selection_from_event(event) == [3, 7]
    assert selection.selection_from_event(None) == []
    assert selection.clean_indices([5, -1, 3, 3, True, "x", 10_000], 100).tolist() == [3, 5]


def test_next_selection_keeps_the_previous_and_survives_a_redrawn_map():
    def event(*idx):
        return {"points": [{"curveNumber": 0, "pointIndex": i} for i in idx]}

    def indices(store, key="bits"):
        return selection.decode_bits(store[key], 100).tolist()

    first = selection.next_selection(None, event(1, 2), "run:g1")
    assert indices(first) == [1, 2] and first["count"] == 2 and first["previous"] == ""
    assert (first["rev"], first["key"], first["source"]) == (1, "run:g1", "lasso")
    second = selection.next_selection(first, event(5), "run:g1")
    assert indices(second) == [5] and indices(second, "previous") == [1, 2]
    assert second["rev"] == 2
    assert selection.next_selection(second, event(5), "run:g1") is None  # nothing changed
    # a chunk redrew the map and plotly reported an empty selection: keep the points
    kept = selection.next_selection(second, None, "run:g2")
    assert indices(kept) == [5] and kept["rev"] == 2 and kept["key"] == "run:g2"
    # the person double-clicks on that map: now it is cleared
    cleared = selection.next_selection(kept, None, "run:g2")
    assert indices(cleared) == [] and indices(cleared, "previous") == [5]


def test_bitsets_round_trip_and_refuse_garbage():
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 200_000):
        idx = np.unique(rng.integers(0, n, size=min(n, 5000)))
        bits = selection.encode_indices(idx)
        assert selection.decode_bits(bits, n).tolist() == idx.tolist()
    big = selection.encode_indices(np.arange(200_000))
    assert len(big) <= 33_336  # 200,000 points in 25 kB of bits, as base64
    assert selection.decode_bits(selection.encode_indices([3, 90]), 50).tolist() == [3]
    for garbage in (None, 5, "", "not base64!", ["AQ=="]):
        assert selection.decode_bits(garbage, 100).tolist() == []
    store = {"bits": selection.encode_indices([1, 4]), "previous": selection.encode_indices([2])}
    cur, prev = selection.selected_points(store, 10)
    assert cur.tolist() == [1, 4] and prev.tolist() == [2]
    assert selection.combine(np.array([1, 2]), np.array([2, 3]), "add").tolist() == [1, 2, 3]
    assert selection.combine(np.array([1, 2]), np.array([2, 3]), "subtract").tolist() == [1]
    assert selection.combine(np.array([1, 2]), np.array([3, 3]), "replace").tolist() == [3]


def test_tool_params_name_an_empty_or_invalid_field_and_never_read_it_as_zero():
    ok = ("move", 1.0, -2, None, 1.0, 0.5, 1.0)
    params, problem = selection.tool_params(*ok)
    assert problem == "" and params["dx"] == 1.0
    for tool, field, value, words in (
        ("move", 1, None, "Δx is empty"),
        ("move", 2, None, "Δy is empty"),
        ("move", 1, "", "Δx is empty"),
        ("pull", 4, None, "α is empty"),
        ("pull", 4, 1.5, "α: expected a number from 0 to 1"),
        ("compact", 5, None, "β is empty"),
        ("compact", 5, float("nan"), "β: expected a number"),
        ("separate", 6, None, "γ is empty"),
        ("separate", 6, -1, "γ: expected a number from 0 to 10"),
    ):
        args = [tool, *ok[1:]]
        args[field] = value
        assert words in selection.tool_params(*args)[1], (tool, field, value)
    # only the current tool's fields matter: an empty β does not block a move
    assert selection.tool_params("move", 1, 0, None, 1.0, None, 1.0)[1] == ""
    # and make_edit refuses an empty field instead of collapsing a selection to a point
    with pytest.raises(StoreError, match="β is empty"):
        selection.make_edit("compact", np.array([1, 2]), beta=None)
    with pytest.raises(StoreError, match="α is empty"):
        selection.make_edit("pull", np.array([1, 2]), target_class=1, alpha=None)


def test_the_map_holds_train_and_val_only_and_summaries_never_count_test(run_md):
    store, run, md = run_md
    data, _, _ = run_dataset(store, run["id"])
    n_tr, n_va = len(data.y_train), len(data.y_val)
    assert md.n == n_tr + n_va == views.map_size(run) and len(data.y_test) > 0
    assert set(md.split.tolist()) == {"train", "val"} and md.n_train == n_tr
    assert md.coords.shape == (n_tr + n_va, 2) and len(md.pred) == len(md.y) == md.n
    sel = np.r_[np.arange(0, 50), np.arange(n_tr, n_tr + 10)]
    info = selection.summarize_selection(md, sel)
    assert info["n"] == 60 and info["by_split"] == {"train": 50, "val": 10}
    assert info["left_out"] == {"val": 10}
    counts = np.bincount(md.y[sel], minlength=10)
    assert info["classes"][0][1] == counts.max()
    assert sum(c for _, c in info["classes"]) == 60
    # a stored edit that names test points (made before they left the map) never counts them
    loop.add_edit(store, run["id"], Edit("translate", [0, 1, md.n, md.n + 3], dx=1.0, dy=0.0))
    run = store.load_run(run["id"])
    pending, _ = ghosts.preview(store, run, md, None)
    assert pending.total == 2 and views.pending_mask(run, md.n).sum() == 2
    assert views.reveal_count(run) == 0
    loop.reveal_test(store, run["id"])
    assert views.reveal_count(store.load_run(run["id"])) == 1


def test_separate_partner_is_the_previous_selection_else_the_rest_of_the_class(run_md):
    _, _, md = run_md
    threes = np.flatnonzero((md.y == 3) & (md.split == "train"))
    sel = threes[:10]
    other, text = selection.separate_partner(md, sel, np.arange(100, 120))
    assert other.tolist() == list(range(100, 120)) and "previous selection (20" in text
    other, text = selection.separate_partner(md, sel, np.zeros(0, np.int64))
    assert other.tolist() == threes[10:].tolist() and "rest of class 3" in text


def test_box_and_gesture_shifts():
    coords = np.array([[0, 0], [2, 1], [10, 10]], np.float32)
    box = selection.selection_box(coords, np.array([0, 1]))
    pad = 0.015 * 10
    assert box == pytest.approx([-pad, 2 + pad, -pad, 1 + pad])
    moved = {
        "shapes[0].x0": box[0] + 3,
        "shapes[0].x1": box[1] + 3,
        "shapes[0].y0": box[2] - 1,
        "shapes[0].y1": box[3] - 1,
    }
    assert selection.shift_from_relayout(moved, box) == pytest.approx((3.0, -1.0))
    whole = {"shapes": [{"x0": box[0] + 1, "x1": box[1] + 1, "y0": box[2], "y1": box[3]}]}
    assert selection.shift_from_relayout(whole, box) == pytest.approx((1.0, 0.0))
    assert selection.shift_from_relayout({"xaxis.range[0]": 1}, box) is None
    centroid = np.array([1.0, 0.5])
    assert selection.shift_from_click({"xvals": [4.0], "yvals": [2.5], "points": []}, centroid) == (
        3.0,
        2.0,
    )
    assert selection.shift_from_click({"points": [{"x": 0.0, "y": 0.0}]}, centroid) == (-1.0, -0.5)


# -- edits ----------------------------------------------------------------------------------


def test_make_edit_maps_tools_and_explains_what_is_missing():
    idx = np.array([3, 1])
    assert selection.make_edit("move", idx, dx=1, dy=-2) == Edit(
        "translate", [3, 1], dx=1.0, dy=-2.0
    )
    assert selection.make_edit("pull", idx, target_class="4", alpha=0.5).target_class == 4
    assert selection.make_edit("compact", idx, beta=0.2).beta == 0.2
    assert selection.make_edit("separate", idx, other=np.array([9])).other == [9]
    for tool, kw, words in (
        ("move", {}, "drag the selection box"),
        ("pull", {}, "choose the class"),
        ("compact", {"beta": 2}, "from 0 to 1"),
        ("compact", {"beta": None}, "β is empty"),
        ("separate", {}, "nothing"),
    ):
        with pytest.raises(StoreError, match=words):
            selection.make_edit(tool, idx, **kw)
    with pytest.raises(StoreError, match="Select points"):
        selection.make_edit("compact", np.zeros(0, np.int64))


def test_edit_rows_mark_stale_edits_and_only_fresh_ones_teach(run_md):
    store, run, md = run_md
    loop.add_edit(store, run["id"], Edit("pull", list(range(20)) + [md.n - 1], target_class=2))
    run = store.load_run(run["id"])
    rows = views.edit_rows(run)
    assert rows == [
        {
            "id": rows[0]["id"],
            "kind": "pull",
            "tool": "pull",
            "n": 21,
            "n_train": 20,
            "on": "c0",
            "stale": False,
            "group": "",
            "detail": "to class 2, α = 1",
        }
    ]
    assert views.pending_mask(run, md.n).sum() == 21
    run["heads"]["guided"] = "g1"  # as if a chunk had been trained meanwhile
    assert views.edit_rows(run)[0]["stale"] and views.fresh_edits(run) == []


def test_set_projection_and_train_overrides(run_md):
    store, run, _ = run_md
    views.set_projection(store, run["id"], "umap")
    assert store.load_run(run["id"])["config"]["projection"] == "umap"
    with pytest.raises(StoreError, match="projection"):
        views.set_projection(store, run["id"], "tsne")
    assert train_overrides(0.5, 3.4, "pca") == {"lam": 0.5, "epochs": 3, "projection": "pca"}
    assert train_overrides(-1, 0, "tsne") == {"lam": 0.0, "epochs": 1}
    assert train_overrides(None, float("nan"), None) == {}


def test_cancelled_message_names_the_last_complete_checkpoint(run_md):
    _, run, _ = run_md
    assert "guided c0, unguided c0, 1 chunk)" in watchdog.cancelled_message(run)
    assert "no checkpoint yet" in watchdog.cancelled_message(None)


# -- ghosts -----------------------------------------------------------------------------------


def test_pca_ghosts_are_exact_for_every_edit_kind(run_md):
    store, run, md = run_md
    arrays = checkpoint_arrays(store, run["id"], md.checkpoint)
    Z, state = arrays["Z"], MapState.from_arrays(arrays)
    sel = np.flatnonzero(md.y == 1)
    for edit in (
        Edit("translate", sel.tolist(), dx=0.7, dy=0.1),
        Edit("compact", sel.tolist(), beta=0.3),
        Edit("pull", sel.tolist(), target_class=7, alpha=0.5),
    ):
        g = ghosts.targets_on_map([edit], Z, state, md)
        t = build_teacher([edit], Z, state, md.y, md.split)
        exact = (t.targets.astype(np.float64) - state.mean) @ state.linear + state.offset
        assert g.total == len(t.train_idx) == int(np.sum(md.split[sel] == "train"))
        np.testing.assert_allclose(g.target, exact, atol=1e-4)
        np.testing.assert_allclose(g.start, md.coords[t.train_idx], atol=0)


def test_project_points_lands_on_map_points_and_between_them():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 8)).astype(np.float32)
    coords = fit_map(Z, "pca").coords
    np.testing.assert_allclose(ghosts.project_points(Z[:20], Z, coords), coords[:20], atol=1e-5)
    mid = ghosts.project_points(Z[:1] + 1e-3, Z, coords, k=10)
    assert np.linalg.norm(mid - coords[0]) < np.linalg.norm(coords - coords[0], axis=1).max()


def test_umap_ghosts_follow_the_gesture_and_sample_knn_targets(run_md):
    store, run, md = run_md
    arrays = checkpoint_arrays(store, run["id"], md.checkpoint)
    state = MapState("umap", arrays["coords"])  # the same points, as a UMAP map
    sel = np.flatnonzero(md.split == "train")[:400]
    g = ghosts.targets_on_map([Edit("translate", sel.tolist(), dx=2, dy=1)], arrays["Z"], state, md)
    np.testing.assert_allclose(g.target - g.start, [[2, 1]] * 400, atol=1e-5)
    both = [Edit("translate", sel.tolist(), dx=2, dy=1), Edit("compact", sel[:300].tolist())]
    g = ghosts.targets_on_map(both, arrays["Z"], state, md)
    assert g.total == 400 and len(g.start) == 100 + ghosts.KNN_GHOSTS  # rigid ones all drawn
    np.testing.assert_allclose(g.target[:100] - g.start[:100], [[2, 1]] * 100, atol=1e-5)


# -- panels -----------------------------------------------------------------------------------


def test_history_and_drift_after_a_guided_chunk(run_md):
    store, run, md = run_md
    sel = np.flatnonzero((md.y == 4) & (md.split == "train"))
    loop.add_edit(store, run["id"], Edit("compact", sel.tolist(), beta=0.3))
    loop.run_chunk(store, run["id"], overrides={"epochs": 1})
    run = store.load_run(run["id"])
    h = history.chunk_history(store, run)
    recs = store.metrics(run["id"])
    assert h["chunk"] == [0, 1] and h["n_edits"] == [0, 1]
    assert h["guided_val"][1] == recs["g1"]["val"]["acc"]
    assert h["twin_val"][1] == recs["u1"]["val"]["acc"]
    assert "adherence" not in h  # the realized share replaced absolute adherence
    chunks, series = history.drift_series(store, run, np.zeros(0, np.int64))
    assert chunks == [1] and series[0][1] == [recs["g1"]["drift"]["edited"]]
    chunks, series = history.drift_series(store, run, sel)
    drift_g = store.load_arrays(run["id"], "g1")["drift"]
    assert series[0][1][0] == pytest.approx(float(drift_g[sel].mean()))
    chunk, rows = history.latest_bias(store, run)
    assert chunk == 1 and [r["class"] for r in rows] == list(range(10))
    assert [r["class"] for r in rows if r["touched"]] == [4]
    log = history.chunk_log(run)
    assert log[1]["edits"] == 1 and log[1]["edited"] == len(sel) and log[1]["epochs"] == 1
    assert views.edit_rows(run) == []  # the edit was consumed by the chunk


def test_sample_info_finds_the_raw_sample_of_train_and_val_and_no_test(run_md):
    store, _, md = run_md
    data, _, _ = run_dataset(store, md.run_id)
    last = md.n - 1
    s = views.sample_info(store, md, last)
    np.testing.assert_array_equal(s["x"], data.X_val[-1])
    assert s["split"] == "val" and s["kind"] == "image"
    assert s["label"] == md.label_names[data.y_val[-1]]
    np.testing.assert_array_equal(views.sample_info(store, md, 3)["x"], data.X_train[3])
    with pytest.raises(StoreError, match="map point"):
        views.sample_info(store, md, md.n)  # the first test point is not on the map
    hover = {"points": [{"curveNumber": 2, "pointIndex": 1}, {"curveNumber": 0, "pointIndex": 5}]}
    assert views.hovered_index(hover, md.n) == 5 and views.hovered_index(None, md.n) is None
    assert views.hovered_index({"points": [{"pointIndex": md.n}]}, md.n) is None


def test_a_pull_that_cannot_be_made_shows_why_instead_of_a_preview(run_md):
    store, run, md = run_md
    ones = np.flatnonzero(md.y == 1)  # every training point of class 1 (and its val points)
    edit = selection.make_edit("pull", ones, target_class=1)
    pending, preview = ghosts.preview(store, run, md, edit)
    assert preview.total == 0 and "no training points outside the selection" in preview.problem
    assert "No preview:" in ghosts.preview_text(pending, preview, "")
    ok = selection.make_edit("pull", ones, target_class=2)
    assert ghosts.preview(store, run, md, ok)[1].total == int(np.sum(md.split[ones] == "train"))


def test_a_pull_across_the_map_warns_and_a_short_one_does_not(run_md):
    """A one-chunk pull to the farthest class cost the other classes 5–15 points (benchmarks
    §0): the preview says so before Apply; a pull to the nearest class, or α small enough,
    says nothing."""
    _, _, md = run_md
    train = md.split == "train"
    threes = np.flatnonzero((md.y == 3) & train)
    centre = md.coords[threes].mean(0)
    dist = {
        c: float(np.linalg.norm(md.coords[(md.y == c) & train].mean(0) - centre))
        for c in range(10)
        if c != 3
    }
    far, near = max(dist, key=dist.get), min(dist, key=dist.get)
    edit, note = selection.candidate_edit(
        md, "pull", threes, np.zeros(0, np.int64), target_class=str(far), alpha=1.0
    )
    assert edit.target_class == far and "A long pull" in note and f"class {far}" in note
    assert "α = 0.5" in note  # what asking for less cost, as measured
    _, note = selection.candidate_edit(
        md, "pull", threes, np.zeros(0, np.int64), target_class=str(near), alpha=1.0
    )
    assert note == ""
    _, note = selection.candidate_edit(
        md, "pull", threes, np.zeros(0, np.int64), target_class=str(far), alpha=0.05
    )
    assert note == ""
