"""Bad data files get a clear error that names the file, the field and what was expected
(a table of cases), and no byte sequence, CSV text or corrupted npz gets anything but a
`DataError` (fuzzing). The good files are in `test_data.py`."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hill_dash.engine import data_files
from hill_dash.engine.data import (
    Dataset,
    load_file,
)
from hill_dash.engine.data_files import MIN_PER_CLASS
from hill_dash.engine.errors import DataError
from tests.data_files_made import (
    blobs,
    csv_text,
    npz_claiming,
    write_npz,
    write_text,
)

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --------------------------------------------------------------------------- bad input

Case = Callable[[Path, pytest.MonkeyPatch], Path]


def _npz(name: str, **arrays) -> Case:
    return lambda tmp, mp: write_npz(tmp / name, **arrays)


def _csv(name: str, text: str) -> Case:
    return lambda tmp, mp: write_text(tmp / name, text)


def _bytes(name: str, content: bytes) -> Case:
    def build(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
        (tmp / name).write_bytes(content)
        return tmp / name

    return build


def _too_many_csv_rows(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    mp.setattr(data_files, "MAX_ROWS", 25)
    return write_text(tmp / "long.csv", csv_text(n=100))


X60, Y60 = blobs(n=60)
NAN_X = X60.copy()
NAN_X[7, 1] = np.nan
NAN_X[9, 0] = np.inf
ONE_RARE = Y60.copy()
ONE_RARE[:MIN_PER_CLASS] = 99
ONE_RARE[MIN_PER_CLASS - 1] = 0

BAD_CASES: list[tuple[str, Case, str, str]] = [
    ("missing_file", lambda tmp, mp: tmp / "nope.npz", "file", "not found"),
    ("unknown_extension", _bytes("data.txt", b"1,2\n"), "file extension", ".txt"),
    ("empty_npz", _bytes("empty.npz", b""), "file", "empty"),
    ("empty_csv", _bytes("empty.csv", b""), "file", "empty"),
    ("not_a_zip", _bytes("junk.npz", b"PK this is not a zip"), "file", "not a valid .npz"),
    ("npy_not_npz", lambda tmp, mp: _save_npy(tmp / "single.npz"), "file", "not a valid .npz"),
    ("missing_X", _npz("nox.npz", y=Y60), "array 'X'", "missing"),
    ("missing_y", _npz("noy.npz", X=X60), "array 'y'", "missing"),
    (
        "object_array",
        _npz("obj.npz", X=np.array([[1, "a"]] * 30, dtype=object), y=np.zeros(30)),
        "array 'X'",
        "object arrays are not accepted",
    ),
    ("X_not_numeric", _npz("text.npz", X=X60.astype(str), y=Y60), "array 'X'", "numeric"),
    ("X_1d", _npz("flat1.npz", X=X60[:, 0], y=Y60), "array 'X'", "2-D"),
    ("X_5d", _npz("five.npz", X=np.zeros((60, 2, 2, 2, 2)), y=Y60), "array 'X'", "4-D images"),
    ("X_no_features", _npz("nofeat.npz", X=np.zeros((60, 0)), y=Y60), "array 'X'", "one value"),
    ("length_mismatch", _npz("len.npz", X=X60, y=Y60[:50]), "array 'y'", "50 labels"),
    ("nan_in_X", _npz("nan.npz", X=NAN_X, y=Y60), "array 'X'", "2 NaN or infinite|row 7"),
    ("X_overflow", _npz("huge.npz", X=X60 * 1e300, y=Y60), "array 'X'", "float32"),
    ("y_2d", _npz("y2.npz", X=X60, y=Y60[:, None]), "array 'y'", "1-D"),
    ("y_fractional", _npz("yf.npz", X=X60, y=Y60 + 0.5), "array 'y'", "whole number"),
    ("y_complex", _npz("yc.npz", X=X60, y=Y60 + 1j), "array 'y'", "dtype"),
    ("one_class", _npz("one.npz", X=X60, y=np.zeros(60)), "array 'y'", "at least 2"),
    ("rare_class", _npz("rare.npz", X=X60, y=ONE_RARE), "array 'y'", "class '99' has 2"),
    ("too_few", _npz("few.npz", X=X60[:12], y=Y60[:12]), "array 'X'", "at least 20"),
    (
        "too_many_rows",
        lambda tmp, mp: npz_claiming(tmp / "rows.npz", (2_000_001, 4)),
        "'X'",
        "rows",
    ),
    (
        "too_many_values",
        lambda tmp, mp: npz_claiming(tmp / "vals.npz", (20_000, 10_001)),
        "'X'",
        "values",
    ),
    (
        "truncated_array",
        lambda tmp, mp: npz_claiming(tmp / "trunc.npz", (60, 4)),
        "array 'X'",
        "truncated",
    ),
    ("X_test_without_y", _npz("xt.npz", X=X60, y=Y60, X_test=X60), "array 'y_test'", "missing"),
    ("y_test_without_X", _npz("yt.npz", X=X60, y=Y60, y_test=Y60), "array 'X_test'", "missing"),
    (
        "X_test_shape",
        _npz("xts.npz", X=X60, y=Y60, X_test=X60[:, :3], y_test=Y60),
        "array 'X_test'",
        "sample shape",
    ),
    (
        "y_test_unknown_label",
        _npz("ytu.npz", X=X60, y=Y60, X_test=X60[:5], y_test=np.array([0, 1, 2, 7, 1])),
        "array 'y_test'",
        "label 7",
    ),
    (
        "label_names_too_short",
        _npz("ln.npz", X=X60, y=Y60, label_names=np.array(["a", "b"])),
        "array 'y'",
        "label 2",
    ),
    (
        "label_names_not_text",
        _npz("ln2.npz", X=X60, y=Y60, label_names=np.arange(3)),
        "array 'label_names'",
        "strings",
    ),
    ("csv_no_header", _csv("nohead.csv", "1,2,0\n" * 30), "header", "column names"),
    ("csv_only_blank", _csv("blank.csv", "\n\n  \n"), "header", "no rows"),
    ("csv_one_column", _csv("onecol.csv", "label\n" + "a\n" * 30), "header", "1 column"),
    ("csv_duplicate_column", _csv("dup.csv", "a,a,label\n"), "header", "'a'"),
    ("csv_ragged", _csv("ragged.csv", "a,b,label\n1,2,x\n1,2\n"), "line 3", "2 fields"),
    (
        "csv_text_cell",
        _csv("cell.csv", "a,b,label\n1,2,x\n1,oops,y\n"),
        "column 'b', line 3",
        "oops",
    ),
    ("csv_empty_cell", _csv("gap.csv", "a,b,label\n1,,x\n"), "column 'b', line 2", "empty"),
    (
        "csv_missing_label",
        _csv("nolab.csv", "a,b,label\n1,2,x\n1,2, \n"),
        "column 'label', line 3",
        "empty",
    ),
    ("csv_nan", _csv("nan.csv", csv_text().replace("\n3.0,", "\nnan,")), "array 'X'", "line 8"),
    ("csv_too_few", _csv("short.csv", csv_text(n=5)), "array 'X'", "at least 20"),
    (
        "csv_one_class",
        _csv("oneclass.csv", csv_text().replace("cat", "dog")),
        "array 'y'",
        "at least 2",
    ),
    ("csv_too_many_rows", _too_many_csv_rows, "line 27", "at most 25 rows"),
    ("csv_not_utf8", _bytes("latin.csv", b"a,b,label\n1,2,caf\xe9\n"), "file", "UTF-8"),
    (
        "csv_nul_or_bad_quote",
        _bytes("quote.csv", b'a,b,label\n1,2,"x' + b"y" * 200_000),
        "line",
        "CSV",
    ),
]


def _save_npy(path: Path) -> Path:
    with open(path, "wb") as handle:
        np.save(handle, X60)
    return path


@pytest.mark.parametrize(
    ("build", "field", "phrase"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_input_names_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Case, field: str, phrase: str
) -> None:
    path = build(tmp_path, monkeypatch)
    with pytest.raises(DataError) as info:
        load_file(path)
    message = str(info.value)
    assert path.name in message, message
    assert field in message, message
    assert all(part in message for part in phrase.split("|")), message
    assert "\n" not in message


def test_bad_input_messages_are_distinct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Different kinds of problems never share a message (paths removed)."""
    seen: dict[str, tuple[str, str]] = {}
    for name, build, field, phrase in BAD_CASES:
        case_dir = tmp_path / name
        case_dir.mkdir()
        with monkeypatch.context() as mp, pytest.raises(DataError) as info:
            path = build(case_dir, mp)
            load_file(path)
        message = str(info.value).replace(str(path), "FILE")
        assert seen.setdefault(message, (field, phrase)) == (field, phrase), message


