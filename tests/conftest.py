"""Shared, seeded fixtures: a small store, a digits run with chunk 0 trained (PCA map)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HILL_DASH_WARMUP", "0")


@pytest.fixture(scope="session")
def digits():
    from hill_dash.engine.data import load_builtin

    return load_builtin("digits", seed=0)


@pytest.fixture
def store(tmp_path):
    from hill_dash.engine.store import RunStore

    return RunStore(tmp_path / "store")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, digits):
    """A digits MLP run on a PCA map with chunk 0 trained; tests copy it before changing it."""
    from hill_dash.engine import loop
    from hill_dash.engine.store import RunStore
    from hill_dash.engine.training import ChunkConfig

    store = RunStore(tmp_path_factory.mktemp("digits-store"))
    run_id = loop.create_run(
        store, digits, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=5, lam=1.0), seed=0
    )
    loop.run_chunk(store, run_id)
    return store, run_id


@pytest.fixture
def run_copy(digits_run, tmp_path):
    """A private copy of the digits run, free to change."""
    import shutil

    from hill_dash.engine.store import RunStore

    store, run_id = digits_run
    shutil.copytree(store.root, tmp_path / "copy")
    return RunStore(tmp_path / "copy"), run_id


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
