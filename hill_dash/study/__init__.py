"""The scripted-user study: strategies that edit like a person would, run against controls.

`runner` trains the runs, `report` turns them into paired differences and plots,
`strategies` are the scripted users. Builds on `hill_dash.engine` only.
"""
