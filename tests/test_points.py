"""Per-point quantities, colours, "Find points", the gallery, CSV, thumbnails, realized
shares and step curves of the Loop page, on a real digits run (chunk 0 and 1 trained)."""

from __future__ import annotations

import base64
import csv
import io

import numpy as np
import pytest
from PIL import Image

from hill_dash.dashboard import history, points, refit, selection, views
from hill_dash.dashboard.chunk_settings import advanced_overrides, advanced_problems, chunk_settings
from hill_dash.dashboard.read_cache import run_dataset
from hill_dash.engine import loop
from hill_dash.engine.errors import StoreError
from hill_dash.engine.teacher import Edit


@pytest.fixture
def run_md(run_copy):
    store, run_id = run_copy
    run = store.load_run(run_id)
    return store, run, views.load_map_data(store, run)


def softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_confidence_loss_and_drift_of_the_map_points_only(run_md):
    store, run, md = run_md
    stats = points.point_stats(store, md)
    logits = store.load_arrays(run["id"], md.checkpoint)["logits"].astype(np.float64)
    p = softmax(logits[: md.n])
    np.testing.assert_allclose(stats.confidence, p.max(1), rtol=1e-5)
    np.testing.assert_allclose(stats.loss, -np.log(p[np.arange(md.n), md.y]), rtol=1e-4)
    assert len(stats.confidence) == md.n and stats.drift is None  # chunk 0: nothing moved
    assert points.point_stats(store, md) is stats  # cached per checkpoint


def test_colourings_by_every_option(run_md):
    store, run, md = run_md
    stats = points.point_stats(store, md)
    pending = np.zeros(md.n, bool)
    pending[:5] = True
    got = {v: points.colouring(md, v, pending, stats) for v, _ in points.COLOR_OPTIONS}
    assert got["label"].names == tuple(md.label_names)
    assert got["correct"].values.tolist() == (md.pred == md.y).astype(int).tolist()
    split = got["split"]
    assert split.names == ("train", "val") and split.values.sum() == md.n - md.n_train
    assert got["edited"].values[:5].tolist() == [2] * 5
    conf = got["confidence"]
    assert conf.continuous and (conf.cmin, conf.cmax) == (0.0, 1.0)
    loss = got["loss"]
    assert loss.continuous and loss.cmax == pytest.approx(np.quantile(stats.loss, 0.99))
    assert np.isnan(got["drift"].values).all() and "from chunk 1" in got["drift"].title
    assert points.colouring(md, "nonsense", pending, stats).by == "label"


def test_find_points_by_each_criterion(run_md):
    store, run, md = run_md
    stats = points.point_stats(store, md)

    def find(criterion, **kw):
        return points.find_points(md, stats, criterion, **kw)

    assert find("class", cls="3").tolist() == np.flatnonzero(md.y == 3).tolist()
    wrong = find("misclassified")
    assert wrong.tolist() == np.flatnonzero(md.pred != md.y).tolist()
    assert find("indices", text="3, 17 40-42\n5").tolist() == [3, 5, 17, 40, 41, 42]
    low = find("low-confidence", k=20)
    assert len(low) == 20 and stats.confidence[low].max() <= np.sort(stats.confidence)[19]
    high = find("high-loss", k=7)
    assert set(high.tolist()) == set(np.argsort(-stats.loss)[:7].tolist())
    # validation points hidden: only training points are found
    assert find("misclassified", shown=md.n_train).max() < md.n_train
    for criterion, kw, words in (
        ("class", {}, "choose a class"),
        ("indices", {"text": ""}, "empty"),
        ("indices", {"text": "4, x"}, "'x' is not a number"),
        ("indices", {"text": f"{md.n}"}, "outside the map"),
        ("low-confidence", {"k": None}, "k is empty"),
        ("high-drift", {"k": 5}, "chunk 1"),
    ):
        with pytest.raises(StoreError, match=words):
            find(criterion, **kw)


