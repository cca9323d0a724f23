"""The held-out sample benchmark's test-sized draws and its table."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "denoiser"))
from held_out_sample import DRAWS, draw_gains, markdown  # noqa: E402

from pipeline.tasks.signals.scoring import snr_gain_db  # noqa: E402


def signals(n=60, length=30, seed=0):
    rng = np.random.default_rng(seed)
    pure = rng.standard_normal((n, length))
    noisy = pure + 0.1 * rng.standard_normal(pure.shape)
    answer = pure + 0.05 * rng.standard_normal(pure.shape)
    return noisy, pure, answer


def test_a_draw_pools_its_signals_like_the_evaluation():
    """Drawn from one signal, every draw is that signal (its gain, snr_gain_db's); from many, the
    draws spread less as they grow."""
    noisy, pure, answer = signals()
    one = draw_gains(noisy[:1], pure[:1], answer[:1], 10, np.random.default_rng(0))
    assert one.shape == (DRAWS,)
    np.testing.assert_allclose(one, snr_gain_db(noisy[:1], pure[:1], answer[:1]))
    small, large = (draw_gains(noisy, pure, answer, size, np.random.default_rng(1)) for size in (3, 40))
    assert large.std() < small.std()
    assert abs(np.median(large) - snr_gain_db(noisy, pure, answer)) < 0.2


def test_a_signal_gone_badly_wrong_pulls_the_draws_that_hold_it_down():
    noisy, pure, answer = signals()
    answer[0] = pure[0] + 3.0  # far worse than its noise
    gains = draw_gains(noisy, pure, answer, 10, np.random.default_rng(2))
    assert np.percentile(gains, 5) < 0 < np.percentile(gains, 95)


def test_markdown_marks_misses_and_gives_the_share_of_draws_passing():
    result = {"per_group": 1000, "draw_size": 100, "draws": DRAWS, "passing": 1, "groups": {
        "random_walk/relative_sigma0.01": {"model": -1.06, "best_classical": 0.0, "passes": False, "walk_share": 0.96,
                                           "draw_pass_share": 0.01, "draw_gain_p5": -2.06, "draw_gain_p95": -0.22},
        "bumps/relative_sigma0.1": {"model": 6.31, "best_classical": 6.30, "passes": True, "walk_share": 0.084,
                                    "draw_pass_share": 1.0, "draw_gain_p5": 5.90, "draw_gain_p95": 6.74}}}
    lines = markdown(result).splitlines()
    assert lines[2] == "| random_walk/relative_sigma0.01 | -1.06 ✗ | 0.00 | 96.0 % | 1 % | -2.06 to -0.22 |"
    assert lines[3] == "| bumps/relative_sigma0.1 | 6.31 | 6.30 | 8.4 % | 100 % | 5.90 to 6.74 |"
    assert "1 of 2 groups pass on 1000 signals each" in markdown(result)
