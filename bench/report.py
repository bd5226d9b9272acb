"""Markdown tables of the stored benchmark results (bench/results/*.json), for docs/benchmarks.md.

python bench/report.py
"""

from __future__ import annotations

import json

from common import RESULTS


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def ms(x: float) -> str:
    return f"{1000 * x:.0f} ms" if x < 10 else f"{x:.1f} s"


def rng(s: dict, fmt=lambda v: f"{v:.3f}") -> str:
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])}, n={s['runs']})"


def chunk(r: dict) -> list[str]:
    out = [
        "| case | steps | reference rows | CPU ms/step bare / twin / guided | "
        "guided ÷ bare (CPU) | guided ÷ bare (wall) | twin ÷ bare (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in r["cases"]:
        p = c["cpu_ms_per_step"]
        rc, rw = c["ratios_cpu"], c["ratios_wall"]
        out.append(
            f"| {c['case']} | {c['steps']} | {c.get('reference_rows', '–')} | "
            f"{p['bare']:.2f} / {p['twin']:.2f} / {p['guided']:.2f} | "
            f"{rng(rc['guided_over_bare'])} | {rng(rw['guided_over_bare'])} | "
            f"{rng(rc['twin_over_bare'])} |"
        )
    return out


def projection(r: dict) -> list[str]:
    out = [
        "| points | fresh UMAP fit | aligned update (refine epochs) | fresh ÷ update | "
        "update w/o refinement | disparity update | disparity fresh | PCA update |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["sizes"]:
        ratio = rng(s["fresh_over_update"], lambda v: f"{v:.1f}")
        out.append(
            f"| {s['n']:,} | {s['fresh_seconds']['median']:.2f} s (n={s['fresh_seconds']['runs']}) "
            f"| {s['update_seconds']['median']:.2f} s ({s['refine_epochs']}; "
            f"n={s['update_seconds']['runs']}) | {ratio} "
            f"| {s['update_no_refine_seconds']['median']:.2f} s "
            f"| {s['update_disparity']['median']:.4f} | {s['fresh_disparity']['median']:.3f} "
            f"| {ms(s['pca_update_seconds']['median'])} |"
        )
    return out


def callbacks(r: dict) -> list[str]:
    tools = ("move", "pull", "compact", "separate")
    out = [
        "| points | map | selection (store + summary) | preview move / pull / compact / "
        "separate | preview, cold cache | worst median |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["sizes"]:
        for m in ("pca", "umap"):
            x = s[m]
            prev = " / ".join(ms(x[f"preview_{t}"]["median"]) for t in tools)
            out.append(
                f"| {s['n']:,} | {m} | {ms(x['selection_total']['median'])} | {prev} | "
                f"{ms(x['preview_pull_cold_seconds'])} | {ms(x['worst_median_seconds'])} |"
            )
    return out


def coldstart(r: dict) -> list[str]:
    out = ["| numba cache | wall to first map | of which imports | runs |", "|---|---|---|---|"]
    for k in ("cold", "warm"):
        x = r[k]
        out.append(
            f"| {k} | {rng(x['wall'], lambda v: f'{v:.1f} s')} | "
            f"{x['imports']['median']:.1f} s | {x['wall']['runs']} |"
        )
    return out


def memory(r: dict) -> list[str]:
    out = [
        "| first map | peak RSS | after building the data | create + chunk 0 + map | runs |",
        "|---|---|---|---|---|",
    ]
    for k in ("pca", "umap"):
        if k in r:
            x = r[k]
            after = x.get("after_data_mb", {}).get("median")
            out.append(
                f"| {k} | {rng(x['peak_mb'], lambda v: f'{v:.0f} MB')} | "
                f"{'–' if after is None else f'{after:.0f} MB'} | "
                f"{x['chunk0_seconds']['median']:.1f} s | {x['peak_mb']['runs']} |"
            )
    return out


def main() -> None:
    for name, fn in (
        ("chunk", chunk),
        ("chunk_before_r16", chunk),
        ("projection", projection),
        ("projection_recheck", projection),
        ("projection_recheck70", projection),
        ("callbacks", callbacks),
        ("coldstart", coldstart),
        ("memory", memory),
    ):
        r = load(name)
        if r is None:
            print(f"## {name}: no results yet\n")
            continue
        m = r["machine"]
        print(f"## {name} — `{r['command']}` at {r['time']} (load {m['load_avg_1m']:.1f})\n")
        print("\n".join(fn(r)) + "\n")


if __name__ == "__main__":
    main()
