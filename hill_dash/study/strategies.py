"""Scripted users: the edits a person would make on the map, made headless.

Each strategy looks at the guided head's map the way the dashboard shows it
(latents, 2-D coordinates, labels, predictions, splits) and returns the edits
it would make before the next chunk, as the same `Edit` kinds the dashboard
makes (translate, pull, compact, separate). The study (`hill_dash.study.runner`) adds
them as pending edits and trains the guided chunk and its unguided twin.

What they may see: unlike the scenario study's users (`users.py`, `view.PersonView`),
these read the latents, which the dashboard does not show a person; the labels they
read are the data set's (on the clean data sets these are studied on, the labels shown).

Rules every strategy keeps, so the comparison is fair and the held-out splits
stay held out:

- It selects training points only, and looks only at training labels and
  predictions (validation and test points never get targets anyway; here they
  do not even steer the choice, so validation accuracy stays an unbiased
  estimate). `RunState.confusion` is therefore the *training* confusion.
- It edits at most `budget` distinct training points per chunk, the same
  budget for every strategy, so `random` is a like-for-like control.
- It draws randomness only from `RunState.rng`: the same state and seed give
  the same edits.

Strategies: `fix-misplaced`, `compact-classes`, `separate-confused`,
`merge-classes:A,B` (a deliberate bias: pulls class B onto class A, i.e.
relabels B as A by hand) and `random`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hill_dash.engine.errors import HillError
from hill_dash.engine.teacher import Edit, class_means

DEFAULT_BUDGET_FRACTION = 0.10  # share of the training points a strategy may edit per chunk


@dataclass
class RunState:
    """What a scripted user sees on the guided head's map before a chunk."""

    Z: np.ndarray  # (n, d) latents of all map points: train, then val, then test
    coords: np.ndarray  # (n, 2) map coordinates of the same points
    labels: np.ndarray  # (n,) true labels
    pred: np.ndarray  # (n,) predicted labels
    split: np.ndarray  # (n,) "train" | "val" | "test"
    n_classes: int
    confusion: np.ndarray  # (C, C) training-split confusion, rows = true class
    budget: int  # at most this many distinct training points edited per chunk
    rng: np.random.Generator

    @property
    def train_idx(self) -> np.ndarray:
        return np.flatnonzero(self.split == "train")


Strategy = Callable[[RunState], list[Edit]]


def make_state(
    Z: np.ndarray,
    coords: np.ndarray,
    labels: np.ndarray,
    logits: np.ndarray,
    split: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    budget_fraction: float = DEFAULT_BUDGET_FRACTION,
) -> RunState:
    """A RunState from one checkpoint's arrays; the budget is a share of the training set."""
    pred = logits.argmax(axis=1)
    tr = split == "train"
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels[tr], pred[tr]), 1)
    budget = max(1, int(round(budget_fraction * int(tr.sum()))))
    return RunState(Z, coords, labels, pred, split, n_classes, confusion, budget, rng)


# -- the strategies --------------------------------------------------------------------


def fix_misplaced(state: RunState) -> list[Edit]:
    """Pull misplaced training points to their true class, one pull per group.

    Misplaced = misclassified first; when fewer than the budget are misclassified,
    the budget is filled with correctly classified points that sit closer to
    another class's mean latent than to their own (they sit inside another
    class's cluster on the map), most out of place first. Groups are
    (true class, class they sit in), like the clusters a person would lasso.
    """
    tr = state.train_idx
    Z, y = state.Z[tr].astype(np.float64), state.labels[tr]
    means = class_means(Z, y, state.n_classes)
    dist = np.linalg.norm(Z[:, None, :] - means[None], axis=2)  # (n_train, C)
    own = dist[np.arange(len(tr)), y]
    dist_other = dist.copy()
    dist_other[np.arange(len(tr)), y] = np.inf
    nearest_other = dist_other.argmin(axis=1)
    ratio = own / np.maximum(dist_other.min(axis=1), 1e-12)  # > 1: inside another class
    wrong = state.pred[tr] != y
    # misclassified first (ordered by how far out they sit), then misplaced by latent
    score = np.where(wrong, 1e6 + ratio, np.where(ratio > 1.0, ratio, -np.inf))
    order = np.argsort(-score, kind="stable")
    chosen = order[np.isfinite(score[order])][: state.budget]
    sits_in = np.where(wrong[chosen], state.pred[tr][chosen], nearest_other[chosen])
    groups: dict[tuple[int, int], list[int]] = {}
    for j, where in zip(chosen, sits_in, strict=True):
        groups.setdefault((int(y[j]), int(where)), []).append(int(tr[j]))
    return [
        Edit("pull", sorted(idx), target_class=true) for (true, _), idx in sorted(groups.items())
    ]


