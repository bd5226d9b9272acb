"""Layout pieces the pages share: a card with a title, a labelled column, an error alert.

Not a page: Dash's page loader skips files whose name begins with "_".
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash.development.base_component import Component


def _class(name: str | None) -> dict:
    """className only when given, so a card without one renders exactly as before."""
    return {} if name is None else {"className": name}


def titled_card(
    title: str | Component | list,
    body: Component | list,
    *,
    class_name: str | None = None,
    header_class: str | None = None,
    body_class: str | None = None,
    body_style: dict | None = None,
) -> dbc.Card:
    """A card: a header with `title` over a body holding `body`."""
    style = {} if body_style is None else {"style": body_style}
    return dbc.Card(
        [
            dbc.CardHeader(title, **_class(header_class)),
            dbc.CardBody(body, **_class(body_class), **style),
        ],
        **_class(class_name),
    )


def labelled_col(
    label: str | Component, control: Component, *, label_class: str | None = None, **col: object
) -> dbc.Col:
    """A grid column (`col`: md=, width=) with a label over its control (for= its id)."""
    label_el = dbc.Label(label, html_for=control.id, **_class(label_class))
    return dbc.Col([label_el, control], **col)


def error_alert(exc: Exception) -> dbc.Alert:
    """What a failed action says: the error's own message, in red."""
    return dbc.Alert(str(exc), color="danger")


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 chunk', '2 chunks', '1,000 points' (`many`: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
