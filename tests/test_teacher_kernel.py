"""The compiled teacher (CPU) computes the loss and gradient of the torch one, and a
chunk trained with it learns what a chunk trained through autograd learns."""

import copy

import numpy as np
import pytest
import torch

from hill_dash.engine import teacher_kernel
from hill_dash.engine.models import ModelConfig, build_model
from hill_dash.engine.projection import fit_map
from hill_dash.engine.teacher import Edit, build_teacher
from hill_dash.engine.teacher_loss import (
    TeacherTable,
    Term,
    batch_terms,
    target_ramp,
    teacher_term,
)
from hill_dash.engine.training import (
    ChunkConfig,
    batch_order,
    infer,
    make_optimizer,
    train_chunk,
)


def _term(local: bool, dtype=torch.float64, n: int = 24, d: int = 5) -> Term:
    g = torch.Generator().manual_seed(1)
    ref = (torch.rand(n, generator=g) > 0.3).to(dtype)
    root = torch.rand(n, 1, generator=g, dtype=dtype) * (1 - ref[:, None])
    targets = torch.randn(n, d, generator=g, dtype=dtype) * root
    return Term(ref / ref.sum() if local else None, root, targets)


@pytest.mark.parametrize("local", [True, False], ids=["local frame", "global frame"])
def test_the_kernel_gives_the_torch_loss_and_gradient(local):
    term = _term(local)
    z = torch.randn(24, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z.requires_grad_()
    value, grad = teacher_kernel.teacher_grad(z, term)
    (expected,) = torch.autograd.grad(teacher_term(z, term), z)
    assert value == pytest.approx(teacher_term(z, term).item(), rel=1e-12)
    assert grad.dtype == z.dtype and grad.shape == z.shape
    assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-12)


