"""One gesture on the map, as stored in run.json and checked when it comes from outside.

An `Edit` names map point indices (train, val, test order) and the parameters of its kind;
`Edit.from_dict` validates untrusted JSON (a session file, a browser request) and every
error names the field and what was expected. There are two families:

- latent edits (LATENT_KINDS): where the selection should sit; `hill_dash.engine.teacher`
  turns them into latent targets;
- annotations (ANNOTATION_KINDS): what the selection's training points are and how much
  they count (relabel to class c, weight w, exclude = weight 0);
  `hill_dash.engine.annotations` turns them into the guided lineage's labels and weights.

One Apply may make several edits on one selection (a Pull + a Relabel): they share a
`group` and are undone and redone as one step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from hill_dash.engine.errors import StoreError

LATENT_KINDS = ("translate", "pull", "compact", "separate")
ANNOTATION_KINDS = ("relabel", "weight", "exclude")
EDIT_KINDS = LATENT_KINDS + ANNOTATION_KINDS
MAX_WEIGHT = 100.0  # a weight edit's w: 0 < w <= MAX_WEIGHT
_GROUP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class Edit:
    """One gesture on the map. `indices` are map point indices (train, val, test order)."""

    kind: str  # one of EDIT_KINDS
    indices: list[int]
    dx: float = 0.0  # translate: 2-D displacement on the map
    dy: float = 0.0
    target_class: int = -1  # pull: the class whose centre the selection's centre moves to;
    # relabel: the selection's training points' new label
    alpha: float = 1.0  # pull: share of the way there (0..1); the selection keeps its shape
    beta: float = 0.5  # compact: remaining spread around the selection's own centre (0..1)
    other: list[int] = field(default_factory=list)  # separate: the selection to move away from
    gamma: float = 1.0  # separate: push distance, in units of the distance between centres
    weight: float = 1.0  # weight: the selection's cross-entropy weight (0 < w <= 100)
    group: str = ""  # edits of one Apply share it: one step for the edit list, undo and redo

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(
        cls,
        d: object,
        n_points: int | None = None,
        where: str = "edit",
        n_classes: int | None = None,
        n_train: int | None = None,
    ) -> Edit:
        """Validate untrusted JSON; errors name the field and what was expected.

        With `n_points` and `n_classes` (the run's) the edit is checked completely, so a
        stored pending edit can never fail later, when a chunk starts. With `n_train`, an
        annotation must select at least one training point (validation and test labels
        are never changed: those indices are kept but skipped).
        """
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
        for name in ("dx", "dy", "alpha", "beta", "gamma", "weight"):
            if name in d:
                out[name] = _finite(d[name], f"{where}.{name}")
        if "target_class" in d:
            tc = d["target_class"]
            if not isinstance(tc, int) or isinstance(tc, bool):
                raise StoreError(f"{where}.target_class: expected an integer, got {tc!r}")
            out["target_class"] = tc
        if kind in ("pull", "relabel"):
            tc = out.get("target_class", -1)
            if tc < 0:
                raise StoreError(f"{where}.target_class: a {kind} needs a class index >= 0")
            if n_classes is not None and tc >= n_classes:
                raise StoreError(
                    f"{where}.target_class: {tc} is not a class of this run "
                    f"(classes 0..{n_classes - 1})"
                )
        for name, low, high in (("alpha", 0.0, 1.0), ("beta", 0.0, 1.0), ("gamma", 0.0, 100.0)):
            if name in out and not low <= out[name] <= high:
                raise StoreError(f"{where}.{name}: expected a number in [{low}, {high}]")
        if kind == "separate" and not out["other"]:
            raise StoreError(f"{where}.other: a separate needs a second selection")
        if kind == "weight" and not 0.0 < out.get("weight", -1.0) <= MAX_WEIGHT:
            raise StoreError(
                f"{where}.weight: a weight edit needs a number w with 0 < w <= {MAX_WEIGHT:g}"
                f", got {d.get('weight')!r} (to leave points out, use exclude)"
            )
        trains = n_train is None or any(i < n_train for i in out["indices"])
        if kind in ANNOTATION_KINDS and not trains:
            raise StoreError(
                f"{where}.indices: a {kind} changes training points only (indices "
                f"0..{n_train - 1}); this selection has none (validation and test "
                "labels are never changed)"
            )
        out["group"] = _group(d.get("group", ""), f"{where}.group")
        return cls(**out)

    @property
    def annotation(self) -> bool:
        return self.kind in ANNOTATION_KINDS


def _group(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) > 40 or not set(value) <= _GROUP_CHARS:
        raise StoreError(f"{where}: expected up to 40 letters, digits, '-' or '_', got {value!r}")
    return value


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


def steady_rows(edits: list[Edit], visible: int) -> np.ndarray | None:
    """The visible points no edit selected: the frame every "relative to the rest" uses.

    Annotations count as selecting too: a relabelled cluster is expected to move.
    """
    if not edits:
        return None
    selected = np.zeros(visible, bool)
    for e in edits:
        sel = np.asarray(e.indices, dtype=np.int64)
        selected[sel[sel < visible]] = True
    return np.flatnonzero(~selected)


def dragged_rows(edits: list[Edit], visible: int) -> np.ndarray | None:
    """The visible points a move selected (placed on the next map by their own shift)."""
    rows = [np.asarray(e.indices, dtype=np.int64) for e in edits if e.kind == "translate"]
    if not rows:
        return None
    rows = np.unique(np.concatenate(rows))
    return rows[rows < visible]
