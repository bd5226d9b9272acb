"""The scripted user `inspect-and-pull`: inspects suspicious groups, pulls those it reads.

`InspectAndPull` is one person for every scenario; it does not know which scenario it
is in. Before each chunk it

0. pulls again what it pulled in earlier chunks, group by group (`keep_pulls`: a teacher
   acts for one chunk, a person who put a group somewhere wants it kept there);
1. reads the map: for every labelled training point, the class of the region it sits in
   (the majority label of its nearest validation points on the map, and of its nearest
   labelled points of either split; validation labels are shown and are never noisy);
2. lists suspicious groups, as a person would lasso them:
   - *out of place*: training points coloured c sitting in the region of class d ≠ c,
     one group per (c, d) (a decoy minority sits with the class its decoy names; a
     mislabelled sub-cluster sits where validation points of its true class are);
   - *unlabelled clusters*: k-means clusters of the unlabelled training points on the map
     (about `cluster_size` points each);
   out-of-place groups biggest first and the unlabelled clusters where the model's
   predictions are most mixed first (the model is least sure there), taking turns;
3. inspects `per_group` thumbnails of a group (up to twice as many when they disagree;
   at most `view.thumbnails` per chunk; it remembers what it read in earlier chunks; in
   its first chunk it also looks at `typical` typical points of each class, the ones
   nearest the centre of their colour on the map);
4. pulls a group whose reads agree (at least `agree` of them name one class t) to class
   t, α = 1: every point of the group except those it read as something else, and each of
   those to the class it read. A group read as the colour it is shown in is pulled home
   only when its thumbnails show a mark naming the region it sits in (a decoy; `MarkReader`:
   what mark names which class is *learned* from the thumbnails it has read, never told),
   else left alone (its labels are right). Mixed reads: the lasso is split in two on the
   map and each half decided again; in the end only the points read are pulled. Once it
   has confirmed `trust_after` decoy groups (read as their colour, marked with their
   region's mark), it knows the pattern and pulls further out-of-place groups home
   without reading them. It stops looking when `view.edit_budget` training points are
   used.

What it reads: the map coordinates, the labels shown, the predictions (only to order
unlabelled clusters), the splits, and `view.inspect` (raw input and the label a person
reads from the thumbnail). It never reads groups, latents, the test split or a true label
it did not inspect, and it imports nothing from the scenario generator (no patch table,
no bump positions: a test checks). `trust_after` is 0 (never pull unread) by default;
pulling out-of-place groups home unread, after `trust_after` confirmed decoys (5 in a
disclosed sensitivity run), rests on the same things: where the group sits on the map,
the colour it is shown in, and the marks it saw on earlier thumbnails (the log names such
pulls "unread").
Its memory of reads (`reads`) and of the groups it pulled (`log`) is what the study's
annotation controls are given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.cluster import KMeans

from hill_dash.engine.edits import Edit
from hill_dash.study.map_reading import Group, region_of, unlabelled_clusters
from hill_dash.study.view import PersonView


class MarkReader:
    """What a person learns about marks from the thumbnails they have read.

    A person who reads thumbnails of points sitting in the region of their own class sees,
    after a few, that every class has its spot: a small bright square, a narrow spike. This
    learns it, from nothing but those thumbnails and the labels read from them:

    - a thumbnail's *spots*: for images the mean of every 2×2 window, for signals the
      height of every value over the mean of its neighbours two steps either side;
    - a class's spot position: where its thumbnails' spots are brightest compared with
      every other class read so far (argmax of mean − the other classes' highest mean),
      with that margin as its strength;
    - a thumbnail shows the mark of class d when its spot at d's position is at least half
      of d's strength above the other classes' mean there; of several, the strongest.

    Nothing is known in advance: no positions, no sizes of the planted mark. On data
    without marks the positions are wherever classes happen to differ, and `read` seldom
    agrees with a region over several thumbnails, which is what a decoy decision needs.
    """

    def __init__(self) -> None:
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self._fitted: tuple | None = None

    @staticmethod
    def spots(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim >= 2:
            img = x.reshape(x.shape[-2:])
            return (img[:-1, :-1] + img[1:, :-1] + img[:-1, 1:] + img[1:, 1:]).ravel() / 4
        v = x.reshape(-1)
        pad = np.pad(v, 2, mode="edge")
        return v - (pad[:-4] + pad[4:]) / 2

    def learn(self, x: np.ndarray, label: int) -> None:
        f = self.spots(x)
        self.sums[label] = self.sums.get(label, 0.0) + f
        self.counts[label] = self.counts.get(label, 0) + 1
        self._fitted = None

    def _fit(self) -> tuple:
        if self._fitted is None:
            classes = sorted(self.sums)
            means = np.stack([self.sums[c] / self.counts[c] for c in classes])
            pos, base, strength = {}, {}, {}
            for k, c in enumerate(classes):
                others = np.delete(means, k, axis=0)
                top = others.max(0) if len(others) else np.zeros(means.shape[1])
                margin = means[k] - top
                p = int(np.argmax(margin))
                pos[c], strength[c] = p, float(margin[p])
                base[c] = float(others[:, p].mean()) if len(others) else 0.0
            self._fitted = (pos, base, strength)
        return self._fitted

    def read(self, x: np.ndarray) -> int | None:
        """The class whose learned mark this thumbnail shows, None if none (or nothing
        learned yet)."""
        if len(self.sums) < 2:
            return None
        pos, base, strength = self._fit()
        f = self.spots(x)
        best, score = None, 0.0
        for c, p in pos.items():
            if strength[c] <= 0:
                continue
            s = (f[p] - base[c]) / strength[c]
            if s >= 0.5 and s > score:
                best, score = c, s
        return best


@dataclass
class InspectAndPull:
    """Inspect suspicious groups on the map, pull those whose thumbnails agree."""

    per_group: int = 3  # thumbnails read per group before deciding
    agree: float = 0.8  # share of a group's reads that must name one class
    cluster_size: int = 25  # unlabelled points per k-means cluster on the map
    alpha: float = 1.0
    reads: dict[int, int] = field(default_factory=dict)  # index -> label read, all chunks
    marks: dict[int, int | None] = field(default_factory=dict)  # index -> mark seen on it
    keep_pulls: bool = True  # pull again, every chunk, what it pulled in earlier chunks
    trust_after: int = 0  # decoy groups confirmed before out-of-place ones are pulled unread
    typical: int = 2  # typical points read per class in the first chunk (marks are learned)
    mark_reader: MarkReader = field(default_factory=MarkReader)
    decoys_seen: int = 0
    log: list[dict] = field(default_factory=list)  # per chunk: inspected, pulls

    name = "inspect-and-pull"

    def __call__(self, view: PersonView) -> list[Edit]:
        inspected_before = len(view.inspected)
        if not self.log:
            self._look_at_typical_points(view)
        pulls: list[tuple[list[int], int, Group]] = []
        used: set[int] = set()
        if self.keep_pulls:  # what it pulled before, pulled again: "keep them there"
            for entry in self.log:
                for p in entry["pulls"]:
                    members = [i for i in p["indices"] if i not in used]
                    if members and len(used) + len(members) <= view.edit_budget:
                        used.update(members)
                        pulls.append((members, p["target"], Group(members, "kept", -1, -1)))
        for group in self.groups(view):
            if len(used) >= view.edit_budget:
                break  # no edit budget left: no point in looking further
            unread = self._trusts(group)
            for members, cls in self._decide(view, group):
                members = [i for i in members if i not in used]
                if not members or len(used) + len(members) > view.edit_budget:
                    continue
                used.update(members)
                pulls.append((members, cls, replace(group, kind="unread") if unread else group))
        edits = [
            Edit("pull", sorted(m), target_class=int(c), alpha=self.alpha) for m, c, _ in pulls
        ]
        self.log.append(
            {
                "inspected": [[i, self.reads[i]] for i in view.inspected[inspected_before:]],
                "pulls": [
                    {"indices": sorted(m), "target": int(c), "kind": g.kind, "shown": g.shown}
                    for m, c, g in pulls
                ],
            }
        )
        return edits

    # -- what the person looks at -------------------------------------------------------

    def groups(self, view: PersonView) -> list[Group]:
        """Suspicious groups on the map, biggest first (ties: by colour and region)."""
        train = view.train_idx
        labelled = np.flatnonzero(view.labels >= 0)
        val = np.flatnonzero(view.split == "val")
        by_val = region_of(view, val)
        by_all = region_of(view, labelled)
        shown = view.labels
        out: dict[tuple[int, int], list[int]] = {}
        for i in train[shown[train] >= 0]:
            for region in dict.fromkeys((int(by_val[i]), int(by_all[i]))):
                if region >= 0 and region != shown[i]:
                    out.setdefault((int(shown[i]), region), []).append(int(i))
                    break
        groups = [Group(idx, "out of place", c, d) for (c, d), idx in out.items()]
        groups.sort(key=lambda g: (-len(g.indices), g.shown, g.region))
        # unlabelled clusters: where the model's predictions are most mixed first; they take
        # turns with the out-of-place groups, so that out-of-place points whose labels turn
        # out right cannot use up the thumbnails before any unlabelled cluster is read
        clusters = unlabelled_clusters(view, self.cluster_size)
        turns = [g for pair in zip(groups, clusters, strict=False) for g in pair]
        n = min(len(groups), len(clusters))
        return turns + groups[n:] + clusters[n:]

    def _look_at_typical_points(self, view: PersonView) -> None:
        """`typical` thumbnails per class: the training points nearest the centre of its
        colour on the map. They teach the mark reader what each class looks like."""
        train = view.train_idx
        for c in range(view.n_classes):
            members = train[view.labels[train] == c]
            n = min(self.typical, len(members), view.thumbnails_left)
            if n <= 0:
                continue
            centre = view.coords[members].mean(0)
            order = np.argsort(np.linalg.norm(view.coords[members] - centre, axis=1))
            self._read(view, [int(i) for i in members[order[:n]]], learn_as=c)

    def _read(self, view: PersonView, indices: list[int], learn_as: int | None = None) -> None:
        thumbs = view.inspect(indices)
        for thumb in thumbs:
            self.reads[thumb.index] = thumb.label
            if learn_as is not None and thumb.label == learn_as:
                self.mark_reader.learn(thumb.x, thumb.label)  # in place: read as its colour
        for thumb in thumbs:
            self.marks[thumb.index] = self.mark_reader.read(thumb.x)

    def _decide(
        self, view: PersonView, group: Group, depth: int = 0
    ) -> list[tuple[list[int], int]]:
        """The pulls a group gets: (points, class) pairs, inspecting as needed.

        `per_group` reads first; if they do not all agree, up to twice as many. When at
        least `agree` of the reads name one class t:
        - read as another class than shown (mislabelled), or unlabelled: pull to t;
        - read as its own colour while sitting in another class's region: pull it home
          only when the thumbnails show why (a mark naming that region on at least
          `agree` of them: a decoy); otherwise the labels are right and it is left alone.
        When the reads stay mixed, the lasso is split in two on the map and each half is
        decided the same way (twice at most); then only the points read are pulled.
        Points read as another class than the group's decision go to what was read.
        """
        if self._trusts(group):
            return [(group.indices, group.shown)]  # a decoy minority, by now: pull it home
        for want in (self.per_group, 2 * self.per_group):
            known = [i for i in group.indices if i in self.reads]
            need = min(want, len(group.indices)) - len(known)
            if need > 0 and view.thumbnails_left > 0:
                unread = [i for i in group.indices if i not in self.reads]
                size = min(need, view.thumbnails_left)
                pick = view.rng.choice(unread, size=size, replace=False)
                self._read(view, sorted(int(i) for i in pick))
                known = [i for i in group.indices if i in self.reads]
            if known and len({self.reads[i] for i in known}) == 1:
                break
        if not known:
            return []
        cls, count = Counter(self.reads[i] for i in known).most_common(1)[0]
        if count >= self.agree * len(known):
            if group.kind == "unlabelled" or cls != group.shown:
                return self._selection(group, int(cls))
            marked = sum(self.marks.get(i) == group.region for i in known)
            if group.kind == "out of place" and marked >= self.agree * len(known):
                self.decoys_seen += 1
                return self._selection(group, int(cls))
            return self._selection(group, int(cls))[1:]  # only the points read otherwise
        if depth < 2 and len(group.indices) >= 2 * self.per_group:
            out = []
            for half in self._halves(view, group):
                out += self._decide(view, half, depth + 1)
            return out
        by_read: dict[int, list[int]] = {}
        for i in known:
            by_read.setdefault(self.reads[i], []).append(i)
        return [(idx, c) for c, idx in sorted(by_read.items()) if c != group.shown]

    def _trusts(self, group: Group) -> bool:
        """Pull this out-of-place group home unread? Only after `trust_after` confirmed
        decoy groups, and only when none of its points was read."""
        return bool(
            self.trust_after
            and self.decoys_seen >= self.trust_after
            and group.kind == "out of place"
            and not any(i in self.reads for i in group.indices)
        )

    def _halves(self, view: PersonView, group: Group) -> list[Group]:
        """The lasso drawn again, tighter: two k-means halves of the group on the map."""
        idx = np.asarray(group.indices)
        seed = int(view.rng.integers(2**31))
        parts = KMeans(2, n_init=1, random_state=seed).fit_predict(view.coords[idx])
        return [
            Group(sorted(int(i) for i in idx[parts == p]), group.kind, group.shown, group.region)
            for p in (0, 1)
            if np.any(parts == p)
        ]

    def _selection(self, group: Group, target: int) -> list[tuple[list[int], int]]:
        """The group minus the points read as another class; those go to what was read."""
        keep = [i for i in group.indices if self.reads.get(i, target) == target]
        out = [(keep, target)]
        others: dict[int, list[int]] = {}
        for i in group.indices:
            if self.reads.get(i, target) != target:
                others.setdefault(self.reads[i], []).append(i)
        out += [(idx, c) for c, idx in sorted(others.items()) if c != group.shown]
        return out
