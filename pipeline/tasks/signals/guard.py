"""The do-no-harm guard: what the signal denoiser serves, and what the evaluation scores
(guarded_denoise). Each bound and why: docs/denoiser.md, "The do-no-harm guard"; the measurements
that chose a bound sit in the comment beside it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from . import MinMaxDenoiser, denoise
from .filters import (CLASSICAL, TREND_KEEP, Noise, adaptive_wiener, deglitch, estimate_noise, lack_of_fit,
                      ls_projection, robust_trend, savgol_trace, savitzky_golay, windows)
from .walk import local_level_dof, local_level_smoother, walk_fit, walk_keeps

# --- the do-no-harm guard --------------------------------------------------------------
# The model's answer, blended with the classical fallback_filter's where SURE shows that better
# (fallback_share), is served where it is acceptable (its residual looks like the noise the input
# carries, see `acceptable`); elsewhere the fallback's. Bounds: docs/denoiser.md, "The do-no-harm
# guard", steps 3, 5 and 6.

GUARD_MAX_ERROR = 0.8  # estimated error power of an output / the noise power of its input (1: no gain)
GUARD_MAX_SAME_SIGN = 0.6  # share of neighbouring residuals of one sign (white: 0.5; 0.6: correlation 0.3)
GUARD_SURE_Z = 2.0  # the fallback's share of a blend: its SURE-optimal share less this many standard errors
# A residual point counts at most this many sigmas: a glitch the 3-point median misses (two dropouts
# in a row, one at an end) and the network removes must not outweigh the whole check. Chosen on
# the validation signals: 8-24 score alike (docs/denoiser.md, "The do-no-harm guard", step 3).
GUARD_RESIDUAL_CLIP = 10.0
MODEL, TREND, BLEND, FALLBACK, WALK, INPUT = "model", "trend", "blend", "fallback", "walk", "input"  # an answer's path
# Shorter signals come back as they came (path "input"). On the sweep's 32-point validation signals
# the guarded answer was below the input in 34 of 56 groups (held-out kinds down to -10 dB, the
# trained kinds -0.2 dB on average): with a few samples across each feature, no estimate from one
# signal tells its noise from its content, and every path (the network, the polynomial expert, the
# fallback, removing flagged glitches) took content for noise somewhere. At 64 points the guard
# gained 1.8 dB (held-out) and 4.3 dB (trained) on average; 48 lies between the lengths measured
# (docs/denoiser.md, "Across lengths and noise kinds: the sweep").
GUARD_MIN_LENGTH = 48


def too_short(noisy: np.ndarray) -> np.ndarray:
    """(N,) bool: the signals the guard sends back as they came, those shorter than GUARD_MIN_LENGTH."""
    return np.full(len(noisy), np.shape(noisy)[-1] < GUARD_MIN_LENGTH)


def _residual_off_glitches(noisy: np.ndarray, denoised: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) residual input - output, zero at the input's glitches, and (N,) its mean power over
    the points left, each point's clipped at GUARD_RESIDUAL_CLIP sigmas (not where sigma is 0)."""
    kept = noise.glitches == 0
    residual = np.where(kept, np.asarray(noisy, np.float64) - denoised, 0.0)
    limit = np.where(noise.sigma > 0, GUARD_RESIDUAL_CLIP * noise.sigma, np.inf)[:, None]
    return residual, np.sum(np.square(np.clip(residual, -limit, limit)), -1) / np.maximum(kept.sum(-1), 1)


def acceptable(noisy: np.ndarray, denoised: np.ndarray, noise: Noise) -> np.ndarray:
    """Per signal: does the residual (input - output) look like the noise the input carries?
    Away from the input's glitches (which a good output removes), the residual's mean power is the
    white noise's plus the output's error (less a little: the noise the output kept); that error
    must stay below GUARD_MAX_ERROR x the input's noise power. Where white noise carries most of
    the noise power, the residual must also look white: neighbours of the same sign no more often
    than GUARD_MAX_SAME_SIGN (a sign test, blind to the size of the few glitches an estimate misses)."""
    residual, mean_square = _residual_off_glitches(noisy, denoised, noise)
    error = mean_square - np.square(noise.sigma)
    same_sign = np.mean(residual[..., 1:] * residual[..., :-1] > 0, -1)
    return (error <= GUARD_MAX_ERROR * noise.power) & (~noise.white | (same_sign <= GUARD_MAX_SAME_SIGN))

