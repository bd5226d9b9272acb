"""Built-in scenarios: digits and MNIST-1D where a person can know what the labels do not say.

On clean data with correct labels a person has nothing to add to training (issue 10). Each
scenario here plants one thing a person could notice on the latent map:

- ``*-decoy``: a spurious feature (a bright 2×2 patch on the border of digits, a bump in
  MNIST-1D) whose position names a class. It agrees with the label on 95 % of training and
  validation points (the other 5 %, chosen at random, carry the decoy of a random other class)
  and is uniformly random on the test split. Groups: ``decoy agrees`` / ``decoy disagrees``.
- ``*-noisy``: one sub-cluster of a class (k-means on reference features, see
  :func:`reference_features`) carries another class's label in TRAINING only; validation
  and test keep their true labels, so validation points of the sub-cluster disagree with the
  training points around them on the map. ``*-noisy-uniform`` flips the same number of
  training labels at uniformly random points to uniformly random other classes (the control).
  Groups (both): ``other`` / ``sub-cluster`` (the source class's points nearest that
  k-means centre, in every split). ``y_train_true`` keeps the true training labels.
- ``*-few``: a few labelled training points per class; the rest of the training set keeps
  label -1 (unlabelled) and ``y_train_true`` keeps the truth. Validation and test are labelled.

Everything is deterministic: the scenario's random choices use ``(SCENARIO_SEED, seed)``,
with ``seed`` the run seed that also fixed the base data set's split. This module only
transforms a base :class:`~hill_dash.engine.dataset.Dataset` (it never imports
:mod:`hill_dash.engine.data`, which imports it), and :func:`group_accuracy` reads the groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SCENARIO_SEED = 10_010  # fixed; mixed with the run seed so every seed gives its own draw
DECOY_AGREE = 0.95  # share of training / validation points whose decoy names their class
DECOY_GROUPS = ("decoy agrees", "decoy disagrees")
NOISY_GROUPS = ("other", "sub-cluster")

# top-left corners of the 2×2 decoy patch on the 12×12 padded digit, class 0..9 clockwise
DIGITS_PATCH = ((0, 1), (0, 5), (0, 9), (4, 10), (8, 10), (10, 9), (10, 5), (10, 1), (8, 0), (4, 0))
DIGITS_PAD = 2
MNIST1D_BUMP = {"amplitude": 3.0, "width": 1.0}  # Gaussian bump at 2 + 4·class

Fields = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """A built-in data set made from ``base`` by ``build(base_dataset, rng) -> field changes``."""

    name: str
    base: str  # "digits" | "mnist1d"
    description: str  # one line: what a person could notice on the map
    build: Callable[[Any, np.random.Generator], Fields]


def apply_scenario(name: str, base: Any, seed: int) -> Any:
    """The scenario ``name`` made from its base data set (split with the same ``seed``)."""
    scenario = SCENARIOS[name]
    rng = np.random.default_rng([SCENARIO_SEED, int(seed), _name_code(name)])
    changes = scenario.build(base, rng)
    return dataclasses.replace(base, name=name, description=scenario.description, **changes)


def _name_code(name: str) -> int:
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name))


# --------------------------------------------------------------------------- decoy


def decoy_classes(
    y: np.ndarray, n_classes: int, rng: np.random.Generator, agree: float
) -> np.ndarray:
    """The class each point's decoy names: its own label, except on exactly
    ``round((1 - agree) * n)`` points chosen at random, which get a random other class."""
    decoy = y.copy()
    n_off = round((1.0 - agree) * len(y))
    off = rng.choice(len(y), size=n_off, replace=False)
    decoy[off] = (y[off] + rng.integers(1, n_classes, size=n_off)) % n_classes
    return decoy


def _decoy_fields(base: Any, rng: np.random.Generator, paint: Callable) -> Fields:
    """Decoys for every split (95 % agree on train and val, random on test) and their groups."""
    out: Fields = {"group_names": list(DECOY_GROUPS)}
    for split in ("train", "val", "test"):
        y = getattr(base, f"y_{split}")
        if split == "test":
            decoy = rng.integers(0, base.n_classes, size=len(y))
        else:
            decoy = decoy_classes(y, base.n_classes, rng, DECOY_AGREE)
        out[f"X_{split}"] = paint(getattr(base, f"X_{split}"), decoy)
        out[f"group_{split}"] = (decoy != y).astype(np.int8)
    return out


def paint_digit_patches(X: np.ndarray, decoy: np.ndarray) -> np.ndarray:
    """Pad (n, 8, 8) digits to 12×12 and set the 2×2 patch of each point's decoy class to 1."""
    pad = DIGITS_PAD
    out = np.pad(X, ((0, 0), (pad, pad), (pad, pad))).astype(np.float32)
    corners = np.asarray(DIGITS_PATCH)[decoy]
    rows = np.arange(len(X))
    for dr in (0, 1):
        for dc in (0, 1):
            out[rows, corners[:, 0] + dr, corners[:, 1] + dc] = 1.0
    return out