def compact_classes(state: RunState) -> list[Edit]:
    """Tighten every class: compact its outermost training points (β = 0.5).

    The budget is shared evenly between the classes; per class the points
    farthest from the class mean latent are chosen (the loose rim of the cluster).
    """
    tr = state.train_idx
    Z, y = state.Z[tr].astype(np.float64), state.labels[tr]
    means = class_means(Z, y, state.n_classes)
    per_class = max(2, state.budget // state.n_classes)
    edits = []
    for c in range(state.n_classes):
        members = np.flatnonzero(y == c)
        if len(members) < 2:
            continue
        far = np.linalg.norm(Z[members] - means[c], axis=1)
        pick = members[np.argsort(-far, kind="stable")[:per_class]]
        edits.append(Edit("compact", sorted(tr[pick].tolist()), beta=0.5))
    return _within_budget(edits, state.budget)


def most_confused_pair(state: RunState) -> tuple[int, int]:
    """The pair of classes most often mistaken for each other on the training split.

    When training makes no mistakes, the pair whose class means are closest.
    """
    conf = state.confusion.astype(np.float64)
    sym = conf + conf.T
    np.fill_diagonal(sym, 0.0)
    if sym.max() > 0:
        a, b = np.unravel_index(int(sym.argmax()), sym.shape)
        return int(min(a, b)), int(max(a, b))
    tr = state.train_idx
    means = class_means(state.Z[tr].astype(np.float64), state.labels[tr], state.n_classes)
    d = np.linalg.norm(means[:, None] - means[None], axis=2)
    d[np.eye(len(d), dtype=bool)] = np.inf
    a, b = np.unravel_index(int(d.argmin()), d.shape)
    return int(min(a, b)), int(max(a, b))


def separate_confused(state: RunState, gamma: float = 0.5) -> list[Edit]:
    """Push the most confused pair apart: the points of each class nearest the other.

    Two separate edits, half the budget each. The second is applied to targets the
    first already moved, so its γ is scaled to give both sides the same push
    (each moves γ × the distance between the two selections' centroids).
    """
    a, b = most_confused_pair(state)
    tr = state.train_idx
    Z, y = state.Z[tr].astype(np.float64), state.labels[tr]
    means = class_means(Z, y, state.n_classes)
    half = max(1, state.budget // 2)
    sides = []
    for mine, theirs in ((a, b), (b, a)):
        members = np.flatnonzero(y == mine)
        near = np.linalg.norm(Z[members] - means[theirs], axis=1)
        sides.append(sorted(tr[members[np.argsort(near, kind="stable")[:half]]].tolist()))
    if not sides[0] or not sides[1]:
        return []
    return [
        Edit("separate", sides[0], other=sides[1], gamma=gamma),
        Edit("separate", sides[1], other=sides[0], gamma=gamma / (1.0 + gamma)),
    ]


def merge_classes(a: int, b: int) -> Strategy:
    """A deliberately biased user: pull class `b`'s training points onto class `a`.

    Every edited point is relabelled by hand (its label is b, its target class a),
    so the bias signals should flag class b.
    """

    def merge(state: RunState) -> list[Edit]:
        for c in (a, b):
            if not 0 <= c < state.n_classes:
                raise HillError(f"merge-classes: class {c} is not in 0..{state.n_classes - 1}")
        tr = state.train_idx
        members = tr[state.labels[tr] == b]
        if len(members) == 0:
            return []
        pick = state.rng.choice(members, size=min(state.budget, len(members)), replace=False)
        return [Edit("pull", sorted(int(i) for i in pick), target_class=a)]

    merge.__name__ = f"merge_classes_{a}_{b}"
    return merge


def random_edits(state: RunState) -> list[Edit]:
    """The control: the same budget of random training points, random edit kinds and targets
    (`random_kind_edits`)."""
    rng, tr = state.rng, state.train_idx
    return random_kind_edits(rng, tr, state.budget, state.coords, state.n_classes)


def random_kind_edits(
    rng: np.random.Generator, tr: np.ndarray, budget: int, coords: np.ndarray, n_classes: int
) -> list[Edit]:
    """`budget` random training points of `tr`, split into 1-4 groups; each group gets a
    random kind (translate by a random shift of up to one map standard deviation, pull to
    a random class, compact with a random β, or separate from another random group of
    training points). The study's random control and the scenarios' random user."""
    pick = rng.choice(tr, size=min(budget, len(tr)), replace=False)
    n_groups = int(rng.integers(1, 5))
    spread = float(coords[tr].std(axis=0).mean()) or 1.0
    edits = []
    for group in np.array_split(pick, n_groups):
        if len(group) == 0:
            continue
        idx = sorted(int(i) for i in group)
        kind = str(rng.choice(["translate", "pull", "compact", "separate"]))
        if kind == "translate":
            dx, dy = rng.uniform(-spread, spread, size=2)
            edits.append(Edit("translate", idx, dx=float(dx), dy=float(dy)))
        elif kind == "pull":
            edits.append(Edit("pull", idx, target_class=int(rng.integers(n_classes))))
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
    return edits


def _within_budget(edits: list[Edit], budget: int) -> list[Edit]:
    """Drop points (from the end) so the edits touch at most `budget` distinct points."""
    out, seen = [], set()
    for e in edits:
        keep = [i for i in e.indices if i in seen or len(seen) < budget]
        seen.update(keep)
        if keep:
            e.indices = keep
            out.append(e)
    return out


# -- names -----------------------------------------------------------------------------

STRATEGIES: dict[str, Strategy] = {
    "fix-misplaced": fix_misplaced,
    "compact-classes": compact_classes,
    "separate-confused": separate_confused,
    "random": random_edits,
}
NAMES = (*STRATEGIES, "merge-classes:A,B")


def get_strategy(spec: str) -> Strategy:
    """The strategy a name stands for; `merge-classes:A,B` takes two class indices."""
    name, _, arg = spec.partition(":")
    if name == "merge-classes":
        parts = arg.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise HillError(f"strategy {spec!r}: expected merge-classes:A,B with class indices")
        a, b = (int(p) for p in parts)
        if a == b:
            raise HillError(f"strategy {spec!r}: A and B must be different classes")
        return merge_classes(a, b)
    if name not in STRATEGIES or arg:
        raise HillError(f"strategy {spec!r}: expected one of {', '.join(NAMES)}")
    return STRATEGIES[name]


def parse_strategies(text: str) -> list[str]:
    """Split a comma list of strategies; the numbers after `merge-classes:A` belong to it.

    "fix-misplaced,merge-classes:3,8,random" -> ["fix-misplaced", "merge-classes:3,8", "random"]
    """
    specs: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token.isdigit() and specs and specs[-1].startswith("merge-classes:"):
            specs[-1] += f",{token}"
        else:
            specs.append(token)
    if not specs:
        raise HillError("--strategy: expected at least one strategy")
    for spec in specs:
        get_strategy(spec)
    if len(set(specs)) != len(specs):
        raise HillError(f"--strategy: a strategy is named twice in {text!r}")
    return specs


def budget_used(edits: list[Edit], split: np.ndarray) -> int:
    """Distinct training points that the edits give targets to."""
    idx = {i for e in edits for i in e.indices}
    return sum(1 for i in idx if split[i] == "train")
