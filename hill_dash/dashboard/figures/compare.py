"""Figures of the compare page: the guided run against its unguided twin at one chunk.

Pure functions: metric records (as `RunStore.metrics` returns them) and map
arrays in, plotly figures or a dbc.Table out. Deltas are always guided − twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import html

from hill_dash.dashboard.figures import CLASS_COLOURS, FLAG_RED, TEMPLATE
from hill_dash.engine import metrics as M

MAP_HEIGHT = 430
PANEL_HEIGHT = 360
PLAIN_BAR = "#7f8c8d"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 40}


# -- the two maps ----------------------------------------------------------------


def shared_ranges(*coords: np.ndarray, pad: float = 0.05) -> tuple[list[float], list[float]]:
    """x and y ranges that hold every map, so both maps share their axes."""
    allc = np.concatenate([np.asarray(c, dtype=np.float64) for c in coords])
    lo, hi = allc.min(axis=0), allc.max(axis=0)
    span = np.maximum(hi - lo, 1e-9) * pad
    return [float(lo[0] - span[0]), float(hi[0] + span[0])], [
        float(lo[1] - span[1]),
        float(hi[1] + span[1]),
    ]


def make_lineage_map(
    coords: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    title: str,
    x_range: list[float],
    y_range: list[float],
) -> go.Figure:
    """One lineage's latent map: a Scattergl trace per class, coloured by label."""
    fig = go.Figure()
    for c, name in enumerate(label_names):
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            continue
        fig.add_trace(
            go.Scattergl(
                x=coords[idx, 0].tolist(),
                y=coords[idx, 1].tolist(),
                mode="markers",
                name=name,
                marker={"size": 5, "color": CLASS_COLOURS[c % len(CLASS_COLOURS)], "opacity": 0.8},
                hovertemplate=f"label {name}<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": title, "x": 0.02},
        height=MAP_HEIGHT,
        margin=MARGIN,
        template=TEMPLATE,
        legend={"title": "label", "itemsizing": "constant"},
        uirevision="compare-map",
        xaxis={"range": x_range, "showticklabels": False, "zeroline": False},
        yaxis={"range": y_range, "showticklabels": False, "zeroline": False},
    )
    return fig


def make_map_pair(
    coords_g: np.ndarray,
    coords_u: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    shown: np.ndarray,
    titles: tuple[str, str],
):
    """(guided, twin) maps of the `shown` points on the same axis ranges."""
    cg, cu, y = coords_g[shown], coords_u[shown], labels[shown]
    xr, yr = shared_ranges(cg, cu)
    return (
        make_lineage_map(cg, y, label_names, titles[0], xr, yr),
        make_lineage_map(cu, y, label_names, titles[1], xr, yr),
    )


# -- the metrics table -----------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    percent: bool = False  # shown as % (deltas in percentage points)
    better: int = 0  # +1 higher is better, -1 lower is better, 0 neither


TABLE_METRICS = (
    MetricSpec("train_acc", "train accuracy", percent=True, better=+1),
    MetricSpec("val_acc", "validation accuracy", percent=True, better=+1),
    MetricSpec("val_loss", "validation loss", better=-1),
    MetricSpec("gap", "validation gap (train − val)", percent=True, better=-1),
    MetricSpec("drift_edited", "drift of edited points"),
    MetricSpec("drift_rest", "drift of the rest"),
    MetricSpec("cka", "CKA to previous latents"),
    MetricSpec("adherence", "teacher adherence", better=+1),
)


def record_values(rec: dict) -> dict:
    """The table's metrics of one checkpoint record (None when not recorded)."""
    drift = rec.get("drift") or {}
    return {
        "train_acc": rec.get("train", {}).get("acc"),
        "val_acc": rec.get("val", {}).get("acc"),
        "val_loss": rec.get("val", {}).get("loss"),
        "gap": rec.get("gap"),
        "drift_edited": drift.get("edited"),
        "drift_rest": drift.get("rest"),
        "cka": rec.get("cka"),
        "adherence": rec.get("adherence"),
    }


def drift_on_same_points(point_drift: np.ndarray, edited: np.ndarray) -> dict:
    """Mean per-point drift over the guided run's edited points and over the rest.

    The twin edits nothing, so its own record has no "edited" drift; measured on
    the points the guided run edited, the two lineages compare like for like.
    """
    d = np.asarray(point_drift, dtype=np.float64)
    edited = np.asarray(edited, dtype=bool)
    return {
        "drift_edited": float(d[edited].mean()) if edited.any() else None,
        "drift_rest": float(d[~edited].mean()) if (~edited).any() else None,
    }


def compare_rows(guided: dict, twin: dict, twin_drift: dict | None = None) -> list[dict]:
    """Table rows {key, metric, guided, twin, delta}; delta = guided − twin or None."""
    g, u = record_values(guided), record_values(twin) | (twin_drift or {})
    rows = []
    for spec in TABLE_METRICS:
        a, b = g[spec.key], u[spec.key]
        delta = a - b if a is not None and b is not None else None
        rows.append({"key": spec.key, "metric": spec.label, "guided": a, "twin": b, "delta": delta})
    return rows


