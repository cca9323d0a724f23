"""Read Lotto 6/45 draws from the official results workbook (xlsx export layout).

Layout (sheet `excel`): row 1 title, rows 2-3 a two-row header, data from row 4,
newest round first. Columns (0-based): 1 round, 2 date "YYYY.MM.DD", 13..18 the six
winning numbers, 19 the bonus. Anything right of column 19 (a stray `=SUM()` column in
the known file) is ignored. Locations in errors are Excel row numbers and column letters.
"""
from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError

SHEET = "excel"
HEADER_ROWS = (2, 3)
FIRST_DATA_ROW = 4
ROUND_COL = 1
DATE_COL = 2
NUMBER_COLS = tuple(range(13, 19))
BONUS_COL = 19
# Header text each column we read must mention (either header row): a file with
# shifted, inserted or missing columns fails here rather than reading the wrong data.
HEADER_LABELS = {ROUND_COL: "회차", DATE_COL: "추첨일", NUMBER_COLS[0]: "당첨번호", BONUS_COL: "보너스"}
DATE_RE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
DRAW_INTERVAL = dt.timedelta(days=7)


@dataclass(frozen=True, eq=False)
class LottoDraws:
    """Draws in chronological order (round 1 first); `numbers` rows sorted ascending."""

    rounds: np.ndarray  # int32 (N,)
    dates: np.ndarray  # datetime64[D] (N,)
    numbers: np.ndarray  # int8 (N, 6)
    bonus: np.ndarray  # int8 (N,)

    def __len__(self) -> int:
        return len(self.rounds)


@dataclass(frozen=True)
class _Draw:
    row: int
    round: int
    date: dt.date
    numbers: tuple[int, ...]
    bonus: int


def read_lotto_xlsx(path: str | Path) -> LottoDraws:
    """Parse and validate the workbook; raise DataError naming row and column on any fault."""
    path = Path(path)
    rows = _read_sheet(path)
    _check_header(path, rows)
    draws = [_parse_row(path, excel_row, row)
             for excel_row, row in enumerate(rows[FIRST_DATA_ROW - 1:], start=FIRST_DATA_ROW)]
    if not draws:
        raise DataError(path, f"no data rows: expected draws from row {FIRST_DATA_ROW} on")
    if draws[0].round > draws[-1].round:  # the official layout lists newest first
        draws.reverse()
    _check_sequence(path, draws)
    return LottoDraws(
        rounds=np.array([d.round for d in draws], dtype=np.int32),
        dates=np.array([d.date for d in draws], dtype="datetime64[D]"),
        numbers=np.sort(np.array([d.numbers for d in draws], dtype=np.int8), axis=1),
        bonus=np.array([d.bonus for d in draws], dtype=np.int8),
    )


def summarize(draws: LottoDraws) -> dict:
    """JSON-serialisable overview of the draws."""
    return {
        "rows": len(draws),
        "first_round": int(draws.rounds[0]),
        "last_round": int(draws.rounds[-1]),
        "first_date": str(draws.dates[0]),
        "last_date": str(draws.dates[-1]),
    }


