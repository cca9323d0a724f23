"""MNIST autoencoders: images (PNG files, an IDX file or a .npy) -> reconstructions, latent codes and
anomaly scores; or (--decode) latent codes -> the decoder's images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.mnist import IMAGES_MAGIC, read_idx
from ..errors import DataError, PipelineError
from ..plots import pyplot
from ..tasks.mnist import MAX_PIXEL, PIXELS, SIDE
from .common import Outputs, cell, npy_bytes, read_npy, read_number_rows
from .images import read_png

SHOWN, PER_ROW = 32, 16  # images in a grid, and per row
ACCEPTED = "a .png image, a folder of .png images, an IDX image file (.gz or not) or a .npy array"


@dataclass(frozen=True)
class Images:
    pixels: np.ndarray  # (N, 28, 28) float64, 0..255
    names: list[str]  # file names (PNG) or indices
    inverted: list[str]  # PNG files read as a dark digit on a light ground, inverted


def read(path: Path) -> Images:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and p.is_file())
        if not files:
            raise DataError(path, "no .png files in this folder")
        return _pngs(files)
    suffix, name = path.suffix.lower(), path.name.lower()
    if suffix == ".png":
        return _pngs([path])
    if suffix == ".npy":
        return _indexed(path, _npy_pixels(path))
    if suffix == ".gz" or "idx" in name or "ubyte" in name:
        images = read_idx(path, IMAGES_MAGIC)
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
            raise DataError(path, f"IDX images of shape {'x'.join(map(str, images.shape[1:]))}, expected 28x28")
        return _indexed(path, images.astype(np.float64))
    if not path.exists():
        raise DataError(path, "file not found")
    raise DataError(path, f"expected {ACCEPTED}")


def _pngs(files: list[Path]) -> Images:
    read_in = [read_png(f, SIDE) for f in files]
    return Images(np.stack([pixels for pixels, _ in read_in]), [f.name for f in files],
                  [f.name for f, (_, inverted) in zip(files, read_in) if inverted])


def _indexed(path: Path, pixels: np.ndarray) -> Images:
    if len(pixels) == 0:
        raise DataError(path, "holds no images")
    return Images(pixels, [str(i) for i in range(len(pixels))], [])


def _npy_pixels(path: Path) -> np.ndarray:
    """(N, 784), (N, 28, 28) or one (28, 28) image, pixels 0..255."""
    array = read_npy(path)
    if array.shape == (SIDE, SIDE):
        array = array[None]
    if not (array.ndim == 2 and array.shape[1] == PIXELS or array.shape[1:] == (SIDE, SIDE)) or len(array) == 0:
        raise DataError(path, f"array of shape {array.shape}; expected N >= 1 images as (N, 784), (N, 28, 28) "
                              "or one (28, 28), pixels 0..255")
    pixels = array.astype(np.float64).reshape(-1, SIDE, SIDE)
    bad = ~np.isfinite(pixels) | (pixels < 0) | (pixels > MAX_PIXEL)
    if bad.any():
        image, row, col = np.argwhere(bad)[0]
        raise DataError(path, f"expected a pixel 0..255, found {pixels[image, row, col]}",
                        f"image {image}, pixel ({row}, {col})")
    return pixels


def predict(served, images: Images) -> Outputs:
    answer = served(images.pixels)
    reconstruction = np.asarray(answer["reconstruction"]).reshape(-1, SIDE, SIDE)
    latent, error = np.asarray(answer["latent"]), np.asarray(answer["reconstruction_error"])
    out = Outputs()
    out.add_figure("reconstructions.png", _grid(images.names, {"input": images.pixels, "reconstruction": reconstruction},
                                                f"{served.name}: inputs above their reconstructions"))
    out.files["reconstructions.npy"] = npy_bytes(reconstruction.astype(np.float32))
    out.add_csv("latent.csv", ["image", *(f"latent_{k}" for k in range(latent.shape[1]))],
                [[name, *map(cell, row)] for name, row in zip(images.names, latent)])
    out.add_csv("scores.csv", ["image", "reconstruction_error"],
                [[name, cell(e)] for name, e in zip(images.names, error)])
    shown = f" (the first {SHOWN} shown)" if len(images.names) > SHOWN else ""
    out.lines.append(f"{len(images.names)} image(s) reconstructed{shown}; latent size {latent.shape[1]}; "
                     f"reconstruction error (anomaly score) {error.min():.4g} .. {error.max():.4g}")
    if images.inverted:
        out.lines.append(f"inverted {len(images.inverted)} image(s) drawn dark on a light ground (MNIST digits are "
                         f"light on dark): {', '.join(images.inverted[:5])}{' ...' if len(images.inverted) > 5 else ''}")
    return out


def read_decode(path: Path):
    """Latent codes, one per row (numbers only, or latent.csv as `predict` writes it: an `image` column first)."""
    if path.suffix.lower() != ".csv":
        raise DataError(path, "expected a .csv of latent vectors, one per row")
    return read_number_rows(path, "latent vectors", label_column="image")


def decode(served, rows) -> Outputs:
    if "decode" not in served.params:
        raise PipelineError(f"{served.uri} was registered before decode requests existed; register it again "
                            "(`dvc repro`) to decode latent vectors")
    decoded = np.asarray(served(rows.values.astype(np.float32), params={"decode": True})["decoded"])
    names = rows.labels or [str(i) for i in range(len(decoded))]
    out = Outputs()
    out.add_figure("decoded.png", _grid(names, {"decoded": decoded}, f"{served.name}: latent vectors decoded"))
    out.files["decoded.npy"] = npy_bytes(decoded.astype(np.float32))
    out.lines.append(f"{len(decoded)} latent vector(s) decoded to 28x28 images (pixels 0..255 in decoded.npy)")
    return out


def _grid(names: list[str], rows: dict[str, np.ndarray], title: str):
    """The first SHOWN images, PER_ROW to a line, each of `rows` under the one before."""
    plt = pyplot()
    n = min(len(names), SHOWN)
    chunks = [range(start, min(start + PER_ROW, n)) for start in range(0, n, PER_ROW)]
    columns = min(n, PER_ROW)
    fig, axes = plt.subplots(len(chunks) * len(rows), columns, squeeze=False,
                             figsize=(0.9 * columns + 1.2, 1.0 * len(chunks) * len(rows) + 0.6))
    for c, chunk in enumerate(chunks):
        for r, (label, images) in enumerate(rows.items()):
            line = axes[c * len(rows) + r]
            for ax in line:
                ax.axis("off")
            for ax, i in zip(line, chunk):
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=MAX_PIXEL)
                if r == 0:
                    ax.set_title(names[i][:12], fontsize=6)
            line[0].text(-0.1, 0.5, label, transform=line[0].transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
