"""MNIST IDX reader: the real files, and every validation failure on generated files."""
from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pytest
from builders import (IMAGES_MAGIC, LABELS_MAGIC, idx_bytes, raw_file, tiny_images, tiny_labels,
                      write_gz, write_mnist_dir)

from pipeline.data.mnist import MD5, load_mnist, read_idx, summarize
from pipeline.errors import DataError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real():
    return load_mnist(raw_file("mnist", "train-images-idx3-ubyte.gz").parent)


def error(read, *args, **kwargs) -> str:
    """The whole message of the DataError `read(*args, **kwargs)` raises."""
    with pytest.raises(DataError) as info:
        read(*args, **kwargs)
    return str(info.value)


# --- the real files ---------------------------------------------------------------------

def test_real_files_shapes_and_dtypes(real):
    assert real.train_images.shape == (60000, 28, 28) and real.train_labels.shape == (60000,)
    assert real.test_images.shape == (10000, 28, 28) and real.test_labels.shape == (10000,)
    for array in (real.train_images, real.train_labels, real.test_images, real.test_labels):
        assert array.dtype == np.uint8
    assert real.train_images.max() == 255 and real.train_images.min() == 0


def test_real_files_summary(real):
    summary = json.loads(json.dumps(summarize(real)))
    assert summary["train"] == {"count": 60000, "image_shape": [28, 28], "label_counts": TRAIN_COUNTS}
    assert summary["test"] == {"count": 10000, "image_shape": [28, 28], "label_counts": TEST_COUNTS}


# --- read_idx ---------------------------------------------------------------------------

def test_read_idx_round_trips_gzip_and_plain(tmp_path):
    images = tiny_images(3)
    gz = write_gz(tmp_path / "images.gz", idx_bytes(images, IMAGES_MAGIC))
    plain = tmp_path / "images.idx3-ubyte"
    plain.write_bytes(idx_bytes(images, IMAGES_MAGIC))
    for path in (gz, plain):
        out = read_idx(path, IMAGES_MAGIC)
        np.testing.assert_array_equal(out, images)
        assert out.flags.writeable


def test_missing_file(tmp_path):
    assert error(read_idx, tmp_path / "nope.gz", LABELS_MAGIC) == f"{tmp_path / 'nope.gz'}: file not found"


def test_wrong_magic(tmp_path):
    path = write_gz(tmp_path / "labels.gz", idx_bytes(tiny_labels(4), LABELS_MAGIC))
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: bytes 0-3: IDX magic number is 2049 (00000801), "
                                                   "expected 2051 (00000803)")


def test_empty_file(tmp_path):
    path = write_gz(tmp_path / "empty.gz", b"")
    assert error(read_idx, path, LABELS_MAGIC) == (f"{path}: bytes 0-3: IDX magic number is 0 (empty file), "
                                                   "expected 2049 (00000801)")


def test_truncated_header(tmp_path):
    path = write_gz(tmp_path / "images.gz", idx_bytes(tiny_images(2), IMAGES_MAGIC)[:10])
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: header: header is cut short: 10 bytes, expected 16 "
                                                   "(magic + 3 dimension sizes)")


def test_truncated_payload(tmp_path):
    path = write_gz(tmp_path / "images.gz", idx_bytes(tiny_images(2), IMAGES_MAGIC)[:-100])
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: after the 16-byte header: payload has 1468 bytes, "
                                                   "expected 1568 for dims 2x28x28 (truncated)")


def test_trailing_bytes(tmp_path):
    path = write_gz(tmp_path / "labels.gz", idx_bytes(tiny_labels(4), LABELS_MAGIC) + b"\0")
    assert error(read_idx, path, LABELS_MAGIC) == (f"{path}: after the 8-byte header: payload has 5 bytes, "
                                                   "expected 4 for dims 4 (trailing bytes)")


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(tiny_images(4), IMAGES_MAGIC))[:-200])
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: not a valid gzip stream (EOFError: Compressed file "
                                                   "ended before the end-of-stream marker was reached)")


