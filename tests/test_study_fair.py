"""The fair study's pieces (issue 16): paired statistics, and each arm's edits from a log."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from hill_dash.study.fair_arms import ArmEdits, dfr
from hill_dash.study.fair_stats import holm, paired, sign_flip_p
from hill_dash.study.provenance import git_state, log_invocation


def test_sign_flip_is_exact_over_all_sign_patterns():
    d = np.array([1.5, -0.2, 2.0, 0.7, 1.1, -0.4, 0.9, 1.3, 0.1, 0.6])
    by_hand = np.mean(
        [
            abs(np.dot(s, d)) / 10 >= abs(d.mean()) - 1e-12
            for s in itertools.product((1, -1), repeat=10)
        ]
    )
    assert sign_flip_p(d) == pytest.approx(by_hand)
    scipy_exact = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=np.inf
    ).pvalue
    assert sign_flip_p(d) == pytest.approx(scipy_exact)
    assert sign_flip_p(np.ones(10)) == pytest.approx(2 / 1024)


def test_paired_t_interval_matches_scipy():
    d = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    r = paired(d)
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (r["low"], r["high"]) == pytest.approx((ci.low, ci.high))
    assert r["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)


def test_holm_counts_missing_comparisons_as_p_1():
    adj = holm({"a": 0.01, "b": 0.04, "c": None}, ["a", "b", "c", "d"])
    assert adj == pytest.approx({"a": 0.04, "b": 0.12, "c": 1.0, "d": 1.0})


def _data():
    y = np.array([0, 0, 1, 1, 2, 2, -1, -1])
    return SimpleNamespace(y_train=y, y_train_true=np.array([0, 0, 1, 1, 2, 2, 1, 2]), n_classes=3)


LOG = [
    {
        "inspected": [[0, 1], [6, 1]],  # point 0 read as 1, unlabelled 6 read as 1
        "pulls": [{"indices": [0, 1, 9], "target": 1}],  # 9: a validation point
    }
]


def test_relabel_and_upweight_arms_use_the_users_reads_and_selections():
    rng = np.random.default_rng(0)
    edits, effort = ArmEdits("relabel", _data(), LOG, rng)(1, np.zeros((10, 3)))
    got = {(e.kind, tuple(e.indices), e.target_class) for e in edits}
    assert got == {("relabel", (1,), 1), ("relabel", (0, 6), 1)}
    assert effort == {"gestures": 1, "thumbnails": 2}
    edits, _ = ArmEdits("upweight", _data(), LOG, rng)(1, np.zeros((10, 3)))
    (w,) = [e for e in edits if e.kind == "weight"]
    # 5 labelled points after the relabels (0, 1, 2, 3, 4, 5, 6: 7) minus 3 marked: w = 4/3
    assert w.indices == [0, 1, 6] and w.weight == pytest.approx(4 / 3)


def test_random_arm_pulls_groups_of_the_same_size_to_their_shown_class():
    data = SimpleNamespace(y_train=np.repeat([0, 1, 2], 3), y_train_true=None, n_classes=3)
    edits, effort = ArmEdits("random", data, LOG, np.random.default_rng(1))(1, None)
    (e,) = edits
    assert e.kind == "pull" and len(e.indices) == 2  # the pull had 2 training points
    assert set(data.y_train[e.indices]) == {e.target_class}
    assert effort["thumbnails"] == 0


def test_a_random_group_leaves_a_point_of_its_class_to_pull_toward():
    """Few labels: a class with no more points than the group keeps one outside it (a
    pull of every point of a class has nothing to pull toward)."""
    for seed in range(10):
        edits, _ = ArmEdits("random", _data(), LOG, np.random.default_rng(seed))(1, None)
        (e,) = edits
        assert len(e.indices) == 1  # every class has 2 training points


def test_queue_reads_the_least_confident_points_and_relabels_them():
    logits = np.tile([5.0, 0.0, 0.0], (10, 1))
    logits[[6, 3]] = [0.1, 0.0, 0.0]  # least confident
    arm = ArmEdits("queue", _data(), LOG, np.random.default_rng(0))
    edits, effort = arm(1, logits)
    got = {(tuple(e.indices), e.target_class) for e in edits}
    assert got == {((3, 6), 1)}  # the truth, as read from the thumbnails, one edit per class
    assert effort == {"gestures": 2, "thumbnails": 2}
    edits, _ = arm(1, logits)  # never the same point twice
    assert not {3, 6} & {i for e in edits for i in e.indices}


def test_pseudo_label_uses_the_heads_majority_on_each_selection():
    log = [{"inspected": [[6, -1]], "compacts": [[6, 7]], "separates": [[[0, 1], [2, 3]]]}]
    logits = np.zeros((10, 3))
    logits[[6, 7], 2] = 1
    logits[[0, 1], 1] = 1
    logits[[2, 3], 0] = 1
    edits, effort = ArmEdits("pseudo-label", _data(), log, np.random.default_rng(0))(1, logits)
    got = {(tuple(e.indices), e.target_class) for e in edits}
    assert got == {((6, 7), 2), ((0, 1), 1), ((2, 3), 0)}
    assert effort == {"gestures": 2, "thumbnails": 1}


def test_dfr_balances_class_by_selection_groups():
    g = np.random.default_rng(0)
    data = SimpleNamespace(y_train=np.repeat([0, 1], 50), n_classes=2)
    Z = g.normal(size=(120, 4))
    Z[:50, 0] += 3
    log = [{"inspected": [], "pulls": [{"indices": [0, 1, 2], "target": 0}]}]
    out = dfr(data, Z, log)
    assert out["fitted_on"] == 100 and out["selected"] == 3
    assert out["logits"].shape == (120, 2)


def test_provenance_and_the_invocation_log(tmp_path):
    git = git_state()
    assert len(git["commit"]) == 40 and isinstance(git["clean"], bool)
    log = tmp_path / "log.csv"
    log_invocation(log, "python -m hill_dash fair-study x", git, "out/a")
    log_invocation(log, "python -m hill_dash fair-study y", git, "out/b")
    rows = log.read_text().splitlines()
    assert rows[0] == "time,command,commit,clean,out" and len(rows) == 3
    assert rows[2].endswith(",out/b") and git["commit"] in rows[1]


def test_a_live_arm_other_than_the_primary_reads_its_own_map(tmp_path):
    """--live upweight (a sensitivity run): the user reads the up-weight arm's map, its
    reads and selections become that arm's Relabel and Weight edits, and the primary
    (latent) arm replays them."""
    from hill_dash.engine.data import load_dataset
    from hill_dash.study.fair import FairConfig, run_fair_seed

    cfg = FairConfig(
        dataset="digits-decoy",
        arms=["latent", "upweight"],
        model="mlp",
        chunks=1,
        epochs=1,
        projection="pca",
        live="upweight",
    )
    cfg.check()
    assert cfg.arm_list == ["upweight", "latent"]
    load_dataset(cfg.dataset, tmp_path / "data", 0)
    out = run_fair_seed(cfg, 0, str(tmp_path / "work"), str(tmp_path / "data"))
    assert set(out["arms"]) == {"upweight", "latent", "unguided"}
    (entry,) = out["log"]
    assert entry["pulls"] or entry["inspected"]
    (row,) = out["arms"]["upweight"]["chunks"]
    assert row["edits"] >= 1 and row["thumbnails"] == len(entry["inspected"])
    with pytest.raises(Exception, match="--live 'dfr'"):
        FairConfig(live="dfr").check()
