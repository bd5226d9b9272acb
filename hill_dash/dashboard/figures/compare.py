"""Figures of the Compare page: the guided checkpoint against a baseline at one chunk.

Pure builders: a `CompareView` (or its parts) in, plotly figures out; nothing here
computes a metric or builds a Dash component (`hill_dash.dashboard.compare_view` computes,
the page lays out). Deltas are always guided − baseline. Every map point carries its
global index as its plotly `id`, so a selection in one map can be shown in the other.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from hill_dash.dashboard.annotation_text import bias_note
from hill_dash.dashboard.figures import CLASS_COLOURS, FLAG_RED
from hill_dash.dashboard.figures.theme import DARK_BG, ink, muted, template, theme_name

MAP_HEIGHT = 430
PANEL_HEIGHT = 360
PLAIN_BAR = "#7f8c8d"
UNLABELLED = "#adb5bd"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 40}
# Up to this many points the maps are SVG, so a chunk change animates (points glide to
# their new place); above it WebGL, which redraws without a transition but stays fast.
ANIMATED_POINTS = 6000
UNSELECTED_OPACITY = 0.12
# Plotly.react animates with it. Points first: with "layout first" (the default) a change of
# the axis ranges makes plotly redraw the points at their new place without gliding.
TRANSITION = {"duration": 650, "easing": "cubic-in-out", "ordering": "traces first"}
# red (guided makes fewer) · neutral at 0 · blue (guided makes more); the neutral middle is
# the page background, so unchanged cells recede in either colour mode
DIVERGING = {
    "light": [
        [0.0, "#b2182b"],
        [0.25, "#ef8a62"],
        [0.5, "#f7f7f7"],
        [0.75, "#67a9cf"],
        [1.0, "#2166ac"],
    ],
    "dark": [
        [0.0, "#d6604d"],
        [0.25, "#8c3b30"],
        [0.5, DARK_BG],
        [0.75, "#2f6690"],
        [1.0, "#6baed6"],
    ],
}


# -- the two maps ----------------------------------------------------------------------


def shared_ranges(*coords: np.ndarray, pad: float = 0.05) -> tuple[list[float], list[float]]:
    """x and y ranges that hold every map, so both maps share their axes."""
    allc = np.concatenate([np.asarray(c, dtype=np.float64) for c in coords if c is not None])
    lo, hi = allc.min(axis=0), allc.max(axis=0)
    span = np.maximum(hi - lo, 1e-9) * pad
    return [float(lo[0] - span[0]), float(hi[0] + span[0])], [
        float(lo[1] - span[1]),
        float(hi[1] + span[1]),
    ]


def selected_positions(index: np.ndarray, selected: np.ndarray | None) -> list[int] | None:
    """Positions in one trace (its points are `index`) that are selected; None: no selection."""
    if selected is None:
        return None
    return np.flatnonzero(np.isin(index, selected)).tolist()


def make_lineage_map(
    coords: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    pred: np.ndarray | None,
    label_names: list[str],
    title: str | None,
    ranges: tuple[list[float], list[float]],
    selected: np.ndarray | None = None,
    theme: str = "light",
) -> go.Figure:
    """One checkpoint's latent map: a trace per class, coloured by label.

    `index` holds each point's global index (carried as the point's id), `pred` the class this
    checkpoint predicts for it (shown on hover; None: not shown), `selected` the global
    indices to highlight (the rest greyed), or None for no selection.

    For a map that animates from chunk to chunk, pass `pred=None` and `title=None` (put the
    title beside the graph): Plotly.react animates a change only when everything that
    changes can be animated (positions, axis ranges), not texts.
    """
    scatter = go.Scatter if len(coords) <= ANIMATED_POINTS else go.Scattergl
    names = np.asarray(label_names, dtype=object)
    fig = go.Figure()
    groups = [
        (c, name, CLASS_COLOURS[c % len(CLASS_COLOURS)]) for c, name in enumerate(label_names)
    ]
    groups.append((-1, "unlabelled", UNLABELLED))  # few-labels data: label -1, drawn grey
    for c, name, colour in groups:
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            continue
        said = f"{'label ' * (c >= 0)}{name}" + (" · predicted %{text}" if pred is not None else "")
        fig.add_trace(
            scatter(
                x=coords[idx, 0].tolist(),
                y=coords[idx, 1].tolist(),
                # ids, not customdata: ids animate (the points keep their identity from
                # chunk to chunk), and a selection reads them to find the same points
                ids=[str(i) for i in index[idx]],
                text=None if pred is None else names[pred[idx]].tolist(),
                mode="markers",
                name=name,
                marker={"size": 5, "color": colour, "opacity": 0.8},
                selectedpoints=selected_positions(index[idx], selected),
                unselected={"marker": {"opacity": UNSELECTED_OPACITY}},
                hovertemplate=f"{said}<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": title, "x": 0.02} if title else None,
        height=MAP_HEIGHT if title else MAP_HEIGHT - 12,
        margin=MARGIN if title else MARGIN | {"t": 28},  # room for the mode bar
        template=template(theme),
        legend={"title": "label", "itemsizing": "constant"},
        uirevision="compare-map",  # zoom and legend state survive chunk changes
        dragmode="lasso",
        transition=TRANSITION if scatter is go.Scatter else None,
        xaxis={"range": ranges[0], "showticklabels": False, "zeroline": False},
        yaxis={"range": ranges[1], "showticklabels": False, "zeroline": False},
    )
    return fig


def make_map_pair(
    view,
    titles: tuple[str, str] | None = None,
    selected=None,
    theme: str = "light",
    animated: bool = False,
):
    """(guided, baseline) maps of a CompareView on the same axis ranges; baseline None if absent.

    `animated`: maps that glide from chunk to chunk (no titles, no predictions on hover).
    """
    ranges = shared_ranges(view.coords_g, view.coords_o)
    common = {"index": view.shown, "label_names": view.label_names, "ranges": ranges}
    common |= {"selected": selected, "theme": theme}
    t_g, t_o = (None, None) if animated or titles is None else titles
    p_g, p_o = (None, None) if animated else (view.pred_g, view.pred_o)
    fig_g = make_lineage_map(view.coords_g, view.y, pred=p_g, title=t_g, **common)
    if view.coords_o is None:
        return fig_g, None
    fig_o = make_lineage_map(view.coords_o, view.y, pred=p_o, title=t_o, **common)
    return fig_g, fig_o


# -- per-class deltas and the confusion difference ---------------------------------------


def make_class_delta_figure(
    bias: list[dict], label_names: list[str], other: str = "baseline", theme: str = "light"
) -> go.Figure:
    """Per-class validation accuracy guided − baseline; red = flagged drop, outlined = touched.

    Error bars (±2 s.e.) only where the rows carry a standard error; the hover shows the
    paired test's numbers (gained, lost, adjusted p) where the rows carry them.
    """
    names = [label_names[b["class"]] for b in bias]
    delta = [None if b.get("delta") is None else 100 * b["delta"] for b in bias]
    colours = [FLAG_RED if b.get("flag") else PLAIN_BAR for b in bias]
    outline = [2.5 if b.get("touched") else 0 for b in bias]
    bar = {
        "x": names,
        "y": delta,
        "marker": {"color": colours, "line": {"color": ink(theme), "width": outline}},
        "text": ["edited" if b.get("touched") else "" for b in bias],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertext": [_class_hover(n, d, b) for n, d, b in zip(names, delta, bias, strict=True)],
        "hoverinfo": "text",
        "customdata": [b["class"] for b in bias],
    }
    if any(b.get("se") is not None for b in bias):
        err = [0 if b.get("se") is None else 200 * b["se"] for b in bias]  # ±2 s.e., in pp
        bar["error_y"] = {"type": "data", "array": err, "visible": True, "color": muted(theme)}
    fig = go.Figure(go.Bar(**bar))
    fig.add_hline(y=0, line={"color": ink(theme), "width": 1})
    n_flag = sum(bool(b.get("flag")) for b in bias)
    n_touch = sum(bool(b.get("touched")) for b in bias)
    fig.update_layout(
        title={
            "text": f"Per-class val accuracy<br><sup>guided − {other} · {n_flag} flagged · "
            f"{n_touch} touched</sup>",
            "x": 0.02,
            "font": {"size": 14},
        },
        height=PANEL_HEIGHT,
        margin=MARGIN | {"t": 56},
        template=template(theme),
        showlegend=False,
        # by class slot, not by bar: a class whose accuracy did not change has a bar of no
        # height, which "closest" (plotly's default) never hovers, so it could not be clicked
        hovermode="x",
        xaxis={"title": "class", "type": "category"},
        yaxis={"title": "Δ accuracy (pp)", "zeroline": False},
    )
    return fig


def _class_hover(name: str, delta_pp: float | None, b: dict) -> str:
    notes = [f"class {name}: " + ("–" if delta_pp is None else f"{delta_pp:+.2f} pp")]
    if b.get("gained") is not None and b.get("lost") is not None:
        notes.append(f"{b['gained']} gained, {b['lost']} lost")
    p = b.get("p_adj", b.get("p"))
    if isinstance(p, (int, float)):
        notes.append(f"p = {p:.3g}" + (" (adjusted)" if "p_adj" in b else ""))
    notes += ["flagged drop"] * bool(b.get("flag")) + ["touched by edits"] * bool(b.get("touched"))
    notes += [bias_note(b, [])] * bool(b.get("annotated"))
    return " · ".join(notes)


def _shift_cell(s: dict) -> tuple[int, int] | None:
    """(true, predicted) of a recorded confusion shift, whatever the record calls them."""
    for a, b in (("true", "pred"), ("true", "predicted"), ("from", "to")):
        if isinstance(s.get(a), int) and isinstance(s.get(b), int):
            return s[a], s[b]
    return None


def make_confusion_diff_figure(
    conf_g: list[list[int]],
    conf_o: list[list[int]],
    label_names: list[str],
    other: str = "baseline",
    shifts: list[dict] | None = None,
    theme: str = "light",
) -> go.Figure:
    """Validation confusion counts guided − baseline, on a diverging scale centred on 0.

    Flagged confusion shifts (as the engine recorded them) are outlined in red.
    """
    diff = np.asarray(conf_g, dtype=np.int64) - np.asarray(conf_o, dtype=np.int64)
    top = max(1, int(np.abs(diff).max()))
    fig = go.Figure(
        go.Heatmap(
            z=diff.tolist(),
            x=label_names,
            y=label_names,
            colorscale=DIVERGING[theme_name(theme)],
            zmid=0,
            zmin=-top,
            zmax=top,
            text=[[f"{v:+d}" if v else "" for v in row] for row in diff.tolist()],
            texttemplate="%{text}",
            hovertemplate="true %{y} predicted as %{x}: %{z:+d}<br>click to select these points"
            "<extra></extra>",
            colorbar={"title": "Δ count", "thickness": 12},
        )
    )
    for s in shifts or []:
        cell = _shift_cell(s)
        if cell and s.get("flag"):
            t, p = cell
            fig.add_shape(
                type="rect",
                x0=p - 0.5,
                x1=p + 0.5,
                y0=t - 0.5,
                y1=t + 0.5,
                xref="x",
                yref="y",
                line={"color": FLAG_RED, "width": 3},
            )
    fig.update_layout(
        title={
            "text": f"Validation confusion<br><sup>guided − {other}</sup>",
            "x": 0.02,
            "font": {"size": 14},
        },
        height=PANEL_HEIGHT,
        margin=MARGIN | {"t": 56},
        template=template(theme),
        xaxis={"title": "predicted", "type": "category"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return fig
