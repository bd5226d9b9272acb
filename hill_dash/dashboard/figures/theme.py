"""Light and dark looks for every figure, matching the page's Bootstrap colour mode.

The navbar's `theme-switch` stores "light" or "dark" in the browser (`theme-store`);
a callback that draws figures takes that value and passes it here. Pure: a figure in,
the same figure with the theme's template and line colours out.
"""

from __future__ import annotations

import plotly.graph_objects as go

from hill_dash.dashboard.figures import TEMPLATE, _light_template

THEMES = ("light", "dark")
DARK_BG = "#212529"  # Bootstrap's dark body background: figures sit on the page, not on black


def _dark_template() -> go.layout.Template:
    t = _light_template("plotly_dark")
    t.layout.paper_bgcolor = DARK_BG
    t.layout.plot_bgcolor = DARK_BG
    return t


TEMPLATES = {"light": TEMPLATE, "dark": _dark_template()}
# colours that must stay readable on either background (zero lines, outlines, muted text)
INK = {"light": "#343a40", "dark": "#dee2e6"}
MUTED = {"light": "#6c757d", "dark": "#adb5bd"}


def theme_name(value: object) -> str:
    """ "dark" or "light" from whatever the browser stored (anything else is light)."""
    return "dark" if value == "dark" else "light"


def template(theme: object) -> go.layout.Template:
    return TEMPLATES[theme_name(theme)]


def ink(theme: object) -> str:
    return INK[theme_name(theme)]


def muted(theme: object) -> str:
    return MUTED[theme_name(theme)]


def themed(fig: go.Figure, theme: object) -> go.Figure:
    """`fig` drawn with the theme's template (its own layout settings win)."""
    fig.update_layout(template=template(theme))
    return fig
