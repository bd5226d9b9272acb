"""Two browser tabs on two runs at once: each trains its own run, neither sees the other's."""

import time

from selenium import webdriver
from selenium.webdriver.common.by import By

from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.conftest import CHROMIUM, pytest_setup_options
from tests.browser.helpers import text_of


def open_run(driver, url: str, run_id: str) -> None:
    """Make `run_id` the tab's current run through the Runs page's Open button."""
    driver.get(url + "/runs")
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = [
            r for r in driver.find_elements(By.CSS_SELECTOR, "#runs-table tr") if run_id in r.text
        ]
        if rows:
            buttons = rows[0].find_elements(By.XPATH, ".//button[normalize-space()='Open']")
            if buttons:  # no button: the run is already this tab's current run
                driver.execute_script("arguments[0].click();", buttons[0])
                time.sleep(0.5)
            break
        time.sleep(0.3)
    driver.get(url + "/")


def wait_text(driver, element_id: str, needle: str, timeout: float = 300) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = text_of(driver, element_id)
        if needle in text:
            return text
        time.sleep(0.3)
    raise AssertionError(f"#{element_id} never showed {needle!r}: {text_of(driver, element_id)}")


def test_two_tabs_two_runs(browser, live_app):
    a = Session.new("digits", model="mlp", projection="pca", epochs=2, data_dir=live_app.data_dir)
    b = Session.new(
        "digits", model="mlp", projection="pca", epochs=2, seed=1, data_dir=live_app.data_dir
    )
    a.pull_to_class(a.select_class(3)[:20], 8)
    options = pytest_setup_options()
    options.binary_location = CHROMIUM
    for arg in ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    second = webdriver.Chrome(options=options)
    try:
        tabs = {a.run_id: browser.driver, b.run_id: second}
        for run_id, driver in tabs.items():
            open_run(driver, live_app.url, run_id)
            wait_text(driver, "run-header", run_id, timeout=30)
        for driver in tabs.values():  # both chunks start before either finishes
            driver.execute_script("document.getElementById('train-button').click();")
        for run_id, driver in tabs.items():
            wait_text(driver, "chunk-status", "chunk 1")
            assert run_id in text_of(driver, "run-header")
    finally:
        second.quit()
    store = RunStore(live_app.data_dir)
    ra, rb = store.load_run(a.run_id), store.load_run(b.run_id)
    assert ra["heads"] == rb["heads"] == {"guided": "g1", "twin": "u1"}
    assert ra["chunks"][1]["teacher"]["n_edited"] == 20  # A's edit went to A only
    assert rb["chunks"][1]["teacher"]["n_edited"] == 0
    assert store.lock_holder(a.run_id) is None and store.lock_holder(b.run_id) is None
