"""What the person selected on the Loop page's map, and the edit a tool makes of it.

Pure functions of plotly events, index arrays and the guided head's map
(`views.MapData`): the selection store's next value, the box around the selection and
what it holds, the edit each tool would make of it (a StoreError says what is
missing), and the shift of a move gesture (a dragged box or a click on the map).
"""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from hill_dash.dashboard.views import TOOLS, MapData
from hill_dash.engine.edits import MAX_WEIGHT
from hill_dash.engine.errors import StoreError
from hill_dash.engine.projection.state import extent
from hill_dash.engine.teacher import Edit, class_means

# -- selection ------------------------------------------------------------------------
#
# The selection store holds bitsets, not index lists: the browser makes them from a
# lasso (assets/loop.js, `storeSelection`) and the server from "Find points" or a click
# on a panel. A bitset is base64 of the little-endian bit order of `np.packbits`: bit i
# of byte i // 8 is point i. 200,000 points fit in 33 kB whatever is selected.

MAX_BITS_TEXT = 8_000_000  # base64 of 48 million points: more is not a selection
EMPTY = {"bits": "", "count": 0, "previous": "", "rev": 0, "key": "", "source": ""}


def encode_indices(indices: np.ndarray | list[int]) -> str:
    """Point indices as a base64 bitset ("" for none)."""
    idx = np.asarray(indices, np.int64)
    if len(idx) == 0:
        return ""
    mask = np.zeros(int(idx.max()) + 1, bool)
    mask[idx] = True
    return base64.b64encode(np.packbits(mask, bitorder="little").tobytes()).decode("ascii")


