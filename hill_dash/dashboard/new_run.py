"""A new run from the Data page's choices: every setting checked, then the run stored.

The page passes the raw form values; each bad one becomes a DataError that names the
setting and what was expected, so the page shows it and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path

from hill_dash.dashboard.uploads import load_choice
from hill_dash.engine import loop
from hill_dash.engine.errors import DataError
from hill_dash.engine.projection import METHODS
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig

ARCHS_BY_KIND = {"image": ("mlp", "cnn2d"), "sequence": ("mlp", "cnn1d"), "flat": ("mlp", "cnn1d")}
LIMITS = {"latent_dim": (2, 512), "epochs": (1, 200), "lam": (0.0, 1000.0), "seed": (0, 2**31 - 1)}


def checked_number(value: object, name: str, integer: bool = True) -> float:
    lo, hi = LIMITS[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi or (integer and int(value) != value):
        kind = "an integer" if integer else "a number"
        raise DataError(
            f"setting {name.replace('_', ' ')}: expected {kind} in {lo}..{hi}, got {value!r}"
        )
    return int(value) if integer else float(value)


def start_run(
    root: Path,
    choice: str,
    upload: dict | None,
    arch: str,
    latent_dim: object,
    projection: str,
    epochs: object,
    lam: object,
    seed: object = 0,
    name: str | None = None,
) -> str:
    """Store a new run (data + config, no training); returns its id."""
    seed = checked_number(seed, "seed")
    settings = {
        "latent_dim": checked_number(latent_dim, "latent_dim"),
        "epochs": checked_number(epochs, "epochs"),
        "lam": checked_number(lam, "lam", integer=False),
    }
    if projection not in METHODS:
        raise DataError(f"setting projection: expected umap or pca, got {projection!r}")
    data = load_choice(choice, upload, root, seed)
    if arch not in ARCHS_BY_KIND[data.kind]:
        raise DataError(
            f"setting model: {arch!r} does not fit {data.kind} data of shape "
            f"{data.sample_shape}; expected one of {ARCHS_BY_KIND[data.kind]}"
        )
    try:
        return loop.create_run(
            RunStore(root),
            data,
            arch=arch,
            latent_dim=settings["latent_dim"],
            projection=projection,
            seed=seed,
            name=(name or "").strip() or None,
            chunk=ChunkConfig(epochs=settings["epochs"], lam=settings["lam"]),
        )
    except ValueError as exc:  # a model that cannot be built for this data
        raise DataError(f"setting model: {exc}") from None
