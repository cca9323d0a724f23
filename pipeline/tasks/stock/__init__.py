"""Stock task: next-day close from a window of daily prices, against persistence."""
from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ...data.stock import Scaler, StockPrices, Windows, make_windows
from ...errors import PayloadError
from .. import Evaluation, Prepared, Verdict, chronological_split, headline_table, task_class

PRICES_FILE = "prices.npz"


def load_prices(data_dir: Path) -> StockPrices:
    with np.load(Path(data_dir) / PRICES_FILE) as npz:
        return StockPrices(dates=npz["dates"], prices=npz["prices"])


def _subset(w: Windows, part: slice) -> Windows:
    return Windows(w.inputs[part], w.target[part], w.last_close[part], w.target_dates[part])


def _tensors(w: Windows, scaler: Scaler) -> TensorDataset:
    x = torch.from_numpy(scaler.transform_inputs(w.inputs).astype(np.float32))
    y = torch.from_numpy(scaler.transform_target(w.target, w.inputs).astype(np.float32)).unsqueeze(1)
    return TensorDataset(x, y)


class StockRaw(TypedDict):
    """Prepared.raw: the validation and test windows in prices (the baseline and the metrics read them)."""

    val: Windows
    test: Windows


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared[StockRaw]:
    windows = make_windows(load_prices(data_dir), block["features"], block["window"], key=f"{key}.window")
    parts = chronological_split(len(windows.target), block["split"]["train"], block["split"]["val"], f"{key}.split")
    train, val, test = (_subset(windows, p) for p in parts)
    scaler = Scaler.fit(block["scaling"], train)  # fitted on the training period only
    meta = {"window": block["window"], "features": block["features"], "scaler": scaler.to_dict()}
    return Prepared(
        train=_tensors(train, scaler),
        val=_tensors(val, scaler),
        test=_tensors(test, scaler),
        meta=meta,
        raw={"val": val, "test": test},
    )


@torch.inference_mode()
def predict_close(model: nn.Module, inputs: np.ndarray, meta: dict) -> np.ndarray:
    """Raw price windows (N, window, F) -> next close in dollars (N,)."""
    scaler = Scaler.from_dict(meta["scaler"])
    device = next(model.parameters()).device
    x = torch.from_numpy(scaler.transform_inputs(inputs).astype(np.float32)).to(device)
    scaled = model.eval()(x).squeeze(1).double().cpu().numpy()
    return scaler.inverse_target(scaled, inputs)


def price_errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err = predicted - actual
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(np.mean(np.abs(err) / actual) * 100),
    }


# the test errors beside persistence's (the validation ones are in the metrics file)
HEADLINE = {f"test_{name}": {"model": f"test_{name}", "persistence": f"baseline_persistence_test_{name}"}
            for name in ("rmse", "mae", "mape")}


def evaluate(model: nn.Module, prepared: Prepared[StockRaw], block: dict) -> Evaluation:
    metrics: dict[str, float] = {}
    for part in ("val", "test"):
        w: Windows = prepared.raw[part]
        predicted = predict_close(model, w.inputs, prepared.meta)
        for name, value in price_errors(predicted, w.target).items():
            metrics[f"{part}_{name}"] = value
        for name, value in price_errors(w.last_close, w.target).items():
            metrics[f"baseline_persistence_{part}_{name}"] = value
    test: Windows = prepared.raw["test"]
    predicted = predict_close(model, test.inputs, prepared.meta)
    metrics["test_rmse_vs_persistence"] = metrics["test_rmse"] / metrics["baseline_persistence_test_rmse"]
    metrics["test_windows"] = float(len(test.target))
    rows = [
        {"date": str(d), "actual": round(float(a), 4), "predicted": round(float(p), 4), "persistence": round(float(b), 4)}
        for d, a, p, b in zip(test.target_dates, test.target, predicted, test.last_close)
    ]
    verdict = gate(metrics)
    return Evaluation(
        metrics=metrics,
        tables={"headline": headline_table(metrics, HEADLINE), "predictions": rows},
        figures={"predictions": _prediction_figure(rows, metrics)},
        notes={
            "verdict": verdict.reason,
            "test_period": f"{test.target_dates[0]} .. {test.target_dates[-1]}",
        },
    )


def _prediction_figure(rows: list[dict], metrics: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(rows)
    dates = pd.to_datetime(frame["date"])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(dates, frame["actual"], label="actual close", color="black", linewidth=1)
    ax.plot(dates, frame["predicted"], label=f"model (RMSE ${metrics['test_rmse']:.2f})", linewidth=1)
    ax.plot(
        dates, frame["persistence"], label=f"persistence (RMSE ${metrics['baseline_persistence_test_rmse']:.2f})",
        linewidth=1, alpha=0.6,
    )
    ax.set_ylabel("USD")
    ax.set_title("Test period: next-day close")
    ax.legend()
    fig.tight_layout()
    return fig


def gate(metrics: dict) -> Verdict:
    model, baseline = metrics["test_rmse"], metrics["baseline_persistence_test_rmse"]
    passed = model < baseline
    word = "beats" if passed else "loses to"
    reason = f"test RMSE ${model:.3f} {word} persistence ${baseline:.3f} ({model / baseline:.3f}x)"
    return Verdict(passed=passed, score=model, score_name="test_rmse", reason=reason)


# --- serving --------------------------------------------------------------------------


def input_example(prepared: Prepared[StockRaw]) -> pd.DataFrame:
    w: Windows = prepared.raw["test"]
    return pd.DataFrame(w.inputs[-1], columns=prepared.meta["features"])


def serve(model: nn.Module, meta: dict, request) -> pd.DataFrame:
    """`window` rows of raw prices (a DataFrame with the feature columns) -> next close in dollars."""
    features, window = meta["features"], meta["window"]
    if not isinstance(request, pd.DataFrame):
        raise PayloadError(f"expected a table with columns {', '.join(features)}")
    missing = [c for c in features if c not in request.columns]
    if missing:
        raise PayloadError(f"missing column(s) {', '.join(missing)}; expected {', '.join(features)}")
    if len(request) != window:
        raise PayloadError(f"expected {window} rows (one per day, oldest first), got {len(request)}")
    try:  # column by column: selecting a sub-table would build a new DataFrame per request
        values = np.stack([request[c].to_numpy() for c in features], 1).astype(np.float64)
    except (TypeError, ValueError):
        raise PayloadError(f"columns {', '.join(features)} must hold numbers") from None
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PayloadError(f"row {row}, column {features[col]}: expected a positive price, got {values[row, col]}")
    predicted = predict_close(model, values[None], meta)
    return pd.DataFrame({"next_close": predicted})


StockTask = task_class("StockTask", "stock", __name__, prepare=prepare, evaluate=evaluate, gate=gate,
                       input_example=input_example, serve=serve)
