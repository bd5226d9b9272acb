"""Scripted users for the scenarios: they act only on what a person sees (`PersonView`).

`USERS` names them for the studies (`--user`):

- `inspect-and-pull` (`inspect_and_pull.InspectAndPull`): one person for every scenario,
  who inspects suspicious groups on the map and pulls those whose thumbnails agree;
- `group-without-names` (`group_without_names.GroupWithoutNames`): the channel a label
  cannot carry, which tells alike from unlike and never names the class;
- `random` (`random_edits.RandomEdits`): the control at the same edit budget.

What they read off the map (regions, unlabelled clusters, lassos) is `map_reading`.
"""

from __future__ import annotations

from hill_dash.study.group_without_names import GroupWithoutNames
from hill_dash.study.inspect_and_pull import InspectAndPull
from hill_dash.study.random_edits import RandomEdits

USERS = {
    "inspect-and-pull": InspectAndPull,
    "group-without-names": GroupWithoutNames,
    "random": RandomEdits,
}
