"""The random-walk expert of the signal guard: tests whether an input's increments look like a
random walk under white noise, and the smoother that is optimal for one (the local-level model)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_banded
from scipy.stats import chi2

from .filters import mad


# A Brownian path's own steps outweigh 1-3 % noise at every frequency: sigma-hat reads them as noise
# (~3.5x too high at 1 %) and every smoother then takes signal away. But a walk's steps are white:
# the input's increments (jumps left out) are white steps plus differenced white noise, whose
# autocorrelation is -sigma^2 / (q^2 + 2 sigma^2) at lag 1 and 0 beyond. Smooth content correlates
# them at every short lag, peaks and bursts make their variance uneven; a walk does neither. Where
# an input's increments pass all the tests below, the answer is the smoother that is optimal for a walk
# plus white noise, with both levels read from the increments (walk_levels); across the jumps left
# out it does not smooth (a jump smoothed at 1 % noise costs more than all the noise). Bounds chosen
# on the validation signals (docs/denoiser.md, "The do-no-harm guard", step 7).
# Checked at the data's 150 points; on 64-100 points the tests below took 30-40 % of bumps at
# sigma 0.1 (and 1-2 % of sines, each costing the network's gain): too few increments to tell.
WALK_MIN_LENGTH = 120
WALK_JUMP_SIGMAS = 5.0  # increments this many robust SDs from their median are jumps, left out
WALK_MIN_LAG1 = -0.25  # lag-1 autocorrelation of the increments: white noise alone -0.5, a walk at 1 % noise ~0
WALK_LAGS = 10  # the portmanteau test: lags 2..WALK_LAGS uncorrelated, at its 99 % point
WALK_MAX_PORTMANTEAU = float(chi2.ppf(0.99, WALK_LAGS - 1))
WALK_MAX_SHORT_SUM = 0.2  # autocorrelations at lags 2-5 summed: 0 +- 0.16 for a walk (150 points)
WALK_BLOCKS = 5  # the increments' mean square in this many consecutive blocks ...
WALK_MAX_BLOCK_RATIO = 4.0  # ... differs by at most this factor (largest / smallest)
# The lags 2-5 sum turns away about 1 walk in 10 at sigma 0.01 by chance, and each one missed gets a
# -9 dB answer. It is waived where the increments' periodogram, divided by the walk spectrum fitted
# from their autocovariances, has a cumulative sum within this (Kolmogorov-Smirnov, sqrt(m) D) of a
# straight line ...
WALK_MAX_SPECTRUM_KS = 1.0
# ... and the white noise the periodogram shows above this share of the Nyquist frequency is below
# this share of sigma-hat^2 (sigma-hat, reading a walk's steps as noise, is too high; a smooth signal's
# high band is its noise, at ~sigma-hat^2).
WALK_HIGH_BAND = 0.25
WALK_MAX_HIGH_BAND_NOISE = 0.6
# The noise-to-step power ratios r = sigma^2 / q^2 walk_levels weighs, evenly spaced in log r (a
# log-uniform prior). Below 1e-4 (noise 1 % of a step) the smoother changes nothing; the lag-1 test
# takes no walk above r ~ 0.5. The low end was chosen on the validation walks at sigma 0.01
# (docs/denoiser.md, "The do-no-harm guard", step 7).
WALK_RATIOS = np.logspace(-4, 1, 101)


@dataclass(frozen=True)
class WalkFit:
    taken: np.ndarray  # (N,) bool: the increments look like a random walk's plus white noise
    sigma: np.ndarray  # (N,) the white noise's level under that model (walk_levels; 0 where not taken)
    smoothing: np.ndarray  # (N, L-1) per increment: the smoother's weight (walk_levels), 0 across jumps


def increment_periodogram(increments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequency (m,), periodogram (N, m)) of the increments, frequency 0 (the mean) and Nyquist left
    out: under the walk model each value is exponential, with mean q^2 + sigma^2 2 (1 - cos w)."""
    n = increments.shape[-1]
    frequency = 2 * np.pi * np.arange(1, (n - 1) // 2 + 1) / n
    return frequency, np.square(np.abs(np.fft.rfft(increments, axis=-1)[:, 1 : len(frequency) + 1])) / n


def _differenced_noise_shape(frequency: np.ndarray) -> np.ndarray:
    """2 (1 - cos w): the spectrum of differenced unit white noise at each frequency, the shape of a
    walk's noise term in its increments' spectrum q^2 + sigma^2 2 (1 - cos w)."""
    return 2 * (1 - np.cos(frequency))


def walk_posterior(frequency: np.ndarray, periodogram: np.ndarray,
                   log_prior: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(weight, step power) (N, R): the posterior probability of each noise-to-step ratio
    r = sigma^2 / q^2 of WALK_RATIOS given the increments' periodogram, under Whittle's likelihood
    with q^2 at its maximum-likelihood fit for that r (the second array). `log_prior` (R,): log
    prior weights of the ratios, up to a constant; the default, even in log r, is log-uniform."""
    shape = 1 + WALK_RATIOS[:, None] * _differenced_noise_shape(frequency)  # (R, m): the spectrum / q^2 at each r
    step_power = periodogram @ (1 / shape).T / len(frequency)
    log_posterior = log_prior - (len(frequency) * np.log(step_power) + np.sum(np.log(shape), -1))
    weight = np.exp(log_posterior - log_posterior.max(-1, keepdims=True))
    return weight / weight.sum(-1, keepdims=True), step_power


def walk_levels(frequency: np.ndarray, periodogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(noise power, step power) (N,): the posterior means of sigma^2 and q^2 given the increments'
    periodogram (walk_posterior, log-uniform prior). Their ratio is the smoother's best weight: with
    weight l on a walk of levels sigma^2, q^2 the smoother's error per point is
        (sigma^2 (1 + 2 l) + 2 q^2 l^2) / (1 + 4 l)^(3/2),
    linear in the levels, so its posterior mean is the same in their posterior means, least at
    l = E[sigma^2] / E[q^2]. At 1 % noise the increments barely tell sigma^2 from 0 (the moment
    estimate -g_1 has a standard error ~3 sigma^2 on 150 points); the posterior then keeps the weight
    small, where the moment estimate, as often too high as too low, smoothed signal away."""
    weight, step_power = walk_posterior(frequency, periodogram)
    return np.sum(weight * WALK_RATIOS * step_power, -1), np.sum(weight * step_power, -1)


def _walk_spectrum_fits(frequency: np.ndarray, periodogram: np.ndarray, noise_power: np.ndarray,
                        step_power: np.ndarray, sigma_hat: np.ndarray) -> np.ndarray:
    """(N,) bool: the increments' periodogram looks like the walk spectrum q^2 + 2 sigma^2 (1 - cos w)
    of the levels walk_fit read from their autocovariances (`step_power` q^2, `noise_power` sigma^2):
    the ratios to it (exponential with mean 1 for a walk) sum up evenly (WALK_MAX_SPECTRUM_KS), and a least-squares
    fit of a + b 2 (1 - cos w) to its high band finds white noise b well below sigma-hat^2
    (WALK_MAX_HIGH_BAND_NOISE)."""
    noise_shape = _differenced_noise_shape(frequency)
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread at all: not taken (walk_fit)
        ratio = periodogram / (step_power[:, None] + noise_power[:, None] * noise_shape)
        cumulative = np.cumsum(ratio, -1) / np.sum(ratio, -1, keepdims=True)
    even = np.arange(1, len(frequency) + 1) / len(frequency)
    ks = np.sqrt(len(frequency)) * np.max(np.abs(cumulative - even), -1)
    high = frequency >= WALK_HIGH_BAND * np.pi
    design = np.stack([np.ones(high.sum()), noise_shape[high]], -1)
    high_band_noise = periodogram[:, high] @ np.linalg.pinv(design)[1]
    return (ks < WALK_MAX_SPECTRUM_KS) & (high_band_noise < WALK_MAX_HIGH_BAND_NOISE * np.square(sigma_hat))


def walk_fit(clean: np.ndarray, sigma_hat: np.ndarray) -> WalkFit:
    """Does each input (without its glitches) look like a random walk plus white noise, and if so
    with what levels. The tests read the levels from the autocovariances g_k of its increments, jumps
    left out (sigma^2 = -g_1, the step variance g_0 - 2 sigma^2); the answer's levels are their
    posterior means (walk_levels), whose ratio is local_level_smoother's weight on every increment but
    the jumps (0 for inputs not taken). `sigma_hat`: the input's estimated noise level (noise_sigma),
    which a walk's high band does not bear out (_walk_spectrum_fits)."""
    steps = np.diff(np.asarray(clean, np.float64), axis=-1)
    centred = steps - np.median(steps, -1, keepdims=True)
    spread = 1.4826 * mad(steps)[:, None]  # a robust SD; 0 where most increments are equal (flat pieces)
    kept = np.abs(centred) <= WALK_JUMP_SIGMAS * spread
    mean = np.sum(np.where(kept, centred, 0.0), -1, keepdims=True) / np.maximum(kept.sum(-1, keepdims=True), 1)
    c = np.where(kept, centred - mean, 0.0)
    n = c.shape[-1]
    covariance = np.stack([np.sum(c[:, k:] * c[:, : n - k], -1) / n for k in range(WALK_LAGS + 1)], -1)
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread at all: not taken (below)
        correlation = covariance[:, 1:] / covariance[:, :1]
        blocks = np.stack([np.mean(np.square(c[:, b]), -1) for b in np.array_split(np.arange(n), WALK_BLOCKS)], -1)
        block_ratio = blocks.max(-1) / blocks.min(-1)
    noise_power = np.clip(-covariance[:, 1], 0.0, None)
    step_power = covariance[:, 0] - 2 * noise_power
    frequency, periodogram = increment_periodogram(c)
    short_lags_uncorrelated = (np.sum(correlation[:, 1:5], -1) < WALK_MAX_SHORT_SUM) | _walk_spectrum_fits(
        frequency, periodogram, noise_power, step_power, np.asarray(sigma_hat, np.float64))
    taken = ((clean.shape[-1] >= WALK_MIN_LENGTH) & (spread[:, 0] > 0) & (correlation[:, 0] > WALK_MIN_LAG1)
             & (n * np.sum(np.square(correlation[:, 1:]), -1) < WALK_MAX_PORTMANTEAU)
             & short_lags_uncorrelated & (block_ratio < WALK_MAX_BLOCK_RATIO))
    # taken: lag 1 above -0.25, so the noise is at most a quarter of the increments' power
    level, smoothing = np.zeros(len(c)), np.zeros(len(c))
    if taken.any():
        posterior_noise, posterior_step = walk_levels(frequency, periodogram[taken])
        level[taken], smoothing[taken] = posterior_noise, posterior_noise / posterior_step
    return WalkFit(taken, np.sqrt(level), smoothing[:, None] * kept)


def _local_level_diagonal(lam: np.ndarray) -> np.ndarray:
    """(N, L) the diagonal of the tridiagonal I + D' W D with weights `lam` (N, L-1): 1 + lam_t-1 +
    lam_t; its off-diagonals are -lam_t."""
    return 1 + np.pad(lam, ((0, 0), (1, 0))) + np.pad(lam, ((0, 0), (0, 1)))


def _local_level_pivots(lam: np.ndarray) -> np.ndarray:
    """(N, L) the pivots of Gaussian elimination, first row down, on I + D' W D: diagonal_t -
    lam_t-1 (lam_t-1 / pivot_t-1) (no pivoting: the matrix is diagonally dominant). scipy solves the system
    (local_level_smoother) but does not give its pivots, which local_level_dof needs."""
    diagonal = _local_level_diagonal(lam)
    pivots = np.empty_like(diagonal)
    pivots[:, 0] = diagonal[:, 0]
    for i in range(1, diagonal.shape[-1]):
        pivots[:, i] = diagonal[:, i] - lam[:, i - 1] * (lam[:, i - 1] / pivots[:, i - 1])
    return pivots


def local_level_smoother(noisy: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
    """Per signal, the x minimising |noisy - x|^2 + sum_t smoothing_t (x_t+1 - x_t)^2, `smoothing`
    (N, L-1) one weight per increment: with sigma^2 / step variance on every increment, the exact
    posterior mean of a random walk under white noise (the steady-state Kalman smoother); a weight
    of 0 leaves a jump alone. The tridiagonal system (I + D' W D) x = noisy, solved by scipy's
    banded solver for all signals at once; all weights 0 return the input."""
    y = np.asarray(noisy, np.float64)
    lam = np.asarray(smoothing, np.float64)
    if not len(y):  # solve_banded refuses an empty batch; no signals, nothing to smooth
        return y.copy()
    bands = np.zeros((len(y), 3, y.shape[-1]))  # solve_banded's layout: upper, main, lower diagonal
    bands[:, 0, 1:] = bands[:, 2, :-1] = -lam
    bands[:, 1] = _local_level_diagonal(lam)
    # the right-hand side as one column per signal: a batch of (L, 1), not one (N, L) matrix
    return solve_banded((1, 1), bands, y[..., None])[..., 0]


def local_level_dof(smoothing: np.ndarray) -> np.ndarray:
    """(N,) the degrees of freedom of local_level_smoother with these weights: the trace of its
    matrix (I + D' W D)^-1 (the input's length for weights 0). Each diagonal element of a tridiagonal
    matrix's inverse is 1 / (forward pivot + backward pivot - diagonal), the pivots of Gaussian
    elimination run from either end; run from the last row up, it is the elimination of the same
    system with its weights reversed."""
    lam = np.asarray(smoothing, np.float64)
    forward, backward = _local_level_pivots(lam), _local_level_pivots(lam[:, ::-1])[:, ::-1]
    return np.sum(1 / (forward + backward - _local_level_diagonal(lam)), -1)


# Where the walk expert smooths (its smoother keeps under WALK_GCV_MAX_DOF of the input's degrees of
# freedom), its answer must not lose to the guard's own by generalized cross-validation, mean squared
# residual / (1 - dof / length)^2, which needs no noise level: a smooth signal at 3-30 % noise that
# the walk tests take by chance is better served by the guard's answer, and GCV shows it. Where the
# smoother keeps more (a walk at 1 % noise keeps ~95 %), GCV divides by too small a number to judge.
# Chosen on the validation signals and a fresh sample (docs/denoiser.md, "The do-no-harm guard", step 7).
WALK_GCV_MAX_DOF = 0.8
WALK_GCV_MARGIN = 0.9  # the guard's answer takes over where its GCV is below this share of the walk's


def _gcv(clean: np.ndarray, answer: np.ndarray, dof: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # dof = length: inf, never the better one
        return np.mean(np.square(clean - answer), -1) / np.square(1 - dof / clean.shape[-1])


def walk_keeps(clean: np.ndarray, walk_answer: np.ndarray, walk_dof: np.ndarray, guard_answer: np.ndarray,
               guard_dof: np.ndarray) -> np.ndarray:
    """(N,) bool: the walk expert's answer stands against the guard's own (WALK_GCV_MAX_DOF, above).
    `guard_dof`: the guard's answer's divergence (its degrees of freedom)."""
    clean = np.asarray(clean, np.float64)
    judged = walk_dof < WALK_GCV_MAX_DOF * clean.shape[-1]
    return ~(judged & (_gcv(clean, guard_answer, guard_dof) < WALK_GCV_MARGIN * _gcv(clean, walk_answer, walk_dof)))
