"""What a researcher reaches for on the Loop page (issue 11), in real Chromium.

Find points, colour by, the validation toggle, the selection gallery and its CSV, the
keyboard, clickable bias bars and chunk rows, the tooltip, advanced chunk settings,
figure downloads, the map re-fit button, and the small things seen on the running app.
"""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from hill_dash.engine.store import RunStore
from hill_dash.session import Session
from tests.browser.helpers import click, lasso, severe_logs
from tests.browser.loop_helpers import (
    MAP,
    drawn_points,
    hover_point,
    press,
    selected_count,
    selection_count,
    text_of,
    wait_for,
)

LEFT = [(0.05, 0.05), (0.5, 0.05), (0.5, 0.95), (0.05, 0.95)]


@pytest.fixture
def guided_run(live_app):
    """Chunk 0 and one guided chunk (a pull of 30 threes toward 8) on digits, PCA map."""
    s = Session.new("digits", projection="pca", epochs=1, data_dir=live_app.data_dir)
    edited = s.select_class(3)[:30]
    s.pull_to_class(edited, 8)
    s.train_chunk()
    return s, edited


def open_loop(br, url: str, n_points: int) -> None:
    br.driver.get(url + "/")
    wait_for(lambda: drawn_points(br.driver) == n_points, 60, f"{n_points} points on the map")
    time.sleep(1.0)


def find(br, criterion: str, mode: str = "replace", **fields) -> None:
    Select(br.find_element("#select-by")).select_by_value(criterion)
    label = br.driver.find_element(By.CSS_SELECTOR, f"#find-mode input[value='{mode}'] + label")
    br.driver.execute_script("arguments[0].click();", label)
    if "cls" in fields:
        Select(br.find_element("#find-class")).select_by_value(str(fields["cls"]))
    for key, box in (("k", "#find-k"), ("text", "#find-indices")):
        if key in fields:
            el = br.find_element(box)
            el.send_keys(Keys.CONTROL, "a")
            el.send_keys(str(fields[key]))
    click(br, "#find-button")


def wait_selected(br, n: int, what: str) -> None:
    wait_for(lambda: selection_count(br.driver) == n, 30, f"{what}: caption {n}")
    wait_for(lambda: selected_count(br.driver) == n, 30, f"{what}: {n} drawn as selected")


def test_find_points_colour_by_val_toggle_gallery_and_csv(browser, live_app, guided_run, tmp_path):
    s, _ = guided_run
    store = RunStore(live_app.data_dir)
    run = store.load_run(s.run_id)
    sizes = run["sizes"]
    n_map, n_train = sizes["train"] + sizes["val"], sizes["train"]
    y = store.load_dataset(s.run_id).all_y()[:n_map]
    logits = store.load_arrays(s.run_id, "g1")["logits"][:n_map]
    wrong = set(np.flatnonzero(logits.argmax(1) != y).tolist())
    threes = set(np.flatnonzero(y == 3).tolist())
    br = browser
    open_loop(br, live_app.url, n_map)

    find(br, "class", cls=3)
    wait_selected(br, len(threes), "class 3")
    find(br, "misclassified", "add")
    wait_selected(br, len(threes | wrong), "class 3 + misclassified")
    find(br, "class", "subtract", cls=3)
    wait_selected(br, len(wrong - threes), "misclassified − class 3")
    find(br, "indices", text="0-9, 20")
    wait_selected(br, 11, "an index list")
    # the others stay drawn, greyed
    unselected = br.driver.execute_script(
        f"return document.querySelector('{MAP}')._fullData[0].unselected.marker.color"
    )
    assert unselected and drawn_points(br.driver) == n_map

    # the gallery: one thumbnail per selected point, with label · prediction
    wait_for(lambda: len(br.driver.find_elements(By.CSS_SELECTOR, ".hill-thumb")) == 11, 20, "11")
    assert "11 points selected" in text_of(br.driver, "selection-gallery")
    Select(br.find_element("#gallery-sort")).select_by_value("drift")
    wait_for(lambda: "drift" in text_of(br.driver, "gallery-note"), 20, "sorted by drift")

    # the selection as CSV
    br.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    click(br, "#export-selection-button")
    path = wait_for(lambda: next(iter(tmp_path.glob("*.csv")), None), 30, "the CSV file")
    time.sleep(0.5)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [int(r["index"]) for r in rows] == [*range(10), 20]
    assert {r["split"] for r in rows} == {"train"} and rows[0]["label"] == str(y[0])
    assert set(rows[0]) == {"index", "split", "label", "prediction", "confidence", "x", "y"}

    # colour by a continuous quantity: a colour scale with a colour bar
    Select(br.find_element("#color-by")).select_by_value("confidence")
    marker = wait_for(
        lambda: br.driver.execute_script(
            f"const m = document.querySelector('{MAP}')._fullData[0].marker;"
            "return m.colorbar && m.colorbar.title.text === 'confidence' ? "
            "{min: Math.min(...m.color), max: Math.max(...m.color), n: m.color.length,"
            " show: m.showscale} : null;"
        ),
        20,
        "the confidence colours",
    )
    assert marker["show"] and 0.05 <= marker["min"] <= marker["max"] <= 1 and marker["n"] == n_map
    Select(br.find_element("#color-by")).select_by_value("split")
    wait_for(
        lambda: (
            br.driver.execute_script(
                f"return document.querySelector('{MAP}')._fullData[0].marker.colorbar.ticktext"
            )
            == ["train", "val"]
        ),
        20,
        "split colours",
    )

    # validation points off and on
    br.driver.execute_script("document.getElementById('show-val').click();")
    wait_for(lambda: drawn_points(br.driver) == n_train, 30, "training points only")
    br.driver.execute_script("document.getElementById('show-val').click();")
    wait_for(lambda: drawn_points(br.driver) == n_map, 30, "validation points back")
    wait_selected(br, 11, "the selection survives the toggle")
    assert severe_logs(br) == []


