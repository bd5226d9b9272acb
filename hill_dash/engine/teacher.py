"""Edits on the map become frozen latent targets: the teacher of the next chunk.

A person's edits are made on the map of checkpoint k and frozen in the latent
coordinates of checkpoint k (DESIGN §2). `build_teacher` turns the edit list
into one target per edited training point; `teacher_loss` is the scale-free
distillation term `λ · mean ‖f(x_i) − t_i‖² / s²` over the edited points of a
batch. Validation and test points never receive targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import MapState, inverse_delta

EDIT_KINDS = ("translate", "pull", "compact", "separate")


@dataclass
class Edit:
    """One gesture on the map. `indices` are map point indices (train, val, test order)."""

    kind: str  # "translate" | "pull" | "compact" | "separate"
    indices: list[int]
    dx: float = 0.0  # translate: 2-D displacement on the map
    dy: float = 0.0
    target_class: int = -1  # pull: the class whose mean latent the points move toward
    alpha: float = 1.0  # pull: fraction of the way to the class mean
    beta: float = 0.5  # compact: remaining spread around the selection mean
    other: list[int] = field(default_factory=list)  # separate: the selection to push away from
    gamma: float = 1.0  # separate: push distance, in units of the centroid distance

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object, n_points: int | None = None, where: str = "edit") -> Edit:
        """Validate untrusted JSON; errors name the field and what was expected."""
        if not isinstance(d, dict):
            raise StoreError(f"{where}: expected an object, got {type(d).__name__}")
        kind = d.get("kind")
        if kind not in EDIT_KINDS:
            raise StoreError(f"{where}.kind: expected one of {EDIT_KINDS}, got {kind!r}")
        out = {"kind": kind}
        for name in ("indices", "other"):
            out[name] = _index_list(d.get(name, []), n_points, f"{where}.{name}")
        if not out["indices"]:
            raise StoreError(f"{where}.indices: expected at least one point index")
        for name in ("dx", "dy", "alpha", "beta", "gamma"):
            if name in d:
                out[name] = _finite(d[name], f"{where}.{name}")
        if "target_class" in d:
            tc = d["target_class"]
            if not isinstance(tc, int) or isinstance(tc, bool):
                raise StoreError(f"{where}.target_class: expected an integer, got {tc!r}")
            out["target_class"] = tc
        if kind == "pull" and out.get("target_class", -1) < 0:
            raise StoreError(f"{where}.target_class: a pull needs a class index >= 0")
        if kind == "separate" and not out["other"]:
            raise StoreError(f"{where}.other: a separate needs a second selection")
        return cls(**out)


def _index_list(value: object, n_points: int | None, where: str) -> list[int]:
    if not isinstance(value, list) or len(value) > 10_000_000:
        raise StoreError(f"{where}: expected a list of point indices")
    out = []
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise StoreError(f"{where}: expected non-negative integers, got {v!r}")
        if n_points is not None and v >= n_points:
            raise StoreError(f"{where}: index {v} out of range (the map has {n_points} points)")
        out.append(v)
    return out


def _finite(value: object, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
        raise StoreError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


@dataclass
class Teacher:
    """Frozen latent targets for the edited training points of one chunk."""

    train_idx: np.ndarray  # (m,) indices into the training set
    targets: np.ndarray  # (m, d) float32 latent targets
    start: np.ndarray  # (m, d) the points' latents when the edits were frozen
    scale: float  # s: RMS norm of the training latents at edit time
    anchor_idx: np.ndarray  # (a,) unedited training points held at their latent (may be empty)
    anchor_targets: np.ndarray  # (a, d)
    left_out: dict[str, int]  # selected points that got no target, by split
    relabels: int  # training points pulled to a class that is not their label
    touched_classes: list[int]  # labels of the edited training points

    @property
    def empty(self) -> bool:
        return len(self.train_idx) == 0


def rms_scale(Z_train: np.ndarray) -> float:
    """s = sqrt(mean ‖z_i‖²); keeps λ meaning the same for every model."""
    return float(np.sqrt(np.mean(np.sum(Z_train.astype(np.float64) ** 2, axis=1))) or 1.0)


def class_means(Z_train: np.ndarray, y_train: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, d) mean training latent per class (zeros for an absent class)."""
    means = np.zeros((n_classes, Z_train.shape[1]), dtype=np.float64)
    for c in range(n_classes):
        members = Z_train[y_train == c]
        if len(members):
            means[c] = members.mean(axis=0)
    return means


