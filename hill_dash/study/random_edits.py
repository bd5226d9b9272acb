"""The scripted user `random`: the control at the same edit budget.

`RandomEdits` edits random training points, with random edit kinds and targets, on the
same view as the other users; it inspects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hill_dash.engine.edits import Edit
from hill_dash.study.view import PersonView


@dataclass
class RandomEdits:
    """The control at the same budget: random training points, kinds and targets."""

    log: list[dict] = field(default_factory=list)
    name = "random"

    def __call__(self, view: PersonView) -> list[Edit]:
        rng = view.rng
        tr = view.train_idx
        pick = rng.choice(tr, size=min(view.edit_budget, len(tr)), replace=False)
        spread = float(view.coords[tr].std(axis=0).mean()) or 1.0
        edits = []
        for group in np.array_split(pick, int(rng.integers(1, 5))):
            if len(group) == 0:
                continue
            idx = sorted(int(i) for i in group)
            kind = str(rng.choice(["translate", "pull", "compact", "separate"]))
            if kind == "translate":
                dx, dy = rng.uniform(-spread, spread, size=2)
                edits.append(Edit("translate", idx, dx=float(dx), dy=float(dy)))
            elif kind == "pull":
                edits.append(Edit("pull", idx, target_class=int(rng.integers(view.n_classes))))
            elif kind == "compact":
                edits.append(Edit("compact", idx, beta=float(rng.uniform(0.0, 1.0))))
            else:
                rest = np.setdiff1d(tr, group)
                other = rng.choice(rest, size=min(len(group), len(rest)), replace=False)
                edits.append(
                    Edit(
                        "separate",
                        idx,
                        other=sorted(int(i) for i in other),
                        gamma=float(rng.uniform(0.25, 1.0)),
                    )
                )
        self.log.append({"inspected": [], "pulls": []})
        return edits
