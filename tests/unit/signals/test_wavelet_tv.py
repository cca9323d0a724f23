"""The wavelet-shrinkage and total-variation baselines and the noise estimate they share, on cases
with known answers: exact reconstruction, constants, steps, a brute-force convex solve and the
optimality conditions of total variation."""
import numpy as np
import pytest
import pywt
from scipy.optimize import lsq_linear

from pipeline.tasks.signals.baselines import (
    WAVELETS,
    detail_sigma,
    taut_string,
    total_variation,
    tv_grid,
    wavelet_grid,
    wavelet_levels,
    wavelet_shrinkage,
)
from pipeline.tasks.signals.filters import CLASSICAL, PARAM_NAMES

@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator per test: each test draws the same numbers in any order (pytest-randomly)."""
    return np.random.default_rng(39)
LENGTHS = (16, 32, 33, 150, 512, 2048)


# --- the noise estimate -------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.01, 1.0, 250.0])
def test_detail_sigma_reads_white_noise_within_ten_percent(sigma):
    for seed in range(5):
        noise = sigma * np.random.default_rng(seed).standard_normal((3, 4096))
        np.testing.assert_allclose(detail_sigma(noise), sigma, rtol=0.1)


def test_detail_sigma_ignores_a_cubic_trend_and_reads_one_signal_or_many(rng):
    t = np.linspace(-1, 1, 4096)
    trend = 40 * t**3 - 7 * t**2 + 3 * t + 1000  # large against the noise: db4's details cancel it
    noise = 0.05 * rng.standard_normal(4096)
    assert detail_sigma(trend) == pytest.approx(0.0, abs=1e-9)
    assert detail_sigma(trend + noise) == pytest.approx(0.05, rel=0.1)
    assert detail_sigma(np.stack([trend + noise, noise]))[0] == detail_sigma(trend + noise)


# --- wavelet shrinkage --------------------------------------------------------------------


@pytest.mark.parametrize("length", [16, 33, 150, 2048])
def test_wavelet_shrinkage_with_factor_zero_gives_the_input_back(length, rng):
    noisy = rng.normal(size=(4, length))
    for wavelet in {w for w, _ in wavelet_grid(length)}:
        # up to rounding and the precision pywt holds the longer filters' coefficients to
        np.testing.assert_allclose(wavelet_shrinkage(noisy, wavelet, 0.0), noisy, rtol=0, atol=1e-10)


def test_wavelet_shrinkage_brings_a_constant_back_through_small_noise(rng):
    constant = np.full((20, 512), 3.0)
    noisy = constant + 1e-3 * rng.standard_normal(constant.shape)
    for wavelet in WAVELETS:
        out = wavelet_shrinkage(noisy, wavelet, 1.0)
        # the universal threshold clears the noise's details: what is left is the coarsest average's
        assert np.sqrt(np.mean(np.square(out - constant))) < 3e-4, wavelet
        assert np.abs(out - constant).max() < 2e-3, wavelet


def test_haar_shrinkage_keeps_a_step_on_a_dyadic_boundary(rng):
    step = np.repeat([0.0, 1.0], 64)[None, :].repeat(10, 0)
    noisy = step + 0.01 * rng.standard_normal(step.shape)
    out = wavelet_shrinkage(noisy, "haar", 1.0)
    # the step is one coarse detail, far over the threshold, which shrinks it by ~2 x 0.031 / sqrt(128)
    np.testing.assert_allclose(out, step, atol=0.02)
    assert np.all(out[:, 64] - out[:, 63] > 0.97)
    assert np.abs(out - step).mean() < np.abs(noisy - step).mean() / 3


@pytest.mark.parametrize("length", LENGTHS)
def test_wavelet_shrinkage_keeps_the_shape_of_any_batch_and_of_one_signal(length, rng):
    noisy = rng.normal(size=(3, length))
    for params in wavelet_grid(length):
        out = wavelet_shrinkage(noisy, *params)
        assert out.shape == noisy.shape and np.all(np.isfinite(out)), params
    assert wavelet_shrinkage(noisy[0], "haar", 0.5).shape == (length,)
    np.testing.assert_allclose(wavelet_shrinkage(noisy[0], "haar", 0.5), wavelet_shrinkage(noisy, "haar", 0.5)[0])


def test_the_wavelet_grid_holds_only_wavelets_that_fit_the_length():
    assert {w for w, _ in wavelet_grid(16)} == {"haar", "db4"}  # sym8's 16 taps need 30 points
    assert {w for w, _ in wavelet_grid(150)} == set(WAVELETS)
    for length in LENGTHS:
        for wavelet, _ in wavelet_grid(length):
            assert 1 <= wavelet_levels(length, wavelet) == pywt.dwt_max_level(length, pywt.Wavelet(wavelet).dec_len)
            assert 2 * (pywt.Wavelet(wavelet).dec_len - 1) <= length


# --- total variation ----------------------------------------------------------------------


def tv_objective_minimiser(y: np.ndarray, lam: float) -> np.ndarray:
    """The minimiser through its dual, solved by scipy's bounded least squares (BVLS, an exact
    active-set method): x = y - D^T z with z = argmin ||y - D^T z|| over |z| <= lam."""
    n = len(y)
    d_transpose = np.zeros((n, n - 1))
    d_transpose[np.arange(n - 1), np.arange(n - 1)] = -1.0
    d_transpose[np.arange(1, n), np.arange(n - 1)] = 1.0
    z = lsq_linear(d_transpose, y, bounds=(-lam, lam), method="bvls", tol=1e-14).x
    return y - d_transpose @ z


def test_tv_with_weight_zero_gives_the_input_back(rng):
    noisy = rng.normal(size=(5, 150))
    np.testing.assert_array_equal(total_variation(noisy, 0.0), noisy)


def test_tv_with_a_huge_weight_gives_each_signals_mean(rng):
    noisy = rng.normal(size=(5, 150)) + np.arange(5)[:, None]
    out = total_variation(noisy, 1e9)
    np.testing.assert_allclose(out, np.broadcast_to(noisy.mean(-1, keepdims=True), noisy.shape), atol=1e-12)


def test_taut_string_matches_a_brute_force_convex_solve_on_small_inputs(rng):
    for trial in range(300):
        n = int(rng.integers(2, 9))
        y = rng.integers(-2, 3, n).astype(float) if trial % 2 else rng.normal(size=n)  # ties and plain
        lam = float(rng.choice([0.05, 0.3, 1.0, 3.0, 100.0]))
        np.testing.assert_allclose(taut_string(y, lam), tv_objective_minimiser(y, lam), atol=1e-6,
                                   err_msg=f"y={y.tolist()} lambda={lam}")


def test_tv_recovers_a_piecewise_constant_signal_with_its_jumps(rng):
    pure = np.repeat([0.0, 1.0, -0.5], 50)[None, :].repeat(20, 0)
    noisy = pure + 0.02 * rng.standard_normal(pure.shape)
    out = total_variation(noisy, 8.0)
    jumps = np.abs(np.diff(out, axis=-1)) > 0.3
    assert all(np.flatnonzero(row).tolist() == [49, 99] for row in jumps)
    # flat stretches at the levels (a point on a jump's way up or down costs no variation, so it
    # may keep its noise: the error is measured overall, not at every point)
    error, noise = out - pure, noisy - pure
    assert np.median(np.abs(error)) < 0.01
    assert np.sqrt(np.mean(np.square(error))) < 0.45 * np.sqrt(np.mean(np.square(noise)))


@pytest.mark.parametrize("weight", [0.5, 2.0, 8.0])
def test_tv_meets_its_optimality_conditions(weight, rng):
    y = np.repeat([0.0, 3.0, 1.0], 50) + rng.normal(size=150)
    lam = weight * detail_sigma(y)
    x = total_variation(y, weight)
    # stationarity: the running sum of y - x is -lambda x the sign of each jump of x, in [-lambda, lambda]
    # where x is flat, and 0 at the end (the mean is kept)
    running = np.cumsum(y - x)
    assert running[-1] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.abs(running[:-1]) <= lam * (1 + 1e-9))
    jumps = np.diff(x)
    assert (np.abs(jumps) > 1e-9).sum() >= 1
    np.testing.assert_allclose(running[:-1][jumps > 1e-9], -lam, atol=1e-9)
    np.testing.assert_allclose(running[:-1][jumps < -1e-9], lam, atol=1e-9)


def test_tv_is_the_same_in_any_unit_and_keeps_the_shape(rng):
    noisy = rng.normal(size=(2, 3, 40))
    out = total_variation(noisy, 2.0)
    assert out.shape == noisy.shape
    np.testing.assert_allclose(total_variation(1000 * noisy + 5, 2.0), 1000 * out + 5, atol=1e-9)


def test_tv_grid_stops_at_the_square_root_of_the_length():
    assert [w for (w,) in tv_grid(150)] == [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(w for (w,) in tv_grid(16)) == 4.0 and max(w for (w,) in tv_grid(2048)) == 32.0


# --- as baselines -------------------------------------------------------------------------


def test_both_are_baselines_with_named_params():
    assert CLASSICAL["wavelet"] == (wavelet_shrinkage, wavelet_grid)
    assert CLASSICAL["total_variation"] == (total_variation, tv_grid)
    for name in ("wavelet", "total_variation"):
        assert all(len(params) == len(PARAM_NAMES[name]) for params in CLASSICAL[name][1](150))
