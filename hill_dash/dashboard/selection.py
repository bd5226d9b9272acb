"""What the person selected on the Loop page's map, and the edit a tool makes of it.

Pure functions of plotly events, index arrays and the guided head's map
(`views.MapData`): the selection store's next value, the box around the selection and
what it holds, the edit each tool would make of it (a StoreError says what is
missing), and the shift of a move gesture (a dragged box or a click on the map).
"""

from __future__ import annotations

import math

import numpy as np

from hill_dash.dashboard.views import TOOLS, MapData
from hill_dash.engine.errors import StoreError
from hill_dash.engine.teacher import Edit

# -- selection ------------------------------------------------------------------------


def selection_from_event(selected: dict | None, curve: int = 0) -> list[int]:
    """Point indices of a selectedData event on the main trace (pointIndex, never customdata)."""
    if not selected:
        return []
    idx = {
        int(p["pointIndex"])
        for p in selected.get("points", [])
        if p.get("curveNumber", 0) == curve and "pointIndex" in p
    }
    return sorted(idx)


def clean_indices(indices: object, n: int) -> np.ndarray:
    """Browser-sent indices as a sorted unique int array within the map."""
    if not isinstance(indices, list):
        return np.zeros(0, np.int64)
    a = np.asarray([i for i in indices if isinstance(i, int) and not isinstance(i, bool)], np.int64)
    return np.unique(a[(a >= 0) & (a < n)])


