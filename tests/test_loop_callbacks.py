"""The Loop page's callbacks on a 20,000-point map, called through a faked callback
context: right numbers, and their server time.

The run is `tests/loop_run.synthetic_run` (no training, no projection fitting); the pure
functions behind these callbacks are checked in `test_loop_pure.py`. Timings are printed
(`pytest -s`), never asserted: that is for benchmarks.
"""

from __future__ import annotations

from contextvars import copy_context

import numpy as np
import pytest

from hill_dash.dashboard import points, selection
from hill_dash.engine.store import RunStore
from tests.loop_run import N_MAP, map_data, print_timings, timed


@pytest.fixture(scope="module", autouse=True)
def _timings():
    yield
    print_timings()


# -- the callbacks themselves, with a faked callback context --------------------------------


@pytest.fixture(scope="module")
def page(pca_run, tmp_path_factory):
    """The app with its pages (register_page needs it); returns the Loop page module."""
    import os
    import sys

    store, _ = pca_run
    saved = {k: os.environ.get(k) for k in ("HILL_DASH_DATA_DIR", "NUMBA_CACHE_DIR")}
    from app import create_app
    from hill_dash.dashboard.config import AppConfig

    app = create_app(AppConfig(data_dir=store.root, projection_warmup=False))
    yield app, sys.modules["pages.loop"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def call(fn, triggered: list[str], *args):
    """Run a callback function as Dash would, with `triggered` as its triggering props."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    def run():
        context_value.set(
            AttributeDict(triggered_inputs=[{"prop_id": p, "value": None} for p in triggered])
        )
        return fn(*args)

    return copy_context().run(run)


def sel_store(indices, rev=1, source="lasso", key=""):
    return {
        "bits": selection.encode_indices(indices),
        "count": len(indices),
        "previous": "",
        "rev": rev,
        "key": key,
        "source": source,
    }


def test_update_map_sends_the_map_once_then_patches(page, pca_run):
    _, mod = page
    store, run_id = pca_run
    _, md = map_data(store, run_id)
    sel = np.flatnonzero(md.y == 7).tolist()
    chosen = sel_store(sel)
    args = [run_id, 1, "label", True, chosen, "move", 0.8, 0.2, None, 1.0, 0.5, 1.0]
    fig, key, info, shown = timed(
        "callback update_map (full figure)", call, mod.update_map, ["run-id.data"], *args, "", ""
    )
    assert key == f"{run_id}:g1:{N_MAP}" and len(fig["data"]) == 1
    assert len(LM_decode(fig["data"][0]["x"])) == N_MAP  # no test point is drawn
    assert LM_decode(fig["data"][0]["selectedpoints"]).tolist() == sel
    n_train = sum(1 for i in sel if i < md.n_train)
    assert f"{n_train:,} training points" in info
    patch, key2, _, _ = timed(
        "callback update_map (move Δ -> ghost patch)",
        call,
        mod.update_map,
        ["move-dx.value"],
        *args,
        key,
        shown,
    )
    ops = patch.to_plotly_json()["operations"]
    assert key2 is mod.no_update
    # a new Δ redraws the preview shapes only: not the points, not the pending edits' ghosts
    assert [o["location"] for o in ops] == [["layout", "shapes", 3], ["layout", "shapes", 4]]
    patch, _, _, _ = timed(
        "callback update_map (new selection)",
        call,
        mod.update_map,
        ["selection-store.data"],
        *args,
        key,
        shown,
    )
    locations = [o["location"] for o in patch.to_plotly_json()["operations"]]
    # the box is a shape; the page draws the selection itself (no data array, no recompute)
    assert ["layout", "shapes", 0] in locations
    assert not any(loc[0] == "data" for loc in locations)
    assert ["layout", "datarevision"] not in locations
    patch, _, _, _ = timed(
        "callback update_map (colour by)",
        call,
        mod.update_map,
        ["color-by.value"],
        *args,
        key,
        shown,
    )
    assert [o["location"] for o in patch.to_plotly_json()["operations"]] == [
        ["data", 0, "marker"],
        ["layout", "datarevision"],
    ]
    # the run changed but not the colours (a chunk's end after its guided map arrived):
    # no colour patch, so plotly does not recompute every point; other colours: a patch
    patch, _, _, token = call(mod.update_map, ["run-version.data"], *args, key, shown)
    locations = [o["location"] for o in patch.to_plotly_json()["operations"]]
    assert ["data", 0, "marker"] not in locations and token is mod.no_update
    patch, _, _, token = call(mod.update_map, ["run-version.data"], *args, key, "other")
    locations = [o["location"] for o in patch.to_plotly_json()["operations"]]
    assert ["data", 0, "marker"] in locations and token == shown
    # empty Δx: no preview, the note names the field (never read as 0)
    empty = args.copy()
    empty[6] = None
    _, _, info, _ = call(mod.update_map, ["move-dx.value"], *empty, key, shown)
    assert "Δx is empty" in info
    # validation points hidden: a new, shorter map (the training points only)
    hidden = args.copy()
    hidden[3] = False
    fig, key3, _, _ = call(mod.update_map, ["show-val.value"], *hidden, key, shown)
    assert key3 == f"{run_id}:g1:{md.n_train}"
    assert len(LM_decode(fig["data"][0]["x"])) == md.n_train


def LM_decode(spec):
    import base64

    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]))


def test_edit_buttons_wait_for_a_chunk_and_for_valid_numbers(page):
    import pages._loop_edit as mod

    trained = {"trained": True, "edits": 1, "redo": False, "training": False}
    ok = ("move", 1.0, 0.0, None, 1.0, 0.5, 1.0)
    assert mod.edit_buttons(False, trained, *ok)[:4] == (False, False, True, False)
    for training_here, state in ((True, trained), (False, trained | {"training": True})):
        out = mod.edit_buttons(training_here, state, *ok)
        assert out[:4] == (True, True, True, True)
        assert "A chunk is training" in str(out[4])
    out = mod.edit_buttons(False, trained, "compact", 1.0, 0.0, None, 1.0, None, 1.0)
    assert out[0] is True and "β is empty" in str(out[4])
    assert mod.edit_buttons(False, {}, *ok)[:4] == (True,) * 4


def test_change_edits_refuses_while_the_run_trains_and_never_reads_empty_as_zero(
    page, pca_run, tmp_path
):
    import shutil

    import pages._loop_edit as mod
    from hill_dash.dashboard import config

    src, run_id = pca_run
    shutil.copytree(src.root, tmp_path / "copy")
    store = RunStore(tmp_path / "copy")
    old = config.data_dir
    config_dir = tmp_path / "copy"
    mod.data_dir = lambda: config_dir
    try:
        args = [run_id, sel_store(list(range(50))), "compact", 0, 0, None, 1.0, None, 1.0]
        _, text, _, _ = call(mod.change_edits, ["apply-edit-button.n_clicks"], 1, 0, 0, 0, *args)
        assert "β is empty" in str(text) and store.load_run(run_id)["pending"] == []
        with store.training_lock(run_id):
            ok = args.copy()
            ok[7] = 0.5
            _, text, _, _ = call(mod.change_edits, ["apply-edit-button.n_clicks"], 1, 0, 0, 0, *ok)
            assert "A chunk is training" in str(text)
        assert store.load_run(run_id)["pending"] == []
        args[7] = 0.5
        change, text, _, _ = call(
            mod.change_edits, ["apply-edit-button.n_clicks"], 1, 0, 0, 0, *args
        )
        assert "Added: compact of 50 points" in str(text)
        assert store.load_run(run_id)["pending"][0]["beta"] == 0.5
    finally:
        mod.data_dir = old


def test_other_callbacks_answer_with_numbers(page, pca_run):
    _, mod = page
    import pages._loop_edit as edit
    import pages._loop_explore as explore
    import pages._loop_panels as panels_mod

    store, run_id = pca_run
    sel = sel_store(list(range(1000)))
    info = timed(
        "callback show_selection",
        call,
        mod.show_selection,
        ["selection-store.data"],
        sel,
        run_id,
        1,
    )
    assert "1,000 points" in str(info) and "test" not in str(info)
    figs = timed(
        "callback draw_panels", call, panels_mod.draw_panels, ["run-version.data"], run_id, 1
    )
    assert [f.data[0].x for f in figs[:2]] == [(0, 1), (0, 1)]
    assert "chunk-row" in str(figs[4])  # the chunk table's rows are clickable
    drift = timed(
        "callback draw_drift (selection)",
        call,
        panels_mod.draw_drift,
        ["selection-store.data"],
        run_id,
        1,
        sel,
    )
    assert drift.data[0].x == (1,)
    hover = {
        "points": [
            {"curveNumber": 0, "pointIndex": 12, "pointNumber": 12, "bbox": {"x0": 1, "x1": 2}}
        ]
    }
    show, bbox, tip, sample, caption = timed(
        "callback show_hovered (tooltip)",
        call,
        explore.show_hovered,
        ["latent-graph.hoverData"],
        hover,
        run_id,
    )
    assert show is True and bbox == {"x0": 1, "x1": 2}
    assert "data:image/png;base64" in str(tip) and "confidence" in str(tip)
    assert sample.data[0].type == "heatmap" and "#12" in str(caption)
    off = call(explore.show_hovered, ["latent-graph.hoverData"], None, run_id)
    assert off[0] is False  # the pointer left the points (or a drag started)
    gallery = timed(
        "callback show_gallery (48 of 1,000)",
        call,
        explore.show_gallery,
        ["selection-info.children"],  # asked for once the caption is shown
        "caption",
        "confidence",
        run_id,
        sel,
    )
    assert str(gallery).count("data:image/png") == explore.GALLERY_LIMIT
    assert "1,000 points selected · showing 48" in str(gallery)
    with pytest.raises(edit.PreventUpdate):  # a zoom: nothing to read, nothing loaded
        call(
            edit.read_move_gesture,
            ["latent-graph.relayoutData"],
            {"xaxis.range[0]": 1},
            None,
            sel,
            run_id,
            "compact",
        )
    _, md = map_data(store, run_id)
    box = selection.selection_box(md.coords, np.arange(1000))
    moved = {
        f"shapes[0].{k}": v + (0.5 if k[0] == "x" else -0.25)
        for k, v in zip(("x0", "x1", "y0", "y1"), box, strict=True)
    }
    dx, dy, tool = call(
        edit.read_move_gesture, ["latent-graph.relayoutData"], moved, None, sel, run_id, "compact"
    )
    assert (dx, dy, tool) == (0.5, -0.25, "move")


def test_find_points_panel_clicks_and_export_make_selections(page, pca_run):
    import pages._loop_explore as explore

    store, run_id = pca_run
    _, md = map_data(store, run_id)
    key = f"{run_id}:g1:{N_MAP}"
    new, dx, _, note = timed(
        "callback find (class)",
        call,
        explore.find,
        ["find-button.n_clicks"],
        1,
        "class",
        "3",
        None,
        None,
        "replace",
        True,
        None,
        key,
        run_id,
    )
    threes = np.flatnonzero(md.y == 3)
    assert selection.decode_bits(new["bits"], md.n).tolist() == threes.tolist()
    assert new["source"] == "find" and dx == 0 and f"{len(threes):,} points found" in str(note)
    args = ["high-loss", None, 100, None, "subtract", False, new, key, run_id]
    less, _, _, _ = call(explore.find, ["find-button.n_clicks"], 2, *args)
    stats = points.point_stats(store, md)
    top = points.find_points(md, stats, "high-loss", k=100, shown=md.n_train)
    assert selection.decode_bits(less["bits"], md.n).tolist() == np.setdiff1d(threes, top).tolist()
    bad = call(
        explore.find,
        ["find-button.n_clicks"],
        3,
        "indices",
        None,
        None,
        "1, x",
        "replace",
        True,
        None,
        key,
        run_id,
    )
    assert bad[0] is explore.no_update and "'x'" in str(bad[3])
    click = {"points": [{"curveNumber": 0, "x": "c5", "pointIndex": 5}]}
    picked, _, _ = call(
        explore.select_from_panels, ["bias-graph.clickData"], click, [0, 0], True, None, key, run_id
    )
    assert (
        selection.decode_bits(picked["bits"], md.n).tolist() == np.flatnonzero(md.y == 5).tolist()
    )
    row = '{"index":1,"type":"chunk-row"}.n_clicks'
    picked, _, _ = call(explore.select_from_panels, [row], None, [0, 1], True, None, key, run_id)
    assert selection.decode_bits(picked["bits"], md.n).tolist() == list(range(500))
    with pytest.raises(explore.PreventUpdate):  # the table redrawn: nobody clicked
        call(explore.select_from_panels, [row], None, [0, 0], True, None, key, run_id)
    download, text = call(
        explore.export_selection, ["export-selection-button.n_clicks"], 1, sel_store([0, 5]), run_id
    )
    lines = download["content"].splitlines()
    assert lines[0] == "index,split,label,prediction,confidence,x,y" and len(lines) == 3
    assert download["filename"].endswith("-g1-selection.csv")


REQUIRED_IDS = {
    "latent-graph",
    "map-tooltip",
    "selection-gallery",
    "export-selection-button",
    "select-by",
    "refit-map-button",
    "step-curves-graph",
    "realized-graph",
    "train-button",
    "cancel-button",
    "chunk-progress",
    "lambda-input",
    "lr-input",
    "batch-input",
    "anchor-input",
    "kd-input",
    "advanced-collapse",
    "edit-list",
    "undo-button",
    "accuracy-graph",
    "gap-graph",
    "drift-graph",
    "bias-graph",
    "redo-button",
    "clear-button",
    "clear-selection-button",
    "epochs-input",
    "projection-select",
    "color-by",
    "show-val",
    "selection-info",
    "edit-tool",
    "pull-class",
    "apply-edit-button",
    "apply-note",
    "move-dx",
    "move-dy",
    "chunk-status",
    "test-reveal-note",
}


def output_ids(spec: str) -> set[str]:
    """Component ids of a dependency's output string ("..a.b...c.d@hash.." or "a.b")."""
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    return {p.split("@")[0].rsplit(".", 1)[0] for p in parts}


def test_page_layout_has_every_id_once_and_callbacks_find_them(page):
    app, mod = page
    ids = [c.id for c in mod.layout._traverse() if getattr(c, "id", None)]
    assert len(ids) == len(set(ids)), "duplicate ids on the Loop page"
    assert set(ids) >= REQUIRED_IDS, REQUIRED_IDS - set(ids)
    options = {
        o["value"]
        for o in next(
            c for c in mod.layout._traverse() if getattr(c, "id", None) == "color-by"
        ).options
    }
    assert options == {
        "label",
        "prediction",
        "correct",
        "split",
        "confidence",
        "loss",
        "drift",
        "edited",
    }
    app_ids = {c.id for c in app.layout._traverse() if getattr(c, "id", None)}
    known = set(ids) | app_ids
    deps = app.server.test_client().get("/_dash-dependencies").get_json()
    mine = [
        d
        for d in deps
        if (output_ids(d["output"]) | {str(i["id"]) for i in d["inputs"]}) & set(ids)
    ]
    assert len(mine) >= 14
    for d in mine:
        used = output_ids(d["output"]) | {
            i["id"] for i in d["inputs"] + d["state"] if not i["id"].startswith("{")
        }  # pattern-matching ids (chunk-table rows) are made by a callback
        assert used <= known, f"callback {d['output']} uses ids not on the page: {used - known}"
    # buttons that start work never fire when the page is inserted
    train = next(d for d in mine if d["inputs"] == [{"id": "train-button", "property": "n_clicks"}])
    assert train["prevent_initial_call"] and output_ids(train["output"]) <= set(ids)


def test_the_train_fields_offer_the_runs_own_settings_and_empty_keeps_them(
    page, pca_run, tmp_path, monkeypatch
):
    """A run made with 7 epochs a chunk and λ 0.5 (as the Data page can make one): the
    Train card shows them greyed, and a Train with the fields left empty overrides
    neither (the page's own defaults used to train 5 epochs at λ 1 whatever the run said)."""
    import shutil

    import pages._loop_train as mod
    from hill_dash.dashboard.chunk_settings import train_overrides

    src, run_id = pca_run
    shutil.copytree(src.root, tmp_path / "copy")
    RunStore(tmp_path / "copy").update_run(
        run_id, lambda r: r["config"]["chunk"].update(epochs=7, lam=0.5)
    )
    monkeypatch.setattr(mod, "data_dir", lambda: tmp_path / "copy")
    assert mod.show_run_settings(run_id)[:2] == ("0.5", "7")
    assert train_overrides(None, None, "pca") == {"projection": "pca"}
