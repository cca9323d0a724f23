"""PNG images of any size -> 28x28 grayscale pixels 0..255, as MNIST draws them (light digit, dark ground).

Decoded with matplotlib (its PNG reader), scaled with scipy: no other image library is needed. An image
is scaled as a whole (padded to a square with its own background first); it is not cropped to its
digit or centred as MNIST's digits are, so a digit that fills its image comes out larger than theirs.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from .common import read_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights of R, G, B


def read_png(path: Path, side: int) -> tuple[np.ndarray, bool]:
    """(side x side float64 pixels 0..255, whether the image was inverted: a dark digit on a light ground)."""
    data = read_bytes(path)
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(path, "not a PNG image (the file does not start with the PNG signature)")
    import matplotlib.image

    try:
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
    except Exception as exc:  # Pillow reports a damaged file with any of several exception types
        raise DataError(path, f"cannot decode the PNG image ({type(exc).__name__}: {str(exc)[:120]})") from None
    gray = grayscale(np.asarray(image, dtype=np.float64))
    if min(gray.shape) < 1:
        raise DataError(path, f"image is {gray.shape[1]}x{gray.shape[0]} pixels; expected at least 1x1")
    inverted = bool(border(gray).mean() > 0.5)
    if inverted:
        gray = 1.0 - gray
    return to_side(gray, side) * 255.0, inverted


def grayscale(image: np.ndarray) -> np.ndarray:
    """(H, W) gray 0..1 from (H, W), (H, W, 3) or (H, W, 4) values 0..1; transparency shows white paper."""
    if image.ndim == 2:
        return image
    gray = image[..., :3] @ LUMA
    if image.shape[2] == 4:
        alpha = image[..., 3]
        gray = gray * alpha + (1.0 - alpha)
    return gray


def border(gray: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels: the image's ground."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def to_side(gray: np.ndarray, side: int) -> np.ndarray:
    """A (H, W) image padded to a square with its ground's value, then scaled to side x side (smoothed
    first when shrinking, so that thin strokes are not lost between samples); values stay in 0..1."""
    from scipy import ndimage

    h, w = gray.shape
    size = max(h, w)
    ground = float(np.median(border(gray)))
    square = np.full((size, size), ground)
    top, left = (size - h) // 2, (size - w) // 2
    square[top : top + h, left : left + w] = gray
    factor = side / size
    if factor < 1:
        square = ndimage.gaussian_filter(square, sigma=(1 / factor - 1) / 2, mode="nearest")
    scaled = ndimage.zoom(square, factor, order=1, mode="nearest", grid_mode=True)
    return np.clip(scaled, 0.0, 1.0)
