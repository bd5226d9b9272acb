"""The Data page's server side: scenarios, images with channels, colour thumbnails,
labelled counts with unlabelled points, and a model of your own (off unless allowed)."""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
import zlib

import numpy as np
import pytest

from hill_dash.dashboard import new_run, uploads
from hill_dash.dashboard.figures.samples import make_samples_figure
from hill_dash.dashboard.thumbnails import (
    image_bytes,
    image_range,
    png_bytes,
    sample_thumbnail,
    sparkline_svg,
)
from hill_dash.engine import loop
from hill_dash.engine.data import Dataset, load_builtin
from hill_dash.engine.errors import DataError
from hill_dash.engine.store import RunStore

FACTORY = "tests.test_models:make_tiny"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("data-page")


@pytest.fixture(scope="module")
def page(root):
    """pages.data, imported under the real app (it registers a Dash page)."""
    import app as app_module
    from hill_dash.dashboard.config import AppConfig

    mp = pytest.MonkeyPatch()
    mp.setenv("HILL_DASH_DATA_DIR", str(root))
    app_module.create_app(AppConfig(data_dir=root, projection_warmup=False))
    yield sys.modules["pages.data"]
    mp.undo()


def read_png(data: bytes) -> np.ndarray:
    """Decode the PNGs png_bytes writes (8-bit grey or RGB, filter 0 on every row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = 3 if colour == 2 else 1
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + w * channels)
    assert depth == 8 and not raw[:, 0].any()
    pixels = raw[:, 1:].reshape(h, w, channels)
    return pixels if channels == 3 else pixels[..., 0]


def payload(raw: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


def cifar_shaped(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32, 32, 3) uint8 images, 10 classes told apart by colour and a square's place."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    X = rng.integers(0, 40, size=(n, 32, 32, 3), dtype=np.uint8)
    hue = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30], [30, 200, 200]])
    for i in range(n):
        r, c = 4 + 12 * (y[i] // 5), 4 + 4 * (y[i] % 5)
        X[i, r : r + 10, c : c + 10] = hue[y[i] % 5]
    return X, y


# -- thumbnails --------------------------------------------------------------------------


def test_thumbnails_are_pngs_in_colour_for_three_channels():
    x = np.zeros((3, 2, 4), np.float32)
    x[0, 0, 0] = 1.0  # red top-left
    x[2, 1, 3] = 1.0  # blue bottom-right
    rgb = image_bytes(x, (0.0, 1.0))
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[1, 3].tolist() == [0, 0, 255]
    uri = sample_thumbnail(x, "image", (0.0, 1.0))
    assert uri.startswith("data:image/png;base64,")
    pixels = read_png(base64.b64decode(uri.split(",", 1)[1]))
    assert pixels.shape == (32, 64, 3)  # enlarged 16× by whole pixels to >= 64 wide
    assert pixels[0, 0].tolist() == [255, 0, 0] and pixels[-1, -1].tolist() == [0, 0, 255]
    np.testing.assert_array_equal(read_png(png_bytes(rgb)), rgb)


def test_grey_and_odd_channel_images_are_grey():
    x = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert image_bytes(x, (0.0, 1.0))[3, 3] == 255 and image_bytes(x, (0.0, 1.0))[0, 0] == 0
    two = np.stack([x, 1 - x])  # 2 channels: the first in grey
    np.testing.assert_array_equal(image_bytes(two, (0.0, 1.0)), image_bytes(x, (0.0, 1.0)))
    four = np.stack([x, x, x, np.ones_like(x)])  # RGBA: alpha dropped
    assert image_bytes(four, (0.0, 1.0)).shape == (4, 4, 3)
    assert read_png(base64.b64decode(sample_thumbnail(x, "image", (0, 1)).split(",")[1])).shape == (
        64,
        64,
    )


def test_image_range_ignores_outliers_and_sequences_are_sparklines():
    X = np.zeros((10, 10, 10), np.float32)
    X[:, 5:] = 255.0
    X[0, 0, 0] = 1e6  # one hot pixel does not wash out the rest
    assert image_range(X) == (0.0, 255.0)
    svg = sparkline_svg(np.array([0.0, 1.0, 0.0]), width=10, height=10)
    assert 'points="1.0,9.0 5.0,1.0 9.0,9.0"' in svg
    uri = sample_thumbnail(np.arange(40.0), "sequence")
    assert uri.startswith("data:image/svg+xml;base64,")
    assert b"<polyline" in base64.b64decode(uri.split(",", 1)[1])


# -- summaries and sample figures ----------------------------------------------------------


def test_summary_counts_labelled_points_and_shows_the_description(page):
    facts = uploads.summary_facts(load_builtin("digits-few", seed=0))
    assert facts["unlabelled"] == 1259 - 200 and facts["train_per_class"] == [20] * 10
    assert "20 training images per class" in facts["description"]
    text = json.dumps(page.summary_table(facts).to_plotly_json(), default=str)
    assert "unlabelled: 1059" in text and "data-description" in text
    from pages._data_layout import _per_class_text

    assert _per_class_text(facts).startswith("0: 20 · 1: 20 · 2: 20")
    plain = uploads.summary_facts(load_builtin("digits", seed=0))
    assert plain["unlabelled"] == 0 and plain["description"] == ""
    assert "data-description" not in json.dumps(
        page.summary_table(plain).to_plotly_json(), default=str
    )


def test_sample_figures_of_scenarios_and_colour_images():
    few = make_samples_figure(load_builtin("digits-few", seed=0))
    assert [t.type for t in few.data] == ["heatmap"] * 10
    assert [a.text for a in few.layout.annotations] == [str(c) for c in range(10)]
    decoy = make_samples_figure(load_builtin("digits-decoy", seed=0))
    assert np.asarray(decoy.data[0].z).shape == (12, 12)
    X, y = cifar_shaped(60)
    X = X.transpose(0, 3, 1, 2)
    ds = Dataset("c", "image", X, y, X[:5], y[:5], X[:5], y[:5], [str(c) for c in range(10)])
    colour = make_samples_figure(ds)
    assert [t.type for t in colour.data] == ["image"] * 10
    z = np.asarray(colour.data[0].z)
    # class 0's square is (200, 30, 30) on noise in 0..39: scaled by the 0.5..99.5 percentiles
    assert z.shape == (32, 32, 3) and z[8, 8].tolist() == [255, 38, 38]


# -- choosing and starting ----------------------------------------------------------------


def test_every_scenario_is_offered_and_shown(page):
    values = [o["value"] for o in page.BUILTIN_OPTIONS]
    assert values[:2] == ["digits", "mnist1d"] and "digits-decoy" in values
    assert "mnist1d-few (50 labels per class)" in [o["label"] for o in page.BUILTIN_OPTIONS]
    summary, fig, options, value, _ = page.show_chosen_data("digits-noisy", None, 0)
    text = json.dumps(summary.to_plotly_json(), default=str)
    assert "labelled 1" in text and value == "cnn2d" and len(fig.data) == 10


def test_a_scenario_run_keeps_its_groups_in_the_run_file(root, page):
    run_id = new_run.start_run(root, "digits-decoy", None, "mlp", 8, "pca", 1, 1.0, seed=2)
    stored = RunStore(root).load_dataset(run_id)
    fresh = load_builtin("digits-decoy", seed=2)
    assert stored.name == "digits-decoy" and stored.group_names == fresh.group_names
    np.testing.assert_array_equal(stored.group_test, fresh.group_test)
    assert RunStore(root).load_run(run_id)["sizes"] == {"train": 1259, "val": 269, "test": 269}


def test_custom_models_are_off_by_default(root, page, monkeypatch):
    monkeypatch.delenv(new_run.CUSTOM_MODELS_ENV, raising=False)
    assert "custom" not in [o["value"] for o in page._model_options("image")]
    with pytest.raises(DataError, match="HILL_DASH_ALLOW_CUSTOM_MODELS=1"):
        new_run.start_run(root, "digits", None, "custom", 8, "pca", 1, 1.0, factory=FACTORY)
    assert "d-none" not in page.show_custom_model_fields("custom")
    assert "d-none" in page.show_custom_model_fields("mlp")


def test_a_model_of_your_own_trains_its_first_chunk(root, page, monkeypatch):
    monkeypatch.setenv(new_run.CUSTOM_MODELS_ENV, "1")
    assert "custom" in [o["value"] for o in page._model_options("image")]
    with pytest.raises(DataError, match=r"setting model: latent_layer: no submodule 'head'"):
        new_run.start_run(
            root, "digits", None, "custom", 8, "pca", 1, 1.0, 0, None, FACTORY, "head"
        )
    _, _, status = page.create_new_run(
        1, "digits", None, "custom", 8, "pca", 1, 1.0, 0, "mine", "no_such_mod:make", "0"
    )
    assert "cannot import module 'no_such_mod'" in json.dumps(status.to_plotly_json(), default=str)
    run_id, _, _ = page.create_new_run(
        1, "digits", None, "custom", 8, "pca", 1, 1.0, 0, "mine", FACTORY, "0.3"
    )
    store = RunStore(root)
    model = store.load_run(run_id)["config"]["model"]
    assert (model["arch"], model["factory"], model["latent_layer"], model["latent_dim"]) == (
        "custom",
        FACTORY,
        "0.3",
        5,
    )
    loop.run_chunk(store, run_id)
    arrays = store.load_arrays(run_id, "c0")
    assert arrays["coords"].shape == (1797, 2)


def test_a_cifar_shaped_upload_trains_with_a_colour_cnn(root, page):
    X, y = cifar_shaped(400)
    buf = io.BytesIO()
    np.savez_compressed(buf, X=X, y=y)
    token, ds = page.save_upload(payload(buf.getvalue()), "cifar-like.npz", root)
    assert (ds.kind, ds.sample_shape, ds.name) == ("image", (3, 32, 32), "cifar-like")
    upload = {"token": token, "filename": "cifar-like.npz"}
    summary, fig, options, value, _ = page.show_chosen_data("upload", upload, 0)
    assert value == "cnn2d" and [t.type for t in fig.data] == ["image"] * 10
    run_id = new_run.start_run(root, "upload", upload, "cnn2d", 16, "pca", 2, 1.0)
    store = RunStore(root)
    assert store.load_run(run_id)["config"]["model"]["sample_shape"] == [3, 32, 32]
    loop.run_chunk(store, run_id)
    rec = store.metrics(run_id)["c0"]
    assert rec["val"]["acc"] > 0.5  # colour and place tell the classes apart
    assert store.load_arrays(run_id, "c0")["coords"].shape == (400, 2)
