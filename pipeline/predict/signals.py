"""Signal denoisers: noisy signals (a CSV, one per row, or a 2-D .npy) -> the denoised signals, each one's
noise estimate and the path its answer took, and a chart of the first few."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..plots import pyplot
from .common import Outputs, cell, read_npy, read_number_rows

SHOWN = 4  # signals in the chart


def read(path: Path) -> np.ndarray:
    """(N, L) float64 signals, one per row."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_number_rows(path, "signals (numbers only)").values
    if suffix != ".npy":
        raise DataError(path, "expected a .csv (one signal per row, numbers only) or a .npy (2-D: signals x points)")
    values = read_npy(path)
    if values.ndim != 2 or 0 in values.shape:
        raise DataError(path, f"array of shape {values.shape}; expected a 2-D array of signals x points, "
                              "one signal per row")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(path, f"expected a finite number, found {values[row, col]}", f"signal {row}, point {col}")
    return values.astype(np.float64)


def predict(served, signals: np.ndarray) -> Outputs:
    answer = served(signals)
    denoised, sigma = np.asarray(answer["denoised"]), np.asarray(answer["noise_sigma"])
    paths, shares = np.asarray(answer["path"]), np.asarray(answer["fallback_share"])
    out = Outputs()
    out.add_csv("denoised.csv", None, [[cell(v) for v in row] for row in denoised])
    out.add_csv("noise.csv", ["signal", "noise_sigma", "path", "fallback_share"],
                [[i, cell(s), str(p), cell(f)] for i, (s, p, f) in enumerate(zip(sigma, paths, shares))])
    out.add_figure("signals.png", _figure(signals[:SHOWN], denoised[:SHOWN], sigma, paths))
    counts = ", ".join(f"{path} {n}" for path, n in sorted(Counter(map(str, paths)).items()))
    out.lines.append(f"{len(signals)} signal(s) of {signals.shape[1]} points denoised; answer paths: {counts}")
    return out


def _figure(noisy: np.ndarray, denoised: np.ndarray, sigma: np.ndarray, paths: np.ndarray):
    plt = pyplot()
    fig, axes = plt.subplots(len(noisy), 1, figsize=(9, 1.8 * len(noisy) + 0.6), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(noisy[i], color="0.6", linewidth=0.8, label="noisy (input)")
        ax.plot(denoised[i], color="tab:blue", linewidth=1.2, label="denoised")
        ax.set_title(f"signal {i}: noise sigma {sigma[i]:.3g}, path {paths[i]}", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
