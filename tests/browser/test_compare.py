"""The Compare page in real Chromium: a locked test split, two named baselines, linked maps.

Runs are trained with the real engine (digits and MNIST-1D, PCA maps, a few epochs); the
page is driven with real mouse drags and clicks.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from hill_dash.dashboard import compare_view as CV
from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, lasso, severe_logs, text_of

MAPS = ("compare-guided-graph", "compare-baseline-graph")
WHOLE_PLOT = [(0.005, 0.005), (0.995, 0.005), (0.995, 0.995), (0.005, 0.995)]


def train_run(data_dir, dataset: str) -> Session:
    """chunk 0, a pull (chunk 1), a compact (chunk 2, with its counterfactual chunk f2)."""
    s = Session.new(dataset, projection="pca", epochs=2, data_dir=data_dir)
    s.pull_to_class(s.select_class(3)[:40], 8)
    s.train_chunk()
    s.compact(s.select_class(5)[:40], 0.5)
    s.train_chunk()
    assert s.run["chunks"][2]["counterfactual"] == "f2"  # the engine's side branch
    return s


def graph_state(driver, graph_id: str) -> dict:
    """What plotly.js is drawing: title, axis ranges, and per trace its points' indices."""
    js = f"""
    const d = document.querySelector('#{graph_id} .js-plotly-plot');
    if (!d || !d.data || !d._fullLayout || !d._fullLayout.xaxis) return 'null';
    return JSON.stringify({{
        title: (document.getElementById('{graph_id}-title') || {{}}).textContent || '',
        x: d._fullLayout.xaxis.range, y: d._fullLayout.yaxis.range,
        traces: d.data.map(t => ({{
            cd: Array.from(t.ids || []).map(Number), x: Array.from(t.x || []),
            sel: t.selectedpoints == null ? null : Array.from(t.selectedpoints),
            hover: t.hovertemplate || '', name: t.name || ''}}))
    }});"""
    return json.loads(driver.execute_script(js))


def shown_points(state: dict) -> list[int]:
    return sorted(i for t in state["traces"] for i in t["cd"])


def highlighted(state: dict) -> list[int] | None:
    if all(t["sel"] is None for t in state["traces"]):
        return None
    return sorted(t["cd"][j] for t in state["traces"] for j in (t["sel"] or []))


def wait_until(check, timeout: float = 30, what: str = ""):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - the page may be mid-render
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def maps_ready(driver, title_part: str = "") -> dict:
    def ready():
        states = [graph_state(driver, g) for g in MAPS]
        ok = all(s and s["traces"] and s["traces"][0]["cd"] for s in states)
        return ok and title_part in states[0]["title"] and states

    return wait_until(ready, what=f"both maps ({title_part})")


def selected_count(driver) -> int:
    text = text_of(driver, "compare-selection-note")
    return int(text.split(" point")[0].replace(",", "")) if " selected" in text else 0


def click_plot_at(driver, graph_id: str, x_index: float, y_value: float) -> None:
    """A real click at data position (category index or value on x, value on y)."""
    js = f"""
    const d = document.querySelector('#{graph_id} .js-plotly-plot');
    const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis;
    const r = d.querySelector('.nsewdrag').getBoundingClientRect();
    return [r.left + xa.l2p(arguments[0]), r.top + ya.l2p(arguments[1])];
    """
    drag = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .nsewdrag")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", drag
    )
    x, y = driver.execute_script(js, x_index, y_value)
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.click()
    actions.perform()


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_no_test_point_on_compare_before_or_after_the_reveal(browser, live_app, dataset):
    s = train_run(live_app.data_dir, dataset)
    sizes = s.run["sizes"]
    n_shown = sizes["train"] + sizes["val"]
    browser.driver.get(live_app.url + "/compare")
    for revealed in (False, True):
        states = maps_ready(browser.driver, "g2")
        for st in states:
            assert len(shown_points(st)) == n_shown  # drawn: training + validation only
            assert max(shown_points(st)) < n_shown  # test points come last in map order
            assert all("test" not in t["hover"] for t in st["traces"])
        status = text_of(browser.driver, "compare-test-status")
        if not revealed:
            assert status.startswith("Test split untouched"), status
            # counted: a lasso around the whole map selects every drawn point, no test one
            lasso(browser.driver, "compare-guided-graph", WHOLE_PLOT)
            wait_until(lambda: selected_count(browser.driver) > 0, what="selection caption")
            assert selected_count(browser.driver) == n_shown
            click(browser, "#reveal-test-button")
            browser.wait_for_contains_text("#test-accuracy", "Test accuracy", timeout=30)
            browser.wait_for_contains_text("#compare-test-status", "no longer untouched", 30)
            assert "revealed 1 time " in text_of(browser.driver, "compare-test-status")
            browser.driver.get(live_app.url + "/compare")  # a fresh page after the reveal
        else:
            browser.wait_for_contains_text("#compare-test-status", "no longer untouched", 30)
    assert severe_logs(browser) == []


