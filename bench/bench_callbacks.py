"""Server time of the Loop page's selection and preview callbacks at 20k and 70k points.

The real app is built (`app.create_app`) and its callbacks are called the way a
browser calls them: a POST to Dash's `/_dash-update-component` through Flask's
test client, so each figure includes Dash's request handling and the JSON of
the answer, not just the Python body (no network, no browser drawing).

Timed, on the guided head of a run with one pending edit (a pull of 10 % of the
training points), for a lasso of 10 % of the map's points:
- selection: `show_selection` (the selection summary; the browser turns the lasso
  into the selection store's bitset itself, assets/loop.js, so no server callback reads
  plotly's selectedData any more);
- preview: `update_map` answering a selection change with a patch (box +
  ghost arrows of the pending edit and of the candidate edit), per tool.
Both map methods: PCA, and the UMAP branch (ghosts placed by a k-NN search);
for the latter the run's map is relabelled "umap" on the same coordinates,
since the callback's cost depends on n, not on how the coordinates were made
(a fresh 70k UMAP fit would take minutes). First call after the checkpoint
changed (cold read cache) and the median of warm calls. Target: <= 150 ms.

The load average is recorded per size.

    python bench/bench_callbacks.py [--sizes 20000 70000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
from common import flat_dataset, summary, write_result

os.environ.setdefault("HILL_DASH_WARMUP", "0")

TOOLS = ("move", "pull", "compact", "separate")


def synthetic(n: int, features: int = 64, classes: int = 10):
    g = np.random.default_rng(0)
    y = np.arange(n) % classes
    X = (g.normal(size=(classes, features))[y] + g.normal(size=(n, features))).astype(np.float32)
    return flat_dataset(f"synthetic-{n}", X, y, [str(c) for c in range(classes)])


def make_run(root: Path, n: int) -> str:
    from hill_dash.engine import loop
    from hill_dash.engine.store import RunStore
    from hill_dash.engine.teacher import Edit
    from hill_dash.engine.training import ChunkConfig

    store = RunStore(root)
    data = synthetic(n)
    run_id = loop.create_run(
        store, data, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=1), seed=0
    )
    loop.run_chunk(store, run_id)
    pick = np.random.default_rng(1).choice(
        len(data.y_train), len(data.y_train) // 10, replace=False
    )
    loop.add_edit(store, run_id, Edit("pull", sorted(int(i) for i in pick), target_class=3))
    return run_id


def relabel_as_umap(root: Path, run_id: str) -> None:
    """The same coordinates, stored as a UMAP map (no affine inverse): the k-NN branch."""
    from hill_dash.engine.store import RunStore

    store = RunStore(root)
    arrays = store.load_arrays(run_id, "c0")
    for key in ("mean", "linear", "offset"):
        arrays.pop(key, None)
    arrays["method"] = np.array("umap")
    path = store.checkpoint_dir(run_id, "c0") / "maps.npz"
    tmp = path.with_name("maps.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def find_dep(deps: list[dict], output_part: str) -> dict:
    for dep in deps:
        if output_part in dep["output"]:
            return dep
    raise LookupError(f"no callback with output {output_part!r}")


def body(dep: dict, values: dict, changed: list[str]) -> dict:
    def val(x):
        key = f"{x['id']}.{x['property']}"
        return {"id": x["id"], "property": x["property"], "value": values.get(key)}

    spec = dep["output"]
    multi = spec.startswith("..")
    parts = spec.strip(".").split("...") if multi else [spec]
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
    return {
        "output": spec,
        "outputs": outputs if multi else outputs[0],
        "inputs": [val(x) for x in dep["inputs"]],
        "state": [val(x) for x in dep.get("state", [])],
        "changedPropIds": changed,
    }


def post_time(client, payload: dict) -> tuple[float, int]:
    t0 = time.perf_counter()
    resp = client.post("/_dash-update-component", json=payload)
    dt = time.perf_counter() - t0
    if resp.status_code not in (200, 204):
        raise RuntimeError(f"{payload['output']}: HTTP {resp.status_code} {resp.data[:300]!r}")
    return dt, len(resp.data)


def bench_size(n: int, runs: int) -> dict:
    import app as app_module
    from hill_dash.dashboard import views
    from hill_dash.dashboard.config import AppConfig
    from hill_dash.engine.store import RunStore

    root = Path(tempfile.mkdtemp(prefix=f"hill-cb-{n}-"))
    t0 = time.perf_counter()
    run_id = make_run(root, n)
    setup = time.perf_counter() - t0
    os.environ["HILL_DASH_DATA_DIR"] = str(root)
    dash_app = app_module.create_app(AppConfig(data_dir=root, projection_warmup=False))
    client = dash_app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep_info = find_dep(deps, "selection-info.children")
    dep_map = find_dep(deps, "latent-graph.figure")
    out = {"n": n, "setup_seconds": setup, "load_avg_1m": [os.getloadavg()[0]]}
    for method in ("pca", "umap"):
        if method == "umap":
            relabel_as_umap(root, run_id)
        run = RunStore(root).load_run(run_id)
        key = views.map_key(run)
        sel = np.random.default_rng(2).choice(n, n // 10, replace=False)
        from hill_dash.dashboard.selection import with_selection

        sel = sel[sel < views.map_size(run)]  # the map holds train + val points only
        selection = with_selection(None, np.sort(sel), key, "lasso")
        values = {
            "run-id.data": run_id,
            "run-version.data": 1,
            "color-by.value": "label",
            "selection-store.data": selection,
            "map-key.data": f"{key}:{views.map_size(run)}",  # as update_map names the shown map
            "show-val.value": True,
            "move-dx.value": 1.0,
            "move-dy.value": 0.5,
            "pull-class.value": 3,
            "pull-alpha.value": 1.0,
            "compact-beta.value": 0.5,
            "separate-gamma.value": 1.0,
            "edit-tool.value": "pull",
        }
        res = {}
        # cold: the first request after the checkpoint's maps changed (read caches miss)
        res["preview_pull_cold_seconds"] = post_time(
            client, body(dep_map, values, ["selection-store.data"])
        )[0]
        timings = {"selection_summary": [], "selection_total": []}
        for _ in range(runs):
            b = post_time(client, body(dep_info, values, ["selection-store.data"]))[0]
            timings["selection_summary"].append(b)
            timings["selection_total"].append(b)
        for tool in TOOLS:
            v = values | {"edit-tool.value": tool}
            ts, size = [], 0
            for _ in range(runs):
                dt, size = post_time(client, body(dep_map, v, ["selection-store.data"]))
                ts.append(dt)
            res[f"preview_{tool}"] = summary(ts) | {"response_bytes": size}
        res |= {k: summary(v) for k, v in timings.items()}
        worst = max(
            [res["selection_total"]["median"]] + [res[f"preview_{t}"]["median"] for t in TOOLS]
        )
        res["worst_median_seconds"] = worst
        res["meets_target"] = worst <= 0.150
        out[method] = res
        out["load_avg_1m"].append(os.getloadavg()[0])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[20000, 70000])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--out", default="callbacks")
    args = p.parse_args()
    results = [bench_size(n, args.runs) for n in args.sizes]
    write_result(args.out, {"selection_share": 0.10, "sizes": results})


if __name__ == "__main__":
    main()
