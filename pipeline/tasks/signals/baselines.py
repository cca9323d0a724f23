"""Two classical baselines beside filters.py's smoothers: wavelet shrinkage and total-variation
denoising. Both are label-free (each reads the noise from its input: detail_sigma) and get their
few params tuned per group on the validation signals like every filter in filters.CLASSICAL.

Evaluation alone runs them: the guard never does, so PyWavelets is imported where a transform runs,
and a served model (its code imports filters.py, and so this module) needs no package it did not.
Imports: filters -> this module, never back."""
from __future__ import annotations

import math
from collections import deque

import numpy as np

# --- the noise, read from the finest wavelet details -----------------------------------

# The details the noise is read from: db4's 4 vanishing moments cancel any cubic stretch of a
# signal, so smooth content does not read as noise, and its 8 taps fit the shortest signal (16).
SIGMA_WAVELET = "db4"
MAD_TO_SIGMA = 0.6745  # the median absolute value of a standard normal


def detail_sigma(noisy: np.ndarray) -> np.ndarray:
    """Per signal (last axis), white noise's sigma: the MAD of its finest SIGMA_WAVELET detail
    coefficients / MAD_TO_SIGMA. Only the details whose window lies inside the signal count (an
    edge extension would add the signal's own edge to them); the median ignores the few a jump or
    a glitch touches. The filter has unit norm, so white noise of sigma gives details of sigma."""
    import pywt

    noisy = np.asarray(noisy, np.float64)
    high_pass = np.asarray(pywt.Wavelet(SIGMA_WAVELET).dec_hi)
    windows = np.lib.stride_tricks.sliding_window_view(noisy, len(high_pass), axis=-1)[..., ::2, :]
    details = windows @ high_pass
    return np.median(np.abs(details - np.median(details, -1, keepdims=True)), -1) / MAD_TO_SIGMA


# --- wavelet shrinkage ------------------------------------------------------------------

WAVELETS = ("haar", "db4", "sym8")  # a step's own basis, and two smooth ones of 8 and 16 taps
# Shares of the universal threshold (1: VisuShrink). Where the noise is low against the signal, its
# details hold more signal than noise and the smallest share does best; the full threshold, where
# the noise is high, already clears nearly every detail (larger ones change little).
THRESHOLD_FACTORS = (0.125, 0.25, 0.5, 0.75, 1.0)
EDGE_MODE = "symmetric"  # mirrored edges: a trend meets no jump at the ends (periodization wraps one)


def wavelet_levels(length: int, wavelet: str) -> int:
    """The deepest decomposition whose coarsest filter still fits in the signal (pywt's
    dwt_max_level); 0 where even the finest does not (the wavelet is skipped at that length)."""
    import pywt

    return pywt.dwt_max_level(length, pywt.Wavelet(wavelet).dec_len)


def wavelet_shrinkage(noisy: np.ndarray, wavelet: str, factor: float) -> np.ndarray:
    """Per signal (last axis): its discrete wavelet transform down to wavelet_levels, every detail
    coefficient soft-thresholded at factor x sigma x sqrt(2 ln length) (sigma: detail_sigma; the
    universal threshold, above which white noise's largest coefficient rarely reaches), and back.
    The coarsest approximation is kept whole: it holds the signal's mean and slowest trend.
    Factor 0 returns the input (the transform reconstructs exactly)."""
    import pywt

    noisy = np.asarray(noisy, np.float64)
    length = noisy.shape[-1]
    coefficients = pywt.wavedec(noisy, wavelet, mode=EDGE_MODE, level=wavelet_levels(length, wavelet), axis=-1)
    threshold = (factor * detail_sigma(noisy) * math.sqrt(2 * math.log(length)))[..., None]
    shrunk = [coefficients[0]] + [np.sign(d) * np.maximum(np.abs(d) - threshold, 0.0) for d in coefficients[1:]]
    return pywt.waverec(shrunk, wavelet, mode=EDGE_MODE, axis=-1)[..., :length]  # odd lengths come back one longer


def wavelet_grid(length: int) -> list[tuple[str, float]]:
    """(wavelet, factor) for every wavelet that decomposes `length` points at least once."""
    return [(w, f) for w in WAVELETS if wavelet_levels(length, w) >= 1 for f in THRESHOLD_FACTORS]


