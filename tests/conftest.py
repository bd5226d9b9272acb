"""Shared, seeded fixtures: a small store, a digits run with chunk 0 trained (PCA map)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HILL_DASH_WARMUP", "0")


def pytest_addoption(parser):
    parser.addoption(
        "--test-order",
        default="file",
        help="file (default), reverse, or random[:SEED]: files and the tests in each file "
        "shuffled, to show that no test depends on another having run first",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:  # the browser tests are marked by where they live
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
    order = config.getoption("--test-order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("random"):
        import random

        # one seed for every xdist worker of a run (they must collect the same order)
        run_uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
        fallback = int(run_uid[:8], 16) % 10**6 if run_uid else random.randrange(10**6)
        seed = int(order.partition(":")[2] or fallback)
        shuffler = random.Random(seed)
        by_file: dict = {}
        for item in items:
            by_file.setdefault(item.path, []).append(item)
        files = list(by_file.values())
        shuffler.shuffle(files)
        for group in files:
            shuffler.shuffle(group)
        items[:] = [item for group in files for item in group]
        config.hill_dash_order = f"random:{seed}"


def pytest_report_header(config):
    order = getattr(config, "hill_dash_order", config.getoption("--test-order"))
    return f"test order: {order}"


@pytest.fixture(autouse=True)
def _process_state_restored():
    """Whatever a test changes in the process (torch threads, thread-pool limits, env vars,
    working directory, global RNGs) is put back after it, so test order cannot matter."""
    from tests.process_state import restore, snapshot

    state = snapshot()
    yield
    restore(state)


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


def pull_then_compact_run(store, digits) -> str:
    """A digits MLP run on a PCA map (1 epoch a chunk): chunk 0, a pull of forty 3s to 8
    (chunk 1), a compact of thirty 5s (chunk 2, so its counterfactual f2 exists)."""
    from hill_dash.engine import loop
    from hill_dash.engine.edits import Edit
    from hill_dash.engine.training import ChunkConfig

    run_id = loop.create_run(
        store, digits, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=1), seed=0
    )
    loop.run_chunk(store, run_id)
    threes = np.flatnonzero(digits.y_train == 3)[:40].tolist()
    loop.add_edit(store, run_id, Edit("pull", threes, target_class=8))
    loop.run_chunk(store, run_id)
    fives = np.flatnonzero(digits.y_train == 5)[:30].tolist()
    loop.add_edit(store, run_id, Edit("compact", fives, beta=0.5))
    loop.run_chunk(store, run_id)
    return run_id


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# The Loop callback tests' synthetic 20,000-point runs (`tests/loop_run.py`), one per module.
@pytest.fixture(scope="module")
def pca_run(tmp_path_factory):
    from tests.loop_run import synthetic_run

    return synthetic_run(tmp_path_factory.mktemp("pca20k"), "pca")


@pytest.fixture(scope="module")
def umap_run(tmp_path_factory):
    from tests.loop_run import synthetic_run

    return synthetic_run(tmp_path_factory.mktemp("umap20k"), "umap", seed=1)
