"""The Loop page's callbacks on a 20,000-point map: right numbers, and their server time.

A synthetic run (clustered 32-d latents, PCA and UMAP-style maps, two chunks with
metrics and per-point drift) is written straight into a RunStore, so no training or
projection fitting happens here. The pure functions behind the callbacks are checked
for correctness; the callbacks themselves are then called through a faked callback
context. Timings are printed (`pytest -s`), never asserted: that is for benchmarks.
"""

from __future__ import annotations

import json
import time
from contextvars import copy_context

import numpy as np
import pytest
from plotly.io.json import to_json_plotly

from hill_dash.dashboard import ghosts, history, points, selection, views
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.engine import loop
from hill_dash.engine import metrics as M
from hill_dash.engine.data import Dataset
from hill_dash.engine.projection import MapState, fit_map
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from tests import unpaired_rule

N = 20_000
N_MAP = int(N * 0.7) + int(N * 0.15)  # train + val: the test split is never on the map
K = 10
D = 32
TIMINGS: dict[str, float] = {}


def synthetic_run(root, method: str = "pca", n: int = N, seed: int = 0) -> tuple[RunStore, str]:
    """A run with chunk 0 (c0) and one paired chunk (g1, u1), written without training."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (K, D))
    n_tr, n_va = int(n * 0.7), int(n * 0.15)
    y = rng.integers(0, K, n)
    X = rng.random((n, 8, 8)).astype(np.float32)
    data = Dataset(
        "synthetic",
        "image",
        X[:n_tr],
        y[:n_tr],
        X[n_tr : n_tr + n_va],
        y[n_tr : n_tr + n_va],
        X[n_tr + n_va :],
        y[n_tr + n_va :],
        [f"c{i}" for i in range(K)],
    )
    store = RunStore(root)
    run_id = loop.create_run(store, data, arch="mlp", projection=method)
    y_all = data.all_y()
    W = np.linalg.pinv(centres.T)  # logits = Z @ W.T: mostly right, some noise
    Z0 = (centres[y_all] + rng.normal(0, 1.5, (n, D))).astype(np.float32)
    Zg = Z0 + rng.normal(0, 0.2, (n, D)).astype(np.float32)
    Zu = Z0 + rng.normal(0, 0.2, (n, D)).astype(np.float32)

    def map_of(Z):
        state = fit_map(Z, "pca")
        return state if method == "pca" else MapState("umap", state.coords)

    def save(ck, Z, lineage, chunk, prev=None, edited=None):
        logits = (Z @ W.T).astype(np.float32)
        arrays = {"Z": Z, "logits": logits, **map_of(Z).to_arrays()}
        rec = {"checkpoint": ck, "lineage": lineage, "chunk": chunk, "train_loss": 0.5}
        for name, sl in (("train", slice(0, n_tr)), ("val", slice(n_tr, n_tr + n_va))):
            rec[name] = M.split_metrics(logits[sl], y_all[sl], K)
        rec["gap"] = rec["train"]["acc"] - rec["val"]["acc"]
        if prev is not None:
            scale = float(np.sqrt((prev[:n_tr] ** 2).sum(1).mean()))
            arrays["drift"] = M.point_drift(Z, prev, scale)
            arrays["edited"] = edited
            rec["drift"] = M.latent_drift(Z, prev, scale, edited)
        store.save_checkpoint(run_id, ck, {"model": {}}, arrays)
        return rec

    store.append_jsonl(run_id, "metrics.jsonl", save("c0", Z0, "root", 0))
    edited = np.zeros(n, bool)
    edited[:500] = True
    g = save("g1", Zg, "guided", 1, Z0, edited)
    u = save("u1", Zu, "twin", 1, Z0, np.zeros(n, bool))
    g["bias"] = unpaired_rule.bias_flags(
        g["val"]["per_class"],
        u["val"]["per_class"],
        np.bincount(y_all[n_tr : n_tr + n_va], minlength=K).tolist(),
        [0, 1],
    )
    store.append_jsonl(run_id, "metrics.jsonl", g)
    store.append_jsonl(run_id, "metrics.jsonl", u)

    def record(r):
        r["checkpoints"] = {
            "c0": {"lineage": "root", "chunk": 0, "parent": None},
            "g1": {"lineage": "guided", "chunk": 1, "parent": "c0"},
            "u1": {"lineage": "twin", "chunk": 1, "parent": "c0"},
        }
        r["heads"] = {"guided": "g1", "twin": "u1"}
        r["chunks"] = [
            {
                "index": 0,
                "edits": [],
                "guided": "c0",
                "twin": "c0",
                "from": None,
                "config": {"lam": 0, "epochs": 5},
                "seconds": 1.0,
            },
            {
                "index": 1,
                "edits": [{"kind": "compact", "indices": list(range(500)), "beta": 0.5}],
                "guided": "g1",
                "twin": "u1",
                "from": {"guided": "c0", "twin": "c0"},
                "config": {"lam": 1.0, "epochs": 5},
                "teacher": {"n_edited": 500, "relabels": 0},
                "seconds": 2.0,
            },
        ]

    store.update_run(run_id, record)
    return store, run_id


def timed(name: str, fn, *args, repeat: int = 3, **kwargs):
    """Best of `repeat` (the first call warms the read cache), recorded for the summary."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    TIMINGS[name] = best * 1000
    return out


