"""Property tests (hypothesis) for the stock and lotto readers, windowing and the split.

Each property is stated over generated files/arrays rather than a few hand-picked ones:
what a valid file holds comes back exactly; a single fault is reported at its own line/row;
windows and splits never let a training sample see the period it is evaluated on.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pytest
from builders import lotto_data_row, lotto_excel_row, lotto_rows, write_xlsx
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis_budget import examples
from hypothesis import strategies as st

from pipeline.data.lotto import read_lotto_xlsx
from pipeline.data.stock import PRICE_COLUMNS, StockPrices, make_windows, read_stock_csv
from pipeline.errors import DataError, ParamsError
from pipeline.tasks import chronological_split
from pipeline.tasks import lotto as lotto_task
from pipeline.tasks import stock as stock_task

SETTINGS = settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIRST_DAY = dt.date(2000, 1, 3)


# --- stock CSV ------------------------------------------------------------------------------

@st.composite
def price_tables(draw, min_rows: int = 1, max_rows: int = 30):
    """(dates, OHLC rows) that a valid file holds: ascending dates, High/Low bounding Open/Close."""
    n = draw(st.integers(min_rows, max_rows))
    gaps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    dates = [FIRST_DAY + dt.timedelta(days=int(d)) for d in np.cumsum(gaps)]
    price = st.floats(0.01, 1e5, allow_nan=False, allow_infinity=False)
    rows = []
    for _ in range(n):
        open_, close = draw(price), draw(price)
        high = max(open_, close) * draw(st.floats(1.0, 1.2))
        low = min(open_, close) / draw(st.floats(1.0, 1.2))
        rows.append((open_, high, low, close))
    return dates, rows


def csv_text(dates, rows, order: list[str]) -> str:
    """A CSV with the columns in `order` (Date, the four prices, maybe Volume); repr round-trips floats."""
    lines = [",".join(order)]
    for date, prices in zip(dates, rows):
        cells = {"Date": date.isoformat(), "Volume": "1000", **{c: repr(p) for c, p in zip(PRICE_COLUMNS, prices)}}
        lines.append(",".join(cells[c] for c in order))
    return "\n".join(lines) + "\n"


def write_text(text: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "prices.csv"
    path.write_text(text)
    return path


@SETTINGS
@given(table=price_tables(), order=st.permutations(["Date", *PRICE_COLUMNS, "Volume"]))
def test_stock_csv_round_trips_any_valid_table_in_any_column_order(table, order):
    dates, rows = table
    prices = read_stock_csv(write_text(csv_text(dates, rows, order)))
    assert prices.dates.dtype == np.dtype("datetime64[D]") and prices.prices.dtype == np.float64
    assert prices.prices.shape == (len(rows), 4)
    assert prices.dates.tolist() == dates
    np.testing.assert_array_equal(prices.prices, np.array(rows))


@SETTINGS
@given(table=price_tables(min_rows=2), data=st.data())
def test_stock_csv_reports_a_repeated_or_reordered_date_at_its_line(table, data):
    dates, rows = table
    i = data.draw(st.integers(1, len(dates) - 1), label="row that goes wrong")
    earlier = data.draw(st.integers(0, i - 1), label="date it repeats")
    dates = dates[:i] + [dates[earlier]] + dates[i + 1:]
    with pytest.raises(DataError) as err:
        read_stock_csv(write_text(csv_text(dates, rows, ["Date", *PRICE_COLUMNS])))
    assert err.value.where == f"line {i + 2}"  # header is line 1, row 0 is line 2
    if earlier == i - 1:
        expected = f"duplicated date {dates[i]} (after {dates[i - 1]})"
    else:
        expected = f"date {dates[i]} is earlier than the row before's ({dates[i - 1]})"
    assert err.value.problem == f"{expected}; dates must be strictly ascending"


@SETTINGS
@given(table=price_tables(), data=st.data())
def test_stock_csv_names_line_and_column_of_a_bad_price(table, data):
    dates, rows = table
    i = data.draw(st.integers(0, len(rows) - 1), label="row")
    column = data.draw(st.sampled_from(PRICE_COLUMNS), label="column")
    bad = data.draw(st.sampled_from(["", "n/a", "nan", "inf", "-1", "0", "1,5"]), label="cell")
    text = csv_text(dates, rows, ["Date", *PRICE_COLUMNS]).splitlines()
    cells = text[i + 1].split(",")
    cells[1 + PRICE_COLUMNS.index(column)] = bad
    text[i + 1] = ",".join(cells)
    with pytest.raises(DataError) as err:
        read_stock_csv(write_text("\n".join(text)))
    if bad == "1,5":  # an unquoted comma adds a field
        assert (err.value.where, err.value.problem) == (f"line {i + 2}", "expected 5 fields like the header, found 6")
    else:
        assert err.value.where == f"line {i + 2}, column {column}"
        expected = "expected a number" if bad in ("", "n/a") else "expected a positive finite price"
        assert err.value.problem == f"{expected}, found {bad!r}"


# --- lotto workbook ---------------------------------------------------------------------------

draws_strategy = st.lists(
    st.lists(st.integers(1, 45), min_size=7, max_size=7, unique=True), min_size=1, max_size=12
)


def lotto_sheet(draws: list[list[int]], newest_first: bool) -> list[list]:
    data = [lotto_data_row(r, dt.date(2002, 12, 7) + dt.timedelta(weeks=r - 1), seven[:6], seven[6])
            for r, seven in enumerate(draws, start=1)]
    header = lotto_rows(0)
    return header + (data[::-1] if newest_first else data)


@SETTINGS
@given(draws=draws_strategy, newest_first=st.booleans())
def test_lotto_reader_returns_every_draw_in_round_order(draws, newest_first):
    path = write_xlsx(Path(tempfile.mkdtemp()) / "draws.xlsx", lotto_sheet(draws, newest_first))
    result = read_lotto_xlsx(path)
    assert result.numbers.dtype == np.int8 and result.numbers.shape == (len(draws), 6)
    np.testing.assert_array_equal(result.rounds, np.arange(1, len(draws) + 1))
    assert [sorted(d[:6]) for d in draws] == result.numbers.tolist()
    assert [d[6] for d in draws] == result.bonus.tolist()
    assert (np.diff(result.dates) == np.timedelta64(7, "D")).all()


@SETTINGS
@given(data=st.data(), value=st.one_of(st.integers(-5, 0), st.integers(46, 99)))
def test_lotto_reader_names_row_and_column_of_an_out_of_range_number(data, value):
    n = 6
    rows = lotto_rows(n, seed=data.draw(st.integers(0, 10**6), label="seed"))
    round_no = data.draw(st.integers(1, n), label="round")
    slot = data.draw(st.integers(0, 6), label="slot (6 = bonus)")
    excel_row = lotto_excel_row(n, round_no)
    rows[excel_row - 1][13 + slot] = value
    with pytest.raises(DataError) as err:
        read_lotto_xlsx(write_xlsx(Path(tempfile.mkdtemp()) / "draws.xlsx", rows))
    column = "NOPQRST"[slot]
    assert err.value.where == f"row {excel_row} (round {round_no}), column {column}"
    what = "bonus" if slot == 6 else f"winning number {slot + 1}"
    assert err.value.problem == f"{what} is {value}, expected 1..45"


# --- windows and the chronological split -----------------------------------------------------

@st.composite
def stock_series(draw):
    n = draw(st.integers(3, 80))
    close = np.cumprod(1 + np.array(draw(st.lists(st.floats(-0.2, 0.2), min_size=n, max_size=n)))) * 100
    prices = np.stack([close * 0.99, close * 1.02, close * 0.97, close], axis=1)
    dates = np.datetime64("2020-01-01") + np.arange(n)
    return StockPrices(dates=dates, prices=prices)


@SETTINGS
@given(prices=stock_series(), data=st.data())
def test_stock_windows_hold_the_past_and_target_the_next_close(prices, data):
    n = len(prices.dates)
    window = data.draw(st.integers(1, n + 5), label="window")
    features = data.draw(st.lists(st.sampled_from(["Open", "High", "Low"]), min_size=1, max_size=3, unique=True))
    if window >= n:
        with pytest.raises(ParamsError) as err:
            make_windows(prices, features, window)
        assert str(err.value) == f"params: window: window {window} needs at least {window + 1} days; the data has {n}"
        return
    w = make_windows(prices, features, window)
    assert w.inputs.shape == (n - window, window, len(features)) and w.inputs.dtype == np.float64
    i = data.draw(st.integers(0, n - window - 1), label="window index")
    np.testing.assert_array_equal(w.inputs[i], prices.columns(features)[i:i + window])
    assert w.target[i] == prices.column("Close")[i + window]
    assert w.last_close[i] == prices.column("Close")[i + window - 1]
    assert w.target_dates[i] == prices.dates[i + window]


@SETTINGS
@given(n=st.integers(0, 500), train=st.floats(0.0, 1.0), val=st.floats(0.0, 1.0))
@example(n=3, train=0.34, val=0.34)  # one window in each part: the smallest split there is
@example(n=3, train=0.34, val=0.3)  # no validation window
def test_split_is_three_ordered_nonempty_parts_or_a_params_error(n, train, val):
    try:
        parts = chronological_split(n, train, val, "train.m.split")
    except ParamsError as err:
        windows = f"{n} window{'s' * (n != 1)}"
        assert str(err) == f"params: train.m.split: train={train:g}, val={val:g} of {windows} leaves an empty part"
        assert min(int(n * train), int(n * val), n - int(n * train) - int(n * val)) < 1
        return
    covered = np.concatenate([np.arange(n)[p] for p in parts])
    np.testing.assert_array_equal(covered, np.arange(n))  # disjoint, ordered, nothing lost
    assert all(p.stop > p.start for p in parts)


@SETTINGS
@given(prices=stock_series(), window=st.integers(1, 10), train=st.floats(0.2, 0.7), val=st.floats(0.1, 0.25),
       scaling=st.sampled_from(["train_max", "window_relative"]), factor=st.floats(0.1, 10.0))
def test_no_training_sample_sees_the_evaluation_period(prices, window, train, val, scaling, factor):
    """The stock task's own prepare, on a prices.npz: validation targets follow the training windows
    and precede the test targets, and whatever the days after the last training target hold (the
    prices there times `factor`), the training tensors and the fitted scaler are the same."""
    assume(len(prices.dates) > window and factor != 1.0)
    block = {"window": window, "features": ["Open", "High", "Low"], "scaling": scaling,
             "split": {"train": train, "val": val}}

    def prepare(table: np.ndarray):
        folder = Path(tempfile.mkdtemp())
        np.savez(folder / stock_task.PRICES_FILE, dates=prices.dates, prices=table)
        return stock_task.prepare(folder, block, "train.stock_rnn", 0)

    try:
        prepared = prepare(prices.prices)
    except ParamsError:
        assume(False)
    n_train = len(prepared.train)
    val_dates, test_dates = prepared.raw["val"].target_dates, prepared.raw["test"].target_dates
    # the windows after the training ones, in order: validation, then test
    np.testing.assert_array_equal(np.concatenate([val_dates, test_dates]), prices.dates[window + n_train:])
    later = np.arange(len(prices.dates)) > window + n_train - 1  # after the last training target
    changed = prepare(np.where(later[:, None], prices.prices * factor, prices.prices))
    assert changed.meta["scaler"] == prepared.meta["scaler"]
    for got, expected in zip(changed.train.tensors, prepared.train.tensors):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@SETTINGS
@given(n_draws=st.integers(2, 60), window=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_lotto_windows_align_inputs_with_the_next_draw(n_draws, window, seed):
    assume(window < n_draws)
    numbers = np.sort(np.random.default_rng(seed).permuted(np.tile(np.arange(1, 46), (n_draws, 1)), axis=1)[:, :6],
                      axis=1).astype(np.int8)
    inputs, targets = lotto_task.make_windows(numbers, window)
    assert inputs.shape == (n_draws - window, window, 6) and targets.shape == (n_draws - window, 6)
    for i in (0, len(targets) - 1):
        np.testing.assert_array_equal(inputs[i], numbers[i:i + window])
        np.testing.assert_array_equal(targets[i], numbers[i + window])
    scaled = lotto_task.normalise(numbers)
    assert scaled.dtype == np.float32 and 0 <= scaled.min() and scaled.max() <= 1
    np.testing.assert_allclose(lotto_task.denormalise(scaled), numbers, atol=1e-5)
