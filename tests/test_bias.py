"""Paired bias statistics on constructed predictions: a planted merge is flagged, noise is not."""

import numpy as np
import pytest
from scipy import stats

from hill_dash.engine import bias as B
from hill_dash.engine import metrics as M
from tests import unpaired_rule

N_CLASSES, PER_CLASS = 10, 27  # digits: about 27 validation points per class


def validation_labels() -> np.ndarray:
    return np.repeat(np.arange(N_CLASSES), PER_CLASS)


def noisy(y: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Predictions with `rate` of the points wrong, each to a random other class."""
    pred = y.copy()
    wrong = rng.random(len(y)) < rate
    pred[wrong] = (y[wrong] + rng.integers(1, N_CLASSES, wrong.sum())) % N_CLASSES
    return pred


def merged(y: np.ndarray, ref: np.ndarray, a: int, b: int, share: float, rng) -> np.ndarray:
    """`ref`, except that `share` of class a's points are now predicted as b."""
    pred = ref.copy()
    members = np.flatnonzero(y == a)
    pred[rng.choice(members, int(round(share * len(members))), replace=False)] = b
    return pred


def flagged_classes(rows) -> list[int]:
    return [r["class"] for r in rows if r["flag"]]


def flagged_cells(rows) -> list[tuple[int, int]]:
    return [(r["true"], r["pred"]) for r in rows if r["flag"]]


@pytest.mark.parametrize("chunk", [1, 3, 10])
def test_a_planted_merge_of_3_into_8_flags_class_3_and_the_shift_3_to_8(chunk):
    rng = np.random.default_rng(0)
    y = validation_labels()
    ref = noisy(y, 0.05, rng)
    guided = merged(y, ref, 3, 8, 0.9, rng)
    rows = B.class_bias(y, guided, ref, N_CLASSES, [3], B.class_family(N_CLASSES, chunk))
    assert flagged_classes(rows) == [3]
    r3 = rows[3]
    assert r3["touched"] and not rows[8]["touched"]
    assert r3["lost"] > 20 and r3["gained"] == 0 and r3["n"] == PER_CLASS
    assert r3["delta"] == pytest.approx(
        M.per_class_accuracy(guided, y, N_CLASSES)[3] - M.per_class_accuracy(ref, y, N_CLASSES)[3]
    )
    assert r3["p"] == pytest.approx(0.5 ** r3["lost"])  # every discordant point went the bad way
    shifts = B.confusion_shifts(y, guided, ref, N_CLASSES, B.shift_family(N_CLASSES, chunk))
    assert flagged_cells(shifts) == [(3, 8)]
    top = shifts[0]
    assert (top["true"], top["pred"]) == (3, 8)
    assert top["guided"] == pytest.approx(
        M.confusion(guided, y, N_CLASSES)[3][8] / PER_CLASS
    ) and top["ref"] == pytest.approx(M.confusion(ref, y, N_CLASSES)[3][8] / PER_CLASS)
    assert top["delta"] == pytest.approx(top["guided"] - top["ref"])


def test_identical_predictions_flag_nothing():
    rng = np.random.default_rng(1)
    y = validation_labels()
    pred = noisy(y, 0.1, rng)
    rows = B.class_bias(y, pred, pred, N_CLASSES, [], B.class_family(N_CLASSES, 1))
    assert not flagged_classes(rows)
    assert {r["p"] for r in rows} == {1.0} and {r["delta"] for r in rows} == {0.0}
    assert B.confusion_shifts(y, pred, pred, N_CLASSES, B.shift_family(N_CLASSES, 1)) == []


def test_random_noise_at_the_same_budget_is_quiet_in_most_draws():
    """The merge above changes 24 predictions; changing 24 at random flags (almost) nothing."""
    y = validation_labels()
    budget = int(round(0.9 * PER_CLASS))
    loud = 0
    for draw in range(200):
        rng = np.random.default_rng(100 + draw)
        ref = noisy(y, 0.05, rng)
        guided = ref.copy()
        pick = rng.choice(len(y), budget, replace=False)
        guided[pick] = rng.integers(0, N_CLASSES, budget)
        rows = B.class_bias(y, guided, ref, N_CLASSES, [], B.class_family(N_CLASSES, 1))
        shifts = B.confusion_shifts(y, guided, ref, N_CLASSES, B.shift_family(N_CLASSES, 1))
        loud += bool(flagged_classes(rows) or flagged_cells(shifts))
    assert loud <= 10, loud  # "most draws": at least 95 % of them are quiet


def test_false_flags_stay_below_alpha_when_guided_and_reference_are_exchangeable():
    """Under the null (each point's pair of predictions swapped at random), the chance of
    any flag in a chunk stays below its share of α, for both signals."""
    y = validation_labels()
    any_class = any_shift = old_rule = 0
    draws = 400
    for draw in range(draws):
        rng = np.random.default_rng(1000 + draw)
        a, b = noisy(y, 0.3, rng), noisy(y, 0.3, rng)
        swap = rng.random(len(y)) < 0.5
        g, r = np.where(swap, a, b), np.where(swap, b, a)
        any_class += bool(
            flagged_classes(B.class_bias(y, g, r, N_CLASSES, [], B.class_family(N_CLASSES, 1)))
        )
        any_shift += bool(
            flagged_cells(B.confusion_shifts(y, g, r, N_CLASSES, B.shift_family(N_CLASSES, 1)))
        )
        acc = [M.per_class_accuracy(p, y, N_CLASSES) for p in (g, r)]
        old_rule += any(
            f["flag"] for f in unpaired_rule.bias_flags(*acc, [PER_CLASS] * N_CLASSES, [])
        )
    # chunk 1 spends α/2 = 0.025: expect about 10 of 400 at most (Holm is conservative)
    assert any_class <= 20 and any_shift <= 20, (any_class, any_shift)
    # the rule it replaces (independent s.e., no correction) flags a class in ~1 chunk of 4
    assert old_rule > 60, old_rule


def test_pairing_sees_a_drop_that_the_independent_rule_calls_noise():
    """27 points of class 0; the reference gets 14 right, guidance loses 6 of them and
    gains none. Paired, that is 6 of 6 discordant points the bad way (p = 1/64); as two
    independent accuracies (8/27 vs 14/27) it is within 2 standard errors."""
    y = np.zeros(27, dtype=np.int64)
    ref = np.where(np.arange(27) < 14, 0, 1)
    guided = np.where(np.arange(27) < 8, 0, 1)
    row, _ = B.class_bias(y, guided, ref, 2, [], family=1)  # class 1: no points
    assert (row["lost"], row["gained"], row["p"]) == (6, 0, pytest.approx(1 / 64))
    assert row["flag"]
    (old,) = unpaired_rule.bias_flags([8 / 27], [14 / 27], [27], [])
    assert not old["flag"]


def test_one_sided_p_is_scipys_exact_binomial_test():
    for k, d in [(0, 0), (0, 5), (3, 5), (5, 5), (12, 20), (20, 20), (1, 40)]:
        expected = 1.0 if d == 0 else stats.binomtest(k, d, 0.5, alternative="greater").pvalue
        assert B.one_sided_p(k, d) == pytest.approx(expected, rel=1e-12)


def test_holm_in_a_family_of_its_own_size_is_holm():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # by hand: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 → 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert B.holm_in_family(p, 4).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # a larger family scales by (m − j): 0.005·40, 0.01·39, 0.03·38, 0.04·37
    assert B.holm_in_family(p, 40).tolist() == pytest.approx([0.39, 1.0, 1.0, 0.2])
    with pytest.raises(ValueError, match="family"):
        B.holm_in_family(p, 3)


def test_the_family_grows_so_the_lineage_spends_at_most_alpha():
    assert [B.class_family(10, k) for k in (1, 2, 3)] == [20, 60, 120]
    assert B.shift_family(10, 1) == 180
    shares = [B.family_size(1, k) for k in range(1, 10_001)]
    assert sum(1 / m for m in shares) < 1.0  # Σ α_k < α
    with pytest.raises(ValueError, match="chunk"):
        B.family_size(10, 0)


def test_a_class_without_points_is_not_tested_and_unlabelled_points_are_ignored():
    y = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    g = np.array([1, 1, 1, 1, 1, 1, 0, 0])
    r = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    rows = B.class_bias(y, g, r, 3, [0], 3)
    assert rows[2] == {
        "class": 2,
        "n": 0,
        "gained": 0,
        "lost": 0,
        "touched": False,
        "delta": None,
        "se": None,
        "p": None,
        "p_adj": None,
        "flag": False,
    }
    assert (rows[0]["lost"], rows[0]["gained"], rows[0]["delta"]) == (3, 0, -1.0)
    assert rows[0]["p"] == pytest.approx(0.125) and rows[0]["p_adj"] == pytest.approx(
        0.375
    )  # 3 · p
    (shift,) = B.confusion_shifts(y, g, r, 3, 6)
    assert (shift["true"], shift["pred"], shift["up"], shift["down"]) == (0, 1, 3, 0)
    with pytest.raises(ValueError, match="1-D arrays"):
        B.class_bias(y, g[:3], r, 3, [], 3)
    with pytest.raises(ValueError, match="pred_ref: expected class indices 0..2"):
        B.confusion_shifts(y, g, r + 2, 3, 6)
