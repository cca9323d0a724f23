"""Stock CSV parsing, windows, chronological split and leak-free scaling; the ingest stage's figures."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import raw_file

from pipeline.data.stock import Scaler, StockPrices, make_windows, read_stock_csv
from pipeline.errors import DataError, ParamsError
from pipeline.ingest import ingest
from pipeline.tasks import chronological_split

REPO = Path(__file__).resolve().parents[2]
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
    "lines, where, problem",
    [
        ([], None, "file is empty; expected a header line with Date, Open, High, Low, Close"),
        ([HEADER], None, "no data rows after the header"),
        ([HEADER.replace(",", ";")] + [r.replace(",", ";") for r in GOOD_ROWS], "line 1",
         "missing column(s) Date, Open, High, Low, Close; found 'Date;Open;High;Low;Close;Adj Close;Volume' "
         "(is the delimiter a comma?)"),
        ([HEADER.replace("Close,Adj", "Last,Adj")] + GOOD_ROWS, "line 1",
         "missing column(s) Close; found 'Date', 'Open', 'High', 'Low', 'Last', 'Adj Close', 'Volume'"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,abc,10,12,12,100"], "line 3, column High",
         "expected a number, found 'abc'"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,,12,12,100"], "line 3, column Low", "expected a number, found ''"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,nan,12,12,100"], "line 3, column Low",
         "expected a positive finite price, found 'nan'"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,-11,13,10,12,12,100"], "line 3, column Open",
         "expected a positive finite price, found '-11'"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,0,12,12,100"], "line 3, column Low",
         "expected a positive finite price, found '0'"),
        ([HEADER, GOOD_ROWS[1], GOOD_ROWS[0]], "line 3",
         "date 2020-01-02 is earlier than the row before's (2020-01-03); dates must be strictly ascending"),
        ([HEADER, GOOD_ROWS[0], GOOD_ROWS[0]], "line 3",
         "duplicated date 2020-01-02 (after 2020-01-02); dates must be strictly ascending"),
        ([HEADER, GOOD_ROWS[0], "03/01/2020,11,13,10,12,12,100"], "line 3",
         "Date '03/01/2020' is not an ISO date (YYYY-MM-DD)"),
        ([HEADER, GOOD_ROWS[0], "2020-01,11,13,10,12,12,100"], "line 3",
         "Date '2020-01' is not an ISO date (YYYY-MM-DD)"),
        ([HEADER, GOOD_ROWS[0], "20200103,11,13,10,12,12,100"], "line 3",
         "Date '20200103' is not an ISO date (YYYY-MM-DD)"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03 16:00,11,13,10,12,12,100"], "line 3",
         "Date '2020-01-03 16:00' is not an ISO date (YYYY-MM-DD)"),
        ([HEADER, GOOD_ROWS[0], "2020-02-30,11,13,10,12,12,100"], "line 3",
         "Date '2020-02-30' is not an ISO date (YYYY-MM-DD)"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13," + "price missing: see the exchange's notice" * 2 + ",12,12,100"],
         "line 3, column Low", "expected a number, found \"price missing: see the exchange's notice\""),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,13,10"], "line 3", "expected 7 fields like the header, found 4"),
        ([HEADER, GOOD_ROWS[0], "2020-01-03,11,10.5,10,12,12,100"], "line 3",
         "High 10.5 / Low 10 do not bound Open 11 and Close 12"),
    ],
)
def test_bad_csv_names_file_place_and_problem(tmp_path, lines, where, problem):
    path = write(tmp_path, lines)
    with pytest.raises(DataError) as err:
        read_stock_csv(path)
    assert str(err.value) == (f"{path}: {where}: {problem}" if where else f"{path}: {problem}")
    assert (err.value.file, err.value.where, err.value.problem) == (str(path), where, problem)


def test_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    # Spreadsheet programs often save "UTF-8 CSV" with a byte order mark.
    path = tmp_path / "prices.csv"
    path.write_text("\n".join([HEADER, *GOOD_ROWS]), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfDate,")
    assert str(read_stock_csv(path).dates[0]) == "2020-01-02"


def test_file_not_in_utf8_names_the_byte(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("\n".join([HEADER, *GOOD_ROWS]).encode() + b"\n2020-01-07,13,15,12,14,14,100 \xa3\n")
    with pytest.raises(DataError) as err:
        read_stock_csv(path)
    problem = "not UTF-8 text: byte 0xa3 cannot be decoded"
    assert str(err.value) == f"{path}: line 5: {problem}"
    assert (err.value.file, err.value.where, err.value.problem) == (str(path), "line 5", problem)


def test_unreadable_path_says_why(tmp_path):
    with pytest.raises(DataError) as err:
        read_stock_csv(tmp_path)
    assert str(err.value) == f"{tmp_path}: cannot read: Is a directory"


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as err:
        read_stock_csv(tmp_path / "absent.csv")
    assert str(err.value) == f"{tmp_path / 'absent.csv'}: file not found"


def test_bad_file_writes_no_output(tmp_path):
    bad = write(tmp_path, [HEADER, "2020-01-02,x,1,1,1,1,1"])
    out, figures = tmp_path / "processed" / "stock", tmp_path / "figures" / "ingest_stock"
    with pytest.raises(DataError):
        ingest("stock", {"ingest": {"stock": {"file": str(bad)}}}, out, figures)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert not figures.parent.exists()


def test_ingest_draws_the_ohlc_histograms_as_the_stages_plots(tmp_path):
    good = write(tmp_path, [HEADER, *GOOD_ROWS])
    out, figures = tmp_path / "processed" / "stock", tmp_path / "figures" / "ingest_stock"
    (figures / "stale.png").parent.mkdir(parents=True)
    (figures / "stale.png").write_bytes(b"an earlier run's")
    ingest("stock", {"ingest": {"stock": {"file": str(good)}}}, out, figures)
    assert [p.name for p in figures.iterdir()] == ["ohlc_histograms.png"]  # the folder replaced whole
    assert (figures / "ohlc_histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in figures.parent.iterdir()) == ["ingest_stock"]  # no temp folder left
    assert (out / "prices.npz").exists()
    ingest("stock", {"ingest": {"stock": {"file": str(good)}}}, tmp_path / "again")  # no folder: no figures
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "figures", "prices.csv", "processed"]


def test_a_figure_that_fails_to_draw_leaves_nothing_written(tmp_path, monkeypatch):
    from pipeline import data_figures

    def broken(prices):
        raise RuntimeError("no figure")

    monkeypatch.setattr(data_figures, "ohlc_histograms", broken)
    good = write(tmp_path, [HEADER, *GOOD_ROWS])
    out, figures = tmp_path / "processed" / "stock", tmp_path / "figures" / "ingest_stock"
    with pytest.raises(RuntimeError, match="no figure"):
        ingest("stock", {"ingest": {"stock": {"file": str(good)}}}, out, figures)
    assert not out.exists() and not figures.exists()


def test_ingest_imports_no_plotting_library():
    """matplotlib is imported where a figure is drawn, not with the stage's module."""
    code = "import sys, pipeline.ingest; print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))"
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


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
    with pytest.raises(ParamsError) as err:
        make_windows(synthetic(50), ["Open"], window=60, key="datasets.stock.window")
    assert str(err.value) == "params: datasets.stock.window: window 60 needs at least 61 days; the data has 50"


def test_split_that_leaves_a_part_empty_is_rejected():
    with pytest.raises(ParamsError) as err:
        chronological_split(5, 0.85, 0.1)
    assert str(err.value) == "params: split: train=0.85, val=0.1 of 5 windows leaves an empty part"


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
