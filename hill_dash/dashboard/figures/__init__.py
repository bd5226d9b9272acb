"""Pure figure builders: arrays and metric records in, plotly figures out.

The shared look lives here so every page draws the guided run and its twin the same way:
guided in a strong colour, the unguided twin grey and dashed, bias flags red.
"""

import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

GUIDED = "#1f5fbf"  # the guided run: strong blue
TWIN = "#8a8f98"  # the unguided twin: grey (drawn dashed)
FLAG_RED = "#d62728"  # a class that dropped beyond noise
CLASS_COLOURS = qualitative.T10 + qualitative.Alphabet


def _light_template(name: str = "plotly_white") -> go.layout.Template:
    """The layout part of a plotly template: the same look, built ~2x faster.

    Setting a full template by name costs ~10 ms per figure (its per-trace defaults
    are copied and validated); the callbacks build several figures per request.
    """
    layout = pio.templates[name].layout.to_plotly_json()
    keep = (
        "annotationdefaults",
        "colorway",
        "font",
        "hoverlabel",
        "hovermode",
        "paper_bgcolor",
        "plot_bgcolor",
        "shapedefaults",
        "title",
        "xaxis",
        "yaxis",
    )
    return go.layout.Template(layout={k: layout[k] for k in keep if k in layout})


TEMPLATE = _light_template()  # "plotly_white", layout part only