def sure(noisy: np.ndarray, denoised: np.ndarray, noise: Noise, divergence: np.ndarray | float) -> np.ndarray:
    """Stein's unbiased estimate of an output's mean squared error per point under white noise of
    sigma, away from the input's glitches: mean(r^2) - sigma^2 + 2 sigma^2 divergence / length,
    r = input - output; `divergence` is the trace of the output's derivative by the input."""
    _, mean_square = _residual_off_glitches(noisy, denoised, noise)
    return mean_square + np.square(noise.sigma) * (2 * divergence / noisy.shape[-1] - 1)


FALLBACK_WIENER_MAX_WINDOW = 21  # wider adaptive windows smooth like the Savitzky-Golay ones


def fallback_candidates(clean: np.ndarray):
    """(output, divergence) of every filter the fallback may pick: Savitzky-Golay filters, then
    adaptive Wiener filters (these keep jumps at 1-3 % noise, where smoothing across them costs
    more than the noise)."""
    length = clean.shape[-1]
    for window, polyorder in CLASSICAL["savgol"][1](length):
        yield savitzky_golay(clean, window, polyorder), savgol_trace(window, polyorder, length)
    for window in windows(length):
        if window <= FALLBACK_WIENER_MAX_WINDOW:
            yield adaptive_wiener(clean, window)


FALLBACK_CHUNK = 256  # signals scored at once: every candidate's output for them is held in memory


