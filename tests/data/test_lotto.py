"""Lotto workbook reader: the real file, and every validation failure on generated files."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import openpyxl
from builders import cache_formula_results, lotto_excel_row, lotto_rows, raw_file, write_xlsx
from openpyxl.styles import Font

from pipeline.data.lotto import read_lotto_xlsx, summarize
from pipeline.errors import DataError

N = 5  # rounds in the generated sheets


@pytest.fixture(scope="module")
def real():
    return read_lotto_xlsx(raw_file("lotto645", "lotto645_official_layout_rounds_1-1165.xlsx"))


def row_of(rows: list[list], round_no: int) -> list:
    """The data row of `round_no` in a `lotto_rows(N)` sheet (Excel row numbers are 1-based)."""
    return rows[lotto_excel_row(N, round_no) - 1]


def error(tmp_path, rows, sheet: str = "excel") -> str:
    """The whole message reading `rows` raises, less the file's path that starts it."""
    path = write_xlsx(tmp_path / "draws.xlsx", rows, sheet)
    with pytest.raises(DataError) as info:
        read_lotto_xlsx(path)
    assert str(info.value).startswith(f"{path}: "), info.value
    return str(info.value).removeprefix(f"{path}: ")


SHIFTED = "; columns are shifted or this is not the official layout"


# --- the real file ----------------------------------------------------------------------

def test_real_file_shape_and_order(real):
    assert len(real) == 1165
    assert real.rounds.dtype == np.int32 and real.numbers.dtype == np.int8 and real.bonus.dtype == np.int8
    assert real.dates.dtype == np.dtype("datetime64[D]")
    assert real.numbers.shape == (1165, 6)
    np.testing.assert_array_equal(real.rounds, np.arange(1, 1166))
    assert str(real.dates[0]) == "2002-12-07" and str(real.dates[-1]) == "2025-03-29"
    assert (np.diff(real.dates) == np.timedelta64(7, "D")).all()


def test_real_file_draw_values(real):
    assert real.numbers[0].tolist() == [10, 23, 29, 33, 37, 40] and real.bonus[0] == 16
    assert real.numbers[-1].tolist() == [6, 7, 27, 29, 38, 45] and real.bonus[-1] == 17
    assert (np.diff(real.numbers, axis=1) > 0).all()  # sorted and distinct
    assert real.numbers.min() >= 1 and real.numbers.max() <= 45
    assert real.bonus.min() >= 1 and real.bonus.max() <= 45
    assert not (real.numbers == real.bonus[:, None]).any()


def test_real_file_summary_is_json(real):
    summary = summarize(real)
    assert json.loads(json.dumps(summary)) == {
        "rows": 1165, "first_round": 1, "last_round": 1165,
        "first_date": "2002-12-07", "last_date": "2025-03-29",
    }


# --- generated files that parse --------------------------------------------------------

def test_generated_file_round_trips(tmp_path):
    rows = lotto_rows(N)
    draws = read_lotto_xlsx(write_xlsx(tmp_path / "draws.xlsx", rows))
    assert draws.rounds.tolist() == list(range(1, N + 1))
    assert draws.numbers[0].tolist() == row_of(rows, 1)[13:19]
    assert draws.bonus.tolist() == [row_of(rows, r)[19] for r in range(1, N + 1)]
    assert draws.dates[1] - draws.dates[0] == np.timedelta64(7, "D")


def test_stray_sum_column_is_ignored_present_or_absent(tmp_path):
    with_sum = lotto_rows(N)
    assert all(row[20] == sum(row[13:19]) for row in with_sum[3:])  # the builder writes column U
    without_sum = [row[:20] for row in with_sum]
    a = read_lotto_xlsx(write_xlsx(tmp_path / "a.xlsx", with_sum))
    b = read_lotto_xlsx(write_xlsx(tmp_path / "b.xlsx", without_sum))
    assert a.bonus.tolist() == b.bonus.tolist() == [row_of(with_sum, r)[19] for r in range(1, N + 1)]
    np.testing.assert_array_equal(a.numbers, b.numbers)


def test_unsorted_numbers_are_sorted(tmp_path):
    rows = lotto_rows(N)
    row_of(rows, 2)[13:19] = list(reversed(row_of(rows, 2)[13:19]))
    draws = read_lotto_xlsx(write_xlsx(tmp_path / "draws.xlsx", rows))
    assert draws.numbers[1].tolist() == sorted(row_of(rows, 2)[13:19])


