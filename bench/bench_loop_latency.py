"""Click on Train → the updated map and panels in the browser, chunk after chunk.

The loop as a person drives it: a run exists (chunk 0 trained, its map shown), each
round adds one edit (a move of one class, through the engine, as Apply would) and
clicks "Train chunk" in headless Chromium; the clock runs until the latent map shows the
new head's coordinates AND the accuracy panel has the new chunk's point. Per click the
chunk's own time (the job's `seconds` in run.json: training the guided run, the
unguided lineage and, from chunk 2, the counterfactual, plus their maps and metrics) is
recorded beside it, so the overhead of the dashboard (job start, progress polling,
figure requests, drawing) is the difference.

Two clocks per click: click → the guided map shown (the map holds the new head's
coordinates) and click → every panel updated (the accuracy panel also has the new
chunk). Beside them, measured in the same run on the same machine, the **floor**: the
bare training loop of the guided chunk's steps (the same model, data and batch size, no
teacher, no references) plus one map update of its latents; the ratio click → guided map
÷ floor says how much the product adds to what any loop would cost.

Defaults as a new user meets them: the data set's default model, 5 epochs, UMAP map.
Targets (issue 17): click → guided map ≤ 1.5 s (digits), ≤ 3 s (MNIST-1D); every panel
≤ 3 s (digits); guided map ÷ floor ≤ 1.5.

    python bench/bench_loop_latency.py [--datasets digits mnist1d] [--clicks 6] [--projection umap]

At scale (issue 17, item 5): `--datasets synthetic70000` is a 70 000 × 784 data set (ten
Gaussian classes, `bench_chunk.synthetic`) with the default MLP; `--epochs 1` keeps a chunk
short, as the independent probe quoted in the issue did.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - first: it puts the repository on sys.path
import numpy as np
from bench_first_map import chrome
from common import median, summary, write_result
from selenium.webdriver.common.by import By

from hill_dash.engine import loop
from hill_dash.engine.data import load_builtin
from hill_dash.engine.edits import Edit
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig
from tests.browser.conftest import LiveApp

STATE_JS = """
const map = document.querySelector('#latent-graph .js-plotly-plot');
const acc = document.querySelector('#accuracy-graph .js-plotly-plot');
const t = map && map._fullData && map._fullData[0];
const a = acc && acc._fullData && acc._fullData[0];
const xs = t && t.x ? Array.from(t.x.slice(0, 8)).map(v => Math.round(v * 1e4)) : [];
return [t && t.x ? t.x.length : 0, xs.join(','), a && a.x ? a.x.length : 0];
"""


# The page's own clock: the frame that drew the map with the new coordinates, and the one
# that drew the accuracy panel with the new chunk, from plotly's afterplot events. The
# observer's clock (`state`, read through WebDriver every 20 ms) runs late when the page
# is busy: a script waits for the page's main thread (0.1-0.2 s after a chunk's end).
WATCH_JS = """
const [beforeXs, accWant] = arguments;
const lat = window.__hillLat = {click: null, map: null, acc: null, beforeXs, accWant};
const map = document.querySelector('#latent-graph .js-plotly-plot');
const acc = document.querySelector('#accuracy-graph .js-plotly-plot');
const xs = gd => {
  const t = gd._fullData && gd._fullData[0];
  return t && t.x ? Array.from(t.x.slice(0, 8)).map(v => Math.round(v * 1e4)).join(',') : '';
};
if (map.__hillWatched !== true) {
  map.__hillWatched = true;
  map.on('plotly_afterplot', () => {
    const L = window.__hillLat;
    if (L.click !== null && L.map === null && xs(map) !== L.beforeXs) { L.map = performance.now(); }
  });
}
if (acc.__hillWatched !== true) {
  acc.__hillWatched = true;
  acc.on('plotly_afterplot', () => {
    const L = window.__hillLat, a = acc._fullData && acc._fullData[0];
    if (L.click !== null && L.acc === null && a && a.x && a.x.length >= L.accWant) {
      L.acc = performance.now();
    }
  });
}
"""


def page_clock(driver) -> tuple[float | None, float | None]:
    """(click -> the map drawn, click -> the accuracy panel drawn) on the page's clock."""
    lat = driver.execute_script("return window.__hillLat") or {}
    click = lat.get("click")
    if click is None:
        return None, None
    return tuple(None if lat.get(k) is None else (lat[k] - click) / 1000 for k in ("map", "acc"))


def state(driver) -> tuple[int, str, int]:
    n, xs, acc = driver.execute_script(STATE_JS) or (0, "", 0)
    return int(n or 0), str(xs), int(acc or 0)


def floor_seconds(store: RunStore, run_id: str, reps: int = 3) -> dict:
    """The bare loop of one chunk's steps + one map update, from the run's head (median)."""
    import torch

    from hill_dash.engine.lineage import restore
    from hill_dash.engine.projection import MapState, update_map
    from hill_dash.engine.training import ChunkConfig, infer, pick_device, train_chunk

    run = store.load_run(run_id)
    cfg = loop.RunConfig.from_dict(run["config"])
    data = store.load_dataset(run_id)
    head = run["heads"]["guided"]
    arrays = store.load_arrays(run_id, head)
    prev = MapState.from_arrays(arrays)
    fitted = len(data.y_train) + len(data.y_val)
    train_s, map_s = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a chunk trains (ChunkConfig.threads)
    try:
        for _ in range(reps):
            model, opt = restore(store, run_id, head, cfg, pick_device("cpu"), lr=cfg.chunk.lr)
            ccfg = ChunkConfig.from_dict(cfg.chunk.to_dict() | {"lam": 0.0})
            t0 = time.perf_counter()
            train_chunk(model, opt, data.X_train, data.y_train, ccfg)
            _, Z = infer(model, data.all_X())
            train_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            update_map(Z, arrays["Z"], prev, seed=cfg.seed, fitted=fitted)
            map_s.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return {
        "train_and_infer": summary(train_s),
        "map_update": summary(map_s),
        "floor": median([a + b for a, b in zip(train_s, map_s, strict=True)]),
    }