def fallback_filter(noisy: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """The guard's classical answer, label-free and per signal, and its divergence: the input
    without its glitches, smoothed by the acceptable candidate filter with the lowest SURE (the first
    such in fallback_candidates' order on a tie); not smoothed when none has a lower SURE than the
    input itself. Every candidate is scored at once, FALLBACK_CHUNK signals at a time."""
    if len(noisy) > FALLBACK_CHUNK:
        parts = [fallback_filter(noisy[i:i + FALLBACK_CHUNK], Noise(noise.sigma[i:i + FALLBACK_CHUNK],
                                                                     noise.glitches[i:i + FALLBACK_CHUNK]))
                 for i in range(0, len(noisy), FALLBACK_CHUNK)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    clean = deglitch(noisy, noise)
    count, length = len(clean), clean.shape[-1]
    outputs, divergences = [clean], [np.full(count, float(length))]  # first: not smoothed, the identity
    for out, divergence in fallback_candidates(clean):
        outputs.append(out)
        divergences.append(np.broadcast_to(divergence, (count,)))
    outputs, divergences = np.stack(outputs), np.stack(divergences)  # (K, N, L), (K, N)
    risk = sure(noisy, outputs, noise, divergences)
    # the identity (residual 0) is always acceptable; argmin takes the first of equal risks
    pick = np.argmin(np.where(acceptable(noisy, outputs, noise), risk, np.inf), 0)
    rows = np.arange(count)
    return outputs[pick, rows], divergences[pick, rows]


def _trimmed_residual_power(noisy: np.ndarray, denoised: np.ndarray, noise: Noise) -> np.ndarray:
    """(N,) mean of the TREND_KEEP share of smallest squared residuals (input - output) away from the
    input's glitches: how far an output strays from the input where the input is the signal (where
    glitches carry the noise) and the few glitches the estimate missed do not count."""
    kept = noise.glitches == 0
    ordered = np.sort(np.where(kept, np.square(np.asarray(noisy, np.float64) - denoised), np.inf), -1)
    count = np.maximum(np.floor(TREND_KEEP * kept.sum(-1)), 1)  # all glitches: inf, never preferred
    return np.sum(np.where(np.arange(ordered.shape[-1]) < count[:, None], ordered, 0.0), -1) / count


# A fit the test keeps is served unblended where the rest of its residual is no more than noise: at
# most this x sigma-hat^2 per point (on a 150-point polynomial their ratio is 1 give or take 21 %,
# sigma-hat's scatter most of that; 1.5 keeps 97-98 % of them, a test). Checked on the validation
# signals (docs/denoiser.md, "The do-no-harm guard", step 4).
SETTLED_MAX_NOISE_RATIO = 1.5


def prefer_trend(noisy: np.ndarray, clean: np.ndarray, noise: Noise, net: np.ndarray, net_divergence: np.ndarray,
                 degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(answer, its divergence, taken, settled): per signal, the network's polynomial expert taken whole where
    it is the better estimate, the network's output elsewhere. The network blends the expert in softly,
    a blend that stays near a half at high noise; but on a polynomial the least-squares fit is the
    best estimate, and from a clean input it is exact. `clean`: the input without its glitches.
    - White noise: the least-squares fit of the input without its glitches, where its residual is
      acceptable and either its SURE (exact: its divergence is degree + 1) is below the network's or
      the lack-of-fit test keeps it (lack_of_fit: the network's SURE, with its Monte-Carlo
      divergence, is too noisy to tell a polynomial at 30 % noise from a near one). `settled`:
      the test keeps it and the rest of its residual is no more than the noise
      (SETTLED_MAX_NOISE_RATIO), so no smoother can improve on it: the guard does not blend it.
    - Glitches (no white noise to speak of): the robust fit, where it strays from the input less
      than the network's output does (away from the glitches, over the nearest TREND_KEEP share of
      points: a glitch-free input there is the signal itself)."""
    fitted = ls_projection(clean, degree)
    net_risk = sure(noisy, net, noise, net_divergence)
    kept, leftover = lack_of_fit(clean, fitted, degree)
    white = noise.white & ((sure(noisy, fitted, noise, degree + 1) < net_risk) | kept) & acceptable(noisy, fitted, noise)
    settled = white & kept & (leftover <= SETTLED_MAX_NOISE_RATIO * np.square(noise.sigma))
    valid = noise.glitches == 0
    glitchy = ~noise.white & (valid.sum(-1) > 2 * (degree + 1))  # enough points to fit and to judge it
    robust = np.array(net, np.float64)
    robust[glitchy] = robust_trend(noisy[glitchy], valid[glitchy], degree)
    glitchy &= _trimmed_residual_power(noisy, robust, noise) < _trimmed_residual_power(noisy, net, noise)
    answer = np.where(white[:, None], fitted, np.where(glitchy[:, None], robust, net))
    return answer, np.where(white, degree + 1.0, net_divergence), white | glitchy, settled


@dataclass(frozen=True)
class Guarded:
    denoised: np.ndarray  # float32 (N, L): the answer
    net: np.ndarray  # float32 (N, L): the model's own output
    classical: np.ndarray  # (N, L): fallback_filter's output
    noise: Noise  # estimated from each input
    fallback_share: np.ndarray  # (N,) in [0, 1]: the fallback's share of the answer (1: the fallback alone)
    trend: np.ndarray  # (N,) bool: the model's share of the answer is its polynomial expert, taken whole
    walk: np.ndarray  # (N,) bool: the answer is the random-walk expert's (walk_fit, local_level_smoother)
    unchanged: np.ndarray  # (N,) bool: the answer is the input itself (shorter than GUARD_MIN_LENGTH)

    @property
    def path(self) -> np.ndarray:
        share = self.fallback_share
        return np.select([self.unchanged, self.walk, share == 1, share > 0, self.trend],
                         [INPUT, WALK, FALLBACK, BLEND, TREND], MODEL)


# Gaussian probes averaged per signal (one batched forward pass), in antithetic pairs (e, -e): more
# probes barely moved the validation gains and cost evaluation time (docs/denoiser.md: the probes,
# "The do-no-harm guard", step 5; why in pairs, "The served answer", invariances).
DIVERGENCE_PROBES = 2


def divergence_probes(noisy: np.ndarray) -> np.ndarray:
    """(DIVERGENCE_PROBES, N, L) standard Gaussian probes in pairs (e, -e), each signal's e drawn from
    a generator seeded by a hash of the order of its values' distances from their median (a stable
    argsort). That order, unlike the values' bytes, is the same in any unit, with any offset and for
    -x, so a signal gets the same probes in volts or millivolts and negated; with the pairs, an odd
    network's divergence estimate (net_and_divergence) is then the same for -x as for x."""
    distance = np.abs(noisy - np.median(noisy, -1, keepdims=True))
    order = np.argsort(distance, axis=-1, kind="stable").astype(np.int32)
    seeds = [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), "little") for row in order]
    shape = (DIVERGENCE_PROBES // 2, noisy.shape[-1])
    half = np.stack([np.random.default_rng(seed).standard_normal(shape) for seed in seeds], 1)
    return np.concatenate([half, -half])


def net_and_divergence(model: MinMaxDenoiser, noisy: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """The model's output (float32) and a Monte-Carlo estimate of the trace of its derivative by its
    input (Ramani et al., 2008): the mean over Gaussian probes e of e . (f(y + d e) - f(y)) / d,
    d = 0.1 x the noise level; the input and its probed copies go through the network together, in one
    pass. Each signal's probes are seeded by its values' order (divergence_probes): the same signal
    gets the same answer whatever request it comes in, wherever it is there, in whatever unit and
    with either sign, and different signals' probes are independent (one shared draw would err
    alike on every signal of a group)."""
    probes = divergence_probes(noisy)
    scale = np.maximum(np.sqrt(noise.power), 1e-3 * np.ptp(noisy, -1))  # relative to the signal: any unit
    step = 0.1 * np.maximum(scale, np.finfo(np.float32).tiny)[:, None]
    moved = (noisy + step * probes).reshape(-1, noisy.shape[-1])
    outputs = denoise(model, np.concatenate([noisy, moved]).astype(np.float32))
    net = outputs[: len(noisy)]
    change = outputs[len(noisy):].reshape(DIVERGENCE_PROBES, *noisy.shape).astype(np.float64) - net
    return net, np.mean(np.sum(probes * change, -1), 0) / step[:, 0]


# A point the 3-point median flags stays a glitch unless the network, given the raw input, keeps more
# than this share of its deviation from the median (the best of the shares tried on the validation
# signals; docs/denoiser.md, "The do-no-harm guard", step 1).
GLITCH_KEEP = 0.5


def confirm_glitches(model: MinMaxDenoiser, noisy: np.ndarray, noise: Noise) -> Noise:
    """`noise` without the flagged points the network takes for signal. From three points a glitch and
    a sharp detail look alike (a spike beside a square wave's edge, a one-sample piece); the network,
    trained on glitchy inputs, has seen both in context: given the raw input it removes a glitch and
    keeps a detail. One forward pass, for the signals with a flagged point only."""
    rows = np.flatnonzero((noise.glitches != 0).any(-1))
    if rows.size == 0:
        return noise
    glitches = noise.glitches[rows]
    median = np.asarray(noisy[rows], np.float64) - glitches
    answer = denoise(model, np.asarray(noisy[rows], np.float32)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 off the flagged points, masked below
        kept = (answer - median) / glitches
    confirmed = noise.glitches.copy()
    confirmed[rows] = np.where((glitches != 0) & (kept > GLITCH_KEEP), 0.0, glitches)
    return Noise(noise.sigma, confirmed)


def fallback_share(noisy: np.ndarray, answer: np.ndarray, answer_divergence: np.ndarray, fallback: np.ndarray,
                   fallback_divergence: np.ndarray, noise: Noise) -> np.ndarray:
    """(N,) the fallback's share w in the blend answer + w (fallback - answer), in [0, 1]: where
    white noise carries most of the noise (where SURE holds), the w with the lowest SURE less
    GUARD_SURE_Z standard errors of it (the model keeps the benefit of the doubt); 0 elsewhere.
    SURE of the blend is quadratic in w (its divergence is linear in w), lowest at
        w* = (mean(e d) - sigma^2 (div_fallback - div_answer) / length) / mean(d^2),
    e = input - answer, d = fallback - answer, means away from the input's glitches; the noise
    moves w* by sigma / (sqrt(length) rms(d)) (one standard error)."""
    kept, length = noise.glitches == 0, noisy.shape[-1]
    count = np.maximum(kept.sum(-1), 1)
    error, _ = _residual_off_glitches(noisy, answer, noise)
    apart = np.where(kept, fallback - answer, 0.0)
    spread = np.sum(np.square(apart), -1) / count  # mean(d^2); 0: the two answers agree
    divergence_term = np.square(noise.sigma) * (fallback_divergence - answer_divergence) / length
    with np.errstate(divide="ignore", invalid="ignore"):  # spread 0: masked below
        optimum = (np.sum(error * apart, -1) / count - divergence_term) / spread
        share = optimum - GUARD_SURE_Z * noise.sigma / np.sqrt(length * spread)
    return np.where(noise.white & (spread > 0), np.clip(np.nan_to_num(share), 0.0, 1.0), 0.0)


# One standard deviation of noise_sigma's estimate over the truth on white noise is about this / sqrt(length)
# (8 % at 150 points; measured on 20,000 white-noise signals each of 32-1,000 points).
NOISE_ESTIMATE_SPREAD = 1.0


def given_sigma_cap(estimate: np.ndarray, length: int) -> np.ndarray:
    """The highest white-noise level an input can hold: its estimate plus 4 standard deviations of the
    estimate (signal content only raises the estimate). A caller's level above it is a mistake (wrong
    units, another sensor's figure) that would have the guard smooth signal away: it is capped."""
    return estimate * (1 + 4 * NOISE_ESTIMATE_SPREAD / np.sqrt(length))


def guarded_denoise(model: MinMaxDenoiser, noisy: np.ndarray, noise_sigma: np.ndarray | float | None = None) -> Guarded:
    """The model's answer (its output, or its polynomial expert where prefer_trend takes it) blended
    with the classical fallback by fallback_share (not where the expert has settled it), where the
    answer and the blend are acceptable; the fallback elsewhere (an answer that fails the check
    gets no share). Where the input looks like a random walk plus white noise (walk_fit), the
    walk's own smoother instead, unless the answer above beats it by GCV (walk_keeps), and then its
    noise level is the one reported.
    `noise_sigma`: the white noise's level where the caller knows it (a sensor's datasheet), one
    value or one per signal, used instead of the estimate up to given_sigma_cap. Glitches are still
    flagged against the estimate: they are judged by the input's own roughness (below a rough
    signal's level, its own steps would count as glitches).
    Signals shorter than GUARD_MIN_LENGTH come back as they came (too_short)."""
    noise = estimate_noise(noisy)
    if noise_sigma is not None:
        given = np.broadcast_to(np.asarray(noise_sigma, np.float64), noise.sigma.shape)
        noise = Noise(np.minimum(given, given_sigma_cap(noise.sigma, noisy.shape[-1])), noise.glitches)
    noise = confirm_glitches(model, noisy, noise)
    # The network sees the input without its glitches: trained on glitchy inputs, it still denoises
    # the rest better once they are gone (docs/denoiser.md, "The do-no-harm guard", step 1).
    clean = deglitch(noisy, noise)
    given = clean.astype(np.float32)
    net, divergence = net_and_divergence(model, given, noise)
    classical, classical_divergence = fallback_filter(noisy, noise)
    unchanged = too_short(noisy)
    if unchanged.all():  # (a request's signals have one length) the network's and the fallback's
        # answers stay beside the input for the evaluation, which scores each of them
        nowhere = np.zeros(len(noisy), bool)
        return Guarded(np.asarray(noisy, np.float32).copy(), net, classical, noise, np.zeros(len(noisy)), nowhere,
                       nowhere, unchanged)
    answer = net
    trend = settled = np.zeros(len(noisy), bool)
    if model.trend_degree >= 0:
        answer, divergence, trend, settled = prefer_trend(noisy, clean, noise, net, divergence, model.trend_degree)
    share = np.where(settled, 0.0, fallback_share(noisy, answer, divergence, classical, classical_divergence, noise))
    blend = answer + share[:, None] * (classical - answer)
    share = np.where(acceptable(noisy, answer, noise) & acceptable(noisy, blend, noise), share, 1.0)
    denoised = np.where((share == 1)[:, None], classical, blend).astype(np.float32)
    walk = np.zeros(len(noisy), bool)
    if noise_sigma is None:  # a level the caller gives already keeps a walk on the paths above
        # (docs/denoiser.md, "When the caller knows the noise level")
        fit = walk_fit(clean, noise.sigma)
        walk = fit.taken.copy()  # narrowed below to the inputs whose walk answer stands
        if walk.any():
            smoothed = local_level_smoother(clean[walk], fit.smoothing[walk])
            denoised_divergence = divergence + share * (classical_divergence - divergence)  # linear in the share
            keeps = walk_keeps(clean[walk], smoothed, local_level_dof(fit.smoothing[walk]), denoised[walk],
                               denoised_divergence[walk])
            denoised[np.flatnonzero(walk)[keeps]] = smoothed[keeps]
            walk[walk] = keeps
            noise, share = Noise(np.where(walk, fit.sigma, noise.sigma), noise.glitches), np.where(walk, 0.0, share)
    return Guarded(denoised, net, classical, noise, share, trend & (share < 1) & ~walk, walk, unchanged)


def median_flag_fallback(noisy: np.ndarray, guarded: Guarded) -> np.ndarray:
    """The guard's fallback filter with the glitches the 3-point median flags, no network involved
    (a classical baseline): `guarded`'s own fallback where the network confirmed every flag, computed
    again only for the other signals (the filter works signal by signal)."""
    flagged = estimate_noise(noisy)
    changed = np.flatnonzero((flagged.glitches != guarded.noise.glitches).any(-1))
    fallback = np.array(guarded.classical, np.float64)
    if changed.size:
        fallback[changed] = fallback_filter(noisy[changed], Noise(flagged.sigma[changed], flagged.glitches[changed]))[0]
    return fallback
