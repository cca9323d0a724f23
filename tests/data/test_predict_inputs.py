"""`python -m pipeline.predict`'s input files: each kind's reader on good files, and bad files through the
command's entry point (exit code 2, one line naming the file and the problem, nothing written). Reading
comes before the model is loaded, so none of this needs an MLflow store; the answers of the real
registered models are tested end to end (tests/e2e/test_predict.py)."""
from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from builders import IMAGES_MAGIC, idx_bytes, lotto_rows, tiny_images, write_xlsx

from pipeline.errors import DataError
from pipeline.predict import lotto, main, mnist, signals
from pipeline.predict.common import npy_bytes, read_number_rows
from pipeline.predict.images import read_png, to_side


def text(name: str, content: str):
    def build(tmp):
        (tmp / name).write_text(content)
        return tmp / name
    return build


def raw(name: str, content: bytes):
    def build(tmp):
        (tmp / name).write_bytes(content)
        return tmp / name
    return build


def npy(name: str, array, **kwargs):
    def build(tmp):
        np.save(tmp / name, array, **kwargs)
        return tmp / name
    return build


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def folder(tmp):
    (tmp / "images").mkdir()
    (tmp / "images" / "notes.txt").write_text("no images here")
    return tmp / "images"


def save_png(path, image):
    import matplotlib.pyplot as plt

    plt.imsave(path, image, cmap="gray", vmin=0, vmax=255)
    return path