def selected_points(sel_store: dict | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(current, previous) selection of the selection store, as checked indices below n."""
    sel_store = sel_store or {}
    return (
        clean_indices(sel_store.get("indices"), n),
        clean_indices(sel_store.get("previous"), n),
    )


def tool_params(
    dx: object, dy: object, pull_class: object, alpha: object, beta: object, gamma: object
) -> dict[str, object]:
    """The edit tools' inputs as `make_edit` keywords (checked there)."""
    return {
        "dx": dx,
        "dy": dy,
        "target_class": pull_class,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
    }


def selection_box(coords: np.ndarray, indices: np.ndarray) -> list[float] | None:
    """[x0, x1, y0, y1] around the selected points, padded so a single point has a box."""
    if len(indices) == 0:
        return None
    pts = coords[indices]
    lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
    span = coords.max(axis=0) - coords.min(axis=0)
    pad = 0.015 * float(max(span.max(), 1e-6))
    return [lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad]


def summarize_selection(md: MapData, indices: np.ndarray) -> dict:
    """Count, split mix, class mix and the points the edit would leave out (and why)."""
    split = md.split[indices]
    by_split = {s: int(np.count_nonzero(split == s)) for s in ("train", "val", "test")}
    counts = np.bincount(md.y[indices], minlength=len(md.label_names))
    order = np.argsort(-counts, kind="stable")
    classes = [(md.label_names[c], int(counts[c])) for c in order if counts[c] > 0]
    wrong = int(np.count_nonzero(md.pred[indices] != md.y[indices]))
    return {
        "n": int(len(indices)),
        "by_split": by_split,
        "classes": classes,
        "n_train": by_split["train"],
        "left_out": {"val": by_split["val"], "test": by_split["test"]},
        "wrong": wrong,
    }


def separate_partner(
    md: MapData, indices: np.ndarray, previous: np.ndarray
) -> tuple[np.ndarray, str]:
    """What "separate" pushes away from: the previous selection, else the rest of the class.

    The rest of the class = the training points of the selection's majority class
    that are not selected.
    """
    prev = np.setdiff1d(previous, indices)
    if len(prev):
        return prev, f"the previous selection ({len(prev)} points)"
    if len(indices) == 0:
        return np.zeros(0, np.int64), "nothing (no selection)"
    c = int(np.bincount(md.y[indices]).argmax())
    rest = np.flatnonzero((md.y == c) & (md.split == "train"))
    rest = np.setdiff1d(rest, indices)
    return rest, f"the rest of class {md.label_names[c]} ({len(rest)} training points)"


def next_selection(current: dict | None, selected: dict | None, shown_key: str) -> dict | None:
    """The selection store after a selectedData event, or None to keep it as it is.

    The store keeps the new points, the selection before them (`previous`, for
    Separate) and the map they were made on (`key`). When a chunk redraws the map,
    plotly drops its lasso and reports an empty selection the person did not make: an
    empty event on a map other than the one the selection was made on keeps the
    selection (it is re-drawn on the new map) and only adopts the new map.
    """
    current = current if isinstance(current, dict) else {}
    old = current.get("indices") or []
    indices = selection_from_event(selected)
    if not indices and old and current.get("key") != shown_key:
        return current | {"key": shown_key}
    if indices == old:
        return None
    previous = old if old else current.get("previous") or []
    return {
        "indices": indices,
        "previous": previous,
        "rev": int(current.get("rev", 0)) + 1,
        "key": shown_key,
    }


# -- edits ----------------------------------------------------------------------------


def make_edit(
    tool: str,
    indices: np.ndarray,
    *,
    dx: object = 0.0,
    dy: object = 0.0,
    target_class: object = None,
    alpha: object = 1.0,
    beta: object = 0.5,
    gamma: object = 1.0,
    other: np.ndarray | None = None,
) -> Edit:
    """The Edit a tool makes from the current selection; StoreError says what is missing."""
    if tool not in TOOLS:
        raise StoreError(f"edit tool: expected one of {tuple(TOOLS)}, got {tool!r}")
    if len(indices) == 0:
        raise StoreError("Select points on the map first (lasso or box).")
    idx = [int(i) for i in indices]
    if tool == "move":
        dx, dy = _number(dx, "Δx"), _number(dy, "Δy")
        if dx == 0 and dy == 0:
            raise StoreError(
                "Move: drag the dashed box, click where the cluster should go, or type Δx / Δy."
            )
        return Edit("translate", idx, dx=dx, dy=dy)
    if tool == "pull":
        if isinstance(target_class, str) and target_class.isdigit():
            target_class = int(target_class)  # a <select> sends its value as text
        if not isinstance(target_class, int) or isinstance(target_class, bool):
            raise StoreError("Pull: choose the class to pull the selection to.")
        return Edit("pull", idx, target_class=target_class, alpha=_number(alpha, "α", 0.0, 1.0))
    if tool == "compact":
        return Edit("compact", idx, beta=_number(beta, "β", 0.0, 1.0))
    if other is None or len(other) == 0:
        raise StoreError("Separate: there is nothing to push away from.")
    return Edit(
        "separate", idx, other=[int(i) for i in other], gamma=_number(gamma, "γ", 0.0, 10.0)
    )


def candidate_edit(
    md: MapData, tool: str, indices: np.ndarray, previous: np.ndarray, **params: object
) -> tuple[Edit | None, str]:
    """The edit the tool would make now (for the preview), or None and what is missing."""
    other = None
    note = ""
    if tool == "separate":
        other, partner = separate_partner(md, indices, previous)
        note = f"Separate pushes away from {partner}."
    try:
        return make_edit(tool, indices, other=other, **params), note
    except StoreError as exc:
        return None, note or str(exc)


def edit_of_selection(
    md: MapData, tool: str, indices: np.ndarray, previous: np.ndarray, **params: object
) -> Edit:
    """The edit Apply adds (Separate: away from `separate_partner`); StoreError if incomplete."""
    other = separate_partner(md, indices, previous)[0] if tool == "separate" else None
    return make_edit(tool, indices, other=other, **params)


def applied_message(md: MapData, tool: str, indices: np.ndarray) -> str:
    """The status line after Apply: how many of the selected points get targets."""
    left = int(np.count_nonzero(md.split[indices] != "train"))
    return (
        f"Added: {tool} of {len(indices):,} points ({len(indices) - left:,} get targets). "
        "It is the teacher of the next chunk."
    )


def _number(value: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if value is None or value == "":
        value = 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StoreError(f"{name}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise StoreError(f"{name}: expected a number from {lo:g} to {hi:g}, got {value:g}")
    return float(value)


# -- the move gesture -----------------------------------------------------------------


def shift_from_relayout(
    relayout: dict | None, box: list[float] | None
) -> tuple[float, float] | None:
    """Δ of the selection box dragged on the map: the shift of its centre."""
    if not relayout or not box:
        return None
    new = None
    if isinstance(relayout.get("shapes"), list) and relayout["shapes"]:
        s = relayout["shapes"][0]
        new = [s.get("x0"), s.get("x1"), s.get("y0"), s.get("y1")]
    elif any(k.startswith("shapes[0].") for k in relayout):
        new = [
            relayout.get(f"shapes[0].{k}", box[i]) for i, k in enumerate(("x0", "x1", "y0", "y1"))
        ]
    if new is None or not all(isinstance(v, (int, float)) for v in new):
        return None
    dx = (new[0] + new[1] - box[0] - box[1]) / 2
    dy = (new[2] + new[3] - box[2] - box[3]) / 2
    return float(dx), float(dy)


def shift_from_click(click: dict | None, centroid: np.ndarray | None) -> tuple[float, float] | None:
    """Δ that moves the selection's centroid to the clicked spot (anywhere on the map)."""
    if not click or centroid is None:
        return None
    xs, ys = click.get("xvals"), click.get("yvals")
    if xs and ys:
        x, y = xs[0], ys[0]
    else:
        pts = click.get("points") or [{}]
        x, y = pts[0].get("x"), pts[0].get("y")
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
        return None
    return float(x - centroid[0]), float(y - centroid[1])
