"""The data stages' figures: what the notebooks show their reader of the data, drawn by the stage that
writes the data and declared as its DVC plots (plots/figures/<stage>/, paths.stage_figures_dir).

- ingest_stock: a histogram of each of Open, High, Low and Close (the stock notebook's first look at
  its data);
- generate_signals: one pure signal and its noisy version per kind x noise setting of the training
  file (the signal notebook's sample plots, for every kind and noise here).

matplotlib is imported when a figure is drawn, never when this module is: ingesting needs none of it
otherwise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .plots import pyplot

if TYPE_CHECKING:
    from .data.signals import SignalSet
    from .data.stock import StockPrices


def ohlc_histograms(prices: StockPrices, bins: int = 50):
    """A 2 x 2 figure: the distribution of each daily price column over the whole file."""
    from .data.stock import PRICE_COLUMNS

    plt = pyplot()
    figure, axes = plt.subplots(2, 2, figsize=(9, 6.5), constrained_layout=True)
    for ax, name in zip(axes.flat, PRICE_COLUMNS):
        ax.hist(prices.column(name), bins=bins, color="tab:blue", edgecolor="white", linewidth=0.3)
        ax.set_title(name)
        ax.set_xlabel("price")
        ax.set_ylabel("days")
    figure.suptitle(f"Daily prices, {prices.dates[0]} to {prices.dates[-1]} ({len(prices.dates):,} days)")
    return figure


def signal_samples(signal_set: SignalSet):
    """One panel per kind (rows; held-out kinds marked) x noise setting (columns): the kind's first
    signal with that noise, pure over noisy, on the shared grid. Panels without ticks (each has its own
    scale): a grid of a hundred panels with tick labels took seconds to lay out."""
    s = signal_set
    plt = pyplot()
    kinds, noises = len(s.family_names), len(s.noise_names)
    width, height = 1.6 * noises + 0.9, 1.0 * kinds + 0.9  # inches: the panels, and room for the labels
    figure, axes = plt.subplots(kinds, noises, figsize=(width, height), sharex=True, squeeze=False)
    figure.subplots_adjust(left=0.9 / width, right=0.99, bottom=0.1 / height, top=1 - 0.75 / height,
                           wspace=0.06, hspace=0.08)
    group = s.group
    for g, (kind, noise) in enumerate(s.group_names()):
        ax = axes[g // noises, g % noises]
        rows = np.flatnonzero(group == g)
        if len(rows):
            ax.plot(s.x, s.noisy[rows[0]], color="0.6", linewidth=0.5)
            ax.plot(s.x, s.pure[rows[0]], color="tab:blue", linewidth=0.9)
        ax.set_xticks([])
        ax.set_yticks([])
        if g < noises:
            ax.set_title(noise.replace("_", "\n", 1), fontsize=7)
        if g % noises == 0:
            ax.set_ylabel(kind + ("\n(held out)" if kind in s.held_out else ""), fontsize=7)
    figure.suptitle("One signal per kind x noise of the training file: pure (blue), noisy (grey)", fontsize=9,
                    y=1 - 0.1 / height)
    return figure
