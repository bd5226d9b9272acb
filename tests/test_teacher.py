"""Edits become the targets the teacher module specifies; the loss only relative change meets."""

import numpy as np
import pytest
import torch

from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import fit_map
from hill_dash.engine.teacher import Edit, build_teacher, centred_scale, rms_scale
from hill_dash.engine.teacher_loss import TeacherTable, teacher_loss


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
    assert t.requests[0].kind == "translate"
    np.testing.assert_allclose(t.requests[0].shift, expected, atol=1e-9)


def test_val_points_never_get_targets_and_test_points_are_not_used(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = [0, 1, 2, 95, 100, 110, 119]
    t = build_teacher([Edit("compact", sel, beta=0.2)], Z, state, y, split)
    assert sorted(t.train_idx.tolist()) == [0, 1, 2]
    assert t.left_out == {"val": 2, "test": 2}
    # a separate from the test split only has nothing to push away from
    with pytest.raises(StoreError, match="other"):
        build_teacher([Edit("separate", [0, 1], other=[110, 119])], Z, state, y, split)


def test_test_latents_change_no_target(latents):
    """The locked split is not an input: garbling its latents changes nothing (UMAP inverse)."""
    Z, y, split = latents
    state = fit_map(Z, "umap", seed=0, fitted=105)
    edits = [
        Edit("translate", list(range(20)), dx=2.0, dy=1.0),
        Edit("pull", [30, 31], target_class=2),
    ]
    a = build_teacher(edits, Z, state, y, split)
    Zg = Z.copy()
    Zg[105:] = 1e3
    state_g = fit_map(Z, "umap", seed=0, fitted=105)
    state_g.coords[105:] = -1e3
    b = build_teacher(edits, Zg, state_g, y, split)
    np.testing.assert_array_equal(a.targets, b.targets)


def test_pull_moves_the_selection_centre_rigidly_to_the_class_centre(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = np.flatnonzero(y[:90] == 0).tolist()
    t = build_teacher([Edit("pull", sel, target_class=1, alpha=1.0)], Z, state, y, split)
    members = np.flatnonzero(y[:90] == 1)
    np.testing.assert_allclose(t.targets.mean(0), Z[members].mean(0), atol=1e-4)
    # shape kept: the spread of the selection does not change (no collapse onto a point)
    assert centred_scale(t.targets) == pytest.approx(centred_scale(t.start), rel=1e-5)
    assert t.relabels == len(sel)
    assert t.touched_classes == [0]
    assert sorted(t.held_idx.tolist()) == sorted(members.tolist())  # the landmark is held
    half = build_teacher([Edit("pull", sel, target_class=1, alpha=0.5)], Z, state, y, split)
    np.testing.assert_allclose(
        half.targets.mean(0), 0.5 * (Z[sel].mean(0) + Z[members].mean(0)), atol=1e-4
    )


def test_compact_and_separate(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    a = np.flatnonzero((y == 0) & (split == "train")).tolist()
    b = np.flatnonzero((y == 1) & (split == "train")).tolist()
    t = build_teacher([Edit("compact", a, beta=0.25)], Z, state, y, split)
    assert centred_scale(t.targets) == pytest.approx(0.25 * centred_scale(t.start), rel=1e-4)
    np.testing.assert_allclose(t.targets.mean(0), t.start.mean(0), atol=1e-5)  # stays put
    t = build_teacher([Edit("separate", a, other=b, gamma=1.0)], Z, state, y, split)
    d_before = np.linalg.norm(Z[a].mean(0) - Z[b].mean(0))
    d_after = np.linalg.norm(t.targets.mean(0) - Z[b].mean(0))
    assert d_after == pytest.approx(2 * d_before, rel=1e-4)
    assert centred_scale(t.targets) == pytest.approx(centred_scale(t.start), rel=1e-5)
    # the other side is the landmark, held where it is: the separate is met by moving the
    # selection (until round 23 it was not held, unlike what the design said)
    assert sorted(t.held_idx.tolist()) == b
    t = build_teacher([Edit("separate", a, other=a[:3] + b, gamma=1.0)], Z, state, y, split)
    assert sorted(t.held_idx.tolist()) == b  # a point of both sides is edited, not held


def test_edits_compose_in_order(latents):
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = list(range(20))
    t = build_teacher(
        [Edit("translate", sel, dx=2.0, dy=0.0), Edit("compact", sel, beta=0.5)], Z, state, y, split
    )
    shift = np.array([2.0, 0.0]) @ np.linalg.pinv(state.linear)
    np.testing.assert_allclose(t.targets.mean(0), Z[sel].mean(0) + shift, atol=1e-4)
    assert centred_scale(t.targets) == pytest.approx(0.5 * centred_scale(t.start), rel=1e-4)


def _loss(t, Z, idx, lam=1.0, anchor=0.0, table=None):
    table = table or TeacherTable(t, 90, torch.device("cpu"))
    return float(teacher_loss(torch.as_tensor(Z[idx]), torch.as_tensor(idx), table, lam, anchor))


def _random_rotation(d, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q.astype(np.float32)


@pytest.mark.parametrize("kind", ["translate", "pull", "compact", "separate"])
def test_no_global_similarity_transform_changes_the_loss(latents, kind):
    """Shift, scale and (with the frame's rotation) rotate every latent: the loss is the same."""
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = np.flatnonzero(y[:90] == 0)
    other = np.flatnonzero(y[:90] == 2).tolist()
    edit = {
        "translate": Edit("translate", sel.tolist(), dx=3.0, dy=1.0),
        "pull": Edit("pull", sel.tolist(), target_class=1),
        "compact": Edit("compact", sel.tolist(), beta=0.3),
        "separate": Edit("separate", sel.tolist(), other=other),
    }[kind]
    t = build_teacher([edit], Z, state, y, split)
    idx = np.arange(90)
    before = _loss(t, Z, idx)
    assert before > 0.01
    R = _random_rotation(8, 1)
    moved = 3.7 * Z @ R + np.arange(8, dtype=np.float32)  # rotate, scale, shift everything
    table = TeacherTable(t, 90, torch.device("cpu"))
    table.observe(torch.as_tensor(idx), torch.as_tensor(moved[:90]))
    table.refresh_rotation()  # what an epoch of training does
    assert _loss(t, moved, idx, table=table) == pytest.approx(before, rel=1e-3)
    # translation and scale need no rotation estimate at all: exact at every step
    assert _loss(t, 3.7 * Z + 5.0, idx) == pytest.approx(before, rel=1e-4)
    # and only relative change meets it: the edited points at their targets, the rest put
    Zt = Z.copy()
    Zt[t.train_idx] = t.targets
    assert _loss(t, Zt, idx) < 1e-6


def test_the_old_absolute_loss_was_met_by_a_global_shift(latents):
    """Why the frame: under ‖z − t‖² alone, shifting everything toward a move lowers the loss."""
    Z, y, split = latents
    state = fit_map(Z, "pca")
    sel = np.flatnonzero(y[:90] == 0)
    t = build_teacher([Edit("translate", sel.tolist(), dx=3.0, dy=0)], Z, state, y, split)
    shift = (t.targets - t.start).mean(0)
    absolute = lambda Zx: float(np.mean(np.sum((Zx[t.train_idx] - t.targets) ** 2, 1)))  # noqa: E731
    assert absolute(Z + shift) < 0.01 * absolute(Z)
    assert _loss(t, Z + shift, np.arange(90)) == pytest.approx(_loss(t, Z, np.arange(90)))


def test_teacher_loss_is_scale_free(latents):
    Z, y, split = latents
    losses = []
    for k in (1.0, 10.0):
        Zk = Z * k
        t = build_teacher(
            [Edit("translate", list(range(30)), dx=1.0 * k, dy=0)], Zk, fit_map(Zk, "pca"), y, split
        )
        losses.append(_loss(t, Zk, np.arange(90)))
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
    assert rms_scale(Z[:90] * 10) == pytest.approx(10 * rms_scale(Z[:90]), rel=1e-5)


def test_the_frame_loss_and_its_closed_form_gradient_match_autograd():
    """The local frame's loss has a hand-written backward (one node instead of a dozen):
    its value and gradient are those of the formula through autograd."""
    from hill_dash.engine.teacher_loss import Term, teacher_term

    g = torch.Generator().manual_seed(0)
    ref = (torch.rand(24, generator=g) > 0.3).double()
    w = ref / ref.sum()
    root = torch.rand(24, 1, generator=g, dtype=torch.float64) * (1 - ref[:, None])
    targets = torch.randn(24, 5, generator=g, dtype=torch.float64) * root
    term = Term(w, root, targets)
    z = torch.randn(24, 5, generator=g, dtype=torch.float64, requires_grad=True)

    def by_autograd(z):
        zc = z - w @ z
        return ((zc * root / (w @ zc.pow(2).sum(1)).sqrt() - targets) ** 2).sum()

    assert teacher_term(z, term).item() == pytest.approx(by_autograd(z).item(), rel=1e-12)
    (ours,) = torch.autograd.grad(teacher_term(z, term), z)
    (theirs,) = torch.autograd.grad(by_autograd(z), z)
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: teacher_term(x, term), (z,))


def test_anchor_term_holds_the_rest_in_its_relative_layout(latents):
    Z, y, split = latents
    t = build_teacher([Edit("compact", [0, 1], beta=0)], Z, fit_map(Z, "pca"), y, split)
    idx = np.arange(90)
    Zt = Z.copy()
    Zt[t.train_idx] = t.targets  # the edit met, the rest as frozen
    assert _loss(t, Zt, idx, anchor=1.0) < 1e-6
    bent = Zt.copy()
    bent[t.reference_idx[:20]] += 2.0  # part of the rest moved relative to the rest
    assert _loss(t, bent, idx, anchor=1.0) > 0.05
    assert _loss(t, bent, idx, anchor=0.0) < _loss(t, bent, idx, anchor=1.0)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"kind": "warp", "indices": [1]}, "kind"),
        ({"kind": "pull", "indices": [1]}, "target_class"),
        ({"kind": "pull", "indices": [1], "target_class": "3"}, "target_class"),
        ({"kind": "pull", "indices": [1], "target_class": 99}, "target_class"),
        ({"kind": "pull", "indices": [1], "target_class": 1, "alpha": 2.0}, "alpha"),
        ({"kind": "compact", "indices": [1], "beta": -0.1}, "beta"),
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
        Edit.from_dict(bad, n_points=120, n_classes=3)


# -- the teacher's weight: per row like cross-entropy, one λ for every selection size ------


def _terms(t, batches, lam=1.0, ramp=None):
    from hill_dash.engine.teacher_loss import batch_terms

    table = TeacherTable(t, len(t.frozen), torch.device("cpu"))
    return list(batch_terms([torch.as_tensor(b) for b in batches], table, lam, 0.0, None, ramp))


def test_a_rows_weight_does_not_depend_on_the_batchs_other_edited_rows():
    from hill_dash.engine.teacher import Teacher
    from hill_dash.engine.teacher_loss import ROW_WEIGHT

    r = np.random.default_rng(1)
    Z = r.normal(size=(200, 4)).astype(np.float32)
    t = Teacher.from_targets(Z, np.arange(20), Z[:20] + 1.0)
    alone = _terms(t, [np.array([0] + list(range(100, 163)))])[0]  # 1 edited row of 64
    crowded = _terms(t, [np.array(list(range(10)) + list(range(100, 154)))])[0]  # 10 of 64
    assert float(alone.root[0, 0]) == pytest.approx(float(crowded.root[0, 0]))
    # λ·κ·g / |batch|, g = (0.1 · 200 / 20)^1 = 1 for 20 of 200 rows
    assert float(alone.root[0, 0]) ** 2 == pytest.approx(ROW_WEIGHT / 64)


def test_a_small_edit_has_the_expected_weight_per_batch_of_a_large_one():
    from hill_dash.engine.teacher import group_factor

    n = 3000
    for m in (20, 100, 300, 1000):
        # expected rows per batch × per-row factor: the same for every size (capped at 32)
        assert m / n * group_factor(m, n) == pytest.approx(0.1)
    assert group_factor(1, n) == 32.0 and group_factor(0, n) == 0.0


def test_build_teacher_weighs_each_edit_by_its_own_size(latents):
    from hill_dash.engine.teacher import KIND_WEIGHT, group_factor

    Z, y, split = latents
    edits = [
        Edit("compact", list(range(30)), beta=0.5),
        Edit("translate", [40, 41, 42], dx=1.0, dy=0.0),
    ]
    t = build_teacher(edits, Z, fit_map(Z, "pca"), y, split)
    w = dict(zip(t.train_idx.tolist(), t.row_weights().tolist(), strict=True))
    assert w[0] == pytest.approx(KIND_WEIGHT["compact"] * group_factor(30, 90))
    assert w[40] == pytest.approx(group_factor(3, 90))


def test_the_targets_are_ramped_over_the_epochs():
    from hill_dash.engine.teacher import Teacher
    from hill_dash.engine.teacher_loss import target_ramp

    assert target_ramp(5) == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert target_ramp(1) == [1.0] and target_ramp(3) == [1.0, 1.0, 1.0]
    r = np.random.default_rng(2)
    Z = r.normal(size=(100, 3)).astype(np.float32)
    t = Teacher.from_targets(Z, np.arange(10), Z[:10] + 3.0)
    batch = np.arange(50)
    full = _terms(t, [batch])[0]
    third = _terms(t, [batch, batch], ramp=[1 / 3, 1.0])
    # window = all batches here: the first window's fraction applies to both
    start = _terms(Teacher.from_targets(Z, np.arange(10), Z[:10]), [batch])[0]
    expected = start.targets + (full.targets - start.targets) / 3
    assert torch.allclose(third[0].targets, expected, atol=1e-5)
