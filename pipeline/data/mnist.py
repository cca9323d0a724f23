"""Read MNIST from the four original IDX files (gzip), checking digests and headers."""
from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.io import file_digest

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dims
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dim
UBYTE = 0x08
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
# (images file, labels file) per split, with the published md5 of each .gz.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


@dataclass(frozen=True, eq=False)
class MnistData:
    train_images: np.ndarray  # uint8 (60000, 28, 28)
    train_labels: np.ndarray  # uint8 (60000,)
    test_images: np.ndarray  # uint8 (10000, 28, 28)
    test_labels: np.ndarray  # uint8 (10000,)


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip if the name ends in .gz) into an array shaped by its dims."""
    if expected_magic >> 8 != UBYTE:
        raise ValueError(f"only unsigned-byte IDX files are supported, got magic {expected_magic:#010x}")
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    data = _read_bytes(path)
    magic = int.from_bytes(data[:4], "big")
    if len(data) < 4 or magic != expected_magic:
        raise DataError(path, f"IDX magic number is {magic} ({data[:4].hex() or 'empty file'}), "
                              f"expected {expected_magic} ({expected_magic:08x})", where="bytes 0-3")
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(path, f"header is cut short: {len(data)} bytes, expected {header_len} "
                              f"(magic + {ndim} dimension sizes)", where="header")
    dims = tuple(int.from_bytes(data[i:i + 4], "big") for i in range(4, header_len, 4))
    expected = math.prod(dims)
    found = len(data) - header_len
    if found != expected:
        shape = "x".join(map(str, dims))
        raise DataError(path, f"payload has {found} bytes, expected {expected} for dims {shape} "
                              f"({'truncated' if found < expected else 'trailing bytes'})",
                        where=f"after the {header_len}-byte header")
    # copy: an array over `bytes` is read-only, which surprises in-place users (e.g. torch.from_numpy)
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def load_mnist(raw_dir: str | Path, verify_md5: bool = True) -> MnistData:
    """Load the four standard files from `raw_dir`; check md5s (optional), shapes, counts, labels."""
    raw_dir = Path(raw_dir)
    missing = [name for pair in FILES.values() for name in pair if not (raw_dir / name).is_file()]
    if missing:
        raise DataError(raw_dir, f"missing MNIST file(s): {', '.join(missing)}")
    if verify_md5:
        for name, expected in MD5.items():
            found = file_digest(raw_dir / name, "md5")
            if found != expected:
                raise DataError(raw_dir / name, f"md5 is {found}, expected the published {expected}")
    arrays = {}
    for split, (images_name, labels_name) in FILES.items():
        images = read_idx(raw_dir / images_name, IMAGES_MAGIC)
        labels = read_idx(raw_dir / labels_name, LABELS_MAGIC)
        if images.shape[1:] != IMAGE_SHAPE:
            raise DataError(raw_dir / images_name,
                            f"images are {'x'.join(map(str, images.shape[1:]))}, expected 28x28")
        if len(labels) != len(images):
            raise DataError(raw_dir / labels_name,
                            f"{len(labels)} labels but {images_name} has {len(images)} images; "
                            "expected one label per image")
        bad = np.flatnonzero(labels >= N_CLASSES)
        if bad.size:
            raise DataError(raw_dir / labels_name,
                            f"label {labels[bad[0]]}, expected 0..{N_CLASSES - 1} "
                            f"({bad.size} labels out of range)", where=f"item {bad[0]}")
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return MnistData(**arrays)


def summarize(data: MnistData) -> dict:
    """JSON-serialisable counts and per-digit label histograms per split."""
    return {
        split: {
            "count": len(labels),
            "image_shape": list(images.shape[1:]),
            "label_counts": np.bincount(labels, minlength=N_CLASSES).tolist(),
        }
        for split, images, labels in (
            ("train", data.train_images, data.train_labels),
            ("test", data.test_images, data.test_labels),
        )
    }


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(path, f"not a valid gzip stream ({type(exc).__name__}: {exc})") from None