def dataset(name: str):
    """A built-in data set, or `synthetic<N>`: N points × 784 features in ten classes."""
    if name.startswith("synthetic"):
        from bench_chunk import synthetic

        return synthetic(int(name.removeprefix("synthetic")), 784)
    return load_builtin(name, seed=0)


def one_dataset(
    name: str, clicks: int, projection: str, numba_cache: Path, driver, epochs: int | None = None
) -> dict:
    with tempfile.TemporaryDirectory(prefix="hill-latency-") as tmp:
        store = RunStore(Path(tmp) / "data")
        data = dataset(name)
        chunk = {"chunk": ChunkConfig(epochs=epochs)} if epochs else {}
        run_id = loop.create_run(store, data, projection=projection, seed=0, **chunk)
        loop.run_chunk(store, run_id)  # chunk 0 before the app starts: not what is timed
        shown = len(data.y_train) + len(data.y_val)
        floor = floor_seconds(store, run_id)
        print(f"{name} floor: {floor['floor']:.2f} s", flush=True)
        coords = store.load_arrays(run_id, "c0")["coords"][:shown]
        width = float(np.ptp(coords[:, 0]))
        app = LiveApp(store.root, numba_cache, warm_up=True)  # as `make run`
        rows = []
        try:
            driver.get(app.url + "/")
            deadline = time.time() + 600  # 70 000 points take a while in software WebGL
            while time.time() < deadline and state(driver)[0] < shown:
                time.sleep(0.1)
            for k in range(1, clicks + 1):
                cls = k % data.n_classes
                sel = np.flatnonzero(data.y_train == cls).tolist()
                loop.add_edit(store, run_id, Edit("translate", sel, dx=width / 10, dy=0.0))
                before = state(driver)
                button = driver.find_element(By.ID, "train-button")
                driver.execute_script(WATCH_JS, before[1], k + 1)
                t0 = time.perf_counter()
                driver.execute_script(
                    "window.__hillLat.click = performance.now(); arguments[0].click();", button
                )
                deadline, t_map = t0 + 300, None
                while time.perf_counter() < deadline:
                    n, xs, acc = state(driver)
                    if t_map is None and n >= shown and xs != before[1]:
                        t_map = time.perf_counter() - t0
                    if t_map is not None and acc >= k + 1:
                        break
                    time.sleep(0.02)
                else:
                    raise RuntimeError(f"chunk {k} not shown in 300 s: {app.read_log()}")
                seen = time.perf_counter() - t0
                page_map, page_shown = page_clock(driver)
                chunk = store.load_run(run_id)["chunks"][k]
                rows.append(
                    {
                        "click_to_map": t_map,
                        "click_to_shown": seen,
                        "page_click_to_map": page_map,
                        "page_click_to_shown": page_shown,
                        "chunk_seconds": chunk["seconds"],
                    }
                )
                print(
                    f"{name} chunk {k}: map {t_map:.2f} s, every panel {seen:.2f} s "
                    f"(page clock {_s(page_map)} / {_s(page_shown)}; "
                    f"job {chunk['seconds']:.2f} s)",
                    flush=True,
                )
                time.sleep(1.0)  # a person looks before the next click
        finally:
            app.stop()
    timed = rows[1:]  # the first click also starts the job launcher's first fork
    page = [r for r in timed if r["page_click_to_map"] and r["page_click_to_shown"]]
    return {
        "dataset": name,
        "points": shown,
        "projection": projection,
        "click_to_map": summary([r["click_to_map"] for r in timed]),
        "click_to_shown": summary([r["click_to_shown"] for r in timed]),
        "floor": floor,
        "map_over_floor": median([r["click_to_map"] for r in timed]) / floor["floor"],
        "page_click_to_map": summary([r["page_click_to_map"] for r in page]) if page else None,
        "page_click_to_shown": summary([r["page_click_to_shown"] for r in page]) if page else None,
        "page_map_over_floor": (
            median([r["page_click_to_map"] for r in page]) / floor["floor"] if page else None
        ),
        "chunk_seconds": summary([r["chunk_seconds"] for r in timed]),
        "overhead": summary([r["click_to_shown"] - r["chunk_seconds"] for r in timed]),
        "ratio_to_chunk": median([r["click_to_shown"] / r["chunk_seconds"] for r in timed]),
        "first_click": rows[0],
        "meets_target": median([r["click_to_map"] for r in timed])
        <= (1.5 if name == "digits" else 3.0),
    }


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    p.add_argument("--clicks", type=int, default=6, help="the first is not counted")
    p.add_argument("--projection", default="umap", choices=("umap", "pca"))
    p.add_argument("--out", default="loop_latency")
    p.add_argument("--epochs", type=int, default=None, help="epochs per chunk (default: the run's)")
    args = p.parse_args()
    driver = chrome()
    cache = Path(tempfile.mkdtemp(prefix="hill-numba-"))
    try:
        cases = [
            one_dataset(d, args.clicks, args.projection, cache, driver, args.epochs)
            for d in args.datasets
        ]
    finally:
        driver.quit()
    write_result(args.out, {"cases": cases})


if __name__ == "__main__":
    main()
