"""The guided map first (issue 17), in real Chromium: while the guided lineage trains, Apply
(and Undo/Redo/Clear, and the Enter key) wait and say why; while the unguided lineage and
the counterfactual still train, the Loop map shows the chunk's guided map, says the rest is
arriving, and takes the next edit; the edit waits for the next chunk.

One test walks the whole chunk: each phase needs a long chunk, and a browser test's chunk
is the suite's most expensive part."""

from __future__ import annotations

import time

import numpy as np
from selenium.webdriver.common.keys import Keys

from hill_dash.engine import loop
from hill_dash.engine.edits import Edit
from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, lasso, progress_value, severe_logs
from tests.browser.loop_helpers import (
    choose_tool,
    drawn_points,
    selection_count,
    text_of,
    wait_for,
)


def test_the_guided_map_is_shown_and_edited_while_the_references_train(browser, live_app):
    s = Session.new("digits", model="cnn2d", projection="pca", epochs=1, data_dir=live_app.data_dir)
    store = RunStore(live_app.data_dir)
    threes = np.flatnonzero(store.load_dataset(s.run_id).y_train == 3)[:40].tolist()
    loop.add_edit(store, s.run_id, Edit("compact", threes, beta=0.5))
    s.train_chunk()  # chunk 1: from here the guided and unguided heads differ
    loop.add_edit(store, s.run_id, Edit("compact", threes, beta=0.5))  # chunk 2 has a
    n = s.run["sizes"]["train"] + s.run["sizes"]["val"]  # counterfactual to train last
    br = browser
    br.driver.get(live_app.url + "/")
    wait_for(lambda: drawn_points(br.driver) == n, 60, f"{n} points on the map")
    choose_tool(br.driver, "compact")  # β 0.5 by default
    region = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]
    lasso(br.driver, "latent-graph", region)
    wait_for(lambda: br.find_element("#apply-edit-button").is_enabled(), 30, "Apply open")
    br.find_element("#epochs-input").clear()
    # each phase lasts a while (200 epochs, the most the field takes): the references must
    # outlast the lasso and Apply on the guided map (at 60 epochs they took ~4 s on a
    # 2-core machine, and a lasso on a freshly drawn map took longer: red on a fast day)
    br.find_element("#epochs-input").send_keys("200")
    click(br, "#train-button")

    # the guided lineage trains: edits wait, and the page says until when
    wait_for(lambda: (progress_value(br.driver) or 0) >= 1, 300, "the chunk to run")
    note = wait_for(lambda: text_of(br.driver, "apply-note"), 20, "the reason Apply waits")
    assert "arriving" not in text_of(br.driver, "map-title")  # still in the guided phase
    assert "A chunk is training: edits open as soon as its guided map is shown" in note
    for button in ("apply-edit-button", "undo-button", "redo-button", "clear-button"):
        assert not br.find_element(f"#{button}").is_enabled(), button
    br.find_element("#compact-beta").send_keys(Keys.ENTER)  # the key is refused too
    time.sleep(1.0)
    assert [e["on"] for e in store.load_run(s.run_id)["pending"]] in (["g1"], [])

    wait_for(lambda: "arriving" in text_of(br.driver, "map-title"), 300, "the guided map")
    assert "guided head g2" in text_of(br.driver, "map-title")
    assert not br.find_element("#train-button").is_enabled()  # the job still runs
    wait_for(lambda: drawn_points(br.driver) == n, 30, "the guided map drawn")
    lasso(br.driver, "latent-graph", region)
    wait_for(lambda: selection_count(br.driver) > 0, 30, "a selection")
    wait_for(lambda: br.find_element("#apply-edit-button").is_enabled(), 30, "Apply open")
    assert not br.find_element("#train-button").is_enabled()  # the references still train
    click(br, "#apply-edit-button")
    wait_for(lambda: "1." in text_of(br.driver, "edit-list"), 30, "the edit in the list")
    assert "Added: compact" in text_of(br.driver, "edit-status")

    wait_for(lambda: "chunk 2" in text_of(br.driver, "chunk-status"), 600, "the chunk")
    run = store.load_run(s.run_id)
    assert run["heads"] == {"guided": "g2", "twin": "u2"} and "arriving" not in run
    assert run["chunks"][2]["counterfactual"] == "f2"
    assert [e["on"] for e in run["pending"]] == ["g2"]  # waits for chunk 3, not stale
    assert len(run["chunks"][2]["edits"]) == 1 and not run.get("stale_edits")
    wait_for(lambda: "arriving" not in text_of(br.driver, "map-title"), 30, "the title")
    wait_for(lambda: "training" not in text_of(br.driver, "apply-note"), 30, "Apply's note")
    assert severe_logs(br) == []
