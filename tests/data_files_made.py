"""Data sets and files for the data-loading tests (`test_data.py`,
`test_data_bad_input.py`): small blobs, npz/csv/npy writers, a header that lies."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from hill_dash.engine.data import SPLITS, Dataset


def assert_same(a: Dataset, b: Dataset) -> None:
    assert (a.name, a.kind, a.label_names) == (b.name, b.kind, b.label_names)
    for split in SPLITS:
        for prefix in ("X", "y"):
            left, right = getattr(a, f"{prefix}_{split}"), getattr(b, f"{prefix}_{split}")
            assert left.dtype == right.dtype
            np.testing.assert_array_equal(left, right)


def proportions(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=n_classes) / len(y)


def blobs(n: int = 60, n_classes: int = 3, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, features)) + y[:, None]
    return X, y


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv_text(n: int = 30, label_header: str = "label") -> str:
    rows = [f"a,b,{label_header}"]
    rows += [f"{i * 0.5},{-i},{'cat' if i % 2 else 'dog'}" for i in range(n)]
    return "\n".join(rows) + "\n"


def header_only_npy(shape: tuple[int, ...]) -> bytes:
    """A .npy header that claims ``shape`` but carries no data."""
    buf = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def npz_claiming(path: Path, shape: tuple[int, ...]) -> Path:
    _, y = blobs()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header_only_npy(shape))
        buf = io.BytesIO()
        np.save(buf, y)
        archive.writestr("y.npy", buf.getvalue())
    return path
