"""The Loop page as an honest instrument (issue 9), in real Chromium.

- The test split is never on the page before (or after) the final evaluation: not drawn,
  selected, counted, hovered or coloured; after a reveal the page says the split is no
  longer untouched. On digits and MNIST-1D.
- Apply (and Undo/Redo/Clear) wait while a chunk trains, and say why: in
  tests/browser/test_guided_first.py, which walks a whole chunk.
- An empty or invalid number field disables Apply with a message naming the field; it
  is never read as 0.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, lasso, severe_logs
from tests.browser.loop_helpers import (
    choose_tool,
    drawn_points,
    hover_point,
    selection_count,
    text_of,
    wait_for,
)

WHOLE_MAP = [(0.002, 0.002), (0.998, 0.002), (0.998, 0.998), (0.002, 0.998)]


def open_loop(br, url: str, n_points: int) -> None:
    br.driver.get(url + "/")
    wait_for(lambda: drawn_points(br.driver) == n_points, 60, f"{n_points} points on the map")
    time.sleep(1.0)


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_the_test_split_is_never_on_the_loop_page(browser, live_app, dataset):
    s = Session.new(dataset, projection="pca", epochs=1, data_dir=live_app.data_dir)
    sizes = s.run["sizes"]
    n_map = sizes["train"] + sizes["val"]
    assert sizes["test"] > 0
    br = browser
    open_loop(br, live_app.url, n_map)
    assert drawn_points(br.driver) == n_map  # train + val; no test point is drawn
    header = text_of(br.driver, "run-header")
    assert f"{n_map:,} points ({sizes['train']:,} train · {sizes['val']:,} val)" in header

    # hover: the tooltip and the side panel name train or val, never test (on a dense map
    # the pointer may land on a neighbour: the tooltip names the point it shows)
    splits = set()
    for i in (0, sizes["train"] - 1, sizes["train"], n_map - 1):
        before = text_of(br.driver, "map-tooltip")
        hover_point(br.driver, i)
        tip = wait_for(
            lambda before=before: (t := text_of(br.driver, "map-tooltip")) != before and t,
            20,
            f"a tooltip near point {i}",
        )
        assert "test" not in tip.lower() and "confidence" in tip
        assert br.driver.find_elements(By.CSS_SELECTOR, "#map-tooltip img")
        k, word = tip.split("\n")[0].lstrip("#").split(" · ")
        assert int(k) < n_map and word == ("training" if int(k) < sizes["train"] else "validation")
        assert "test" not in text_of(br.driver, "sample-caption").lower()
        splits.add(word)
    assert splits == {"training", "validation"}

    # select everything: exactly the map's points, counted as train + val
    lasso(br.driver, "latent-graph", WHOLE_MAP)
    wait_for(lambda: selection_count(br.driver) == n_map, 30, "the whole map selected")
    info = text_of(br.driver, "selection-info")
    assert f"{n_map:,} points: {sizes['train']:,} train · {sizes['val']:,} val" in info
    assert "test" not in info.lower()
    wait_for(lambda: "selected" in text_of(br.driver, "selection-gallery"), 20, "the gallery")
    assert "test" not in text_of(br.driver, "selection-gallery").lower()

    # no colour option speaks of test points
    options = [o.text for o in br.driver.find_elements(By.CSS_SELECTOR, "#color-by option")]
    assert "split (train / val)" in options and not any("test" in o for o in options)
    assert not br.driver.find_elements(By.ID, "test-reveal-alert")

    # the final evaluation is revealed (Compare page): the Loop page says so, draws no test
    loop.reveal_test(RunStore(live_app.data_dir), s.run_id)
    open_loop(br, live_app.url, n_map)
    alert = wait_for(lambda: text_of(br.driver, "test-reveal-note"), 20, "the reveal note")
    assert "test split revealed" in alert and "no longer untouched" in alert
    assert drawn_points(br.driver) == n_map
    assert severe_logs(br) == []


def _loop_with_a_selection(br, live_app) -> Session:
    """A digits run (PCA, 1 epoch), the Loop page open on it, a lasso over part of the map."""
    s = Session.new("digits", projection="pca", epochs=1, data_dir=live_app.data_dir)
    open_loop(br, live_app.url, s.run["sizes"]["train"] + s.run["sizes"]["val"])
    lasso(br.driver, "latent-graph", [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)])
    wait_for(lambda: selection_count(br.driver) > 0, 30, "a selection")
    return s


def test_an_empty_number_field_disables_apply_and_names_the_field(browser, live_app):
    br = browser
    s = _loop_with_a_selection(br, live_app)
    apply = br.find_element("#apply-edit-button")

    choose_tool(br.driver, "compact")
    beta = br.find_element("#compact-beta")
    beta.send_keys(Keys.CONTROL, "a")
    beta.send_keys(Keys.BACKSPACE)
    wait_for(lambda: "β is empty" in text_of(br.driver, "apply-note"), 20, "the β message")
    assert not apply.is_enabled()
    assert "β is empty" in text_of(br.driver, "preview-info")  # no preview of a 0
    beta.send_keys("1.5")
    wait_for(lambda: "from 0 to 1" in text_of(br.driver, "apply-note"), 20, "the range message")
    assert not apply.is_enabled()
    beta.send_keys(Keys.CONTROL, "a")
    beta.send_keys("0.3")
    wait_for(lambda: apply.is_enabled(), 20, "Apply enabled")
    assert text_of(br.driver, "apply-note") == ""
    click(br, "#apply-edit-button")
    wait_for(lambda: "1." in text_of(br.driver, "edit-list"), 20, "the edit in the list")
    pending = RunStore(live_app.data_dir).load_run(s.run_id)["pending"]
    assert [(e["kind"], e["beta"]) for e in pending] == [("compact", 0.3)]

    choose_tool(br.driver, "move")
    dx = br.find_element("#move-dx")
    dx.send_keys(Keys.CONTROL, "a")
    dx.send_keys(Keys.BACKSPACE)
    wait_for(lambda: "Δx is empty" in text_of(br.driver, "apply-note"), 20, "the Δx message")
    assert not apply.is_enabled()
    assert severe_logs(br) == []
