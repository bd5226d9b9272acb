"""HILL Dash: steer a neural network's training through its latent space.

    from hill_dash import Session

The packages show the plan: `hill_dash.engine` (data, models, teacher, training, maps,
metrics, run store; no Dash), `hill_dash.dashboard` (what the Dash pages call) and
`hill_dash.study` (scripted users against controls). `Session` is the notebook entry
point and `python -m hill_dash` the command line.
"""

__version__ = "0.1.0"
__all__ = ["Session"]


def __getattr__(name: str):
    # lazy: importing the package (e.g. for the dashboard's config) must not load torch
    if name == "Session":
        from hill_dash.session import Session

        return Session
    raise AttributeError(f"module 'hill_dash' has no attribute {name!r}")
