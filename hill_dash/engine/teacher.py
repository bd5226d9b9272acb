"""Edits on the map become frozen latent targets: the teacher of the next chunk.

A person's edits are made on the map of checkpoint k and frozen in the latent coordinates
of checkpoint k. `build_teacher` turns the edit list into one target per edited training
point, plus what the realized share needs to measure each edit afterwards
(`hill_dash.engine.realized.Request`). The loss that pulls the model toward the targets,
relative to the rest of the space, is `hill_dash.engine.teacher_loss`.

What each kind means (every kind keeps the selection's shape unless it is about shape):

- translate (dx, dy): the points move by the map arrow, inverted into latent space
  (PCA: exactly; UMAP: the difference of the local inverse at the arrow's two ends).
- pull (class c, α): the selection's centre moves α of the way to the centre of class c's
  training points outside the selection. Rigid: a pull says "this group belongs over
  there", not "collapse onto one point" (use compact for that). Class c is the landmark:
  its points are held where they are (relative to the rest), so the network cannot meet
  the edit by pushing class c away.
- compact (β): the points shrink toward their own centre to β of their spread.
- separate (other, γ): the points move away from the other selection's centre by γ times
  the distance between the two centres; the other selection's training points are held.

Later edits act on the targets left by earlier ones, so "move, then compact" composes as
a person expects. Validation points never receive targets; test points are not used at
all (the test split is locked): not as targets, not in an inverse, not in a centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hill_dash.engine.edits import EDIT_KINDS, LATENT_KINDS, Edit  # noqa: F401  (re-exported)
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection import MapState, inverse_delta
from hill_dash.engine.realized import Request


@dataclass
class Teacher:
    """Frozen latent targets for the edited training points of one chunk."""

    train_idx: np.ndarray  # (m,) indices into the training set
    targets: np.ndarray  # (m, d) float32 latent targets
    start: np.ndarray  # (m, d) the points' latents when the edits were frozen
    scale: float  # s: RMS distance of the reference latents to their centre, at edit time
    reference_idx: np.ndarray  # (r,) unedited training points: the frame the targets live in
    held_idx: np.ndarray  # (h,) landmarks (a pull's target class, a separate's other side): held
    frozen: np.ndarray  # (n_train, d) float32: every training latent at edit time
    anchor: bool  # hold the reference points' relative layout too (λ_anchor)
    left_out: dict[str, int]  # selected points that got no target, by split
    relabels: int  # training points pulled to a class that is not their label
    touched_classes: list[int]  # labels of the edited training points
    requests: list[Request | None]  # per edit, in latent space (None: no training point)
    weights: np.ndarray | None = None  # (m,) per edited row: its edit's group factor × kind

    def row_weights(self) -> np.ndarray:
        """(m,) each edited row's weight factor (its edit's `group_factor`, by default)."""
        if self.weights is not None:
            return np.asarray(self.weights, dtype=np.float32)
        n_train = len(self.frozen)
        return np.full(len(self.train_idx), group_factor(len(self.train_idx), n_train), np.float32)

    @property
    def empty(self) -> bool:
        return len(self.train_idx) == 0

    @classmethod
    def from_targets(
        cls, frozen: np.ndarray, train_idx: np.ndarray, targets: np.ndarray
    ) -> Teacher:
        """A teacher of given latent targets for some training points (a notebook's own).

        `frozen`: every training latent now (n_train, d); the rest are the reference.
        """
        frozen = np.asarray(frozen, dtype=np.float32)
        idx = np.asarray(train_idx, dtype=np.int64)
        reference = np.setdiff1d(np.arange(len(frozen)), idx)
        return cls(
            train_idx=idx,
            targets=np.asarray(targets, dtype=np.float32),
            start=frozen[idx],
            scale=centred_scale(frozen[reference] if len(reference) >= 2 else frozen),
            reference_idx=reference,
            held_idx=np.zeros(0, np.int64),
            frozen=frozen,
            anchor=False,
            left_out={"val": 0, "test": 0},
            relabels=0,
            touched_classes=[],
            requests=[],
        )


# An edit's m rows weigh (GROUP_SHARE · n_train / m)^SIZE_EXPONENT each, on top of the
# teacher's per-row weight λ·κ/|batch| (`teacher_loss`): with exponent 1 every edit has the
# same expected weight per batch whatever its size. A 20-point selection must move against
# its unselected neighbours, so it needs more weight per row than a whole class to be
# heard as much (measured: docs/benchmarks.md §0); exponent 0 would weigh every row alike.
GROUP_SHARE = 0.1  # the size a factor of 1 stands for: a class of a ten-class data set
SIZE_EXPONENT = 1.0
MAX_GROUP_FACTOR = 32.0  # a handful of points must not drown the batch's cross-entropy
# per edit kind, a factor on top: compact asks every point for a small displacement against
# the stiffest part of the layout (a class's own spread), and separate asks a class to
# leave the neighbour the network confuses it with, so both weigh more (§0)
KIND_WEIGHT = {"translate": 1.0, "pull": 1.0, "compact": 3.0, "separate": 3.0}


def group_factor(rows: int, n_train: int) -> float:
    """The per-row weight factor of a group of `rows` of `n_train` training rows."""
    if rows <= 0:
        return 0.0
    return float(min((GROUP_SHARE * n_train / rows) ** SIZE_EXPONENT, MAX_GROUP_FACTOR))


def rms_scale(Z_train: np.ndarray) -> float:
    """sqrt(mean ‖z_i‖²): the latent drift's unit, the same for every model."""
    return float(np.sqrt(np.mean(np.sum(Z_train.astype(np.float64) ** 2, axis=1))) or 1.0)


def centred_scale(Z: np.ndarray) -> float:
    """RMS distance of the rows of Z to their mean (1.0 for a single point)."""
    Z = Z.astype(np.float64)
    if len(Z) < 2:
        return 1.0
    return float(np.sqrt(np.mean(np.sum((Z - Z.mean(0)) ** 2, axis=1))) or 1.0)


def class_means(Z_train: np.ndarray, y_train: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, d) mean training latent per class (zeros for an absent class).

    Unlabelled points (label -1) belong to no class.
    """
    means = np.zeros((n_classes, Z_train.shape[1]), dtype=np.float64)
    for c in range(n_classes):
        members = Z_train[y_train == c]
        if len(members):
            means[c] = members.mean(axis=0)
    return means


def visible_rows(split: np.ndarray) -> int:
    """How many map points precede the test split (train, val, test order)."""
    return int(np.sum(split != "test"))


@dataclass
class _Applied:
    """The edits applied to the training latents: what `build_teacher` packs."""

    Z_train: np.ndarray  # (n_train, d) float64 latents at edit time
    y: np.ndarray  # labels of the visible points
    targets: np.ndarray  # (n_train, d) float64: every training row's target (its own latent
    # when unedited)
    edited: np.ndarray  # (n_train,) bool
    held: np.ndarray  # (n_train,) bool: landmarks, edited rows excluded
    left: dict[str, int]
    relabels: int
    requests: list[Request | None]
    weight: np.ndarray  # (n_train,) float64


def build_teacher(
    edits: list[Edit],
    Z: np.ndarray,
    map_state: MapState,
    y: np.ndarray,
    split: np.ndarray,
    anchor: bool = False,
    n_classes: int | None = None,
) -> Teacher:
    """Apply the edits in order to the checkpoint's latents `Z` (all map points).

    `split` names each map point's split (train, val, test order); test rows are ignored.
    """
    a = _apply(edits, Z, map_state, y, split, n_classes)
    idx = np.flatnonzero(a.edited)
    reference = np.flatnonzero(~a.edited & ~a.held)
    return Teacher(
        train_idx=idx,
        targets=a.targets[idx].astype(np.float32),
        start=a.Z_train[idx].astype(np.float32),
        scale=centred_scale(a.Z_train[reference] if len(reference) >= 2 else a.Z_train),
        reference_idx=reference,
        held_idx=np.flatnonzero(a.held),
        frozen=a.Z_train.astype(np.float32),
        anchor=anchor,
        left_out=a.left,
        relabels=a.relabels,
        touched_classes=sorted({int(c) for c in a.y[idx] if c >= 0}),
        requests=a.requests,
        weights=a.weight[idx].astype(np.float32),
    )


def edit_targets(
    edits: list[Edit],
    Z: np.ndarray,
    map_state: MapState,
    y: np.ndarray,
    split: np.ndarray,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, float32 targets) of `build_teacher`, without the frame the loss needs
    (its scale and frozen copy): what a preview draws, at a fraction of the cost."""
    a = _apply(edits, Z, map_state, y, split, n_classes)
    idx = np.flatnonzero(a.edited)
    return idx, a.targets[idx].astype(np.float32)


def _apply(
    edits: list[Edit],
    Z: np.ndarray,
    map_state: MapState,
    y: np.ndarray,
    split: np.ndarray,
    n_classes: int | None,
) -> _Applied:
    n_train = int(np.sum(split == "train"))
    n_visible = visible_rows(split)
    Z = Z[:n_visible].astype(np.float64)
    y = np.asarray(y)[:n_visible]
    inverse_map = map_state.first(n_visible)
    n_classes = n_classes if n_classes is not None else int(y.max()) + 1
    targets = Z[:n_train].copy()
    edited = np.zeros(n_train, dtype=bool)
    held = np.zeros(n_train, dtype=bool)  # landmarks an edit moves toward or away from
    left = {"val": 0, "test": 0}
    relabels = np.zeros(n_train, dtype=bool)
    requests: list[Request | None] = []
    weight = np.zeros(n_train, dtype=np.float64)  # per training row: its edits' largest
    for edit in edits:
        if edit.kind not in LATENT_KINDS:  # annotations change labels, not latents
            requests.append(None)
            continue
        sel = np.unique(np.asarray(edit.indices, dtype=np.int64))
        left["test"] += int(np.sum(sel >= n_visible))
        sel = sel[sel < n_visible]
        left["val"] += int(np.sum(sel >= n_train))
        tr = sel[sel < n_train]
        if len(tr) == 0:
            requests.append(None)  # nothing to train: nothing to measure
            continue
        centre = targets[tr].mean(axis=0)
        if edit.kind == "translate":
            at = inverse_map.coords[sel].mean(axis=0)
            shift = inverse_delta(np.array([edit.dx, edit.dy]), inverse_map, Z, at)
            targets[tr] += shift
            requests.append(Request("translate", tr, shift=shift))
        elif edit.kind == "pull":
            if not 0 <= edit.target_class < n_classes:
                raise StoreError(f"edit.target_class: {edit.target_class} is not a class")
            members = np.setdiff1d(np.flatnonzero(y[:n_train] == edit.target_class), tr)
            if len(members) == 0:
                raise StoreError(
                    f"edit.target_class: class {edit.target_class} has no training points "
                    "outside the selection to pull toward"
                )
            targets[tr] += edit.alpha * (Z[members].mean(axis=0) - centre)
            held[members] = True
            relabels[tr[y[tr] != edit.target_class]] = True
            requests.append(Request("pull", tr, members=members, amount=edit.alpha))
        elif edit.kind == "compact":
            targets[tr] = centre + edit.beta * (targets[tr] - centre)
            requests.append(Request("compact", tr, amount=edit.beta))
        elif edit.kind == "separate":
            other = np.unique(np.asarray(edit.other, dtype=np.int64))
            other = other[other < n_visible]
            if len(other) == 0:
                raise StoreError("edit.other: the second selection has no visible points")
            other_pts = np.concatenate(
                [targets[other[other < n_train]], Z[other[other >= n_train]]]
            )
            targets[tr] += edit.gamma * (centre - other_pts.mean(axis=0))
            held[other[other < n_train]] = True  # T stays: the landmark of a separate
            requests.append(Request("separate", tr, other=other, amount=edit.gamma))
        edited[tr] = True
        kind_w = KIND_WEIGHT.get(edit.kind, 1.0) * group_factor(len(tr), n_train)
        weight[tr] = np.maximum(weight[tr], kind_w)
    return _Applied(
        Z_train=Z[:n_train],
        y=y,
        targets=targets,
        edited=edited,
        held=held & ~edited,
        left=left,
        relabels=int(relabels.sum()),
        requests=requests,
        weight=weight,
    )
