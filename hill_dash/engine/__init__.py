"""The engine: data, models, the teacher, training chunks, maps, metrics and the run store.

No Dash and no Plotly here: everything in this package runs in a notebook, a CLI, a
background job or a Celery worker. The dashboard (`hill_dash.dashboard`) and the study
(`hill_dash.study`) build on it; it imports neither.
"""