def test_not_gzip(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(idx_bytes(tiny_images(1), IMAGES_MAGIC))
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: not a valid gzip stream "
                                                   "(BadGzipFile: Not a gzipped file (b'\\x00\\x00'))")


def test_corrupt_gzip_body(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(tiny_labels(50), LABELS_MAGIC)))
    data[-12] ^= 0xFF  # inside the deflate stream or its CRC: either way the stream is bad
    path = tmp_path / "labels.gz"
    path.write_bytes(bytes(data))
    assert error(read_idx, path, LABELS_MAGIC) == f"{path}: not a valid gzip stream (BadGzipFile: CRC check failed)"


def test_non_ubyte_magic_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="only unsigned-byte IDX"):
        read_idx(tmp_path / "x.gz", 0x0D03)  # float32 images


# --- load_mnist -------------------------------------------------------------------------

def test_a_file_of_the_magic_alone_is_a_cut_short_header(tmp_path):
    path = write_gz(tmp_path / "images.gz", idx_bytes(tiny_images(2), IMAGES_MAGIC)[:4])
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: header: header is cut short: 4 bytes, expected 16 "
                                                   "(magic + 3 dimension sizes)")


def test_a_file_of_the_header_alone_has_an_empty_payload(tmp_path):
    path = write_gz(tmp_path / "images.gz", idx_bytes(tiny_images(2), IMAGES_MAGIC)[:16])
    assert error(read_idx, path, IMAGES_MAGIC) == (f"{path}: after the 16-byte header: payload has 0 bytes, "
                                                   "expected 1568 for dims 2x28x28 (truncated)")


def test_load_generated_dir(tmp_path):
    data = load_mnist(write_mnist_dir(tmp_path, n_train=12, n_test=5), verify_md5=False)
    assert data.train_images.shape == (12, 28, 28) and data.test_labels.shape == (5,)
    assert summarize(data)["train"]["label_counts"] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]


def test_md5_mismatch_names_file_and_both_digests(tmp_path):
    write_mnist_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    actual = hashlib.md5(path.read_bytes()).hexdigest()
    assert error(load_mnist, tmp_path) == (f"{path}: md5 is {actual}, "
                                           f"expected the published {MD5['train-images-idx3-ubyte.gz']}")


def test_missing_files_are_listed(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert error(load_mnist, tmp_path, verify_md5=False) == (
        f"{tmp_path}: missing MNIST file(s): t10k-labels-idx1-ubyte.gz")


def test_every_missing_file_is_listed(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    assert error(load_mnist, tmp_path, verify_md5=False) == (
        f"{tmp_path}: missing MNIST file(s): train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz")


def test_count_mismatch(tmp_path):
    write_mnist_dir(tmp_path, n_test=5)
    write_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(tiny_labels(4), LABELS_MAGIC))
    assert error(load_mnist, tmp_path, verify_md5=False) == (
        f"{tmp_path / 't10k-labels-idx1-ubyte.gz'}: 4 labels but t10k-images-idx3-ubyte.gz has 5 images; "
        "expected one label per image")


def test_label_out_of_range(tmp_path):
    write_mnist_dir(tmp_path, n_train=6)
    labels = tiny_labels(6)
    labels[[2, 4]] = [10, 200]
    write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels, LABELS_MAGIC))
    assert error(load_mnist, tmp_path, verify_md5=False) == (
        f"{tmp_path / 'train-labels-idx1-ubyte.gz'}: item 2: label 10, expected 0..9 (2 labels out of range)")


def test_wrong_image_size(tmp_path):
    write_mnist_dir(tmp_path, n_train=3)
    write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(tiny_images(3, size=20), IMAGES_MAGIC))
    assert error(load_mnist, tmp_path, verify_md5=False) == (
        f"{tmp_path / 'train-images-idx3-ubyte.gz'}: images are 20x20, expected 28x28")
