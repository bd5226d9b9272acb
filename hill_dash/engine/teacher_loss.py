"""The teacher loss: pull the edited points toward their targets *relative to the rest*.

Absolute targets can be met by moving the whole latent layer: a global shift costs the
cross-entropy nothing (the head's bias absorbs it), lowers ‖z − t‖², and the aligned map
then shows no change at all. So the targets are expressed in the frame of the unedited
training points (the reference), and so is the student. For a batch with reference rows
R and edited rows E, with frozen edit-time latents z⁰ and targets t:

    μ⁰, σ⁰ = centre and RMS spread of z⁰ over R        (frozen, per batch)
    μ,  σ  = centre and RMS spread of z  over R        (current, with gradient)
    Q      = the rotation that best aligns the reference latents onto their z⁰ (Procrustes
             over every reference point of the previous epoch; the identity in the first)
    L      = (λ κ / |B|) · Σ_{i∈E} g_i ‖ (z_i − μ) Q / σ − (t_i(e) − μ⁰) / σ⁰ ‖²

Each edited row weighs λ·κ·g_i/|B| (a cross-entropy row weighs 1/|B|): g_i is its edit's
group factor (`teacher.group_factor`: (0.1·n_train/m)^1 for an edit of m rows, so every
edit has the same expected weight per batch whatever its size, and no row's weight
depends on how many other edited rows its batch happens to hold). t_i(e) is the target
of epoch e: the ramp `target_ramp` asks for 1/3, 2/3 and then all of the way.

No global translation or uniform scaling of the latent layer changes L (μ and σ absorb
them, at every step), nor a global rotation (Q absorbs it, from the next epoch on). Only
moving the edited points relative to the reference lowers it, and the gradient through μ
and σ pushes the reference the other way, which is relative movement too. L is
dimensionless, so λ means the same for every model. Q has no gradient; it is estimated
from all reference points because a rotation fitted on one batch's few dozen rows in d
dimensions fits noise: measured on MNIST-1D, it cut a move's realized share from 0.71 to
0.31 and the validation accuracy from 0.58 to 0.36.

Landmarks of an edit (the class a pull moves toward, the side a separate moves away
from) get the same term toward their own frozen latents, each row weighted by the
landmarks' own group factor, so an edit cannot be met by moving its landmark instead.
With λ_anchor > 0 every reference row gets it too (λ_anchor over the batch's reference
rows): the rest keeps its relative layout, not its absolute position.

Speed: the per-batch frozen quantities (μ⁰, σ⁰, the scaled and rotated targets, the
weights) are prepared `window` batches (one epoch) at a time without autograd, so a step
adds one loss and no host sync (on the CPU one compiled call, `teacher_kernel`); a batch
without edited (or anchored) rows adds nothing: the twin's step and an unedited batch are
bare steps. The latents Q is estimated from are collected per epoch, only when a rotation
can be estimated at all, and not in the last epoch (nothing would use its Q).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F

from hill_dash.engine.teacher import Teacher, group_factor

MIN_REFERENCE = 2  # fewer reference rows in a batch: its frame falls back to the global one
# κ: an edited (or held) row's teacher weight is λ·κ·g/|batch|, a cross-entropy row's
# 1/|batch|, with g the row's group factor (`teacher.group_factor`: an edit's rows share
# one expected weight per batch, whatever the edit's size). Calibrated so that a whole
# class of a ten-class data set is asked about as strongly as with the former per-batch
# mean over the edited rows (docs/benchmarks.md §0).
ROW_WEIGHT = 10.0


def target_ramp(epochs: int) -> list[float]:
    """Per epoch of a chunk, the fraction of the way to the targets it asks for.

    A far target is approached along the straight path over the first K − 2 epochs
    (1/3, 2/3, 1, 1, 1 for K = 5) instead of asked for at once: the early steps then do not
    tear the selection through the classes on its way, and the last epochs hold it there.
    """
    ramp_epochs = max(epochs - 2, 1)
    return [min(1.0, (e + 1) / ramp_epochs) for e in range(max(epochs, 1))]


class TeacherTable:
    """The teacher as tensors indexed by training-set position, for fast batch lookup."""

    def __init__(self, teacher: Teacher, n_train: int, device: torch.device):
        frozen = torch.as_tensor(teacher.frozen, dtype=torch.float32, device=device)
        if frozen.shape[0] != n_train:
            raise ValueError(f"teacher: {frozen.shape[0]} frozen latents for {n_train} rows")
        idx = torch.as_tensor(teacher.train_idx, dtype=torch.long, device=device)
        self.scale = teacher.scale
        self.frozen = frozen
        self.mask = torch.zeros(n_train, dtype=torch.bool, device=device)  # edited rows
        self.mask[idx] = True
        held = torch.as_tensor(teacher.held_idx, dtype=torch.long, device=device)
        self.held = torch.zeros(n_train, dtype=torch.bool, device=device)  # landmarks, held
        self.held[held] = True
        self.table = frozen.clone()  # the goal of every row: targets where edited
        if len(idx):
            self.table[idx] = torch.as_tensor(teacher.targets, device=device)
        self.reference = ~self.mask & ~self.held
        # each row's group factor (edited: its edit's, `Teacher.weights`; held: their own)
        self.weight = torch.zeros(n_train, dtype=torch.float32, device=device)
        if len(idx):
            self.weight[idx] = torch.as_tensor(teacher.row_weights(), device=device)
        self.weight[held] = group_factor(len(teacher.held_idx), n_train)
        ref = self.frozen[self.reference]
        self.centre = ref.mean(0) if len(ref) else frozen.mean(0)
        # the frame's rotation, re-estimated once per epoch from every reference latent the
        # epoch produced (`observe`, `refresh_rotation`); identity until then
        self.rotation = torch.eye(frozen.shape[1], device=device)
        self.rotated = False  # still the identity: nothing to apply
        self._reference_rows = self.reference.nonzero().squeeze(1)
        self._seen = torch.zeros_like(frozen)
        self._seen_mask = torch.zeros(n_train, dtype=torch.bool, device=device)

    @property
    def rotates(self) -> bool:
        """Whether a rotation can be estimated at all: more reference rows than dimensions
        (else the frame stays unrotated and nothing needs observing)."""
        return len(self._reference_rows) > self.frozen.shape[1]

    @functools.cached_property
    def _centred_reference(self) -> torch.Tensor:
        """z⁰ of the reference rows (ascending), centred: the rotation's fixed side."""
        frozen = self.frozen.index_select(0, self._reference_rows)
        return frozen - frozen.mean(0)

    @torch.no_grad()
    def observe(self, idx: torch.Tensor, z: torch.Tensor) -> None:
        """Keep the latents the steps computed (no gradient), for the next rotation estimate.

        Called once per epoch with the epoch's rows, not per step: one indexed write.
        """
        self._seen[idx] = z
        self._seen_mask[idx] = True

    @torch.no_grad()
    def refresh_rotation(self) -> None:
        """Q = the orthogonal Procrustes rotation of the reference latents seen onto z⁰.

        Fitted on thousands of points, not on a batch: a batch's few dozen reference rows
        in d dimensions would let the rotation fit noise and fight the teacher.
        """
        rows = self._reference_rows
        if bool(self._seen_mask[rows].all()):  # what an epoch does: their centred z⁰ kept
            frozen = self._centred_reference
        else:  # part of an epoch: the reference rows seen so far
            rows = rows[self._seen_mask[rows]]
            frozen = self.frozen.index_select(0, rows)
            frozen = frozen - frozen.mean(0)
        if len(rows) <= self.frozen.shape[1]:
            return
        seen = self._seen.index_select(0, rows)
        u, _, vh = torch.linalg.svd((seen - seen.mean(0)).T @ frozen)
        self.rotation = u @ vh
        self.rotated = True


