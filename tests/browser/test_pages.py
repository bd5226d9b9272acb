"""Every page loads with an empty console; a bad upload shows its error and the app goes on."""

import time

import numpy as np
import pytest

from hill_dash.session import Session
from tests.browser.helpers import severe_logs, text_of

PAGES = [
    ("/", "#latent-graph"),
    ("/compare", "#compare-guided-graph"),
    ("/runs", "#runs-table"),
    ("/data", "#data-upload"),
]


@pytest.fixture
def trained_app(live_app):
    s = Session.new("digits", model="mlp", projection="pca", epochs=2, data_dir=live_app.data_dir)
    s.pull_to_class(s.select_class(3)[:30], 8)
    s.train_chunk()
    return live_app


def visit_every_page(br, url: str) -> None:
    """Each page in turn: its marker drawn, its first callbacks answered, no console error.

    One browser and one app for all four pages: a page's console is read (and emptied)
    before the next one loads, so an error names the page it came from.
    """
    for path, marker in PAGES:
        br.driver.get(url + path)
        br.wait_for_element(marker, timeout=30)
        time.sleep(1.5)  # let the first callbacks answer
        assert severe_logs(br) == [], path


def test_every_page_loads_with_empty_console_without_runs(browser, live_app):
    visit_every_page(browser, live_app.url)


def test_every_page_loads_with_empty_console_with_a_run(dash_br, trained_app):
    dash_br.server_url = trained_app.url
    visit_every_page(dash_br, trained_app.url)


def test_bad_upload_shows_error_inline_and_app_keeps_working(browser, live_app, tmp_path):
    bad = tmp_path / "broken.npz"
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[7, 1] = np.inf
    np.savez(bad, X=X, y=np.arange(50) % 2)
    browser.driver.get(browser.server_url + "/data")
    browser.wait_for_element("#data-upload input[type=file]", timeout=30)
    browser.find_element("#data-upload input[type=file]").send_keys(str(bad))
    browser.wait_for_contains_text("#data-error", "broken.npz", timeout=30)
    err = text_of(browser.driver, "data-error")
    assert "'X'" in err or "X" in err
    assert not list((live_app.data_dir / "runs").glob("*"))  # nothing stored
    # the app still works: another page renders and answers
    browser.driver.get(browser.server_url + "/")
    browser.wait_for_contains_text("#train-button", "Train chunk", timeout=30)
    assert severe_logs(browser) == []
