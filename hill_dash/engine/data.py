"""Data sets: the built-ins (``digits``, ``mnist1d`` and the scenarios built on them, see
:mod:`hill_dash.engine.scenarios`) and user files (``.npz``, ``.csv``).

Everything ends up as a :class:`Dataset` with fixed train / val / test splits. Splits are
stratified and depend only on the seed, so the same seed always gives the same split.
Training labels may be ``-1`` (:data:`UNLABELLED`): such points are on the map but carry no
label; validation and test labels never are.

User files are untrusted input; :mod:`hill_dash.engine.data_files` reads and validates them before
they are split here.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hill_dash.engine.data_files import (
    FILE_SUFFIXES,
    check_file,
    read_npz,
    read_user_file,
    text_array,
)
from hill_dash.engine.errors import DataError
from hill_dash.engine.scenarios import SCENARIOS, apply_scenario

BASE_BUILTINS = ("digits", "mnist1d")
BUILTINS = (*BASE_BUILTINS, *SCENARIOS)
UNLABELLED = -1
SPLITS = ("train", "val", "test")
KINDS = ("image", "sequence", "flat")

VAL_FRAC = 0.15
TEST_FRAC = 0.15

MNIST1D_CACHE = "mnist1d.npz"
_MNIST1D_FORMAT = "hill-dash-mnist1d-v1"
_MNIST1D_KEYS = ("format", "X_train", "y_train", "X_test", "y_test")
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

Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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
        _atomic_savez(Path(path), arrays)

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


# --------------------------------------------------------------------------- public loaders


def load_dataset(spec: str | Path, data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """Load a built-in data set by name, or a ``.npz`` / ``.csv`` file by path."""
    text = str(spec)
    if text.strip().lower() in BUILTINS:
        return load_builtin(text, data_dir=data_dir, seed=seed)
    if isinstance(spec, Path) or _looks_like_path(text):
        return load_file(text, seed=seed)
    raise DataError(_unknown_builtin_message(text))


def load_builtin(name: str, data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """Load a built-in by name: ``"digits"``, ``"mnist1d"`` or a scenario built on one.

    ``data_dir`` caches the generated mnist1d. A scenario starts from its base data set split
    with the same seed (so ``digits-decoy`` and ``digits`` share their split), then changes it
    deterministically (see :mod:`hill_dash.engine.scenarios`).
    """
    key = str(name).strip().lower()
    if key == "digits":
        return _load_digits(seed)
    if key == "mnist1d":
        return _load_mnist1d(data_dir, seed)
    if key in SCENARIOS:
        base = load_builtin(SCENARIOS[key].base, data_dir=data_dir, seed=seed)
        return apply_scenario(key, base, seed)
    raise DataError(_unknown_builtin_message(str(name)))


def load_file(path: str | Path, seed: int = 0) -> Dataset:
    """Load and validate a user ``.npz`` (arrays X, y, ...) or ``.csv`` (with header) file."""
    path = Path(path)
    user = read_user_file(path)
    if user.X_test is None:
        parts = split_stratified(user.X, user.y, seed)
    else:
        X_tr, y_tr, X_val, y_val, _, _ = split_stratified(user.X, user.y, seed, test_frac=0.0)
        parts = (X_tr, y_tr, X_val, y_val, user.X_test, user.y_test)
    kind = "image" if user.X.ndim >= 3 else "flat"
    return Dataset(path.stem, kind, *parts, user.label_names)


def split_stratified(
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    val_frac: float = VAL_FRAC,
    test_frac: float = TEST_FRAC,
) -> Splits:
    """Split into ``(X_train, y_train, X_val, y_val, X_test, y_test)``, per class.

    Each class is shuffled with ``seed`` and cut by the fractions, so the class proportions
    match across splits; a class with at least 3 samples appears in every split whose
    fraction is non-zero, and every class keeps at least one training sample. The result
    depends only on ``(X, y, seed, val_frac, test_frac)``.

    Why not ``sklearn.model_selection.train_test_split(stratify=y)`` (issue 12): it sizes each
    split as a whole and shares it out between classes, so small classes miss splits (classes
    of 3, 4, 5, 20: val lacks one class and test another; seven classes of 3: it refuses, test
    size 4 < 7 classes) and it needs two calls for three splits. It would also change every
    built-in split, and with it the digests that replay checks exported sessions against.
    ``tests/test_data.py`` pins both facts.
    """
    X, y = np.asarray(X), np.asarray(y)
    _check_fracs(val_frac, test_frac)
    if y.ndim != 1 or len(X) != len(y):
        raise DataError(
            f"split_stratified: 'y' has shape {y.shape}; expected 1-D with one label per row "
            f"of 'X' ({len(X)} rows)"
        )
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], ...] = ([], [], [])
    for idx in _class_groups(y):
        idx = rng.permutation(idx)
        n_train, n_val, _ = _class_counts(len(idx), val_frac, test_frac)
        for part, chunk in zip(parts, np.split(idx, [n_train, n_train + n_val]), strict=True):
            part.append(chunk)
    out: list[np.ndarray] = []
    for part in parts:
        sel = rng.permutation(np.concatenate(part)) if part else np.zeros(0, dtype=np.intp)
        out += [X[sel], y[sel]]
    return tuple(out)  # type: ignore[return-value]


# --------------------------------------------------------------------------- splitting


def _check_fracs(val_frac: float, test_frac: float) -> None:
    ok = 0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1
    if not ok:
        raise DataError(
            f"split_stratified: val_frac={val_frac}, test_frac={test_frac}; expected both "
            f">= 0 with val_frac + test_frac < 1"
        )


def _class_groups(y: np.ndarray) -> Iterator[np.ndarray]:
    """Row indices of each class, classes in sorted order."""
    order = np.argsort(y, kind="stable")
    if not len(order):
        return
    sorted_y = y[order]
    starts = np.flatnonzero(np.r_[True, sorted_y[1:] != sorted_y[:-1]])
    yield from np.split(order, starts[1:])


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _class_counts(m: int, val_frac: float, test_frac: float) -> tuple[int, int, int]:
    """(train, val, test) sizes for a class of ``m`` samples; train keeps at least one."""
    n_test = _round_half_up(test_frac * m)
    n_val = _round_half_up(val_frac * m)
    if test_frac > 0 and m >= 2:
        n_test = max(n_test, 1)
    if val_frac > 0 and m - n_test >= 2:
        n_val = max(n_val, 1)
    while m - n_test - n_val < 1 and (n_val or n_test):
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return m - n_val - n_test, n_val, n_test


# --------------------------------------------------------------------------- built-ins


def _unknown_builtin_message(name: str) -> str:
    return (
        f"unknown data set {name!r}: expected a built-in name ({', '.join(BUILTINS)}) "
        f"or the path of a {' or '.join(FILE_SUFFIXES)} file"
    )


def _looks_like_path(text: str) -> bool:
    return bool(Path(text).suffix) or "/" in text or os.sep in text or Path(text).exists()


def _load_digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (np.asarray(bunch.images, dtype=np.float32) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    labels = [str(i) for i in range(10)]
    return Dataset("digits", "image", *split_stratified(X, y, seed), labels)


def _load_mnist1d(data_dir: str | Path | None, seed: int) -> Dataset:
    """mnist1d's own test set stays the test set; its train set is split into train / val."""
    arrays = _mnist1d_arrays(data_dir)
    X_tr, y_tr, X_val, y_val, _, _ = split_stratified(
        arrays["X_train"], arrays["y_train"], seed, val_frac=VAL_FRAC, test_frac=0.0
    )
    labels = [str(i) for i in range(10)]
    return Dataset(
        "mnist1d", "sequence", X_tr, y_tr, X_val, y_val, arrays["X_test"], arrays["y_test"], labels
    )