def test_ascending_file_and_real_date_cells_are_accepted(tmp_path):
    rows = lotto_rows(N)
    rows[3:] = reversed(rows[3:])
    round_3 = rows[3 + 2]
    round_3[2] = dt.datetime.strptime(round_3[2], "%Y.%m.%d")
    draws = read_lotto_xlsx(write_xlsx(tmp_path / "draws.xlsx", rows))
    assert draws.rounds.tolist() == list(range(1, N + 1))
    assert str(draws.dates[2]) == "2002-12-21"


def test_blank_title_and_trailing_formatted_rows_are_accepted(tmp_path):
    # A re-saved workbook may lose its title and keep formatted but empty rows below the draws.
    rows = lotto_rows(N)
    rows[0] = []
    path = write_xlsx(tmp_path / "draws.xlsx", rows)
    wb = openpyxl.load_workbook(path)
    for excel_row in (len(rows) + 3, len(rows) + 9):
        wb["excel"].cell(row=excel_row, column=2).font = Font(bold=True)
    wb.save(path)
    draws = read_lotto_xlsx(path)
    assert draws.rounds.tolist() == list(range(1, N + 1))


def test_formula_cells_read_as_the_value_the_file_shows(tmp_path):
    rows = lotto_rows(N)
    shown = row_of(rows, 2)[13]
    row_of(rows, 2)[13] = f"={shown}+0"
    path = write_xlsx(tmp_path / "draws.xlsx", rows)
    cache_formula_results(path, {f"N{lotto_excel_row(N, 2)}": shown})
    draws = read_lotto_xlsx(path)
    assert draws.numbers[1].tolist() == sorted(row_of(rows, 2)[14:19] + [shown])


# --- file-level failures ----------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(DataError) as info:
        read_lotto_xlsx(tmp_path / "nope.xlsx")
    assert str(info.value) == f"{tmp_path / 'nope.xlsx'}: file not found"


def test_not_an_xlsx(tmp_path):
    path = tmp_path / "draws.xlsx"
    path.write_text("round,date\n1,2002.12.07\n")
    with pytest.raises(DataError) as info:
        read_lotto_xlsx(path)
    assert str(info.value) == f"{path}: cannot read as an .xlsx workbook (BadZipFile: File is not a zip file)"


def test_missing_sheet_names_the_sheets_found(tmp_path):
    assert error(tmp_path, lotto_rows(N), sheet="Sheet1") == "no sheet 'excel'; sheets found: 'Sheet1'"


def test_missing_sheet_names_every_sheet_found(tmp_path):
    path = write_xlsx(tmp_path / "draws.xlsx", lotto_rows(N), sheet="2025")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("notes")
    wb.save(path)
    with pytest.raises(DataError) as info:
        read_lotto_xlsx(path)
    assert str(info.value) == f"{path}: no sheet 'excel'; sheets found: '2025', 'notes'"


def test_empty_sheet(tmp_path):
    assert error(tmp_path, []) == "sheet 'excel' has 0 columns, expected at least 20 (A..T, bonus in T)"


def test_too_few_columns(tmp_path):
    rows = [row[:19] for row in lotto_rows(N)]  # no bonus, no stray column
    assert error(tmp_path, rows) == "sheet 'excel' has 19 columns, expected at least 20 (A..T, bonus in T)"


def test_missing_column_with_stray_column_present_fails_on_header(tmp_path):
    # Dropping a prize column leaves 20 columns: the SUM column would land in the bonus slot.
    rows = [row[:5] + row[6:] for row in lotto_rows(N)]
    assert error(tmp_path, rows) == "rows 2-3, column N: header reads '2', expected it to mention '당첨번호'" + SHIFTED


def test_extra_column_fails_on_header(tmp_path):
    rows = [row[:3] + ["x"] + row[3:] for row in lotto_rows(N)]
    assert error(tmp_path, rows) == "rows 2-3, column N: header reads '당첨금액', expected it to mention '당첨번호'" + SHIFTED


def test_header_quotes_both_rows_cut_to_40_characters(tmp_path):
    rows = lotto_rows(N)
    rows[1][13], rows[2][13] = "winning numbers (first six)", "drawn in order"
    assert error(tmp_path, rows) == (
        "rows 2-3, column N: header reads 'winning numbers (first six) drawn in ord', "
        "expected it to mention '당첨번호'" + SHIFTED)


