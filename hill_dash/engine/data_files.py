"""User files (``.npz``, ``.csv``) read and validated: untrusted bytes in, checked arrays out.

Each problem raises one :class:`~hill_dash.engine.errors.DataError` whose message names the
file, the array or column (and the CSV line), and what was expected. Sizes are checked before
the data is read: from the ``.npy`` headers inside an ``.npz``, and row by row for a CSV, which
stops reading once past the limit. Pickled or object arrays are never loaded.

Images may have channels: ``(n, C, H, W)`` or ``(n, H, W, C)`` (see :func:`channels_last`);
they come out as ``(n, C, H, W)``. CSV text is read by :mod:`hill_dash.engine.data_csv`.

:func:`hill_dash.engine.data.load_file` splits the checked arrays into a
:class:`~hill_dash.engine.dataset.Dataset`.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hill_dash.engine.data_csv import read_csv
from hill_dash.engine.errors import DataError
from hill_dash.engine.npy import NPY_READ_LOCK

FILE_SUFFIXES = (".npz", ".csv")

MIN_SAMPLES = 20
MIN_PER_CLASS = 3
MAX_ROWS = 2_000_000
MAX_VALUES = 200_000_000
MAX_BYTES = 8 * MAX_VALUES
MAX_CHANNELS_LAST = 4  # (n, H, W, C) is recognised when C <= 4 < H

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


@dataclass(eq=False)
class UserArrays:
    """The checked content of a user file, labels encoded as class indices."""

    X: np.ndarray  # float32 (n, F), (n, H, W) or (n, C, H, W), finite, n >= MIN_SAMPLES
    y: np.ndarray  # int64 (n,), indices into label_names
    X_test: np.ndarray | None  # float32 (m, *X.shape[1:]) if the file has its own test set
    y_test: np.ndarray | None  # int64 (m,), with X_test
    label_names: list[str]  # at least two classes, each with MIN_PER_CLASS samples in y


def read_user_file(path: Path) -> UserArrays:
    """Read and validate a user ``.npz`` (arrays X, y, ...) or ``.csv`` (with header) file."""
    check_file(path)
    if path.suffix.lower() == ".npz":
        arrays = read_npz(path, ("X", "y"), optional=("X_test", "y_test", "label_names"))
        return _checked_arrays(path, arrays)
    X, y, line_of = read_csv(path, MAX_ROWS, MAX_VALUES)
    return _checked_arrays(path, {"X": X, "y": y}, row_name=line_of)


# --------------------------------------------------------------------------- files


def _fail(path: Path, field: str, message: str) -> DataError:
    return DataError(f"{path}: {field}: {message}")


def check_file(path: Path, suffixes: Sequence[str] | None = FILE_SUFFIXES) -> None:
    """Raise DataError unless ``path`` is an existing, non-empty file with one of ``suffixes``."""
    if not path.exists():
        raise _fail(path, "file", "not found; expected an existing .npz or .csv file")
    if not path.is_file():
        raise _fail(path, "file", "is not a regular file; expected a .npz or .csv file")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise _fail(
            path,
            "file extension",
            f"{path.suffix or '(none)'!r} is not supported; expected .npz or .csv",
        )
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _fail(path, "file", f"cannot be read ({err.strerror})") from None
    if size == 0:
        raise _fail(path, "file", "is empty (0 bytes); expected a .npz or .csv data file")


def text_array(path: Path, key: str, value: np.ndarray, ndim: int = 0) -> Any:
    """A 0-d string array as ``str`` or a 1-D one as ``list[str]``."""
    if value.dtype.kind != "U" or value.ndim != ndim:
        raise _fail(path, f"array {key!r}", f"expected a {ndim}-D string array")
    return str(value) if ndim == 0 else [str(v) for v in value]


# --------------------------------------------------------------------------- npz reading


def read_npz(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Read the named arrays of an .npz; headers (dtype, sizes) are checked before the data."""
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as err:
        raise _fail(
            path,
            "file",
            f"is not a valid .npz (zip) archive ({err}); save it with "
            f"numpy.savez(path, X=..., y=...)",
        ) from None
    with archive:
        members = {n[: -len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
        missing = [key for key in required if key not in members]
        if missing:
            found = ", ".join(repr(k) for k in sorted(members)) or "none"
            raise _fail(path, f"array {missing[0]!r}", f"is missing (arrays found: {found})")
        keys = [key for key in (*required, *optional) if key in members]
        headers = {key: _npy_header(path, archive, key, members[key]) for key in keys}
        _check_sizes(path, headers)
        return {key: _npy_data(path, archive, key, members[key]) for key in keys}


def _npy_header(
    path: Path, archive: zipfile.ZipFile, key: str, member: str
) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one member, from its .npy header only."""
    fmt = np.lib.format
    try:
        with NPY_READ_LOCK, archive.open(member) as handle:
            version = fmt.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(handle)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
    except (*_ZIP_ERRORS, TypeError, KeyError) as err:
        raise _fail(path, f"array {key!r}", f"is not a readable .npy array ({err})") from None
    if any(d < 0 for d in shape):
        raise _fail(path, f"array {key!r}", f"has an invalid shape {shape} in its .npy header")
    if dtype.hasobject:
        raise _fail(
            path,
            f"array {key!r}",
            "holds Python objects (pickled data); object arrays are not accepted, "
            "save plain numeric or string arrays",
        )
    return tuple(int(d) for d in shape), dtype


def _check_sizes(path: Path, headers: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    rows = sum(shape[0] for key, (shape, _) in headers.items() if key.startswith("X") and shape)
    values = sum(math.prod(shape) for shape, _ in headers.values())
    nbytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    if rows > MAX_ROWS:
        raise _fail(path, "array 'X'", f"has {rows:,} rows; at most {MAX_ROWS:,} are accepted")
    if values > MAX_VALUES or nbytes > MAX_BYTES:
        raise _fail(
            path,
            "arrays " + ", ".join(repr(k) for k in headers),
            f"hold {values:,} values ({nbytes:,} bytes); at most {MAX_VALUES:,} values "
            f"({MAX_BYTES:,} bytes) are accepted",
        )


def _npy_data(path: Path, archive: zipfile.ZipFile, key: str, member: str) -> np.ndarray:
    try:
        with NPY_READ_LOCK, archive.open(member) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    except _ZIP_ERRORS as err:
        raise _fail(
            path, f"array {key!r}", f"could not be read, truncated or corrupt ({err})"
        ) from None


# --------------------------------------------------------------------------- validation


def _checked_arrays(
    path: Path,
    arrays: Mapping[str, np.ndarray],
    row_name: Callable[[int], str] = lambda i: f"row {i}",
) -> UserArrays:
    """Validate user arrays: shapes, values, labels and class sizes."""
    last = arrays["X"].ndim == 4 and channels_last(arrays["X"].shape)
    X = _check_X(path, "X", arrays["X"], last)
    y = _check_y(path, "y", arrays["y"], "X", len(X))
    if len(X) < MIN_SAMPLES:
        raise _fail(path, "array 'X'", f"has {len(X)} samples; need at least {MIN_SAMPLES}")
    _check_finite(path, "X", X, row_name)
    X_test, y_test = _test_arrays(path, arrays, X, last)
    names, y_idx, y_test_idx = _encode_labels(path, y, y_test, arrays.get("label_names"))
    _check_classes(path, y_idx, names)
    return UserArrays(X, y_idx, X_test, y_test_idx, names)


def channels_last(shape: tuple[int, ...]) -> bool:
    """Whether a 4-D image array is ``(n, H, W, C)``: its last axis is small (C <= 4, e.g.
    RGB) and its first sample axis is not. Otherwise it is read as ``(n, C, H, W)``, PyTorch's
    order; an ambiguous ``(n, 3, 4, 3)`` therefore counts as 3 channels of 4 × 3."""
    return shape[-1] <= MAX_CHANNELS_LAST < shape[1]


def _check_X(path: Path, key: str, X: np.ndarray, last: bool = False) -> np.ndarray:
    """``X`` as float32 if it is numeric and 2-D, 3-D or 4-D with non-empty samples.

    4-D images come out as ``(n, C, H, W)``; ``last`` says the file has ``(n, H, W, C)``.
    """
    field = f"array {key!r}"
    if X.dtype.kind not in "biuf":
        raise _fail(path, field, f"has dtype {X.dtype}; expected numeric values (int or float)")
    if X.ndim not in (2, 3, 4):
        raise _fail(
            path,
            field,
            f"has shape {X.shape} ({X.ndim}-D); expected 2-D (n, features), "
            f"3-D (n, height, width) or 4-D images (n, channels, height, width) / "
            f"(n, height, width, channels)",
        )
    if 0 in X.shape[1:]:
        raise _fail(path, field, f"has shape {X.shape}; each sample needs at least one value")
    if X.ndim == 4 and last:
        X = X.transpose(0, 3, 1, 2)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(X, dtype=np.float32)


def _check_y(path: Path, key: str, y: np.ndarray, x_key: str, n: int) -> np.ndarray:
    """``y`` as int64 or str labels, if it is 1-D with one label per row of X."""
    field = f"array {key!r}"
    if y.ndim != 1:
        raise _fail(path, field, f"has shape {y.shape}; expected 1-D, one label per sample")
    if len(y) != n:
        raise _fail(
            path, field, f"has {len(y)} labels but {x_key!r} has {n} rows; expected equal lengths"
        )
    return _label_values(path, field, y)


def _label_values(path: Path, field: str, y: np.ndarray) -> np.ndarray:
    kind = y.dtype.kind
    if kind in "bi" or (kind == "u" and (not y.size or y.max() <= np.iinfo(np.int64).max)):
        return y.astype(np.int64)
    if kind == "f":
        bad = ~np.isfinite(y) | (np.abs(y) > 2**53)
        bad[~bad] = y[~bad] != np.round(y[~bad])
        if bad.any():
            first = int(np.argmax(bad))
            raise _fail(
                path,
                field,
                f"value {y[first].item()!r} at row {first} is not a whole number; expected integer "
                "class labels or strings",
            )
        return y.astype(np.int64)
    if kind == "U":
        return y
    if kind == "S":
        try:
            return y.astype(str)
        except UnicodeDecodeError:
            raise _fail(path, field, "holds bytes that are not ASCII text") from None
    raise _fail(path, field, f"has dtype {y.dtype}; expected integer class labels or strings")


def _check_finite(path: Path, key: str, X: np.ndarray, row_name: Callable[[int], str]) -> None:
    bad = ~np.isfinite(X).reshape(len(X), -1)
    count = int(bad.sum())
    if count:
        first = int(np.argmax(bad.any(axis=1)))
        raise _fail(
            path,
            f"array {key!r}",
            f"has {count} NaN or infinite values (or values too large for float32), first "
            f"at {row_name(first)}; expected finite numbers",
        )


def _test_arrays(
    path: Path, arrays: Mapping[str, np.ndarray], X: np.ndarray, last: bool = False
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validated ``X_test`` / ``y_test`` from an npz, or ``(None, None)`` if absent."""
    has_x, has_y = "X_test" in arrays, "y_test" in arrays
    if not has_x and not has_y:
        return None, None
    if not has_y or not has_x:
        present, absent = ("X_test", "y_test") if has_x else ("y_test", "X_test")
        raise _fail(path, f"array {absent!r}", f"is missing; {present!r} is present and needs it")
    X_test = _check_X(path, "X_test", arrays["X_test"], last and arrays["X_test"].ndim == 4)
    if X_test.shape[1:] != X.shape[1:]:
        shown = arrays["X_test"].shape[1:], arrays["X"].shape[1:]
        raise _fail(
            path,
            "array 'X_test'",
            f"has sample shape {shown[0]}; expected {shown[1]} like 'X'",
        )
    if len(X_test) == 0:
        raise _fail(path, "array 'X_test'", "has no rows; expected at least one test sample")
    y_test = _check_y(path, "y_test", arrays["y_test"], "X_test", len(X_test))
    _check_finite(path, "X_test", X_test, lambda i: f"row {i}")
    return X_test, y_test


def _encode_labels(
    path: Path, y: np.ndarray, y_test: np.ndarray | None, label_names: np.ndarray | None
) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Label names and class indices for ``y`` (and ``y_test``)."""
    if label_names is None:
        classes, sorter = np.unique(y), None
        names = [str(c) for c in classes]
    else:
        names = _check_label_names(path, label_names)
        if y.dtype.kind == "U":
            classes, sorter = np.array(names, dtype=str), np.argsort(names)
        else:
            classes, sorter = np.arange(len(names), dtype=np.int64), None
    source = "'y'" if label_names is None else "'label_names'"
    y_idx = _lookup(path, "y", y, classes, sorter, source)
    if y_test is None:
        return names, y_idx, None
    if (y_test.dtype.kind == "U") != (y.dtype.kind == "U"):
        raise _fail(path, "array 'y_test'", "must hold the same kind of labels (int/str) as 'y'")
    return names, y_idx, _lookup(path, "y_test", y_test, classes, sorter, source)


def _check_label_names(path: Path, label_names: np.ndarray) -> list[str]:
    field = "array 'label_names'"
    if label_names.ndim != 1 or label_names.dtype.kind not in "US":
        raise _fail(
            path,
            field,
            f"has shape {label_names.shape}, dtype {label_names.dtype}; "
            "expected a 1-D array of strings",
        )
    names = [_label_text(path, field, v) for v in label_names]
    if len(set(names)) != len(names):
        raise _fail(path, field, "has duplicate names; expected one distinct name per class")
    return names


def _label_text(path: Path, field: str, value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            raise _fail(path, field, "holds bytes that are not ASCII text") from None
    return str(value)


def _lookup(
    path: Path,
    key: str,
    values: np.ndarray,
    classes: np.ndarray,
    sorter: np.ndarray | None,
    source: str,
) -> np.ndarray:
    """Index of each value in ``classes``; DataError naming the first value not found."""
    if not len(classes):
        return np.zeros(len(values), dtype=np.int64)
    pos = np.searchsorted(classes, values, sorter=sorter)
    pos = np.minimum(pos, len(classes) - 1)
    idx = pos if sorter is None else sorter[pos]
    bad = classes[idx] != values
    if bad.any():
        first = int(np.argmax(bad))
        raise _fail(
            path,
            f"array {key!r}",
            f"label {values[first].item()!r} at row {first} is not one of the classes in {source}",
        )
    return idx.astype(np.int64)


def _check_classes(path: Path, y_idx: np.ndarray, names: list[str]) -> None:
    if len(names) < 2:
        raise _fail(
            path, "array 'y'", f"has {len(names)} class(es); need at least 2 distinct labels"
        )
    counts = np.bincount(y_idx, minlength=len(names))
    rare = np.flatnonzero(counts < MIN_PER_CLASS)
    if len(rare):
        first = int(rare[0])
        raise _fail(
            path,
            "array 'y'",
            f"class {names[first]!r} has {counts[first]} sample(s); each class needs at least "
            f"{MIN_PER_CLASS} (one each for train, val and test)",
        )
