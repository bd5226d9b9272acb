"""The fresh map of a chunk's realized shares at scale: fitted whole, or to a sample.

Every chunk checks each edit on a fresh map of the new latents (`realized_spaces`). A
fresh UMAP of every visible point took 24 s of each chunk of a 70 000-point run; above
FRESH_MAX_POINTS it is now fitted to a sample (every point a request names, and a
seeded sample of the rest). Per size and seed this times both, and reads the same
request on both, to show what the sample changes in the number a person reads.

The experiment: ten Gaussian classes in 32 dimensions; "before", the carried map is a
UMAP of the latents; "after", class 3's latents moved half of the way to class 5, and
the request is the same half-way arrow on the carried map. The share (1 = all of the
arrow) is read on the fresh map aligned on the unmoved points, as a chunk reads it.

    python bench/bench_fresh_map.py [--sizes 20000 70000] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401 - first: it puts the repository on sys.path
import numpy as np
from common import summary, write_result

from hill_dash.engine.projection.umap_map import fit_umap
from hill_dash.engine.realized import Request, shares
from hill_dash.engine.realized_spaces import FRESH_MAX_POINTS, fresh_coords, fresh_sample


def one(n: int, seed: int) -> dict:
    g = np.random.default_rng(seed)
    y = np.arange(n) % 10
    centres = g.normal(size=(10, 32)) * 3
    before = (centres[y] + g.normal(size=(n, 32))).astype(np.float32)
    moved = np.flatnonzero(y == 3)
    after = before.copy()
    after[moved] += 0.5 * (centres[5] - centres[3])
    rest = np.setdiff1d(np.arange(n), moved)
    carried = fit_umap(before, seed, parallel=False, fitted=n).coords[:n]
    arrow = 0.5 * (carried[y == 5].mean(0) - carried[moved].mean(0))
    req = Request("translate", moved, shift=arrow)
    out = {"n": n, "seed": seed}
    for name, rows in (("whole", None), ("sample", fresh_sample(n, [req], seed))):
        t0 = time.perf_counter()
        fresh = fresh_coords(after, "umap", seed, n, rows)
        seconds = time.perf_counter() - t0
        ref = rest if rows is None else np.intersect1d(rest, rows)
        (share,) = shares([req], carried, fresh, ref)
        out[name] = {"seconds": seconds, "share": share, "rows": n if rows is None else len(rows)}
    w, s = out["whole"], out["sample"]
    print(
        f"{n} seed {seed}: whole {w['seconds']:.1f} s share {w['share']:.2f}; "
        f"sample of {s['rows']} {s['seconds']:.1f} s share {s['share']:.2f}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 70_000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="fresh_map")
    args = ap.parse_args()
    fresh_coords(np.random.default_rng(0).normal(size=(500, 8)), "umap", 0, 500)  # numba
    rows = [one(n, s) for n in args.sizes for s in args.seeds]
    per_size = {
        n: {
            k: {
                "seconds": summary([r[k]["seconds"] for r in rows if r["n"] == n]),
                "share": [r[k]["share"] for r in rows if r["n"] == n],
            }
            for k in ("whole", "sample")
        }
        for n in args.sizes
    }
    write_result(
        args.out,
        {"limit": FRESH_MAX_POINTS, "seeds": args.seeds, "rows": rows, "per_size": per_size},
    )


if __name__ == "__main__":
    main()
