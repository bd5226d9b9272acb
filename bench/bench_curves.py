"""The training-curves panel of a long run: every step sent, or the thinned traces.

A 70 000-point run trains ~5 500 steps a chunk (5 epochs of batch 64); after twenty
chunks each lineage has ~110 000 steps. At every chunk's end the Loop page rebuilt the
panel from every step: smoothing, the figure, its JSON, and the browser's draw. Per
length of run this measures both sides, side by side in the same repetition:

- **server**: `history.curve_traces` (smoothing + thinning) + `make_step_curves_figure` +
  the figure's JSON, in milliseconds, and the JSON's size;
- **browser**: `Plotly.newPlot` of that JSON in headless Chromium (software WebGL, as the
  browser tests run), in milliseconds.

"every step" is the same code with no limit on the points (`max_points` = the run's
length): what the panel did before thinning.

    python bench/bench_curves.py [--steps 5500 55000 110000] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import common  # noqa: F401 - first: it puts the repository on sys.path
import numpy as np
import plotly
from common import summary, write_result

from hill_dash.dashboard import history
from hill_dash.dashboard.figures import panels as P

PLOTLY = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def series_of(steps: int, chunk: int = 5_500) -> dict[str, dict]:
    g = np.random.default_rng(0)
    x = np.arange(steps)
    out = {}
    for lineage in ("guided", "twin"):
        v = np.exp(-x / steps * 3) + 0.1 * g.standard_normal(steps) ** 2
        starts = [(k, k * chunk) for k in range(-(-steps // chunk))]
        out[lineage] = {"step": x.tolist(), "value": v.tolist(), "starts": starts}
    return out


def build(series: dict, max_points: int) -> str:
    raw, smoothed = history.curve_traces(series, 0.6, max_points=max_points)
    return P.make_step_curves_figure(raw, "loss", smoothed, log_y=False).to_json()


def draw_ms(driver, fig_json: str) -> float:
    driver.set_script_timeout(300)
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const fig = JSON.parse(arguments[0]);
        const gd = document.getElementById('gd');
        Plotly.purge(gd);
        const t0 = performance.now();
        Plotly.newPlot(gd, fig.data, fig.layout).then(() => done(performance.now() - t0));
        """,
        fig_json,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[5_500, 55_000, 110_000])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default="curves")
    args = ap.parse_args()
    from bench_first_map import chrome

    driver = chrome()
    try:
        driver.get("about:blank")
        driver.execute_script(
            'document.body.innerHTML = \'<div id="gd" style="width:1200px;height:320px"></div>\';'
        )
        driver.execute_script(PLOTLY.read_text())
        rows = []
        for steps in args.steps:
            series = series_of(steps)
            limits = {"every step": steps, "thinned": history.MAX_CURVE_POINTS}
            server = {k: [] for k in limits}
            browser = {k: [] for k in limits}
            size = {}
            for r in range(args.reps):
                order = list(limits) if r % 2 == 0 else list(limits)[::-1]
                for name in order:
                    t0 = time.perf_counter()
                    fig_json = build(series, limits[name])
                    server[name].append(1000 * (time.perf_counter() - t0))
                    size[name] = len(fig_json)
                    browser[name].append(draw_ms(driver, fig_json))
            row = {"steps_per_lineage": steps}
            for name in limits:
                n_points = sum(
                    len(t.get("x", [])) for t in json.loads(build(series, limits[name]))["data"]
                )
                row[name] = {
                    "server_ms": summary(server[name]),
                    "browser_ms": summary(browser[name]),
                    "json_bytes": size[name],
                    "points_drawn": n_points,
                }
            print(
                f"{steps} steps: every step {row['every step']['server_ms']['median']:.0f} + "
                f"{row['every step']['browser_ms']['median']:.0f} ms, "
                f"{size['every step'] / 1e6:.1f} MB; thinned "
                f"{row['thinned']['server_ms']['median']:.0f} + "
                f"{row['thinned']['browser_ms']['median']:.0f} ms, "
                f"{size['thinned'] / 1e6:.2f} MB",
                flush=True,
            )
            rows.append(row)
    finally:
        driver.quit()
    write_result(
        args.out, {"reps": args.reps, "max_points": history.MAX_CURVE_POINTS, "rows": rows}
    )


if __name__ == "__main__":
    main()
