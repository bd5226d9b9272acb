"""Data sets: the built-ins (``digits``, ``mnist1d`` and the scenarios built on them, see
:mod:`hill_dash.engine.scenarios`) and user files (``.npz``, ``.csv``).

Everything ends up as a :class:`~hill_dash.engine.dataset.Dataset` (re-exported here) with
fixed train / val / test splits. Splits are stratified and depend only on the seed, so the
same seed always gives the same split.

User files are untrusted input; :mod:`hill_dash.engine.data_files` reads and validates them before
they are split here.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hill_dash.engine.data_files import FILE_SUFFIXES, read_npz, read_user_file, text_array
from hill_dash.engine.dataset import KINDS, SPLITS, UNLABELLED, Dataset, atomic_savez
from hill_dash.engine.errors import DataError
from hill_dash.engine.scenarios import SCENARIOS, apply_scenario

__all__ = [
    "BUILTINS",
    "KINDS",
    "SPLITS",
    "UNLABELLED",
    "Dataset",
    "load_builtin",
    "load_dataset",
    "load_file",
    "split_stratified",
]

BASE_BUILTINS = ("digits", "mnist1d")
BUILTINS = (*BASE_BUILTINS, *SCENARIOS)

VAL_FRAC = 0.15
TEST_FRAC = 0.15

MNIST1D_CACHE = "mnist1d.npz"
_MNIST1D_FORMAT = "hill-dash-mnist1d-v1"
_MNIST1D_KEYS = ("format", "X_train", "y_train", "X_test", "y_test")
Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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
        atomic_savez(cache, {"format": np.array(_MNIST1D_FORMAT), **arrays})
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
