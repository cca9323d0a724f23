"""The walk limit benchmark's answers: the oracle, the posterior means under two priors, and its table."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "denoiser"))
from walk_limit import limits, markdown, population_log_prior, posterior_means, true_ratios  # noqa: E402

from pipeline.data.signals import generate_signals  # noqa: E402
from pipeline.tasks.signals.walk import WALK_RATIOS, local_level_smoother  # noqa: E402
from pipeline.tasks.signals.scoring import snr_gain_db  # noqa: E402


def walks(length, n=20, step=2.0, seed=0):
    rng = np.random.default_rng(seed)
    pure = np.cumsum(step * rng.standard_normal((n, length)), -1)
    return pure + rng.standard_normal(pure.shape), pure


def test_true_ratios_read_noise_over_step_power():
    noisy, pure = walks(5000)
    np.testing.assert_allclose(true_ratios(noisy, pure), 0.25, rtol=0.1)


def test_a_prior_on_one_ratio_gives_that_ratios_smoother():
    noisy, _ = walks(150, n=4)
    log_prior = np.full(len(WALK_RATIOS), -np.inf)
    log_prior[40] = 0.0
    expected = local_level_smoother(noisy, np.full((4, 149), WALK_RATIOS[40]))
    np.testing.assert_allclose(posterior_means(noisy, log_prior)[0], expected, atol=1e-12)


def test_on_long_walks_the_posterior_mean_comes_to_the_oracle():
    """With 2,000 increments the likelihood pins the ratio down: the prior no longer matters."""
    noisy, pure = walks(2000)
    oracle = local_level_smoother(noisy, np.repeat(true_ratios(noisy, pure)[:, None], 1999, -1))
    assert snr_gain_db(noisy, pure, oracle) > 1.3
    posterior = posterior_means(noisy, 0.0)[0]
    assert snr_gain_db(noisy, pure, posterior) == pytest.approx(snr_gain_db(noisy, pure, oracle), abs=0.1)


def test_population_prior_sits_on_the_grid_points_nearest_the_ratios():
    ratios = WALK_RATIOS[[30, 30, 30, 70]] * 1.01
    weight = np.exp(population_log_prior(ratios))
    assert weight.sum() == pytest.approx(1.0, abs=1e-6)
    assert weight[30] == pytest.approx(0.75, abs=1e-6) and weight[70] == pytest.approx(0.25, abs=1e-6)


def test_on_150_point_walks_knowing_more_gains_more():
    """The oracle knows each walk's levels, the population prior how they spread, the log-uniform
    prior neither: at 3 % noise each step down costs 0.15-0.3 dB (measured on three seeds)."""
    noise = [{"kind": "relative", "sigma": 0.03}]
    scored, prior = (generate_signals(300, ["random_walk"], noise, seed=seed) for seed in (0, 100))
    gains = limits(scored.noisy, scored.pure, true_ratios(prior.noisy, prior.pure))
    assert gains["oracle"] > gains["population_prior"] + 0.05 > gains["log_uniform_prior"] + 0.1
    assert gains["expert_weight"] == pytest.approx(gains["log_uniform_prior"], abs=0.1)


def test_markdown_has_a_row_per_noise_level():
    result = {"per_group": 3000, "groups": {"relative_sigma0.01": {
        "oracle": 0.29, "population_prior": 0.17, "log_uniform_prior": -0.10, "expert_weight": -0.14, "served": -0.88,
        "walk_share": 0.97, "median_ratio": 0.0306}}}
    lines = markdown(result).splitlines()
    assert lines[2] == "| relative_sigma0.01 | 0.0306 | 0.29 | 0.17 | -0.10 | -0.14 | -0.88 | 97.0 % |"
    assert "3000 per noise level" in lines[4]
