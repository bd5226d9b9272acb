"""The realized share in words: one wording for the CLI, the dashboard and the report.

A chunk record's realized row holds, per space, the share of each lineage
({space: {"guided", "counterfactual", "twin"}}; `realized_rows.realized_rows`). Every number said
names its space, because the same edit can be 80 % heard on the map and 50 % in latent
space. No Dash or Plotly here: the engine, the CLI and the dashboard all use it.
"""

from __future__ import annotations

import math

# where a share is measured, in the order they are recorded and shown
REALIZED_SPACES = ("latent", "map", "fresh_map", "val_latent", "val_map")
SPACE_NAMES = {
    "latent": "in latent space",
    "map": "on the map",
    "fresh_map": "on a fresh map",
    "val_latent": "unedited validation points, latent space",
    "val_map": "unedited validation points, on the map",
}
SHORT_NAMES = {
    "latent": "latent",
    "map": "map",
    "fresh_map": "fresh map",
    "val_latent": "validation points (latent)",
    "val_map": "validation points (map)",
}
LINEAGE_WORDS = (("counterfactual", "counterfactual"), ("twin", "unguided lineage"))
# what the share is a share of, per edit kind: a compact does not move, it shrinks
VERBS = {"translate": "moved", "pull": "pulled", "compact": "shrunk", "separate": "moved apart"}


def share(value: object) -> float | None:
    """A recorded share as a float, None when it is missing or not a finite number."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def pct(value: object) -> str:
    v = share(value)
    return "–" if v is None else f"{100 * v:.0f} %"


def realized_text(
    row: dict, space: str = "map", others: bool = True, kind: str | None = None
) -> str:
    """One edit's realized share in words, its space named first; for example
    "on the map: moved 78 % of the way · counterfactual 3 % · unguided lineage 1 %
    (guided: latent 81 % · fresh map 70 % · validation points (latent) 65 %)".

    `row`: {space: {lineage: share}} (a chunk record's realized row, or a dashboard row of
    the same shape). The counterfactual is left out where there is none; `others` adds the
    guided share in every other space that was measured. The verb follows the edit's
    `kind` (the row's own when not given): a compact "shrunk", a separate "moved apart".
    """
    verb = VERBS.get(kind or row.get("kind"), "moved")
    shares = row.get(space) if isinstance(row.get(space), dict) else {}
    if "twin" not in shares and "unguided" in shares:  # a record in the public vocabulary
        shares = shares | {"twin": shares["unguided"]}
    parts = [f"{SPACE_NAMES.get(space, space)}: {verb} {pct(shares.get('guided'))} of the way"]
    for key, words in LINEAGE_WORDS:
        if key != "counterfactual" or share(shares.get(key)) is not None:
            parts.append(f"{words} {pct(shares.get(key))}")
    text = " · ".join(parts)
    if others:
        more = [
            f"{SHORT_NAMES[s]} {pct(row[s].get('guided'))}"
            for s in REALIZED_SPACES
            if s != space
            and isinstance(row.get(s), dict)
            and share(row[s].get("guided")) is not None
        ]
        if more:
            text += f" (guided: {' · '.join(more)})"
    return text
