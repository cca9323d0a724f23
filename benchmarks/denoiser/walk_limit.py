"""How far any answer could take the held-out random walks, next to the guard as served: the
limit behind the one held-out cell the denoiser misses (random walk at sigma 0.01 of the range).

    python benchmarks/denoiser/walk_limit.py [--params params.yaml] [--per-group 3000] [--out DIR]

For `--per-group` fresh walks at each white-noise level of params.yaml (new seeds, the
pipeline's generator), the pooled SNR gain (dB, the evaluation's snr_gain_db) of:
  - `oracle`: the walk's smoother (the posterior mean of a Gaussian walk under white noise) with
    each walk's levels known, read from its own noise and steps: a bound for the answers below;
  - `population_prior`: the full posterior mean over the noise-to-step ratio r, with a prior that
    knows how r spreads at this noise level (the histogram of a second sample's true r);
  - `log_uniform_prior`: the same with the walk expert's own prior, even in log r: what an answer
    that does not know the level can reach, every walk recognised as one;
  - `expert_weight`: the walk expert's smoother (walk_levels' weight) on every walk;
  - `served`: the pipeline's trained `signal_denoiser` behind its guard (run `dvc repro` first),
    with `walk_share`, the share of walks its walk expert takes.
About 20 s on 2 CPU cores at the default 3,000 per group. Writes DIR/walk_limit.{json,md} (DIR: benchmarks/results).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: publish
from publish import fresh_signals, run, trained_denoiser  # noqa: E402

SEEDS = {"scored": 778_001, "prior": 778_002}  # apart from params.yaml's and held_out_sample's seeds
WHITE_NOISES = ("relative", "gaussian")  # the levels scored; glitch noises break the walk-plus-white-noise model
COLUMNS = ("oracle", "population_prior", "log_uniform_prior", "expert_weight", "served")


def true_ratios(noisy: np.ndarray, pure: np.ndarray) -> np.ndarray:
    """(N,) each walk's noise-to-step power ratio r = sigma^2 / q^2, from its own noise and steps."""
    noisy, pure = np.asarray(noisy, np.float64), np.asarray(pure, np.float64)
    return np.var(noisy - pure, -1) / np.var(np.diff(pure, axis=-1), -1)


def population_log_prior(ratios: np.ndarray) -> np.ndarray:
    """(R,) log prior weights over WALK_RATIOS: the share of `ratios` nearest each grid point in
    log r (ratios off the grid count at its ends); grid points none is near get a share 1e-9."""
    from pipeline.tasks.signals.walk import WALK_RATIOS

    nearest = np.abs(np.log(np.asarray(ratios))[:, None] - np.log(WALK_RATIOS)).argmin(-1)
    return np.log(np.bincount(nearest, minlength=len(WALK_RATIOS)) / len(ratios) + 1e-9)


def _periodogram(noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """increment_periodogram of plain walks' inputs: their increments less their mean, none left out."""
    from pipeline.tasks.signals.walk import increment_periodogram

    steps = np.diff(noisy, axis=-1)
    return increment_periodogram(steps - steps.mean(-1, keepdims=True))


def posterior_means(noisy: np.ndarray, *log_priors: np.ndarray | float) -> list[np.ndarray]:
    """(N, L) per prior: the posterior mean of each walk given its input, the walk's smoother at each
    ratio of WALK_RATIOS weighed by walk_posterior under that prior (0.0: log-uniform). One smoother
    per ratio serves every prior. Inputs are plain walks under white noise (no jumps)."""
    from pipeline.tasks.signals.walk import WALK_RATIOS, local_level_smoother, walk_posterior

    noisy = np.asarray(noisy, np.float64)
    frequency, periodogram = _periodogram(noisy)
    weights = [walk_posterior(frequency, periodogram, log_prior)[0] for log_prior in log_priors]
    answers = [np.zeros_like(noisy) for _ in log_priors]
    for r, ratio in enumerate(WALK_RATIOS):
        smoothed = local_level_smoother(noisy, np.full((len(noisy), noisy.shape[-1] - 1), ratio))
        for answer, weight in zip(answers, weights):
            answer += weight[:, r : r + 1] * smoothed
    return answers


def expert_weight(noisy: np.ndarray) -> np.ndarray:
    """(N, L) the walk expert's smoother on every input, taken or not: walk_levels' weight."""
    from pipeline.tasks.signals.walk import local_level_smoother, walk_levels

    noisy = np.asarray(noisy, np.float64)
    noise_power, step_power = walk_levels(*_periodogram(noisy))
    return local_level_smoother(noisy, np.repeat((noise_power / step_power)[:, None], noisy.shape[-1] - 1, -1))


def limits(noisy: np.ndarray, pure: np.ndarray, prior_ratios: np.ndarray) -> dict[str, float]:
    """The label-free answers' and the oracle's pooled gains (dB) on these walks; `prior_ratios`:
    the true ratios of another sample of the same group (population_prior)."""
    from pipeline.tasks.signals.walk import local_level_smoother
    from pipeline.tasks.signals.scoring import snr_gain_db

    noisy = np.asarray(noisy, np.float64)
    oracle = local_level_smoother(noisy, np.repeat(true_ratios(noisy, pure)[:, None], noisy.shape[-1] - 1, -1))
    population, log_uniform = posterior_means(noisy, population_log_prior(prior_ratios), 0.0)
    answers = {"oracle": oracle, "population_prior": population, "log_uniform_prior": log_uniform,
               "expert_weight": expert_weight(noisy)}
    return {name: snr_gain_db(noisy, pure, answer) for name, answer in answers.items()}


def sample(params: dict, per_group: int) -> dict:
    from pipeline.tasks.signals.guard import guarded_denoise
    from pipeline.tasks.signals.scoring import snr_gain_db

    _, model = trained_denoiser(params)
    noises = [noise for noise in params["signals"]["noises"] if noise["kind"] in WHITE_NOISES]
    sets = {part: fresh_signals(params, per_group, ["random_walk"], noises, seed) for part, seed in SEEDS.items()}
    scored, prior = sets["scored"], sets["prior"]
    guarded = guarded_denoise(model, scored.noisy)
    groups = {}
    for index, (_, noise) in enumerate(scored.group_names()):
        rows, prior_rows = scored.group == index, prior.group == index
        noisy, pure = scored.noisy[rows].astype(np.float64), scored.pure[rows]
        groups[noise] = {**limits(noisy, pure, true_ratios(prior.noisy[prior_rows], prior.pure[prior_rows])),
                         "served": snr_gain_db(noisy, pure, guarded.denoised[rows]),
                         "walk_share": float(guarded.walk[rows].mean()),
                         "median_ratio": float(np.median(true_ratios(noisy, pure)))}
    return {"per_group": per_group, "groups": groups}


def markdown(result: dict) -> str:
    lines = ["| noise | median r | oracle (true levels) | prior knowing r's spread | log-uniform prior | "
             "expert's weight | served | walk expert takes |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for noise, g in result["groups"].items():
        gains = " | ".join(f"{g[column]:.2f}" for column in COLUMNS)
        lines.append(f"| {noise} | {g['median_ratio']:.3g} | {gains} | {100 * g['walk_share']:.1f} % |")
    return ("\n".join(lines) + f"\n\nRandom walks, {result['per_group']} per noise level; pooled SNR gain in dB "
            "(noisy input: 0). Every column but the oracle and served takes every walk as one.\n")


def main() -> None:
    run(__doc__, "walk_limit", sample, markdown, per_group=3000)


if __name__ == "__main__":
    main()