def decode_bits(bits: object, n: int) -> np.ndarray:
    """A base64 bitset from the browser as sorted point indices below n (garbage: none)."""
    if not isinstance(bits, str) or not bits or len(bits) > MAX_BITS_TEXT:
        return np.zeros(0, np.int64)
    try:
        raw = np.frombuffer(base64.b64decode(bits, validate=True), np.uint8)
    except (binascii.Error, ValueError):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.unpackbits(raw[: -(-n // 8)], bitorder="little")[:n])


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
    sel_store = sel_store if isinstance(sel_store, dict) else {}
    return decode_bits(sel_store.get("bits"), n), decode_bits(sel_store.get("previous"), n)


def with_selection(
    current: dict | None, indices: np.ndarray, shown_key: str, source: str
) -> dict | None:
    """The selection store holding `indices` (None: unchanged). The old selection becomes
    `previous` (Separate pushes away from it); `source` says who made it ("lasso",
    "find", "click", "clear")."""
    current = current if isinstance(current, dict) else {}
    bits = encode_indices(indices)
    if bits == current.get("bits", "") and current.get("key") == shown_key:
        return None
    return {
        "bits": bits,
        "count": int(len(indices)),
        "previous": current.get("bits") or current.get("previous") or "",
        "rev": int(current.get("rev", 0)) + 1,
        "key": shown_key,
        "source": source,
    }


def combine(current: np.ndarray, found: np.ndarray, mode: str) -> np.ndarray:
    """ "Find points" against the current selection: replace, add or subtract."""
    if mode == "add":
        return np.union1d(current, found)
    if mode == "subtract":
        return np.setdiff1d(current, found)
    return np.unique(found)


def next_selection(current: dict | None, selected: dict | None, shown_key: str) -> dict | None:
    """The selection store after a selectedData event, or None to keep it as it is
    (the Python twin of `storeSelection` in assets/loop.js, which the page runs).

    When a chunk redraws the map, plotly drops its lasso and reports an empty
    selection the person did not make: an empty event on a map other than the one the
    selection was made on keeps the selection (it is re-drawn on the new map) and only
    adopts the new map.
    """
    current = current if isinstance(current, dict) else {}
    indices = selection_from_event(selected)
    if not indices and current.get("bits") and current.get("key") != shown_key:
        return current | {"key": shown_key}
    if encode_indices(indices) == current.get("bits", ""):
        return None
    return with_selection(current, np.asarray(indices, np.int64), shown_key, "lasso")


def tool_params(
    tool: object,
    dx: object,
    dy: object,
    pull_class: object,
    alpha: object,
    beta: object,
    gamma: object,
    relabel_class: object = None,
    w: object = None,
    pull_relabel: object = None,
) -> tuple[dict[str, object], str]:
    """The edit tools' inputs as `make_edit` keywords, and what is wrong with the current
    tool's number fields ("" if nothing). An empty or invalid field is never read as 0.
    `pull_relabel`: the Pull pane's "and relabel" switch (one Apply, two edits)."""
    params = {
        "dx": dx,
        "dy": dy,
        "target_class": relabel_class if tool == "relabel" else pull_class,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "w": w,
        "also_relabel": bool(pull_relabel) and tool == "pull",
    }
    for key, label, lo, hi in TOOL_FIELDS.get(tool, ()):
        try:
            _number(params[key], label, lo, hi)
        except StoreError as exc:
            return params, str(exc)
    if tool == "relabel" and params["target_class"] in (None, ""):
        return params, "class is empty: choose the class the selection's training points are"
    if tool == "weight" and params["w"] == 0:
        return params, "w: expected a number above 0 (Exclude leaves points out of training)"
    return params, ""


# the number fields of each tool: (keyword, label, lowest, highest)
TOOL_FIELDS = {
    "move": (("dx", "Δx", -math.inf, math.inf), ("dy", "Δy", -math.inf, math.inf)),
    "pull": (("alpha", "α", 0.0, 1.0),),
    "compact": (("beta", "β", 0.0, 1.0),),
    "separate": (("gamma", "γ", 0.0, 10.0),),
    "weight": (("w", "w", 0.0, MAX_WEIGHT),),
}
ANNOTATION_TOOLS = ("relabel", "weight", "exclude")


def selection_box(coords: np.ndarray, indices: np.ndarray) -> list[float] | None:
    """[x0, x1, y0, y1] around the selected points, padded so a single point has a box."""
    if len(indices) == 0:
        return None
    lo, hi = (b.astype(float) for b in extent(coords[indices]))
    all_lo, all_hi = extent(coords)
    pad = 0.015 * float(max(np.max(all_hi - all_lo), 1e-6))
    return [lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad]


def summarize_selection(md: MapData, indices: np.ndarray) -> dict:
    """Count, split mix, class mix and the points the edit would leave out (and why)."""
    split = md.split[indices]
    by_split = {s: int(np.count_nonzero(split == s)) for s in ("train", "val")}
    y = md.y[indices]
    counts = np.bincount(y[y >= 0], minlength=len(md.label_names))
    order = np.argsort(-counts, kind="stable")
    classes = [(md.label_names[c], int(counts[c])) for c in order if counts[c] > 0]
    if np.any(y < 0):
        classes.append(("unlabelled", int(np.count_nonzero(y < 0))))
    wrong = int(np.count_nonzero((md.pred[indices] != y) & (y >= 0)))
    return {
        "n": int(len(indices)),
        "by_split": by_split,
        "classes": classes,
        "n_train": by_split["train"],
        "left_out": {"val": by_split["val"]},
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
    labels = md.y[indices]
    labels = labels[labels >= 0]
    if len(labels) == 0:
        return np.zeros(0, np.int64), "nothing (no labelled point selected)"
    c = int(np.bincount(labels).argmax())
    rest = np.flatnonzero((md.y == c) & (md.split == "train"))
    rest = np.setdiff1d(rest, indices)
    return rest, f"the rest of class {md.label_names[c]} ({len(rest)} training points)"


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
    w: object = 1.0,
    also_relabel: bool = False,
) -> Edit:
    """The Edit a tool makes from the current selection; StoreError says what is missing."""
    if tool not in TOOLS:
        raise StoreError(f"edit tool: expected one of {tuple(TOOLS)}, got {tool!r}")
    if len(indices) == 0:
        raise StoreError("Select points on the map first (lasso or box).")
    idx = [int(i) for i in indices]
    if tool in ANNOTATION_TOOLS:
        return _annotation(tool, idx, target_class, w)
    if tool == "move":
        dx, dy = _number(dx, "Δx"), _number(dy, "Δy")
        if dx == 0 and dy == 0:
            raise StoreError(
                "Move: drag the selection box by its edge, click where the cluster should go, "
                "or type Δx / Δy."
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


def _annotation(tool: str, idx: list[int], target_class: object, w: object) -> Edit:
    if tool == "relabel":
        if isinstance(target_class, str) and target_class.isdigit():
            target_class = int(target_class)
        if not isinstance(target_class, int) or isinstance(target_class, bool):
            raise StoreError("Relabel: choose the class the selection's training points are.")
        return Edit("relabel", idx, target_class=target_class)
    if tool == "weight":
        return Edit("weight", idx, weight=_number(w, "w", 1e-9, MAX_WEIGHT))
    return Edit("exclude", idx)


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
        edit = make_edit(tool, indices, other=other, **params)
    except StoreError as exc:
        return None, note or str(exc)
    if tool == "pull":
        note = far_pull_note(md, indices, edit.target_class, edit.alpha)
    return edit, note


# A pull asks the selection to travel α × the distance to its target class. Measured
# (docs/benchmarks.md §0): a one-chunk pull to the farthest class cost the untouched
# classes 3–13 accuracy points (5–15 with the Relabel the Pull pane adds by default), a
# pull to the nearest at most 4.8. Warn when the travel is longer than the distance to
# this share of the other classes' centres.
FAR_PULL_SHARE = 0.75


def far_pull_note(md: MapData, indices: np.ndarray, target: int, alpha: float) -> str:
    """A warning when a pull asks for a long path across the map, else ""."""
    outside = (md.split == "train") & (md.y >= 0)
    outside[np.asarray(indices, np.int64)] = False
    n_classes = int(md.y.max()) + 1
    centres = class_means(md.coords[outside], md.y[outside], n_classes)
    present = np.bincount(md.y[outside], minlength=n_classes) > 0
    gap = np.linalg.norm(centres - md.coords[indices].mean(axis=0), axis=1)
    distance = {int(c): float(gap[c]) for c in np.flatnonzero(present)}
    if target not in distance or len(distance) < 3:
        return ""
    others = [d for c, d in distance.items() if c != target]
    travel = alpha * distance[target]
    if travel <= np.quantile(others, FAR_PULL_SHARE):
        return ""
    name = md.label_names[target] if target < len(md.label_names) else str(target)
    return (
        f"A long pull: class {name} is farther from the selection than most classes. "
        "In our measurements a pull this far in one chunk cost the other classes 5–15 "
        "accuracy points, with or without its relabel; with α = 0.5 it cost 1–5 (and went "
        "a third of the way). Split over two chunks it went 84–96 % of the way but did not "
        "reliably cost less."
    )


def edit_of_selection(
    md: MapData, tool: str, indices: np.ndarray, previous: np.ndarray, **params: object
) -> Edit:
    """The edit Apply adds (Separate: away from `separate_partner`); StoreError if incomplete."""
    other = separate_partner(md, indices, previous)[0] if tool == "separate" else None
    return make_edit(tool, indices, other=other, **params)


def edits_of_selection(
    md: MapData, tool: str, indices: np.ndarray, previous: np.ndarray, **params: object
) -> list[Edit]:
    """What one Apply adds: the tool's edit, and with Pull's "and relabel" a Relabel of the
    same selection to the same class (stored as one group: one step to undo)."""
    edits = [edit_of_selection(md, tool, indices, previous, **params)]
    if tool == "pull" and params.get("also_relabel"):
        edits.append(Edit("relabel", edits[0].indices, target_class=edits[0].target_class))
    return edits


def applied_message(md: MapData, tool: str, indices: np.ndarray) -> str:
    """The status line after Apply: how many of the selected points get targets."""
    left = int(np.count_nonzero(md.split[indices] != "train"))
    if tool in ANNOTATION_TOOLS:
        kept = f" ({left:,} validation points keep theirs)" if left else ""
        return (
            f"Added: {tool} of {len(indices) - left:,} training points{kept}. The guided "
            "lineage trains with it from the next chunk on."
        )
    return (
        f"Added: {tool} of {len(indices):,} points ({len(indices) - left:,} get targets). "
        "It is the teacher of the next chunk."
    )


def _number(value: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A number field's value; empty or invalid is an error naming the field, never 0."""
    if value is None or value == "":
        raise StoreError(f"{name} is empty: type a number")
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
