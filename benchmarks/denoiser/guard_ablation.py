"""What each path of the do-no-harm guard is worth: the guard scored with one path taken out at a time.

    python benchmarks/denoiser/guard_ablation.py [--params params.yaml] [--out DIR]

Every path the guard takes or check it makes (docs/denoiser.md, "The do-no-harm guard") is switched
off in turn, and the pipeline's trained `signal_denoiser` (run `dvc repro` first) is scored on
validation signals only, never the test files: the main file's validation part (every kind and noise
at `signals.length` points) and the sweep's validation file at each length (`signals.sweep`). Per
set, the change of each group's SNR gain against the whole guard: the mean change, how many groups
lose or gain more than THRESHOLD_DB, and the largest loss with its group. A path whose removal loses
nothing anywhere no longer pays its way. About 4 minutes on 2 CPU cores. Writes
DIR/guard_ablation.{json,md} (DIR: benchmarks/results).
"""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: publish
from publish import run, trained_denoiser  # noqa: E402

THRESHOLD_DB = 0.1  # a group's change counts as a loss or a gain beyond this


def _second_differences_only(noisy):
    from pipeline.tasks.signals import filters

    noisy = np.asarray(noisy, np.float64)
    return np.maximum(filters.difference_sigma(noisy, 2), filters.float32_resolution(noisy))


def _never(*args, **kwargs):
    return np.zeros(len(args[1]), bool)


# name -> (what the guard does without it, [(module, attribute, replacement)])
ABLATIONS = {
    "fourth_differences": ("sigma-hat from second differences alone",
                           [("filters", "noise_sigma", _second_differences_only)]),
    "glitch_confirmation": ("every point the median flags is a glitch",
                            [("guard", "confirm_glitches", lambda model, noisy, noise: noise)]),
    "robust_trend": ("no least-trimmed-squares fit under glitches",
                     [("guard", "robust_trend", lambda noisy, valid, degree: np.full(np.shape(noisy), np.nan))]),
    "lack_of_fit": ("the polynomial expert by SURE alone",
                    [("guard", "lack_of_fit", lambda clean, fitted, degree: (np.zeros(len(clean), bool),
                                                                            np.full(len(clean), np.inf)))]),
    "settled_fits": ("kept polynomial fits blended like any answer", [("guard", "SETTLED_MAX_NOISE_RATIO", -1.0)]),
    "blend": ("the model's answer or the fallback, never a mix", [("guard", "GUARD_SURE_Z", np.inf)]),
    "sign_test": ("the harm check by the residual's size alone", [("guard", "GUARD_MAX_SAME_SIGN", 1.0)]),
    "residual_clip": ("residual points counted whatever their size", [("guard", "GUARD_RESIDUAL_CLIP", np.inf)]),
    "adaptive_wiener": ("no adaptive Wiener fallback candidates", [("guard", "FALLBACK_WIENER_MAX_WINDOW", 0)]),
    "walk_expert": ("no random-walk expert", [("walk", "WALK_MIN_LENGTH", 10**9)]),
    "walk_spectrum_test": ("walks recognised by their short lags alone", [("walk", "_walk_spectrum_fits", _never)]),
    "walk_gcv_check": ("the walk expert's answer never judged by GCV",
                       [("guard", "walk_keeps", lambda clean, *rest: np.ones(len(clean), bool))]),
    "input_when_short": ("signals under GUARD_MIN_LENGTH guarded like the rest", [("guard", "GUARD_MIN_LENGTH", 0)]),
}


def _module(name: str):
    from pipeline.tasks.signals import filters, guard, walk

    return {"filters": filters, "guard": guard, "walk": walk}[name]


def group_gains(model, signal_set) -> dict[str, float]:
    """The guarded model's SNR gain per kind x noise group of `signal_set`."""
    from pipeline.tasks.signals.guard import guarded_denoise
    from pipeline.tasks.signals.scoring import snr_gain_db

    denoised = guarded_denoise(model, signal_set.noisy).denoised
    gains = {}
    for index, (family, noise) in enumerate(signal_set.group_names()):
        rows = signal_set.group == index
        if rows.any():
            gains[f"{family}/{noise}"] = snr_gain_db(signal_set.noisy[rows].astype(np.float64), signal_set.pure[rows],
                                                     denoised[rows])
    return gains


def compare(base: dict[str, float], ablated: dict[str, float]) -> dict:
    """Each group's gain without the path less with it: the mean, the groups that lose or gain more
    than THRESHOLD_DB, and the largest loss with its group."""
    change = {group: ablated[group] - base[group] for group in base}
    worst = min(change, key=change.get)
    values = np.array(list(change.values()))
    return {"mean_change_db": float(values.mean()), "groups_losing": int(np.sum(values < -THRESHOLD_DB)),
            "groups_gaining": int(np.sum(values > THRESHOLD_DB)), "largest_loss_db": float(change[worst]),
            "largest_loss_group": worst}


def validation_sets(prepared, params: dict) -> dict:
    """name -> validation SignalSet: the main file's validation part, then the sweep's by length."""
    from pipeline.tasks.signals.sweep import load_sweep

    sets = {f"validation, {params['signals']['length']} points": prepared.raw["val"]}
    for length, (val, _) in sorted(load_sweep(prepared.raw["data_dir"]).items()):
        sets[f"sweep validation, {length} points"] = val
    return sets


def ablate(params: dict) -> dict:
    prepared, model = trained_denoiser(params)
    sets = validation_sets(prepared, params)
    base = {name: group_gains(model, s) for name, s in sets.items()}
    result = {"threshold_db": THRESHOLD_DB, "sets": {name: {"groups": len(g), "mean_gain_db": float(np.mean(list(g.values())))}
                                                    for name, g in base.items()}, "ablations": {}}
    for ablation, (what, patches) in ABLATIONS.items():
        with ExitStack() as stack:
            for module, attribute, replacement in patches:
                stack.enter_context(mock.patch.object(_module(module), attribute, replacement))
            result["ablations"][ablation] = {"without": what, "sets": {
                name: compare(base[name], group_gains(model, s)) for name, s in sets.items()}}
    return result


def markdown(result: dict) -> str:
    names = list(result["sets"])
    head = "| path taken out | " + " | ".join(names) + " |"
    lines = [head, "|" + " --- |" * (len(names) + 1),
             "| (none: the whole guard, mean gain) | " + " | ".join(f"{result['sets'][n]['mean_gain_db']:.2f} dB"
                                                                  for n in names) + " |"]
    for ablation, entry in result["ablations"].items():
        cells = []
        for name in names:
            c = entry["sets"][name]
            cells.append(f"{c['mean_change_db']:+.3f} ({c['groups_losing']}↓ {c['groups_gaining']}↑"
                         + (f"; {c['largest_loss_db']:+.2f} {c['largest_loss_group']}" if c["groups_losing"] else "") + ")")
        lines.append(f"| {ablation}: {entry['without']} | " + " | ".join(cells) + " |")
    return ("\n".join(lines) + f"\n\nEach cell: the mean change of the groups' SNR gain (dB) with the path taken out; "
            f"↓/↑: groups losing/gaining more than {result['threshold_db']} dB; then the largest loss and its group. "
            "Validation signals only.\n")


def main() -> None:
    run(__doc__, "guard_ablation", ablate, markdown)


if __name__ == "__main__":
    main()
