"""What a scripted user reads off the map: regions, unlabelled clusters, lassos.

Shared by the users (`inspect_and_pull`, `group_without_names`): the class of the region
a point sits in (`region_of`: the majority shown label of its map neighbours), the
unlabelled training points' k-means clusters (`unlabelled_clusters`, the model's most
mixed predictions first) and the lasso a person draws (`Group`). All of it reads only the
`PersonView`: map coordinates, labels shown, predictions and splits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from hill_dash.study.view import PersonView

NEIGHBOURS = 10  # map neighbours that say which class's region a point sits in


def region_of(view: PersonView, among: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Per visible point: the majority shown label of its k nearest points in `among`
    (indices of labelled points) on the map, itself excluded; -1 without neighbours."""
    among = np.asarray(among)
    if len(among) == 0:
        return np.full(len(view.labels), -1)
    k = min(k + 1, len(among))
    _, nn = NearestNeighbors(n_neighbors=k).fit(view.coords[among]).kneighbors(view.coords)
    out = np.empty(len(view.labels), dtype=np.int64)
    for i, row in enumerate(among[nn]):
        row = row[row != i][: k - 1]
        out[i] = np.bincount(view.labels[row], minlength=view.n_classes).argmax()
    return out


@dataclass
class Group:
    """A lasso a person would draw: training points and why they look suspicious."""

    indices: list[int]
    kind: str  # "out of place" | "unlabelled" | "kept" (pulled again) | "unread" (trusted)
    shown: int  # the colour of its points (-1: unlabelled)
    region: int  # the class whose region it sits in; unlabelled: the class most predicted
    mixed: float = 0.0  # unlabelled: share of its points not predicted as `region`


def unlabelled_clusters(view: PersonView, cluster_size: int) -> list[Group]:
    """k-means clusters of the unlabelled training points on the map (about `cluster_size`
    points each), where the model's predictions are most mixed first (it is least sure
    there)."""
    free = view.train_idx[view.labels[view.train_idx] < 0]
    if len(free) < 2:
        return []
    k = max(1, min(len(free) // cluster_size, len(free)))
    seed = int(view.rng.integers(2**31))
    labels = KMeans(k, n_init=1, random_state=seed).fit_predict(view.coords[free])
    groups = []
    for c in range(k):
        idx = free[labels == c]
        pred, count = Counter(view.pred[idx].tolist()).most_common(1)[0]
        mixed = 1.0 - count / len(idx)
        groups.append(Group(sorted(int(i) for i in idx), "unlabelled", -1, int(pred), mixed))
    groups.sort(key=lambda g: (-round(g.mixed, 6), -len(g.indices), g.region))
    return groups
