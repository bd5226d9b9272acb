"""The pure functions behind the Loop page's callbacks, on a 20,000-point map: right
numbers, and their server time.

The run is `tests/loop_run.synthetic_run` (no training, no projection fitting); the
callbacks themselves, called through a faked callback context, are in
`test_loop_callbacks.py`. Timings are printed (`pytest -s`), never asserted: that is for
benchmarks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from plotly.io.json import to_json_plotly

from hill_dash.dashboard import ghosts, history, points, selection, views
from hill_dash.dashboard.figures import latent_map as LM
from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from tests.loop_run import N_MAP, K, N, map_data, print_timings, timed


@pytest.fixture(scope="module", autouse=True)
def _timings():
    yield
    print_timings()


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
