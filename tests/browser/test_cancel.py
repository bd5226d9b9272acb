"""Cancel during a chunk: the run stays at its last complete checkpoint, the app stays usable."""

import time

from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, progress_value, severe_logs, text_of, watch_progress


def test_cancel_leaves_last_checkpoint(browser, live_app):
    s = Session.new("digits", model="mlp", projection="pca", epochs=2, data_dir=live_app.data_dir)
    before = s.run
    br = browser
    br.driver.get(live_app.url + "/")
    br.wait_for_contains_text("#run-header", "1 chunk", timeout=30)
    br.find_element("#epochs-input").clear()
    br.find_element("#epochs-input").send_keys("200")  # long enough to cancel mid-way
    click(br, "#train-button")
    deadline = time.time() + 300  # the first job waits for UMAP's warm-up before it forks
    while (progress_value(br.driver) or 0) < 1 and time.time() < deadline:
        time.sleep(0.2)
    assert (progress_value(br.driver) or 0) >= 1
    click(br, "#cancel-button")
    br.wait_for_contains_text("#chunk-status", "cancel", timeout=30)
    time.sleep(2)
    store = RunStore(live_app.data_dir)
    after = store.load_run(s.run_id)
    assert after["heads"] == before["heads"] and after["chunks"] == before["chunks"]
    assert store.lock_holder(s.run_id) is None
    # usable: a short chunk trains right after
    br.find_element("#epochs-input").clear()
    br.find_element("#epochs-input").send_keys("1")
    click(br, "#train-button")
    watch_progress(br.driver, lambda: "chunk 1" in text_of(br.driver, "chunk-status"))
    assert store.load_run(s.run_id)["heads"] == {"guided": "g1", "twin": "u1"}
    assert severe_logs(br) == []
