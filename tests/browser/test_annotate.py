"""Annotations on the Loop page (issue 15), in real Chromium: lasso a cluster, Relabel it
(the preview shows the new colours), Undo restores the labels, Redo, train, and the head
predicts the new class on the selection; the test split is untouched."""

from __future__ import annotations

import numpy as np
from selenium.webdriver.support.ui import Select

from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, lasso, severe_logs
from tests.browser.loop_helpers import (
    MAP,
    choose_tool,
    drawn_points,
    selection_count,
    text_of,
    wait_for,
)


def _colour_codes(driver, rows):
    return driver.execute_script(
        f"const c = document.querySelector('{MAP}')._fullData[0].marker.color;"
        "return arguments[0].map(i => Number(c[i]));",
        [int(i) for i in rows],
    )


def _cluster_polygon(driver, rows, half: float = 0.05):
    """A square lasso (fractions of the plot area) around the median of `rows`."""
    fx, fy = driver.execute_script(
        f"const gd = document.querySelector('{MAP}');"
        "const fd = gd._fullData[0], fl = gd._fullLayout;"
        "const xs = arguments[0].map(i => fl.xaxis.l2p(fd.x[i]) / fl.xaxis._length);"
        "const ys = arguments[0].map(i => fl.yaxis.l2p(fd.y[i]) / fl.yaxis._length);"
        "const med = a => a.sort((p, q) => p - q)[Math.floor(a.length / 2)];"
        "return [med(xs), med(ys)];",
        [int(i) for i in rows],
    )
    return [
        (fx - half, fy - half),
        (fx + half, fy - half),
        (fx + half, fy + half),
        (fx - half, fy + half),
    ]


def test_relabel_a_lassoed_cluster_undo_redo_train(browser, live_app):
    br = browser
    s = Session.new("digits", projection="pca", epochs=3, data_dir=live_app.data_dir)
    store = RunStore(live_app.data_dir)
    data = store.load_dataset(s.run_id)
    y_test = data.y_test.copy()
    n_train, n_map = len(data.y_train), len(data.y_train) + len(data.y_val)
    br.driver.get(live_app.url + "/")
    wait_for(lambda: drawn_points(br.driver) == n_map, 60, "the map")
    zeros = np.flatnonzero(data.y_train == 0)
    lasso(br.driver, "latent-graph", _cluster_polygon(br.driver, zeros))
    wait_for(lambda: selection_count(br.driver) > 5, 30, "a lassoed cluster")
    sel = np.asarray(
        store.load_run(s.run_id)
        and br.driver.execute_script(
            f"return document.querySelector('{MAP}')._fullData[0].selectedpoints;"
        ),
        np.int64,
    )
    train_sel = sel[sel < n_train]
    assert len(train_sel) > 5
    before = _colour_codes(br.driver, train_sel)

    choose_tool(br.driver, "relabel")
    wait_for(lambda: "Apply is off" in text_of(br.driver, "apply-note"), 20, "no class yet")
    assert (
        "Relabel" in text_of(br.driver, "apply-note")
        or not br.find_element("#apply-edit-button").is_enabled()
    )
    Select(br.find_element("#relabel-class")).select_by_value("6")
    # the preview: the selection's training points drawn in class 6's colour before Apply
    wait_for(lambda: set(_colour_codes(br.driver, train_sel)) == {6}, 20, "preview colours")
    wait_for(lambda: br.find_element("#apply-edit-button").is_enabled(), 20, "Apply on")
    click(br, "#apply-edit-button")
    wait_for(lambda: store.load_run(s.run_id)["pending"], 20, "the pending relabel")
    wait_for(lambda: "relabel" in text_of(br.driver, "edit-list"), 20, "the edit list")
    assert s.map().labels[train_sel].tolist() == [6] * len(train_sel)  # shown at once
    assert (s.map().original[train_sel] == data.y_train[train_sel]).all()

    choose_tool(br.driver, "move")  # away from the preview: the map shows what is stored
    click(br, "#undo-button")
    wait_for(lambda: not store.load_run(s.run_id)["pending"], 20, "undo")
    wait_for(lambda: _colour_codes(br.driver, train_sel) == before, 20, "labels restored")
    assert (s.map().labels[train_sel] == data.y_train[train_sel]).all()

    click(br, "#redo-button")
    wait_for(lambda: store.load_run(s.run_id)["pending"], 20, "redo")
    br.find_element("#epochs-input").clear()
    br.find_element("#epochs-input").send_keys("20")  # a cluster split from its class: 20 epochs
    click(br, "#train-button")
    wait_for(lambda: len(store.load_run(s.run_id)["chunks"]) == 2, 600, "chunk 1")
    chunk = store.load_run(s.run_id)["chunks"][1]
    pred = store.load_arrays(s.run_id, "g1")["logits"][train_sel].argmax(1)
    assert np.mean(pred == 6) >= 0.8  # the head predicts the new class on the selection
    row = chunk["realized"][0]
    assert row["kind"] == "relabel" and row["train"]["guided"]["after"] >= 0.8
    assert row["train"]["twin"]["after"] <= 0.2  # the unguided lineage kept the labels
    wait_for(lambda: "predicted as 6" in text_of(br.driver, "last-edits"), 60, "accounting")
    # the data set and its test split are untouched; nothing was revealed
    again = store.load_dataset(s.run_id)
    assert np.array_equal(again.y_test, y_test)
    assert np.array_equal(again.y_train, data.y_train)
    assert store.load_run(s.run_id)["test_reveals"] == []
    assert severe_logs(br) == []