def build_teacher(
    edits: list[Edit],
    Z: np.ndarray,
    map_state: MapState,
    y: np.ndarray,
    split: np.ndarray,
    anchor: bool = False,
) -> Teacher:
    """Apply the edits in order to the checkpoint's latents `Z` (all map points).

    `split` names each map point's split; training points come first in map order.

    Later edits act on the targets left by earlier ones, so "move, then compact"
    composes as a person expects.
    """
    Z = Z.astype(np.float64)
    n_train = int(np.sum(split == "train"))
    n_classes = int(y.max()) + 1
    means = class_means(Z[:n_train], y[:n_train], n_classes)
    targets = Z[:n_train].copy()
    edited = np.zeros(n_train, dtype=bool)
    left = {"val": 0, "test": 0}
    relabels = np.zeros(n_train, dtype=bool)
    for edit in edits:
        sel = np.unique(np.asarray(edit.indices, dtype=np.int64))
        for name in left:
            left[name] += int(np.sum(split[sel] == name))
        tr = sel[sel < n_train]
        if len(tr) == 0:
            continue
        if edit.kind == "translate":
            centroid = map_state.coords[sel].mean(axis=0)
            shift = inverse_delta(np.array([edit.dx, edit.dy]), map_state, Z, centroid)
            targets[tr] += shift
        elif edit.kind == "pull":
            if edit.target_class >= n_classes:
                raise StoreError(f"edit.target_class: {edit.target_class} is not a class")
            targets[tr] += edit.alpha * (means[edit.target_class] - targets[tr])
            relabels[tr[y[tr] != edit.target_class]] = True
        elif edit.kind == "compact":
            mu = targets[tr].mean(axis=0)
            targets[tr] = mu + edit.beta * (targets[tr] - mu)
        elif edit.kind == "separate":
            other = np.asarray(edit.other, dtype=np.int64)
            away = targets[tr].mean(axis=0) - _mean_latent(other, targets, Z, n_train)
            targets[tr] += edit.gamma * away
        edited[tr] = True
    idx = np.flatnonzero(edited)
    rest = np.flatnonzero(~edited) if anchor else np.zeros(0, dtype=np.int64)
    return Teacher(
        train_idx=idx,
        targets=targets[idx].astype(np.float32),
        start=Z[idx].astype(np.float32),
        scale=rms_scale(Z[:n_train]),
        anchor_idx=rest,
        anchor_targets=Z[rest].astype(np.float32),
        left_out=left,
        relabels=int(relabels.sum()),
        touched_classes=sorted({int(c) for c in y[idx]}),
    )


def _mean_latent(sel: np.ndarray, targets: np.ndarray, Z: np.ndarray, n_train: int) -> np.ndarray:
    """Mean latent of a selection, using current targets for its training points."""
    tr, rest = sel[sel < n_train], sel[sel >= n_train]
    pts = np.concatenate([targets[tr], Z[rest]]) if len(rest) else targets[tr]
    return pts.mean(axis=0)


class TeacherTable:
    """The teacher as tensors indexed by training-set position, for fast batch lookup."""

    def __init__(self, teacher: Teacher, n_train: int, device: torch.device):
        d = teacher.targets.shape[1] if teacher.targets.ndim == 2 else 0
        self.scale = teacher.scale
        self.mask = torch.zeros(n_train, dtype=torch.bool, device=device)
        self.table = torch.zeros((n_train, max(d, 1)), device=device)
        self.mask[torch.as_tensor(teacher.train_idx, device=device)] = True
        if len(teacher.train_idx):
            self.table[torch.as_tensor(teacher.train_idx, device=device)] = torch.as_tensor(
                teacher.targets, device=device
            )
        self.anchor_mask = torch.zeros(n_train, dtype=torch.bool, device=device)
        if len(teacher.anchor_idx):
            aidx = torch.as_tensor(teacher.anchor_idx, device=device)
            self.anchor_mask[aidx] = True
            self.table[aidx] = torch.as_tensor(teacher.anchor_targets, device=device)


Term = tuple[torch.Tensor, torch.Tensor] | None  # (√w (B, 1), √w ⊙ targets (B, d)) of a batch


def batch_terms(
    batches: list[torch.Tensor],
    table: TeacherTable,
    lam: float,
    anchor: float = 0.0,
    window: int | None = None,
) -> Iterator[Term]:
    """The teacher's share of each batch, prepared `window` batches at a time without autograd.

    The teacher term of a batch is Σ_i w_i ‖z_i − t_i‖² with w_i = λ / (n_S s²) for its
    n_S edited rows, λ_anchor / (n_A s²) for its n_A anchored rows and 0 elsewhere,
    i.e. λ · mean_S ‖z − t‖² / s² (+ the anchor mean). It is computed as
    ‖√w ⊙ z − √w ⊙ t‖²: a row mask instead of an index, because the backward of an
    index (index_add / index_put) costs more on CPU than the rest of a small model's
    step, and the lookups are vectorised over a window (default: all batches) so the
    step itself adds only an elementwise product and one mse_loss node.
    None for a batch without edited or anchored rows.
    """
    window = window or max(len(batches), 1)
    dev, dtype = table.table.device, table.table.dtype
    scale2 = table.scale**2
    for start in range(0, len(batches), window):
        group = batches[start : start + window]
        sizes = [len(b) for b in group]
        flat = torch.cat(group).to(dev)
        batch_id = torch.repeat_interleave(
            torch.arange(len(group), device=dev), torch.tensor(sizes, device=dev)
        )
        w = torch.zeros(len(flat), dtype=dtype, device=dev)
        for mask, weight in ((table.mask, lam), (table.anchor_mask, anchor)):
            if weight <= 0:
                continue
            m = mask[flat].to(dtype)
            counts = torch.zeros(len(group), dtype=dtype, device=dev).index_add_(0, batch_id, m)
            w += m * (weight / scale2) / counts.clamp(min=1.0)[batch_id]
        root = w.sqrt().unsqueeze(1)
        targets = table.table[flat] * root
        used = torch.zeros(len(group), dtype=dtype, device=dev).index_add_(0, batch_id, w)
        for r, t, u in zip(
            root.split(sizes), targets.split(sizes), used.gt(0).tolist(), strict=True
        ):
            yield (r, t) if u else None


def teacher_term(z: torch.Tensor, term: Term) -> torch.Tensor | None:
    """The teacher loss of one batch from its prepared term; None when it has none."""
    if term is None:
        return None
    root, targets = term
    return F.mse_loss(z * root, targets, reduction="sum")


def teacher_loss(
    z: torch.Tensor, batch_idx: torch.Tensor, table: TeacherTable, lam: float, anchor: float = 0.0
) -> torch.Tensor:
    """λ · mean_{i∈B∩S} ‖z_i − t_i‖² / s² (+ the anchor term over unedited points)."""
    loss = teacher_term(z, next(batch_terms([batch_idx], table, lam, anchor)))
    return z.new_zeros(()) if loss is None else loss
