"""The Dataset: fixed train / val / test splits of one data set, checked, saved and loaded.

Training labels may be ``-1`` (:data:`UNLABELLED`): such points are on the map but carry no
label; validation and test labels never are. Scenarios add groups per point, the true
training labels and a one-line description (see :mod:`hill_dash.engine.scenarios`), all
saved with the run's ``data.npz`` as plain arrays (no pickles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hill_dash.engine.data_files import check_file, read_npz, text_array
from hill_dash.engine.durable import atomic_write
from hill_dash.engine.errors import DataError

UNLABELLED = -1
SPLITS = ("train", "val", "test")
KINDS = ("image", "sequence", "flat")

_SAVED_KEYS = (
    *(f"{a}_{s}" for s in SPLITS for a in ("X", "y")),
    "name",
    "kind",
    "label_names",
)
_OPTIONAL_KEYS = (
    "description",
    "group_names",
    *(f"group_{s}" for s in SPLITS),
    "y_train_true",
)


# --------------------------------------------------------------------------- Dataset


@dataclass(eq=False)
class Dataset:
    """A labelled data set with fixed train / val / test splits.

    ``X_*`` are float32 arrays of shape ``(n, *sample_shape)``: ``(n, H, W)`` or
    ``(n, C, H, W)`` for kind ``"image"``, ``(n, L)`` for ``"sequence"`` and ``(n, F)`` for
    ``"flat"``. ``y_*`` are int64 class indices into ``label_names``; ``y_train`` may hold
    :data:`UNLABELLED` (-1) for points without a label.

    Scenarios add what the study needs and a person does not see: ``group_*`` (int8 group
    index per point of each split, into ``group_names``; all three or none) and
    ``y_train_true`` (the true training labels where ``y_train`` is noisy or missing).
    ``description`` says in one line what a person could notice on the map.
    """

    name: str
    kind: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    label_names: list[str]
    description: str = ""
    group_names: list[str] = field(default_factory=list)
    group_train: np.ndarray | None = None
    group_val: np.ndarray | None = None
    group_test: np.ndarray | None = None
    y_train_true: np.ndarray | None = None

    def __post_init__(self) -> None:
        for split in SPLITS:
            X = np.asarray(getattr(self, f"X_{split}"), dtype=np.float32)
            y = np.asarray(getattr(self, f"y_{split}"), dtype=np.int64)
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y)
            group = getattr(self, f"group_{split}")
            if group is not None:
                setattr(self, f"group_{split}", np.asarray(group, dtype=np.int8))
        if self.y_train_true is not None:
            self.y_train_true = np.asarray(self.y_train_true, dtype=np.int64)
        self.label_names = [str(label) for label in self.label_names]
        self.group_names = [str(g) for g in self.group_names]
        self.description = str(self.description)
        _check_dataset(self)

    @property
    def n_classes(self) -> int:
        """Number of classes (the length of ``label_names``)."""
        return len(self.label_names)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(8, 8)``, ``(3, 32, 32)`` or ``(40,)``."""
        return tuple(int(d) for d in self.X_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of values in one sample (the product of ``sample_shape``)."""
        return math.prod(self.sample_shape)

    @property
    def n_unlabelled(self) -> int:
        """Training points without a label (``y_train == -1``)."""
        return int(np.count_nonzero(self.y_train == UNLABELLED))

    @property
    def has_groups(self) -> bool:
        """Whether every split carries a group per point (scenarios with groups)."""
        return self.group_train is not None

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Points per class in ``split`` (unlabelled points are not counted)."""
        y = getattr(self, f"y_{split}")
        return np.bincount(y[y >= 0], minlength=self.n_classes)

    def all_X(self) -> np.ndarray:
        """All samples: train, then val, then test (the order of :meth:`split_array`)."""
        return np.concatenate([self.X_train, self.X_val, self.X_test])

    def all_y(self) -> np.ndarray:
        """All labels, aligned with :meth:`all_X` (-1 for unlabelled training points)."""
        return np.concatenate([self.y_train, self.y_val, self.y_test])

    def all_groups(self) -> np.ndarray | None:
        """All groups, aligned with :meth:`all_X`, or None without groups."""
        if not self.has_groups:
            return None
        return np.concatenate([self.group_train, self.group_val, self.group_test])

    def split_array(self) -> np.ndarray:
        """``"train"`` / ``"val"`` / ``"test"`` for every row of :meth:`all_X`."""
        sizes = [len(self.y_train), len(self.y_val), len(self.y_test)]
        return np.repeat(np.array(SPLITS, dtype="<U5"), sizes)

    def save_npz(self, path: str | Path) -> None:
        """Write the data set atomically to ``path`` (plain arrays only, no pickles)."""
        arrays = {f"{a}_{s}": getattr(self, f"{a}_{s}") for s in SPLITS for a in ("X", "y")}
        arrays["name"] = np.array(self.name, dtype=str)
        arrays["kind"] = np.array(self.kind, dtype=str)
        arrays["label_names"] = np.array(self.label_names, dtype=str)
        if self.description:
            arrays["description"] = np.array(self.description, dtype=str)
        if self.has_groups:
            arrays["group_names"] = np.array(self.group_names, dtype=str)
            arrays |= {f"group_{s}": getattr(self, f"group_{s}") for s in SPLITS}
        if self.y_train_true is not None:
            arrays["y_train_true"] = self.y_train_true
        atomic_savez(Path(path), arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> Dataset:
        """Read a file written by :meth:`save_npz`; raises DataError if it is not one."""
        path = Path(path)
        check_file(path, suffixes=None)
        arrays = read_npz(path, _SAVED_KEYS, optional=_OPTIONAL_KEYS)
        text = {key: text_array(path, key, arrays.pop(key)) for key in ("name", "kind")}
        if "description" in arrays:
            text["description"] = text_array(path, "description", arrays.pop("description"))
        labels = text_array(path, "label_names", arrays.pop("label_names"), ndim=1)
        if "group_names" in arrays:
            groups = arrays.pop("group_names")
            arrays["group_names"] = (
                [] if not groups.size else text_array(path, "group_names", groups, ndim=1)
            )
        try:
            return cls(label_names=labels, **text, **arrays)
        except DataError as err:
            raise DataError(f"{path}: not a valid saved data set: {err}") from None


def _check_dataset(ds: Dataset) -> None:
    """Raise DataError unless the splits of ``ds`` fit together."""
    where = f"data set {ds.name!r}"
    if ds.kind not in KINDS:
        raise DataError(f"{where}: kind {ds.kind!r} is not one of {', '.join(KINDS)}")
    ndims = (3, 4) if ds.kind == "image" else (2,)
    if ds.X_train.ndim not in ndims:
        raise DataError(
            f"{where}: 'X_train' has shape {ds.X_train.shape}; expected "
            f"{' or '.join(f'{d}-D' for d in ndims)} for kind {ds.kind!r}"
        )
    for split in SPLITS:
        X, y = getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}")
        if X.shape[1:] != ds.X_train.shape[1:]:
            raise DataError(
                f"{where}: 'X_{split}' has shape {X.shape}; expected sample shape "
                f"{ds.X_train.shape[1:]} like 'X_train'"
            )
        _check_labels(where, f"y_{split}", y, len(X), ds.n_classes, split == "train")
    if ds.y_train_true is not None:
        _check_labels(where, "y_train_true", ds.y_train_true, len(ds.X_train), ds.n_classes)
    _check_groups(ds, where)


def _check_labels(
    where: str, key: str, y: np.ndarray, n: int, n_classes: int, unlabelled_ok: bool = False
) -> None:
    if y.shape != (n,):
        raise DataError(f"{where}: {key!r} has shape {y.shape}; expected ({n},)")
    low = UNLABELLED if unlabelled_ok else 0
    if y.size and (y.min() < low or y.max() >= n_classes):
        extra = " or -1 for unlabelled" if unlabelled_ok else ""
        raise DataError(
            f"{where}: {key!r} holds values outside 0..{n_classes - 1} (one per label name){extra}"
        )


def _check_groups(ds: Dataset, where: str) -> None:
    present = [getattr(ds, f"group_{s}") is not None for s in SPLITS]
    if not any(present):
        return
    if not all(present) or not ds.group_names:
        raise DataError(
            f"{where}: groups: expected 'group_train', 'group_val', 'group_test' and "
            f"'group_names' together"
        )
    for split in SPLITS:
        group, n = getattr(ds, f"group_{split}"), len(getattr(ds, f"y_{split}"))
        if group.shape != (n,) or (n and (group.min() < 0 or group.max() >= len(ds.group_names))):
            raise DataError(
                f"{where}: 'group_{split}' has shape {group.shape}; expected ({n},) with "
                f"values in 0..{len(ds.group_names) - 1} (one per group name)"
            )


# --------------------------------------------------------------------------- saving


def atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez, written durably and atomically (``hill_dash.engine.durable``)."""
    atomic_write(path, lambda fh: np.savez(fh, **arrays))
