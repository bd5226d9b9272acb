"""Screenshots of every page at 1400×900 after a guided chunk (docs/screenshots/*.png).

    .venv/bin/python docs/make_screenshots.py

Starts the real app on a fresh data directory, trains chunk 0 and one guided chunk on
digits (a pull of some 3s toward 8, a deliberately biased edit, so the bias panel has
something to show), then drives headless Chromium through the pages; then trains the
pending edit as a second guided chunk for Compare (against its counterfactual chunk),
Runs (the lineage tree) and Compare in dark mode.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium import webdriver  # noqa: E402

from hill_dash.session import Session  # noqa: E402
from tests.browser.conftest import CHROMIUM, LiveApp  # noqa: E402
from tests.browser.helpers import lasso  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,900",
        "--enable-unsafe-swiftshader",
        "--disable-background-networking",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(options=options)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    app = LiveApp(tmp / "data", tmp / "numba")
    try:
        s = Session.new("digits", data_dir=app.data_dir, epochs=5)
        s.pull_to_class(s.select_class(3)[:60], 8)
        s.train_chunk()
        s.compact(s.select_class(5)[:80], 0.5)  # a pending edit, shown as a ghost preview
        driver = browser()
        driver.set_window_size(1400, 900)
        for name, path, wait in (
            ("loop", "/", 6),
            ("compare", "/compare", 5),
            ("runs", "/runs", 3),
            ("data", "/data", 4),
        ):
            driver.get(app.url + path)
            time.sleep(wait)
            if name == "loop":
                lasso(
                    driver, "latent-graph", [(0.15, 0.15), (0.45, 0.15), (0.45, 0.5), (0.15, 0.5)]
                )
                time.sleep(2)
                driver.execute_script("window.scrollTo(0, 0);")
            driver.save_screenshot(str(OUT / f"{name}.png"))
            print("wrote", OUT / f"{name}.png")
            if name == "loop":  # the linked panels sit below the fold: one tall shot too
                driver.set_window_size(1400, 1900)
                time.sleep(2)
                driver.save_screenshot(str(OUT / "loop-full.png"))
                driver.set_window_size(1400, 900)
        # Compare and Runs after a second guided chunk (the pending compact edit), so the
        # counterfactual chunk f2 exists: Compare against it with a lasso lighting up the
        # same points on both maps, and Runs with f2 as a side branch of the lineage tree
        s.train_chunk()
        driver.get(app.url + "/compare")
        time.sleep(5)
        driver.find_element("xpath", "//label[contains(., 'counterfactual chunk (f2)')]").click()
        time.sleep(4)
        lasso(driver, "compare-guided-graph", [(0.1, 0.15), (0.5, 0.15), (0.5, 0.6), (0.1, 0.6)])
        time.sleep(2)
        driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
        time.sleep(0.5)
        driver.save_screenshot(str(OUT / "compare.png"))
        print("wrote", OUT / "compare.png")
        driver.get(app.url + "/runs")
        time.sleep(4)
        driver.save_screenshot(str(OUT / "runs.png"))
        print("wrote", OUT / "runs.png")
        # dark mode (the navbar switch, remembered in the browser's localStorage)
        driver.get(app.url + "/compare")
        driver.execute_script("localStorage.setItem('theme-store', JSON.stringify('dark'));")
        driver.refresh()
        time.sleep(6)
        driver.save_screenshot(str(OUT / "compare-dark.png"))
        print("wrote", OUT / "compare-dark.png")
        driver.quit()
    finally:
        app.stop()


if __name__ == "__main__":
    main()