SIGNAL_ROWS = "1,2,3\n4,5,6\n"
DRAWS = "\n".join(",".join(map(str, (1 + i, 7 + i, 13 + i, 19 + i, 25 + i, 31 + i))) for i in range(12)) + "\n"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (case id, model, builder(tmp) -> input path, the message after "error: <path>")
CASES = [
    ("signals-unequal-rows", "signal-denoiser", text("s.csv", "1,2,3\n4,5\n"), ": line 2: 2 values, expected 3 like line 1"),
    ("signals-text", "signal-denoiser", text("s.csv", "1,2,3\n4,x,6\n"), ": line 2, column 2: expected a number, found 'x'"),
    ("signals-empty-cell", "signal-denoiser", text("s.csv", "1,,3\n"), ": line 1, column 2: expected a number, found an empty cell"),
    ("signals-nan", "signal-denoiser", text("s.csv", "1,2,3\nnan,5,6\n"), ": line 2, column 1: expected a finite number, found 'nan'"),
    ("signals-empty", "signal-denoiser", text("s.csv", "\n\n"), ": file is empty; expected signals (numbers only), one per row"),
    ("signals-header-only", "signal-denoiser", text("s.csv", "t0,t1,t2\n"),
     ": no data rows after the header; expected signals (numbers only), one per row"),
    ("signals-not-utf8", "signal-denoiser", raw("s.csv", b"1,2,3\n\xff\xfe,1,2\n"),
     ": line 2: not UTF-8 text: byte 0xff cannot be decoded"),
    ("signals-suffix", "signal-denoiser", text("s.txt", SIGNAL_ROWS),
     ": expected a .csv (one signal per row, numbers only) or a .npy (2-D: signals x points)"),
    ("signals-npy-1d", "signal-denoiser", npy("s.npy", np.zeros(150)),
     ": array of shape (150,); expected a 2-D array of signals x points, one signal per row"),
    ("signals-npy-nan", "signal-denoiser", npy("s.npy", np.where(np.eye(3, 20) > 0, np.nan, 0.0)[1:]),
     ": signal 0, point 1: expected a finite number, found nan"),
    ("signals-npy-pickle", "signal-denoiser", npy("s.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
     ": cannot read as a .npy array (ValueError: Object arrays cannot be loaded when allow_pickle=False)"),
    ("signals-npy-text", "signal-denoiser", npy("s.npy", np.array([["1", "2"]])), ": holds <U1 values; expected numbers"),
    ("signals-npy-garbage", "signal-denoiser", raw("s.npy", b"not numpy"),
     ": not a .npy file (it does not start with numpy's magic string)"),
    ("signals-npz", "signal-denoiser", raw("s.npy", npz_bytes(a=np.zeros((2, 20)))),
     ": is an .npz archive (or another zip file); expected one array saved with numpy.save"),
    ("signals-npy-cut", "signal-denoiser", raw("s.npy", npy_bytes(np.zeros((2, 20)))[:-8]),
     ": cannot read as a .npy array (ValueError: EOF: reading array data, expected 320 bytes got 312)"),
    ("signals-missing", "signal-denoiser", lambda tmp: tmp / "absent.csv", ": file not found"),
    ("lotto-five-numbers", "lotto-rnn", text("d.csv", "1,2,3,4,5\n"), ": line 1: 5 numbers per row, expected 6 (one draw per row)"),
    ("lotto-fraction", "lotto-rnn", text("d.csv", "n1,n2,n3,n4,n5,n6\n1,2,3,4,5,6\n1,2,3.5,4,5,6\n"),
     ": line 3, column 3: expected a whole number, found 3.5"),
    ("lotto-46", "lotto-rnn", text("d.csv", "1,2,3,4,5,46\n"), ": line 1, column 6: number 46 is outside 1..45"),
    ("lotto-0", "lotto-rnn", text("d.csv", "0,2,3,4,5,6\n"), ": line 1, column 1: number 0 is outside 1..45"),
    ("lotto-repeated", "lotto-rnn", text("d.csv", "1,2,3,4,5,6\n7,8,9,9,10,11\n"),
     ": line 2: number 9 appears twice; a draw has 6 distinct numbers"),
    ("lotto-suffix", "lotto-rnn", text("d.txt", DRAWS),
     ": expected an .xlsx workbook in the official layout or a .csv of draws (6 numbers per row, oldest first)"),
    ("lotto-not-xlsx", "lotto-rnn", text("d.xlsx", DRAWS), ": cannot read as an .xlsx workbook (BadZipFile: File is not a zip file)"),
    ("stock-no-close", "stock-rnn", text("p.csv", "Date,Open,High,Low\n2020-01-02,1,2,1\n"),
     ": line 1: missing column(s) Close; found 'Date', 'Open', 'High', 'Low'"),
    ("mnist-not-png", "mnist-dense-ae", text("x.png", "a text file"),
     ": not a PNG image (the file does not start with the PNG signature)"),
    ("mnist-broken-png", "mnist-dense-ae", raw("x.png", PNG_SIGNATURE + b"\x00" * 20),
     ": cannot decode the PNG image (SyntaxError: broken PNG file (chunk b'\\x00\\x00\\x00\\x00'))"),
    ("mnist-no-pngs", "mnist-conv-ae", folder, ": no .png files in this folder"),
    ("mnist-npy-shape", "mnist-dense-ae", npy("x.npy", np.zeros((2, 27, 27))),
     ": array of shape (2, 27, 27); expected N >= 1 images as (N, 784), (N, 28, 28) or one (28, 28), pixels 0..255"),
    ("mnist-npy-pixel", "mnist-lstm-ae", npy("x.npy", np.pad(np.full((1, 1), 300.0), ((2, 25), (3, 24)))),
     ": image 0, pixel (2, 3): expected a pixel 0..255, found 300.0"),
    ("mnist-idx-magic", "mnist-dense-ae", raw("x-idx3-ubyte", idx_bytes(np.zeros(5, np.uint8), 0x0801)),
     ": bytes 0-3: IDX magic number is 2049 (00000801), expected 2051 (00000803)"),
    ("mnist-idx-size", "mnist-dense-ae", raw("x-idx3-ubyte.gz", gzip.compress(idx_bytes(tiny_images(2, 10), IMAGES_MAGIC))),
     ": IDX images of shape 10x10, expected 28x28"),
    ("mnist-suffix", "mnist-denoising-ae", text("x.csv", "1,2\n"),
     ": expected a .png image, a folder of .png images, an IDX image file (.gz or not) or a .npy array"),
]


@pytest.mark.parametrize("model, build, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_file_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, model, build, message):
    path = build(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main([model, str(path), "-o", str(out)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {path}{message}\n"
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["nope", "x.csv"], "unknown model 'nope'; registered models: "),
    (["stock-rnn", "--decode", "latent.csv"], "--decode: stock-rnn has no decoder to run (it is for the MNIST autoencoders)"),
    (["mnist-dense-ae", "--decode", "latent.txt"], "latent.txt: expected a .csv of latent vectors, one per row"),
])
def test_a_bad_command_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert not (tmp_path / "predictions").exists()


def test_output_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(SystemExit):
        main(["signal-denoiser", str(tmp_path / "s.csv"), "-o", str(tmp_path / "taken")])
    assert capsys.readouterr().err == f"error: {tmp_path / 'taken'}: exists and is not a folder; OUTPUT names a folder " \
                                      "for the answer's files\n"


def test_input_or_decode_but_not_both(capsys):
    for argv in (["mnist-dense-ae"], ["mnist-dense-ae", "x.png", "--decode", "l.csv"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2 and "give INPUT or --decode LATENT.csv, not both" in capsys.readouterr().err


# --- the readers on good files ---------------------------------------------------------------


def test_number_rows_skip_blank_lines_and_a_header_and_keep_line_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("\ufefft0, t1\n\n1.5, 2\n-3e2,4\n\n")
    rows = read_number_rows(path, "signals")
    assert rows.header == ["t0", "t1"] and rows.lines == [3, 4] and rows.labels is None
    np.testing.assert_array_equal(rows.values, [[1.5, 2], [-300, 4]])


def test_number_rows_take_a_label_column_named_in_the_header(tmp_path):
    path = tmp_path / "latent.csv"
    path.write_text("image,latent_0,latent_1\na.png,1,2\nb.png,3,x\n")
    with pytest.raises(DataError, match="line 3, column 3: expected a number, found 'x'"):
        read_number_rows(path, "latent vectors", label_column="image")
    path.write_text("image,latent_0,latent_1\na.png,1,2\nb.png,3,4\n")
    rows = read_number_rows(path, "latent vectors", label_column="image")
    assert rows.labels == ["a.png", "b.png"] and rows.values.tolist() == [[1, 2], [3, 4]]
    assert mnist.read_decode(path).labels == ["a.png", "b.png"]


def test_signals_from_csv_and_npy_are_the_same(tmp_path):
    values = np.random.default_rng(0).normal(size=(3, 20))
    np.save(tmp_path / "s.npy", values)
    (tmp_path / "s.csv").write_text("\n".join(",".join(map(repr, row)) for row in values.tolist()))
    np.testing.assert_array_equal(signals.read(tmp_path / "s.csv"), values)
    np.testing.assert_array_equal(signals.read(tmp_path / "s.npy"), values)


def test_lotto_draws_from_a_csv_and_from_the_official_workbook(tmp_path):
    (tmp_path / "d.csv").write_text("n1,n2,n3,n4,n5,n6\n" + DRAWS)
    from_csv = lotto.read(tmp_path / "d.csv")
    assert from_csv.newest_round is None and from_csv.numbers.shape == (12, 6)
    assert from_csv.numbers[0].tolist() == [1, 7, 13, 19, 25, 31]
    from_xlsx = lotto.read(write_xlsx(tmp_path / "d.xlsx", lotto_rows(6)))
    assert from_xlsx.newest_round == 6 and from_xlsx.numbers.shape == (6, 6)
    assert np.all(np.diff(from_xlsx.numbers, axis=1) > 0)  # each draw ascending, oldest first


def test_mnist_images_from_idx_gzip_plain_and_npy(tmp_path):
    images = tiny_images(3)
    (tmp_path / "x-idx3-ubyte").write_bytes(idx_bytes(images, IMAGES_MAGIC))
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, IMAGES_MAGIC)))
    np.save(tmp_path / "flat.npy", images.reshape(3, 784))
    np.save(tmp_path / "one.npy", images[0])
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz", "flat.npy"):
        read = mnist.read(tmp_path / name)
        np.testing.assert_array_equal(read.pixels, images)
        assert read.names == ["0", "1", "2"] and read.inverted == []
    np.testing.assert_array_equal(mnist.read(tmp_path / "one.npy").pixels, images[:1])


def test_a_28x28_png_keeps_its_pixels(tmp_path):
    image = tiny_images(1)[0]
    image[0, :] = 0  # a dark ground, as MNIST's
    pixels, inverted = read_png(save_png(tmp_path / "d.png", image), 28)
    assert not inverted
    np.testing.assert_allclose(pixels, image, atol=1.0)


def test_a_large_dark_on_light_png_is_inverted_and_scaled_to_28x28(tmp_path):
    digit = np.zeros((28, 28))
    digit[6:22, 12:16] = 255  # a bar: a "1"
    big = np.kron(255 - digit, np.ones((10, 10)))  # 280x280, dark stroke on white
    pixels, inverted = read_png(save_png(tmp_path / "big.png", big), 28)
    assert inverted and pixels.shape == (28, 28)
    assert np.corrcoef(pixels.ravel(), digit.ravel())[0, 1] > 0.95


def test_a_transparent_png_shows_white_paper_and_a_wide_one_is_padded(tmp_path):
    import matplotlib.pyplot as plt

    rgba = np.zeros((20, 40, 4))
    rgba[5:15, 18:22, 3] = 1.0  # black ink on a transparent ground
    plt.imsave(tmp_path / "wide.png", rgba)
    pixels, inverted = read_png(tmp_path / "wide.png", 28)
    assert inverted and pixels.shape == (28, 28)
    assert pixels[:5].max() < 1 and pixels[-5:].max() < 1  # the padding: the ground, dark once inverted
    assert pixels[12:16, 13:15].min() > 200  # the stroke, light


def test_to_side_scales_up_and_down_and_keeps_the_range():
    assert to_side(np.ones((5, 5)), 28).shape == (28, 28)
    shrunk = to_side(np.eye(300), 28)
    assert shrunk.shape == (28, 28) and 0 <= shrunk.min() and shrunk.max() <= 1
    assert np.diag(shrunk).mean() > 5 * shrunk[0, -1]  # the thin line survives the shrinking


def test_a_folder_reads_its_pngs_in_name_order(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in ("b.png", "a.PNG"):
        save_png(tmp_path / "imgs" / name, tiny_images(1)[0])
    (tmp_path / "imgs" / "readme.txt").write_text("ignored")
    read = mnist.read(tmp_path / "imgs")
    assert read.names == ["a.PNG", "b.png"] and read.pixels.shape == (2, 28, 28)
