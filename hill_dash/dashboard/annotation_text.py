"""How an annotation (relabel, weight, exclude) and its accounting are said, in one place.

The engine records per annotation, for the guided chunk, the counterfactual chunk and the
unguided lineage, a number before and after the chunk (`engine/annotation_effects.py`).
The Loop panels, the chunk table, Compare, the report, the CLI and `Session.compare()` all
say them with the functions here, each naming the space the number is measured in (the
head's predictions, or the cross-entropy), so that nobody reads a prediction share as a
realized share of a latent edit.
"""

from __future__ import annotations

from hill_dash.engine.edits import ANNOTATION_KINDS

NAMES = {"guided": "guided", "counterfactual": "counterfactual", "twin": "unguided"}


def is_annotation_row(row: object) -> bool:
    return isinstance(row, dict) and row.get("kind") in ANNOTATION_KINDS


def class_name(c: object, label_names: list[str]) -> str:
    """A class index as the data set names it (the index itself when it has no name)."""
    return str(label_names[c]) if isinstance(c, int) and 0 <= c < len(label_names) else str(c)


def annotation_words(e: dict, label_names: list[str]) -> str:
    """The gesture: "Relabel 40 points to class 8", "Weight 40 points ×5", "Exclude 40 points"."""
    n = len(e.get("indices", []))
    pts = f"{n} point{'s' * (n != 1)}" if n else "points"
    kind = e.get("kind")
    if kind == "relabel":
        return f"Relabel {pts} to class {class_name(e.get('target_class'), label_names)}"
    if kind == "weight":
        return f"Weight {pts} ×{e.get('weight', 1.0):g}"
    return f"Exclude {pts} from training"


def _pct(v: object) -> str:
    return f"{100 * v:.0f} %" if isinstance(v, (int, float)) else "–"


def _loss(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "–"


def _moves(values: dict | None, fmt) -> str:
    """ "guided 12 % → 95 % · counterfactual 12 % → 14 % · unguided 10 % → 11 %"."""
    parts = []
    for key, name in NAMES.items():
        v = (values or {}).get(key)
        if isinstance(v, dict):
            parts.append(f"{name} {fmt(v.get('before'))} → {fmt(v.get('after'))}")
    return " · ".join(parts) or "not measured"


def annotation_measures(row: dict, label_names: list[str]) -> list[tuple[str, str]]:
    """(measure with its space, values per lineage) lines of one annotation row."""
    n = row.get("n_train", 0)
    if row.get("kind") == "relabel":
        c = class_name(row.get("target_class"), label_names)
        return [
            (
                f"predicted as {c}, selection ({n} training points)",
                _moves(row.get("train"), _pct),
            ),
            (
                f"predicted as {c}, {row.get('n_val_near', 0)} nearest unedited validation "
                "points on the map",
                _moves(row.get("val_near"), _pct),
            ),
        ]
    return [
        (
            f"mean cross-entropy of the selection ({n} training points)",
            _moves(row.get("loss"), _loss),
        )
    ]


def annotation_sentence(row: dict, label_names: list[str]) -> str:
    """One line: every measure of the row, each named by its space."""
    return " | ".join(f"{m}: {v}" for m, v in annotation_measures(row, label_names))


def guided_after(row: dict) -> float | None:
    """The guided chunk's headline number (relabel: selection predicted as c; weight and
    exclude: the selection's mean loss after), for compact cells and charts."""
    key = "train" if row.get("kind") == "relabel" else "loss"
    v = ((row.get(key) or {}).get("guided") or {}).get("after")
    return v if isinstance(v, (int, float)) else None


def bias_note(b: dict, label_names: list[str]) -> str:
    """Why a class is flagged by annotations: "annotations relabel 100 % of its training
    points (mostly to 8)"; "" when they did not touch it."""
    a = b.get("annotated")
    if not isinstance(a, dict):
        return ""
    parts = []
    if a.get("relabelled"):
        to = a.get("to")
        where = f" (mostly to {class_name(to, label_names)})" if to is not None else ""
        parts.append(f"relabel {_pct(a['relabelled'])} of its training points{where}")
    if a.get("excluded"):
        parts.append(f"exclude {_pct(a['excluded'])} of them")
    return "annotations " + " and ".join(parts)
