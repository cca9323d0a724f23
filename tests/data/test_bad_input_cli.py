"""Bad input through the stage entry point: exit code 2, one line naming the problem,
no traceback, and the previous good output left exactly as it was."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import yaml
from builders import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    REPO,
    idx_bytes,
    lotto_excel_row,
    lotto_rows,
    tiny_images,
    write_gz,
    write_mnist_dir,
    write_xlsx,
)

from pipeline.ingest import main as ingest_main
from pipeline.train import main as train_main

STOCK_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
STOCK_ROWS = ["2020-01-02,10,12,9,11,11,100", "2020-01-03,11,13,10,12,12,100", "2020-01-06,12,14,11,13,13,100"]


def text_file(name: str, lines: list[str]):
    def build(tmp):
        path = tmp / name
        path.write_text("\n".join(lines))
        return path
    return build


def stock(lines):
    return text_file("prices.csv", lines)


def lotto(mutate):
    def build(tmp):
        rows = lotto_rows(6)
        mutate(rows)
        return write_xlsx(tmp / "draws.xlsx", rows)
    return build


def set_cell(round_no: int, column: int, value):
    def mutate(rows):
        rows[lotto_excel_row(6, round_no) - 1][column] = value
    return mutate


def mnist(mutate):
    def build(tmp):
        root = write_mnist_dir(tmp / "mnist")
        mutate(root)
        return root
    return build


# (case id, dataset, builder(tmp) -> path, the whole message after "error: <path>")
CASES = [
    ("stock-empty", "stock", stock([]), ": file is empty; expected a header line with Date, Open, High, Low, Close"),
    ("stock-header-only", "stock", stock([STOCK_HEADER]), ": no data rows after the header"),
    ("stock-semicolons", "stock", stock([STOCK_HEADER.replace(",", ";")]),
     ": line 1: missing column(s) Date, Open, High, Low, Close; found 'Date;Open;High;Low;Close;Adj Close;Volume' "
     "(is the delimiter a comma?)"),
    ("stock-renamed-close", "stock", stock([STOCK_HEADER.replace("Close,Adj", "Last,Adj")] + STOCK_ROWS),
     ": line 1: missing column(s) Close; found 'Date', 'Open', 'High', 'Low', 'Last', 'Adj Close', 'Volume'"),
    ("stock-text-price", "stock", stock([STOCK_HEADER, STOCK_ROWS[0], "2020-01-03,11,n/a,10,12,12,100"]),
     ": line 3, column High: expected a number, found 'n/a'"),
    ("stock-nan", "stock", stock([STOCK_HEADER, STOCK_ROWS[0], "2020-01-03,11,13,NaN,12,12,100"]),
     ": line 3, column Low: expected a positive finite price, found 'NaN'"),
    ("stock-truncated-row", "stock", stock([STOCK_HEADER, STOCK_ROWS[0], "2020-01-03,11,13"]),
     ": line 3: expected 7 fields like the header, found 3"),
    ("stock-unsorted", "stock", stock([STOCK_HEADER, STOCK_ROWS[1], STOCK_ROWS[0]]),
     ": line 3: date 2020-01-02 is earlier than the row before's (2020-01-03); dates must be strictly ascending"),
    ("stock-duplicate-date", "stock", stock([STOCK_HEADER, STOCK_ROWS[0], STOCK_ROWS[0]]),
     ": line 3: duplicated date 2020-01-02 (after 2020-01-02); dates must be strictly ascending"),
    ("stock-bad-date", "stock", stock([STOCK_HEADER, STOCK_ROWS[0], "03.01.2020,11,13,10,12,12,100"]),
     ": line 3: Date '03.01.2020' is not an ISO date (YYYY-MM-DD)"),
    ("lotto-number-46", "lotto", lotto(set_cell(3, 15, 46)),
     ": row 7 (round 3), column P: winning number 3 is 46, expected 1..45"),
    ("lotto-number-0", "lotto", lotto(set_cell(2, 13, 0)),
     ": row 8 (round 2), column N: winning number 1 is 0, expected 1..45"),
    ("lotto-text-number", "lotto", lotto(set_cell(4, 16, "x")),
     ": row 6 (round 4), column Q: winning number 4: expected an integer, found 'x'"),
    ("lotto-missing-sheet", "lotto", lambda tmp: write_xlsx(tmp / "draws.xlsx", lotto_rows(6), sheet="Sheet1"),
     ": no sheet 'excel'; sheets found: 'Sheet1'"),
    ("lotto-not-xlsx", "lotto", text_file("draws.xlsx", ["round,numbers", "1,2 3 4 5 6 7"]),
     ": cannot read as an .xlsx workbook (BadZipFile: File is not a zip file)"),
]

CASES += [
    ("lotto-empty-number", "lotto", lotto(set_cell(5, 14, None)),
     ": row 5 (round 5), column O: winning number 2: expected an integer, found an empty cell"),
    ("lotto-duplicate-number", "lotto", lotto(lambda rows: rows[lotto_excel_row(6, 1) - 1].__setitem__(
        14, rows[lotto_excel_row(6, 1) - 1][13])),
     ": row 9 (round 1), columns N and O: number 2 appears twice among 2 2 12 14 21 26; "
     "expected 6 distinct numbers"),
    ("lotto-missing-round", "lotto", lotto(lambda rows: rows.pop(lotto_excel_row(6, 4) - 1)),
     ": row 5 (round 5), column B: rounds go from 3 (row 6) to 5; round 4 is missing"),
    ("lotto-extra-column", "lotto", lotto(lambda rows: [r.insert(5, None) for r in rows]),
     ": rows 2-3, column N: header reads '당첨금액', expected it to mention '당첨번호'; "
     "columns are shifted or this is not the official layout"),
    ("lotto-bonus-in-six", "lotto", lotto(lambda rows: rows[lotto_excel_row(6, 2) - 1].__setitem__(
        19, rows[lotto_excel_row(6, 2) - 1][13])),
     ": row 8 (round 2), column T: bonus 24 is also a winning number (24 25 27 30 43 45); "
     "expected a different number"),
    # an MNIST source is a directory: the message goes on with the file in it
    ("mnist-wrong-magic", "mnist", mnist(lambda root: write_gz(root / "t10k-labels-idx1-ubyte.gz",
                                                               idx_bytes(np.zeros(5, np.uint8), IMAGES_MAGIC))),
     "/t10k-labels-idx1-ubyte.gz: bytes 0-3: IDX magic number is 2051 (00000803), expected 2049 (00000801)"),
    ("mnist-truncated", "mnist", mnist(lambda root: write_gz(root / "train-images-idx3-ubyte.gz",
                                                             idx_bytes(tiny_images(12), IMAGES_MAGIC)[:-100])),
     "/train-images-idx3-ubyte.gz: after the 16-byte header: payload has 9308 bytes, expected 9408 "
     "for dims 12x28x28 (truncated)"),
    ("mnist-corrupt-gzip", "mnist",
     mnist(lambda root: (root / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")),
     "/train-labels-idx1-ubyte.gz: not a valid gzip stream (BadGzipFile: Unknown compression method)"),
    ("mnist-missing-file", "mnist", mnist(lambda root: (root / "t10k-images-idx3-ubyte.gz").unlink()),
     ": missing MNIST file(s): t10k-images-idx3-ubyte.gz"),
    ("mnist-count-mismatch", "mnist", mnist(lambda root: write_gz(root / "train-labels-idx1-ubyte.gz",
                                                                  idx_bytes(np.zeros(11, np.uint8), LABELS_MAGIC))),
     "/train-labels-idx1-ubyte.gz: 11 labels but train-images-idx3-ubyte.gz has 12 images; "
     "expected one label per image"),
]


def params_with(section: str = "train.stock_rnn", **changes):
    """Edit the keys of one section, train.stock_rnn's unless named (`...` deletes the key)."""
    def edit(params):
        block = params
        for part in section.split("."):
            block = block[part]
        for key, value in changes.items():
            if value is ...:
                del block[key]
            else:
                block[key] = value
    return edit


