"""The classical side of the signal denoiser, numpy and scipy only: the noise an input carries,
estimated from the input alone; the classical filters (the task's baselines, CLASSICAL, with the
wavelet and total-variation ones of baselines.py; and the candidates of the guard's label-free
fallback); and the random-walk expert. Why each bound is where it is:
docs/denoiser.md, "The do-no-harm guard" (steps 1, 4, 6 and 7)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy.ndimage import correlate1d, median_filter, uniform_filter1d
from scipy.signal import savgol_coeffs, wiener
from scipy.stats import f as f_distribution

from .baselines import total_variation, tv_grid, wavelet_grid, wavelet_shrinkage

# --- the noise an input carries, estimated from the input alone ------------------------

GLITCH_SIGMAS = 5.0  # a point further than this many sigmas from its 3-point median is a glitch


def mad(values: np.ndarray) -> np.ndarray:
    """Median absolute deviation from the median along the last axis, per row."""
    return np.median(np.abs(values - np.median(values, -1, keepdims=True)), -1)


# Differences further than this many robust deviations (their MAD / 0.6745) from their median are left
# out of the noise estimate: the few a jump or a glitch makes, and the curve's steepest stretches. The
# tails of heavy-tailed noise (Laplace, Student-t) mostly stay within it, and Gaussian noise entirely.
DIFFERENCE_TRIM = 5.0


def difference_sigma(noisy: np.ndarray, order: int) -> np.ndarray:
    """Per signal, the root mean square of its differences of `order` about their median, over those
    within DIFFERENCE_TRIM robust deviations of it, / their noise gain: white noise of sigma gives
    differences of sigma x sqrt(binomial(2 order, order)). The MAD alone reads only Gaussian noise
    right (0.6745 is the normal law's factor): Laplace noise read about 13 % low through it and
    Student-t noise (3 degrees of freedom) 20-25 % (benchmarks/results/noise_estimator.md)."""
    gain = np.sqrt(math.comb(2 * order, order))
    differences = np.diff(np.asarray(noisy, np.float64), order, axis=-1)
    differences -= np.median(differences, -1, keepdims=True)
    robust = mad(differences)[:, None] / 0.6745
    kept = np.abs(differences) <= DIFFERENCE_TRIM * robust
    mean_square = np.sum(np.where(kept, np.square(differences), 0.0), -1) / np.maximum(kept.sum(-1), 1)
    return np.sqrt(mean_square) / gain


# On white noise the fourth-difference estimate over the second-difference one is 1 give or take
# this / sqrt(length) (one standard deviation; measured on 20,000 signals of 64-1,000 points, a
# little more below); the fourth is taken where it is lower by more than 4 of them.
ROUGHNESS_RATIO_SPREAD = 0.85


def noise_sigma(noisy: np.ndarray) -> np.ndarray:
    """Per signal, the white-noise sigma from its second differences (difference_sigma: their trimmed
    root mean square / sqrt(6)). Second differences cancel lines and nearly cancel smooth curves (the
    median taken off removes a constant curvature); the trim leaves out sparse glitches and the few
    differences a jump touches.
    Content that changes within a few samples (a rough Gaussian-process draw) passes second
    differences too and reads as noise; fourth differences pass less of it and as much of the noise.
    Where their estimate is lower than white noise would explain (see ROUGHNESS_RATIO_SPREAD), the
    signal inflated the second differences, and the fourth differences' estimate is taken."""
    noisy = np.asarray(noisy, np.float64)
    second, fourth = difference_sigma(noisy, 2), difference_sigma(noisy, 4)
    floor = 1 - 4 * ROUGHNESS_RATIO_SPREAD / np.sqrt(noisy.shape[-1])
    return np.maximum(np.where(fourth < floor * second, fourth, second), float32_resolution(noisy))


def float32_resolution(values: np.ndarray) -> np.ndarray:
    """Per signal, half a float32 step at its largest magnitude: the rounding every input carries (the
    guard takes float32). No noise estimate goes below it: below it a noise-free signal's estimate is
    rounding, which differs from one unit to another, and so would the glitches it flags."""
    return np.abs(values).max(-1) * np.finfo(np.float32).epsneg


@dataclass(frozen=True)
class Noise:
    """What an input carries besides its signal: white noise of `sigma` (N,) and `glitches` (N, L),
    the input minus its 3-point running median where they differ by more than GLITCH_SIGMAS sigmas."""

    sigma: np.ndarray
    glitches: np.ndarray

    @property
    def power(self) -> np.ndarray:
        """(N,) mean noise power per point: white noise plus glitches."""
        return np.square(self.sigma) + np.mean(np.square(self.glitches), -1)

    @property
    def white(self) -> np.ndarray:
        """(N,) bool: white noise carries at least half the noise power (the regime SURE assumes)."""
        return np.square(self.sigma) >= self.power / 2


def estimate_noise(noisy: np.ndarray) -> Noise:
    noisy = np.asarray(noisy, np.float64)
    sigma = noise_sigma(noisy)
    deviation = noisy - median_filter(noisy, size=(1, 3), mode="nearest")
    return Noise(sigma, np.where(np.abs(deviation) > GLITCH_SIGMAS * sigma[:, None], deviation, 0.0))


def deglitch(noisy: np.ndarray, noise: Noise) -> np.ndarray:
    """float64 (N, L): the input with its glitches replaced by its 3-point running median."""
    return np.asarray(noisy, np.float64) - noise.glitches


# --- classical filters ----------------------------------------------------------------

WINDOW_GRID = (3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 61, 75, 101, 151, 201)  # odd windows tried, <= length/2
SAVGOL_ORDERS = (1, 2, 3, 4)


def moving_average(noisy: np.ndarray, window: int) -> np.ndarray:
    return uniform_filter1d(noisy, window, axis=-1, mode="nearest")


@lru_cache(maxsize=None)
def _savgol_operator(window: int, polyorder: int) -> tuple[np.ndarray, np.ndarray]:
    """(the interior coefficients, the least-squares polynomial projection over one window), cached:
    the guard's fallback tries every (window, order) on every request."""
    q, _ = np.linalg.qr(np.vander(np.arange(window) - window // 2, polyorder + 1))
    operator = savgol_coeffs(window, polyorder, use="dot"), q @ q.T
    for array in operator:
        array.setflags(write=False)  # shared by every caller through the cache
    return operator


def savitzky_golay(noisy: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """scipy's savgol_filter(mode="interp") along the last axis, as one correlation inside and one
    small projection at each end (scipy refits the end polynomials with a solver per call, which
    made it the slowest part of the evaluation); window <= length."""
    noisy = np.asarray(noisy, np.float64)
    coefficients, ends = _savgol_operator(window, polyorder)
    out = correlate1d(noisy, coefficients, axis=-1)
    half = window // 2  # the ends: a least-squares polynomial fit over the first/last window
    out[..., :half] = noisy[..., :window] @ ends[:half].T
    out[..., out.shape[-1] - half:] = noisy[..., -window:] @ ends[window - half:].T
    return out


def savgol_trace(window: int, polyorder: int, length: int) -> float:
    """Trace of the linear map savitzky_golay(., window, polyorder) on `length` points: the
    projection's leverage at the window's centre inside, at the edge points near the edges
    (scipy's `interp` mode fits one polynomial to each end window)."""
    leverage, half = np.diag(_savgol_operator(window, polyorder)[1]), window // 2
    return float((length - 2 * half) * leverage[half] + 2 * leverage[:half].sum())




def wiener_filter(noisy: np.ndarray, window: int) -> np.ndarray:
    """scipy's adaptive Wiener filter along each signal; the noise power is estimated from the
    signals given (the mean local variance), so no label is used."""
    with np.errstate(divide="ignore", invalid="ignore"):  # flat stretches: scipy keeps the local mean
        return wiener(noisy, (1, window))


def adaptive_wiener(noisy: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """A locally adaptive Wiener filter per signal, and its divergence (for SURE). Over `window`
    points: local mean m and variance v; out = m + max(0, 1 - n / v) (x - m), n the signal's mean
    local variance (scipy's noise estimate, per signal, so it smooths less than sigma-hat would on
    rough stretches). Divergence: the sum of d out_i / d x_i as inside the signal, n held fixed."""
    x = np.asarray(noisy, np.float64)
    mean = uniform_filter1d(x, window, axis=-1, mode="nearest")
    var = uniform_filter1d(x * x, window, axis=-1, mode="nearest") - np.square(mean)
    level = np.mean(var, -1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # var 0: a flat stretch keeps its mean
        gain = np.where(var > level, 1 - level / var, 0.0)
        gain_slope = np.where(var > level, 2 * level * (x - mean) / (window * np.square(var)), 0.0)
    divergence = np.sum(1 / window + gain * (1 - 1 / window) + (x - mean) * gain_slope, -1)
    return mean + gain * (x - mean), divergence


def ls_projection(noisy: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares fit of a polynomial of `degree` to every signal (x's scale does not matter)."""
    t = np.linspace(-1, 1, noisy.shape[-1])
    q, _ = np.linalg.qr(np.vander(t, degree + 1))
    return (noisy @ q) @ q.T


# The lack-of-fit test of a polynomial (an F test): when the signal is that polynomial, the residual's
# power along the next LACK_OF_FIT_TERMS orthonormal polynomial directions (degrees degree+1 ..
# degree+terms) and its power along all the others are both white noise, so their ratio per
# direction is F-distributed whatever sigma is. Chosen on the validation signals (docs/denoiser.md,
# "The do-no-harm guard", step 4).
LACK_OF_FIT_TERMS = 16
LACK_OF_FIT_LEVEL = 0.05  # the share of true polynomials the test rejects


@lru_cache(maxsize=None)
def _lack_of_fit_basis(length: int, degree: int) -> np.ndarray:
    """(length, k) orthonormal columns spanning the polynomials of degree degree+1 .. degree+k on
    `length` points, orthogonal to every polynomial of `degree`; k = LACK_OF_FIT_TERMS, fewer on
    short signals (at least as many points left over as the fit and the test use)."""
    terms = max(min(LACK_OF_FIT_TERMS, (length - 2 * (degree + 1)) // 2), 0)
    q, _ = np.linalg.qr(np.polynomial.legendre.legvander(np.linspace(-1, 1, length), degree + terms))
    basis = q[:, degree + 1:]
    basis.setflags(write=False)  # shared by every caller through the cache
    return basis


def lack_of_fit(clean: np.ndarray, fitted: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Per signal, of its least-squares polynomial `fitted` (of `degree`, to `clean`): (N,) bool, does
    the lack-of-fit test at LACK_OF_FIT_LEVEL keep it (is it all the structure the residual shows),
    and (N,) the residual's power per direction outside the tested ones (sigma^2 where the signal
    is that polynomial). The test needs no noise estimate: sigma-hat scatters by ~10 % on 150
    points, and a chi-square test on it rejected true polynomials twice as often as its level says."""
    basis = _lack_of_fit_basis(clean.shape[-1], degree)
    terms, others = basis.shape[-1], clean.shape[-1] - (degree + 1) - basis.shape[-1]
    residual = np.asarray(clean, np.float64) - fitted
    along = np.sum(np.square(residual @ basis), -1)
    leftover = (np.sum(np.square(residual), -1) - along) / others
    if terms == 0:
        return np.zeros(len(clean), bool), leftover
    with np.errstate(divide="ignore", invalid="ignore"):  # no residual at all: left to SURE
        kept = (along / terms) / leftover <= f_distribution.ppf(1 - LACK_OF_FIT_LEVEL, terms, others)
    return kept, leftover


TREND_KEEP = 0.95  # share of points a robust polynomial fit (and its comparison with the network) keeps
TREND_ROUNDS = 3  # least-squares fits per robust fit: the first on every point, then on the nearest


def robust_trend(noisy: np.ndarray, valid: np.ndarray, degree: int) -> np.ndarray:
    """Least-trimmed-squares fit of a polynomial of `degree` to every signal's `valid` points (N, L
    bool): fit, keep the TREND_KEEP share of them nearest the fit, refit. A few glitches among them
    (a dropout pair the 3-point median misses) then do not pull the fit: an exact polynomial
    comes back exact."""
    noisy = np.asarray(noisy, np.float64)
    basis = np.vander(np.linspace(-1, 1, noisy.shape[-1]), degree + 1)

    def fit_on(kept: np.ndarray) -> np.ndarray:
        gram = np.einsum("li,nl,lj->nij", basis, kept, basis)
        moments = np.einsum("li,nl->ni", basis, kept * noisy)
        return np.linalg.solve(gram, moments[..., None])[..., 0] @ basis.T

    fit = fit_on(valid.astype(np.float64))
    for _ in range(TREND_ROUNDS - 1):
        distance = np.where(valid, np.abs(noisy - fit), np.nan)
        nearest = distance <= np.nanquantile(distance, TREND_KEEP, axis=-1, keepdims=True)
        fit = fit_on(nearest.astype(np.float64))
    return fit


def windows(length: int) -> list[int]:
    return [w for w in WINDOW_GRID if w <= max(3, length // 2)]


# The baselines: name -> (filter(noisy, *params), length -> the params tuned on the validation signals).
# Wavelet shrinkage and total variation live in baselines.py (evaluation alone runs them).
CLASSICAL: dict[str, tuple[Callable[..., np.ndarray], Callable[[int], list[tuple]]]] = {
    "moving_average": (moving_average, lambda n: [(w,) for w in windows(n)]),
    "savgol": (savitzky_golay, lambda n: [(w, p) for w in windows(n) for p in SAVGOL_ORDERS if p < w]),
    "wiener": (wiener_filter, lambda n: [(w,) for w in windows(n)]),
    "wavelet": (wavelet_shrinkage, wavelet_grid),
    "total_variation": (total_variation, tv_grid),
}
PARAM_NAMES = {"moving_average": ("window",), "savgol": ("window", "polyorder"), "wiener": ("window",),
               "wavelet": ("basis", "factor"), "total_variation": ("weight",)}
