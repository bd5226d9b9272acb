"""The Loop page's linked panels: per-chunk curves of the guided lineage against the
unguided one, the per-class bias bars, the realized share of the edits, per-step
training curves, and the sample under the pointer.

Pure functions of lists and arrays (as `hill_dash.dashboard.views` reads them from the store).
Guided is drawn solid in `GUIDED`, the twin grey and dashed; `None` leaves a gap.
Each figure is built in one `go.Figure(data, layout)` call: plotly validates every
update separately, and these are rebuilt after every chunk and edit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from hill_dash.dashboard.annotation_text import bias_note
from hill_dash.dashboard.figures import FLAG_RED, GUIDED, TEMPLATE, TWIN

PANEL_HEIGHT = 230
SAMPLE_HEIGHT = 170
MARGIN = {"l": 46, "r": 10, "t": 34, "b": 34}
LEGEND = {
    "orientation": "h",
    "x": 0,
    "y": 1.02,
    "yanchor": "bottom",
    "font": {"size": 10},
    "itemwidth": 30,
}
SMALL = {"size": 10}


def chunk_range(chunks: Sequence[int]) -> list[float] | None:
    """Half a chunk either side of the chunks drawn: one chunk is not drawn at 0 to 2."""
    return [min(chunks) - 0.5, max(chunks) + 0.5] if len(chunks) else None


def _layout(ytitle: str, tickformat: str, chunks: Sequence[int] = (), **extra) -> dict:
    """A panel's layout: chunks on x, small margins, the legend on top."""
    xaxis = {"title": {"text": "chunk", "font": SMALL}, "dtick": 1, "zeroline": False}
    if chunk_range(chunks):
        xaxis["range"] = chunk_range(chunks)
    layout = {
        "template": TEMPLATE,
        "height": PANEL_HEIGHT,
        "margin": MARGIN,
        "legend": LEGEND,
        "hovermode": "x unified",
        "font": {"size": 11},
        "xaxis": xaxis,
        "yaxis": {"title": {"text": ytitle, "font": SMALL}, "tickformat": tickformat},
    }
    for key, value in extra.items():
        layout[key] = layout[key] | value if isinstance(layout.get(key), dict) else value
    return layout


def _hline(y: float, dash: str = "solid") -> dict:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": y,
        "y1": y,
        "line": {"color": "#ced4da", "width": 1, "dash": dash},
        "layer": "below",
    }


def placeholder_figure(message: str, height: int = PANEL_HEIGHT) -> go.Figure:
    """An empty panel that says why it is empty."""
    note = {
        "text": message,
        "showarrow": False,
        "x": 0.5,
        "y": 0.5,
        "xref": "paper",
        "yref": "paper",
        "font": {"size": 12, "color": "#6c757d"},
    }
    return go.Figure(
        layout={
            "template": TEMPLATE,
            "height": height,
            "margin": MARGIN,
            "annotations": [note],
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
        }
    )


def _line(
    x, y, name: str, colour: str, dash: str = "solid", width: float = 2.0, fmt: str = ".1%"
) -> dict:
    return {
        "type": "scatter",
        "x": list(x),
        "y": list(y),
        "name": name,
        "mode": "lines+markers",
        "line": {"color": colour, "dash": dash, "width": width},
        "marker": {"size": 5},
        "hovertemplate": f"%{{y:{fmt}}}",
    }


def make_accuracy_figure(
    chunks: Sequence[int],
    guided_train: Sequence[float],
    guided_val: Sequence[float],
    twin_train: Sequence[float],
    twin_val: Sequence[float],
) -> go.Figure:
    """Train and validation accuracy per chunk, guided and twin."""
    return go.Figure(
        [
            _line(chunks, guided_val, "guided val", GUIDED),
            _line(chunks, guided_train, "guided train", GUIDED, "dot", 1.5),
            _line(chunks, twin_val, "unguided val", TWIN, "dash"),
            _line(chunks, twin_train, "unguided train", TWIN, "dot", 1.5),
        ],
        _layout("accuracy", ".0%", chunks),
    )