def test_gallery_order_and_csv(run_md):
    store, run, md = run_md
    stats = points.point_stats(store, md)
    sel = np.arange(100, 200)
    order = points.gallery_order(sel, stats, "confidence", 10)
    assert len(order) == 10 and np.all(np.diff(stats.confidence[order]) >= 0)
    assert stats.confidence[order[0]] == stats.confidence[sel].min()
    assert points.gallery_order(sel, stats, "index", 5).tolist() == [100, 101, 102, 103, 104]
    rows = list(csv.DictReader(io.StringIO(points.selection_csv(md, stats, sel[:3]))))
    assert [int(r["index"]) for r in rows] == [100, 101, 102]
    assert rows[0]["label"] == md.label_names[md.y[100]] and rows[0]["split"] == "train"
    assert float(rows[1]["x"]) == pytest.approx(float(md.coords[101, 0]), abs=1e-4)
    assert points._csv("=cmd()") == "'=cmd()" and points._csv('a,"b"') == '"a,""b"""'


def test_drift_and_realized_after_a_guided_chunk(run_md):
    store, run, md = run_md
    sel = np.flatnonzero((md.y == 4) & (md.split == "train"))
    loop.add_edit(store, run["id"], Edit("compact", sel.tolist(), beta=0.3))
    loop.run_chunk(store, run["id"], overrides={"epochs": 1})
    run = store.load_run(run["id"])
    md = views.load_map_data(store, run)
    stats = points.point_stats(store, md)
    drift = store.load_arrays(run["id"], "g1")["drift"]
    np.testing.assert_allclose(stats.drift, drift[: md.n])
    top = points.find_points(md, stats, "high-drift", k=5)
    assert set(top.tolist()) == set(np.argsort(-drift[: md.n])[:5].tolist())
    assert history.chunk_points(run, 1, md.n).tolist() == sel.tolist()
    assert history.chunk_points(run, 0, md.n).tolist() == []


def test_realized_shares_read_from_the_chunk_record():
    chunk = {
        "index": 2,
        "edits": [{"id": "a", "kind": "pull"}, {"id": "b", "kind": "translate"}],
        "realized": [
            {
                "edit": "a",
                "kind": "pull",
                "latent": {"guided": 0.78, "counterfactual": 0.03, "twin": 0.01},
                "map": {"guided": 0.8, "counterfactual": None, "twin": 0.0},
            },
            {"edit": "b", "latent": {"guided": 0.5, "counterfactual": None, "twin": -0.1}},
        ],
    }
    rows = history.realized_edits(chunk)
    assert [r["tool"] for r in rows] == ["pull", "move"]
    text = history.realized_text(rows[0])
    assert text == (
        "in latent space: pulled 78 % of the way · counterfactual 3 % · unguided lineage 1 %"
        " (guided: map 80 %)"
    )
    assert history.realized_text(rows[1]) == (
        "in latent space: moved 50 % of the way · unguided lineage -10 %"
    )
    s = history.realized_summary(chunk)
    assert s["guided"] == pytest.approx(0.64) and s["counterfactual"] == pytest.approx(0.03)
    run = {"chunks": [{"index": 0, "edits": []}, {"index": 1, "edits": [{}]}, chunk]}
    h = history.realized_history(run)
    assert h["chunk"] == [2] and h["twin"] == [pytest.approx(-0.045)]
    assert history.last_chunk_edits(run)[0] == 2
    assert history.realized_summary({"edits": []}) is None


def test_smoothing_is_a_debiased_moving_average_with_gaps():
    assert history.smooth([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])
    out = history.smooth([0.0, None, 2.0], 0.5)
    assert out[1] is None and out[2] == pytest.approx(1.0 / 0.75)  # (0.5 · 2) / (1 − 0.5²)
    assert history.smooth([3.0, 5.0], 0.0) == [3.0, 5.0]


def test_curve_traces_leave_a_short_run_whole():
    series = {"guided": {"step": [0, 1, 2], "value": [1.0, None, 0.5], "starts": [(0, 0)]}}
    raw, smoothed = history.curve_traces(series, 0.5)
    assert raw["guided"] == series["guided"]
    assert smoothed["guided"] == {"step": [0, 1, 2], "value": history.smooth([1.0, None, 0.5], 0.5)}