def test_keys_links_tooltip_settings_and_small_things(browser, live_app, guided_run, tmp_path):
    s, edited = guided_run
    run = s.run
    n_map = run["sizes"]["train"] + run["sizes"]["val"]
    br = browser
    open_loop(br, live_app.url, n_map)
    header = text_of(br.driver, "run-header")
    assert "2 chunks" in header and "chunk(s)" not in header

    # Under the pointer: shown on hover, cleared as soon as a drag starts
    hover_point(br.driver, 5)
    wait_for(lambda: text_of(br.driver, "sample-caption"), 20, "the hovered sample")
    area = br.driver.find_element(By.CSS_SELECTOR, "#latent-graph .nsewdrag")
    r = br.driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", area)
    drag = ActionBuilder(br.driver, duration=50)
    drag.pointer_action.move_to_location(int(r["left"] + 20), int(r["top"] + 20))
    drag.pointer_action.pointer_down()
    drag.pointer_action.move_to_location(int(r["left"] + 200), int(r["top"] + 40))
    drag.perform()
    wait_for(lambda: text_of(br.driver, "sample-caption") == "", 20, "the panel cleared")
    assert br.driver.find_elements(By.CSS_SELECTOR, "svg.hill-lasso")  # the lasso outline
    release = ActionBuilder(br.driver, duration=50)
    release.pointer_action.move_to_location(int(r["left"] + 200), int(r["top"] + 300))
    release.pointer_action.pointer_up()
    release.perform()
    wait_for(lambda: selection_count(br.driver) > 0, 30, "the lasso's selection")

    # after a lasso: one outline (the app's selection box), not plotly's as well
    assert not br.driver.find_elements(By.CSS_SELECTOR, "svg.hill-lasso")
    assert not br.driver.find_elements(By.CSS_SELECTOR, "#latent-graph .selectionlayer path")
    box = br.driver.execute_script(f"return document.querySelector('{MAP}').layout.shapes[0]")
    assert box["opacity"] == 1 and box["x1"] > box["x0"]

    # the move gesture: the box dragged by its edge writes the shift into Δx / Δy
    edge = br.driver.execute_script(
        "const r = document.querySelector('#latent-graph .shapelayer path[data-index=\"0\"]')"
        ".getBoundingClientRect(); return [r.left + 1, r.top + r.height / 2];"
    )
    move = ActionBuilder(br.driver, duration=50)
    move.pointer_action.move_to_location(int(edge[0]), int(edge[1]))
    move.pointer_action.pointer_down()
    for k in range(1, 6):
        move.pointer_action.move_to_location(int(edge[0]) + 12 * k, int(edge[1]))
    move.pointer_action.pointer_up()
    move.perform()
    wait_for(lambda: float(br.find_element("#move-dx").get_attribute("value") or 0) > 0, 20, "Δx")
    assert abs(float(br.find_element("#move-dy").get_attribute("value") or 0)) < 0.2

    # keyboard: Esc clears, Enter applies, Ctrl-Z undoes, Ctrl-Shift-Z redoes
    body = br.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    wait_selected(br, 0, "Esc")
    lasso(br.driver, "latent-graph", LEFT)
    wait_for(lambda: selection_count(br.driver) > 0, 30, "a lasso")
    dx = br.find_element("#move-dx")
    dx.send_keys(Keys.CONTROL, "a")
    dx.send_keys("1.5")
    time.sleep(0.5)
    dx.send_keys(Keys.ENTER)
    store = RunStore(live_app.data_dir)
    wait_for(lambda: len(store.load_run(s.run_id)["pending"]) == 1, 20, "Enter applied")
    assert store.load_run(s.run_id)["pending"][0]["dx"] == 1.5
    wait_for(lambda: "1. move" in text_of(br.driver, "edit-list"), 20, "the edit listed")
    # Re-fit map waits while an edit is pending, and says why
    wait_for(lambda: not br.find_element("#refit-map-button").is_enabled(), 20, "Re-fit off")
    assert "1 edit is pending" in text_of(br.driver, "refit-note")
    br.driver.execute_script("document.activeElement.blur();")  # keys go to the page
    press(br.driver, Keys.CONTROL, "z")
    wait_for(lambda: store.load_run(s.run_id)["pending"] == [], 20, "Ctrl-Z undid")
    wait_for(lambda: br.find_element("#redo-button").is_enabled(), 20, "Redo enabled")
    press(br.driver, Keys.CONTROL, Keys.SHIFT, "z")
    wait_for(lambda: len(store.load_run(s.run_id)["pending"]) == 1, 20, "Ctrl-Shift-Z redid")
    wait_for(lambda: br.find_element("#undo-button").is_enabled(), 20, "Undo enabled")
    press(br.driver, Keys.CONTROL, "z")
    wait_for(lambda: store.load_run(s.run_id)["pending"] == [], 20, "undone again")
    wait_for(lambda: br.find_element("#refit-map-button").is_enabled(), 20, "Re-fit enabled")

    # Re-fit map: a background job, recorded in the run; the map is redrawn from it
    click(br, "#refit-map-button")
    status = wait_for(lambda: text_of(br.driver, "refit-status"), 300, "the re-fit's status")
    assert "recorded in the run" in status, status
    refits = RunStore(live_app.data_dir).load_run(s.run_id)["refits"]
    assert len(refits) == 1 and refits[0]["guided"] == "g1"
    wait_for(
        lambda: br.driver.execute_script(
            f"return document.querySelector('{MAP}').layout.selectionrevision"
        ).endswith(f":r1:{n_map}"),
        30,
        "the re-fitted map",
    )

    # a chunk-table row selects the points its edits moved; a bias bar selects its class
    click(br, "#chunk-log tbody tr:first-child td:first-child")
    wait_selected(br, len(edited), "chunk 1's edited points")
    y = RunStore(live_app.data_dir).load_dataset(s.run_id).all_y()[:n_map]
    # a class whose accuracy did not change (a bar of no height) if there is one: such a
    # bar was not clickable while the panel hovered by "closest" bar (once a red run)
    deltas = br.driver.execute_script(
        "return document.querySelector('#bias-graph .js-plotly-plot').data[0].y"
    )
    cls = next((c for c, d in enumerate(deltas) if d == 0), 5)
    n_cls = int(np.sum(y == cls))
    # the panel may still be redrawing after the row's selection: a person clicks again
    for _ in range(3):
        bar = br.driver.find_elements(By.CSS_SELECTOR, "#bias-graph .trace.bars .point")[cls]
        br.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", bar
        )
        ActionChains(br.driver).move_to_element(bar).click().perform()
        deadline = time.time() + 10
        while time.time() < deadline and selection_count(br.driver) != n_cls:
            time.sleep(0.1)
        if selection_count(br.driver) == n_cls:
            break
    print(f"bias bar clicked: class {cls}, Δ {deltas[cls]}")
    wait_selected(br, n_cls, f"class {cls} from its bias bar")

    # panels: one guided chunk is drawn at 1, not on an axis running to 2
    drift_range = br.driver.execute_script(
        "return document.querySelector('#drift-graph .js-plotly-plot')._fullLayout.xaxis.range"
    )
    assert drift_range == [0.5, 1.5]
    assert br.driver.find_elements(By.CSS_SELECTOR, "#step-curves-graph .js-plotly-plot")
    assert br.driver.find_elements(By.CSS_SELECTOR, "#realized-graph .js-plotly-plot")

    # the ghosts' key (the page's, not plotly's legend) sits above the plot, clear of the
    # points and of the colour bar
    legend, plot, bar_box = br.driver.execute_script(
        f"const g = document.querySelector('{MAP}');"
        "const b = e => e.getBoundingClientRect().toJSON();"
        "return [b(document.getElementById('map-legend')), b(g.querySelector('.nsewdrag')),"
        " b(g.querySelector('.colorbar'))];"
    )
    assert legend["bottom"] <= plot["top"] + 2 and legend["right"] <= bar_box["left"] + 2
    assert legend["height"] > 0
    ticks = br.driver.execute_script(
        f"return getComputedStyle(document.querySelector('{MAP} .xtick text')).fontSize"
    )
    assert float(ticks.rstrip("px")) >= 11

    # figures download as PNG (the mode bar's camera) or SVG (the button by each title)
    cameras = br.driver.execute_script(
        "return [...document.querySelectorAll('.js-plotly-plot')].filter(g => g._context"
        " && g._context.toImageButtonOptions"
        " && g._context.toImageButtonOptions.format === 'png').map(g => g.parentElement.id)"
    )
    graphs = ("latent-graph", "accuracy-graph", "gap-graph", "drift-graph", "bias-graph")
    assert set(cameras) >= {*graphs, "realized-graph", "step-curves-graph"}
    assert not br.driver.execute_script(
        f"return document.querySelector('{MAP}')._context.modeBarButtonsToRemove"
        ".includes('toImage')"
    )
    svg = br.driver.find_elements(By.CSS_SELECTOR, ".hill-svg")
    assert {b.get_attribute("data-graph") for b in svg} >= set(graphs)
    br.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    click(br, ".hill-svg[data-graph='bias-graph']")
    path = wait_for(lambda: next(iter(tmp_path.glob("*.svg")), None), 30, "the SVG file")
    time.sleep(0.5)
    assert path.read_text().lstrip().startswith("<svg") and "guided" in path.read_text()

    # advanced chunk settings reach the chunk
    click(br, "#advanced-toggle")
    wait_for(lambda: br.find_element("#lr-input").is_displayed(), 10, "the advanced fields")
    assert br.find_element("#lr-input").get_attribute("placeholder") == "0.001"
    for box, value in (("#lr-input", "0.005"), ("#batch-input", "32"), ("#kd-input", "0.5")):
        br.find_element(box).send_keys(value)
    br.find_element("#epochs-input").clear()
    br.find_element("#epochs-input").send_keys("1")
    click(br, "#train-button")
    wait_for(lambda: "chunk 2" in text_of(br.driver, "chunk-status"), 400, "chunk 2")
    config = RunStore(live_app.data_dir).load_run(s.run_id)["chunks"][2]["config"]
    assert (config["lr"], config["batch_size"], config["kd_weight"]) == (0.005, 32, 0.5)
    wait_for(lambda: "3 chunks" in text_of(br.driver, "run-header"), 30, "3 chunks")
    # the selection (class 5) is kept on the new map, and its box is drawn around the
    # points where they are now, not left where they were
    wait_for(lambda: "g2" in text_of(br.driver, "map-title"), 30, "the new map")
    time.sleep(2)
    box, lo, hi = br.driver.execute_script(
        f"const g = document.querySelector('{MAP}'), fd = g._fullData[0];"
        "const s = Array.from(fd.selectedpoints);"
        "const xs = s.map(i => fd.x[i]), ys = s.map(i => fd.y[i]);"
        "return [g.layout.shapes[0], [Math.min(...xs), Math.min(...ys)],"
        " [Math.max(...xs), Math.max(...ys)]];"
    )
    assert box["opacity"] == 1
    assert box["x0"] <= lo[0] and box["x1"] >= hi[0] and box["y0"] <= lo[1] and box["y1"] >= hi[1]
    span = max(hi[0] - lo[0], hi[1] - lo[1])
    assert box["x1"] - box["x0"] <= (hi[0] - lo[0]) + 0.1 * span  # tight around them

    # the tooltip: a thumbnail, label, prediction and confidence at the pointer
    wait_for(lambda: "g2" in text_of(br.driver, "map-title"), 30, "the new map")
    time.sleep(2)
    # a point inside the selection box (its edges and corners drag and resize it; its
    # inside does not block the hover): the selected point nearest the box's centre, not a
    # fixed index, which one run of training put under the box's corner handle
    inside = br.driver.execute_script(
        f"const g = document.querySelector('{MAP}'), fd = g._fullData[0];"
        "const b = g.layout.shapes[0], cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;"
        "const d = i => (fd.x[i] - cx) ** 2 + (fd.y[i] - cy) ** 2;"
        "return Array.from(fd.selectedpoints).reduce((a, i) => (d(i) < d(a) ? i : a));"
    )
    hover_point(br.driver, inside)
    tip = wait_for(lambda: text_of(br.driver, "map-tooltip"), 20, "the tooltip")
    assert "label" in tip and "predicted" in tip and "confidence" in tip
    src = br.driver.find_element(By.CSS_SELECTOR, "#map-tooltip img").get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    assert severe_logs(br) == []
