"""Scripted users: budget, training points only, determinism, and what each one edits."""

import numpy as np
import pytest

from hill_dash.engine.errors import HillError
from hill_dash.engine.teacher import Edit
from hill_dash.study.strategies import (
    RunState,
    budget_used,
    get_strategy,
    make_state,
    most_confused_pair,
    parse_strategies,
)

ALL = ["fix-misplaced", "compact-classes", "separate-confused", "merge-classes:3,8", "random"]


def blobs_state(seed: int = 0, budget_fraction: float = 0.1) -> RunState:
    """10 Gaussian classes in 8-D; 600 train, 200 val, 200 test; class 8 half predicted as 3."""
    g = np.random.default_rng(123)
    n, C = 1000, 10
    labels = np.arange(n) % C
    centers = g.normal(scale=4.0, size=(C, 8))
    Z = centers[labels] + g.normal(size=(n, 8))
    split = np.array(["train"] * 600 + ["val"] * 200 + ["test"] * 200)
    logits = -np.linalg.norm(Z[:, None] - centers[None], axis=2)
    confused = np.flatnonzero(labels == 8)[::2]
    logits[confused, 3] = 10.0  # a systematic 8 -> 3 confusion
    coords = Z[:, :2] @ np.array([[1.0, 0.2], [0.1, 1.0]])
    return make_state(
        Z, coords, labels, logits, split, C, np.random.default_rng(seed), budget_fraction
    )


@pytest.mark.parametrize("spec", ALL)
def test_edits_stay_within_budget_on_training_points_and_are_valid(spec):
    state = blobs_state()
    assert state.budget == 60
    edits = get_strategy(spec)(state)
    assert edits, spec
    assert budget_used(edits, state.split) <= state.budget
    touched = {i for e in edits for i in e.indices}
    assert all(state.split[i] == "train" for i in touched)
    for e in edits:
        assert e.kind in ("translate", "pull", "compact", "separate")
        Edit.from_dict(e.to_dict(), len(state.labels))  # what the dashboard would accept


@pytest.mark.parametrize("spec", ALL)
def test_same_state_and_seed_give_the_same_edits(spec):
    a = get_strategy(spec)(blobs_state(seed=5))
    b = get_strategy(spec)(blobs_state(seed=5))
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]


def test_random_control_spends_the_whole_budget_and_varies_with_the_seed():
    a = get_strategy("random")(blobs_state(seed=1))
    b = get_strategy("random")(blobs_state(seed=2))
    assert budget_used(a, blobs_state().split) == 60
    assert {i for e in a for i in e.indices} != {i for e in b for i in e.indices}


def test_merge_classes_pulls_class_b_onto_class_a():
    state = blobs_state()
    edits = get_strategy("merge-classes:3,8")(state)
    assert all(e.kind == "pull" and e.target_class == 3 for e in edits)
    idx = [i for e in edits for i in e.indices]
    assert len(idx) == 60  # class 8 has 60 training points, all within budget
    assert set(state.labels[idx]) == {8}


def test_fix_misplaced_pulls_misclassified_training_points_to_their_true_class():
    state = blobs_state()
    edits = get_strategy("fix-misplaced")(state)
    wrong = np.flatnonzero((state.pred != state.labels) & (state.split == "train"))
    pulled = {i for e in edits for i in e.indices}
    assert set(wrong) <= pulled  # misclassified points come first (30 < budget 60)
    for e in edits:
        assert e.kind == "pull"
        assert set(state.labels[e.indices]) == {e.target_class}


def test_separate_confused_pushes_the_most_confused_pair_apart():
    state = blobs_state()
    assert most_confused_pair(state) == (3, 8)
    edits = get_strategy("separate-confused")(state)
    assert [e.kind for e in edits] == ["separate", "separate"]
    assert set(state.labels[edits[0].indices]) == {3}
    assert set(state.labels[edits[0].other]) == {8}
    assert edits[1].indices == edits[0].other


def test_compact_classes_shares_the_budget_between_classes():
    state = blobs_state()
    edits = get_strategy("compact-classes")(state)
    assert len(edits) == 10
    assert all(e.kind == "compact" and len(set(state.labels[e.indices])) == 1 for e in edits)


def test_strategy_lists_parse_merge_arguments_and_refuse_unknown_names():
    assert parse_strategies("fix-misplaced,merge-classes:3,8,random") == [
        "fix-misplaced",
        "merge-classes:3,8",
        "random",
    ]
    for bad in ("fix-everything", "merge-classes:3", "merge-classes:3,3", "random,random"):
        with pytest.raises(HillError):
            parse_strategies(bad)
    with pytest.raises(HillError, match="not in 0..9"):
        get_strategy("merge-classes:3,12")(blobs_state())