def test_baselines_are_named_and_the_maps_are_linked(browser, live_app):
    s = train_run(live_app.data_dir, "digits")
    store, run_id = RunStore(live_app.data_dir), s.run_id
    driver = browser.driver
    driver.get(live_app.url + "/compare")
    g, u = maps_ready(driver, "g2")
    assert "unguided lineage u2" in u["title"]
    assert "where would I be without any guidance" in text_of(driver, "compare-baseline-note")

    # the counterfactual chunk: its own checkpoint, named as such
    driver.find_element(By.XPATH, "//label[contains(., 'counterfactual chunk (f2)')]").click()
    _, f = maps_ready(driver, "g2")
    wait_until(
        lambda: "counterfactual chunk f2" in graph_state(driver, MAPS[1])["title"],
        what="counterfactual map",
    )
    assert "what did this chunk's edits do" in text_of(driver, "compare-baseline-note")
    headers = [
        h.text for h in driver.find_elements(By.CSS_SELECTOR, "#compare-table .ag-header-cell-text")
    ]
    assert headers[:3] == ["metric", "guided g2", "counterfactual chunk f2"], headers

    # a lasso on the guided map lights up the same points on the counterfactual map
    lasso(driver, "compare-guided-graph", [(0.1, 0.1), (0.6, 0.1), (0.6, 0.7), (0.1, 0.7)])
    wait_until(lambda: selected_count(driver) > 0, what="lasso caption")
    n = selected_count(driver)
    assert "lasso on the guided map" in text_of(driver, "compare-selection-note")
    sel_g = wait_until(lambda: highlighted(graph_state(driver, MAPS[0])), what="guided highlight")
    sel_f = wait_until(lambda: highlighted(graph_state(driver, MAPS[1])), what="baseline highlight")
    assert sel_g == sel_f and len(sel_g) == n > 0

    # a confusion cell: true A predicted as B, on both maps
    view = CV.load_view(store, store.load_run(run_id), 2, CV.COUNTERFACTUAL)
    both = np.array(view.conf_g) + np.array(view.conf_o)
    np.fill_diagonal(both, 0)
    a, b = (int(v) for v in np.unravel_index(both.argmax(), both.shape))
    expected = sorted(CV.points_of_cell(view, a, b)["indices"].tolist())
    click_plot_at(driver, "compare-confusion-graph", b, a)
    wait_until(
        lambda: (
            f"true {view.label_names[a]} predicted as" in text_of(driver, "compare-selection-note")
        ),
        what="cell caption",
    )
    for graph in MAPS:
        assert wait_until(
            lambda g=graph: highlighted(graph_state(driver, g)) == expected,
            what=f"cell points on {graph}",
        )

    # a class bar: that class's points; then a class whose accuracy did not change, if
    # there is one (a bar of no height, which plotly's "closest" hover never clicked)
    deltas = [abs(x["delta"] or 0) for x in view.bias]
    changed = int(np.argmax(deltas))
    unchanged = [c for c, d in enumerate(deltas) if d == 0]
    for c in [changed, *unchanged[:1]]:
        click_plot_at(driver, "compare-class-graph", c, 100 * (view.bias[c]["delta"] or 0) / 2)
        expected = sorted(CV.points_of_class(view, c).tolist())
        for graph in MAPS:
            assert wait_until(
                lambda g=graph, e=expected: highlighted(graph_state(driver, g)) == e,
                what=f"class {c}'s points on {graph} (Δ {deltas[c]})",
            )

    click(browser, "#compare-clear-selection")
    wait_until(lambda: highlighted(graph_state(driver, MAPS[0])) is None, what="cleared")
    assert highlighted(graph_state(driver, MAPS[1])) is None
    assert severe_logs(browser) == []