def test_float32_latents_get_a_float32_gradient_close_to_torchs():
    term = _term(True, torch.float32, n=64, d=32)
    z = torch.randn(64, 32, generator=torch.Generator().manual_seed(3), requires_grad=True)
    value, grad = teacher_kernel.teacher_grad(z, term)
    (expected,) = torch.autograd.grad(teacher_term(z, term), z)
    assert grad.dtype == torch.float32
    assert value == pytest.approx(teacher_term(z, term).item(), rel=1e-5)
    assert torch.allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_the_gradient_reaches_the_weights_as_a_second_root_of_backward():
    """backward((loss, z), (None, ∂t/∂z)) gives the weights ∂(loss + t)/∂θ."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 5).double()
    x = torch.randn(24, 6, dtype=torch.float64)
    term = _term(True)

    z = layer(x)
    (z.sum() + teacher_term(z, term)).backward()
    expected = layer.weight.grad.clone()
    layer.zero_grad()
    z = layer(x)
    _, grad = teacher_kernel.teacher_grad(z, term)
    torch.autograd.backward((z.sum(), z), (None, grad))
    assert torch.allclose(layer.weight.grad, expected, rtol=1e-10, atol=1e-12)


def test_a_chunk_with_the_kernel_learns_what_one_through_autograd_learns(monkeypatch):
    """The same guided chunk, once with the kernel and once with the torch operations:
    not bit-equal (float32 sums in another order, amplified by Adam), but the same teacher
    term and cross-entropy, and the moved class lands in the same place."""
    from hill_dash.engine import training
    from hill_dash.engine.data import load_builtin

    data = load_builtin("digits", seed=0)
    model0 = build_model(ModelConfig("mlp", data.sample_shape, data.n_classes), seed=0)
    _, Z = infer(model0, data.all_X())
    state = fit_map(Z, "pca")
    sel = np.flatnonzero(data.y_train == 3)
    dx = float(np.ptp(state.coords[:, 0])) / 3
    teacher = build_teacher(
        [Edit("translate", sel.tolist(), dx=dx, dy=0.0)], Z, state, data.all_y(), data.split_array()
    )
    cfg = ChunkConfig(epochs=3, lam=1.0, seed=3)

    def chunk():
        model = copy.deepcopy(model0)
        stats = train_chunk(
            model, make_optimizer(model, 1e-3), data.X_train, data.y_train, cfg, teacher
        )
        return stats, infer(model, data.all_X())[1]

    with_kernel, Z_kernel = chunk()
    monkeypatch.setattr(training, "_cpu_kernel", lambda: None)
    with_torch, Z_torch = chunk()
    assert with_kernel["teacher"] == pytest.approx(with_torch["teacher"], rel=0.05)
    assert with_kernel["ce"] == pytest.approx(with_torch["ce"], rel=0.05)
    moved = [np.linalg.norm(z[sel].mean(0) - Z[sel].mean(0)) for z in (Z_kernel, Z_torch)]
    assert moved[0] == pytest.approx(moved[1], rel=0.05)
    assert moved[0] > 0.2 * np.linalg.norm(teacher.targets.mean(0) - Z[sel].mean(0))


def test_warm_up_compiles_every_kernel():
    teacher_kernel.warm_up()
    kernels = (teacher_kernel._local_frame, teacher_kernel._global_frame, teacher_kernel._window)
    assert all(kernel.signatures for kernel in kernels)


def _table(kind: str) -> TeacherTable:
    """A digits teacher: a move of class 3 (local frames), pulls on 10 % of the rows to
    every class (global frames: the landmarks leave no reference), or a 20-point move."""
    from hill_dash.engine.data import load_builtin

    data = load_builtin("digits", seed=0)
    model = build_model(ModelConfig("mlp", data.sample_shape, data.n_classes), seed=0)
    _, Z = infer(model, data.all_X())
    state = fit_map(Z, "pca")
    threes = np.flatnonzero(data.y_train == 3).tolist()
    pick = np.random.default_rng(0).choice(len(data.y_train), 120, replace=False)
    edits = {
        "move": [Edit("translate", threes, dx=2.0, dy=0.0)],
        "small move": [Edit("translate", threes[:20], dx=2.0, dy=-1.0)],
        "pulls": [
            Edit("pull", sorted(int(i) for i in part), target_class=c)
            for c, part in enumerate(np.array_split(pick, 10))
        ],
    }[kind]
    teacher = build_teacher(edits, Z, state, data.all_y(), data.split_array())
    return TeacherTable(teacher, len(data.y_train), torch.device("cpu"))


@pytest.mark.parametrize("kind", ["move", "small move", "pulls"])
@pytest.mark.parametrize("anchor", [0.0, 0.5])
def test_the_compiled_batch_terms_are_the_torch_ones(kind, anchor):
    """Per batch the same frame (local, global or none), weights, roots and targets, with
    the ramp and, after an epoch, the frame's rotation."""
    table = _table(kind)
    n = len(table.frozen)
    batches = batch_order(n, 64, 2, seed=3)
    per_epoch = -(-n // 64)
    ramp = target_ramp(5)[:2]

    def both():
        return zip(
            batch_terms(batches[:per_epoch], table, 1.0, anchor, per_epoch, ramp),
            teacher_kernel.batch_terms(batches[:per_epoch], table, 1.0, anchor, per_epoch, ramp),
            strict=True,
        )

    def check():
        frames = set()
        for expected, got in both():
            assert (expected is None) == (got is None)
            if expected is None:
                continue
            assert (expected.ref_w is None) == (got.ref_w is None)
            frames.add("global" if got.ref_w is None else "local")
            if got.ref_w is not None:
                np.testing.assert_allclose(got.ref_w, expected.ref_w.numpy(), rtol=1e-6)
            np.testing.assert_allclose(got.root, expected.root.numpy()[:, 0], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(got.targets, expected.targets.numpy(), rtol=1e-4, atol=1e-5)
        return frames

    frames = check()
    assert frames == {"global"} if kind == "pulls" else "local" in frames
    table.observe(torch.cat(batches[:per_epoch]), torch.randn(n, table.frozen.shape[1]))
    table.refresh_rotation()
    assert table.rotated == table.rotates
    check()