@pytest.fixture(scope="module")
def pca_run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("pca20k"), "pca")


@pytest.fixture(scope="module")
def umap_run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("umap20k"), "umap", seed=1)


@pytest.fixture(scope="module", autouse=True)
def print_timings():
    yield
    if TIMINGS:
        print("\nLoop callbacks at 20,000 points (best of 3, ms):")
        for name, ms in TIMINGS.items():
            print(f"  {name:<44} {ms:8.2f}")


def map_data(store, run_id):
    run = store.load_run(run_id)
    return run, views.load_map_data(store, run)


# -- the pure functions behind the callbacks ---------------------------------------------


def test_map_data_reads_the_guided_head(pca_run):
    store, run_id = pca_run
    run, md = timed("open run + map data (cached)", map_data, store, run_id)
    assert md.checkpoint == "g1" and md.n == N_MAP and md.method == "pca"
    assert md.n_train == int(N * 0.7) and set(md.split.tolist()) == {"train", "val"}
    assert md.coords.shape == (N_MAP, 2) and md.edited_last.sum() == 500
    assert views.map_key(run) == f"{run_id}:g1"


def test_selection_summary_counts_and_left_out(pca_run):
    store, run_id = pca_run
    _, md = map_data(store, run_id)
    n_tr = int(N * 0.7)
    sel = np.r_[np.arange(100, 1100), np.arange(n_tr, n_tr + 40)]
    event = {
        "points": [{"curveNumber": 0, "pointIndex": int(i), "pointNumber": int(i)} for i in sel]
        + [{"curveNumber": 2, "pointIndex": 5}]
    }
    new = timed("selection from event (1,040 points)", selection.next_selection, None, event, "k")
    bits = selection.decode_bits(new["bits"], md.n)
    assert bits.tolist() == sorted(sel.tolist()) and len(new["bits"]) <= 4 * (n_tr + 40) // 24 + 4
    # indices past the map (test points) cannot be selected: they are not on it
    far = selection.encode_indices([5, N_MAP, N - 1])
    assert selection.decode_bits(far, md.n).tolist() == [5]
    info = timed("selection summary", selection.summarize_selection, md, bits)
    assert info["n"] == 1040 and info["n_train"] == 1000
    assert info["left_out"] == {"val": 40} and "test" not in info["by_split"]
    assert sum(c for _, c in info["classes"]) == 1040
    expected = np.bincount(md.y[sel], minlength=K)
    assert dict(info["classes"]) == {f"c{c}": int(expected[c]) for c in range(K) if expected[c]}
    assert info["wrong"] == int(np.sum(md.pred[sel] != md.y[sel]))


def test_pca_translate_preview_is_coords_plus_delta(pca_run):
    store, run_id = pca_run
    run, md = map_data(store, run_id)
    sel = np.flatnonzero(md.y == 3)  # ~2,000 points of all splits
    cand = selection.make_edit("move", sel, dx=1.25, dy=-0.5)
    pending, preview = timed(
        "preview: PCA translate of a class", ghosts.preview, store, run, md, cand
    )
    assert pending.total == 0
    train = sel[sel < md.n_train]
    assert preview.total == len(train)  # validation points get no targets
    drawn = min(len(train), ghosts.MAX_GHOSTS)
    assert len(preview.start) == drawn
    np.testing.assert_allclose(preview.target - preview.start, [[1.25, -0.5]] * drawn, atol=1e-4)
    shown = train[ghosts._cap(train, ghosts.MAX_GHOSTS)]  # an even sample when capped
    np.testing.assert_allclose(preview.start, md.coords[shown], atol=0)


def test_pending_ghosts_are_reused_until_the_edits_change(pca_run):
    store, run_id = pca_run
    run, md = map_data(store, run_id)
    sel = np.flatnonzero((md.y == 4) & (md.split == "train"))[:300]

    def pending(dx: float) -> dict:  # the run with one pending move made on its head
        edit = selection.make_edit("move", sel, dx=dx, dy=0.0)
        return run | {"pending": [edit.to_dict() | {"on": views.head(run)}]}

    first, _ = ghosts.preview(store, pending(1.0), md, None)
    again, _ = ghosts.preview(store, pending(1.0), md, None)
    assert first.total == 300 and again is first  # while lassoing: not rebuilt per request
    changed, _ = ghosts.preview(store, pending(2.0), md, None)
    assert changed is not first
    np.testing.assert_allclose(changed.target - changed.start, [[2.0, 0.0]] * 300, atol=1e-4)


