"""The stock task's prepare on a prices.npz it reads like the pipeline's: windows split in time order
(oldest for training, newest for testing) and scaling fitted on the training period alone; and its
serving: a request of `window` days of prices answered in dollars, a malformed one refused by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.stock import PRICE_COLUMNS, Scaler
from pipeline.errors import PayloadError
from pipeline.models.stock_rnn import StockRNN
from pipeline.tasks import stock

WINDOW = 5
FEATURES = ["Open", "High", "Low"]
DAYS = 120
# Days from here on trade at a level ten times higher: they fall in the validation and test
# periods (training targets end at day WINDOW + int(0.6 * (DAYS - WINDOW)) - 1 = 73).
JUMP = 90
SCALINGS = ["train_max", "window_relative"]


def block(scaling: str) -> dict:
    return {"window": WINDOW, "features": FEATURES, "scaling": scaling, "split": {"train": 0.6, "val": 0.2}}


def rising_prices() -> tuple[np.ndarray, np.ndarray]:
    """(dates, OHLC prices): a close that rises by one dollar a day, distinct on every day, and ten
    times higher from day JUMP on; Open/High/Low a fixed step from it."""
    day = np.arange(DAYS, dtype=np.float64)
    close = np.where(day < JUMP, 100 + day, 10 * (100 + day))
    prices = np.stack([close - 0.5, close + 1.0, close - 1.0, close], axis=1)
    return np.datetime64("2021-03-01") + np.arange(DAYS), prices


def prepare_from(tmp_path: Path, dates: np.ndarray, prices: np.ndarray, scaling: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    np.savez(tmp_path / stock.PRICES_FILE, dates=dates, prices=prices)
    return stock.prepare(tmp_path, block(scaling), "train.stock_rnn", seed=0)


def training_days(prepared, prices: np.ndarray) -> np.ndarray:
    """The day each training target closes on, read back from the train_max-scaled targets (every
    day's close is distinct: the nearest one is the day)."""
    target = prepared.train.tensors[1][:, 0].double().numpy() * prepared.meta["scaler"]["target_max"]
    close = prices[:, PRICE_COLUMNS.index("Close")]
    days = np.abs(target[:, None] - close[None]).argmin(1)
    np.testing.assert_allclose(close[days], target, rtol=1e-5)  # each target is one day's close
    return days


def test_prepare_splits_the_windows_in_time_order(tmp_path):
    dates, prices = rising_prices()
    prepared = prepare_from(tmp_path, dates, prices, "train_max")
    train_days = training_days(prepared, prices)
    val, test = prepared.raw["val"].target_dates, prepared.raw["test"].target_dates
    assert len(train_days) and len(val) and len(test)
    # every training target precedes every validation target, which precede every test target
    assert dates[train_days].max() < val.min() and val.max() < test.min()
    # and within each part the windows keep their order: together, every target day once, oldest first
    np.testing.assert_array_equal(np.concatenate([dates[train_days], val, test]), dates[WINDOW:])
    # each evaluation window's persistence forecast is the close of the day before its target
    close = prices[:, PRICE_COLUMNS.index("Close")]
    for part in ("val", "test"):
        days = np.searchsorted(dates, prepared.raw[part].target_dates)
        np.testing.assert_array_equal(prepared.raw[part].last_close, close[days - 1])
    # a training window holds the WINDOW days before its target, in model units
    inputs = prepared.train.tensors[0].double().numpy() * prepared.meta["scaler"]["feature_max"]
    for i, day in enumerate(train_days):
        np.testing.assert_allclose(inputs[i], prices[day - WINDOW:day, :3], rtol=1e-6)


def test_train_max_scaling_is_fitted_on_the_training_windows_only(tmp_path):
    dates, prices = rising_prices()
    prepared = prepare_from(tmp_path, dates, prices, "train_max")
    fitted = Scaler.from_dict(prepared.meta["scaler"])
    last_target = WINDOW + len(prepared.train) - 1  # the day the last training window predicts
    feature_columns = [PRICE_COLUMNS.index(f) for f in FEATURES]
    # the training windows read days 0..last_target - 1 and predict days WINDOW..last_target
    assert fitted.kind == "train_max"
    assert fitted.feature_max == prices[:last_target, feature_columns].max()
    assert fitted.target_max == prices[WINDOW:last_target + 1, PRICE_COLUMNS.index("Close")].max()
    # every window's stats are ten times higher: fitted on all of them, the scaler would differ
    assert prices[:-1, feature_columns].max() > 5 * fitted.feature_max
    assert prices[WINDOW:, PRICE_COLUMNS.index("Close")].max() > 5 * fitted.target_max
    # scaled by the training period's maximum, the later period lies far outside 0..1
    assert prepared.test.tensors[1].min() > 5


@pytest.mark.parametrize("scaling", SCALINGS)
def test_the_training_data_and_scaler_ignore_whatever_the_later_periods_hold(tmp_path, scaling):
    """Prices after the last training target changed (x 3): the training tensors and the scaler stay
    exactly the same, while the validation targets change."""
    dates, prices = rising_prices()
    before = prepare_from(tmp_path / "before", dates, prices, scaling)
    later = np.arange(DAYS) > WINDOW + len(before.train) - 1
    after = prepare_from(tmp_path / "after", dates, np.where(later[:, None], 3 * prices, prices), scaling)
    assert after.meta["scaler"] == before.meta["scaler"]
    for got, expected in zip(after.train.tensors, before.train.tensors):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    # the change reached the validation period: its first target is a changed day's close
    assert not np.array_equal(after.val.tensors[1].numpy(), before.val.tensors[1].numpy())


@pytest.mark.parametrize("scaling", SCALINGS)
def test_the_model_takes_the_prepared_tensors(tmp_path, scaling):
    """The tensors are in the model's float32: a batch of them goes through StockRNN."""
    dates, prices = rising_prices()
    prepared = prepare_from(tmp_path, dates, prices, scaling)
    model = StockRNN(len(FEATURES), WINDOW, hidden_size=4, num_layers=1, head_hidden=8)
    for part in (prepared.train, prepared.val, prepared.test):
        x, y = part.tensors
        assert x.dtype == y.dtype == torch.float32
        assert model(x[:2]).shape == y[:2].shape


def test_the_meta_prepare_writes_builds_and_serves_the_model(tmp_path):
    """What the registered model carries: StockRNN.from_params sizes the model from it, and serve
    reads the window, the features and the scaler from it."""
    dates, prices = rising_prices()
    prepared = prepare_from(tmp_path, dates, prices, "window_relative")
    model = StockRNN.from_params({"hidden_size": 4, "num_layers": 1, "head_hidden": 8}, prepared.meta)
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.fill_(0.01)
    request = request_frame()
    answer = stock.serve(model, prepared.meta, request)
    np.testing.assert_allclose(answer["next_close"], [1.01 * request[FEATURES].to_numpy()[-1].mean()], rtol=1e-6)


def test_window_relative_scaling_fits_no_statistics(tmp_path):
    """Each window is divided by its own last day: nothing is fitted, so nothing can leak."""
    dates, prices = rising_prices()
    prepared = prepare_from(tmp_path, dates, prices, "window_relative")
    assert prepared.meta["scaler"] == Scaler("window_relative").to_dict()
    scaler = Scaler.from_dict(prepared.meta["scaler"])
    x, y = (t.double().numpy() for t in prepared.train.tensors)
    # a training window and its target, relative to the window's last day
    reference = prices[WINDOW - 1, :3].mean()
    np.testing.assert_allclose(x[0], prices[:WINDOW, :3] / reference - 1, atol=1e-6)
    np.testing.assert_allclose(scaler.inverse_target(y[:1, 0], prices[None, :WINDOW, :3]), prices[WINDOW, 3], rtol=1e-6)


# --- serving ------------------------------------------------------------------------------------


def answering(scaled: float, scaler: Scaler) -> tuple[StockRNN, dict]:
    """A stock model that answers `scaled` (model units) whatever the window, and its meta."""
    model = StockRNN(len(FEATURES), WINDOW, hidden_size=4, num_layers=1, head_hidden=8)
    last = model.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(scaled)
    return model, {"window": WINDOW, "features": FEATURES, "scaler": scaler.to_dict()}


def request_frame() -> pd.DataFrame:
    """WINDOW days of rising_prices() as a request: the feature columns, Close too, in another order."""
    _, prices = rising_prices()
    return pd.DataFrame(prices[:WINDOW], columns=PRICE_COLUMNS)[["Close", "Low", "Open", "High"]]


def test_serve_answers_the_next_close_in_dollars_relative_to_the_last_day():
    """window_relative: a model that answers +1% predicts 1% above the last day's mean feature price."""
    model, meta = answering(0.01, Scaler("window_relative"))
    request = request_frame()
    answer = stock.serve(model, meta, request)
    assert list(answer.columns) == ["next_close"] and len(answer) == 1
    expected = 1.01 * request[FEATURES].to_numpy()[-1].mean()
    np.testing.assert_allclose(answer["next_close"].to_numpy(), [expected], rtol=1e-6)


def test_serve_answers_in_dollars_of_the_training_maximum():
    """train_max: a model answer of 0.5 is half the training period's largest close."""
    model, meta = answering(0.5, Scaler("train_max", feature_max=200.0, target_max=300.0))
    answer = stock.serve(model, meta, request_frame())
    np.testing.assert_allclose(answer["next_close"].to_numpy(), [150.0], rtol=1e-6)


def test_serve_answers_a_price_below_one_dollar():
    model, meta = answering(0.01, Scaler("window_relative"))
    request = request_frame() / 1000  # 0.1 dollars a share: positive, so a price
    answer = stock.serve(model, meta, request)
    np.testing.assert_allclose(answer["next_close"], [1.01 * request[FEATURES].to_numpy()[-1].mean()], rtol=1e-6)


def with_cell(row: int, column: str, value) -> pd.DataFrame:
    frame = request_frame().astype(object if isinstance(value, str) else float)
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    "request_, message",
    [
        (lambda: request_frame().to_numpy(), "expected a table with columns Open, High, Low"),
        (lambda: request_frame().drop(columns=["Low", "Open"]),
         "missing column(s) Open, Low; expected Open, High, Low"),
        (lambda: request_frame().iloc[:WINDOW - 1], f"expected {WINDOW} rows (one per day, oldest first), got {WINDOW - 1}"),
        (lambda: pd.concat([request_frame()] * 2), f"expected {WINDOW} rows (one per day, oldest first), got {2 * WINDOW}"),
        (lambda: with_cell(2, "High", "n/a"), "columns Open, High, Low must hold numbers"),
        (lambda: with_cell(2, "High", 0.0), "row 2, column High: expected a positive price, got 0.0"),
        (lambda: with_cell(4, "Open", -3.0), "row 4, column Open: expected a positive price, got -3.0"),
        (lambda: with_cell(0, "Low", np.nan), "row 0, column Low: expected a positive price, got nan"),
        (lambda: with_cell(1, "Open", np.inf), "row 1, column Open: expected a positive price, got inf"),
        # a bad Close is no feature: it is not read, so not refused
    ],
)
def test_serve_refuses_a_malformed_request_naming_the_problem(request_, message):
    model, meta = answering(0.01, Scaler("window_relative"))
    with pytest.raises(PayloadError) as info:
        stock.serve(model, meta, request_())
    assert str(info.value) == message


def test_serve_names_the_first_bad_cell_in_row_order():
    model, meta = answering(0.01, Scaler("window_relative"))
    frame = with_cell(3, "Open", 0.0)
    frame.loc[1, "Low"] = -1.0
    with pytest.raises(PayloadError) as info:
        stock.serve(model, meta, frame)
    assert str(info.value) == "row 1, column Low: expected a positive price, got -1.0"


def test_serve_reads_the_features_not_close():
    model, meta = answering(0.01, Scaler("window_relative"))
    np.testing.assert_array_equal(stock.serve(model, meta, with_cell(2, "Close", -5.0)),
                                  stock.serve(model, meta, request_frame()))
