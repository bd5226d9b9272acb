"""The Loop page's script attaches one afterplot listener to the map, not one per tick
(`assets/loop.js` `hook()` runs every 300 ms; plotly.js keeps listeners on `gd._ev`)."""

import time

from hill_dash.session import Session
from tests.browser.helpers import severe_logs

COUNT = """
const gd = document.querySelector('#latent-graph .js-plotly-plot');
if (!gd) return null;
const ev = gd._ev && gd._ev.listeners ? gd._ev : gd;
return ev.listeners ? ev.listeners('plotly_afterplot').length : -1;
"""


def test_the_map_keeps_one_afterplot_listener(dash_br, live_app):
    Session.new("digits", model="mlp", projection="pca", epochs=1, data_dir=live_app.data_dir)
    dash_br.server_url = live_app.url
    dash_br.driver.get(live_app.url + "/")
    dash_br.wait_for_element("#latent-graph .js-plotly-plot", timeout=30)
    time.sleep(1.0)
    first = dash_br.driver.execute_script(COUNT)
    time.sleep(3.0)  # ten ticks of hook()
    later = dash_br.driver.execute_script(COUNT)
    assert first is not None and first >= 1
    assert later == first, (first, later)
    assert severe_logs(dash_br) == []
