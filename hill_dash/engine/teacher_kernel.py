"""The teacher's loss and its gradient on z, compiled for the CPU (one call per step).

`teacher_loss.teacher_term` writes the frame loss as torch operations: about twenty small
ones per step, forward and backward, each ~5 µs inside a real training step (its caches
taken by the model), which cost a guided step on the digits MLP ~25 % of a bare step
(benchmarks §1). Here the same loss and its closed-form gradient are one numba function
over the batch's latents; `train_chunk` hands the gradient to autograd as a second root
of the backward pass, `backward((loss, z), (None, ∂teacher/∂z))`, which adds it where the
cross-entropy's gradient reaches z: no autograd node, no extra operation.

The batch terms these calls read are prepared here too (`batch_terms`): one compiled
pass per window over its rows instead of ~25 torch operations on them, whose temporaries
cost a guided step ~75 µs; every batch's term is cut from its window at the window's
start, and a step takes the next one.

The math is `teacher_loss`'s: `batch_terms` there, `_FrameLoss` (local frame) and
``Σ‖r z − τ‖²`` (global frame); `tests/test_teacher_kernel.py` checks each against it. On a
GPU the torch operations stay (`train_chunk` picks). Sums accumulate in float64; the
gradient has z's dtype.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np
import torch

from hill_dash.engine.teacher_loss import MIN_REFERENCE, ROW_WEIGHT, TeacherTable, Term


class KernelTerm(NamedTuple):
    """One batch's share of the teacher as the compiled calls read it: `Term`'s parts as
    arrays (root flat), and the buffer its gradient is written into, as an array and as the
    tensor that shares its memory. Inside a training step every Python-level operation
    costs ~5× what it costs alone (the model's kernels take the caches), so whatever can be
    made once per window is made there, and a step only calls the kernel."""

    ref_w: np.ndarray | None  # None: the global frame
    root: np.ndarray  # (B,)
    targets: np.ndarray  # (B, d)
    dz: np.ndarray  # (B, d), written by each call: a step's gradient lives until its backward
    grad: torch.Tensor  # dz as a tensor


def teacher_grad(z: torch.Tensor, term: Term | KernelTerm) -> tuple[float, torch.Tensor]:
    """The batch's teacher loss and its gradient ∂loss/∂z (z's shape and dtype).

    The gradient is the term's own buffer (`KernelTerm`), rewritten by the next call with
    the same term; a `Term` (tensors or arrays, from tests and `warm_up`) gets a new one."""
    zn = z.detach().numpy()
    if not isinstance(term, KernelTerm) or term.dz.dtype != zn.dtype:
        term = kernel_term(term, zn.dtype)
    if term.ref_w is None:
        value = _global_frame(zn, term.root, term.targets, term.dz)
    else:
        value = _local_frame(zn, term.ref_w, term.root, term.targets, term.dz)
    return value, term.grad


def kernel_term(term: Term | KernelTerm, dtype) -> KernelTerm:
    """A `KernelTerm` with a gradient buffer of `dtype`."""
    targets = _array(term.targets)
    dz = np.empty(targets.shape, dtype=dtype)
    ref_w = None if term.ref_w is None else _array(term.ref_w)
    return KernelTerm(ref_w, _array(term.root).ravel(), targets, dz, torch.from_numpy(dz))


def batch_terms(
    batches: list[torch.Tensor],
    table: TeacherTable,
    lam: float,
    anchor: float = 0.0,
    window: int | None = None,
    ramp: list[float] | None = None,
) -> Iterator[KernelTerm | None]:
    """`teacher_loss.batch_terms` for a CPU table, as arrays, each window in one compiled
    pass over its rows (the torch version's ~25 operations on the window's rows took
    ~35 µs a step alone and ~75 µs inside a chunk); the window's terms are views cut at
    its start (cutting one a step took ~10 µs inside a chunk)."""
    window = window or max(len(batches), 1)
    arrays = (
        table.frozen.numpy(),
        table.table.numpy(),
        table.weight.numpy(),
        (table.mask.to(table.frozen.dtype) + table.held.to(table.frozen.dtype)).numpy(),
        table.reference.numpy(),
        table.centre.numpy(),
    )
    for start in range(0, len(batches), window):
        group = batches[start : start + window]
        ends = np.cumsum([len(b) for b in group])
        flat = torch.cat(group).numpy()
        frac = 1.0 if ramp is None else ramp[min(start // window, len(ramp) - 1)]
        root = np.empty(len(flat), dtype=arrays[0].dtype)
        targets = np.empty((len(flat), arrays[0].shape[1]), dtype=arrays[0].dtype)
        ref_w = np.empty_like(root)
        frames = np.empty(len(group), dtype=np.int8)
        asked = np.empty(len(flat), dtype=np.int64)  # weighted rows of local frames
        n_asked = _window(flat, ends, *arrays, float(table.scale), float(lam * ROW_WEIGHT),
                          float(anchor), float(frac), root, targets, ref_w, frames,
                          asked)  # fmt: skip
        if table.rotated and n_asked:  # ‖(z − μ) Q / σ − τ‖ = ‖(z − μ) / σ − τ Qᵀ‖
            rows = asked[:n_asked]
            targets[rows] = targets[rows] @ table.rotation.numpy().T
        # every batch's term at once (views), so that a step only takes the next one
        bounds = ends.tolist()
        dz = np.empty_like(targets)  # the gradients' buffers, as arrays and as tensors
        parts = (root, targets, dz, torch.from_numpy(dz))
        yield from [
            None
            if frame == _UNUSED
            else KernelTerm(ref_w[a:b] if frame == _LOCAL else None, *(p[a:b] for p in parts))
            for a, b, frame in zip([0, *bounds[:-1]], bounds, frames.tolist(), strict=True)
        ]


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for float32, e.g. in a job launcher
    before it forks, so that no chunk pays for it."""
    z = torch.zeros(2, 2, requires_grad=True)
    w, root = torch.tensor([1.0, 0.0]), torch.ones(2, 1)
    teacher_grad(z, Term(w, root, torch.zeros(2, 2)))
    teacher_grad(z, Term(None, root, torch.zeros(2, 2)))
    f32 = np.zeros((2, 2), np.float32)
    _window(np.arange(2), np.array([2]), f32, f32, f32[0], f32[0], np.ones(2, bool), f32[0],
            1.0, 1.0, 0.0, 1.0, f32[0].copy(), f32.copy(), f32[0].copy(),
            np.empty(1, np.int8), np.empty(2, np.int64))  # fmt: skip


