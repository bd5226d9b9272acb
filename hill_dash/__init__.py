"""HILL Dash: steer a neural network's training through its latent space.

The engine (data, models, teacher, training, projection, metrics, store) is
importable and usable without Dash running; `hill_dash.session.Session` is the
notebook-friendly entry point and `python -m hill_dash` the command line.
"""

__version__ = "0.1.0"
