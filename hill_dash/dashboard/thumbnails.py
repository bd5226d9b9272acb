"""Small pictures of raw samples for the tooltip and the selection gallery, as data URIs.

An image (H, W), (C, H, W) or (H, W, C) becomes a PNG (grey, or colour with three
channels), drawn pixelated by the browser; a sequence or a flat vector becomes an SVG
sparkline. No plotly figure per sample: a gallery of 48 is 48 small strings.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

SPARK_W, SPARK_H = 96, 40
SPARK_COLOUR = "#1f5fbf"
MAX_SPARK_POINTS = 256


def _to_uint8(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(x, np.float64))
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.round(255 * (x - lo) / (hi - lo)).astype(np.uint8)


def image_array(x: np.ndarray) -> np.ndarray | None:
    """(H, W) grey or (H, W, 3) colour uint8 from an image sample, else None."""
    x = np.asarray(x)
    if x.ndim == 2:
        return 255 - _to_uint8(x) if _dark_ink(x) else _to_uint8(x)
    if x.ndim == 3:
        if x.shape[0] in (1, 3, 4) and x.shape[-1] not in (1, 3, 4):
            x = np.moveaxis(x, 0, -1)  # (C, H, W) -> (H, W, C)
        if x.shape[-1] == 1:
            return image_array(x[..., 0])
        if x.shape[-1] in (3, 4):
            return _to_uint8(x[..., :3])
    return None


def _dark_ink(x: np.ndarray) -> bool:
    """Digits-like data (ink high on a low background) read better as dark ink on white."""
    x = np.asarray(x, np.float64)
    return float(np.median(x)) <= float(x.min() + 0.5 * (x.max() - x.min()))


def png_uri(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sparkline_uri(x: np.ndarray, colour: str = SPARK_COLOUR) -> str:
    """A 1-D sample as a small SVG polyline."""
    v = np.nan_to_num(np.asarray(x, np.float64).ravel())
    if len(v) > MAX_SPARK_POINTS:
        v = v[np.linspace(0, len(v) - 1, MAX_SPARK_POINTS).round().astype(int)]
    if len(v) < 2:
        v = np.repeat(v if len(v) else np.zeros(1), 2)
    lo, hi = float(v.min()), float(v.max())
    ys = (SPARK_H - 3) - (SPARK_H - 6) * ((v - lo) / (hi - lo) if hi > lo else 0.5 + 0 * v)
    xs = np.linspace(2, SPARK_W - 2, len(v))
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}"><rect width="100%" height="100%" fill="#fff"/>'
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def thumbnail_uri(x: np.ndarray, kind: str) -> str:
    """A data URI for one sample: a PNG for images, a sparkline for everything else."""
    if kind == "image":
        pixels = image_array(x)
        if pixels is not None:
            return png_uri(pixels)
    return sparkline_uri(x)
