"""Metric functions against hand-computed values."""

import numpy as np
import pytest

from hill_dash.engine import metrics as M


def test_accuracy_per_class_and_confusion():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 0, 2])
    assert M.accuracy(p, y) == pytest.approx(4 / 6)
    assert M.per_class_accuracy(p, y, 3) == [0.5, 1.0, 0.5]
    assert M.confusion(p, y, 3) == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_cross_entropy_matches_definition():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 0])
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + 1)), np.log(1 / (1 + np.e))])
    assert M.softmax_ce(logits, y) == pytest.approx(expected)


def test_linear_cka_invariances():
    r = np.random.default_rng(0)
    A = r.normal(size=(200, 16))
    Q, _ = np.linalg.qr(r.normal(size=(16, 16)))
    assert M.linear_cka(A, A @ Q * 3 + 5) == pytest.approx(1.0, abs=1e-9)
    assert M.linear_cka(A, r.normal(size=(200, 16))) < 0.2


def test_drift_splits_edited_from_rest():
    Zp = np.zeros((4, 2))
    Z = np.array([[2.0, 0], [0, 2.0], [0, 0], [1.0, 0]])
    edited = np.array([True, True, False, False])
    d = M.latent_drift(Z, Zp, 2.0, edited)
    assert d == {"edited": 1.0, "rest": 0.25, "all": 0.625}


# -- the library versions give the numbers of the hand-written ones they replaced -------


def _old_softmax_ce(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _old_per_class_accuracy(pred, y, n_classes):
    out = []
    for c in range(n_classes):
        members = y == c
        out.append(float(np.mean(pred[members] == c)) if members.any() else float("nan"))
    return out


def _old_confusion(pred, y, n_classes):
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (y, pred), 1)
    return m.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_library_metrics_match_the_replaced_code(seed):
    r = np.random.default_rng(seed)
    n_classes = int(r.integers(2, 12))
    n = int(r.integers(1, 400))
    y = r.integers(0, n_classes, n)
    logits = (r.normal(size=(n, n_classes)) * r.choice([0.1, 1.0, 30.0])).astype(np.float32)
    pred = logits.argmax(axis=1)
    assert M.softmax_ce(logits, y) == pytest.approx(_old_softmax_ce(logits, y), rel=1e-5)
    np.testing.assert_allclose(
        M.per_class_accuracy(pred, y, n_classes), _old_per_class_accuracy(pred, y, n_classes)
    )  # NaN where a class has no points, in both
    assert M.confusion(pred, y, n_classes) == _old_confusion(pred, y, n_classes)


def test_split_metrics_leave_unlabelled_points_out():
    logits = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
    y = np.array([0, 1, -1, -1])  # two unlabelled points (few-labels scenario)
    m = M.split_metrics(logits, y, 2)
    assert m["acc"] == 1.0
    assert m["per_class"] == [1.0, 1.0]
    assert m["confusion"] == [[1, 0], [0, 1]]
    assert m["loss"] == pytest.approx(_old_softmax_ce(logits[:2], y[:2]))