def _read_sheet(path: Path) -> list[tuple]:
    """All rows of sheet `excel` as value tuples padded to the bonus column, trailing empty rows dropped."""
    # imported here: reading the processed draws (training, serving) needs no openpyxl
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(path, f"cannot read as an .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        if SHEET not in wb.sheetnames:
            found = ", ".join(repr(name) for name in wb.sheetnames)
            raise DataError(path, f"no sheet {SHEET!r}; sheets found: {found}")
        ws = wb[SHEET]
        ws.reset_dimensions()  # don't trust a stale <dimension> tag to bound the data
        # read-only sheets give an empty row as [] and others as tuples
        rows = [tuple(row) for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    width = max((_used_width(row) for row in rows), default=0)
    if width <= BONUS_COL:
        raise DataError(path, f"sheet {SHEET!r} has {width} columns, expected at least "
                              f"{BONUS_COL + 1} (A..{_col(BONUS_COL)}, bonus in {_col(BONUS_COL)})")
    return [row + (None,) * (BONUS_COL + 1 - len(row)) for row in rows]


def _used_width(row: tuple) -> int:
    return max((i + 1 for i, v in enumerate(row) if v is not None), default=0)


def _check_header(path: Path, rows: list[tuple]) -> None:
    for col, label in HEADER_LABELS.items():
        text = " ".join(str(rows[r - 1][col]) for r in HEADER_ROWS
                        if len(rows) >= r and rows[r - 1][col] is not None)
        if label not in text:
            raise DataError(
                path,
                f"header reads {text[:40]!r}, expected it to mention {label!r}; "
                "columns are shifted or this is not the official layout",
                where=f"rows {HEADER_ROWS[0]}-{HEADER_ROWS[-1]}, column {_col(col)}",
            )


def _parse_row(path: Path, excel_row: int, row: tuple) -> _Draw:
    round_no = _int_cell(path, row, ROUND_COL, f"row {excel_row}", "round")
    where = f"row {excel_row} (round {round_no})"
    date = _date_cell(path, row, where)
    numbers = tuple(_int_cell(path, row, col, where, f"winning number {k}", (1, 45))
                    for k, col in enumerate(NUMBER_COLS, start=1))
    bonus = _int_cell(path, row, BONUS_COL, where, "bonus", (1, 45))
    for i, n in enumerate(numbers):
        if n in numbers[:i]:
            first = NUMBER_COLS[numbers.index(n)]
            raise DataError(path, f"number {n} appears twice among {_show_numbers(numbers)}; "
                                  "expected 6 distinct numbers",
                            where=f"{where}, columns {_col(first)} and {_col(NUMBER_COLS[i])}")
    if bonus in numbers:
        raise DataError(path, f"bonus {bonus} is also a winning number ({_show_numbers(numbers)}); "
                              "expected a different number", where=f"{where}, column {_col(BONUS_COL)}")
    return _Draw(excel_row, round_no, date, numbers, bonus)


def _int_cell(path: Path, row: tuple, col: int, where: str, what: str,
              bounds: tuple[int, int] | None = None) -> int:
    value = row[col]
    where = f"{where}, column {_col(col)}"
    is_int = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not is_int:
        raise DataError(path, f"{what}: expected an integer, found {_show(value)}", where=where)
    value = int(value)
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise DataError(path, f"{what} is {value}, expected {bounds[0]}..{bounds[1]}", where=where)
    return value


def _date_cell(path: Path, row: tuple, where: str) -> dt.date:
    value = row[DATE_COL]
    if isinstance(value, dt.datetime):  # a re-saved workbook may hold real dates
        return value.date()
    match = DATE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        try:
            return dt.date(*map(int, match.groups()))
        except ValueError:  # e.g. 2025.02.30
            pass
    raise DataError(path, f"draw date: expected 'YYYY.MM.DD', found {_show(value)}",
                    where=f"{where}, column {_col(DATE_COL)}")


def _check_sequence(path: Path, draws: list[_Draw]) -> None:
    """Rounds must be consecutive and draws exactly a week apart (draws in chronological order)."""
    for prev, cur in zip(draws, draws[1:]):
        where = f"row {cur.row} (round {cur.round})"
        if cur.round != prev.round + 1:
            raise DataError(path, f"rounds go from {prev.round} (row {prev.row}) to {cur.round}; "
                                  + _expected_round(prev.round, cur.round),
                            where=f"{where}, column {_col(ROUND_COL)}")
        if cur.date - prev.date != DRAW_INTERVAL:
            raise DataError(path, f"draw date {cur.date} is {(cur.date - prev.date).days} days after "
                                  f"round {prev.round}'s ({prev.date}, row {prev.row}); "
                                  f"expected {DRAW_INTERVAL.days} days",
                            where=f"{where}, column {_col(DATE_COL)}")


def _expected_round(prev: int, cur: int) -> str:
    """Say which rounds are missing between two rows, or which round should have come."""
    if cur == prev + 2:
        return f"round {prev + 1} is missing"
    if cur > prev + 2:
        return f"rounds {prev + 1}..{cur - 1} are missing"
    return f"expected consecutive rounds, {prev + 1} next"


def _col(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _show(value: object) -> str:
    return "an empty cell" if value is None else repr(value)[:40]


def _show_numbers(numbers: tuple[int, ...]) -> str:
    return " ".join(map(str, numbers))
