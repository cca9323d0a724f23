"""How the signal denoisers are scored and served.

Quality is the SNR gain in dB of a denoiser over its noisy input, for one group of signals
(one family x noise pair of the held-out test file):

    gain = 10 * log10( sum((noisy - pure)^2) / sum((denoised - pure)^2) )

summed over every point of every signal in the group (so it is the ratio of the group's
noise energy to its residual energy, not a mean of per-signal ratios), counted at most
GAIN_CEILING_DB (60: exact up to rounding). Returning the noisy input unchanged gains 0 dB; a
filter that distorts more than it removes gains < 0 dB.

Baselines, each tuned per group on the VALIDATION signals and scored on the test signals
(filters.CLASSICAL): moving average, Savitzky-Golay and Wiener (scipy), windows up to half the
signal length (a local smoother: Savitzky-Golay of order 2 with a window of the whole signal would
be the least-squares projection below); wavelet shrinkage (basis and share of the universal
threshold) and total-variation denoising (its weight), both with the noise read from the input.
Where the family is a linear space (the quadratic families) the least-squares projection onto
{1, x, x^2} is reported as well: under Gaussian noise it is the ceiling for any estimator that
knows the family, 10*log10(length / 3) dB on average (17.0 dB at 150 points). For the fixed
`quadratic` family the curve itself is known, so a model may beat it there; under glitches a
robust fit may too. A last, label-free baseline is the guard's own fallback (glitches removed, then
a Savitzky-Golay or adaptive Wiener filter picked per signal by SURE);
"the best classical filter" of a group is the best of all of them and the noisy input.

What is served and scored is the guarded model (guarded_denoise): the network's output (the
network given the input with its glitches replaced by the running median), or its polynomial
expert taken whole where that is the better estimate (prefer_trend), blended with the fallback
as far as SURE shows the blend better (fallback_share), where the result's residual looks like
the noise the input carries; the fallback elsewhere; and where the input's increments look like a
random walk's under white noise (walk_fit), the walk's own smoother. Families in `held_out` (SignalSet) are
never trained on: their groups score the guarded model on kinds of signal it has not seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.signals import SignalSet
from ...errors import PayloadError
from ...plots import pyplot
from .. import Evaluation, Prepared, Verdict, headline_table
from . import MIN_LENGTH, MinMaxDenoiser, SignalsRaw
from .filters import CLASSICAL, PARAM_NAMES, ls_projection, savitzky_golay, windows
from .guard import Guarded, guarded_denoise, median_flag_fallback

# Request params (MLflow's `params`, declared in the registered signature): name -> (type, default).
SERVE_PARAMS = {"noise_sigma": ("double", None)}
# The per-noise table in reports/summary.md: the guarded model's mean gain beside the best classical filter's
SUMMARY_TABLES = {"noise_levels": ("noise", "kinds", "model", "best_classical", "groups_passing", "groups"),
                  # the sweep's cells (sweep.py): each length x noise, the model beside the best classical
                  # filter and the input (0 dB; the worse-than-input shares), and what missed
                  "sweep_cells": ("length", "noise", "kinds", "model", "best_classical", "min_model", "worse_share",
                                  "best_classical_worse_share", "groups_passing", "groups", "status")}
LINEAR_FAMILIES = {"quadratic": 2, "random_quadratic": 2}  # family -> polynomial degree of its space


# An answer this far below the noise is the signal (a polynomial fitted exactly under glitches comes
# back at ~140 dB, float32 rounding): gains count at most this, so means over groups, and the gate's
# score, are not ruled by rounding.
GAIN_CEILING_DB = 60.0


def snr_gain_db(noisy: np.ndarray, pure: np.ndarray, denoised: np.ndarray) -> float:
    """10*log10(sum((noisy - pure)^2) / sum((denoised - pure)^2)) over all points given, in float64,
    at most GAIN_CEILING_DB."""
    noise = np.sum((np.asarray(noisy, np.float64) - pure) ** 2)
    residual = np.sum((np.asarray(denoised, np.float64) - pure) ** 2)
    with np.errstate(divide="ignore"):  # an exact answer: infinite gain, capped
        return float(min(10 * np.log10(noise / residual), GAIN_CEILING_DB))


def worse_than_input_share(noisy: np.ndarray, pure: np.ndarray, denoised: np.ndarray) -> float:
    """The share of signals (rows) sent back with more squared error than they came in with: the
    per-signal promise a group's pooled gain can hide. Signals that came in clean (a spikes input
    without a spike) are left out: any answer but the input itself errs more than none."""
    noise = np.sum(np.square(np.asarray(noisy, np.float64) - pure), -1)
    error = np.sum(np.square(np.asarray(denoised, np.float64) - pure), -1)
    carried = noise > 0
    return float(np.mean(error[carried] > noise[carried])) if carried.any() else 0.0


@dataclass(frozen=True)
class Tuned:
    name: str
    params: tuple
    val_gain: float


def tune(name: str, noisy: np.ndarray, pure: np.ndarray) -> Tuned:
    """The grid point of classical filter `name` with the best SNR gain on these signals."""
    apply, grid = CLASSICAL[name]
    noisy = noisy.astype(np.float64)
    scored = [(snr_gain_db(noisy, pure, apply(noisy, *params)), params) for params in grid(noisy.shape[-1])]
    gain, params = max(scored, key=lambda item: item[0])
    return Tuned(name, params, gain)


def group_rows(val: SignalSet, test: SignalSet, guarded: Guarded, fallback: np.ndarray) -> list[dict]:
    """One row per family x noise: test SNR gains of the guarded model (`model`), the model alone
    (`net`), each baseline (tuned on the group's validation signals), the guard's label-free
    fallback filter on its own (`fallback_filter`: `fallback`, see median_flag_fallback) and the LS
    bound; the fallback's mean share of the answers; the shares of signals the guarded model and the
    best classical filter send back worse than they came (worse_than_input_share); `held_out`: the
    model never trained on the family."""
    rows = []
    for g, (family, noise) in enumerate(test.group_names()):
        v, t = val.group == g, test.group == g
        noisy, pure = test.noisy[t].astype(np.float64), test.pure[t]
        row: dict = {"group": f"{family}/{noise}", "family": family, "noise": noise,
                     "held_out": family in test.held_out, "model": snr_gain_db(noisy, pure, guarded.denoised[t]),
                     "net": snr_gain_db(noisy, pure, guarded.net[t]),
                     "fallback_share": float(guarded.fallback_share[t].mean()),
                     "trend_share": float(guarded.trend[t].mean()), "walk_share": float(guarded.walk[t].mean()),
                     "worse_share": worse_than_input_share(noisy, pure, guarded.denoised[t]), "noisy": 0.0}
        tuned = {name: tune(name, val.noisy[v], val.pure[v]) for name in CLASSICAL}
        answers = {"noisy": noisy, "fallback_filter": fallback[t],
                   **{name: CLASSICAL[name][0](noisy, *best.params) for name, best in tuned.items()}}
        for name in (*CLASSICAL, "fallback_filter"):
            row[name] = snr_gain_db(noisy, pure, answers[name])
        best_name = max(BASELINES, key=lambda name: row[name])
        row["best_classical"] = row[best_name]
        row["best_classical_worse_share"] = worse_than_input_share(noisy, pure, answers[best_name])
        row["margin_db"] = row["model"] - row["best_classical"]
        degree = LINEAR_FAMILIES.get(family)
        row["ls_bound"] = snr_gain_db(noisy, pure, ls_projection(noisy, degree)) if degree else None
        for name, best in tuned.items():
            row.update({f"{name}_{p}": value for p, value in zip(PARAM_NAMES[name], best.params)})
        rows.append(row)
    return rows


BASELINES = ("noisy", *CLASSICAL, "fallback_filter")  # the best of these is "the best classical filter"
HELD_OUT_TOLERANCE_DB = 1.0  # a held-out kind passes at >= 0 dB and within this of the best classical filter
# The row values averaged per noise and per kind (summary_rows), and the metric each mean over the trained
# (the held-out: `part`) groups is logged as. Per group and per noise they are tables (gains,
# noise_levels, kinds), not metrics: 98 groups x a dozen values is no list a person reads.
ROW_METRICS = {
    "model": "test_{part}snr_gain_db",
    "net": "test_{part}net_snr_gain_db",
    "best_classical": "baseline_best_classical_test_{part}snr_gain_db",
    "fallback_share": "test_{part}fallback_share",
    "trend_share": "test_{part}trend_share",
    "walk_share": "test_{part}walk_share",
    "worse_share": "test_{part}worse_than_input_share",
    "best_classical_worse_share": "baseline_best_classical_test_{part}worse_than_input_share",
}
# The headline table (headline_table): the guarded model's gain beside the unguarded network's and the
# filters' (each classical filter's mean over the trained groups), and the share of signals sent back
# worse than they came, over trained and held-out kinds.
HEADLINE = {
    **{ROW_METRICS["model"].format(part=part): {column: ROW_METRICS[column].format(part=part)
                                                 for column in ("model", "net", "best_classical")}
       for part in ("", "held_out_")},
    **{ROW_METRICS["worse_share"].format(part=part): {
        "model": ROW_METRICS["worse_share"].format(part=part),
        "best_classical": ROW_METRICS["best_classical_worse_share"].format(part=part)} for part in ("", "held_out_")},
}
HEADLINE["test_snr_gain_db"].update({name: f"baseline_{name}_test_snr_gain_db" for name in CLASSICAL})


def passes(row: dict) -> bool:
    """Trained kinds: beat the best classical filter. Held-out kinds: never worse than the input,
    and within HELD_OUT_TOLERANCE_DB of the best classical filter (or better)."""
    if row["held_out"]:
        return row["model"] >= 0 and row["margin_db"] >= -HELD_OUT_TOLERANCE_DB
    return row["margin_db"] > 0


def passes_at(row: dict, gain: float) -> bool:
    """passes() for `row`'s group, had the guarded model made `gain` dB on it instead."""
    return passes({**row, "model": gain, "margin_db": gain - row["best_classical"]})


def summary_rows(rows: list[dict], by: tuple[str, ...] = ()) -> list[dict]:
    """Mean gains per value of the `by` columns (("noise",), ("family",), the sweep's ("length", "noise");
    none: all groups), over trained and held-out kinds apart, with the lowest gain and margin."""
    out = []
    for value in dict.fromkeys(tuple(r[k] for k in by) for r in rows):
        for held_out in (False, True):
            part = [r for r in rows if tuple(r[k] for k in by) == value and r["held_out"] == held_out]
            if part:
                out.append({**dict(zip(by, value)), "kinds": "held_out" if held_out else "trained",
                            **{k: float(np.mean([r[k] for r in part])) for k in ROW_METRICS},
                            "min_model": min(r["model"] for r in part),
                            "min_margin_db": min(r["margin_db"] for r in part),
                            "groups_passing": sum(map(passes, part)), "groups": len(part)})
    return out


def evaluate(model: MinMaxDenoiser, prepared: Prepared[SignalsRaw], block: dict) -> Evaluation:
    val, test = prepared.raw["val"], prepared.raw["test"]
    guarded = guarded_denoise(model, test.noisy)
    rows = group_rows(val, test, guarded, median_flag_fallback(test.noisy, guarded))
    metrics: dict[str, float] = {}
    by_noise, by_kind = summary_rows(rows, ("noise",)), summary_rows(rows, ("family",))
    for summary in summary_rows(rows):
        part = "held_out_" if summary["kinds"] == "held_out" else ""
        for key, name in ROW_METRICS.items():
            metrics[name.format(part=part)] = summary[key]
        metrics[f"test_{part}min_snr_gain_db"] = summary["min_model"]
        metrics[f"test_{part}min_margin_db_vs_best_classical"] = summary["min_margin_db"]
        metrics[f"test_{part}groups_passing"] = float(summary["groups_passing"])
        metrics[f"test_{part}groups"] = float(summary["groups"])
    for name in CLASSICAL:
        metrics[f"baseline_{name}_test_snr_gain_db"] = float(np.mean([r[name] for r in rows if not r["held_out"]]))
    metrics["test_signals"] = float(len(test.noisy))
    verdict = gate(metrics)
    worst = min((r for r in rows if not r["held_out"]), key=lambda r: r["margin_db"])
    return Evaluation(
        metrics=metrics,
        tables={"headline": headline_table(metrics, HEADLINE), "gains": rounded(rows),
                "noise_levels": rounded(by_noise), "kinds": rounded(by_kind)},
        figures={"gains": _gains_figure(rows), "examples": _examples_figure(test, guarded.denoised, rows)},
        notes={
            "verdict": verdict.reason,
            "worst_group": f"{worst['group']}: model {worst['model']:.2f} dB vs best classical "
                           f"{worst['best_classical']:.2f} dB",
            "baselines": "moving average, Savitzky-Golay, Wiener, wavelet shrinkage, total variation tuned "
                         "per family x noise on validation signals, windows "
                         f"{', '.join(map(str, windows(len(test.x))))}; Savitzky-Golay "
                         "picked per signal by SURE (the guard's fallback)",
            "held_out_kinds": ", ".join(test.held_out) or "none",
        },
    )


def rounded(table: list[dict]) -> list[dict]:
    """A table for its CSV file: floats to 4 decimals, None as an empty cell."""
    return [{k: (round(v, 4) if isinstance(v, float) else ("" if v is None else v)) for k, v in r.items()}
            for r in table]


def gate(metrics: dict) -> Verdict:
    """Passes when the guarded model beats the best classical filter on every trained family x noise
    group and, on every held-out one, is >= 0 dB and within HELD_OUT_TOLERANCE_DB of it."""
    groups, passing = int(metrics["test_groups"]), int(metrics["test_groups_passing"])
    held = int(metrics.get("test_held_out_groups", 0))
    held_passing = int(metrics.get("test_held_out_groups_passing", 0))
    margin, gain = metrics["test_min_margin_db_vs_best_classical"], metrics["test_snr_gain_db"]
    trained = (f"beats the best classical filter on {passing} of {groups} family x noise groups (smallest margin "
               f"{margin:+.2f} dB; mean gain {gain:.2f} dB vs "
               f"{metrics['baseline_best_classical_test_snr_gain_db']:.2f} dB)")
    held_out = (f"; held-out kinds: {held_passing} of {held} groups >= 0 dB and within {HELD_OUT_TOLERANCE_DB:g} dB "
                f"of the best classical filter (lowest gain {metrics['test_held_out_min_snr_gain_db']:+.2f} dB, "
                f"worst margin {metrics['test_held_out_min_margin_db_vs_best_classical']:+.2f} dB)") if held else ""
    return Verdict(passed=passing == groups and held_passing == held, score=-gain, score_name="neg_test_snr_gain_db",
                   reason=trained + held_out)


# --- figures --------------------------------------------------------------------------


def _gains_figure(rows: list[dict]):
    plt = pyplot()
    frame = pd.DataFrame(rows)
    families = list(dict.fromkeys(frame["family"]))
    methods = ["model", "net", *CLASSICAL, "fallback_filter", "ls_bound"]
    cols = min(3, len(families))
    fig, axes = plt.subplots(-(-len(families) // cols), cols, figsize=(5 * cols, 3.6 * -(-len(families) // cols)),
                             squeeze=False, sharey=True)
    width = 0.8 / len(methods)
    for ax, family in zip(axes.flat, families):
        part = frame[frame["family"] == family]
        for i, method in enumerate(methods):
            values = pd.to_numeric(part[method], errors="coerce").to_numpy()
            ax.bar(np.arange(len(part)) + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        ax.set_xticks(np.arange(len(part)), part["noise"], rotation=30, ha="right", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(family)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("test SNR gain (dB)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("SNR gain over the noisy input, per family x noise (test signals; model = guarded, net = unguarded)")
    fig.subplots_adjust(hspace=0.6, wspace=0.05, bottom=0.08)  # tight_layout takes seconds per subplot grid
    return fig


def _examples_figure(test: SignalSet, denoised: np.ndarray, rows: list[dict]):
    """The first test signal of every family x noise: noisy, pure, model, and the tuned Savitzky-Golay."""
    plt = pyplot()
    n_f, n_n = len(test.family_names), len(test.noise_names)
    fig, axes = plt.subplots(n_f, n_n, figsize=(3.2 * n_n, 2.2 * n_f), squeeze=False, sharex=True)
    for g, (family, noise) in enumerate(test.group_names()):
        ax = axes[g // n_n, g % n_n]
        row = np.flatnonzero(test.group == g)[0]
        classical = savitzky_golay(test.noisy[row], rows[g]["savgol_window"], rows[g]["savgol_polyorder"])
        ax.plot(test.x, test.noisy[row], ".", color="0.6", markersize=2, label="noisy")
        ax.plot(test.x, test.pure[row], color="black", linewidth=1, label="pure")
        ax.plot(test.x, classical, color="tab:orange", linewidth=1, label="Savitzky-Golay")
        ax.plot(test.x, denoised[row], color="tab:blue", linewidth=1, label="model")
        ax.set_title(f"{family} / {noise}", fontsize=7)
        ax.tick_params(labelsize=6)
        # the shapes matter here, not the units: no y ticks, and x ticks only on the bottom row
        # (the axes share x); 98 axes of ticks took seconds to draw
        ax.set_yticks([])
        ax.tick_params(bottom=g // n_n == n_f - 1)
    axes[0, 0].legend(fontsize=6)
    fig.subplots_adjust(hspace=0.5, wspace=0.25)
    return fig


# --- serving --------------------------------------------------------------------------


def _given_noise_sigma(params: dict | None) -> float | None:
    value = (params or {}).get("noise_sigma")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PayloadError(f"params.noise_sigma: expected a finite number >= 0 (the noise's standard deviation in "
                           f"the signals' units), got {value!r}"[:200])
    return float(value)


def unit_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 (N, L): each signal centred on its mid-range and scaled to +-1, and (centre, scale)
    (N, 1) to undo it (a constant signal: scale 1). The guard works in float32 on these: an offset
    large against the signal's variation (a pressure of 1013.25 +- 0.5 hPa) keeps its precision, and
    a signal gets the same answer in any unit."""
    values = np.asarray(values, np.float64)
    centre = (values.max(-1, keepdims=True) + values.min(-1, keepdims=True)) / 2
    scale = np.abs(values - centre).max(-1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return (values - centre) / scale, centre, scale


def serve(model: MinMaxDenoiser, meta: dict, request, params: dict | None = None) -> dict[str, np.ndarray]:
    """A batch of raw noisy signals (rows of equal length) -> per signal: `denoised` (same units and
    length), `noise_sigma` (the noise level estimated from the input, or the one the request gives as
    `params.noise_sigma` where the caller knows it, capped by given_sigma_cap; same units), `path` ("model";
    "trend" where the model's answer is its polynomial expert taken whole; "blend" where the guard
    mixed the model's answer with a classical filter; "fallback" where it replaced it by one; "walk"
    where the input looked like a random walk and got the walk's own smoother; "input" where the
    signal is too short for the guard to tell noise from content, GUARD_MIN_LENGTH, and comes back as it
    came) and
    `fallback_share` (the classical filter's share of the answer, 0 to 1)."""
    not_numbers = PayloadError("signals must be rows of numbers of equal length")
    if isinstance(request, pd.DataFrame):
        request = request.to_numpy()
    try:
        values = np.asarray(request)
    except ValueError:
        raise not_numbers from None
    if values.dtype == object:  # JSON null arrives as None: a missing value, reported as not finite below
        missing = np.equal(values, None)
        if not all(isinstance(v, (int, float)) for v in values[~missing].flat):
            raise not_numbers
        values = np.where(missing, np.nan, values).astype(np.float64)
    if values.dtype.kind not in "iuf":
        raise not_numbers
    if values.ndim != 2:
        raise PayloadError(f"expected a batch of signals (a 2-D array: signals x points), got {values.ndim} dimension(s)")
    if len(values) == 0:
        raise PayloadError("expected at least one signal")
    if model.fixed_length and values.shape[1] != meta["length"]:
        raise PayloadError(f"this model takes signals of exactly {meta['length']} points, got {values.shape[1]}")
    if values.shape[1] < MIN_LENGTH:
        raise PayloadError(f"signals must have at least {MIN_LENGTH} points, got {values.shape[1]}")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PayloadError(f"signal {row}, point {col}: expected a finite number")
    unit, centre, scale = unit_range(values)
    given = _given_noise_sigma(params)
    guarded = guarded_denoise(model, unit.astype(np.float32), None if given is None else given / scale[:, 0])
    return {"denoised": guarded.denoised * scale + centre, "noise_sigma": guarded.noise.sigma * scale[:, 0],
            "path": guarded.path, "fallback_share": guarded.fallback_share.astype(np.float32)}
