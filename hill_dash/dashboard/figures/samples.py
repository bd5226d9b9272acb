"""The Data page's preview: one training sample per class, drawn small.

Images become grey heatmaps with square pixels in one row, or colour pictures when they
have 3 or 4 channels; 1-D samples become small curves in the class colours, at most five to
a row. Unlabelled training points (label -1) are never picked.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hill_dash.dashboard.figures import CLASS_COLOURS, TEMPLATE
from hill_dash.dashboard.figures.panels import placeholder_figure
from hill_dash.dashboard.thumbnails import image_bytes, image_range
from hill_dash.engine.data import Dataset


def make_samples_figure(data: Dataset, max_classes: int = 10) -> go.Figure:
    """One training sample per class: small images, or small curves for 1-D samples."""
    firsts = [np.flatnonzero(data.y_train == c)[:1] for c in range(data.n_classes)]
    picks = [(c, int(idx[0])) for c, idx in enumerate(firsts) if len(idx)][:max_classes]
    if not picks:
        return placeholder_figure("no samples")
    if data.kind == "image":
        return _image_row(data, picks)
    return _curve_grid(data, picks)


def _image_row(data: Dataset, picks: list[tuple[int, int]]) -> go.Figure:
    """One grey heatmap (or colour picture) per (class, row index) pick, side by side."""
    fig = make_subplots(
        rows=1,
        cols=len(picks),
        horizontal_spacing=0.01,
        subplot_titles=[data.label_names[c] for c, _ in picks],
    )
    colour = len(data.sample_shape) == 3 and data.sample_shape[0] in (3, 4)
    value_range = image_range(data.X_train[[i for _, i in picks]]) if colour else None
    for j, (_, i) in enumerate(picks, start=1):
        x = data.X_train[i]
        if colour:
            trace = go.Image(z=image_bytes(x, value_range), hoverinfo="skip")
        else:
            z = x if x.ndim == 2 else x[0]  # (C, H, W) without colour: the first channel
            trace = go.Heatmap(z=z.tolist(), colorscale="Greys", showscale=False, hoverinfo="skip")
        fig.add_trace(trace, row=1, col=j)
    for j in range(1, len(picks) + 1):  # square pixels in every small image
        fig.update_yaxes(scaleanchor=f"x{j if j > 1 else ''}", row=1, col=j)
    fig.update_yaxes(autorange="reversed", visible=False)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_layout(height=150, margin={"l": 5, "r": 5, "t": 25, "b": 5}, template=TEMPLATE)
    return fig


def _curve_grid(data: Dataset, picks: list[tuple[int, int]]) -> go.Figure:
    """One line per (class, row index) pick in the class colour, five to a row."""
    cols = min(len(picks), 5)
    rows = -(-len(picks) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=0.12,
        subplot_titles=[data.label_names[c] for c, _ in picks],
    )
    for j, (c, i) in enumerate(picks):
        fig.add_trace(
            go.Scatter(
                y=data.X_train[i].reshape(-1).tolist(),
                mode="lines",
                line={"color": CLASS_COLOURS[c % len(CLASS_COLOURS)], "width": 1.5},
                hoverinfo="skip",
            ),
            row=j // cols + 1,
            col=j % cols + 1,
        )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        height=110 * rows + 20,
        margin={"l": 5, "r": 5, "t": 25, "b": 5},
        template=TEMPLATE,
        showlegend=False,
    )
    return fig