def make_gap_figure(
    chunks: Sequence[int], guided_gap: Sequence[float], twin_gap: Sequence[float]
) -> go.Figure:
    """Validation gap (train − val accuracy) per chunk, guided and twin."""
    return go.Figure(
        [
            _line(chunks, guided_gap, "guided", GUIDED),
            _line(chunks, twin_gap, "unguided", TWIN, "dash"),
        ],
        _layout("train − val", ".1%", chunks, shapes=[_hline(0)]),
    )


def make_drift_figure(
    chunks: Sequence[int], series: Sequence[tuple[str, Sequence, str]]
) -> go.Figure:
    """Mean latent drift ‖z_now − z_prev‖ / s per chunk.

    `series` is (name, values, role) with role "guided", "guided-rest" or "twin".
    """
    styles = {
        "guided": (GUIDED, "solid", 2.0),
        "guided-rest": (GUIDED, "dot", 1.5),
        "twin": (TWIN, "dash", 2.0),
    }
    return go.Figure(
        [_line(chunks, values, name, *styles[role], fmt=".3f") for name, values, role in series],
        _layout("drift / s", ".3~g", chunks),
    )


def make_bias_figure(rows: Sequence[dict], label_names: Sequence[str], chunk: int) -> go.Figure:
    """Per class: validation accuracy guided − twin, ±2 SE; red where it dropped beyond
    noise, hatched where the class was touched by the chunk's edits."""
    names = [
        label_names[r["class"]] if r["class"] < len(label_names) else str(r["class"]) for r in rows
    ]
    bars = {
        "type": "bar",
        "x": names,
        "y": [r["delta"] for r in rows],
        "showlegend": False,
        "marker": {
            "color": [FLAG_RED if r.get("flag") else GUIDED for r in rows],
            "pattern": {"shape": ["/" if r.get("touched") else "" for r in rows], "size": 6},
        },
        "error_y": {
            "type": "data",
            "array": [None if r.get("se") is None else 2 * r["se"] for r in rows],
            "color": "#adb5bd",
            "thickness": 1,
        },
        "customdata": [
            [
                bias_note(r, []) or ("dropped beyond noise" if r.get("flag") else "within noise"),
                "touched by edits" if r.get("touched") else "not edited",
            ]
            for r in rows
        ],
        "hovertemplate": "class %{x}: %{y:+.1%}<br>%{customdata[0]} · %{customdata[1]}"
        "<br>click: select this class on the map<extra></extra>",
    }
    keys = [
        {
            "type": "bar",
            "x": [None],
            "y": [None],
            "name": name,
            "marker": {
                "color": colour,
                "pattern": {"shape": shape},
                "line": {"color": "#495057", "width": 0.5},
            },
        }
        for name, colour, shape in (
            ("dropped beyond noise", FLAG_RED, ""),
            ("touched by edits", "#ffffff", "/"),
        )
    ]
    return go.Figure(
        [bars, *keys],
        _layout(
            f"guided − unguided (chunk {chunk})",
            "+.0%",
            # by class slot, not by bar: a class whose accuracy did not change has a bar
            # of no height, which "closest" never hovers, so it could not be clicked
            hovermode="x",
            barmode="overlay",
            shapes=[_hline(0)],
            xaxis={"title": {"text": "class", "font": SMALL}, "type": "category", "dtick": None},
        ),
    )


