"""One gesture on the map, as stored in run.json and checked when it comes from outside.

An `Edit` names map point indices (train, val, test order) and the parameters of its kind;
`Edit.from_dict` validates untrusted JSON (a session file, a browser request) and every
error names the field and what was expected. What an edit *means* is in
`hill_dash.engine.teacher`, which turns edits into latent targets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from hill_dash.engine.errors import StoreError

EDIT_KINDS = ("translate", "pull", "compact", "separate")


@dataclass
class Edit:
    """One gesture on the map. `indices` are map point indices (train, val, test order)."""

    kind: str  # "translate" | "pull" | "compact" | "separate"
    indices: list[int]
    dx: float = 0.0  # translate: 2-D displacement on the map
    dy: float = 0.0
    target_class: int = -1  # pull: the class whose centre the selection's centre moves to
    alpha: float = 1.0  # pull: share of the way there (0..1); the selection keeps its shape
    beta: float = 0.5  # compact: remaining spread around the selection's own centre (0..1)
    other: list[int] = field(default_factory=list)  # separate: the selection to move away from
    gamma: float = 1.0  # separate: push distance, in units of the distance between centres

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(
        cls,
        d: object,
        n_points: int | None = None,
        where: str = "edit",
        n_classes: int | None = None,
    ) -> Edit:
        """Validate untrusted JSON; errors name the field and what was expected.

        With `n_points` and `n_classes` (the run's) the edit is checked completely, so a
        stored pending edit can never fail later, when a chunk starts.
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
        for name in ("dx", "dy", "alpha", "beta", "gamma"):
            if name in d:
                out[name] = _finite(d[name], f"{where}.{name}")
        if "target_class" in d:
            tc = d["target_class"]
            if not isinstance(tc, int) or isinstance(tc, bool):
                raise StoreError(f"{where}.target_class: expected an integer, got {tc!r}")
            out["target_class"] = tc
        if kind == "pull":
            tc = out.get("target_class", -1)
            if tc < 0:
                raise StoreError(f"{where}.target_class: a pull needs a class index >= 0")
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


def steady_rows(edits: list[Edit], visible: int) -> np.ndarray | None:
    """The visible points no edit selected: the frame every "relative to the rest" uses."""
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
