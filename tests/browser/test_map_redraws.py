"""What the Loop map costs the page: one afterplot listener (`assets/loop.js` `hook()` runs
every 300 ms; plotly.js keeps listeners on `gd._ev`), and neither a selection, a zoom nor
a change of the run that keeps the map's colours recomputes every point (plotly's calc
step: 1-2 s at 200 000 points on a CPU-rendered WebGL; benchmarks §6)."""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hill_dash.session import Session
from tests.browser.helpers import lasso, severe_logs
from tests.browser.loop_helpers import selected_count, selection_count, wait_for

COUNT = """
const gd = document.querySelector('#latent-graph .js-plotly-plot');
if (!gd) return null;
const ev = gd._ev && gd._ev.listeners ? gd._ev : gd;
return ev.listeners ? ev.listeners('plotly_afterplot').length : -1;
"""
# plotly's calc step builds a new gd.calcdata: a mark on the current one survives only if
# the points were not recomputed
MARK = "const gd = document.querySelector('#latent-graph .js-plotly-plot'); gd.calcdata.__hill = 1;"
MARKED = "return document.querySelector('#latent-graph .js-plotly-plot').calcdata.__hill === 1;"


def test_the_map_keeps_one_listener_and_never_recomputes_for_a_selection_or_zoom(dash_br, live_app):
    s = Session.new("digits", model="mlp", projection="pca", epochs=1, data_dir=live_app.data_dir)
    dash_br.server_url = live_app.url
    driver = dash_br.driver
    driver.get(live_app.url + "/")
    dash_br.wait_for_element("#latent-graph .js-plotly-plot", timeout=30)
    wait_for(lambda: driver.execute_script(COUNT), 30, "the map's listener")
    time.sleep(1.0)
    first = driver.execute_script(COUNT)
    time.sleep(3.0)  # ten ticks of hook()
    later = driver.execute_script(COUNT)
    assert first is not None and first >= 1
    assert later == first, (first, later)

    # the run changed but not its colours (as at a chunk's end, after its guided map was
    # shown, whose job names its run): the map is patched (its box and ghosts) without
    # recomputing a point
    edit_revision = (
        "return document.querySelector('#latent-graph .js-plotly-plot').layout.editrevision;"
    )
    driver.execute_script(MARK)
    before = driver.execute_script(edit_revision)
    driver.execute_script(
        "window.dash_clientside.set_props('store-change',"
        " {data: {version: Date.now() / 1000, run_id: arguments[0]}});",
        s.run_id,
    )
    wait_for(lambda: driver.execute_script(edit_revision) != before, 20, "the map's patch")
    time.sleep(0.5)
    assert driver.execute_script(MARKED), "a change of the run that kept the colours recomputed"

    # a lasso: the page draws the selection (the trace's selectedpoints kept in step)
    driver.execute_script(MARK)
    lasso(driver, "latent-graph", [(0.1, 0.1), (0.6, 0.1), (0.6, 0.7), (0.1, 0.7)])
    wait_for(lambda: selection_count(driver) > 0, 30, "the selection caption")
    time.sleep(1.0)  # the server's answer (caption, box) has been drawn too
    assert selected_count(driver) == selection_count(driver)
    assert driver.execute_script(MARKED), "a selection recomputed every point"
    # a zoom (what the wheel ends with) with the selection and the ghost shapes on
    driver.execute_script(
        "const gd = document.querySelector('#latent-graph .js-plotly-plot');"
        "const r = gd._fullLayout.xaxis.range, s = gd._fullLayout.yaxis.range;"
        "return Plotly.relayout(gd, {'xaxis.range': [r[0] * 0.8, r[1] * 0.8],"
        " 'yaxis.range': [s[0] * 0.8, s[1] * 0.8]});"
    )
    time.sleep(1.0)
    assert driver.execute_script(MARKED), "a zoom recomputed every point"
    # Esc clears the selection, drawn by the page the same way
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(lambda: selected_count(driver) == 0, 20, "the selection cleared on the map")
    assert driver.execute_script(MARKED), "clearing the selection recomputed every point"
    # the ghosts' key is the page's (a shape in plotly's legend recomputes on every zoom)
    legend = driver.find_element(By.ID, "map-legend").text
    assert "targets of pending edits" in legend and "preview (not applied)" in legend
    assert (
        driver.execute_script(
            "return document.querySelector('#latent-graph .js-plotly-plot')._fullLayout.showlegend"
        )
        is False
    )
    assert driver.execute_script(COUNT) == first
    assert severe_logs(dash_br) == []
