"""What a served MNIST model answers: images in pixels 0..255 to reconstructions, codes and anomaly
scores; latent codes to images (the decoder alone). Only evaluate's and register's stages and the
served versions run it: training does not depend on it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...errors import PayloadError
from .. import Prepared
from . import EVAL_BATCH, MAX_PIXEL, PIXELS, SIDE, MnistRaw, image_mse, run_model, standardise


def input_example(prepared: Prepared[MnistRaw]) -> np.ndarray:
    """Three test images (the denoiser's: noisy ones) as (3, 28, 28) pixels 0..255."""
    images = prepared.raw["clean"]["test"] if prepared.raw["scales"] else prepared.test.tensors[0].numpy()
    return np.rint(images[:3] * MAX_PIXEL).astype(np.float64)


def _pixels(request) -> tuple[np.ndarray, bool]:
    """A request as (N, 28, 28) floats in 0..255, and whether it came as flat (N, 784) rows."""
    if isinstance(request, pd.DataFrame):
        request = request.to_numpy()
    try:
        array = np.asarray(request)
    except ValueError:
        raise PayloadError("images must all have the same shape") from None
    numbers = array.dtype.kind in "iuf" or (
        array.dtype.kind == "O" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in array.flat)
    )
    if not numbers:
        raise PayloadError("pixels must be numbers 0..255")
    flat = array.ndim == 2 and array.shape[1] == PIXELS
    if not (flat or array.shape[1:] == (SIDE, SIDE)) or len(array) == 0:
        raise PayloadError(f"expected N >= 1 images as (N, {PIXELS}) or (N, {SIDE}, {SIDE}) pixels, "
                           f"got shape {array.shape}")
    array = array.astype(np.float64).reshape(-1, SIDE, SIDE)
    bad = ~np.isfinite(array) | (array < 0) | (array > MAX_PIXEL)
    if bad.any():
        image, row, col = np.argwhere(bad)[0]
        value = array[image, row, col]
        raise PayloadError(f"image {image}, pixel ({row}, {col}): expected a number 0..255, got {value}")
    return array, flat


# a request with params {"decode": true}: its rows are latent codes, its answer their decoded images
SERVE_PARAMS = {"decode": ("boolean", False)}


def _codes(model: nn.Module, request) -> np.ndarray:
    """A decode request as (N, latent_size) float32 codes."""
    if isinstance(request, pd.DataFrame):
        request = request.to_numpy()
    not_numbers = PayloadError("latent vectors must be rows of numbers of equal length")
    try:
        codes = np.asarray(request)
    except ValueError:
        raise not_numbers from None
    if codes.dtype.kind == "O" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in codes.flat):
        codes = codes.astype(np.float64)
    if codes.dtype.kind not in "iuf":
        raise not_numbers
    size = model.latent_size
    if codes.ndim != 2 or codes.shape[1] != size or len(codes) == 0:
        raise PayloadError(f"expected N >= 1 latent vectors of {size} numbers (N, {size}), got shape {codes.shape}")
    bad = ~np.isfinite(codes)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PayloadError(f"latent vector {row}, value {col}: expected a finite number")
    return codes.astype(np.float32)


@torch.no_grad()
def decode_codes(model: nn.Module, request) -> np.ndarray:
    """Latent codes (N, latent_size) -> the decoder's images (N, 28, 28), pixels 0..255."""
    if not hasattr(model, "decode"):
        raise PayloadError("this model has no decoder to run alone; send images, without params.decode")
    codes = torch.from_numpy(_codes(model, request))
    model.eval()
    device = next(model.parameters()).device
    images = torch.cat([model.decode(codes[start : start + EVAL_BATCH].to(device)).clamp(0, 1).cpu()
                        for start in range(0, len(codes), EVAL_BATCH)])
    return images.reshape(len(codes), SIDE, SIDE).numpy() * np.float32(MAX_PIXEL)


def serve(model: nn.Module, meta: dict, request, params: dict | None = None) -> dict[str, np.ndarray]:
    """Images as pixels 0..255, (N, 784) or (N, 28, 28) -> reconstruction in the same layout
    and units, the latent code (N, latent_size), and the reconstruction error (N,): the MSE
    between request and reconstruction in [0, 1] pixel units (an anomaly score). A model of
    standardised inputs gets each image standardised on its own, and its answer unstandardised.
    With params {"decode": True}: latent codes (N, latent_size) -> {"decoded": (N, 28, 28) pixels 0..255}."""
    if (params or {}).get("decode"):
        if meta.get("inputs") == "standardised":
            raise PayloadError("this model's images are standardised each on its own: a latent vector alone "
                               "has no pixel scale to decode to; send images, without params.decode")
        return {"decoded": decode_codes(model, request)}
    pixels, flat = _pixels(request)
    images = (pixels / MAX_PIXEL).astype(np.float32)
    if meta.get("inputs") == "standardised":
        output, codes = run_model(model, *standardise(images))
    else:
        output, codes = run_model(model, images)
    reconstruction = output * np.float32(MAX_PIXEL)
    return {
        "reconstruction": reconstruction.reshape(len(images), PIXELS) if flat else reconstruction,
        "latent": codes,
        "reconstruction_error": image_mse(output, images),
    }
