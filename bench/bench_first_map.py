"""Cold start to the first map in the dashboard itself, as a newcomer meets it.

`python app.py` starts on a fresh run store; headless Chromium opens the Loop page
and clicks "Train chunk" as soon as it can; the clock stops when the latent map
shows every point of the first map (digits, the app's defaults: CNN, UMAP). The
job launcher compiles UMAP while the page loads, so this is the figure a person
sees, unlike bench_coldstart.py, which times the engine alone in one process.

- cold: NUMBA_CACHE_DIR is a new, empty directory: numba compiles everything;
- warm: the same cache directory again, after one cold run filled it.

Target: <= 20 s.

    python bench/bench_first_map.py [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - first: it puts the repository on sys.path
from common import summary, write_result
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.conftest import CHROMIUM, LiveApp, pytest_setup_options


def points_on_the_map() -> int:
    """digits' training and validation points: the locked test split is never on a map."""
    from hill_dash.engine.data import load_builtin

    data = load_builtin("digits", seed=0)
    return len(data.y_train) + len(data.y_val)


POINTS_JS = (  # plotly keeps typed arrays base64-encoded in .data; _fullData has them decoded
    "const g = document.querySelector('#latent-graph .js-plotly-plot');"
    "const t = g && g._fullData && g._fullData[0];"
    "return t && t.x ? t.x.length : 0;"
)


def chrome() -> webdriver.Chrome:
    options = pytest_setup_options()
    options.binary_location = CHROMIUM
    for arg in ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options)


def points_on_map(driver) -> int:
    return int(driver.execute_script(POINTS_JS) or 0)


def one_run(numba_cache: Path, driver: webdriver.Chrome, timeout: float = 300) -> dict:
    n_points = points_on_the_map()
    with tempfile.TemporaryDirectory(prefix="hill-first-map-") as tmp:
        t0 = time.perf_counter()
        app = LiveApp(Path(tmp) / "data", numba_cache, warm_up=True)  # as `make run`
        try:
            ready = time.perf_counter() - t0
            driver.get(app.url + "/")
            while time.perf_counter() - t0 < timeout:
                buttons = driver.find_elements(By.ID, "train-button")
                if buttons and buttons[0].is_enabled():
                    driver.execute_script("arguments[0].click();", buttons[0])
                    break
                time.sleep(0.05)
            clicked = time.perf_counter() - t0
            while time.perf_counter() - t0 < timeout and points_on_map(driver) < n_points:
                time.sleep(0.1)
            shown = time.perf_counter() - t0
            if points_on_map(driver) < n_points:
                raise RuntimeError(f"no first map after {timeout} s: {app.read_log()}")
        finally:
            app.stop()
    return {"server_ready": ready, "clicked": clicked, "map_shown": shown}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", default="first_map")
    args = p.parse_args()
    driver = chrome()
    cold, warm = [], []
    shared = Path(tempfile.mkdtemp(prefix="hill-numba-warm-"))
    try:
        for r in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="hill-numba-cold-") as fresh:
                cold.append(one_run(Path(fresh), driver))
            if r == 0:
                one_run(shared, driver)  # fill the shared cache once
            warm.append(one_run(shared, driver))
            print(f"run {r}: cold {cold[-1]}, warm {warm[-1]}", flush=True)
    finally:
        driver.quit()
    res = {}
    for name, runs in (("cold", cold), ("warm", warm)):
        res[name] = {k: summary([r[k] for r in runs]) for k in runs[0]}
    res["meets_target_cold"] = res["cold"]["map_shown"]["median"] <= 20
    res["meets_target_warm"] = res["warm"]["map_shown"]["median"] <= 20
    write_result(args.out, res)


if __name__ == "__main__":
    main()
