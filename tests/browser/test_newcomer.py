"""The newcomer flow in real Chromium: start, lasso, move, train, see guided vs twin differ."""

import json

import pytest
from selenium.webdriver.common.by import By

from hill_dash.engine.store import RunStore
from tests.browser.conftest import LiveApp
from tests.browser.helpers import click, figure_data, lasso, severe_logs, text_of, watch_progress


@pytest.fixture
def live_app(tmp_path, numba_cache):
    """The app as `make run` starts it: its launcher compiles UMAP, the newcomer's map."""
    app = LiveApp(tmp_path / "data", numba_cache, warm_up=True)
    yield app
    app.stop()


def test_lasso_move_train_and_compare(browser, live_app):
    br = browser
    br.server_url = live_app.url
    br.wait_for_contains_text("#train-button", "Train chunk", timeout=30)
    br.wait_for_contains_text("#run-header", "No run yet", timeout=30)

    # one click: a run on digits and its first chunk, with a progress bar that advances
    click(br, "#train-button")
    seen = watch_progress(br.driver, lambda: "chunk 0" in text_of(br.driver, "chunk-status"))
    assert {v for v in seen if 0 < v < 100}, seen  # chunk 0 on digits takes seconds
    assert "trained" in text_of(br.driver, "chunk-status")
    br.wait_for_contains_text("#run-header", "1 chunk", timeout=30)

    # lasso a region of the map with real mouse drags
    lasso(br.driver, "latent-graph", [(0.2, 0.2), (0.55, 0.2), (0.55, 0.6), (0.2, 0.6)])
    br.wait_for_contains_text("#selection-info", "points", timeout=20)
    info = text_of(br.driver, "selection-info")
    n_selected = int(info.split(" points")[0].replace(",", ""))
    assert n_selected > 0

    # move it by a numeric Δ (the drag handle writes the same inputs) and apply
    for box, value in (("#move-dx", "3"), ("#move-dy", "-2")):
        el = br.find_element(box)
        el.clear()
        el.send_keys(value)
    click(br, "#apply-edit-button")
    br.wait_for_contains_text("#edit-list", "1.", timeout=20)
    run_id = RunStore(live_app.data_dir).list_runs()[0]["id"]
    pending = RunStore(live_app.data_dir).load_run(run_id)["pending"]
    assert [e["kind"] for e in pending] == ["translate"]
    assert (pending[0]["dx"], pending[0]["dy"]) == (3.0, -2.0)

    # a guided chunk and its twin, long enough to watch the bar advance step by step (with
    # UMAP compiled by the launcher, 15 epochs took ~1 s on an idle machine: one poll)
    br.find_element("#epochs-input").clear()
    br.find_element("#epochs-input").send_keys("60")
    click(br, "#train-button")
    seen = watch_progress(br.driver, lambda: "chunk 1" in text_of(br.driver, "chunk-status"))
    assert len({v for v in seen if 0 < v < 100}) >= 2, seen
    br.wait_for_contains_text("#run-header", "2 chunk", timeout=30)

    # every panel shows chunk 1, and guided and unguided numbers differ
    for graph in ("accuracy-graph", "gap-graph", "drift-graph", "bias-graph"):
        br.wait_for_element(f"#{graph} .js-plotly-plot", timeout=20)
    acc = figure_data(br.driver, "accuracy-graph")
    assert any(1 in t["x"] for t in acc), json.dumps(acc)[:500]
    store = RunStore(live_app.data_dir)
    m = store.metrics(run_id)
    g, u = m["g1"], m["u1"]
    assert (g["val"]["loss"], g["train"]["loss"]) != (u["val"]["loss"], u["train"]["loss"])
    assert g["drift"]["edited"] is not None
    bias = figure_data(br.driver, "bias-graph")
    assert bias and len(bias[0]["x"]) == 10  # one bar per digit class
    assert store.load_run(run_id)["pending"] == []
    assert "1 edit" in text_of(br.driver, "chunk-log") or br.find_elements("#chunk-log tr")
    assert severe_logs(br) == []
    br.driver.find_element(By.ID, "latent-graph")
