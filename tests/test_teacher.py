"""Edits become the targets DESIGN §2 specifies, with left-out and relabel counts."""

import numpy as np
import pytest
import torch

from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import fit_map
from hill_dash.engine.teacher import Edit, TeacherTable, build_teacher, rms_scale, teacher_loss


@pytest.fixture(scope="module")
def latents():
    r = np.random.default_rng(0)
    Z = np.concatenate([r.normal(c * 3, 1, (40, 8)) for c in range(3)]).astype(np.float32)
    y = np.repeat(np.arange(3), 40)
    split = np.array(["train"] * 90 + ["val"] * 15 + ["test"] * 15)
    order = np.concatenate([np.flatnonzero(split == s) for s in ("train", "val", "test")])
    perm = r.permutation(120)
    Z, y = Z[perm], y[perm]
    return Z, y, split[order]


def test_pca_translate_moves_every_target_by_delta_w(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = list(range(0, 30))
    t = build_teacher([Edit("translate", sel, dx=1.5, dy=-0.5)], Z, state, y, split)
    expected = np.array([1.5, -0.5]) @ np.linalg.pinv(state.linear)
    np.testing.assert_allclose(t.targets - t.start, np.tile(expected, (30, 1)), atol=1e-5)
    # and the targets sit exactly Δ away on the map
    moved = (t.targets - state.mean) @ state.linear + state.offset
    np.testing.assert_allclose(moved - state.coords[t.train_idx], [[1.5, -0.5]] * 30, atol=1e-4)


def test_val_and_test_points_never_get_targets(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = [0, 1, 2, 95, 100, 110, 119]
    t = build_teacher([Edit("compact", sel, beta=0.2)], Z, state, y, split)
    assert sorted(t.train_idx.tolist()) == [0, 1, 2]
    assert t.left_out == {"val": 2, "test": 2}


def test_pull_to_class_moves_toward_class_mean_and_counts_relabels(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = list(range(90))
    t = build_teacher([Edit("pull", sel, target_class=1, alpha=0.5)], Z, state, y, split)
    mu = Z[:90][y[:90] == 1].mean(axis=0)
    np.testing.assert_allclose(t.targets, Z[:90] + 0.5 * (mu - Z[:90]), atol=1e-4)
    assert t.relabels == int(np.sum(y[:90] != 1))
    assert t.touched_classes == [0, 1, 2]


def test_compact_and_separate(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    a = np.flatnonzero((y == 0) & (split == "train")).tolist()
    b = np.flatnonzero((y == 1) & (split == "train")).tolist()
    t = build_teacher([Edit("compact", a, beta=0.25)], Z, state, y, split)
    spread_before = np.linalg.norm(t.start - t.start.mean(0), axis=1).mean()
    spread_after = np.linalg.norm(t.targets - t.targets.mean(0), axis=1).mean()
    assert spread_after == pytest.approx(0.25 * spread_before, rel=1e-4)
    t = build_teacher([Edit("separate", a, other=b, gamma=1.0)], Z, state, y, split)
    d_before = np.linalg.norm(Z[a].mean(0) - Z[b].mean(0))
    d_after = np.linalg.norm(t.targets.mean(0) - Z[b].mean(0))
    assert d_after == pytest.approx(2 * d_before, rel=1e-4)


def test_anchor_holds_unedited_training_points(latents):
    Z, y, split = latents
    t = build_teacher(
        [Edit("compact", [0, 1], beta=0)], Z, fit_map(Z, "pca"), y, split, anchor=True
    )
    assert len(t.anchor_idx) == 88
    np.testing.assert_array_equal(t.anchor_targets, Z[t.anchor_idx])


def test_teacher_loss_is_scale_free(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    losses = []
    for k in (1.0, 10.0):
        Zk = Z * k
        t = build_teacher(
            [Edit("translate", list(range(30)), dx=1.0 * k, dy=0)], Zk, fit_map(Zk, "pca"), y, split
        )
        table = TeacherTable(t, 90, torch.device("cpu"))
        z = torch.as_tensor(Zk[:90])
        losses.append(float(teacher_loss(z, torch.arange(90), table, lam=1.0)))
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
    assert rms_scale(Z[:90] * 10) == pytest.approx(10 * rms_scale(Z[:90]), rel=1e-5)
    assert state.method == "pca"


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"kind": "warp", "indices": [1]}, "kind"),
        ({"kind": "pull", "indices": [1]}, "target_class"),
        ({"kind": "pull", "indices": [1], "target_class": "3"}, "target_class"),
        ({"kind": "compact", "indices": []}, "indices"),
        ({"kind": "compact", "indices": [-1]}, "indices"),
        ({"kind": "compact", "indices": [10**9]}, "indices"),
        ({"kind": "translate", "indices": [1], "dx": float("nan")}, "dx"),
        ({"kind": "separate", "indices": [1]}, "other"),
        ("compact", "edit"),
    ],
)
def test_bad_edits_name_the_field(bad, field):
    with pytest.raises(StoreError, match=field):
        Edit.from_dict(bad, n_points=120)