def test_umap_translate_preview_is_the_gesture_and_compact_lands_inside(umap_run):
    store, run_id = umap_run
    run, md = map_data(store, run_id)
    assert md.method == "umap"
    sel = np.flatnonzero((md.y == 2) & (md.split == "train"))[:1200]
    move = selection.make_edit("move", sel, dx=-2.0, dy=3.0)
    _, preview = timed("preview: UMAP translate 1,200 points", ghosts.preview, store, run, md, move)
    assert preview.total == 1200 and len(preview.target) == ghosts.MAX_GHOSTS  # an even sample
    np.testing.assert_allclose(preview.target - preview.start, [[-2.0, 3.0]] * 1000, atol=1e-5)
    assert np.isin(preview.start, md.coords[sel]).all()
    compact = selection.make_edit("compact", sel, beta=0.2)
    _, preview = timed(
        "preview: UMAP compact 1,200 points (k-NN)", ghosts.preview, store, run, md, compact
    )
    assert preview.total == len(sel) and len(preview.target) == ghosts.KNN_GHOSTS
    box = selection.selection_box(md.coords, sel)
    inside = (
        (preview.target[:, 0] >= box[0])
        & (preview.target[:, 0] <= box[1])
        & (preview.target[:, 1] >= box[2])
        & (preview.target[:, 1] <= box[3])
    )
    assert inside.mean() > 0.95
    spread_before = np.linalg.norm(preview.start - preview.start.mean(0), axis=1).mean()
    spread_after = np.linalg.norm(preview.target - preview.target.mean(0), axis=1).mean()
    assert spread_after < spread_before


def test_pending_edits_show_as_ghosts_and_go_stale(pca_run, tmp_path):
    import shutil

    src, run_id = pca_run
    shutil.copytree(src.root, tmp_path / "copy")
    store = RunStore(tmp_path / "copy")
    run, md = map_data(store, run_id)
    sel = np.flatnonzero(md.split == "train")[:300]
    loop.add_edit(store, run_id, Edit("translate", sel.tolist(), dx=0.5, dy=0.5))
    run = store.load_run(run_id)
    assert views.pending_mask(run, md.n).sum() == 300
    pending, _ = timed("preview: one pending edit", ghosts.preview, store, run, md, None)
    np.testing.assert_allclose(pending.target - pending.start, [[0.5, 0.5]] * 300, atol=1e-4)
    rows = views.edit_rows(run)
    assert rows[0]["tool"] == "move" and rows[0]["n_train"] == 300 and not rows[0]["stale"]

    def new_head(r):
        r["heads"]["guided"] = "c0"

    store.update_run(run_id, new_head)
    run = store.load_run(run_id)
    assert views.edit_rows(run)[0]["stale"]
    assert views.pending_mask(run, md.n).sum() == 0  # stale edits are not the next teacher


def test_drift_narrowed_to_the_selection(pca_run):
    store, run_id = pca_run
    run, md = map_data(store, run_id)
    sel = np.arange(0, 500)
    chunks, series = timed("drift series of a selection", history.drift_series, store, run, sel)
    drift_g = store.load_arrays(run_id, "g1")["drift"]
    assert chunks == [1]
    assert series[0][1][0] == pytest.approx(float(drift_g[:500].mean()), rel=1e-6)
    chunks, series = history.drift_series(store, run, np.zeros(0, np.int64))
    rec = store.metrics(run_id)["g1"]["drift"]
    assert chunks == [1] and series[0][1] == [rec["edited"]] and series[1][1] == [rec["rest"]]


def test_figure_sizes_and_patches(pca_run):
    store, run_id = pca_run
    run, md = map_data(store, run_id)
    sel = np.flatnonzero(md.y == 5)

    def full_figure():
        stats = points.point_stats(store, md)
        colouring = points.colouring(md, "label", views.pending_mask(run, md.n), stats)
        pending, preview = ghosts.preview(
            store, run, md, selection.make_edit("move", sel, dx=1.0, dy=0.0)
        )
        fig = LM.make_map_figure(
            md.coords,
            colouring,
            run_id,
            selection.selection_box(md.coords, sel),
            (pending.start, pending.target),
            (preview.start, preview.target),
        )
        return to_json_plotly(fig)

    text = timed("full map figure + JSON", full_figure)
    fig = json.loads(text)
    assert len(fig["data"]) == 1 and fig["layout"]["uirevision"] == run_id
    # typed arrays (10 bytes a point as base64), no text; the ghost shapes under 150 kB
    assert len(text) < 15 * N_MAP + 150_000

    def recolour():
        stats = points.point_stats(store, md)
        c = points.colouring(md, "correct", views.pending_mask(run, md.n), stats)
        return to_json_plotly(LM.patch_colours(LM.Patch(), c, "r"))

    patch = timed("recolour patch + JSON", recolour)
    assert len(patch) < 60_000  # 20k int16 codes as base64, not 20k JSON numbers


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
