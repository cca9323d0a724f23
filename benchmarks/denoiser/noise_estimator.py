"""How the guard's label-free noise estimate reads noise that is not white Gaussian: heavy-tailed
(Laplace, Student-t) and coloured (AR(1)) noise, beside white Gaussian noise for reference.

    python benchmarks/denoiser/noise_estimator.py [--params params.yaml] [--per-group 200] [--out DIR]

For every noise (kind x level, sigma a fraction of each signal's range) and every signal length,
`--per-group` fresh signals of each family (the pipeline's generator on params.yaml's grid start and
step, new seeds) go through estimate_noise (pipeline/tasks/signals/filters.py). Per cell: sigma-hat
over the standard deviation of the noise each signal was given (its own draw), as the median and
10th/90th percentiles over the cell's signals; the median of sigma-hat over the noise's nominal
level (sigma x the range: a short draw of AR(1) noise wanders less than that); and the share of
points estimate_noise flags as glitches. No trained model; measures only, changes nothing.
Writes DIR/noise_estimator.{json,md} (DIR: benchmarks/results).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: publish
from publish import run  # noqa: E402

SEED = 779_000  # plus the length; apart from params.yaml's and the other studies' seeds
FAMILIES = ("sine", "steps", "chirp")  # smooth, jumps, a rising frequency
LENGTHS = (32, 64, 150, 512, 2048)
SIGMAS = (0.05, 0.2)  # x each signal's range
KINDS = {  # name in the tables -> noise setting without its level
    "gaussian": {"kind": "relative"},
    "laplace": {"kind": "laplace"},
    "student_t df=3": {"kind": "student_t", "df": 3.0},
    "ar1 phi=0.5": {"kind": "ar1", "phi": 0.5},
    "ar1 phi=0.9": {"kind": "ar1", "phi": 0.9},
}


def noise_settings() -> list[tuple[str, float, dict]]:
    """(name, sigma, generate_signals' noise setting) for every kind x level."""
    return [(name, sigma, {"kind": spec["kind"], "sigma": sigma, **{k: v for k, v in spec.items() if k != "kind"}})
            for name, spec in KINDS.items() for sigma in SIGMAS]


def measure(noisy: np.ndarray, pure: np.ndarray, sigma: float) -> dict[str, float]:
    """The estimate on these signals (N, L) of noise `sigma` x each range: sigma-hat over each draw's
    standard deviation (median, p10, p90), the median of sigma-hat over the nominal level, the glitch share."""
    from pipeline.tasks.signals.filters import estimate_noise

    noisy, pure = np.asarray(noisy, np.float64), np.asarray(pure, np.float64)
    noise = estimate_noise(noisy)
    ratio = noise.sigma / np.std(noisy - pure, axis=-1)
    p10, median, p90 = np.percentile(ratio, [10, 50, 90])
    return {"median": float(median), "p10": float(p10), "p90": float(p90),
            "median_vs_nominal": float(np.median(noise.sigma / (sigma * np.ptp(pure, axis=-1)))),
            "glitch_share": float(np.mean(noise.glitches != 0))}


def sample(params: dict, per_group: int) -> dict:
    from pipeline.data.signals import generate_signals, noise_label

    config = params["signals"]
    settings = noise_settings()
    cells = []
    for length in LENGTHS:
        signals = generate_signals(per_group, list(FAMILIES), [setting for *_, setting in settings], length=length,
                                   x_start=config["x_start"], x_step=config["x_step"], seed=SEED + length)
        for name, sigma, setting in settings:
            rows = signals.noise == signals.noise_names.index(noise_label(setting["kind"], setting))
            by_family = {family: measure(signals.noisy[rows & (signals.family == index)],
                                         signals.pure[rows & (signals.family == index)], sigma)["median"]
                         for index, family in enumerate(signals.family_names)}
            cells.append({"noise": name, "sigma": sigma, "length": length,
                          **measure(signals.noisy[rows], signals.pure[rows], sigma), "median_by_family": by_family})
    return {"per_group": per_group, "families": list(FAMILIES), "cells": cells}


def _table(cells: list[dict], title: str, cell: callable) -> list[str]:
    lines = [f"| {title} | sigma | " + " | ".join(f"{n} points" for n in LENGTHS) + " |",
             "| --- | --- |" + " --- |" * len(LENGTHS)]
    for name, sigma, _ in noise_settings():
        row = {c["length"]: c for c in cells if c["noise"] == name and c["sigma"] == sigma}
        lines.append(f"| {name} | {sigma:g} | " + " | ".join(cell(row[n]) for n in LENGTHS) + " |")
    return lines


def markdown(result: dict) -> str:
    cells = result["cells"]
    signals = f"{result['per_group']} signals of each of {', '.join(result['families'])} per cell"
    lines = [f"sigma-hat over the standard deviation of each signal's own noise: median (10th-90th percentile); "
             f"{signals}.", "",
             *_table(cells, "noise", lambda c: f"{c['median']:.2f} ({c['p10']:.2f}-{c['p90']:.2f})"), "",
             "Median sigma-hat over the nominal level (sigma x each signal's range).", "",
             *_table(cells, "noise", lambda c: f"{c['median_vs_nominal']:.2f}"), "",
             "Share of points flagged as glitches (%).", "",
             *_table(cells, "noise", lambda c: f"{100 * c['glitch_share']:.3f}")]
    return "\n".join(lines) + "\n"


def main() -> None:
    run(__doc__, "noise_estimator", sample, markdown, per_group=200)


if __name__ == "__main__":
    main()
