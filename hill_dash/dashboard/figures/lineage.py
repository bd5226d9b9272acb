"""Figures of a run's lineage: the checkpoint tree and validation accuracy per chunk.

Pure builders: rows from `hill_dash.dashboard.runs_view` in, plotly figures out. The guided
lineage is drawn in the strong colour, the unguided lineage grey and dashed, and each
counterfactual chunk as a short dotted side branch from the guided checkpoint it started at.
"""

from __future__ import annotations

import plotly.graph_objects as go

from hill_dash.dashboard.figures import GUIDED, TWIN
from hill_dash.dashboard.figures.theme import ink, muted, template

COUNTERFACTUAL = "#e67e22"  # the counterfactual chunks: orange, dotted
ROWS = {"guided": 2, "counterfactual": 1, "root": 1, "twin": 0}
STYLE = {
    "guided": {"color": GUIDED, "dash": "solid", "name": "guided"},
    "twin": {"color": TWIN, "dash": "dash", "name": "unguided lineage"},
    "counterfactual": {"color": COUNTERFACTUAL, "dash": "dot", "name": "counterfactual chunk"},
    "root": {"color": GUIDED, "dash": "solid", "name": "root"},
}
MARGIN = {"l": 30, "r": 10, "t": 40, "b": 30}


def _acc(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def make_lineage_graph(nodes: list[dict], height: int = 240, theme: str = "light") -> go.Figure:
    """The checkpoint tree: x = chunk, one row per lineage, an edge from each parent.

    Each node carries its checkpoint id as customdata (a click can pick it).
    """
    at = {n["checkpoint"]: (n["chunk"], ROWS.get(n["lineage"], 1)) for n in nodes}
    fig = go.Figure()
    for lineage, style in STYLE.items():
        if lineage == "root":
            continue
        xs: list = []
        ys: list = []
        for n in nodes:
            if n["lineage"] == lineage and n["parent"] in at:
                (x0, y0), (x1, y1) = at[n["parent"]], at[n["checkpoint"]]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": style["color"], "dash": style["dash"], "width": 2},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    for lineage, style in STYLE.items():
        group = [n for n in nodes if n["lineage"] == lineage]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[n["chunk"] for n in group],
                y=[ROWS.get(lineage, 1) for n in group],
                mode="markers+text",
                name=style["name"],
                text=[n["checkpoint"] for n in group],
                textposition="top center",
                customdata=[n["checkpoint"] for n in group],
                marker={
                    "size": 13,
                    "color": style["color"],
                    "line": {"color": ink(theme), "width": 1},
                },
                hovertext=[
                    f"{n['checkpoint']} · {n['name']} · chunk {n['chunk']} · "
                    f"val acc {_acc(n['val_acc'])}"
                    for n in group
                ],
                hoverinfo="text",
                showlegend=lineage != "root",
            )
        )
    n_chunks = max((n["chunk"] for n in nodes), default=0)
    fig.update_layout(
        height=height,
        margin=MARGIN,
        template=template(theme),
        legend={"orientation": "h", "y": -0.15, "x": 0},
        xaxis={
            "title": None,
            "tickmode": "array",
            "tickvals": list(range(n_chunks + 1)),
            "ticktext": [f"chunk {k}" for k in range(n_chunks + 1)],
            "range": [-0.4, n_chunks + 0.4],
            "zeroline": False,
        },
        yaxis={"visible": False, "range": [-0.5, 2.6]},
        title={
            "text": "Lineage (click a checkpoint to fork from it)",
            "x": 0.01,
            "font": {"size": 13},
        },
    )
    return fig


def make_chunk_curves(rows: list[dict], height: int = 320, theme: str = "light") -> go.Figure:
    """Validation accuracy per chunk: guided, unguided lineage, counterfactual chunks."""
    series = (
        ("val_acc_guided", "guided", GUIDED, "solid", "lines+markers"),
        ("val_acc_unguided_lineage", "unguided lineage", TWIN, "dash", "lines+markers"),
        ("val_acc_counterfactual_chunk", "counterfactual chunk", COUNTERFACTUAL, "dot", "markers"),
    )
    fig = go.Figure()
    for key, name, colour, dash, mode in series:
        pts = [(r["chunk"], r[key]) for r in rows if r.get(key) is not None]
        if key == "val_acc_unguided_lineage" and rows and rows[0].get("val_acc_guided") is not None:
            pts = [(rows[0]["chunk"], rows[0]["val_acc_guided"]), *pts]  # both start at c0
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                name=name,
                mode=mode,
                line={"color": colour, "dash": dash, "width": 2},
                marker={
                    "size": 8,
                    "color": colour,
                    "symbol": "diamond" if mode == "markers" else "circle",
                },
                hovertemplate=f"{name}<br>chunk %{{x}}: %{{y:.2%}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin=MARGIN | {"t": 36},
        template=template(theme),
        title={"text": "Validation accuracy per chunk", "x": 0.01, "font": {"size": 13}},
        xaxis={"title": "chunk", "dtick": 1},
        yaxis={"title": "validation accuracy", "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.25, "x": 0, "font": {"color": muted(theme)}},
    )
    return fig
