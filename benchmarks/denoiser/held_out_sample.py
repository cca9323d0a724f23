"""The held-out kinds scored on many more signals than the test set holds: how much of the
evaluation's held-out table is the luck of its draw.

    python benchmarks/denoiser/held_out_sample.py [--params params.yaml] [--per-group 1000] [--out DIR]

The test set holds `signals.n_test_per_family` (100) signals per group; a group whose answer is
close to 0 dB or to its limit, with a few signals that go badly wrong, can pass or miss with the
draw. This generates `--per-group` fresh signals per held-out kind and noise of params.yaml (new
seeds, the same generator), scores the pipeline's trained `signal_denoiser` (run `dvc repro`
first) with the evaluation's own code (group_rows: classical filters tuned on a validation draw of
the same size), and resamples test-sized draws of each group's signals to give the share of them
that would pass (against the large sample's best classical filter). About 30-45 s on 2 CPU cores
at 1,000 per group. Writes DIR/held_out_sample.{json,md} (DIR: benchmarks/results).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: publish
from publish import fresh_signals, run, trained_denoiser  # noqa: E402

DRAWS = 2000  # test-sized resamples per group
SEEDS = {"val": 777_001, "test": 777_002}  # apart from params.yaml's signal seeds


def draw_gains(noisy: np.ndarray, pure: np.ndarray, answer: np.ndarray, size: int, rng) -> np.ndarray:
    """(DRAWS,) the group's SNR gain, as the evaluation scores it, on resamples of `size` signals."""
    from pipeline.tasks.signals.scoring import snr_gain_db

    noisy = noisy.astype(np.float64)
    return np.array([snr_gain_db(noisy[pick], pure[pick], answer[pick])
                     for pick in rng.integers(0, len(noisy), (DRAWS, size))])


def sample(params: dict, per_group: int) -> dict:
    from pipeline.tasks.signals.guard import guarded_denoise, median_flag_fallback
    from pipeline.tasks.signals.scoring import group_rows, passes, passes_at

    config = params["signals"]
    _, model = trained_denoiser(params)
    kinds = list(config["held_out_kinds"])
    sets = {part: fresh_signals(params, per_group, kinds, config["noises"], seed) for part, seed in SEEDS.items()}
    val, test = sets["val"], sets["test"]
    guarded = guarded_denoise(model, test.noisy)
    rows = group_rows(val, test, guarded, median_flag_fallback(test.noisy, guarded))
    rng = np.random.default_rng(0)
    size = config["n_test_per_family"]
    groups = {}
    for index, row in enumerate(rows):  # rows follow test.group_names(): row i is group i
        row = {**row, "held_out": True}  # generated as plain families; every one is a held-out kind
        rows_in = test.group == index
        gains = draw_gains(test.noisy[rows_in], test.pure[rows_in], guarded.denoised[rows_in], size, rng)
        passing = [passes_at(row, gain) for gain in gains]
        groups[row["group"]] = {
            "model": row["model"], "best_classical": row["best_classical"], "passes": passes(row),
            "walk_share": row["walk_share"], "draw_pass_share": float(np.mean(passing)),
            "draw_gain_p5": float(np.percentile(gains, 5)), "draw_gain_p95": float(np.percentile(gains, 95)),
        }
    return {"per_group": per_group, "draw_size": size, "draws": DRAWS, "groups": groups,
            "passing": sum(g["passes"] for g in groups.values())}


def markdown(result: dict) -> str:
    lines = [f"| group | guarded model | best classical | walk expert takes | draws of {result['draw_size']} "
             "passing | their 5-95 % range |", "| --- | --- | --- | --- | --- | --- |"]
    for name, g in result["groups"].items():
        lines.append(f"| {name} | {g['model']:.2f}{'' if g['passes'] else ' ✗'} | {g['best_classical']:.2f} | "
                     f"{100 * g['walk_share']:.1f} % | {100 * g['draw_pass_share']:.0f} % | "
                     f"{g['draw_gain_p5']:.2f} to {g['draw_gain_p95']:.2f} |")
    return ("\n".join(lines) + f"\n\n{result['passing']} of {len(result['groups'])} groups pass on "
            f"{result['per_group']} signals each. SNR gain in dB (noisy input: 0); ✗: misses the evaluation's test "
            f"(≥ 0 dB and within 1 dB of the best classical filter).\n")


def main() -> None:
    run(__doc__, "held_out_sample", sample, markdown, per_group=1000)


if __name__ == "__main__":
    main()
