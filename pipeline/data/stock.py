"""Daily OHLC prices: parse and validate the CSV, cut windows, scale without leakage."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, ParamsError

PRICE_COLUMNS = ("Open", "High", "Low", "Close")
REQUIRED_COLUMNS = ("Date", *PRICE_COLUMNS)
# numpy alone would also take '2020-01', '2020' or '20200103' (as the year 20200103)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class StockPrices:
    dates: np.ndarray  # datetime64[D], strictly ascending
    prices: np.ndarray  # float64 (T, 4) in PRICE_COLUMNS order

    def column(self, name: str) -> np.ndarray:
        return self.prices[:, PRICE_COLUMNS.index(name)]

    def columns(self, names: list[str]) -> np.ndarray:
        return self.prices[:, [PRICE_COLUMNS.index(n) for n in names]]


def read_stock_csv(path: str | Path) -> StockPrices:
    """Read a Yahoo-style daily CSV; columns are found by name, every row is checked.

    Line numbers in errors are the file's own (the header is line 1).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte order mark, as spreadsheet programs write, is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded", f"line {line}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataError(path, "file is empty; expected a header line with " + ", ".join(REQUIRED_COLUMNS))
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = " (is the delimiter a comma?)" if len(header) == 1 else ""
        raise DataError(
            path, f"missing column(s) {', '.join(missing)}; found {', '.join(map(repr, header))}{hint}", "line 1"
        )
    index = {name: header.index(name) for name in REQUIRED_COLUMNS}
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(cell.strip() for cell in r)]
    if not body:
        raise DataError(path, "no data rows after the header")

    dates = np.empty(len(body), dtype="datetime64[D]")
    prices = np.empty((len(body), len(PRICE_COLUMNS)), dtype=np.float64)
    for i, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise DataError(path, f"expected {len(header)} fields like the header, found {len(row)}", f"line {line}")
        try:
            if not ISO_DATE.fullmatch(row[index["Date"]].strip()):
                raise ValueError
            dates[i] = np.datetime64(row[index["Date"]].strip(), "D")
        except ValueError:
            raise DataError(
                path, f"Date {row[index['Date']]!r} is not an ISO date (YYYY-MM-DD)", f"line {line}"
            ) from None
        for j, name in enumerate(PRICE_COLUMNS):
            prices[i, j] = _price(row[index[name]], path, f"line {line}, column {name}")
    _check_order(path, dates, [line for line, _ in body])
    _check_consistency(path, prices, [line for line, _ in body])
    return StockPrices(dates=dates, prices=prices)


def _price(cell: str, path: Path, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(path, f"expected a number, found {cell.strip()[:40]!r}", where) from None
    if not np.isfinite(value) or value <= 0:
        raise DataError(path, f"expected a positive finite price, found {cell.strip()!r}", where)
    return value


def _check_order(path: Path, dates: np.ndarray, lines: list[int]) -> None:
    step = np.diff(dates).astype(np.int64)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = bad[0] + 1
        if step[bad[0]] == 0:
            problem = f"duplicated date {dates[i]} (after {dates[i - 1]})"
        else:
            problem = f"date {dates[i]} is earlier than the row before's ({dates[i - 1]})"
        raise DataError(path, f"{problem}; dates must be strictly ascending", f"line {lines[i]}")


def _check_consistency(path: Path, prices: np.ndarray, lines: list[int]) -> None:
    open_, high, low, close = prices.T
    bad = np.flatnonzero((high < np.maximum(open_, close)) | (low > np.minimum(open_, close)))
    if bad.size:
        i = bad[0]
        raise DataError(
            path,
            f"High {high[i]:g} / Low {low[i]:g} do not bound Open {open_[i]:g} and Close {close[i]:g}",
            f"line {lines[i]}",
        )


def summarize(prices: StockPrices) -> dict:
    return {
        "rows": int(len(prices.dates)),
        "first_date": str(prices.dates[0]),
        "last_date": str(prices.dates[-1]),
        "close_min": float(prices.column("Close").min()),
        "close_max": float(prices.column("Close").max()),
    }


# --- windows, splits and scaling -------------------------------------------------------


@dataclass(frozen=True)
class Windows:
    inputs: np.ndarray  # (N, window, F) raw prices
    target: np.ndarray  # (N,) raw next-day close
    last_close: np.ndarray  # (N,) close of the window's last day: the persistence forecast
    target_dates: np.ndarray  # (N,) date of the predicted close


def make_windows(prices: StockPrices, features: list[str], window: int, key: str = "window") -> Windows:
    """Window i holds days i..i+window-1; its target is the close of day i+window."""
    n = len(prices.dates) - window
    if n < 1:
        raise ParamsError(key, f"window {window} needs at least {window + 1} days; the data has {len(prices.dates)}")
    feats = prices.columns(features)
    close = prices.column("Close")
    inputs = np.lib.stride_tricks.sliding_window_view(feats, window, axis=0)[:n].transpose(0, 2, 1)
    return Windows(
        inputs=np.ascontiguousarray(inputs),
        target=close[window:].copy(),
        last_close=close[window - 1 : -1].copy(),
        target_dates=prices.dates[window:].copy(),
    )


@dataclass(frozen=True)
class Scaler:
    """Maps raw prices to the model's units and back.

    - ``train_max``: divide by the maximum seen in the training period (SPEC's fix of the
      notebook, which used the whole file's maximum).
    - ``window_relative``: divide each window by its last day's mean of the input
      features and subtract 1, so the target is tomorrow's close relative to today.
      Prices grow 500x over the file; this keeps every window on the same scale.
    """

    kind: str
    feature_max: float = 1.0
    target_max: float = 1.0

    @classmethod
    def fit(cls, kind: str, train: Windows) -> Scaler:
        if kind == "train_max":
            return cls(kind, float(train.inputs.max()), float(train.target.max()))
        return cls(kind)

    def reference(self, inputs: np.ndarray) -> np.ndarray:
        """Per-window divisor for the target (N,)."""
        if self.kind == "train_max":
            return np.full(len(inputs), self.target_max)
        return inputs[:, -1, :].mean(axis=1)

    def transform_inputs(self, inputs: np.ndarray) -> np.ndarray:
        if self.kind == "train_max":
            return inputs / self.feature_max
        return inputs / self.reference(inputs)[:, None, None] - 1.0

    def transform_target(self, target: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        scaled = target / self.reference(inputs)
        return scaled if self.kind == "train_max" else scaled - 1.0

    def inverse_target(self, scaled: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        offset = 0.0 if self.kind == "train_max" else 1.0
        return (scaled + offset) * self.reference(inputs)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "feature_max": self.feature_max, "target_max": self.target_max}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(d["kind"], float(d["feature_max"]), float(d["target_max"]))
