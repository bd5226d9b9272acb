"""The fresh map of the realized shares (whole up to FRESH_MAX_POINTS, a sample beyond),
and the nearest training latent that gives validation points to an edit."""

from __future__ import annotations

import numpy as np

from hill_dash.engine.realized import Request
from hill_dash.engine.realized_spaces import fresh_coords, fresh_sample, nearest_train


def test_a_small_run_is_fitted_whole():
    assert fresh_sample(4000, [Request("compact", np.arange(50))], seed=0) is None


def test_the_sample_holds_every_point_a_request_names_and_is_seeded():
    requests = [
        Request("translate", np.arange(0, 100), shift=np.ones(2)),
        Request("pull", np.arange(100, 150), members=np.arange(5000, 5600)),
        None,
        Request("separate", np.arange(150, 160), other=np.arange(9000, 9300)),
    ]
    rows = fresh_sample(12_000, requests, seed=3, limit=2000)
    named = np.concatenate([np.arange(160), np.arange(5000, 5600), np.arange(9000, 9300)])
    assert np.isin(named, rows).all()
    assert len(rows) == len(named) + 1000  # at least half the limit besides the named
    assert (np.diff(rows) > 0).all() and rows[-1] < 12_000
    assert np.array_equal(rows, fresh_sample(12_000, requests, seed=3, limit=2000))
    assert not np.array_equal(rows, fresh_sample(12_000, requests, seed=4, limit=2000))
    # a selection larger than the limit keeps half the limit of other points to align on
    big = fresh_sample(12_000, [Request("compact", np.arange(3000))], seed=0, limit=2000)
    assert len(big) == 3000 + 1000


def test_a_sampled_fresh_map_has_coordinates_for_the_sample_only():
    g = np.random.default_rng(0)
    Z = (g.normal(size=(4, 8))[np.arange(900) % 4] * 6 + g.normal(size=(900, 8))).astype("f4")
    rows = fresh_sample(800, [Request("compact", np.arange(40))], seed=0, limit=500)
    part = fresh_coords(Z, "umap", 0, 800, rows)
    assert part.shape == (800, 2)
    assert np.isfinite(part[rows]).all()
    assert np.isnan(np.delete(part, rows, axis=0)).all()


def test_nearest_train_finds_each_rows_nearest_training_latent():
    """The k-d tree gives the exact nearest training latent (checked against every
    distance), for any rows, training rows included (their own index)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (10, 32))
    Z = (centres[rng.integers(0, 10, 3000)] + rng.normal(0, 1, (3000, 32))).astype(np.float32)
    n_train, rows = 2000, np.arange(1500, 3000)
    got = nearest_train(Z, n_train, rows)
    d2 = ((Z[rows, None, :].astype(float) - Z[None, :n_train, :].astype(float)) ** 2).sum(-1)
    assert np.array_equal(got, d2.argmin(1))
    assert np.array_equal(got[:500], np.arange(1500, 2000))  # a training row is its own
    assert nearest_train(Z, n_train, np.zeros(0, dtype=np.int64)).shape == (0,)
