"""The Runs page in real Chromium: the lineage tree with its counterfactual side branch."""

from __future__ import annotations

import json

from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from tests.browser.helpers import severe_logs, text_of
from tests.browser.test_compare import train_run, wait_until


def node_positions(driver) -> dict[str, list[float]]:
    """Viewport position of every checkpoint node of the lineage tree."""
    js = """
    const d = document.querySelector('#runs-lineage-graph .js-plotly-plot');
    if (!d || !d._fullLayout || !d._fullLayout.xaxis) return '{}';
    const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis;
    const r = d.querySelector('.nsewdrag').getBoundingClientRect();
    const out = {};
    d.data.forEach(t => (t.customdata || []).forEach((ck, i) => {
        out[ck] = [r.left + xa.l2p(t.x[i]), r.top + ya.l2p(t.y[i])];
    }));
    return JSON.stringify(out);
    """
    return json.loads(driver.execute_script(js))


def test_lineage_tree_shows_both_baselines_and_a_click_picks_the_fork_point(browser, live_app):
    s = train_run(live_app.data_dir, "digits")
    driver = browser.driver
    driver.get(live_app.url + "/runs")
    nodes = wait_until(lambda: node_positions(driver), what="lineage tree")
    assert set(nodes) == {"c0", "g1", "u1", "g2", "u2", "f2"}
    assert nodes["f2"][1] > nodes["g2"][1] and nodes["f2"][1] < nodes["u2"][1]  # between rows
    assert "unguided lineage u1 → u2 · counterfactual chunk f2" in text_of(driver, "runs-current")
    assert s.run_id in text_of(driver, "runs-table")

    graph = driver.find_element(By.ID, "runs-lineage-graph")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", graph
    )
    x, y = node_positions(driver)["f2"]
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.click()
    actions.perform()
    wait_until(
        lambda: "f2 · counterfactual chunk · chunk 2" in text_of(driver, "fork-checkpoint"),
        what="fork menu on f2",
    )
    assert severe_logs(browser) == []
