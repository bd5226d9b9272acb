"""Small browser helpers: real mouse drags on a Plotly graph, reading figures and progress."""

from __future__ import annotations

import json
import os
import tempfile
import time

from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By


def plot_div(driver, graph_id: str):
    return driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .js-plotly-plot")


def lasso(driver, graph_id: str, polygon: list[tuple[float, float]]) -> None:
    """Drag the mouse along `polygon` (fractions of the plot area) with the button held."""
    drag = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .nsewdrag")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", drag
    )
    r = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", drag)
    pts = [
        (int(r["left"] + fx * r["width"]), int(r["top"] + fy * r["height"])) for fx, fy in polygon
    ]
    pts.append(pts[0])
    actions = ActionBuilder(driver)
    pointer = actions.pointer_action
    pointer.move_to_location(*pts[0])
    pointer.pointer_down()
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        for k in range(1, 6):  # several small moves per edge, as a hand would
            pointer.move_to_location(x0 + (x1 - x0) * k // 5, y0 + (y1 - y0) * k // 5)
    pointer.pointer_up()
    actions.perform()


def figure_data(driver, graph_id: str) -> list[dict]:
    """The traces plotly.js is showing in a dcc.Graph (x/y/name per trace)."""
    js = (
        f"const d = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return d && d.data ? JSON.stringify(d.data.map(t => ({name: t.name, type: t.type,"
        " x: Array.from(t.x || []), y: Array.from(t.y || [])}))) : '[]';"
    )
    return json.loads(driver.execute_script(js))


def progress_value(driver) -> float | None:
    bar = driver.find_elements(By.CSS_SELECTOR, "#chunk-progress .progress-bar")
    if not bar:
        return None
    v = bar[0].get_attribute("aria-valuenow")
    return float(v) if v not in (None, "") else None


def watch_progress(driver, done, timeout: float = 240) -> list[float]:
    """Poll the progress bar until `done()`; returns the distinct values seen."""
    seen: list[float] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = progress_value(driver)
        if v is not None and (not seen or seen[-1] != v):
            seen.append(v)
        if done():
            return seen
        time.sleep(0.15)
    raise AssertionError(f"timed out; progress seen: {seen}")


def text_of(driver, element_id: str) -> str:
    """The visible text of an element; "" when absent (retried if it is re-rendered)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(5):
        try:
            els = driver.find_elements(By.ID, element_id)
            return els[0].text if els else ""
        except StaleElementReferenceException:
            time.sleep(0.05)
    return ""


def severe_logs(dash_br) -> list[dict]:
    """Browser console entries at SEVERE level (the page should have none)."""
    return [e for e in dash_br.get_logs() or [] if e.get("level") == "SEVERE"]


def click(br, selector: str) -> None:
    """Scroll an element to the middle of the window, as a person would, and click it.

    Where another element covers it at that moment (a status alert fading in shifts the
    layout under the pointer), Chrome delivers no click at all; the click is tried again
    once the page has settled, as a person would click again, three times at most.
    """
    for attempt in range(3):
        el = br.find_element(selector)
        br.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", el
        )
        try:
            el.click()
            return
        except ElementClickInterceptedException as exc:
            if attempt == 2:
                _add_screenshot(br, exc)
                raise
            time.sleep(0.5)
        except Exception as exc:
            _add_screenshot(br, exc)
            raise


def _add_screenshot(br, exc: Exception) -> None:
    fd, shot = tempfile.mkstemp(prefix="click-failed-", suffix=".png")
    os.close(fd)
    br.driver.save_screenshot(shot)
    exc.add_note(f"screenshot of the page: {shot}")
