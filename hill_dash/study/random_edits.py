"""The scripted user `random`: the control at the same edit budget.

`RandomEdits` edits random training points, with random edit kinds and targets, on the
same view as the other users; it inspects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hill_dash.engine.edits import Edit
from hill_dash.study.strategies import random_kind_edits
from hill_dash.study.view import PersonView


@dataclass
class RandomEdits:
    """The control at the same budget: random training points, kinds and targets."""

    log: list[dict] = field(default_factory=list)
    name = "random"

    def __call__(self, view: PersonView) -> list[Edit]:
        edits = random_kind_edits(
            view.rng, view.train_idx, view.edit_budget, view.coords, view.n_classes
        )
        self.log.append({"inspected": [], "pulls": []})
        return edits
