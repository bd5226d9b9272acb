"""The scripted user `group-without-names`: tells alike from unlike, never names a class.

`GroupWithoutNames` is the person of the channel a label cannot carry: it can tell from
thumbnails whether points look alike, but not which class they are. It Compacts a pure
unlabelled cluster and Separates the two halves of a mixed one; it uses what it reads only
to compare thumbnails with each other, and its log keeps no label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans

from hill_dash.engine.edits import Edit
from hill_dash.study.map_reading import unlabelled_clusters
from hill_dash.study.view import PersonView


@dataclass
class GroupWithoutNames:
    """The channel a label cannot carry: tell alike from unlike, never name the class.

    Before each chunk it redoes its earlier edits while the budget lasts (`keep`), then
    takes the unlabelled training points' k-means clusters on the map (about
    `cluster_size` points each; the model's most mixed predictions first, as
    `InspectAndPull` does) and reads `per_group` thumbnails of one. What it reads it only
    compares: do these look like the same thing?

    - all alike: Compact the cluster (β = `beta`: "these belong together");
    - not alike: split the lasso in two on the map (k-means halves), read up to
      `per_group` of each; when each half is alike within and the halves differ from each
      other, Separate them (γ = `gamma`: "these two are not the same"); otherwise leave it.

    Its log (`log`: per chunk the inspected indices, with no label, and the selections)
    is all the pseudo-labelling arm gets.
    """

    per_group: int = 3
    cluster_size: int = 25
    beta: float = 0.5
    gamma: float = 1.0
    keep: bool = True
    log: list[dict] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict, repr=False)  # compared, never named

    name = "group-without-names"

    def __call__(self, view: PersonView) -> list[Edit]:
        before = len(view.inspected)
        used: set[int] = set()
        compacts: list[list[int]] = []
        separates: list[tuple[list[int], list[int]]] = []

        def fits(*parts: list[int]) -> bool:
            pts = {i for p in parts for i in p}
            return not (pts & used) and len(used) + len(pts) <= view.edit_budget

        if self.keep:
            for entry in self.log:
                for idx in entry["compacts"]:
                    if fits(idx):
                        used.update(idx)
                        compacts.append(idx)
                for a, b in entry["separates"]:
                    if fits(a, b):
                        used.update(a + b)
                        separates.append((a, b))
        clusters = unlabelled_clusters(view, self.cluster_size)
        for g in clusters:
            if len(used) >= view.edit_budget or view.thumbnails_left == 0:
                break
            idx = [i for i in g.indices if i not in used]
            if len(idx) < 2:
                continue
            alike = self._alike(view, idx)
            if alike is True and fits(idx):
                used.update(idx)
                compacts.append(idx)
            elif alike is False and len(idx) >= 4:
                a, b = self._halves(view, idx)
                if (
                    self._alike(view, a) is True
                    and self._alike(view, b) is True
                    and not self._same(a, b)
                    and fits(a, b)
                ):
                    used.update(a + b)
                    separates.append((a, b))
        self.log.append(
            {
                "inspected": [[i, -1] for i in view.inspected[before:]],  # no label kept
                "compacts": [sorted(c) for c in compacts],
                "separates": [[sorted(a), sorted(b)] for a, b in separates],
            }
        )
        edits = [Edit("compact", sorted(c), beta=self.beta) for c in compacts]
        edits += [
            Edit("separate", sorted(a), other=sorted(b), gamma=self.gamma) for a, b in separates
        ]
        return edits

    def _alike(self, view: PersonView, idx: list[int]) -> bool | None:
        """Read up to `per_group` thumbnails of `idx`; do they all show the same thing?
        None when fewer than two could be read."""
        known = [i for i in idx if i in self._seen]
        need = min(self.per_group, len(idx)) - len(known)
        if need > 0 and view.thumbnails_left > 0:
            unread = [i for i in idx if i not in self._seen]
            pick = view.rng.choice(unread, size=min(need, view.thumbnails_left), replace=False)
            for t in view.inspect(sorted(int(i) for i in pick)):
                self._seen[t.index] = t.label  # used only to compare thumbnails
            known = [i for i in idx if i in self._seen]
        if len(known) < 2:
            return None
        return len({self._seen[i] for i in known}) == 1

    def _same(self, a: list[int], b: list[int]) -> bool:
        ra = {self._seen[i] for i in a if i in self._seen}
        rb = {self._seen[i] for i in b if i in self._seen}
        return bool(ra & rb)

    @staticmethod
    def _halves(view: PersonView, idx: list[int]) -> tuple[list[int], list[int]]:
        arr = np.asarray(idx)
        seed = int(view.rng.integers(2**31))
        parts = KMeans(2, n_init=1, random_state=seed).fit_predict(view.coords[arr])
        return sorted(int(i) for i in arr[parts == 0]), sorted(int(i) for i in arr[parts == 1])
