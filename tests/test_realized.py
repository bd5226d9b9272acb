"""The realized share (`engine/realized.py`): relative to the rest, for every edit kind."""

from __future__ import annotations

import numpy as np
import pytest

from hill_dash.engine.realized import Request, shares


@pytest.fixture
def blobs():
    """Four classes of 60 points in 8 dimensions, class 0's first 30 points selected."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(4, 8))
    labels = np.repeat(np.arange(4), 60)
    points = centres[labels] + rng.normal(size=(240, 8))
    return points, labels, np.arange(30), np.arange(30, 240)


def requests(points, labels, selected) -> dict[str, Request]:
    centre = points[selected].mean(0)
    return {
        "translate": Request("translate", selected, shift=np.full(8, 2.0)),
        "pull": Request("pull", selected, members=np.flatnonzero(labels == 2), amount=0.5),
        "compact": Request("compact", selected, amount=0.5),
        "separate": Request("separate", selected, other=np.flatnonzero(labels == 1), amount=0.5),
    }, centre


def granted(points, labels, selected, kind):
    """The positions after exactly the request of `kind` happened and nothing else."""
    asked, centre = requests(points, labels, selected)
    r, out = asked[kind], points.copy()
    if kind == "translate":
        out[selected] += r.shift
    elif kind == "pull":
        out[selected] += r.amount * (points[r.members].mean(0) - centre)
    elif kind == "compact":
        out[selected] = centre + r.amount * (points[selected] - centre)
    else:
        out[selected] += r.amount * (centre - points[r.other].mean(0))
    return out


@pytest.mark.parametrize("kind", ["translate", "pull", "compact", "separate"])
def test_exactly_the_request_reads_one_and_nothing_reads_zero(blobs, kind):
    points, labels, selected, reference = blobs
    asked, _ = requests(points, labels, selected)
    (share,) = shares([asked[kind]], points, granted(points, labels, selected, kind), reference)
    assert share == pytest.approx(1.0, abs=1e-6)
    (none,) = shares([asked[kind]], points, points.copy(), reference)
    assert none == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kind", ["translate", "pull", "compact", "separate"])
def test_a_similarity_transform_of_the_whole_space_changes_no_share(blobs, kind):
    """What a global rotation, uniform scaling and shift did is taken out: the request
    that happened reads 1 after it, and the whole space moving alone reads 0."""
    points, labels, selected, reference = blobs
    asked, _ = requests(points, labels, selected)
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    offset = rng.normal(size=8)
    whole = lambda p: 2.5 * p @ q + offset  # noqa: E731
    (share,) = shares([asked[kind]], points, whole(points), reference)
    assert share == pytest.approx(0.0, abs=1e-6)
    after = whole(granted(points, labels, selected, kind))
    (share,) = shares([asked[kind]], points, after, reference)
    assert share == pytest.approx(1.0, abs=1e-6)


def test_too_few_reference_points_measure_nothing(blobs):
    points, labels, selected, _ = blobs
    asked, _ = requests(points, labels, selected)
    assert shares(list(asked.values()), points, points, np.arange(30, 32)) == [None] * 4
