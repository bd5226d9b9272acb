"""Small pictures of samples: images as PNG (in colour when they have 3 or 4 channels),
sequences and flat vectors as an SVG sparkline; each as a ``data:`` URI for ``html.Img``.

Images are scaled to bytes with one value range per data set (:func:`image_range`), so a
dark sample looks dark; a sample is ``(H, W)`` (grey) or ``(C, H, W)``: 3 channels are RGB,
4 are RGB + alpha (alpha dropped), any other count shows its first channel in grey.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

THUMB_PIXELS = 64  # small images are enlarged by whole pixels to at least this size


def image_range(X: np.ndarray, max_rows: int = 2000) -> tuple[float, float]:
    """(low, high) for scaling a data set's images: the 0.5 and 99.5 percentiles of up to
    ``max_rows`` samples (0..1 when that range is empty)."""
    sample = np.asarray(X[:max_rows], dtype=np.float32)
    if not sample.size:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, [0.5, 99.5])
    return (float(lo), float(hi)) if hi > lo else (float(lo), float(lo) + 1.0)


def image_bytes(x: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """One image as uint8: ``(H, W)`` grey or ``(H, W, 3)`` RGB (see the module docstring)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = np.moveaxis(x[:3], 0, -1) if x.shape[0] in (3, 4) else x[0]
    lo, hi = value_range or image_range(x[None])
    scaled = (x - lo) / (hi - lo if hi > lo else 1.0)
    return (np.clip(scaled, 0.0, 1.0) * 255).round().astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG file of a uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB array (no extra packages)."""
    h, w = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + np.ascontiguousarray(row).tobytes() for row in pixels)

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def sparkline_svg(
    values: np.ndarray, width: int = 120, height: int = 40, colour: str = "#1f77b4"
) -> str:
    """An SVG polyline of a 1-D array (a flat sample is drawn the same way)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) < 2:
        v = np.repeat(v if len(v) else np.zeros(1), 2)
    lo, hi = float(v.min()), float(v.max())
    y = (hi - v) / (hi - lo) if hi > lo else np.full(len(v), 0.5)
    xs = np.linspace(1, width - 1, len(v))
    ys = 1 + y * (height - 2)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="{colour}" '
        f'stroke-width="1.5" points="{points}"/></svg>'
    )


def sample_thumbnail(
    x: np.ndarray, kind: str, value_range: tuple[float, float] | None = None
) -> str:
    """A ``data:`` URI picturing one sample: PNG for ``kind="image"``, SVG line otherwise.

    Pass the data set's :func:`image_range` as ``value_range`` so every thumbnail of a data
    set uses the same scale. Small images are enlarged by whole pixels (crisp, no blur).
    """
    if kind == "image":
        pixels = image_bytes(x, value_range)
        scale = max(1, -(-THUMB_PIXELS // max(pixels.shape[:2])))
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
        return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")
    svg = sparkline_svg(np.asarray(x).ravel())
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
