"""CSV text read into arrays: a header row, numeric feature columns and one label column.

The separator (``,`` ``;`` tab or ``|``) is sniffed from the first lines; with ``;``, tab or
``|`` a decimal comma (``1,5``) is read as ``1.5``. The label column is the one named
``label`` (any case), else the last. Each problem raises one DataError naming the file, the
column and line, and what was expected; reading stops once past the size limits.
:mod:`hill_dash.engine.data_files` validates the arrays.
"""

from __future__ import annotations

import contextlib
import csv
from array import array
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hill_dash.engine.errors import DataError

CSV_DELIMITERS = ",;\t|"
CSV_SNIFF_BYTES = 64 * 1024


def _fail(path: Path, field: str, message: str) -> DataError:
    return DataError(f"{path}: {field}: {message}")


def read_csv(
    path: Path, max_rows: int, max_values: int
) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
    """X (n, F) float64, labels and a row -> "line N" namer, from a CSV with a header.

    Reading stops with a DataError once past ``max_rows`` rows or ``max_values`` values.
    """
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            delimiter = sniff_delimiter(handle.read(CSV_SNIFF_BYTES))
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            header = _csv_header(path, reader)
            return _csv_rows(path, reader, header, delimiter, (max_rows, max_values))
    except UnicodeDecodeError as err:
        raise _fail(
            path, "file", f"is not UTF-8 text (bad byte at offset {err.start}); expected a CSV"
        ) from None
    except csv.Error as err:
        line = reader.line_num if reader is not None else 0
        raise _fail(path, f"line {line}", f"malformed CSV ({err})") from None
    except OSError as err:
        raise _fail(path, "file", f"cannot be read ({err.strerror})") from None


def sniff_delimiter(sample: str) -> str:
    """The separator of a CSV from its first lines: one of ``,`` ``;`` tab ``|``, else ``,``."""
    lines = sample.splitlines()
    if len(sample) >= CSV_SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    lines = [line for line in lines if line.strip()][:100]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


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
        raise _fail(
            path,
            "header",
            "has 1 column; expected feature columns and a label column separated by "
            "',', ';', tab or '|'",
        )
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
    path: Path, reader: Any, header: list[str], delimiter: str, limits: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
    max_rows, max_values = limits
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
        values.extend(_csv_float(path, header, j, row[j], line, delimiter) for j in features)
        labels.append(label)
        lines.append(line)
        if len(lines) > max_rows or len(values) > max_values:
            raise _fail(
                path,
                f"line {line}",
                f"too much data: at most {max_rows:,} rows and {max_values:,} values are "
                "accepted (stopped reading here)",
            )
    X = np.frombuffer(values, dtype=np.float64).reshape(len(lines), len(features))
    return X, _csv_labels(labels), lambda i: f"line {lines[i]}"


def _csv_float(
    path: Path, header: list[str], j: int, cell: str, line: int, delimiter: str = ","
) -> float:
    try:
        return float(cell)
    except ValueError:
        if delimiter != "," and cell.count(",") == 1 and "." not in cell:
            with contextlib.suppress(ValueError):
                return float(cell.replace(",", "."))  # a decimal comma
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
