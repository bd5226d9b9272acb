"""How much of the strategies' edits happened: the realized shares, summarised over edits.

Every chunk record carries, per edit, the realized share in latent space and on the map
for the guided run, the counterfactual chunk and the unguided lineage
(`hill_dash.engine.realized`; 1 = all of the requested change relative to the rest of
the space, 0 = none). `realized_summary` pools them over the edits of every run and
chunk of one strategy: median, mean and the share of edits that got at least half way.
"""

from __future__ import annotations

import numpy as np

LINEAGES = ("guided", "counterfactual", "twin")
SPACES = ("latent", "map")


def realized_summary(runs: list[dict]) -> dict:
    """{space: {lineage: {"n", "median", "mean", "half_way"}}} over all edits of `runs`.

    `runs`: per-seed run dicts whose "chunks" carry the loop's "realized" lists.
    Values that were not measurable (None) are left out; "n" counts the rest.
    """
    rows = [r for run in runs for ch in run["chunks"] for r in ch.get("realized") or []]
    out: dict = {"edits": len(rows)}
    for space in SPACES:
        out[space] = {}
        for lin in LINEAGES:
            v = np.array(
                [r[space][lin] for r in rows if r.get(space, {}).get(lin) is not None], float
            )
            out[space][lin] = {
                "n": int(len(v)),
                "median": float(np.median(v)) if len(v) else None,
                "mean": float(v.mean()) if len(v) else None,
                "half_way": float(np.mean(v >= 0.5)) if len(v) else None,
            }
    return out


def realized_text(s: dict, space: str = "map") -> str:
    """'0.62 (cf 0.03, unguided 0.01)': median realized shares of one strategy's edits."""

    def num(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    r = s[space]
    return (
        f"{num(r['guided']['median'])} (counterfactual {num(r['counterfactual']['median'])}, "
        f"unguided {num(r['twin']['median'])})"
    )