def _mnist1d_arrays(data_dir: str | Path | None) -> dict[str, np.ndarray]:
    """Generated mnist1d arrays, read from / written to ``<data_dir>/datasets/`` if given."""
    if data_dir is None:
        return _generate_mnist1d()
    cache = Path(data_dir) / "datasets" / MNIST1D_CACHE
    if cache.is_file():
        try:
            return _read_mnist1d_cache(cache)
        except DataError as err:
            warnings.warn(f"regenerating mnist1d: {err}", stacklevel=3)
    arrays = _generate_mnist1d()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        _atomic_savez(cache, {"format": np.array(_MNIST1D_FORMAT), **arrays})
    except OSError as err:
        warnings.warn(f"could not cache mnist1d at {cache}: {err}", stacklevel=3)
    return arrays


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """Build mnist1d locally with the package's default arguments (no download)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise DataError(f"data set 'mnist1d' needs the 'mnist1d' package: {err}") from None
    with _global_rng_preserved():  # make_dataset reseeds `random` and `np.random`
        raw = make_dataset(get_dataset_args())
    return {
        "X_train": np.asarray(raw["x"], dtype=np.float32),
        "y_train": np.asarray(raw["y"], dtype=np.int64),
        "X_test": np.asarray(raw["x_test"], dtype=np.float32),
        "y_test": np.asarray(raw["y_test"], dtype=np.int64),
    }


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _read_mnist1d_cache(path: Path) -> dict[str, np.ndarray]:
    arrays = read_npz(path, _MNIST1D_KEYS)
    if text_array(path, "format", arrays.pop("format")) != _MNIST1D_FORMAT:
        raise DataError(f"{path}: 'format': expected {_MNIST1D_FORMAT!r} (stale cache)")
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        ok = X.ndim == 2 and X.dtype == np.float32 and y.shape == (len(X),)
        if not ok or y.dtype != np.int64 or (y.size and (y.min() < 0 or y.max() > 9)):
            raise DataError(f"{path}: 'X_{split}' / 'y_{split}' do not look like mnist1d")
    return arrays


# --------------------------------------------------------------------------- saving


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez to a temporary file in the same directory, then os.replace it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
