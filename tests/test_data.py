"""Tests for hill_dash.engine.data: built-ins, splits, the Dataset, and loading good npz/csv
files (bad ones: `test_data_bad_input.py`)."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest

from hill_dash.engine import data, data_csv, data_files
from hill_dash.engine.data import (
    BUILTINS,
    SPLITS,
    Dataset,
    load_builtin,
    load_dataset,
    load_file,
    split_stratified,
)
from hill_dash.engine.errors import DataError
from tests.data_files_made import (
    assert_same,
    blobs,
    csv_text,
    proportions,
    write_npz,
    write_text,
)

_, Y60 = blobs(n=60)


@pytest.fixture(scope="module")
def mnist1d_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose mnist1d cache is generated once for the whole module."""
    directory = tmp_path_factory.mktemp("hill_data")
    load_builtin("mnist1d", data_dir=directory, seed=0)
    return directory


# --------------------------------------------------------------------------- built-ins


def test_digits_shapes_kind_and_classes() -> None:
    ds = load_builtin("digits", seed=0)
    assert (ds.name, ds.kind, ds.n_classes) == ("digits", "image", 10)
    assert ds.label_names == [str(i) for i in range(10)]
    assert ds.sample_shape == (8, 8) and ds.n_features == 64
    assert len(ds.all_y()) == 1797
    for split in SPLITS:
        X, y = getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}")
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() >= 0.0 and X.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))
    assert abs(len(ds.y_val) - 0.15 * 1797) < 10
    assert abs(len(ds.y_test) - 0.15 * 1797) < 10
    train = proportions(ds.y_train, 10)
    for y in (ds.y_val, ds.y_test):
        assert np.abs(proportions(y, 10) - train).max() < 0.03


def test_mnist1d_shapes_kind_and_classes(mnist1d_dir: Path) -> None:
    ds = load_builtin("mnist1d", data_dir=mnist1d_dir, seed=0)
    assert (ds.name, ds.kind, ds.n_classes, ds.sample_shape) == ("mnist1d", "sequence", 10, (40,))
    assert len(ds.y_test) == 1000 and len(ds.y_train) + len(ds.y_val) == 4000
    assert ds.X_train.dtype == np.float32
    assert abs(float(ds.all_X().mean())) < 0.1 and abs(float(ds.all_X().std()) - 1) < 0.1
    train = proportions(ds.y_train, 10)
    assert np.abs(proportions(ds.y_val, 10) - train).max() < 0.03


def test_mnist1d_cache_written_and_reused(mnist1d_dir: Path, monkeypatch) -> None:
    cache = mnist1d_dir / "datasets" / "mnist1d.npz"
    assert cache.is_file()
    before = load_builtin("mnist1d", data_dir=mnist1d_dir, seed=3)

    def no_generation():
        raise AssertionError("cache was not reused")

    monkeypatch.setattr(data, "_generate_mnist1d", no_generation)
    assert_same(before, load_builtin("mnist1d", data_dir=mnist1d_dir, seed=3))
    with np.load(cache, allow_pickle=False) as archive:
        assert {"X_train", "y_train", "X_test", "y_test"} <= set(archive.files)
    assert not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp")]


def test_mnist1d_without_data_dir_matches_cache_and_keeps_global_rng(mnist1d_dir: Path) -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    fresh = load_builtin("mnist1d", data_dir=None, seed=5)
    assert (np.random.rand(), random.random()) == expected
    assert_same(fresh, load_builtin("mnist1d", data_dir=mnist1d_dir, seed=5))


def fake_mnist1d() -> dict[str, np.ndarray]:
    X, y = blobs(n=200, n_classes=10, features=40)
    return {
        "X_train": X[:150].astype(np.float32),
        "y_train": y[:150].astype(np.int64),
        "X_test": X[150:].astype(np.float32),
        "y_test": y[150:].astype(np.int64),
    }


