"""A new run from the Data page's choices: every setting checked, then the run stored.

The page passes the raw form values; each bad one becomes a DataError that names the
setting and what was expected, so the page shows it and nothing is stored.

A model of the person's own (``arch="custom"``: a ``package.module:function`` factory and
a latent layer name) imports code, so it is refused unless whoever started the dashboard
allowed it with ``HILL_DASH_ALLOW_CUSTOM_MODELS=1`` (read in this process and the jobs').
"""

from __future__ import annotations

import os
from pathlib import Path

from hill_dash.dashboard.uploads import load_choice
from hill_dash.engine import loop
from hill_dash.engine.data import Dataset
from hill_dash.engine.errors import DataError
from hill_dash.engine.models import ModelConfig, custom_config
from hill_dash.engine.projection import METHODS
from hill_dash.engine.store import RunStore
from hill_dash.engine.training import ChunkConfig

ARCHS_BY_KIND = {"image": ("mlp", "cnn2d"), "sequence": ("mlp", "cnn1d"), "flat": ("mlp", "cnn1d")}
LIMITS = {"latent_dim": (2, 512), "epochs": (1, 200), "lam": (0.0, 1000.0), "seed": (0, 2**31 - 1)}
CUSTOM_MODELS_ENV = "HILL_DASH_ALLOW_CUSTOM_MODELS"


def custom_models_allowed() -> bool:
    """Whether the Data page may import a person's own model factory (off by default)."""
    return os.environ.get(CUSTOM_MODELS_ENV, "").strip() == "1"


def checked_number(value: object, name: str, integer: bool = True) -> float:
    lo, hi = LIMITS[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi or (integer and int(value) != value):
        kind = "an integer" if integer else "a number"
        raise DataError(
            f"setting {name.replace('_', ' ')}: expected {kind} in {lo}..{hi}, got {value!r}"
        )
    return int(value) if integer else float(value)


def checked_custom_model(
    data: Dataset, factory: object, latent_layer: object, latent_dim: int
) -> ModelConfig:
    """The person's own model, imported, built and tried once; DataError if not allowed/bad."""
    if not custom_models_allowed():
        raise DataError(
            "setting model: a model of your own imports code, which this dashboard does not "
            f"allow; start it with {CUSTOM_MODELS_ENV}=1 to allow it"
        )
    try:
        return custom_config(
            str(factory or ""),
            str(latent_layer or ""),
            data.sample_shape,
            data.n_classes,
            latent_dim,
        )
    except ValueError as exc:
        raise DataError(f"setting model: {exc}") from None


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
    factory: str | None = None,
    latent_layer: str | None = None,
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
    custom = None
    if arch == "custom":
        custom = checked_custom_model(data, factory, latent_layer, settings["latent_dim"])
    elif arch not in ARCHS_BY_KIND[data.kind]:
        raise DataError(
            f"setting model: {arch!r} does not fit {data.kind} data of shape "
            f"{data.sample_shape}; expected one of {ARCHS_BY_KIND[data.kind]}"
        )
    store = RunStore(root)
    try:
        run_id = loop.create_run(
            store,
            data,
            arch="mlp" if custom else arch,
            latent_dim=settings["latent_dim"],
            projection=projection,
            seed=seed,
            name=(name or "").strip() or None,
            chunk=ChunkConfig(epochs=settings["epochs"], lam=settings["lam"]),
        )
    except ValueError as exc:  # a model that cannot be built for this data
        raise DataError(f"setting model: {exc}") from None
    if custom is not None:
        use_model(store, run_id, custom)
    return run_id


def use_model(store: RunStore, run_id: str, model: ModelConfig) -> None:
    """Give a run that has not trained yet another model config (a person's own model).

    Until `loop.create_run` takes a ModelConfig, the run is created with a built-in and its
    model config replaced here, before any chunk can train.
    """

    def change(run: dict) -> None:
        if run["chunks"]:
            raise DataError(f"run {run_id}: already trained; its model cannot change")
        run["config"]["model"] = model.to_dict()

    store.update_run(run_id, change)
