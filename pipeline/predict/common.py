"""What the kinds of file prediction share: numeric CSV and .npy readers, and what a prediction writes.

The readers raise DataError naming the file, where in it and what is wrong, as the raw-data readers
do (pipeline.data); nothing here imports torch or MLflow.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

NPY_MAGIC = b"\x93NUMPY"


@dataclass
class Outputs:
    """A prediction's files (name -> content, written into the output folder) and what it prints."""

    files: dict[str, bytes] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def add_csv(self, name: str, header: list[str] | None, rows) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
        self.files[name] = buffer.getvalue().encode()

    def add_figure(self, name: str, fig) -> None:
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        self.files[name] = buffer.getvalue()


def cell(value) -> str:
    """A number for a CSV cell, as precise as its type: 9 significant digits for a float32 (all it
    holds), the shortest exact form for a float64."""
    return f"{value:.9g}" if isinstance(value, np.float32) else repr(float(value))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise DataError(path, "is a folder; expected a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NumberRows:
    """A CSV of numbers: its header (None if it has none), the values (N, M), each row's line number
    and, where the header names a label column, each row's label."""

    header: list[str] | None
    values: np.ndarray
    lines: list[int]
    labels: list[str] | None = None


def read_number_rows(path: str | Path, what: str, label_column: str | None = None) -> NumberRows:
    """A CSV whose rows are numbers, all of one length; `what` says what a row is (for messages). A first
    line with no number in it is a header (as pandas' to_csv writes); a header whose first cell is
    `label_column` makes the first column labels, not numbers. Blank lines are skipped. Line numbers in
    errors are the file's own."""
    path = Path(path)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded", f"line {line}") from None
    rows = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(text.splitlines()), start=1)
            if any(c.strip() for c in row)]
    if not rows:
        raise DataError(path, f"file is empty; expected {what}, one per row")
    header = None
    if not any(_is_number(c) for c in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
        if not rows:
            raise DataError(path, f"no data rows after the header; expected {what}, one per row")
    labels = None
    if header is not None and label_column is not None and header[0] == label_column:
        labels = [row[0] if row else "" for _, row in rows]
        rows = [(line, row[1:]) for line, row in rows]
        header = header[1:]
    first, width = rows[0][0], len(rows[0][1])
    if width == 0:
        raise DataError(path, f"no numbers in the rows; expected {what}, one per row")
    offset = 1 if labels is not None else 0  # columns in messages are the file's own
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(path, f"{len(row) + offset} values, expected {width + offset} like line {first}", f"line {line}")
        for j, cell in enumerate(row):
            where = f"line {line}, column {j + 1 + offset}"
            try:
                values[i, j] = float(cell)
            except ValueError:
                found = "an empty cell" if not cell else repr(cell[:40])
                raise DataError(path, f"expected a number, found {found}", where) from None
            if not np.isfinite(values[i, j]):
                raise DataError(path, f"expected a finite number, found {cell!r}", where)
    return NumberRows(header, values, [line for line, _ in rows], labels)


def read_npy(path: str | Path) -> np.ndarray:
    """One numeric array from a .npy file (never a pickle)."""
    path = Path(path)
    data = read_bytes(path)
    if data.startswith(b"PK"):
        raise DataError(path, "is an .npz archive (or another zip file); expected one array saved with numpy.save")
    if not data.startswith(NPY_MAGIC):
        raise DataError(path, "not a .npy file (it does not start with numpy's magic string)")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(path, f"cannot read as a .npy array ({type(exc).__name__}: {str(exc)[:200]})") from None
    if array.dtype.kind not in "iuf":
        raise DataError(path, f"holds {array.dtype} values; expected numbers")
    return array