def test_bonus_header_checked(tmp_path):
    rows = lotto_rows(N)
    rows[2][19] = "합계"
    assert error(tmp_path, rows) == "rows 2-3, column T: header reads '합계', expected it to mention '보너스'" + SHIFTED


def test_no_data_rows(tmp_path):
    assert error(tmp_path, lotto_rows(N)[:3]) == "no data rows: expected draws from row 4 on"


# --- cell-level failures ----------------------------------------------------------------

@pytest.mark.parametrize(("value", "found"), [("x", "'x'"), (None, "an empty cell"), (7.5, "7.5")])
def test_non_integer_number(tmp_path, value, found):
    rows = lotto_rows(N)
    row_of(rows, 3)[15] = value
    assert error(tmp_path, rows) == (f"row {lotto_excel_row(N, 3)} (round 3), column P: winning number 3: "
                                     f"expected an integer, found {found}")


@pytest.mark.parametrize("value", [0, 46])
def test_number_out_of_range(tmp_path, value):
    rows = lotto_rows(N)
    row_of(rows, 4)[18] = value
    assert error(tmp_path, rows) == (f"row {lotto_excel_row(N, 4)} (round 4), column S: "
                                     f"winning number 6 is {value}, expected 1..45")


def test_duplicate_number(tmp_path):
    rows = lotto_rows(N)
    row = row_of(rows, 2)
    row[13:19] = [5, 9, 9, 20, 30, 40]
    row[19] = 1
    assert error(tmp_path, rows) == (f"row {lotto_excel_row(N, 2)} (round 2), columns O and P: number 9 appears "
                                     "twice among 5 9 9 20 30 40; expected 6 distinct numbers")


def test_bonus_out_of_range(tmp_path):
    rows = lotto_rows(N)
    row_of(rows, 5)[19] = 46
    assert error(tmp_path, rows) == "row 4 (round 5), column T: bonus is 46, expected 1..45"


def test_bonus_among_numbers(tmp_path):
    rows = lotto_rows(N)
    row = row_of(rows, 1)
    row[13:20] = [1, 2, 3, 4, 5, 6, 4]
    assert error(tmp_path, rows) == (f"row {lotto_excel_row(N, 1)} (round 1), column T: "
                                     "bonus 4 is also a winning number (1 2 3 4 5 6); expected a different number")


def test_empty_round_cell(tmp_path):
    rows = lotto_rows(N)
    row_of(rows, 2)[1] = None
    assert error(tmp_path, rows) == (
        f"row {lotto_excel_row(N, 2)}, column B: round: expected an integer, found an empty cell")


@pytest.mark.parametrize("value", ["2002/12/14", "2002.02.30", None])
def test_bad_date_cell(tmp_path, value):
    rows = lotto_rows(N)
    row_of(rows, 2)[2] = value
    expected = repr(value) if value else "an empty cell"
    assert error(tmp_path, rows) == (f"row {lotto_excel_row(N, 2)} (round 2), column C: "
                                     f"draw date: expected 'YYYY.MM.DD', found {expected}")


# --- sequence failures ------------------------------------------------------------------

def test_missing_round_names_the_gap(tmp_path):
    rows = lotto_rows(N)
    rows.remove(row_of(rows, 3))
    # Now round 4 sits in Excel row 5 and round 2 in row 6.
    assert error(tmp_path, rows) == "row 5 (round 4), column B: rounds go from 2 (row 6) to 4; round 3 is missing"


def test_several_missing_rounds(tmp_path):
    rows = lotto_rows(N)
    for r in (2, 3):
        rows.remove(row_of(rows, r))
    assert error(tmp_path, rows) == "row 5 (round 4), column B: rounds go from 1 (row 6) to 4; rounds 2..3 are missing"


def test_repeated_round(tmp_path):
    rows = lotto_rows(N)
    row_of(rows, 3)[1] = 2
    assert error(tmp_path, rows) == ("row 6 (round 2), column B: rounds go from 2 (row 7) to 2; "
                                     "expected consecutive rounds, 3 next")


def test_dates_not_a_week_apart(tmp_path):
    rows = lotto_rows(N)
    row_of(rows, 4)[2] = "2002.12.29"  # round 4 is due on 2002.12.28
    assert error(tmp_path, rows) == ("row 5 (round 4), column C: draw date 2002-12-29 is 8 days after round 3's "
                                     "(2002-12-21, row 6); expected 7 days")
