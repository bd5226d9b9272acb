"""The scripted-user study: strategies that edit like a person would, run against controls.

`runner` trains the runs, `report` turns them into paired differences and plots;
`strategies` are the first study's edit strategies, `users` the scripted users of the
scenario and fair studies (`inspect_and_pull`, `group_without_names`, `random_edits`,
reading the map through `map_reading`); `fair` runs the fair study, its arms' edits in
`fair_arms`, its provenance in `provenance`. Builds on `hill_dash.engine` only.
"""