# --- total-variation denoising ----------------------------------------------------------

# lambda = weight x sigma, a factor of 2 apart. Past sqrt(length) sigmas lambda exceeds white noise's
# typical running sum over the whole signal, so a larger weight flattens more signal and no more
# noise: tv_grid stops there. The low end is for low noise, where a jump of a few sigmas is signal.
TV_WEIGHTS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def tv_grid(length: int) -> list[tuple[float]]:
    return [(w,) for w in TV_WEIGHTS if w <= math.sqrt(length)]


def total_variation(noisy: np.ndarray, weight: float) -> np.ndarray:
    """Per signal (last axis), the exact minimiser x of 0.5 ||x - y||^2 + lambda sum |x[i+1] - x[i]|,
    lambda = weight x detail_sigma(y): piecewise-constant stretches, jumps kept where the data
    insist. Weight 0 (or a noise-free signal) returns the input."""
    noisy = np.asarray(noisy, np.float64)
    flat = noisy.reshape(-1, noisy.shape[-1])
    lambdas = weight * detail_sigma(flat)
    out = flat.copy()
    for row, lam in enumerate(lambdas):
        if lam > 0:
            out[row] = taut_string(flat[row], float(lam))
    return out.reshape(noisy.shape)


def taut_string(y: np.ndarray, lam: float) -> np.ndarray:
    """The 1-D TV minimiser of one signal, exactly, in O(length). Its running sum F (F[0] = 0) is the
    shortest path from (0, 0) to (n, S[n]) that stays within lambda of the data's running sum S at
    every k in 1..n-1 (the dual's box |S - F| <= lambda); x[i] = F[i+1] - F[i]. The path is found as
    a funnel: from its last fixed point (the apex), a convex chain under the ceiling points S + lambda
    and a concave one over the floor points S - lambda. A new ceiling point below the floor chain's
    first slope fixes the floor chain's vertices up to where it is seen again (and so for a floor
    point above the ceiling chain); otherwise it replaces the chain's vertices it makes redundant.
    Every point enters and leaves each chain once."""
    mean = float(np.mean(y))
    n = len(y)
    out: list[float] = []
    apex = (0, 0.0)
    ceiling: deque[tuple[int, float]] = deque()
    floor: deque[tuple[int, float]] = deque()

    def fix(vertex: tuple[int, float]) -> None:
        """The path runs straight from the apex to `vertex`, the new apex: x is its slope there."""
        nonlocal apex
        out.extend([(vertex[1] - apex[1]) / (vertex[0] - apex[0])] * (vertex[0] - apex[0]))
        apex = vertex

    def fix_along(chain: deque, point: tuple[int, float], below: bool) -> None:
        """Move the apex along `chain` while `point` lies below (above) its next vertex as seen from
        the apex."""
        while chain and _beyond(apex, chain[0], point, below):
            fix(chain.popleft())

    def extend(chain: deque, point: tuple[int, float], opposite: deque, below: bool) -> None:
        if opposite and _beyond(apex, opposite[0], point, below):
            fix_along(opposite, point, below)
            chain.clear()  # the straight stretch from the new apex passes under (over) all of them
        else:
            while chain and not _beyond(chain[-2] if len(chain) > 1 else apex, chain[-1], point, not below):
                chain.pop()
        chain.append(point)

    running = 0.0
    for k, value in enumerate((np.asarray(y, np.float64) - mean).tolist(), 1):
        running += value  # the running sum of y - its mean: ends at 0, stays small
        reach = lam if k < n else 0.0
        extend(ceiling, (k, running + reach), floor, below=True)
        extend(floor, (k, running - reach), ceiling, below=False)
    for vertex in ceiling:  # it ends at (n, S[n]), one straight stretch away (a nearly collinear
        fix(vertex)         # vertex that rounding kept costs nothing)
    return np.asarray(out) + mean


def _beyond(origin: tuple[int, float], vertex: tuple[int, float], point: tuple[int, float], below: bool) -> bool:
    """Whether the slope from `origin` to `point` is below (`below`) or above that to `vertex`
    (strictly); both lie to the right of origin."""
    left = (point[1] - origin[1]) * (vertex[0] - origin[0])
    right = (vertex[1] - origin[1]) * (point[0] - origin[0])
    return left < right if below else left > right
