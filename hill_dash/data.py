"""Data sets: the two built-ins (``digits``, ``mnist1d``) and user files (``.npz``, ``.csv``).

Everything ends up as a :class:`Dataset` with fixed train / val / test splits. Splits are
stratified and depend only on the seed, so the same seed always gives the same split.

User files are untrusted input. Each problem raises one :class:`~hill_dash.errors.DataError`
whose message names the file, the array or column (and the CSV line), and what was expected.
Sizes are checked before the data is read: from the ``.npy`` headers inside an ``.npz``, and
row by row for a CSV, which stops reading once past the limit. Pickled or object arrays are
never loaded.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import tempfile
import warnings
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hill_dash.errors import DataError

BUILTINS = ("digits", "mnist1d")
SPLITS = ("train", "val", "test")
KINDS = ("image", "sequence", "flat")
FILE_SUFFIXES = (".npz", ".csv")

VAL_FRAC = 0.15
TEST_FRAC = 0.15
MIN_SAMPLES = 20
MIN_PER_CLASS = 3
MAX_ROWS = 2_000_000
MAX_VALUES = 200_000_000
MAX_BYTES = 8 * MAX_VALUES

MNIST1D_CACHE = "mnist1d.npz"
_MNIST1D_FORMAT = "hill-dash-mnist1d-v1"
_MNIST1D_KEYS = ("format", "X_train", "y_train", "X_test", "y_test")
_USER_KEYS = ("X", "y", "X_test", "y_test", "label_names")
_SAVED_KEYS = (
    *(f"{a}_{s}" for s in SPLITS for a in ("X", "y")),
    "name",
    "kind",
    "label_names",
)
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

Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- Dataset


@dataclass(eq=False)
class Dataset:
    """A labelled data set with fixed train / val / test splits.

    ``X_*`` are float32 arrays of shape ``(n, *sample_shape)``: ``(n, H, W)`` for kind
    ``"image"``, ``(n, L)`` for ``"sequence"`` and ``(n, F)`` for ``"flat"``. ``y_*`` are
    int64 class indices into ``label_names``.
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

    def __post_init__(self) -> None:
        for split in SPLITS:
            X = np.asarray(getattr(self, f"X_{split}"), dtype=np.float32)
            y = np.asarray(getattr(self, f"y_{split}"), dtype=np.int64)
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y)
        self.label_names = [str(label) for label in self.label_names]
        _check_dataset(self)

    @property
    def n_classes(self) -> int:
        """Number of classes (the length of ``label_names``)."""
        return len(self.label_names)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(8, 8)`` or ``(40,)``."""
        return tuple(int(d) for d in self.X_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of values in one sample (the product of ``sample_shape``)."""
        return math.prod(self.sample_shape)

    def all_X(self) -> np.ndarray:
        """All samples: train, then val, then test (the order of :meth:`split_array`)."""
        return np.concatenate([self.X_train, self.X_val, self.X_test])

    def all_y(self) -> np.ndarray:
        """All labels, aligned with :meth:`all_X`."""
        return np.concatenate([self.y_train, self.y_val, self.y_test])

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
        _atomic_savez(Path(path), arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> Dataset:
        """Read a file written by :meth:`save_npz`; raises DataError if it is not one."""
        path = Path(path)
        _check_file(path, suffixes=None)
        arrays = _read_npz(path, _SAVED_KEYS)
        text = {key: _text_array(path, key, arrays.pop(key)) for key in ("name", "kind")}
        labels = _text_array(path, "label_names", arrays.pop("label_names"), ndim=1)
        try:
            return cls(name=text["name"], kind=text["kind"], label_names=labels, **arrays)
        except DataError as err:
            raise DataError(f"{path}: not a valid saved data set: {err}") from None


def _check_dataset(ds: Dataset) -> None:
    """Raise DataError unless the splits of ``ds`` fit together."""
    where = f"data set {ds.name!r}"
    if ds.kind not in KINDS:
        raise DataError(f"{where}: kind {ds.kind!r} is not one of {', '.join(KINDS)}")
    ndim = 3 if ds.kind == "image" else 2
    for split in SPLITS:
        X, y = getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}")
        if X.ndim != ndim or X.shape[1:] != ds.X_train.shape[1:]:
            raise DataError(
                f"{where}: 'X_{split}' has shape {X.shape}; expected {ndim}-D for kind "
                f"{ds.kind!r} with sample shape {ds.X_train.shape[1:]}"
            )
        if y.shape != (len(X),):
            raise DataError(f"{where}: 'y_{split}' has shape {y.shape}; expected ({len(X)},)")
        if y.size and (y.min() < 0 or y.max() >= ds.n_classes):
            raise DataError(
                f"{where}: 'y_{split}' holds values outside 0..{ds.n_classes - 1} "
                f"(one per label name)"
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
    """Load ``"digits"`` or ``"mnist1d"``; ``data_dir`` caches the generated mnist1d."""
    key = str(name).strip().lower()
    if key == "digits":
        return _load_digits(seed)
    if key == "mnist1d":
        return _load_mnist1d(data_dir, seed)
    raise DataError(_unknown_builtin_message(str(name)))


def load_file(path: str | Path, seed: int = 0) -> Dataset:
    """Load and validate a user ``.npz`` (arrays X, y, ...) or ``.csv`` (with header) file."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _read_npz(path, ("X", "y"), optional=("X_test", "y_test", "label_names"))
        return _dataset_from_arrays(path, arrays, seed)
    X, y, line_of = _read_csv(path)
    return _dataset_from_arrays(path, {"X": X, "y": y}, seed, row_name=line_of)


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
    arrays = _read_npz(path, _MNIST1D_KEYS)
    if _text_array(path, "format", arrays.pop("format")) != _MNIST1D_FORMAT:
        raise DataError(f"{path}: 'format': expected {_MNIST1D_FORMAT!r} (stale cache)")
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        ok = X.ndim == 2 and X.dtype == np.float32 and y.shape == (len(X),)
        if not ok or y.dtype != np.int64 or (y.size and (y.min() < 0 or y.max() > 9)):
            raise DataError(f"{path}: 'X_{split}' / 'y_{split}' do not look like mnist1d")
    return arrays


# --------------------------------------------------------------------------- files


def _fail(path: Path, field: str, message: str) -> DataError:
    return DataError(f"{path}: {field}: {message}")


def _check_file(path: Path, suffixes: Sequence[str] | None = FILE_SUFFIXES) -> None:
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


def _text_array(path: Path, key: str, value: np.ndarray, ndim: int = 0) -> Any:
    """A 0-d string array as ``str`` or a 1-D one as ``list[str]``."""
    if value.dtype.kind != "U" or value.ndim != ndim:
        raise _fail(path, f"array {key!r}", f"expected a {ndim}-D string array")
    return str(value) if ndim == 0 else [str(v) for v in value]


# --------------------------------------------------------------------------- npz reading


def _read_npz(
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
        with archive.open(member) as handle:
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
        with archive.open(member) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    except _ZIP_ERRORS as err:
        raise _fail(
            path, f"array {key!r}", f"could not be read, truncated or corrupt ({err})"
        ) from None


# --------------------------------------------------------------------------- csv reading


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
    """X (n, F) float64, labels and a row -> "line N" namer, from a CSV with a header."""
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = _csv_header(path, reader)
            return _csv_rows(path, reader, header)
    except UnicodeDecodeError as err:
        raise _fail(
            path, "file", f"is not UTF-8 text (bad byte at offset {err.start}); expected a CSV"
        ) from None
    except csv.Error as err:
        line = reader.line_num if reader is not None else 0
        raise _fail(path, f"line {line}", f"malformed CSV ({err})") from None
    except OSError as err:
        raise _fail(path, "file", f"cannot be read ({err.strerror})") from None


def _is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_header(path: Path, reader: Any) -> list[str]:
    header = next((row for row in reader if not _is_blank(row)), None)
    if header is None:
        raise _fail(path, "header", "the file has no rows; expected a header row of column names")
    header = [name.strip() for name in header]
    if all(_is_number(name) for name in header):
        raise _fail(
            path,
            "header",
            f"line {reader.line_num} looks like data ({_clip(','.join(header))}); "
            "expected a header row of column names",
        )
    if len(header) < 2:
        raise _fail(path, "header", "has 1 column; expected feature columns and a label column")
    dupes = sorted(name for name, count in Counter(header).items() if count > 1)
    if dupes:
        raise _fail(path, "header", f"column name {dupes[0]!r} appears more than once")
    return header


def _label_column(header: list[str]) -> int:
    lowered = [name.lower() for name in header]
    return lowered.index("label") if "label" in lowered else len(header) - 1


def _column_name(header: list[str], j: int) -> str:
    return f"column {header[j]!r}" if header[j] else f"column #{j + 1}"


def _clip(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _csv_rows(
    path: Path, reader: Any, header: list[str]
) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
    label_col = _label_column(header)
    features = [j for j in range(len(header)) if j != label_col]
    values, labels, lines = array("d"), [], array("q")
    for row in reader:
        if _is_blank(row):
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise _fail(
                path,
                f"line {line}",
                f"has {len(row)} fields; expected {len(header)}, one per header column",
            )
        label = row[label_col].strip()
        if not label:
            raise _fail(path, f"{_column_name(header, label_col)}, line {line}", "label is empty")
        values.extend(_csv_float(path, header, j, row[j], line) for j in features)
        labels.append(label)
        lines.append(line)
        if len(lines) > MAX_ROWS or len(values) > MAX_VALUES:
            raise _fail(
                path,
                f"line {line}",
                f"too much data: at most {MAX_ROWS:,} rows and {MAX_VALUES:,} values are "
                "accepted (stopped reading here)",
            )
    X = np.frombuffer(values, dtype=np.float64).reshape(len(lines), len(features))
    return X, _csv_labels(labels), lambda i: f"line {lines[i]}"


def _csv_float(path: Path, header: list[str], j: int, cell: str, line: int) -> float:
    try:
        return float(cell)
    except ValueError:
        what = "is empty" if not cell.strip() else f"has {_clip(cell)}, which is not a number"
        raise _fail(
            path,
            f"{_column_name(header, j)}, line {line}",
            f"{what}; every column except the label must be numeric",
        ) from None


def _csv_labels(labels: list[str]) -> np.ndarray:
    """Integer labels if every label is an int64 integer, else the strings."""
    try:
        ints = [int(label) for label in labels]
    except ValueError:
        return np.array(labels, dtype=str)
    limit = np.iinfo(np.int64)
    if ints and (min(ints) < limit.min or max(ints) > limit.max):
        return np.array(labels, dtype=str)
    return np.array(ints, dtype=np.int64)


# --------------------------------------------------------------------------- validation


def _dataset_from_arrays(
    path: Path,
    arrays: Mapping[str, np.ndarray],
    seed: int,
    row_name: Callable[[int], str] = lambda i: f"row {i}",
) -> Dataset:
    """Validate user arrays and split them into a Dataset named after the file."""
    X = _check_X(path, "X", arrays["X"])
    y = _check_y(path, "y", arrays["y"], "X", len(X))
    if len(X) < MIN_SAMPLES:
        raise _fail(path, "array 'X'", f"has {len(X)} samples; need at least {MIN_SAMPLES}")
    _check_finite(path, "X", X, row_name)
    X_test, y_test = _test_arrays(path, arrays, X)
    names, y_idx, y_test_idx = _encode_labels(path, y, y_test, arrays.get("label_names"))
    _check_classes(path, y_idx, names)
    if X_test is None:
        parts = split_stratified(X, y_idx, seed)
    else:
        parts = (*split_stratified(X, y_idx, seed, test_frac=0.0)[:4], X_test, y_test_idx)
    kind = "image" if X.ndim == 3 else "flat"
    return Dataset(path.stem, kind, *parts, names)


def _check_X(path: Path, key: str, X: np.ndarray) -> np.ndarray:
    """``X`` as float32 if it is numeric and 2-D or 3-D with non-empty samples."""
    field = f"array {key!r}"
    if X.dtype.kind not in "biuf":
        raise _fail(path, field, f"has dtype {X.dtype}; expected numeric values (int or float)")
    if X.ndim not in (2, 3):
        raise _fail(
            path,
            field,
            f"has shape {X.shape} ({X.ndim}-D); expected 2-D (n, features) or "
            f"3-D (n, height, width)",
        )
    if 0 in X.shape[1:]:
        raise _fail(path, field, f"has shape {X.shape}; each sample needs at least one value")
    with np.errstate(over="ignore", invalid="ignore"):
        return X.astype(np.float32)


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
    path: Path, arrays: Mapping[str, np.ndarray], X: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validated ``X_test`` / ``y_test`` from an npz, or ``(None, None)`` if absent."""
    has_x, has_y = "X_test" in arrays, "y_test" in arrays
    if not has_x and not has_y:
        return None, None
    if not has_y or not has_x:
        present, absent = ("X_test", "y_test") if has_x else ("y_test", "X_test")
        raise _fail(path, f"array {absent!r}", f"is missing; {present!r} is present and needs it")
    X_test = _check_X(path, "X_test", arrays["X_test"])
    if X_test.shape[1:] != X.shape[1:]:
        raise _fail(
            path,
            "array 'X_test'",
            f"has sample shape {X_test.shape[1:]}; expected {X.shape[1:]} like 'X'",
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
