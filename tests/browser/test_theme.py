"""Dark mode in real Chromium: the navbar switch, remembered per browser, figures follow."""

from __future__ import annotations

import json
import time

from hill_dash.dashboard.figures.theme import DARK_BG, TEMPLATES
from hill_dash.session import Session
from tests.browser.helpers import click, severe_logs

LIGHT_BG = TEMPLATES["light"].layout.paper_bgcolor


def page_theme(driver) -> str | None:
    return driver.execute_script("return document.documentElement.getAttribute('data-bs-theme');")


def paper(driver, graph_id: str) -> str | None:
    js = (
        f"const d = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return d && d._fullLayout ? d._fullLayout.paper_bgcolor : null;"
    )
    return driver.execute_script(js)


def wait_for(check, timeout: float = 30, what: str = ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


def test_dark_mode_switch_is_remembered_and_figures_follow(browser, live_app):
    s = Session.new("digits", projection="pca", epochs=1, data_dir=live_app.data_dir)
    s.pull_to_class(s.select_class(3)[:30], 8)
    s.train_chunk()
    driver = browser.driver
    driver.get(live_app.url + "/compare")
    browser.wait_for_element("#theme-switch", timeout=30)
    wait_for(lambda: paper(driver, "compare-class-graph") == LIGHT_BG, what="light figures")
    assert page_theme(driver) in (None, "light")

    click(browser, "#theme-switch")
    wait_for(lambda: page_theme(driver) == "dark", what="dark page")
    for graph in ("compare-guided-graph", "compare-class-graph", "compare-confusion-graph"):
        wait_for(lambda g=graph: paper(driver, g) == DARK_BG, what=f"dark {graph}")
    body_bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor;")
    assert body_bg == rgb(DARK_BG)
    grid = driver.execute_script(
        "return getComputedStyle(document.querySelector('#compare-table .ag-root-wrapper'))"
        ".backgroundColor;"
    )
    assert grid != "rgb(255, 255, 255)"  # the metrics grid went dark too
    stored = driver.execute_script("return localStorage.getItem('theme-store');")
    assert json.loads(stored) == "dark"

    # remembered: a new page load, another page, and the switch shows it
    driver.get(live_app.url + "/runs")
    wait_for(lambda: page_theme(driver) == "dark", what="dark after reload")
    wait_for(lambda: paper(driver, "runs-lineage-graph") == DARK_BG, what="dark lineage")
    assert driver.find_element("id", "theme-switch").is_selected()

    click(browser, "#theme-switch")
    wait_for(lambda: page_theme(driver) == "light", what="light again")
    wait_for(lambda: paper(driver, "runs-lineage-graph") == LIGHT_BG, what="light lineage")
    driver.refresh()
    browser.wait_for_element("#theme-switch", timeout=30)
    time.sleep(1)
    assert page_theme(driver) == "light"
    assert not driver.find_element("id", "theme-switch").is_selected()
    assert severe_logs(browser) == []