def zoom_box(driver, graph_id: str, x0: float, y0: float, x1: float, y1: float) -> None:
    """Pick the mode bar's zoom tool and drag a box (fractions of the plot area)."""
    plot = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .js-plotly-plot")
    ActionChains(driver).move_to_element(plot).perform()  # the mode bar shows on hover
    btn = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .modebar-btn[data-val='zoom']")
    ActionChains(driver).move_to_element(btn).click().perform()
    drag = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .nsewdrag")
    r = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", drag)
    actions = ActionBuilder(driver)
    pointer = actions.pointer_action
    pointer.move_to_location(int(r["left"] + x0 * r["width"]), int(r["top"] + y0 * r["height"]))
    pointer.pointer_down()
    for k in range(1, 6):
        fx, fy = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
        pointer.move_to_location(int(r["left"] + fx * r["width"]), int(r["top"] + fy * r["height"]))
    pointer.pointer_up()
    actions.perform()


def test_shared_zoom_and_play_through_the_chunks(browser, live_app):
    train_run(live_app.data_dir, "digits")
    driver = browser.driver
    driver.get(live_app.url + "/compare")
    before, _ = maps_ready(driver, "g2")

    # zoom on the guided map: the baseline map follows while the switch is on
    zoom_box(driver, MAPS[0], 0.2, 0.2, 0.6, 0.6)
    wait_until(lambda: graph_state(driver, MAPS[0])["x"] != before["x"], what="guided zoom")
    g = graph_state(driver, MAPS[0])
    wait_until(lambda: graph_state(driver, MAPS[1])["x"] == g["x"], what="baseline follows")
    assert graph_state(driver, MAPS[1])["y"] == g["y"]
    click(browser, "#compare-zoom-link")
    zoom_box(driver, MAPS[0], 0.3, 0.3, 0.5, 0.5)
    wait_until(lambda: graph_state(driver, MAPS[0])["x"] != g["x"], what="second zoom")
    time.sleep(1)
    assert graph_state(driver, MAPS[1])["x"] == g["x"]  # switch off: the other stays

    # Play from the last chunk starts at chunk 0 and stops on the last one: every title the
    # guided map shows, and every label of the button, is recorded in the page as it
    # changes (a loaded machine can keep WebDriver's polls out of the page for the whole
    # of a short play: polling alone once missed the "Pause" that was shown)
    driver.execute_script(
        """window.__titles = []; window.__buttons = [];
        const record = (id, into) => {
            const el = document.getElementById(id);
            new MutationObserver(() => into.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        };
        record('compare-guided-graph-title', window.__titles);
        record('compare-play-button', window.__buttons);"""
    )
    click(browser, "#compare-play-button")
    wait_until(
        lambda: any("Pause" in b for b in driver.execute_script("return window.__buttons;")),
        timeout=10,
        what="the button says Pause",
    )
    wait_until(
        lambda: "Play" in text_of(driver, "compare-play-button"), timeout=90, what="play ends"
    )
    browser.wait_for_contains_text("#compare-guided-graph-title", "g2", timeout=60)
    titles = driver.execute_script("return window.__titles;")
    seen = [next((ck for ck in ("c0", "g1", "g2") if ck in t), t) for t in titles]
    assert [ck for i, ck in enumerate(seen) if i == 0 or seen[i - 1] != ck] == [
        "c0",
        "g1",
        "g2",
    ], titles
    assert "Play" in text_of(driver, "compare-play-button")
    assert severe_logs(browser) == []
