"""What a person sees on the Loop page before a chunk, and the thumbnails they inspect.

A scripted user of the scenario study gets a `PersonView` and nothing else:

- the map: 2-D coordinates of the training and validation points (the locked test split
  is not on it), the labels shown (training labels as the data set has them: noisy in
  `*-noisy`, -1 for the unlabelled points of `*-few`; validation labels), the model's
  predictions and each point's split;
- thumbnails: `inspect(indices)` shows the raw input of those points (the sample panel)
  and the label a person reads from it (what the digit is: the true label, for a training
  point `y_train_true`). At most `thumbnails` distinct points per chunk.

It never holds the group arrays, the test split, latents or the true labels of points
not inspected: the true labels and raw inputs sit in private arrays that only `inspect`
reads, and it records every index it reads (`inspected`). A test can therefore check a
user honestly: change the private arrays everywhere outside `inspected` and the user's
edits must stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hill_dash.engine.errors import HillError

DEFAULT_THUMBNAILS = 50  # thumbnails a person looks at per chunk


class BudgetError(HillError):
    """A scripted user asked for more thumbnails than a chunk allows."""


@dataclass(frozen=True)
class Thumb:
    """One inspected sample: its map index, raw input and the label a person reads."""

    index: int
    x: np.ndarray  # the raw input (image or signal), as the sample panel shows it
    label: int  # what the sample is, as a person reads it from the thumbnail


def read_mark(x: np.ndarray) -> int | None:
    """Where a decoy mark sits on a thumbnail, as the class that position names.

    Images (12×12 and larger): the brightest of the ten 2×2 border patches of the
    digits-decoy layout (position 0–9 clockwise). Signals: the sharpest narrow spike among
    the positions 2 + 4·c (height over the mean of the values two steps either side).
    Knows the generator's layout: used only by the legacy `controls.dfr` (study side),
    never by a scripted user (they learn marks, `inspect_and_pull.MarkReader`).
    """
    from hill_dash.engine.scenarios import DIGITS_PATCH

    x = np.asarray(x, dtype=np.float64)
    if x.ndim >= 2:
        img = x.reshape(x.shape[-2:]) if x.ndim > 2 else x
        if img.shape[0] < 12 or img.shape[1] < 12:
            return None
        return int(np.argmax([img[r : r + 2, c : c + 2].mean() for r, c in DIGITS_PATCH]))
    x = x.reshape(-1)
    p = 2 + 4 * np.arange(10)
    if p[-1] >= len(x):
        return None
    left, right = x[np.clip(p - 2, 0, len(x) - 1)], x[np.clip(p + 2, 0, len(x) - 1)]
    return int(np.argmax(x[p] - (left + right) / 2))


@dataclass
class PersonView:
    """The Loop page of one guided head, as a scripted user may read it."""

    coords: np.ndarray  # (n, 2) map coordinates of the training then validation points
    labels: np.ndarray  # (n,) labels shown (-1: unlabelled training point)
    pred: np.ndarray  # (n,) predicted class
    split: np.ndarray  # (n,) "train" | "val"
    n_classes: int
    edit_budget: int  # at most this many distinct training points edited per chunk
    thumbnails: int  # at most this many distinct points inspected per chunk
    rng: np.random.Generator
    _X: np.ndarray = field(repr=False)  # (n, ...) raw inputs: read only through inspect
    _truth: np.ndarray = field(repr=False)  # (n,) labels a person reads: only through inspect
    inspected: list[int] = field(default_factory=list)  # every index inspect read, in order

    @property
    def train_idx(self) -> np.ndarray:
        return np.flatnonzero(self.split == "train")

    @property
    def thumbnails_left(self) -> int:
        return self.thumbnails - len(self.inspected)

    def inspect(self, indices) -> list[Thumb]:
        """Look at the thumbnails of `indices` (map points); counts against the budget.

        Points already inspected this chunk are free; asking for more new points than
        the budget left raises BudgetError (nothing is shown then).
        """
        idx = [int(i) for i in np.atleast_1d(np.asarray(indices, dtype=np.int64))]
        if any(i < 0 or i >= len(self.labels) for i in idx):
            raise HillError(f"inspect: indices must be map points 0..{len(self.labels) - 1}")
        new = [i for i in dict.fromkeys(idx) if i not in set(self.inspected)]
        if len(new) > self.thumbnails_left:
            raise BudgetError(
                f"inspect: {len(new)} new thumbnails asked for, {self.thumbnails_left} left"
            )
        self.inspected.extend(new)
        return [Thumb(i, self._X[i].copy(), int(self._truth[i])) for i in idx]


def make_view(
    X_visible: np.ndarray,
    truth: np.ndarray,
    coords: np.ndarray,
    labels: np.ndarray,
    logits: np.ndarray,
    split: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    edit_budget: int,
    thumbnails: int = DEFAULT_THUMBNAILS,
) -> PersonView:
    """A PersonView of the visible (training + validation) rows of a checkpoint's arrays.

    Arrays may include the test rows at the end; they are cut off here, so no user ever
    holds a test point.
    """
    visible = int(np.sum(np.asarray(split) != "test"))
    return PersonView(
        coords=np.asarray(coords)[:visible].copy(),
        labels=np.asarray(labels)[:visible].copy(),
        pred=np.asarray(logits)[:visible].argmax(axis=1),
        split=np.asarray(split)[:visible].copy(),
        n_classes=n_classes,
        edit_budget=edit_budget,
        thumbnails=thumbnails,
        rng=rng,
        _X=np.asarray(X_visible)[:visible],
        _truth=np.asarray(truth)[:visible],
    )
