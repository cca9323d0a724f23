"""Small synthetic raw files for the data-reader tests, written into tmp_path."""
from __future__ import annotations

import datetime as dt
import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

REPO = Path(__file__).resolve().parents[2]


def raw_file(subdir: str, name: str) -> Path:
    """A real raw data file: data/raw/ in the repo, else the shared datasets beside it; skip if neither."""
    for base in (REPO / "data" / "raw", REPO.parent / "shared" / "datasets"):
        if (base / subdir / name).is_file():
            return base / subdir / name
    pytest.skip(f"real data file {subdir}/{name} not available")


# --- Lotto: the official export layout ------------------------------------------------

LOTTO_TITLE = ("회차별 추첨결과",)
LOTTO_HEADER_1 = ("년도", "회차", "추첨일", "1등", None, "2등", None, "3등", None, "4등", None,
                  "5등", None, "당첨번호", None, None, None, None, None, None)
LOTTO_HEADER_2 = (None, None, None) + ("당첨자수", "당첨금액") * 5 + (1, 2, 3, 4, 5, 6, "보너스")


def lotto_data_row(round_no: int, date: dt.date, numbers: list[int], bonus: int) -> list:
    """One data row in the official layout, plus the stray column 20 (U).

    The real file has `=SUM(N:S)` there; a reader with data_only=True sees its cached sum,
    so that is what is written here.
    """
    prizes = [1, "1,000원"] * 5
    return [date.year, round_no, date.strftime("%Y.%m.%d"), *prizes, *numbers, bonus, sum(numbers)]


def lotto_rows(n_rounds: int, seed: int = 0) -> list[list]:
    """Title, two header rows and `n_rounds` valid draws, newest first like the official file."""
    rng = np.random.default_rng(seed)
    data = []
    for r in range(1, n_rounds + 1):
        seven = (rng.choice(45, size=7, replace=False) + 1).tolist()
        date = dt.date(2002, 12, 7) + dt.timedelta(weeks=r - 1)
        data.append(lotto_data_row(r, date, sorted(seven[:6]), seven[6]))
    return [list(LOTTO_TITLE), list(LOTTO_HEADER_1), list(LOTTO_HEADER_2), *reversed(data)]


def lotto_excel_row(n_rounds: int, round_no: int) -> int:
    """The 1-based Excel row of `round_no` in a `lotto_rows(n_rounds)` sheet."""
    return 4 + n_rounds - round_no


def write_xlsx(path: Path, rows: list[list], sheet: str = "excel") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def cache_formula_results(path: Path, results: dict[str, int]) -> Path:
    """Store each formula cell's result in the file, as Excel does when it saves.

    openpyxl writes formulas with an empty cached value; a reader with data_only=True
    sees what a spreadsheet program would show only once the value is there.
    """
    with zipfile.ZipFile(path) as zin:
        parts = {name: zin.read(name) for name in zin.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for ref, value in results.items():
        sheet, n = re.subn(rf'(<c r="{ref}"><f>[^<]*</f>)<v\s*/>', rf"\g<1><v>{value}</v>", sheet)
        assert n == 1, f"no formula cell {ref} in {path}"
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in parts.items():
            zout.writestr(name, data)
    return path


# --- MNIST: IDX files ------------------------------------------------------------------

IMAGES_MAGIC = 0x0803
LABELS_MAGIC = 0x0801


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An unsigned-byte IDX file: big-endian magic, one uint32 per dim, then the bytes."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload, mtime=0))
    return path


def tiny_images(n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def tiny_labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def write_mnist_dir(root: Path, n_train: int = 12, n_test: int = 5) -> Path:
    """The four standard MNIST file names holding tiny valid data."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_gz(root / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(tiny_images(n), IMAGES_MAGIC))
        write_gz(root / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(tiny_labels(n), LABELS_MAGIC))
    return root
