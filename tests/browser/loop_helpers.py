"""Browser helpers for the Loop page's map: points drawn, hovering one, keys, selection."""

from __future__ import annotations

import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from tests.browser.helpers import text_of  # noqa: F401 - the Loop tests import it from here

MAP = "#latent-graph .js-plotly-plot"


def drawn_points(driver) -> int:
    """How many points plotly draws in the map's points trace."""
    return driver.execute_script(
        f"const g = document.querySelector('{MAP}');"
        "return g && g._fullData && g._fullData[0] ? g._fullData[0]._length || 0 : 0;"
    )


def wait_for(fn, timeout: float = 30.0, what: str = ""):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def point_position(driver, index: int) -> tuple[float, float]:
    """Viewport pixel position of map point `index`."""
    return driver.execute_script(
        f"const gd = document.querySelector('{MAP}');"
        "const fd = gd._fullData[0], fl = gd._fullLayout, i = arguments[0];"
        "const r = gd.querySelector('.nsewdrag').getBoundingClientRect();"
        "return [r.left + fl.xaxis.l2p(fd.x[i]), r.top + fl.yaxis.l2p(fd.y[i])];",
        index,
    )


def hover_point(driver, index: int) -> None:
    """Move the mouse onto map point `index` (scrolled into view first)."""
    el = driver.find_element(By.CSS_SELECTOR, "#latent-graph .nsewdrag")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", el
    )
    x, y = point_position(driver, index)
    actions = ActionBuilder(driver, duration=50)
    actions.pointer_action.move_to_location(int(x) + 4, int(y) + 4)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()


def press(driver, *keys: str) -> None:
    """Key chord on the focused element (e.g. Keys.CONTROL, "z")."""
    chain = ActionChains(driver)
    for k in keys[:-1]:
        chain.key_down(k)
    chain.send_keys(keys[-1])
    for k in reversed(keys[:-1]):
        chain.key_up(k)
    chain.perform()


def selected_count(driver) -> int:
    """Points the map draws as selected (plotly's selectedpoints on the points trace)."""
    return driver.execute_script(
        f"const g = document.querySelector('{MAP}');"
        "const s = g && g._fullData[0] && g._fullData[0].selectedpoints;"
        "return s ? s.length : 0;"
    )


def selection_count(driver) -> int:
    """The count in the selection caption ("1,234 points: ..."); 0 for nothing."""
    text = driver.find_element(By.ID, "selection-info").text
    if "points" not in text and "point:" not in text:
        return 0
    return int(text.split(" point")[0].replace(",", ""))


def choose_tool(driver, tool: str) -> None:
    """Pick an edit tool (the radio's label, as a person clicks it)."""
    label = driver.find_element(By.CSS_SELECTOR, f"#edit-tool input[value='{tool}'] + label")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", label
    )
    label.click()