# --------------------------------------------------------------------------- fuzzing


def _only_data_errors(path: Path) -> None:
    try:
        ds = load_file(path)
    except DataError:
        return
    assert isinstance(ds, Dataset)


@FUZZ
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".npz", ".csv"]))
def test_fuzz_random_bytes(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    _only_data_errors(path)


CSV_ALPHABET = st.sampled_from(list("0123456789.,-+e\n\r\"' abcnaifl\t;\x00é_"))


@FUZZ
@given(
    text=st.one_of(
        st.text(CSV_ALPHABET, max_size=600),
        st.lists(
            st.lists(
                st.sampled_from(["1", "2.5", "-3", "nan", "inf", "x", "", "1e400"]),
                min_size=3,
                max_size=3,
            ),
            min_size=0,
            max_size=40,
        ).map(lambda rows: "a,b,label\n" + "\n".join(",".join(r) for r in rows)),
    )
)
def test_fuzz_csv_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    _only_data_errors(path)


def _valid_npz_bytes() -> bytes:
    X, y = blobs(n=30)
    buf = io.BytesIO()
    np.savez(buf, X=X.astype(np.float32), y=y, X_test=X[:4], y_test=y[:4])
    return buf.getvalue()


VALID_NPZ = _valid_npz_bytes()


@FUZZ
@given(
    cut=st.integers(0, len(VALID_NPZ)),
    flips=st.lists(st.tuples(st.integers(0, len(VALID_NPZ) - 1), st.integers(1, 255)), max_size=4),
)
def test_fuzz_corrupted_npz(tmp_path: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    content = bytearray(VALID_NPZ)
    for pos, xor in flips:
        content[pos] ^= xor
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(content[: max(cut, 1)]))
    _only_data_errors(path)