# params through the train stage: (case id, edit, expected message after "error: params: ")
PARAMS_CASES = [
    ("params-unknown-key", params_with(hidden=8),
     "train.stock_rnn.hidden: unknown key; allowed keys here: dataset, hidden_size, num_layers, head_hidden, "
     "epochs, batch_size, lr, patience"),
    ("params-wrong-type", params_with(epochs="ten"),
     "train.stock_rnn.epochs: expected an integer >= 1 and <= 100000, got 'ten' (str)"),
    ("params-negative-size", params_with(hidden_size=-4),
     "train.stock_rnn.hidden_size: -4 is out of range; allowed >= 1 and <= 4096"),
    ("params-missing-key", params_with(lr=...), "train.stock_rnn.lr: required key is missing"),
    ("params-window-longer-than-data", params_with("datasets.stock", window=5),
     "datasets.stock.window: window 5 needs at least 6 days; the data has 3"),
    ("params-split-over-one", params_with("datasets.stock", split={"train": 0.8, "val": 0.3}),
     "datasets.stock.split: train + val = 1.1; it must be < 1 (the rest is the test set)"),
    ("params-split-leaves-empty-part", params_with("datasets.stock", window=2, split={"train": 0.5, "val": 0.3}),
     "datasets.stock.split: train=0.5, val=0.3 of 1 window leaves an empty part"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working dir holding params.yaml and a previous good output for every dataset."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    good = {"stock": stock([STOCK_HEADER, *STOCK_ROWS])(tmp_path), "lotto": lotto(lambda rows: None)(tmp_path),
            "mnist": write_mnist_dir(tmp_path / "good-mnist")}
    params["ingest"] = {"stock": {"file": str(good["stock"])}, "lotto": {"file": str(good["lotto"])},
                        "mnist": {"dir": str(good["mnist"]), "verify_md5": False}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for dataset in good:
        ingest_main([dataset])
    return tmp_path, params


def outputs(root) -> dict[str, str]:
    """Every file a stage could have written (all but the inputs the test itself writes)."""
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "params.yaml" and "bad" not in p.parts}


def run_bad(workdir, dataset: str, source, capsys) -> str:
    root, params = workdir
    key = "dir" if dataset == "mnist" else "file"
    bad_dir = root / "bad"
    shutil.rmtree(bad_dir, ignore_errors=True)
    bad_dir.mkdir()
    params["ingest"][dataset] = {**params["ingest"][dataset], key: str(source(bad_dir))}
    return run_failing_stage(root, params, ingest_main, [dataset], capsys)


def run_failing_stage(root, params: dict, stage_main, argv: list[str], capsys) -> str:
    """Run a stage that must fail: exit 2, one line on stderr, no file written or changed."""
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    before = outputs(root)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        stage_main(argv)
    assert exit_info.value.code == 2
    assert outputs(root) == before, "a failed stage must leave the previous output untouched"
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("case, dataset, build, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_file_gives_its_exact_error(workdir, capsys, case, dataset, build, expected):
    paths = {}

    def remember(tmp):
        paths["file"] = build(tmp)
        return paths["file"]

    assert run_bad(workdir, dataset, remember, capsys) == f"error: {paths['file']}{expected}"


@pytest.mark.parametrize("case, edit, expected", PARAMS_CASES, ids=[c[0] for c in PARAMS_CASES])
def test_bad_params_stop_the_stage_with_the_key_named(workdir, capsys, case, edit, expected):
    root, params = workdir
    edit(params)
    assert run_failing_stage(root, params, train_main, ["stock_rnn"], capsys) == f"error: params: {expected}"


def test_the_corpus_has_at_least_30_bad_inputs():
    # issue 6 asks for >= 30 (the served models' bad payloads are in tests/e2e on top of these)
    assert len(CASES) + len(PARAMS_CASES) >= 30
