"""A chunk's settings from the Loop page's Train card: λ, epochs and the map's projection,
and the advanced fields (learning rate, batch size, anchor, output distillation).

Plain values in, chunk overrides out: an empty field keeps the run's own setting, a
number out of bounds is clamped (λ, epochs) or dropped and named (the advanced fields).
λ and the advanced fields are bounded as the engine checks them
(`hill_dash.engine.training.CHUNK_BOUNDS`); epochs by the Train card's `MAX_EPOCHS`.
"""

from __future__ import annotations

import math

PROJECTIONS = ("umap", "pca")
MAX_EPOCHS = 200

# the advanced chunk settings: (override key, field label); their bounds are the engine's
ADVANCED = (
    ("lr", "learning rate"),
    ("batch_size", "batch size"),
    ("anchor", "anchor weight"),
    ("kd_weight", "output distillation"),
)


def train_overrides(lam: object, epochs: object, projection: object) -> dict:
    """The Train card's inputs as chunk overrides; empty or invalid fields fall back."""
    out: dict = {}
    if isinstance(lam, (int, float)) and not isinstance(lam, bool) and math.isfinite(lam):
        lo, hi, _ = setting_bounds("lam")
        out["lam"] = min(max(float(lam), lo), hi)
    if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and math.isfinite(epochs):
        out["epochs"] = int(min(max(round(epochs), 1), MAX_EPOCHS))
    if projection in PROJECTIONS:
        out["projection"] = projection
    return out


def setting_bounds(key: str) -> tuple[float, float, bool]:
    """(lowest, highest, integer?) of a chunk setting, as the engine checks it."""
    from hill_dash.engine.training import CHUNK_BOUNDS

    return CHUNK_BOUNDS[key]


def chunk_settings(run: dict | None) -> dict:
    """The run's chunk settings (its defaults for the next chunk)."""
    from hill_dash.engine.training import ChunkConfig

    stored = (run or {}).get("config", {}).get("chunk", {})
    return ChunkConfig.from_dict(stored if isinstance(stored, dict) else {}).to_dict()


def advanced_overrides(*values: object) -> dict:
    """Learning rate, batch size, anchor and output-distillation fields as chunk overrides;
    an empty field keeps the run's setting, an invalid one is dropped (see
    `advanced_problems`)."""
    out: dict = {}
    for (key, _), v in zip(ADVANCED, values, strict=True):
        lo, hi, integer = setting_bounds(key)
        if _finite_number(v) and lo <= v <= hi:
            out[key] = int(round(v)) if integer else float(v)
    return out


def advanced_problems(*values: object) -> list[str]:
    """What is wrong with the advanced fields (empty fields are fine)."""
    out = []
    for (key, label), v in zip(ADVANCED, values, strict=True):
        if v is None or v == "":
            continue
        lo, hi, _ = setting_bounds(key)
        if not _finite_number(v) or not lo <= v <= hi:
            out.append(f"{label}: expected a number from {lo:g} to {hi:g}")
    return out


def _finite_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
