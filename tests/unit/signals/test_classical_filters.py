"""SNR gain and the classical baselines of the signals task, on cases with known answers."""
import numpy as np
import pytest

from pipeline.data.signals import generate_signals
from pipeline.tasks.signals.filters import (
    CLASSICAL,
    estimate_noise,
    ls_projection,
    moving_average,
    savgol_trace,
    savitzky_golay,
    wiener_filter,
    windows,
)
from pipeline.tasks.signals.guard import Guarded, fallback_filter
from pipeline.tasks.signals.scoring import GAIN_CEILING_DB, group_rows, snr_gain_db, tune, worse_than_input_share

rng = np.random.default_rng(0)


def quadratics(n: int, length: int) -> np.ndarray:
    t = np.linspace(-0.5, 0.99, length)
    a, b, c = (rng.uniform(-1, 1, (n, 1)) for _ in range(3))
    return a + b * t + c * t * t


def test_snr_gain_of_the_identity_is_zero_and_of_a_tenth_residual_ten_db():
    pure = rng.normal(size=(20, 50))
    noisy = pure + rng.normal(size=pure.shape)
    assert snr_gain_db(noisy, pure, noisy) == 0.0
    assert snr_gain_db(noisy, pure, pure + (noisy - pure) / np.sqrt(10)) == pytest.approx(10.0)
    assert snr_gain_db(noisy, pure, pure + 2 * (noisy - pure)) == pytest.approx(-10 * np.log10(4))


def test_snr_gain_of_an_exact_answer_is_the_ceiling():
    pure = rng.normal(size=(4, 50))
    noisy = pure + rng.normal(size=pure.shape)
    assert snr_gain_db(noisy, pure, pure) == GAIN_CEILING_DB
    assert snr_gain_db(noisy, pure, pure + 1e-7 * (noisy - pure)) == GAIN_CEILING_DB  # 140 dB: rounding


def test_snr_gain_aggregates_energy_over_the_group_not_per_signal():
    pure = np.zeros((2, 10))
    noisy = np.stack([np.full(10, 1.0), np.full(10, 3.0)])
    denoised = np.stack([np.zeros(10), np.full(10, 1.0)])  # residual energy 0 + 10, noise 10 + 90
    assert snr_gain_db(noisy, pure, denoised) == pytest.approx(10.0)


def test_worse_than_input_share_counts_signals_that_err_more_than_they_came_in_and_skips_clean_ones():
    pure = np.zeros((4, 10))
    noisy = np.stack([np.full(10, 1.0), np.full(10, 1.0), np.full(10, 1.0), np.zeros(10)])  # the last came in clean
    assert worse_than_input_share(noisy, pure, noisy) == 0.0  # the identity never errs more
    denoised = np.stack([np.full(10, 1.1), np.zeros(10), np.full(10, -0.5), np.full(10, 0.01)])
    assert worse_than_input_share(noisy, pure, denoised) == pytest.approx(1 / 3)  # the first of three noisy ones
    # a group can gain overall while a signal in it comes back worse
    assert snr_gain_db(noisy, pure, denoised) > 0
    assert worse_than_input_share(pure, pure, denoised) == 0.0  # nothing came in noisy: nothing to count


def test_ls_projection_reproduces_quadratics_and_gains_ten_log_n_over_three():
    pure = quadratics(4000, 150)
    np.testing.assert_allclose(ls_projection(pure, 2), pure, atol=1e-10)
    noisy = pure + 0.05 * rng.standard_normal(pure.shape)
    # residual of a projection onto 3 of 150 dimensions keeps 3/150 of white noise's energy
    assert snr_gain_db(noisy, pure, ls_projection(noisy, 2)) == pytest.approx(10 * np.log10(150 / 3), abs=0.15)


@pytest.mark.parametrize("window", [3, 5, 11])
def test_moving_average_keeps_a_constant_and_divides_white_noise_by_the_window(window):
    constant = np.full((3, 40), 2.5)
    np.testing.assert_allclose(moving_average(constant, window), constant)
    pure = np.full((200, 2000), -1.0)
    noisy = pure + rng.standard_normal(pure.shape)
    # interior points average `window` independent samples; edges are a small fraction here
    assert snr_gain_db(noisy, pure, moving_average(noisy, window)) == pytest.approx(10 * np.log10(window), abs=0.1)


