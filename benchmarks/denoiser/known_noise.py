"""The signal denoiser served with the noise level given (`params.noise_sigma` in a request) against
the default, where the guard estimates it from each signal.

    python benchmarks/denoiser/known_noise.py [--params params.yaml] [--out DIR]

Scores the pipeline's trained `signal_denoiser` (run `dvc repro` first) on its test signals with
white noise, twice: noise level estimated (as the evaluate stage does) and given (the true one of
each signal: σ for the Gaussian noise, σ × the pure signal's range for the relative one). The best
classical filter is the evaluation's, the same for both. About 20 s on 2 CPU cores.
Writes DIR/known_noise.{json,md} (DIR: benchmarks/results).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: publish
from publish import run, trained_denoiser  # noqa: E402


def given_sigmas(test, noises: list[dict]) -> np.ndarray:
    """(N,) each test signal's true white-noise level; NaN where white_sigma gives none (glitches,
    coloured noise)."""
    from pipeline.data.signals import noise_label, white_sigma

    by_label = {noise_label(n["kind"], n): n for n in noises}  # both read a setting's own params only
    sigma = np.full(len(test.noisy), np.nan)
    for index, label in enumerate(test.noise_names):
        rows = test.noise == index
        config = by_label[label]
        white = white_sigma(test.pure[rows], config["kind"], config)
        if white is not None:
            sigma[rows] = white
    return sigma


def compare(params: dict) -> dict:
    """Per white-noise group: the guarded model's test SNR gain with the noise level estimated and
    given, the best classical filter's, whether each passes the evaluation's test, and the fallback's
    mean share with the level given; totals per trained and held-out kinds."""
    from pipeline.tasks.signals.guard import guarded_denoise, median_flag_fallback
    from pipeline.tasks.signals.scoring import group_rows, passes, passes_at, snr_gain_db

    prepared, model = trained_denoiser(params)
    val, test = prepared.raw["val"], prepared.raw["test"]
    sigma = given_sigmas(test, params["signals"]["noises"])
    estimated = guarded_denoise(model, test.noisy)
    rows = group_rows(val, test, estimated, median_flag_fallback(test.noisy, estimated))
    white = np.flatnonzero(~np.isnan(sigma))
    given = guarded_denoise(model, test.noisy[white], sigma[white])
    position = np.full(len(sigma), -1)
    position[white] = np.arange(len(white))
    groups = {}
    for index, row in enumerate(rows):  # rows follow test.group_names(): row i is group i
        in_group = test.group == index
        members = position[in_group]
        if (members < 0).any():
            continue
        gain = snr_gain_db(test.noisy[in_group].astype(np.float64), test.pure[in_group], given.denoised[members])
        groups[row["group"]] = {
            "held_out": row["held_out"], "best_classical": row["best_classical"], "estimated": row["model"],
            "given": gain, "passes_estimated": passes(row),
            "passes_given": passes_at(row, gain),
            "given_fallback_share": float(given.fallback_share[members].mean()),
        }
    totals = {}
    for part, held_out in (("trained", False), ("held_out", True)):
        chosen = [g for g in groups.values() if g["held_out"] == held_out]
        totals[part] = {"groups": len(chosen), "passing_estimated": sum(g["passes_estimated"] for g in chosen),
                        "passing_given": sum(g["passes_given"] for g in chosen),
                        "mean_estimated": float(np.mean([g["estimated"] for g in chosen])),
                        "mean_given": float(np.mean([g["given"] for g in chosen])),
                        "mean_best_classical": float(np.mean([g["best_classical"] for g in chosen]))}
    return {"groups": groups, "totals": totals}


def markdown(result: dict) -> str:
    lines = ["| group | noise level estimated | given | best classical |", "| --- | --- | --- | --- |"]
    for name, g in result["groups"].items():
        marks = ["" if g[f"passes_{how}"] else " ✗" for how in ("estimated", "given")]
        lines.append(f"| {name}{' (held out)' if g['held_out'] else ''} | {g['estimated']:.2f}{marks[0]} | "
                     f"{g['given']:.2f}{marks[1]} | {g['best_classical']:.2f} |")
    lines.append("")
    for part, t in result["totals"].items():
        lines.append(f"- {part.replace('_', '-')} kinds: {t['passing_estimated']} → {t['passing_given']} of {t['groups']} "
                     f"groups pass; mean gain {t['mean_estimated']:.2f} → {t['mean_given']:.2f} dB (best classical "
                     f"{t['mean_best_classical']:.2f})")
    return "\n".join(lines) + "\n\nTest SNR gain in dB (noisy input: 0); ✗: misses the evaluation's test.\n"


def main() -> None:
    run(__doc__, "known_noise", compare, markdown)


if __name__ == "__main__":
    main()
