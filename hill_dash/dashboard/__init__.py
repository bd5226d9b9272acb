"""The dashboard's server side: what the pages call (reads, selection, previews, jobs, figures).

Imports flow one way: `pages/` → `hill_dash.dashboard` → `hill_dash.engine`.
"""
