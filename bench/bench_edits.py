"""Is every edit heard? Each edit kind's realized share, in every space, against the twin.

Through the engine path the dashboard uses (`loop.run_chunk`): chunk 0 on a data set with
its default model, then, each from a copy of that run, one chunk (λ = 1, default epochs)
with one edit on class 3's training points. The grid: kind × target × selection size.

- kinds and targets ("far" asks for a lot, "near" for a little):
  move: to the right by ⅓ (far) or 1/10 (near) of the map's width;
  pull (α = 1): to the class whose centre is farthest (far) or nearest (near) on the map;
  compact: β = 0.5 (far) or β = 0.8 (near);
  separate from the nearest class: γ = 1 (far) or γ = 0.3 (near);
- selections: the whole class ("class") or the 20 training points of class 3 nearest its
  map centre ("20": a small lasso).

Recorded per chunk: the chunk record's realized rows (`realized_rows`: the share of the
request that happened, relative to the unedited points, 1 = all of it) in latent space,
on the carried map, on a fresh map aligned on the unedited points, and for the unedited
validation points nearest the selection; for a pull the distance shrink on the map; and
the validation accuracy of the classes no edit named (neither class 3 nor the pull's or
separate's class), guided and twin, with the exact one-sided paired McNemar p of a loss
(`hill_dash.engine.bias.one_sided_p`: only the discordant points count).

    python bench/bench_edits.py [--seeds 0 1 2] [--datasets digits mnist1d] [--maps pca umap]
        [--kinds move pull compact separate] [--targets far near] [--sizes class 20]
        [--threads N] [--test-cells] [--anchor A] [--alpha A] [--chunks K]
        [--chunk-setting epochs=10 lam=2] [--kind-weight compact=8]

With --chunks K a pull is asked over K chunks (the realized row is the last chunk's; the
distance shrink and the untouched classes' accuracy compare the K-th checkpoints with the
first map and the twin's K-th checkpoint).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import torch
from common import write_result

from hill_dash.engine import loop
from hill_dash.engine import teacher as T
from hill_dash.engine import teacher_loss as TL
from hill_dash.engine.bias import one_sided_p
from hill_dash.engine.data import load_builtin
from hill_dash.engine.edits import LATENT_KINDS, Edit
from hill_dash.engine.projection import umap_map as UM
from hill_dash.engine.realized import class_distance_change, similarity_align
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import check_overrides

CLASS = 3
SMALL = 20
KINDS = ("move", "pull", "compact", "separate")
# the four edits of tests/test_edits_heard.py (the whole class)
TEST_TARGET = {"move": "far", "pull": "near", "compact": "far", "separate": "far"}


def selection(coords: np.ndarray, y: np.ndarray, split: np.ndarray, size: str) -> np.ndarray:
    """Class CLASS's training points, or the SMALL of them nearest the class's map centre."""
    sel = np.flatnonzero((y == CLASS) & (split == "train"))
    if size == "class":
        return sel
    d = np.linalg.norm(coords[sel] - coords[sel].mean(0), axis=1)
    return np.sort(sel[np.argsort(d, kind="stable")[:SMALL]])


def make_edit(
    kind: str, target: str, sel: np.ndarray, coords: np.ndarray, y: np.ndarray
) -> tuple[Edit, int | None]:
    """The edit and the class it names (None: none)."""
    centres = np.array([coords[y == c].mean(0) for c in range(int(y.max()) + 1)])
    d = np.linalg.norm(centres - centres[CLASS], axis=1)
    d[CLASS] = np.inf
    near = int(np.argmin(d))
    d[CLASS] = -np.inf
    far = int(np.argmax(d))
    idx = sel.tolist()
    if kind == "move":
        frac = 1 / 3 if target == "far" else 1 / 10
        return Edit("translate", idx, dx=float(np.ptp(coords[:, 0])) * frac, dy=0.0), None
    if kind == "pull":
        c = far if target == "far" else near
        return Edit("pull", idx, target_class=c, alpha=1.0), c
    if kind == "compact":
        return Edit("compact", idx, beta=0.5 if target == "far" else 0.8), None
    other = np.flatnonzero(y == near).tolist()
    return Edit("separate", idx, other=other, gamma=1.0 if target == "far" else 0.3), near


def case(dataset: str, projection: str, seed: int, args, work: Path) -> list[dict]:
    data = load_builtin(dataset, seed=seed)
    base = RunStore(work / "base")
    run_id = loop.create_run(base, data, projection=projection, seed=seed)
    loop.run_chunk(base, run_id)
    shown = len(data.y_train) + len(data.y_val)
    y, split = data.all_y()[:shown], data.split_array()[:shown]
    coords0 = base.load_arrays(run_id, "c0")["coords"][:shown].astype(float)
    val = slice(len(data.y_train), shown)
    rows = []
    for size in args.sizes:
        sel = selection(coords0, y, split, size)
        for kind in args.kinds:
            for target in args.targets:
                if args.test_cells and (size, target) != ("class", TEST_TARGET[kind]):
                    continue
                edit, named = make_edit(kind, target, sel, coords0, y)
                root = work / f"{size}-{kind}-{target}"
                shutil.copytree(base.root, root)
                store = RunStore(root)
                t0 = time.time()
                overrides = ({"anchor": args.anchor} if args.anchor else {}) | settings(args)
                # a pull split over K chunks: chunk j asks for 1/(K-j+1) of what is left,
                # so each asks for an equal share of the whole way
                steps = args.chunks if kind == "pull" else 1
                for j in range(1, steps + 1):
                    if kind == "pull":
                        edit = replace(edit, alpha=args.alpha / (steps - j + 1))
                    loop.add_edit(store, run_id, edit)
                    if kind == "pull" and args.pull_relabel:  # the Pull pane's default Apply
                        relabel = Edit("relabel", edit.indices, target_class=named)
                        loop.add_edit(store, run_id, relabel)
                    chunk = loop.run_chunk(store, run_id, overrides=overrides or None)
                (r,) = [r for r in chunk["realized"] if r.get("kind") in LATENT_KINDS]
                row = {
                    "dataset": dataset,
                    "projection": projection,
                    "seed": seed,
                    "kind": kind,
                    "target": target,
                    "size": size,
                    "n_selected": len(sel),
                    "anchor": args.anchor,
                    "alpha": args.alpha if kind == "pull" else None,
                    "pull_relabel": bool(args.pull_relabel) if kind == "pull" else None,
                    "chunks": steps,
                    "named_class": named,
                    "seconds": time.time() - t0,
                    "realized": {k: v for k, v in r.items() if k not in ("edit", "kind")},
                }
                arrays = {ck: store.load_arrays(run_id, chunk[ck]) for ck in ("guided", "twin")}
                if kind == "pull":
                    members = np.setdiff1d(np.flatnonzero((y == named) & (split == "train")), sel)
                    rest = np.setdiff1d(np.arange(shown), sel)
                    for ck, a in arrays.items():
                        after = similarity_align(a["coords"][:shown], coords0, rest)
                        row[f"distance_shrink_{ck}"] = class_distance_change(
                            sel, members, coords0, after
                        )
                untouched = ~np.isin(
                    data.y_val, [CLASS, -1] + ([named] if named is not None else [])
                )
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
                    "p_loss": float(one_sided_p(lost, gained + lost)),
                }
                rows.append(row)
                print(row, flush=True)
                shutil.rmtree(root)
    shutil.rmtree(base.root)
    return rows


def settings(args) -> dict:
    """The edited chunk's --chunk-setting NAME=VALUE pairs (the Train panel's settings),
    checked and typed as the engine checks a chunk's overrides."""
    pairs = (item.split("=") for item in args.chunk_setting)
    return check_overrides({name: float(value) for name, value in pairs}, "--chunk-setting")


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def table(paths: list[str], where: dict[str, str] | None = None) -> str:
    """docs/benchmarks.md's table of result files: one line per cell, seeds side by side.

    A later file's row replaces an earlier one's for the same cell and seed (a cell
    re-measured after a teacher change); `where` keeps the rows whose fields read so
    (e.g. {"target": "far", "size": "class"}).
    """
    import json

    latest: dict[tuple, dict] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["rows"]:
            if all(str(r.get(k)) == v for k, v in (where or {}).items()):
                cell = (r["dataset"], r["projection"], r["kind"], r["target"], r["size"])
                latest[(*cell, r["seed"])] = r
    cells: dict[tuple, list[dict]] = {}
    for r in latest.values():
        key = (r["dataset"], r["projection"], r["kind"], r["target"], r["size"])
        cells.setdefault(key, []).append(r)
    lines = [
        "| data, map | edit, target, selection | latent | carried map | fresh map "
        "| validation points (latent) | unguided: latent / map | untouched classes "
        "(points, p of a loss) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, rs in cells.items():
        rs = sorted(rs, key=lambda r: r["seed"])

        def seeds(space: str, lineage: str = "guided", rs=rs) -> str:
            return " / ".join(_num(r["realized"].get(space, {}).get(lineage)) for r in rs)

        twin = " ; ".join(
            f"{_num(r['realized']['latent']['twin'])} / {_num(r['realized']['map']['twin'])}"
            for r in rs
        )
        untouched = " / ".join(
            f"{100 * r['untouched_val_acc']['delta']:+.1f} ({r['untouched_val_acc']['p_loss']:.3f})"
            for r in rs
        )
        lines.append(
            f"| {key[0]}, {key[1]} | {key[2]}, {key[3]}, {key[4]} | {seeds('latent')} "
            f"| {seeds('map')} | {seeds('fresh_map')} | {seeds('val_latent')} | {twin} "
            f"| {untouched} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    p.add_argument("--maps", nargs="+", default=["pca", "umap"])
    p.add_argument("--kinds", nargs="+", default=list(KINDS))
    p.add_argument("--targets", nargs="+", default=["far", "near"])
    p.add_argument("--sizes", nargs="+", default=["class", "20"])
    p.add_argument("--row-weight", type=float, default=None, help="κ (calibration only)")
    p.add_argument("--size-exponent", type=float, default=None, help="p (calibration only)")
    p.add_argument("--compact-weight", type=float, default=None, help="(calibration only)")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        help="NAME=VALUE of teacher(_loss) or umap_map constants (calibration)",
    )
    p.add_argument(
        "--kind-weight", nargs="*", default=[], help="KIND=W of teacher.KIND_WEIGHT (calibration)"
    )
    p.add_argument(
        "--chunk-setting",
        nargs="*",
        default=[],
        help="NAME=VALUE of the edited chunk (epochs, lam, ...: the Train panel's settings)",
    )
    p.add_argument(
        "--anchor",
        type=float,
        default=0.0,
        help="λ_anchor of the edited chunk (the Train panel's advanced setting; default off)",
    )
    p.add_argument("--alpha", type=float, default=1.0, help="a pull's α (default 1)")
    p.add_argument(
        "--pull-relabel",
        action="store_true",
        help="a pull with a Relabel of its points to the class (the Pull pane's default)",
    )
    p.add_argument(
        "--chunks",
        type=int,
        default=1,
        help="a pull split over this many chunks (each asks for an equal share of α)",
    )
    p.add_argument("--test-cells", action="store_true", help="only tests/test_edits_heard's")
    p.add_argument(
        "--no-ramp", action="store_true", help="no target ramp over the epochs (calibration only)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default="edits")
    p.add_argument("--table", nargs="+", help="print the table of these result files and stop")
    p.add_argument("--where", nargs="*", default=[], help="FIELD=VALUE: only these rows in --table")
    args = p.parse_args()
    if args.table:
        print(table(args.table, dict(w.split("=", 1) for w in args.where)))
        return
    if args.row_weight is not None:
        TL.ROW_WEIGHT = args.row_weight
    if args.size_exponent is not None:
        T.SIZE_EXPONENT = args.size_exponent
    if args.compact_weight is not None:
        T.KIND_WEIGHT["compact"] = args.compact_weight
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for item in args.kind_weight:
        kind, value = item.split("=")
        T.KIND_WEIGHT[kind] = float(value)
    for item in args.set:
        name, value = item.split("=")
        module = next((m for m in (TL, UM) if hasattr(m, name)), T)
        setattr(module, name, type(getattr(module, name, 0.0))(float(value)))
    if args.no_ramp:  # every epoch asks for the whole target (calibration)
        from hill_dash.engine import training

        training.target_ramp = lambda epochs: [1.0] * max(epochs, 1)
    rows = []
    for dataset in args.datasets:
        for projection in args.maps:
            for seed in args.seeds:
                with tempfile.TemporaryDirectory() as work:
                    rows.extend(case(dataset, projection, seed, args, Path(work)))
    write_result(
        args.out,
        {
            "args": vars(args),
            "row_weight": TL.ROW_WEIGHT,
            "size_exponent": T.SIZE_EXPONENT,
            "kind_weight": T.KIND_WEIGHT,
            "max_group_factor": T.MAX_GROUP_FACTOR,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