def test_mnist1d_corrupt_cache_is_regenerated(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data, "_generate_mnist1d", fake_mnist1d)
    cache = tmp_path / "datasets" / "mnist1d.npz"
    cache.parent.mkdir()
    cache.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="regenerating"):
        ds = load_builtin("mnist1d", data_dir=tmp_path)
    assert len(ds.y_test) == 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(ds, load_builtin("mnist1d", data_dir=tmp_path))


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_are_deterministic(name: str, mnist1d_dir: Path) -> None:
    a = load_dataset(name, data_dir=mnist1d_dir, seed=7)
    b = load_dataset(name, data_dir=mnist1d_dir, seed=7)
    c = load_dataset(name, data_dir=mnist1d_dir, seed=8)
    assert_same(a, b)
    assert not np.array_equal(a.y_train, c.y_train)


def test_unknown_builtin_lists_valid_names() -> None:
    for call in (lambda: load_builtin("cifar"), lambda: load_dataset("cifar")):
        with pytest.raises(DataError, match="cifar") as info:
            call()
        assert all(name in str(info.value) for name in BUILTINS)


# --------------------------------------------------------------------------- splitting


def test_split_stratified_sizes_presence_and_determinism() -> None:
    X, y = blobs(n=300, n_classes=5)
    parts = split_stratified(X, y, seed=1)
    X_tr, y_tr, X_val, y_val, X_te, y_te = parts
    assert len(y_tr) + len(y_val) + len(y_te) == 300
    assert (len(y_val), len(y_te)) == (45, 45)
    for Xs, ys in ((X_tr, y_tr), (X_val, y_val), (X_te, y_te)):
        assert len(Xs) == len(ys)
        assert set(ys) == set(range(5))
    all_rows = np.concatenate([X_tr, X_val, X_te])
    assert len(np.unique(all_rows, axis=0)) == 300
    again = split_stratified(X, y, seed=1)
    for a, b in zip(parts, again, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("counts", [[3] * 7, [3, 100], [3, 4, 5, 20]])
def test_split_keeps_every_class_in_every_split_when_possible(counts: list[int]) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    X = np.arange(len(y), dtype=float)[:, None]
    _, y_tr, _, y_val, _, y_te = split_stratified(X, y, seed=0)
    for ys in (y_tr, y_val, y_te):
        assert set(ys) == set(range(len(counts)))


def test_train_test_split_would_not_keep_small_classes_in_every_split() -> None:
    """Why split_stratified stays (issue 12): sklearn's stratified split loses small classes."""
    from sklearn.model_selection import train_test_split

    y = np.repeat(np.arange(4), [3, 4, 5, 20])
    X = np.arange(len(y), dtype=float)[:, None]
    X_rest, _, y_rest, y_te = train_test_split(X, y, test_size=0.15, stratify=y, random_state=0)
    _, _, _, y_val = train_test_split(
        X_rest, y_rest, test_size=0.15 / 0.85, stratify=y_rest, random_state=0
    )
    assert len(set(y_val)) < 4 and len(set(y_te)) < 4
    _, y_tr, _, y_val, _, y_te = split_stratified(X, y, seed=0)
    assert all(set(part) == set(range(4)) for part in (y_tr, y_val, y_te))
    y7 = np.repeat(np.arange(7), 3)
    with pytest.raises(ValueError, match="number of classes"):
        train_test_split(y7[:, None], y7, test_size=0.15, stratify=y7, random_state=0)


def test_split_with_zero_test_fraction_and_bad_fractions() -> None:
    X, y = blobs(n=40)
    _, _, _, y_val, X_te, y_te = split_stratified(X, y, seed=0, test_frac=0.0)
    assert len(y_val) > 0 and X_te.shape == (0, 4) and len(y_te) == 0
    with pytest.raises(DataError, match="val_frac"):
        split_stratified(X, y, seed=0, val_frac=0.6, test_frac=0.5)


# --------------------------------------------------------------------------- Dataset


def test_dataset_helpers_are_aligned() -> None:
    ds = load_builtin("digits", seed=2)
    splits = ds.split_array()
    assert splits.dtype == np.dtype("<U5")
    assert len(ds.all_X()) == len(ds.all_y()) == len(splits)
    np.testing.assert_array_equal(ds.all_X()[splits == "val"], ds.X_val)
    np.testing.assert_array_equal(ds.all_y()[splits == "test"], ds.y_test)


def test_save_load_round_trip(tmp_path: Path) -> None:
    ds = load_builtin("digits", seed=4)
    path = tmp_path / "saved.npz"
    ds.save_npz(path)
    ds.save_npz(path)  # overwriting is fine
    assert_same(ds, Dataset.load_npz(path))
    assert [p.name for p in tmp_path.iterdir()] == ["saved.npz"]
    with np.load(path, allow_pickle=False) as archive:
        assert archive["label_names"].dtype.kind == "U"


def test_load_npz_rejects_other_files(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "other.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"other\.npz.*'X_train'"):
        Dataset.load_npz(path)


def test_dataset_rejects_inconsistent_splits() -> None:
    X, y = blobs(n=30)
    with pytest.raises(DataError, match="X_val"):
        Dataset("d", "flat", X, y, X[:, :2], y, X, y, ["a", "b", "c"])
    with pytest.raises(DataError, match="y_test"):
        Dataset("d", "flat", X, y, X, y, X, y + 5, ["a", "b", "c"])


# --------------------------------------------------------------------------- user files


def test_npz_with_arbitrary_int_labels(tmp_path: Path) -> None:
    X, y = blobs(n=60)
    path = write_npz(tmp_path / "mine.npz", X=X, y=np.array([10, 30, -2])[y])
    ds = load_file(path, seed=0)
    assert (ds.name, ds.kind, ds.label_names) == ("mine", "flat", ["-2", "10", "30"])
    assert len(ds.all_y()) == 60 and ds.X_train.dtype == np.float32


def test_npz_images_with_string_labels_and_test_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((40, 5, 6))
    y = np.array(["b", "a"] * 20)
    X_test, y_test = rng.random((8, 5, 6)), np.array(["a", "b"] * 4)
    path = write_npz(tmp_path / "img.npz", X=X, y=y, X_test=X_test, y_test=y_test)
    ds = load_file(path)
    assert (ds.kind, ds.sample_shape, ds.label_names) == ("image", (5, 6), ["a", "b"])
    np.testing.assert_array_equal(ds.X_test, X_test.astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, [0, 1] * 4)
    assert len(ds.y_train) + len(ds.y_val) == 40


def test_npz_label_names_array_is_used(tmp_path: Path) -> None:
    X, y = blobs(n=30)
    names = np.array(["zero", "one", "two"])
    ds = load_file(write_npz(tmp_path / "named.npz", X=X, y=y, label_names=names))
    assert ds.label_names == ["zero", "one", "two"]
    np.testing.assert_array_equal(np.sort(ds.all_y()), np.sort(y))


def test_csv_label_column_and_last_column(tmp_path: Path) -> None:
    ds = load_file(write_text(tmp_path / "pets.csv", csv_text()))
    assert (ds.name, ds.kind, ds.sample_shape, ds.label_names) == (
        "pets",
        "flat",
        (2,),
        ["cat", "dog"],
    )
    text = "label,x,y\n" + "".join(f"{i % 2},{i},{i * 2}\n" for i in range(24))
    ds = load_file(write_text(tmp_path / "first.csv", text))
    assert ds.label_names == ["0", "1"] and ds.n_features == 2
    no_label = csv_text(label_header="kind")
    assert load_file(write_text(tmp_path / "last.csv", no_label)).label_names == ["cat", "dog"]


@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_npz_images_with_channels_come_out_channels_first(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(60, 3, 10, 12), dtype=np.uint8)  # (n, C, H, W)
    y = np.arange(60) % 3
    X_test = X[:9]
    stored = X if layout == "chw" else X.transpose(0, 2, 3, 1)
    stored_test = X_test if layout == "chw" else X_test.transpose(0, 2, 3, 1)
    path = write_npz(tmp_path / f"{layout}.npz", X=stored, y=y, X_test=stored_test, y_test=y[:9])
    ds = load_file(path)
    assert (ds.kind, ds.sample_shape) == ("image", (3, 10, 12))
    assert ds.X_train.flags.c_contiguous and ds.X_train.dtype == np.float32
    np.testing.assert_array_equal(ds.X_test, X_test.astype(np.float32))
    rows = {tuple(r) for r in X.reshape(60, -1).astype(np.float32)}
    assert all(tuple(r) in rows for r in ds.X_train.reshape(len(ds.X_train), -1))


@pytest.mark.parametrize(
    "shape, last",
    [
        ((5, 32, 32, 3), True),
        ((5, 3, 32, 32), False),
        ((5, 28, 28, 1), True),
        ((5, 1, 28, 28), False),
        ((5, 3, 4, 3), False),
        ((5, 16, 8, 8), False),
    ],
)
def test_channels_last_rule(shape: tuple[int, ...], last: bool) -> None:
    assert data_files.channels_last(shape) is last


def test_channels_test_split_must_match_the_layout(tmp_path: Path) -> None:
    X = np.zeros((60, 8, 8, 3))
    path = write_npz(
        tmp_path / "mix.npz", X=X, y=Y60, X_test=np.zeros((5, 3, 8, 8)), y_test=Y60[:5]
    )
    with pytest.raises(DataError, match=r"mix\.npz: array 'X_test': has sample shape \(3, 8, 8\)"):
        load_file(path)


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_csv_separator_is_sniffed(tmp_path: Path, sep: str) -> None:
    rows = [sep.join(["a", "b", "label"])]
    rows += [sep.join([f"{i * 0.5}", f"{-i}", "cat" if i % 2 else "dog"]) for i in range(30)]
    ds = load_file(write_text(tmp_path / "sep.csv", "\n".join(rows) + "\n"))
    assert (ds.sample_shape, ds.label_names) == ((2,), ["cat", "dog"])
    assert sorted(ds.all_X()[:, 0].tolist()) == [i * 0.5 for i in range(30)]


def test_semicolon_csv_with_decimal_commas(tmp_path: Path) -> None:
    text = "x;y;label\n" + "".join(f"{i},5;{-i},25;{i % 2}\n" for i in range(24))
    ds = load_file(write_text(tmp_path / "de.csv", text))
    assert sorted(ds.all_X()[:, 0].tolist()) == [i + 0.5 for i in range(24)]
    assert sorted(ds.all_X()[:, 1].tolist()) == sorted(float(f"{-i}.25") for i in range(24))


def test_sniffing_falls_back_to_commas() -> None:
    assert data_csv.sniff_delimiter("label\na\nb\n") == ","
    assert data_csv.sniff_delimiter("") == ","
    assert data_csv.sniff_delimiter("a;b;c\n1;2;3\n4;5;6\n") == ";"
    assert data_csv.sniff_delimiter("a,b;c,label\n1,2;3,x\n4,5;6,y\n") == ","


def test_load_dataset_dispatches_paths(tmp_path: Path) -> None:
    path = write_text(tmp_path / "pets.csv", csv_text())
    assert load_dataset(str(path)).name == "pets"
    assert load_dataset(path).name == "pets"
    with pytest.raises(DataError, match=r"missing\.csv"):
        load_dataset(str(tmp_path / "missing.csv"))


def test_file_splits_are_deterministic(tmp_path: Path) -> None:
    path = write_text(tmp_path / "pets.csv", csv_text(n=60))
    assert_same(load_file(path, seed=9), load_file(path, seed=9))
    assert not np.array_equal(load_file(path, seed=9).X_train, load_file(path, seed=10).X_train)
