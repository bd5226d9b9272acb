"""Screenshots of the Loop page's tools (docs/screenshots/loop-*.png), 1400 px wide.

    .venv/bin/python docs/make_loop_screenshots.py

Starts the real app on a fresh data directory with a digits run (chunk 0, one guided
chunk: a pull of some 3s toward 8, and a pending compact) and an MNIST-1D run, then
drives headless Chromium: the tooltip, "Find points" with the selection gallery, colour
by confidence, the panels (realized share, chunks, training curves), the advanced chunk
settings, Apply waiting while a chunk trains, and a sequence's tooltip (sparkline).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from docs.make_screenshots import browser  # noqa: E402
from hill_dash.session import Session  # noqa: E402
from tests.browser.conftest import LiveApp  # noqa: E402
from tests.browser.helpers import lasso  # noqa: E402
from tests.browser.loop_helpers import drawn_points, hover_point, wait_for  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def away(driver) -> None:
    """The pointer off the map (no tooltip left over from an earlier hover)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(5, 5)
    actions.perform()
    time.sleep(0.5)


def shot(driver, name: str, scroll_to: str | None = None, offset: int = 80) -> None:
    away(driver)
    driver.execute_script("document.activeElement && document.activeElement.blur();")
    if scroll_to:
        driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - arguments[1]);",
            scroll_to,
            offset,
        )
    else:
        driver.execute_script("window.scrollTo(0, 0);")
    time.sleep(1.0)
    driver.save_screenshot(str(OUT / f"{name}.png"))
    print("wrote", OUT / f"{name}.png")


def open_loop(driver, url: str, run_id: str) -> None:
    driver.get(url + "/")
    driver.execute_script("sessionStorage.setItem('run-id', JSON.stringify(arguments[0]));", run_id)
    driver.get(url + "/")
    wait_for(lambda: drawn_points(driver) > 100, 120, "the map")
    time.sleep(3)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    app = LiveApp(tmp / "data", tmp / "numba")
    try:
        seq = Session.new("mnist1d", epochs=3, projection="pca", data_dir=app.data_dir)
        s = Session.new("digits", data_dir=app.data_dir, epochs=5)
        s.pull_to_class(s.select_class(3)[:60], 8)
        s.train_chunk()
        s.compact(s.select_class(5)[:80], 0.5)  # a pending edit, drawn as black rings
        d = browser()
        d.set_window_size(1400, 900)
        open_loop(d, app.url, s.run_id)

        # the tooltip over a lassoed selection, with its Pull preview
        lasso(d, "latent-graph", [(0.15, 0.15), (0.45, 0.15), (0.45, 0.5), (0.15, 0.5)])
        time.sleep(2)
        d.execute_script(
            "document.querySelector(\"#edit-tool input[value='pull'] + label\").click()"
        )
        Select(d.find_element("id", "pull-class")).select_by_value("0")
        time.sleep(3)
        d.execute_script("window.scrollTo(0, 0);")
        hover_point(d, 40)
        wait_for(lambda: d.find_element("id", "map-tooltip").text, 20, "the tooltip")
        time.sleep(1)
        d.save_screenshot(str(OUT / "loop-tooltip.png"))
        print("wrote", OUT / "loop-tooltip.png")

        # Find points: misclassified, coloured correct / wrong, with the gallery
        Select(d.find_element("id", "select-by")).select_by_value("misclassified")
        d.execute_script("document.getElementById('find-button').click()")
        Select(d.find_element("id", "color-by")).select_by_value("correct")
        time.sleep(3)
        shot(d, "loop-find-gallery", "#latent-graph", 60)
        d.set_window_size(1400, 1200)
        shot(d, "loop-find-gallery-full", None)
        d.set_window_size(1400, 900)

        # colour by confidence: a continuous scale with its colour bar
        Select(d.find_element("id", "color-by")).select_by_value("confidence")
        time.sleep(3)
        shot(d, "loop-colour-confidence")

        # the panels: realized share, the chunk table, per-step training curves
        d.set_window_size(1400, 1100)
        shot(d, "loop-panels", "#realized-graph", 60)
        d.set_window_size(1400, 900)

        # advanced chunk settings, then Apply waiting while a chunk trains
        d.execute_script("document.getElementById('advanced-toggle').click()")
        time.sleep(1)
        epochs = d.find_element("id", "epochs-input")
        epochs.send_keys(Keys.CONTROL, "a")
        epochs.send_keys("40")
        d.find_element("id", "lr-input").send_keys("0.002")
        shot(d, "loop-advanced", "#train-button", 420)
        d.execute_script("document.getElementById('train-button').click()")
        wait_for(lambda: "A chunk is training" in d.find_element("id", "apply-note").text, 120)
        time.sleep(2)
        shot(d, "loop-training", "#apply-edit-button", 420)
        wait_for(lambda: "chunk 2" in d.find_element("id", "chunk-status").text, 600, "chunk 2")

        # a sequence's tooltip: a sparkline (MNIST-1D)
        open_loop(d, app.url, seq.run_id)
        hover_point(d, 11)
        wait_for(lambda: d.find_element("id", "map-tooltip").text, 20, "the tooltip")
        time.sleep(1)
        d.save_screenshot(str(OUT / "loop-tooltip-sequence.png"))
        print("wrote", OUT / "loop-tooltip-sequence.png")
        d.quit()
    finally:
        app.stop()


if __name__ == "__main__":
    main()