class Term(NamedTuple):
    """One batch's share of the teacher, prepared without autograd (a tuple: a chunk makes
    one a step)."""

    ref_w: torch.Tensor | None  # (B,) 1/n_R on reference rows; None: the global frame
    root: torch.Tensor  # (B, 1) √weight of each row (0 where it has none); global: ÷ σ⁰
    targets: torch.Tensor  # (B, d) √w · (goal − μ⁰) / σ⁰, rotated by Qᵀ (local frame)


def batch_terms(
    batches: list[torch.Tensor],
    table: TeacherTable,
    lam: float,
    anchor: float = 0.0,
    window: int | None = None,
    ramp: list[float] | None = None,
) -> Iterator[Term | None]:
    """The teacher's share of each batch (None where it has none), `window` batches at a time.

    ``ramp``: per window (one epoch of batches in `train_chunk`), the fraction of the way
    from the frozen latent to the target that window asks for (`target_ramp`); None: all.
    """
    window = window or max(len(batches), 1)
    dev, dtype = table.frozen.device, table.frozen.dtype
    for start in range(0, len(batches), window):
        group = batches[start : start + window]
        sizes = [len(b) for b in group]
        flat = torch.cat(group).to(dev)
        bid = torch.repeat_interleave(
            torch.arange(len(group), device=dev), torch.tensor(sizes, device=dev)
        )

        edited = table.mask[flat].to(dtype)
        held = table.held[flat].to(dtype)
        ref = table.reference[flat].to(dtype)
        n_r = _per_batch(len(group), bid, ref)
        z0 = table.frozen[flat]
        mu0 = _per_batch(len(group), bid, ref[:, None] * z0) / n_r.clamp(min=1.0)[:, None]
        dev0 = z0 - mu0[bid]
        sigma0 = (_per_batch(len(group), bid, ref * dev0.pow(2).sum(1)) / n_r.clamp(min=1.0)).sqrt()
        local = n_r >= MIN_REFERENCE
        # a batch of (almost) only edited rows: the frame of all reference points, frozen
        mu0 = torch.where(local[:, None], mu0, table.centre)
        sigma0 = torch.where(local & (sigma0 > 0), sigma0, torch.tensor(table.scale, dtype=dtype))
        # per row, like a cross-entropy row: λ·κ / |batch| for every edited or held row, so
        # a row weighs the same whatever the selection's size or the batch's composition
        size = torch.tensor(sizes, dtype=dtype, device=dev)[bid]
        w = table.weight[flat] * (edited + held) * (lam * ROW_WEIGHT) / size
        if anchor > 0:
            w = w + ref * anchor / n_r.clamp(min=1.0)[bid]
        root = w.sqrt().unsqueeze(1)
        goal = table.table[flat]
        if ramp is not None:  # this window's epoch asks for part of the way (the schedule)
            frac = ramp[min(start // window, len(ramp) - 1)]
            goal = z0 + frac * (goal - z0)
        scale = sigma0[bid, None]
        targets = root * (goal - mu0[bid]) / scale
        # per row, its batch's frame: local (‖(z − μ) Q / σ − τ‖ = ‖(z − μ) / σ − τ Qᵀ‖: the
        # window's targets rotated once here, Q changing once per epoch, between windows)
        # or global (absolute, σ⁰ of every reference point: ‖r z / σ⁰ − r g / σ⁰‖, not
        # rotated); chosen for the whole window at once, so a step only slices
        rotated = targets @ table.rotation.T if table.rotated else targets
        in_frame, global_root = local[bid, None], root / scale
        root = torch.where(in_frame, root, global_root)
        targets = torch.where(in_frame, rotated, targets + global_root * mu0[bid])
        ref_w = ref / n_r.clamp(min=1.0)[bid]
        used = _per_batch(len(group), bid, w).gt(0).tolist()
        is_local = local.tolist()
        parts = zip(root.split(sizes), targets.split(sizes), ref_w.split(sizes), strict=True)
        for b, (r, t, rw) in enumerate(parts):
            yield Term(rw if is_local[b] else None, r, t) if used[b] else None


def _per_batch(n: int, bid: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Sums of `values` rows by batch (`bid` names each row's batch)."""
    out = torch.zeros((n, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add_(0, bid, values)


def teacher_term(z: torch.Tensor, term: Term | None) -> torch.Tensor | None:
    """The teacher loss of one batch from its prepared term; None when it has none.

    The frame's rotation Q is already in the term's targets (`batch_terms`).
    """
    if term is None:
        return None
    if term.ref_w is None:  # no reference rows to make a frame of: absolute, global scale
        return F.mse_loss(z * term.root, term.targets, reduction="sum")
    return _FrameLoss.apply(z, term.ref_w, term.root, term.targets)


class _FrameLoss(torch.autograd.Function):
    """Σ_i ‖ r_i (z_i − μ) / σ − τ_i ‖² with μ = wᵀz, σ² = Σ_j w_j ‖z_j − μ‖² (Σ w = 1 over
    the batch's reference rows), and its gradient in closed form.

    The same loss through autograd records a dozen small nodes per step, and on a 1 ms
    step each one shows (benchmarks §1). With e_i = r_i (z_i − μ)/σ − τ_i, G_i = e_i r_i/σ,
    c = Σ_i r_i e_i·(z_i − μ) / σ³ and m = Σ_j w_j (z_j − μ):

        ∂L/∂z_k = 2 [ G_k − w_k Σ_i G_i − c w_k (z_k − μ − m) ]

    (`tests/test_teacher.py` checks it against autograd with `gradcheck`).
    """

    @staticmethod
    def forward(ctx, z, w, root, targets):
        zc = z - w @ z
        s = (w @ zc.square().sum(1)).rsqrt()
        a = root * s
        e = torch.addcmul(-targets, zc, a)
        ctx.save_for_backward(w, root, zc, e, a, s)
        return e.square().sum()

    @staticmethod
    def backward(ctx, grad):
        w, root, zc, e, a, s = ctx.saved_tensors
        g = e * a
        c = (root * e * zc).sum() * s.pow(3)
        wc = w.unsqueeze(1)
        dz = g - wc * g.sum(0) - (c * wc) * (zc - w @ zc)
        return dz * (2 * grad), None, None, None


def teacher_loss(
    z: torch.Tensor, batch_idx: torch.Tensor, table: TeacherTable, lam: float, anchor: float = 0.0
) -> torch.Tensor:  # the full targets (no ramp)
    """The teacher term of one batch of latents `z` at training positions `batch_idx`."""
    loss = teacher_term(z, next(batch_terms([batch_idx], table, lam, anchor)))
    return z.new_zeros(()) if loss is None else loss