def test_savgol_is_exact_on_polynomials_up_to_its_order_and_order_one_is_a_moving_average_inside():
    pure = quadratics(5, 60)
    np.testing.assert_allclose(savitzky_golay(pure, 21, 2), pure, atol=1e-10)
    noisy = pure + rng.standard_normal(pure.shape)
    np.testing.assert_allclose(savitzky_golay(noisy, 7, 1)[:, 3:-3], moving_average(noisy, 7)[:, 3:-3], atol=1e-10)


def test_filters_work_on_whole_batches_in_float64_and_keep_shape():
    noisy = rng.standard_normal((7, 33))
    for name, (apply, grid) in CLASSICAL.items():
        for params in grid(33):
            out = apply(noisy, *params)
            assert out.shape == noisy.shape and np.all(np.isfinite(out)), (name, params)
    flat = np.zeros((2, 40))
    flat[:, 10] = 1.0  # spikes on a flat line: scipy's Wiener divides by zero local variance
    assert np.all(np.isfinite(wiener_filter(flat, 5)))


def test_window_grid_is_odd_and_at_most_half_the_length():
    assert windows(150) == [3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 61, 75]
    assert windows(16) == [3, 5, 7]
    assert all(w % 2 == 1 for w in windows(1000))


def test_tuning_picks_the_widest_order_two_savgol_for_quadratics():
    pure = quadratics(200, 150)
    noisy = pure + 0.05 * rng.standard_normal(pure.shape)
    best = tune("savgol", noisy, pure)
    assert best.params == (75, 2)  # exact for quadratics; the widest window averages the most noise
    assert best.val_gain > 14


def test_group_rows_score_every_family_and_noise_and_bound_only_linear_families():
    families = ["quadratic", "random_quadratic", "square"]
    noises = [{"kind": "gaussian", "sigma": 0.05}, {"kind": "dropout", "rate": 0.05}]
    val = generate_signals(40, families, noises, seed=1)
    test = generate_signals(40, families, noises, seed=2)
    noise = estimate_noise(test.noisy)
    nowhere = np.zeros(len(test.noisy), bool)
    identity = Guarded(test.noisy, test.noisy, fallback_filter(test.noisy, noise)[0], noise, np.zeros(len(test.noisy)),
                       nowhere, nowhere, nowhere)
    rows = group_rows(val, test, identity, identity.classical)  # the identity as the "model"
    assert [r["group"] for r in rows] == [f"{f}/{n}" for f in families for n in test.noise_names]
    for row in rows:
        assert row["model"] == row["net"] == row["noisy"] == row["fallback_share"] == row["trend_share"] == row["walk_share"] == 0.0
        assert not row["held_out"]
        assert row["best_classical"] == max(0.0, *(row[name] for name in CLASSICAL), row["fallback_filter"])
        assert set(CLASSICAL) >= {"moving_average", "savgol", "wiener", "wavelet", "total_variation"}
        assert row["margin_db"] == -row["best_classical"]
        assert row["worse_share"] == 0.0 and 0.0 <= row["best_classical_worse_share"] <= 1.0
        assert (row["ls_bound"] is None) == (row["family"] == "square")
    gaussian_quadratic = rows[2]  # random_quadratic / gaussian 0.05
    assert gaussian_quadratic["ls_bound"] == pytest.approx(17.0, abs=0.8)
    assert 12 < gaussian_quadratic["savgol"] < gaussian_quadratic["ls_bound"]
    # a square wave at 5 % noise: the smoothers round its edges, total variation keeps them and is the best
    square = rows[4]
    assert square["group"] == "square/gaussian_sigma0.05" and square["total_variation_weight"] > 0
    assert square["best_classical"] == square["total_variation"] > max(square["savgol"], square["wiener"]) + 2
    in_group = test.group == 4  # the best filter's own answers give its share of signals sent back worse
    answer = CLASSICAL["total_variation"][0](test.noisy[in_group].astype(np.float64), square["total_variation_weight"])
    assert square["best_classical_worse_share"] == worse_than_input_share(test.noisy[in_group], test.pure[in_group], answer)


@pytest.mark.parametrize("length", [16, 17, 150])
def test_savgol_is_scipys_interp_mode_and_its_trace_is_the_linear_maps(length):
    from scipy.signal import savgol_filter

    noisy = rng.normal(size=(5, length))
    for window, polyorder in CLASSICAL["savgol"][1](length):
        expected = savgol_filter(noisy, window, polyorder, axis=-1, mode="interp")
        np.testing.assert_allclose(savitzky_golay(noisy, window, polyorder), expected, atol=1e-10)
        matrix = savitzky_golay(np.eye(length), window, polyorder)  # row i: the response to an impulse at i
        assert savgol_trace(window, polyorder, length) == pytest.approx(np.trace(matrix))