def make_realized_figure(
    chunks: Sequence[int],
    guided: Sequence[float | None],
    counterfactual: Sequence[float | None],
    unguided: Sequence[float | None],
) -> go.Figure:
    """Per chunk with edits: the mean realized share of its edits (1 = all of the
    requested change happened relative to the rest of the space, 0 = none, below 0 =
    the wrong way) in the guided chunk, the counterfactual chunk (same start and
    batches, no edits) and the unguided lineage."""

    def bars(values, name, colour, pattern=""):
        return {
            "type": "bar",
            "x": list(chunks),
            "y": [None if v is None else v for v in values],
            "name": name,
            "marker": {"color": colour, "pattern": {"shape": pattern, "size": 5}},
            "hovertemplate": f"chunk %{{x}} · {name}: %{{y:.0%}} of the way<extra></extra>",
        }

    values = [v for v in (*guided, *counterfactual, *unguided) if v is not None]
    low = min(0.0, *values) - 0.05 if values else -0.05
    high = max(1.0, *values) + 0.05 if values else 1.05
    return go.Figure(
        [
            bars(guided, "guided", GUIDED),
            bars(counterfactual, "counterfactual", "#adb5bd", "/"),
            bars(unguided, "unguided", TWIN),
        ],
        _layout(
            "realized share",
            ".0%",
            chunks,
            hovermode="closest",
            barmode="group",
            shapes=[_hline(1, "dot"), _hline(0)],
            yaxis={"range": [low, high]},
        ),
    )


CURVE_TITLES = {
    "loss": "training loss",
    "ce": "cross-entropy",
    "teacher": "teacher loss",
    "acc": "batch accuracy",
}


def make_step_curves_figure(
    series: dict[str, dict], key: str, smoothed: dict[str, dict], log_y: bool
) -> go.Figure:
    """One metric per training step over every chunk: raw values faint, smoothed strong;
    guided solid, unguided grey dashed; dotted lines where a chunk starts.

    `series` and `smoothed`: per lineage {"step", "value"} (`history.curve_traces`; the
    two may have different steps once thinned)."""
    styles = {"guided": (GUIDED, "solid"), "twin": (TWIN, "dash")}
    traces = []
    for lineage, s in series.items():
        colour, dash = styles[lineage]
        name = "guided" if lineage == "guided" else "unguided"
        traces.append(
            {
                "type": "scatter",
                "x": s["step"],
                "y": s["value"],
                "mode": "lines",
                "name": f"{name} (raw)",
                "line": {"color": colour, "width": 1},
                "opacity": 0.25,
                "showlegend": False,
                "hoverinfo": "skip",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "x": smoothed[lineage]["step"],
                "y": smoothed[lineage]["value"],
                "mode": "lines",
                "name": name,
                "line": {"color": colour, "width": 2, "dash": dash},
                "hovertemplate": f"step %{{x}} · {name}: %{{y:.4g}}<extra></extra>",
            }
        )
    starts = next(iter(series.values()))["starts"] if series else []
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": offset,
            "x1": offset,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#ced4da", "width": 1, "dash": "dot"},
            "layer": "below",
        }
        for _, offset in starts[1:]
    ]
    layout = _layout(
        CURVE_TITLES.get(key, key),
        ".0%" if key == "acc" and not log_y else "",
        hovermode="closest",
        shapes=shapes,
        xaxis={"title": {"text": "training step (dotted: a chunk starts)", "font": SMALL}},
    )
    layout["xaxis"].pop("dtick", None)
    layout["yaxis"]["type"] = "log" if log_y else "linear"
    return go.Figure(traces, layout)


def make_sample_figure(x: np.ndarray, kind: str) -> go.Figure:
    """One raw sample: an image as a grey heatmap, a sequence as a line, else bars."""
    x = np.asarray(x, np.float32)
    hidden = {"visible": False}
    layout = {
        "template": TEMPLATE,
        "height": SAMPLE_HEIGHT,
        "showlegend": False,
        "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
        "xaxis": hidden,
        "yaxis": hidden,
    }
    if kind == "image" and x.ndim == 2:
        trace = {
            "type": "heatmap",
            "z": x,
            "colorscale": "Greys",
            "showscale": False,
            "hoverinfo": "skip",
        }
        layout["yaxis"] = {**hidden, "autorange": "reversed", "scaleanchor": "x"}
    elif kind == "sequence" and x.ndim == 1:
        trace = {
            "type": "scatter",
            "y": x,
            "mode": "lines",
            "hoverinfo": "skip",
            "line": {"color": GUIDED, "width": 2},
        }
    else:
        trace = {"type": "bar", "y": x.ravel(), "marker": {"color": GUIDED}, "hoverinfo": "skip"}
    return go.Figure([trace], layout)