def test_curve_traces_thin_a_long_run_and_keep_its_spikes_and_gaps():
    g = np.random.default_rng(0)
    n = 20_000  # a 70 000-point run's steps after a few chunks
    values: list[float | None] = list(1.0 + 0.1 * g.standard_normal(n))
    values[12_345] = 9.0  # one spike
    values[3_000:3_100] = [None] * 100  # a stretch with no value
    starts = [(0, 0), (1, 5_000)]
    series = {"guided": {"step": list(range(n)), "value": values, "starts": starts}}
    raw, smoothed = history.curve_traces(series, 0.9, max_points=400)
    r, s = raw["guided"], smoothed["guided"]
    assert len(r["step"]) <= 400 and len(s["step"]) <= 400
    assert r["starts"] == starts
    finite = [v for v in values if v is not None]
    kept = [v for v in r["value"] if v is not None]
    assert max(kept) == 9.0 and min(kept) == min(finite)  # the envelope keeps the extremes
    assert None in r["value"]  # the gap stays a gap
    assert r["step"] == sorted(r["step"])
    full = history.smooth(values, 0.9)
    assert s["step"][-1] == n - 1
    assert s["value"] == [full[int(x)] for x in s["step"]]  # exact values, sampled


def test_step_curves_concatenate_chunks_when_the_store_has_them(run_md):
    store, run, _ = run_md
    if not hasattr(store, "load_curves"):
        assert history.step_curves(store, run, "loss") == {}
        pytest.skip("RunStore.load_curves arrives with the engine (issue 8)")
    series = history.step_curves(store, run, "loss")
    assert "guided" in series and series["guided"]["starts"][0] == (0, 0)


def test_thumbnails_of_map_points_share_the_data_sets_scale(run_md):
    store, run, md = run_md

    def png(uri):
        return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))

    uri = views.thumbnail(store, md, 3)
    assert uri.startswith("data:image/png;base64,")
    img = np.asarray(png(uri))
    assert img.shape[0] >= 8 and img.shape[0] % 8 == 0  # 8x8 digits, enlarged by whole pixels
    data, _, _ = run_dataset(store, run["id"])
    dark = int(np.argmin(data.X_train.reshape(len(data.X_train), -1).sum(1)))
    bright = int(np.argmax(data.X_train.reshape(len(data.X_train), -1).sum(1)))
    assert (
        np.asarray(png(views.thumbnail(store, md, dark))).mean()
        < np.asarray(png(views.thumbnail(store, md, bright))).mean()
    )
    with pytest.raises(StoreError, match="map point"):
        views.thumbnail(store, md, md.n)  # test points have no picture here


def test_advanced_settings_and_refit_reasons():
    assert advanced_overrides(0.01, 32.4, 0.5, None) == {
        "lr": 0.01,
        "batch_size": 32,
        "anchor": 0.5,
    }
    assert advanced_overrides(0, -1, float("nan"), True) == {}
    assert advanced_problems(None, None, None, None) == []
    problems = advanced_problems(0, 0.5, -1, None)
    assert [p.split(":")[0] for p in problems] == ["learning rate", "batch size", "anchor weight"]
    assert chunk_settings(None)["lr"] == 1e-3
    assert refit.refit_blocked({"trained": True}, False) == ""
    assert "training" in refit.refit_blocked({"trained": True, "training": True}, False)
    assert "2 edits are pending" in refit.refit_blocked({"trained": True, "pending": 2}, False)
    assert "chunk 0" in refit.refit_blocked({}, False)


def test_selection_store_from_the_server_keeps_the_previous(run_md):
    _, _, md = run_md
    first = selection.with_selection(None, np.array([1, 2]), "k", "find")
    assert first["source"] == "find" and first["count"] == 2
    second = selection.with_selection(first, np.array([7]), "k", "click")
    assert selection.decode_bits(second["previous"], md.n).tolist() == [1, 2]
    assert selection.with_selection(second, np.array([7]), "k", "find") is None
    cleared = selection.with_selection(second, np.zeros(0, int), "k", "clear")
    assert cleared["bits"] == "" and cleared["count"] == 0