def _array(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else x.numpy()


_UNUSED, _LOCAL, _GLOBAL = 0, 1, 2  # a batch's frame, as `_window` reports it


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _window(flat, ends, frozen, goals, weight, kept, reference, centre, scale, lam_k, anchor,
            frac, root, targets, ref_w, frames, asked):  # pragma: no cover - compiled  # fmt: skip
    """`teacher_loss.batch_terms`' per-row arithmetic for one window of batches (rows
    flat[ends[b-1]:ends[b]] form batch b), written into root, targets, ref_w (the local
    frame's targets unrotated) and each batch's frame into frames. Returns how many rows
    it wrote into asked: the weighted rows of local frames, the rows a rotation moves."""
    d = frozen.shape[1]
    mu = np.empty(d)
    n_asked = 0
    begin = 0
    for b in range(len(ends)):
        end = ends[b]
        n_r = 0
        mu[:] = 0.0
        for j in range(begin, end):
            i = flat[j]
            if reference[i]:
                n_r += 1
                for k in range(d):
                    mu[k] += frozen[i, k]
        per_ref = 1.0 / max(n_r, 1)
        mu *= per_ref
        var = 0.0
        for j in range(begin, end):
            i = flat[j]
            if reference[i]:
                for k in range(d):
                    t = frozen[i, k] - mu[k]
                    var += t * t
        sigma = np.sqrt(var * per_ref)
        local = n_r >= MIN_REFERENCE
        if not local:  # too few reference rows: the frame of all reference points
            mu[:] = centre
        if not (local and sigma > 0):
            sigma = scale
        used = 0.0
        for j in range(begin, end):
            i = flat[j]
            w = weight[i] * kept[i] * lam_k / (end - begin)
            if anchor > 0 and reference[i]:
                w += anchor * per_ref
            used += w
            r = np.sqrt(w)
            a = r if local else r / sigma  # the global frame: ‖r z / σ⁰ − r g / σ⁰‖
            root[j] = a
            if local and w > 0:
                asked[n_asked] = j
                n_asked += 1
            ref_w[j] = per_ref if reference[i] else 0.0
            for k in range(d):
                g = frozen[i, k] + frac * (goals[i, k] - frozen[i, k])
                targets[j, k] = r * (g - mu[k]) / sigma + (0.0 if local else a * mu[k])
        frames[b] = _UNUSED if used <= 0 else (_LOCAL if local else _GLOBAL)
        begin = end
    return n_asked


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _global_frame(z, root, targets, dz):  # pragma: no cover - compiled
    """Σ_i ‖r_i z_i − τ_i‖²; dz_i = 2 r_i (r_i z_i − τ_i)."""
    n, d = z.shape
    loss = 0.0
    for i in range(n):
        r = root[i]
        for k in range(d):
            e = r * z[i, k] - targets[i, k]
            loss += e * e
            dz[i, k] = 2.0 * r * e
    return loss


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _local_frame(z, w, root, targets, dz):  # pragma: no cover - compiled
    """Σ_i ‖r_i (z_i − μ)/σ − τ_i‖², μ = wᵀz, σ² = Σ_j w_j ‖z_j − μ‖², and its gradient:
    with e_i = r_i (z_i − μ)/σ − τ_i, G_i = e_i r_i/σ, c = Σ_i r_i e_i·(z_i − μ)/σ³ and
    m = Σ_j w_j (z_j − μ): ∂L/∂z_k = 2 [G_k − w_k Σ_i G_i − c w_k (z_k − μ − m)]."""
    n, d = z.shape
    mu = np.zeros(d)
    for i in range(n):
        if w[i] != 0.0:
            for k in range(d):
                mu[k] += w[i] * z[i, k]
    var = 0.0
    for i in range(n):
        if w[i] != 0.0:
            s2 = 0.0
            for k in range(d):
                t = z[i, k] - mu[k]
                s2 += t * t
            var += w[i] * s2
    s = 1.0 / np.sqrt(var)
    loss, c = 0.0, 0.0
    g_sum, m = np.zeros(d), np.zeros(d)
    for i in range(n):
        a = root[i] * s
        for k in range(d):
            zc = z[i, k] - mu[k]
            e = zc * a - targets[i, k]
            loss += e * e
            c += root[i] * e * zc
            dz[i, k] = 2.0 * e * a
            g_sum[k] += e * a
            m[k] += w[i] * zc
    c *= s * s * s
    for i in range(n):
        if w[i] != 0.0:
            for k in range(d):
                dz[i, k] -= 2.0 * w[i] * (g_sum[k] + c * (z[i, k] - mu[k] - m[k]))
    return loss
