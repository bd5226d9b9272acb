"""A second app in the same process has every callback the first has (tests build many):
the page helper modules (`pages/_*.py`) register their callbacks when they run, so
`create_app` lets Dash import them afresh."""

from __future__ import annotations


def test_a_second_app_in_one_process_has_every_callback(tmp_path):
    from app import create_app
    from hill_dash.dashboard.config import AppConfig

    counts = []
    for name in ("a", "b"):
        app = create_app(AppConfig(data_dir=tmp_path / name, projection_warmup=False))
        deps = app.server.test_client().get("/_dash-dependencies").get_json()
        counts.append({d["output"] for d in deps})
    assert len(counts[0]) > 40
    # sets: a module another test imported on its own registers its callbacks once more
    # into Dash's global list, and the next app takes them along
    assert counts[0] == counts[1]