def add_mnist1d_bumps(X: np.ndarray, decoy: np.ndarray) -> np.ndarray:
    """Add a Gaussian bump at position ``2 + 4·decoy`` to each (n, 40) MNIST-1D signal."""
    t = np.arange(X.shape[1], dtype=np.float32)
    centre = (2 + 4 * decoy).astype(np.float32)[:, None]
    bump = np.exp(-0.5 * ((t[None, :] - centre) / MNIST1D_BUMP["width"]) ** 2)
    return (X + MNIST1D_BUMP["amplitude"] * bump).astype(np.float32)


# --------------------------------------------------------------------------- label noise


def reference_features(X: np.ndarray, kind: str) -> np.ndarray:
    """Fixed features the sub-cluster is found in: pixels for images; for sequences the
    magnitude spectrum (shift-invariant, as MNIST-1D's digits are shifted at random)."""
    flat = X.reshape(len(X), -1)
    if kind == "sequence":
        return np.abs(np.fft.rfft(flat, axis=1)).astype(np.float32)
    return flat


def noisy_sub_cluster(
    base: Any, source: int, target: int, n_clusters: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per split, whether each point is a ``source`` point of the chosen k-means sub-cluster.

    k-means (``n_clusters``, fixed seed) on the reference features of the source class's
    training points; the sub-cluster is the one with 15–50 % of them whose centre lies
    nearest the ``target`` class's mean (the 8s that look most like the label they get).
    Validation and test points of the source class belong to it when that centre is their
    nearest.
    """
    from sklearn.cluster import KMeans

    F = {
        s: reference_features(getattr(base, f"X_{s}"), base.kind) for s in ("train", "val", "test")
    }
    src = np.flatnonzero(base.y_train == source)
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=SCENARIO_SEED).fit(F["train"][src])
    sizes = np.bincount(km.labels_, minlength=n_clusters) / len(src)
    target_mean = F["train"][base.y_train == target].mean(axis=0)
    dist = np.linalg.norm(km.cluster_centers_ - target_mean, axis=1)
    dist[(sizes < 0.15) | (sizes > 0.5)] = np.inf
    chosen = int(np.argmin(dist))
    members = []
    for s in ("train", "val", "test"):
        y = getattr(base, f"y_{s}")
        member = np.zeros(len(y), dtype=bool)
        idx = np.flatnonzero(y == source)
        if len(idx):
            member[idx] = km.predict(F[s][idx]) == chosen
        members.append(member)
    return members[0], members[1], members[2]


def _noisy_fields(
    base: Any, rng: np.random.Generator, source: int, target: int, concentrated: bool
) -> Fields:
    m_train, m_val, m_test = noisy_sub_cluster(base, source, target)
    y = base.y_train.copy()
    n_flip = int(m_train.sum())
    if concentrated:
        y[m_train] = target
    else:
        flip = rng.choice(len(y), size=n_flip, replace=False)
        y[flip] = (y[flip] + rng.integers(1, base.n_classes, size=n_flip)) % base.n_classes
    return {
        "y_train": y,
        "y_train_true": base.y_train.copy(),
        "group_names": list(NOISY_GROUPS),
        "group_train": m_train.astype(np.int8),
        "group_val": m_val.astype(np.int8),
        "group_test": m_test.astype(np.int8),
    }


# --------------------------------------------------------------------------- few labels


def _few_fields(base: Any, rng: np.random.Generator, per_class: int) -> Fields:
    """Keep ``per_class`` labelled training points per class (at random); the rest get -1."""
    y = np.full_like(base.y_train, -1)
    for c in range(base.n_classes):
        idx = np.flatnonzero(base.y_train == c)
        keep = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        y[keep] = c
    return {"y_train": y, "y_train_true": base.y_train.copy()}


# --------------------------------------------------------------------------- registry

NOISY = {"digits": (8, 1), "mnist1d": (8, 3)}  # (source class, label its sub-cluster gets)
FEW = {"digits": 20, "mnist1d": 50}  # labelled training points per class

_DESCRIPTIONS = {
    "digits-decoy": "A bright 2×2 patch on the border names a class (position 0–9 clockwise "
    "from the top left); it agrees with the label on 95 % of training and validation images "
    "and is random on the test split. On the map each class shows a main cluster and a small "
    "minority sitting with the class its patch names.",
    "mnist1d-decoy": "A bump at position 2 + 4·class names a class; it agrees with the label "
    "on 95 % of training and validation signals and is random on the test split. On the map "
    "each class shows a main cluster and a small minority sitting with the class its bump "
    "names.",
    "digits-noisy": "About a third of the training 8s (one k-means sub-cluster) are labelled "
    "1; validation and test keep true labels. On the map a patch of training points coloured 1 "
    "looks like 8s, and validation 8s near it are predicted 1.",
    "mnist1d-noisy": "About a third of the training 8s (one k-means sub-cluster of their "
    "spectra) are labelled 3; validation and test keep true labels. On the map a patch of "
    "training points coloured 3 looks like 8s, and validation 8s near it are predicted 3.",
    "digits-noisy-uniform": "Control for digits-noisy: the same number of training labels "
    "flipped at random points to random other classes; nothing concentrated to find.",
    "mnist1d-noisy-uniform": "Control for mnist1d-noisy: the same number of training labels "
    "flipped at random points to random other classes; nothing concentrated to find.",
    "digits-few": "Only 20 training images per class are labelled; the rest of the training "
    "set is on the map unlabelled. Pulling an unlabelled cluster to a class acts as labelling "
    "it.",
    "mnist1d-few": "Only 50 training signals per class are labelled; the rest of the training "
    "set is on the map unlabelled. Pulling an unlabelled cluster to a class acts as labelling "
    "it.",
}


def _make_registry() -> dict[str, Scenario]:
    builders: dict[str, tuple[str, Callable]] = {}
    for base, paint in (("digits", paint_digit_patches), ("mnist1d", add_mnist1d_bumps)):
        source, target = NOISY[base]
        builders |= {
            f"{base}-decoy": (base, lambda b, r, p=paint: _decoy_fields(b, r, p)),
            f"{base}-noisy": (
                base,
                lambda b, r, s=source, t=target: _noisy_fields(b, r, s, t, concentrated=True),
            ),
            f"{base}-noisy-uniform": (
                base,
                lambda b, r, s=source, t=target: _noisy_fields(b, r, s, t, concentrated=False),
            ),
            f"{base}-few": (base, lambda b, r, k=FEW[base]: _few_fields(b, r, k)),
        }
    return {
        name: Scenario(name, base, _DESCRIPTIONS[name], build)
        for name, (base, build) in sorted(builders.items())
    }


SCENARIOS: dict[str, Scenario] = _make_registry()


# --------------------------------------------------------------------------- reading groups


def group_accuracy(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    group_names: list[str],
    weights_from: np.ndarray | None = None,
) -> dict:
    """Accuracy per group, the worst group's, and the average and overall accuracy.

    ``average`` weights the group accuracies by the groups' shares in ``weights_from``
    (usually the training groups: the distribution the model was trained for, as in the
    Group DRO papers); without it, by their shares in ``groups``, which makes it equal to
    ``overall``. ``worst`` is the lowest accuracy over the groups present.
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    correct = y_true == y_pred
    per, counts = {}, {}
    for g, name in enumerate(group_names):
        mask = groups == g
        counts[name] = int(mask.sum())
        per[name] = float(correct[mask].mean()) if mask.any() else None
    ref = groups if weights_from is None else np.asarray(weights_from)
    share = np.bincount(ref, minlength=len(group_names)) / max(len(ref), 1)
    present = [g for g, name in enumerate(group_names) if per[name] is not None]
    total = sum(share[g] for g in present)
    average = sum(share[g] * per[group_names[g]] for g in present) / total if total else None
    return {
        "groups": per,
        "counts": counts,
        "worst": min(per[group_names[g]] for g in present) if present else None,
        "average": None if average is None else float(average),
        "overall": float(correct.mean()) if len(correct) else None,
    }
