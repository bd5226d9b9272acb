"""Is every edit heard? The realized share of each edit kind, on both maps, against the twin.

The experiment of issue 8, through the engine path the dashboard uses (`loop.run_chunk`):
chunk 0 on a data set with its default model, then, each from a copy of that run, one
chunk (λ = 1, default epochs) with one edit on the training points of class 3:

- move: by a third of the map's width to the right;
- pull: to the class whose centre is nearest on the map (α = 1);
- compact: β = 0.5;
- separate: from that nearest class (γ = 1).

Recorded per edit: the realized share (`hill_dash.engine.realized`: the part of the
requested change that happened relative to the unedited points, 1 = all of it) in latent
space and on the next map, for the guided run and for the unguided chunk from the same
checkpoint (for chunk 1 the twin and the counterfactual are the same chunk); for a pull
also how much the selection's distance to the target class's centre shrank on the map;
and the validation accuracy of the classes no edit touched (neither class 3 nor the target
class), guided and twin, with their difference and an exact McNemar test (the same points:
only the discordant ones count).

    python bench/bench_edits.py [--seeds 0 1 2] [--datasets digits mnist1d] [--maps pca umap]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
from common import write_result
from scipy.stats import binomtest

from hill_dash.engine import loop
from hill_dash.engine.data import load_builtin
from hill_dash.engine.edits import Edit
from hill_dash.engine.realized import class_distance_change, similarity_align
from hill_dash.engine.store import RunStore

CLASS = 3
KINDS = ("move", "pull", "compact", "separate")


def edits_for(coords: np.ndarray, y: np.ndarray, split: np.ndarray) -> tuple[dict, int]:
    """The four edits on class CLASS's training points, and the class nearest on the map."""
    centres = np.array([coords[y == c].mean(0) for c in range(int(y.max()) + 1)])
    d = np.linalg.norm(centres - centres[CLASS], axis=1)
    d[CLASS] = np.inf
    near = int(np.argmin(d))
    sel = np.flatnonzero((y == CLASS) & (split == "train")).tolist()
    other = np.flatnonzero(y == near).tolist()
    width = float(np.ptp(coords[:, 0]))
    return {
        "move": Edit("translate", sel, dx=width / 3, dy=0.0),
        "pull": Edit("pull", sel, target_class=near, alpha=1.0),
        "compact": Edit("compact", sel, beta=0.5),
        "separate": Edit("separate", sel, other=other, gamma=1.0),
    }, near


def case(dataset: str, projection: str, seed: int, work: Path) -> dict:
    data = load_builtin(dataset, seed=seed)
    base = RunStore(work / "base")
    run_id = loop.create_run(base, data, projection=projection, seed=seed)
    t0 = time.time()
    loop.run_chunk(base, run_id)
    first = time.time() - t0
    shown = len(data.y_train) + len(data.y_val)
    y, split = data.all_y()[:shown], data.split_array()[:shown]
    coords0 = base.load_arrays(run_id, "c0")["coords"][:shown].astype(float)
    edits, near = edits_for(coords0, y, split)
    val = slice(len(data.y_train), shown)
    untouched = np.isin(data.y_val, [c for c in range(data.n_classes) if c not in (CLASS, near)])
    out = {"dataset": dataset, "projection": projection, "seed": seed, "first_chunk_s": first}
    for kind in KINDS:
        shutil.copytree(base.root, work / kind)
        store = RunStore(work / kind)
        loop.add_edit(store, run_id, edits[kind])
        t0 = time.time()
        chunk = loop.run_chunk(store, run_id)
        r = chunk["realized"][0]
        row = {"seconds": time.time() - t0, "latent": r["latent"], "map": r["map"]}
        arrays = {ck: store.load_arrays(run_id, chunk[ck]) for ck in ("guided", "twin")}
        if kind == "pull":
            sel = np.asarray(edits[kind].indices)
            members = np.setdiff1d(np.flatnonzero((y == near) & (split == "train")), sel)
            rest = np.setdiff1d(np.arange(shown), sel)
            for ck, a in arrays.items():
                after = similarity_align(a["coords"][:shown], coords0, rest)
                row[f"distance_shrink_{ck}"] = class_distance_change(sel, members, coords0, after)
        right = {
            ck: a["logits"][val].argmax(1)[untouched] == data.y_val[untouched]
            for ck, a in arrays.items()
        }
        gained = int(np.sum(right["guided"] & ~right["twin"]))
        lost = int(np.sum(~right["guided"] & right["twin"]))
        row["untouched_val_acc"] = {
            "guided": float(right["guided"].mean()),
            "twin": float(right["twin"].mean()),
            "delta": float(right["guided"].mean() - right["twin"].mean()),
            "n": int(untouched.sum()),
            "gained": gained,
            "lost": lost,
            # exact two-sided McNemar: the same points, so only the discordant ones count
            "p": float(binomtest(lost, gained + lost).pvalue) if gained + lost else 1.0,
        }
        out[kind] = row
        shutil.rmtree(store.root)
    shutil.rmtree(base.root)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    p.add_argument("--maps", nargs="+", default=["pca", "umap"])
    p.add_argument("--out", default="edits")
    args = p.parse_args()
    cases = []
    for dataset in args.datasets:
        for projection in args.maps:
            for seed in args.seeds:
                with tempfile.TemporaryDirectory() as work:
                    cases.append(case(dataset, projection, seed, Path(work)))
                print(cases[-1], flush=True)
    write_result(args.out, {"cases": cases})


if __name__ == "__main__":
    main()
