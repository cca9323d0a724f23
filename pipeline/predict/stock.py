"""Stock: a CSV in the raw file's format -> the next trading day's close, as CSV and a chart."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.stock import StockPrices, read_stock_csv
from ..errors import DataError
from ..plots import pyplot
from .common import Outputs

SHOWN_DAYS = 90  # the chart's history


def read(path: Path) -> StockPrices:
    """The file's daily prices, checked as the raw file is (pipeline.data.stock.read_stock_csv)."""
    return read_stock_csv(path)


def next_weekday(date: np.datetime64) -> np.datetime64:
    """The first Monday-to-Friday date after `date`. Not a trading calendar: a holiday is not skipped."""
    return np.busday_offset(date + np.timedelta64(1, "D"), 0, roll="forward")


def predict(served, prices: StockPrices) -> Outputs:
    import pandas as pd

    window, features = served.meta["window"], served.meta["features"]
    if len(prices.dates) < window:
        raise DataError(served.source, f"{len(prices.dates)} data rows; the model reads the last {window} days "
                                       "(one row per trading day, oldest first)")
    request = pd.DataFrame(prices.columns(features)[-window:], columns=features)
    next_close = float(np.asarray(served(request)["next_close"])[0])
    last, date = prices.dates[-1], next_weekday(prices.dates[-1])
    out = Outputs()
    out.add_csv("next_close.csv", ["date", "next_close"], [[str(date), round(next_close, 4)]])
    out.add_figure("next_close.png", _figure(prices, date, next_close))
    out.lines.append(f"next close for {date}: {next_close:.2f} (the next weekday after the file's last date, "
                     f"{last}; holidays are not skipped), from the last {window} days' {', '.join(features)}")
    return out


def _figure(prices: StockPrices, date: np.datetime64, next_close: float):
    plt = pyplot()
    dates, close = prices.dates[-SHOWN_DAYS:].astype("datetime64[D]"), prices.column("Close")[-SHOWN_DAYS:]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(dates, close, color="black", linewidth=1, label=f"close, the file's last {len(dates)} days")
    ax.plot([dates[-1], date], [close[-1], next_close], color="tab:red", linestyle=":", linewidth=1)
    ax.plot([date], [next_close], "o", color="tab:red", label=f"forecast for {date}: {next_close:.2f}")
    ax.set_ylabel("close")
    ax.set_title("Next trading day's close (the next weekday; holidays not skipped)")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
