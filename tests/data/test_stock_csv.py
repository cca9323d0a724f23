"""Stock CSV parsing, windows, chronological split and leak-free scaling."""
import numpy as np
import pytest
from builders import raw_file

from pipeline.data.stock import Scaler, StockPrices, make_windows, read_stock_csv
from pipeline.errors import DataError, ParamsError
from pipeline.ingest import ingest
from pipeline.tasks import chronological_split

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
GOOD_ROWS = [
    "2020-01-02,10,12,9,11,11,100",
    "2020-01-03,11,13,10,12,12,100",
    "2020-01-06,12,14,11,13,13,100",
]


def write(tmp_path, lines, name="prices.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines))
    return path


def test_real_file_parses():
    prices = read_stock_csv(raw_file("nflx", "NFLX_2002-05-23_to_2022-11-02.csv"))
    assert len(prices.dates) == 5149
    assert str(prices.dates[0]) == "2002-05-23" and str(prices.dates[-1]) == "2022-11-02"
    assert prices.prices.dtype == np.float64 and prices.prices.shape == (5149, 4)
    assert prices.column("Open")[0] == pytest.approx(1.156429)


def test_columns_are_found_by_name_not_position(tmp_path):
    reordered = ["Close,Date,Low,High,Open"] + [",".join([r.split(",")[i] for i in (4, 0, 3, 2, 1)]) for r in GOOD_ROWS]
    prices = read_stock_csv(write(tmp_path, reordered))
    assert prices.column("Close").tolist() == [11, 12, 13]
    assert prices.column("High").tolist() == [12, 13, 14]


@pytest.mark.parametrize(
    "lines, where, fragment",
    [
        ([], None, "file is empty"),
        ([HEADER], None, "no data rows"),
        ([HEADER.replace(",", ";")] + [r.replace(",", ";") for r in GOOD_ROWS], "line 1", "delimiter"),
        ([HEADER.replace("Close,Adj", "Last,Adj")] + GOOD_ROWS, "line 1", "missing column(s) Close"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,abc,10,12,12,100"], "line 3, column High", "expected a number"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,,12,12,100"], "line 3, column Low", "expected a number"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,nan,12,12,100"], "line 3, column Low", "positive finite"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,-11,13,10,12,12,100"], "line 3, column Open", "positive finite"),
        ([HEADER, GOOD_ROWS[1], GOOD_ROWS[0]], "line 3", "earlier than the row before"),
        ([HEADER, GOOD_ROWS[0], GOOD_ROWS[0]], "line 3", "duplicated date 2020-01-02"),
        ([HEADER, GOOD_ROWS[0], "03/01/2020,11,13,10,12,12,100"], "line 3", "not an ISO date"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,10"], "line 3", "expected 7 fields"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,10.5,10,12,12,100"], "line 3", "do not bound"),
    ],
)
def test_bad_csv_names_file_place_and_problem(tmp_path, lines, where, fragment):
    path = write(tmp_path, lines)
    with pytest.raises(DataError) as err:
        read_stock_csv(path)
    assert err.value.file == str(path)
    assert err.value.where == where
    assert fragment in err.value.problem


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_stock_csv(tmp_path / "absent.csv")


def test_bad_file_writes_no_output(tmp_path):
    bad = write(tmp_path, [HEADER, "2020-01-02,x,1,1,1,1,1"])
    out = tmp_path / "processed" / "stock"
    with pytest.raises(DataError):
        ingest("stock", {"ingest": {"stock": {"file": str(bad)}}}, out)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def synthetic(n=50):
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + n)
    close = np.arange(1, n + 1, dtype=np.float64) * 10
    prices = np.stack([close - 1, close + 2, close - 2, close], axis=1)
    return StockPrices(dates=dates, prices=prices)


def test_windows_hold_the_past_and_target_the_next_close():
    prices = synthetic()
    w = make_windows(prices, ["Open", "High", "Low"], window=5)
    assert w.inputs.shape == (45, 5, 3) and w.target.shape == (45,)
    np.testing.assert_array_equal(w.inputs[0, :, 0], prices.column("Open")[:5])
    assert w.target[0] == prices.column("Close")[5]
    assert w.last_close[0] == prices.column("Close")[4]
    assert w.target_dates[0] == prices.dates[5]
    # the last window predicts the last day
    assert w.target[-1] == prices.column("Close")[-1]


def test_window_longer_than_data_is_a_params_error():
    with pytest.raises(ParamsError, match="train.stock_rnn.window: window 60 needs at least 61 days"):
        make_windows(synthetic(50), ["Open"], window=60, key="train.stock_rnn.window")


def test_split_is_chronological_without_overlap():
    w = make_windows(synthetic(200), ["Open", "High", "Low"], window=10)
    train, val, test = chronological_split(len(w.target), 0.7, 0.15)
    assert train.stop == val.start and val.stop == test.start and test.stop == len(w.target)
    assert w.target_dates[train].max() < w.target_dates[val].min()
    assert w.target_dates[val].max() < w.target_dates[test].min()


def test_split_that_leaves_a_part_empty_is_rejected():
    with pytest.raises(ParamsError, match="leaves an empty part"):
        chronological_split(5, 0.85, 0.1)


def test_train_max_scaling_is_fitted_on_training_part_only():
    w = make_windows(synthetic(200), ["Open", "High", "Low"], window=10)
    train, _, test = chronological_split(len(w.target), 0.7, 0.15)
    from pipeline.tasks.stock import _subset

    scaler = Scaler.fit("train_max", _subset(w, train))
    assert scaler.target_max == w.target[train].max()
    assert scaler.target_max < w.target[test].max()  # prices rise: the test period is out of range
    scaled = scaler.transform_target(w.target[test], w.inputs[test])
    assert scaled.max() > 1


def test_window_relative_scaling_round_trips_and_is_scale_free():
    w = make_windows(synthetic(100), ["Open", "High", "Low"], window=10)
    scaler = Scaler.fit("window_relative", w)
    scaled = scaler.transform_target(w.target, w.inputs)
    np.testing.assert_allclose(scaler.inverse_target(scaled, w.inputs), w.target)
    # doubling every price leaves the model's inputs and targets unchanged
    np.testing.assert_allclose(scaler.transform_inputs(2 * w.inputs), scaler.transform_inputs(w.inputs))
    np.testing.assert_allclose(scaler.transform_target(2 * w.target, 2 * w.inputs), scaled)


def test_scaler_round_trips_through_dict():
    scaler = Scaler("train_max", 3.5, 7.25)
    assert Scaler.from_dict(scaler.to_dict()) == scaler