def _fmt(value: float | None, spec: MetricSpec, signed: bool = False) -> str:
    if value is None:
        return "–"
    if spec.percent:
        return f"{100 * value:+.2f} pp" if signed else f"{100 * value:.2f} %"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _delta_class(delta: float | None, spec: MetricSpec) -> str:
    if delta is None or spec.better == 0 or delta == 0:
        return ""
    return "text-success" if delta * spec.better > 0 else "text-danger"


def make_compare_table(
    rows: list[dict], guided_ck: str, twin_ck: str, table_id: str = "compare-table"
) -> dbc.Table:
    """Guided vs twin per metric, with the delta coloured where better/worse is clear."""
    specs = {s.key: s for s in TABLE_METRICS}
    head = html.Thead(
        html.Tr(
            [
                html.Th("metric"),
                html.Th(f"guided {guided_ck}"),
                html.Th(f"twin {twin_ck}"),
                html.Th("Δ guided − twin"),
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r["metric"]),
                    html.Td(_fmt(r["guided"], specs[r["key"]])),
                    html.Td(_fmt(r["twin"], specs[r["key"]])),
                    html.Td(
                        _fmt(r["delta"], specs[r["key"]], signed=True),
                        className=_delta_class(r["delta"], specs[r["key"]]),
                    ),
                ],
                id=f"compare-row-{r['key']}",
            )
            for r in rows
        ]
    )
    return dbc.Table(
        [head, body],
        id=table_id,
        bordered=False,
        hover=True,
        size="sm",
        striped=True,
        className="mb-1",
    )


# -- per-class deltas and the confusion difference ---------------------------------


def class_deltas(guided: dict, twin: dict) -> list[dict]:
    """The guided record's bias flags, or the same computed from both records."""
    if guided.get("bias"):
        return guided["bias"]
    counts = [int(sum(row)) for row in guided["val"]["confusion"]]
    return M.bias_flags(guided["val"]["per_class"], twin["val"]["per_class"], counts, [])


def make_class_delta_figure(bias: list[dict], label_names: list[str]) -> go.Figure:
    """Per-class validation accuracy guided − twin; red = flagged drop, outlined = edited."""
    names = [label_names[b["class"]] for b in bias]
    delta = [None if b["delta"] is None else 100 * b["delta"] for b in bias]
    err = [0 if b["se"] is None else 200 * b["se"] for b in bias]  # ±2 s.e., in pp
    colours = [FLAG_RED if b["flag"] else PLAIN_BAR for b in bias]
    outline = [2.5 if b["touched"] else 0 for b in bias]
    hover = [_class_hover(n, d, b) for n, d, b in zip(names, delta, bias, strict=True)]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=delta,
            marker={"color": colours, "line": {"color": "#212529", "width": outline}},
            text=["edited" if b["touched"] else "" for b in bias],
            textposition="outside",
            cliponaxis=False,
            error_y={"type": "data", "array": err, "visible": True, "color": "#adb5bd"},
            hovertext=hover,
            hoverinfo="text",
        )
    )
    fig.add_hline(y=0, line={"color": "#343a40", "width": 1})
    n_flag = sum(b["flag"] for b in bias)
    n_touch = sum(b["touched"] for b in bias)
    fig.update_layout(
        title={
            "text": f"Per-class val accuracy, guided − twin ({n_flag} flagged, {n_touch} touched)",
            "x": 0.02,
            "font": {"size": 14},
        },
        height=PANEL_HEIGHT,
        margin=MARGIN,
        template=TEMPLATE,
        showlegend=False,
        xaxis={"title": "class", "type": "category"},
        yaxis={"title": "Δ accuracy (pp, ±2 s.e.)", "zeroline": False},
    )
    return fig


def _class_hover(name: str, delta_pp: float | None, b: dict) -> str:
    notes = [f"class {name}: " + ("–" if delta_pp is None else f"{delta_pp:+.2f} pp")]
    notes += ["flagged drop"] * b["flag"] + ["touched by edits"] * b["touched"]
    return " · ".join(notes)


def make_confusion_diff_figure(
    conf_g: list[list[int]], conf_u: list[list[int]], label_names: list[str]
) -> go.Figure:
    """Validation confusion counts guided − twin, on a diverging scale centred on 0."""
    diff = np.asarray(conf_g, dtype=np.int64) - np.asarray(conf_u, dtype=np.int64)
    top = max(1, int(np.abs(diff).max()))
    fig = go.Figure(
        go.Heatmap(
            z=diff.tolist(),
            x=label_names,
            y=label_names,
            colorscale="RdBu",
            zmid=0,
            zmin=-top,
            zmax=top,
            text=[[f"{v:+d}" if v else "" for v in row] for row in diff.tolist()],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z:+d}<extra></extra>",
            colorbar={"title": "Δ count", "thickness": 12},
        )
    )
    fig.update_layout(
        title={"text": "Validation confusion, guided − twin", "x": 0.02, "font": {"size": 14}},
        height=PANEL_HEIGHT,
        margin=MARGIN,
        template=TEMPLATE,
        xaxis={"title": "predicted", "type": "category"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return fig
