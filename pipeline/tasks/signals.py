"""Signals task: denoise 1-D signals, scored per family x noise next to classical filters.

Quality is the SNR gain in dB of a denoiser over its noisy input, for one group of signals
(one family x noise pair of the held-out test file):

    gain = 10 * log10( sum((noisy - pure)^2) / sum((denoised - pure)^2) )

summed over every point of every signal in the group (so it is the ratio of the group's
noise energy to its residual energy, not a mean of per-signal ratios), counted at most
GAIN_CEILING_DB (60: exact up to rounding). Returning the noisy input unchanged gains 0 dB; a
filter that distorts more than it removes gains < 0 dB.

Baselines, each tuned per group on the VALIDATION signals and scored on the test signals:
moving average, Savitzky-Golay and Wiener (scipy), windows up to half the signal length
(a local smoother: Savitzky-Golay of order 2 with a window of the whole signal would be the
least-squares projection below). Where the family is a linear space (the quadratic families) the
least-squares projection onto {1, x, x^2} is reported as well: under Gaussian noise it is
the ceiling for any estimator that knows the family, 10*log10(length / 3) dB on average
(17.0 dB at 150 points). For the fixed `quadratic` family the curve itself is known, so a
model may beat it there; under glitches a robust fit may too. A fifth, label-free baseline is
the guard's own fallback (glitches removed, then a Savitzky-Golay or adaptive Wiener filter
picked per signal by SURE);
"the best classical filter" of a group is the best of all of them and the noisy input.

What is served and scored is the guarded model (guarded_denoise): the network's output (the
network given the input with its glitches replaced by the running median), or its polynomial
expert taken whole where that is the better estimate (prefer_trend), blended with the fallback
as far as SURE shows the blend better (fallback_share), where the result's residual looks like
the noise the input carries; the fallback elsewhere; and where the input's increments look like a
random walk's under white noise (walk_fit), the walk's own smoother. Families in `held_out` (SignalSet) are
never trained on: their groups score the guarded model on kinds of signal it has not seen.

Why each bound of the guard is where it is, with the measurements that set it and the variants
that were tried and not adopted: signals.md beside this file.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import correlate1d, median_filter, uniform_filter1d
from scipy.signal import savgol_coeffs, wiener
from scipy.stats import chi2
from scipy.stats import f as f_distribution
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from ..data.signals import TEST_FILE, TRAIN_FILE, SignalSet, load_signal_set
from ..errors import DataError, ParamsError, PayloadError
from . import Evaluation, Prepared, Verdict

MIN_LENGTH = 16  # shortest signal the improved model accepts (and params allow)
LINEAR_FAMILIES = {"quadratic": 2, "random_quadratic": 2}  # family -> polynomial degree of its space
WINDOW_GRID = (3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 61, 75, 101, 151, 201)  # odd windows tried, <= length/2
SAVGOL_ORDERS = (1, 2, 3, 4)


# --- per-signal min-max scaling -------------------------------------------------------


def minmax(noisy: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, L) -> each signal scaled to [0, 1] by its own min and max, plus (low, span) to undo it. A
    span below `eps` x the signal's largest magnitude counts as that much, so a constant signal stays
    constant, in whatever unit it comes."""
    low, high = noisy.amin(-1, keepdim=True), noisy.amax(-1, keepdim=True)
    floor = (eps * torch.maximum(low.abs(), high.abs())).clamp_min(torch.finfo(noisy.dtype).tiny)
    span = torch.maximum(high - low, floor)
    return (noisy - low) / span, low, span


# --- the noise an input carries, estimated from the input alone ------------------------

GLITCH_SIGMAS = 5.0  # a point further than this many sigmas from its 3-point median is a glitch


def _mad(values: np.ndarray) -> np.ndarray:
    """Median absolute deviation from the median along the last axis, per row."""
    return np.median(np.abs(values - np.median(values, -1, keepdims=True)), -1)


def _difference_sigma(noisy: np.ndarray, order: int) -> np.ndarray:
    """Per signal, the MAD of its differences of `order` / (0.6745 x their noise gain): white noise
    of sigma gives differences of sigma x sqrt(binomial(2 order, order))."""
    gain = np.sqrt(math.comb(2 * order, order))
    return _mad(np.diff(np.asarray(noisy, np.float64), order, axis=-1)) / (0.6745 * gain)


# On white noise the fourth-difference estimate over the second-difference one is 1 give or take
# this / sqrt(length) (one standard deviation; measured on 20,000 signals of 64-1,000 points, a
# little more below); the fourth is taken where it is lower by more than 4 of them.
ROUGHNESS_RATIO_SPREAD = 0.85


def noise_sigma(noisy: np.ndarray) -> np.ndarray:
    """Per signal, the white-noise sigma: the MAD of its second differences / (0.6745 * sqrt(6)).
    Second differences cancel lines and nearly cancel smooth curves (the MAD also removes a
    constant curvature); the median ignores sparse glitches and the few differences a jump touches.
    Content that changes within a few samples (a rough Gaussian-process draw) passes second
    differences too and reads as noise; fourth differences pass less of it and as much of the noise.
    Where their estimate is lower than white noise would explain (see ROUGHNESS_RATIO_SPREAD), the
    signal inflated the second differences, and the fourth differences' estimate is taken."""
    noisy = np.asarray(noisy, np.float64)
    second, fourth = _difference_sigma(noisy, 2), _difference_sigma(noisy, 4)
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


def to_training_units(noisy: torch.Tensor, scaled: torch.Tensor, targets: str) -> torch.Tensor:
    """Signals on their noisy input's [0, 1] scale -> the units a model trains in:
    `scaled` as they are (the notebook's), `raw` back in the input's units."""
    if targets == "scaled":
        return scaled
    _, low, span = minmax(noisy)
    return low + span * scaled


class MinMaxDenoiser(nn.Module):
    """Takes raw signals (N, L); scales each by its own min-max around `core` (N, 1, L) -> (N, 1, L).

    forward() answers in the units the model trains on (`targets`, see to_training_units);
    denoise() always answers in raw units.
    """

    fixed_length = False  # True: serves only signals of the training length
    trend_degree = -1  # the degree of the polynomial expert the guard may take whole; -1: none

    def __init__(self, targets: str):
        super().__init__()
        self.targets = targets

    def core(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scaled(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.core(minmax(noisy)[0].unsqueeze(1)).squeeze(1)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return to_training_units(noisy, self.scaled(noisy), self.targets)

    def denoise(self, noisy: torch.Tensor) -> torch.Tensor:
        return to_training_units(noisy, self.scaled(noisy), "raw")


class SeedDenoiser(MinMaxDenoiser):
    """The notebook's Keras autoencoder: valid convs down, transposed convs back, sigmoid out.

    Conv1D(128,k3,relu) -> Conv1D(32,k3,relu) -> ConvTranspose1D(32,k3,relu) ->
    ConvTranspose1D(128,k3,relu) -> Conv1D(1,k3,same,sigmoid); 28,737 parameters. He-uniform
    kernels, zero biases, and Keras' max_norm(2.0) (default axis 0 = the kernel-width axis:
    every (in, out) kernel vector is rescaled to norm <= 2) after each optimizer step.
    Its input shape is fixed, (150, 1) in the notebook: it serves the training length only.
    """

    fixed_length = True

    def __init__(self, max_norm: float = 2.0):
        super().__init__("scaled")
        self.max_norm = max_norm
        self.net = nn.Sequential(
            nn.Conv1d(1, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 1, 3, padding=1), nn.Sigmoid(),
        )
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # Keras he_uniform
                nn.init.zeros_(layer.bias)
        self.constrain_()

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SeedDenoiser:
        return cls(block["max_norm"])

    def core(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Keras max_norm: called by the training loop after every optimizer step."""
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                norm = layer.weight.norm(dim=-1, keepdim=True)
                layer.weight.mul_(norm.clamp(max=self.max_norm) / norm.clamp_min(1e-7))


class _Stage(nn.Module):
    """Two 'same' convolutions with a residual connection, at one resolution."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding="same")
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding="same")

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.gelu(self.conv1(F.gelu(h))))


def polynomial_trend(z: torch.Tensor, degree: int) -> torch.Tensor:
    """Least-squares fit of a polynomial of `degree` along the last axis, for any length."""
    t = torch.linspace(-1, 1, z.shape[-1], dtype=torch.float64, device=z.device)
    q, _ = torch.linalg.qr(torch.stack([t**k for k in range(degree + 1)], 1))
    q = q.to(z.dtype)
    return (z @ q) @ q.T


def trend_fit_statistics(z: torch.Tensor, trend: torch.Tensor) -> torch.Tensor:
    """(N, 1, L) -> (N, 2), both about 0 when the signal is the trend plus white Gaussian noise:

    - misfit: log of the trend's residual power over the noise power seen by second
      differences (which cancel lines and nearly cancel smooth curves); large when the
      trend misses structure;
    - glitchiness: log of the second differences' power over its robust estimate from their
      median absolute value; large when a few points (spikes, dropouts, jumps) carry it.
    """
    second = z[..., 2:] - 2 * z[..., 1:-1] + z[..., :-2]
    power = second.square().mean(-1)
    misfit = torch.log(((z - trend).square().mean(-1) + 1e-12) / (power / 6 + 1e-12))
    robust = (second.abs().median(-1).values / 0.6745).square()
    return torch.cat([misfit, torch.log((power + 1e-12) / (robust + 1e-12))], 1)


class SignalDenoiser(MinMaxDenoiser):
    """Residual 1-D U-Net with global context; fully convolutional, any length >= 16.

    The scaled signal (and, with trend_degree >= 0, its least-squares polynomial trend) is
    padded (edge values repeated) to a multiple of 2**levels, encoded by residual stages and
    stride-2 convolutions, mixed at the coarsest level with its mean over time (global
    context: which family, how much noise), decoded by transposed convolutions with skip
    connections, and cropped back. The network predicts a correction added to its input, so
    the identity is its easy starting point.

    With a trend, a switch blends the two experts: out = g * trend + (1 - g) * (input +
    correction). Low-order polynomials are a linear space where the least-squares fit is the
    best estimator under white noise; the switch lets the network use it exactly instead of
    approximating it with convolutions. g is computed from the global context and two fit
    statistics, initialised as a goodness-of-fit test (trend where the residual looks like
    white Gaussian noise) that training refines; a switch that had to discover this from
    scratch did so for some random initialisations and not others.
    """

    def __init__(self, channels: int, levels: int, kernel_size: int, trend_degree: int, targets: str):
        super().__init__(targets)
        self.levels, self.trend_degree = levels, trend_degree
        self.inp = nn.Conv1d(1 if trend_degree < 0 else 2, channels, kernel_size, padding="same")
        self.enc = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.down = nn.ModuleList(nn.Conv1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.mid = _Stage(channels, 3)
        self.context = nn.Linear(channels, channels)
        self.switch = nn.Linear(channels + 2, 1) if trend_degree >= 0 else None
        if self.switch is not None:  # start as a goodness-of-fit test: the trend where it fits
            nn.init.zeros_(self.switch.weight)
            nn.init.constant_(self.switch.weight[:, -2:], -4.0)  # g = sigmoid(4 - 4 (misfit + glitchiness))
            nn.init.constant_(self.switch.bias, 4.0)
        self.up = nn.ModuleList(nn.ConvTranspose1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.merge = nn.ModuleList(nn.Conv1d(2 * channels, channels, 1) for _ in range(levels))
        self.dec = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.out = nn.Conv1d(channels, 1, 1)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SignalDenoiser:
        return cls(block["channels"], block["levels"], block["kernel_size"], block["trend_degree"], block["targets"])

    def core(self, z: torch.Tensor) -> torch.Tensor:
        length = z.shape[-1]
        pad = -length % 2**self.levels
        trend = None if self.switch is None else polynomial_trend(z, self.trend_degree)
        x = z if trend is None else torch.cat([z, trend], 1)
        h = self.inp(F.pad(x, (pad // 2, pad - pad // 2), mode="replicate"))
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        context = h.mean(-1)
        h = h + self.context(context).unsqueeze(-1)
        for i in reversed(range(self.levels)):
            h = self.up[i](h)
            h = self.dec[i](self.merge[i](torch.cat([h, skips[i]], 1)))
        denoised = z + self.out(h)[..., pad // 2 : pad // 2 + length]
        if trend is None:
            return denoised
        g = torch.sigmoid(self.switch(torch.cat([context, trend_fit_statistics(z, trend)], 1))).unsqueeze(-1)
        return g * trend + (1 - g) * denoised


# --- data -----------------------------------------------------------------------------


def stratified_split(signal_set: SignalSet, train: float, val: float, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, val) taking the same fractions of every family x noise group.

    Validation is each group's first `val` fraction and training the next `train` fraction,
    so models with the same `val` share their validation signals (and tuned baselines).
    Rows within a group are independent draws: no shuffle is needed here.
    """
    train_rows, val_rows = [], []
    for g in np.unique(signal_set.group):
        rows = np.flatnonzero(signal_set.group == g)
        n_val, n_train = int(len(rows) * val), int(len(rows) * train)
        if min(n_val, n_train) < 1:
            raise ParamsError(key, f"train={train:g}, val={val:g} of {len(rows)} signals per family x noise "
                                   "leaves an empty part; raise signals.n_per_family")
        val_rows.append(rows[:n_val])
        train_rows.append(rows[n_val : n_val + n_train])
    return np.concatenate(train_rows), np.concatenate(val_rows)


def _tensors(s: SignalSet, targets: str) -> TensorDataset:
    noisy, pure = torch.from_numpy(s.noisy.copy()), torch.from_numpy(s.pure.copy())
    _, low, span = minmax(noisy)
    scaled = (pure - low) / span
    if targets == "scaled":  # the notebook's: pure on its noisy signal's [0, 1] scale, clipped for BCE
        scaled = scaled.clamp(0, 1)
    return TensorDataset(noisy, to_training_units(noisy, scaled, targets))


def _layout(s: SignalSet) -> tuple:
    return s.family_names, s.noise_names, s.held_out


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared:
    full = load_signal_set(Path(data_dir) / TRAIN_FILE)
    test = load_signal_set(Path(data_dir) / TEST_FILE)
    if _layout(full) != _layout(test) or not np.array_equal(full.x, test.x):
        raise DataError(Path(data_dir) / TEST_FILE, "grid, families, held-out kinds or noises differ from the "
                                                    "training file; regenerate both with "
                                                    "`python -m pipeline.generate_signals`")
    train_rows, val_rows = stratified_split(full, block["split"]["train"], block["split"]["val"], f"{key}.split")
    train, val = full.take(train_rows), full.take(val_rows)
    meta = {
        "length": len(full.x),
        "families": list(full.family_names),
        "noises": list(full.noise_names),
        "held_out_kinds": list(full.held_out),
    }
    return Prepared(  # held-out kinds: in `raw` (to tune the classical filters, to score), never in a tensor
        train=_tensors(train.take(train.trainable), block["targets"]),
        val=_tensors(val.take(val.trainable), block["targets"]),
        test=_tensors(test, block["targets"]),
        meta=meta,
        raw={"val": val, "test": test},
    )


@torch.no_grad()
def denoise(model: MinMaxDenoiser, noisy: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw noisy signals (N, L) -> denoised (N, L) float32 in the same units. In batches of 256: the
    activations stay in the CPU's caches (9,800 test signals through the seed model: 2.2 s, 5.7 s in
    batches of 2,048; outputs equal within 2.4e-7)."""
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.denoise(torch.tensor(noisy[i : i + batch_size], dtype=torch.float32, device=device))
        for i in range(0, len(noisy), batch_size)
    ]
    return torch.cat(parts).cpu().numpy()


def epoch_metrics(model: MinMaxDenoiser, prepared: Prepared) -> dict[str, float]:
    """Per epoch: the validation MSE in the signals' own units, one scale for both denoisers (the
    seed's BCE on [0, 1]-scaled targets and the improved model's MSE are not comparable)."""
    val = prepared.raw["val"]
    return {"val_mse_raw": float(np.mean(np.square(denoise(model, val.noisy) - val.pure, dtype=np.float64)))}


# --- SNR gain and classical baselines -------------------------------------------------


# An answer this far below the noise is the signal (a polynomial fitted exactly under glitches comes
# back at ~140 dB, float32 rounding): gains count at most this, so means over groups, and the gate's
# score, are not ruled by rounding.
GAIN_CEILING_DB = 60.0


def snr_gain_db(noisy: np.ndarray, pure: np.ndarray, denoised: np.ndarray) -> float:
    """10*log10(sum((noisy - pure)^2) / sum((denoised - pure)^2)) over all points given, in float64,
    at most GAIN_CEILING_DB."""
    noise = np.sum((np.asarray(noisy, np.float64) - pure) ** 2)
    residual = np.sum((np.asarray(denoised, np.float64) - pure) ** 2)
    with np.errstate(divide="ignore"):  # an exact answer: infinite gain, capped
        return float(min(10 * np.log10(noise / residual), GAIN_CEILING_DB))


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
# direction is F-distributed whatever sigma is. Chosen on the validation signals (signals.md,
# "Do-no-harm guard").
LACK_OF_FIT_TERMS = 16
LACK_OF_FIT_LEVEL = 0.05  # the share of true polynomials the test rejects
# A fit the test keeps is served unblended where the rest of its residual is no more than noise: at
# most this x sigma-hat^2 per point (on a 150-point polynomial their ratio is 1 give or take 21 %,
# sigma-hat's scatter most of that; 1.5 keeps 97-98 % of them, a test). Checked on the validation
# signals (signals.md, "Do-no-harm guard").
SETTLED_MAX_NOISE_RATIO = 1.5


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


CLASSICAL: dict[str, tuple[Callable[..., np.ndarray], Callable[[int], list[tuple]]]] = {
    "moving_average": (moving_average, lambda n: [(w,) for w in windows(n)]),
    "savgol": (savitzky_golay, lambda n: [(w, p) for w in windows(n) for p in SAVGOL_ORDERS if p < w]),
    "wiener": (wiener_filter, lambda n: [(w,) for w in windows(n)]),
}
PARAM_NAMES = {"moving_average": ("window",), "savgol": ("window", "polyorder"), "wiener": ("window",)}


# --- the random-walk expert -----------------------------------------------------------
# A Brownian path's own steps outweigh 1-3 % noise at every frequency: sigma-hat reads them as noise
# (~3.5x too high at 1 %) and every smoother then takes signal away. But a walk's steps are white:
# the input's increments (jumps left out) are white steps plus differenced white noise, whose
# autocorrelation is -sigma^2 / (q^2 + 2 sigma^2) at lag 1 and 0 beyond. Smooth content correlates
# them at every short lag, peaks and bursts make their variance uneven; a walk does neither. Where
# an input's increments pass all the tests below, the answer is the smoother that is optimal for a walk
# plus white noise, with both levels read from the increments (walk_levels); across the jumps left
# out it does not smooth (a jump smoothed at 1 % noise costs more than all the noise). Bounds chosen
# on the validation signals (signals.md, "Do-no-harm guard", step 7).
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
# takes no walk above r ~ 0.5. Low ends of 1e-5 / 1e-4 / 1e-3 gave -0.27 / -0.27 / -0.33 dB on the
# validation walks at sigma 0.01 (signals.md, "Do-no-harm guard", step 7).
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
    spread = 1.4826 * _mad(steps)[:, None]  # a robust SD; 0 where most increments are equal (flat pieces)
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


def _local_level_elimination(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(diagonal, pivots, multipliers) of Gaussian elimination, first row down, on the tridiagonal
    I + D' W D with weights `lam` (N, L-1): diagonal 1 + lam_t-1 + lam_t, off-diagonal -lam_t. The
    pivots are diagonal_t + lam_t-1 m_t-1, the multipliers m_t = -lam_t / pivot_t (no pivoting: the
    matrix is diagonally dominant)."""
    diagonal = 1 + np.pad(lam, ((0, 0), (1, 0))) + np.pad(lam, ((0, 0), (0, 1)))
    pivots, multipliers = np.empty_like(diagonal), np.empty_like(lam)
    pivots[:, 0] = diagonal[:, 0]
    for i in range(1, diagonal.shape[-1]):
        multipliers[:, i - 1] = -lam[:, i - 1] / pivots[:, i - 1]
        pivots[:, i] = diagonal[:, i] + lam[:, i - 1] * multipliers[:, i - 1]
    return diagonal, pivots, multipliers


def local_level_smoother(noisy: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
    """Per signal, the x minimising |noisy - x|^2 + sum_t smoothing_t (x_t+1 - x_t)^2, `smoothing`
    (N, L-1) one weight per increment: with sigma^2 / step variance on every increment, the exact
    posterior mean of a random walk under white noise (the steady-state Kalman smoother); a weight
    of 0 leaves a jump alone. A tridiagonal system, solved for all signals at once (Thomas'
    algorithm, _local_level_elimination); all weights 0 return the input."""
    y = np.asarray(noisy, np.float64)
    lam = np.asarray(smoothing, np.float64)
    _, pivot, forward = _local_level_elimination(lam)
    rhs = np.empty_like(y)
    rhs[:, 0] = y[:, 0] / pivot[:, 0]
    for i in range(1, y.shape[-1]):
        rhs[:, i] = (y[:, i] + lam[:, i - 1] * rhs[:, i - 1]) / pivot[:, i]
    out = np.empty_like(y)
    out[:, -1] = rhs[:, -1]
    for i in range(y.shape[-1] - 2, -1, -1):
        out[:, i] = rhs[:, i] - forward[:, i] * out[:, i + 1]
    return out


def local_level_dof(smoothing: np.ndarray) -> np.ndarray:
    """(N,) the degrees of freedom of local_level_smoother with these weights: the trace of its
    matrix (I + D' W D)^-1 (the input's length for weights 0). Each diagonal element of a tridiagonal
    matrix's inverse is 1 / (forward pivot + backward pivot - diagonal), the pivots of Gaussian
    elimination run from either end; run from the last row up, it is the elimination of the same
    system with its weights reversed."""
    lam = np.asarray(smoothing, np.float64)
    diagonal, forward, _ = _local_level_elimination(lam)
    backward = _local_level_elimination(lam[:, ::-1])[1][:, ::-1]
    return np.sum(1 / (forward + backward - diagonal), -1)


# Where the walk expert smooths (its smoother keeps under WALK_GCV_MAX_DOF of the input's degrees of
# freedom), its answer must not lose to the guard's own by generalized cross-validation, mean squared
# residual / (1 - dof / length)^2, which needs no noise level: a smooth signal at 3-30 % noise that
# the walk tests take by chance is better served by the guard's answer, and GCV shows it. Where the
# smoother keeps more (a walk at 1 % noise keeps ~95 %), GCV divides by too small a number to judge.
# Chosen on the validation signals and a fresh sample (signals.md, "Do-no-harm guard", step 7).
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


# --- the do-no-harm guard --------------------------------------------------------------
# The model's answer, blended with the classical fallback_filter's where SURE shows that better
# (fallback_share), is served where it is acceptable (its residual looks like the noise the input
# carries, see `acceptable`); elsewhere the fallback's. Bounds: signals.md, "Do-no-harm guard".

GUARD_MAX_ERROR = 0.8  # estimated error power of an output / the noise power of its input (1: no gain)
GUARD_MAX_SAME_SIGN = 0.6  # share of neighbouring residuals of one sign (white: 0.5; 0.6: correlation 0.3)
GUARD_SURE_Z = 2.0  # the fallback's share of a blend: its SURE-optimal share less this many standard errors
# A residual point counts at most this many sigmas: a glitch the 3-point median misses (two dropouts
# in a row, one at an end) and the network removes must not outweigh the whole check. Chosen on
# the validation signals: 8-24 score alike (signals.md, "Do-no-harm guard").
GUARD_RESIDUAL_CLIP = 10.0
MODEL, TREND, BLEND, FALLBACK, WALK = "model", "trend", "blend", "fallback", "walk"  # the path an answer took


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
    same_sign = np.mean(residual[:, 1:] * residual[:, :-1] > 0, -1)
    return (error <= GUARD_MAX_ERROR * noise.power) & (~noise.white | (same_sign <= GUARD_MAX_SAME_SIGN))


def savgol_trace(window: int, polyorder: int, length: int) -> float:
    """Trace of the linear map savitzky_golay(., window, polyorder) on `length` points: the
    projection's leverage at the window's centre inside, at the edge points near the edges
    (scipy's `interp` mode fits one polynomial to each end window)."""
    leverage, half = np.diag(_savgol_operator(window, polyorder)[1]), window // 2
    return float((length - 2 * half) * leverage[half] + 2 * leverage[:half].sum())


def sure(noisy: np.ndarray, denoised: np.ndarray, noise: Noise, divergence: np.ndarray | float) -> np.ndarray:
    """Stein's unbiased estimate of an output's mean squared error per point under white noise of
    sigma, away from the input's glitches: mean(r^2) - sigma^2 + 2 sigma^2 divergence / length,
    r = input - output; `divergence` is the trace of the output's derivative by the input."""
    _, mean_square = _residual_off_glitches(noisy, denoised, noise)
    return mean_square + np.square(noise.sigma) * (2 * divergence / noisy.shape[-1] - 1)


FALLBACK_WIENER_MAX_WINDOW = 21  # wider adaptive windows smooth like the Savitzky-Golay ones


def _fallback_candidates(clean: np.ndarray):
    """(output, divergence) of every filter the fallback may pick: Savitzky-Golay filters, then
    adaptive Wiener filters (these keep jumps at 1-3 % noise, where smoothing across them costs
    more than the noise)."""
    length = clean.shape[-1]
    for window, polyorder in CLASSICAL["savgol"][1](length):
        yield savitzky_golay(clean, window, polyorder), savgol_trace(window, polyorder, length)
    for window in windows(length):
        if window <= FALLBACK_WIENER_MAX_WINDOW:
            yield adaptive_wiener(clean, window)


def fallback_filter(noisy: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """The guard's classical answer, label-free and per signal, and its divergence: the input
    without its glitches, smoothed by the acceptable candidate filter with the lowest SURE; not
    smoothed when none is acceptable."""
    clean = deglitch(noisy, noise)
    best, best_divergence = clean, np.full(len(clean), float(clean.shape[-1]))  # not smoothed: the identity
    best_risk = sure(noisy, clean, noise, best_divergence)
    for out, divergence in _fallback_candidates(clean):
        risk = sure(noisy, out, noise, divergence)
        better = (risk < best_risk) & acceptable(noisy, out, noise)
        best, best_risk = np.where(better[:, None], out, best), np.where(better, risk, best_risk)
        best_divergence = np.where(better, divergence, best_divergence)
    return best, best_divergence


def _trimmed_residual_power(noisy: np.ndarray, denoised: np.ndarray, noise: Noise) -> np.ndarray:
    """(N,) mean of the TREND_KEEP share of smallest squared residuals (input - output) away from the
    input's glitches: how far an output strays from the input where the input is the signal (where
    glitches carry the noise) and the few glitches the estimate missed do not count."""
    kept = noise.glitches == 0
    ordered = np.sort(np.where(kept, np.square(np.asarray(noisy, np.float64) - denoised), np.inf), -1)
    count = np.maximum(np.floor(TREND_KEEP * kept.sum(-1)), 1)  # all glitches: inf, never preferred
    return np.sum(np.where(np.arange(ordered.shape[-1]) < count[:, None], ordered, 0.0), -1) / count


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

    @property
    def path(self) -> np.ndarray:
        share = self.fallback_share
        return np.select([self.walk, share == 1, share > 0, self.trend], [WALK, FALLBACK, BLEND, TREND], MODEL)


# Gaussian probes averaged per signal (one batched forward pass). Going from 4 to 2 moved the test
# groups' gains by -0.02 dB on average (at most 0.27 dB) and saved a third of the evaluation.
DIVERGENCE_PROBES = 2


def _divergence_probes(noisy: np.ndarray) -> np.ndarray:
    """(DIVERGENCE_PROBES, N, L) standard Gaussian probes, each signal's drawn from a generator seeded
    by a hash of the order of its values (a stable argsort). The order, unlike the values' bytes, is
    the same in any unit and with any offset, so a signal in volts or millivolts gets the same probes."""
    order = np.argsort(noisy, axis=-1, kind="stable").astype(np.int32)
    seeds = [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), "little") for row in order]
    shape = (DIVERGENCE_PROBES, noisy.shape[-1])
    return np.stack([np.random.default_rng(seed).standard_normal(shape) for seed in seeds], 1)


def net_divergence(model: MinMaxDenoiser, noisy: np.ndarray, noise: Noise, net: np.ndarray) -> np.ndarray:
    """Monte-Carlo estimate of the trace of the model's derivative by its input (Ramani et al.,
    2008): the mean over Gaussian probes e of e . (f(y + d e) - f(y)) / d, d = 0.1 x the noise
    level. Each signal's probes are seeded by the order of its values (_divergence_probes): the same
    signal gets the same answer whatever request it comes in, wherever it is there and in whatever
    unit, and different signals' probes are independent (one shared draw would err alike on every
    signal of a group)."""
    probes = _divergence_probes(noisy)
    scale = np.maximum(np.sqrt(noise.power), 1e-3 * np.ptp(noisy, -1))  # relative to the signal: any unit
    step = 0.1 * np.maximum(scale, np.finfo(np.float32).tiny)[:, None]
    moved = denoise(model, (noisy + step * probes).reshape(-1, noisy.shape[-1]).astype(np.float32))
    change = moved.reshape(DIVERGENCE_PROBES, *noisy.shape).astype(np.float64) - net
    return np.mean(np.sum(probes * change, -1), 0) / step[:, 0]


# A point the 3-point median flags stays a glitch unless the network, given the raw input, keeps more
# than this share of its deviation from the median (chosen on the validation signals: 0.3 / 0.5 / 0.7
# gave 63 / 64 / 64 of 70 groups, mean gains 12.37 / 13.05 / 12.92 dB; signals.md, "Do-no-harm guard").
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
# (9 % at 150 points; test_noise_estimate_is_within_ten_percent_of_sigma_on_white_gaussian_noise).
NOISE_ESTIMATE_SPREAD = 1.1


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
    signal's level, its own steps would count as glitches)."""
    noise = estimate_noise(noisy)
    if noise_sigma is not None:
        given = np.broadcast_to(np.asarray(noise_sigma, np.float64), noise.sigma.shape)
        noise = Noise(np.minimum(given, given_sigma_cap(noise.sigma, noisy.shape[-1])), noise.glitches)
    noise = confirm_glitches(model, noisy, noise)
    # The network sees the input without its glitches: trained on glitchy inputs, it still denoises
    # the rest far better once they are gone (test set: glitch groups up to +3.2 dB, but square and
    # sawtooth -0.5 to -1.6 dB; white-noise groups within 0.4 dB).
    clean = deglitch(noisy, noise)
    given = clean.astype(np.float32)
    net = denoise(model, given)
    answer, divergence = net, net_divergence(model, given, noise, net)
    trend = settled = np.zeros(len(noisy), bool)
    if model.trend_degree >= 0:
        answer, divergence, trend, settled = prefer_trend(noisy, clean, noise, net, divergence, model.trend_degree)
    classical, classical_divergence = fallback_filter(noisy, noise)
    share = np.where(settled, 0.0, fallback_share(noisy, answer, divergence, classical, classical_divergence, noise))
    blend = answer + share[:, None] * (classical - answer)
    share = np.where(acceptable(noisy, answer, noise) & acceptable(noisy, blend, noise), share, 1.0)
    denoised = np.where((share == 1)[:, None], classical, blend).astype(np.float32)
    walk = np.zeros(len(noisy), bool)
    if noise_sigma is None:  # a level the caller gives already keeps a walk on the paths above (signals.md)
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
    return Guarded(denoised, net, classical, noise, share, trend & (share < 1) & ~walk, walk)


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


@dataclass(frozen=True)
class Tuned:
    name: str
    params: tuple
    val_gain: float


def tune(name: str, noisy: np.ndarray, pure: np.ndarray) -> Tuned:
    """The grid point of classical filter `name` with the best SNR gain on these signals."""
    apply, grid = CLASSICAL[name]
    noisy = noisy.astype(np.float64)
    scored = [(snr_gain_db(noisy, pure, apply(noisy, *params)), params) for params in grid(noisy.shape[-1])]
    gain, params = max(scored, key=lambda item: item[0])
    return Tuned(name, params, gain)


def group_rows(val: SignalSet, test: SignalSet, guarded: Guarded, fallback: np.ndarray) -> list[dict]:
    """One row per family x noise: test SNR gains of the guarded model (`model`), the model alone
    (`net`), each baseline (tuned on the group's validation signals), the guard's label-free
    fallback filter on its own (`fallback_filter`: `fallback`, see median_flag_fallback) and the LS
    bound; the fallback's mean share of the answers; `held_out`: the model never trained on the
    family."""
    rows = []
    for g, (family, noise) in enumerate(test.group_names()):
        v, t = val.group == g, test.group == g
        noisy, pure = test.noisy[t].astype(np.float64), test.pure[t]
        row: dict = {"group": f"{family}/{noise}", "family": family, "noise": noise,
                     "held_out": family in test.held_out, "model": snr_gain_db(noisy, pure, guarded.denoised[t]),
                     "net": snr_gain_db(noisy, pure, guarded.net[t]),
                     "fallback_share": float(guarded.fallback_share[t].mean()),
                     "trend_share": float(guarded.trend[t].mean()), "walk_share": float(guarded.walk[t].mean()),
                     "noisy": 0.0}
        tuned = {name: tune(name, val.noisy[v], val.pure[v]) for name in CLASSICAL}
        for name, best in tuned.items():
            row[name] = snr_gain_db(noisy, pure, CLASSICAL[name][0](noisy, *best.params))
        row["fallback_filter"] = snr_gain_db(noisy, pure, fallback[t])
        row["best_classical"] = max(row[name] for name in BASELINES)
        row["margin_db"] = row["model"] - row["best_classical"]
        degree = LINEAR_FAMILIES.get(family)
        row["ls_bound"] = snr_gain_db(noisy, pure, ls_projection(noisy, degree)) if degree else None
        for name, best in tuned.items():
            row.update({f"{name}_{p}": value for p, value in zip(PARAM_NAMES[name], best.params)})
        rows.append(row)
    return rows


BASELINES = ("noisy", *CLASSICAL, "fallback_filter")  # the best of these is "the best classical filter"
HELD_OUT_TOLERANCE_DB = 1.0  # a held-out kind passes at >= 0 dB and within this of the best classical filter
SUMMARIES = ("model", "net", "best_classical", "fallback_share", "trend_share", "walk_share")  # averaged per noise and per kind


def passes(row: dict) -> bool:
    """Trained kinds: beat the best classical filter. Held-out kinds: never worse than the input,
    and within HELD_OUT_TOLERANCE_DB of the best classical filter (or better)."""
    if row["held_out"]:
        return row["model"] >= 0 and row["margin_db"] >= -HELD_OUT_TOLERANCE_DB
    return row["margin_db"] > 0


def passes_at(row: dict, gain: float) -> bool:
    """passes() for `row`'s group, had the guarded model made `gain` dB on it instead."""
    return passes({**row, "model": gain, "margin_db": gain - row["best_classical"]})


def summary_rows(rows: list[dict], by: str | None) -> list[dict]:
    """Mean gains per `by` ("noise" or "family"; None: all groups), over trained and held-out kinds apart."""
    out = []
    for value in dict.fromkeys(r[by] if by else None for r in rows):
        for held_out in (False, True):
            part = [r for r in rows if (not by or r[by] == value) and r["held_out"] == held_out]
            if part:
                out.append({**({by: value} if by else {}), "kinds": "held_out" if held_out else "trained",
                            **{k: float(np.mean([r[k] for r in part])) for k in SUMMARIES},
                            "min_margin_db": min(r["margin_db"] for r in part),
                            "groups_passing": sum(map(passes, part)), "groups": len(part)})
    return out


def evaluate(model: nn.Module, prepared: Prepared, block: dict) -> Evaluation:
    val, test = prepared.raw["val"], prepared.raw["test"]
    guarded = guarded_denoise(model, test.noisy)
    rows = group_rows(val, test, guarded, median_flag_fallback(test.noisy, guarded))
    metrics: dict[str, float] = {}
    for row in rows:
        slice_ = f"{row['family']}_{row['noise']}"
        metrics[f"test_snr_gain_db_{slice_}"] = row["model"]
        metrics[f"test_net_snr_gain_db_{slice_}"] = row["net"]
        metrics[f"test_fallback_share_{slice_}"] = row["fallback_share"]
        metrics[f"test_trend_share_{slice_}"] = row["trend_share"]
        metrics[f"test_walk_share_{slice_}"] = row["walk_share"]
        for name in (*CLASSICAL, "fallback_filter", "best_classical", "ls_bound"):
            if row[name] is not None:
                metrics[f"baseline_{name}_test_snr_gain_db_{slice_}"] = row[name]
    by_noise, by_kind = summary_rows(rows, "noise"), summary_rows(rows, "family")
    for row in by_noise:
        prefix = "" if row["kinds"] == "trained" else "held_out_"
        metrics[f"test_{prefix}snr_gain_db_noise_{row['noise']}"] = row["model"]
        metrics[f"baseline_best_classical_test_{prefix}snr_gain_db_noise_{row['noise']}"] = row["best_classical"]
    for summary in summary_rows(rows, None):
        held_out = summary["kinds"] == "held_out"
        part = "held_out_" if held_out else ""
        metrics[f"test_{part}snr_gain_db"] = summary["model"]
        metrics[f"test_{part}net_snr_gain_db"] = summary["net"]
        metrics[f"baseline_best_classical_test_{part}snr_gain_db"] = summary["best_classical"]
        metrics[f"test_{part}min_snr_gain_db"] = min(r["model"] for r in rows if r["held_out"] == held_out)
        metrics[f"test_{part}min_margin_db_vs_best_classical"] = summary["min_margin_db"]
        metrics[f"test_{part}fallback_share"] = summary["fallback_share"]
        metrics[f"test_{part}trend_share"] = summary["trend_share"]
        metrics[f"test_{part}walk_share"] = summary["walk_share"]
        metrics[f"test_{part}groups_passing"] = float(summary["groups_passing"])
        metrics[f"test_{part}groups"] = float(summary["groups"])
    for name in CLASSICAL:
        metrics[f"baseline_{name}_test_snr_gain_db"] = float(np.mean([r[name] for r in rows if not r["held_out"]]))
    metrics["test_signals"] = float(len(test.noisy))
    verdict = gate(metrics)
    worst = min((r for r in rows if not r["held_out"]), key=lambda r: r["margin_db"])
    return Evaluation(
        metrics=metrics,
        tables={"gains": _rounded(rows), "noise_levels": _rounded(by_noise), "kinds": _rounded(by_kind)},
        figures={"gains": _gains_figure(rows), "examples": _examples_figure(test, guarded.denoised, rows)},
        notes={
            "verdict": verdict.reason,
            "worst_group": f"{worst['group']}: model {worst['model']:.2f} dB vs best classical "
                           f"{worst['best_classical']:.2f} dB",
            "baselines": "moving average, Savitzky-Golay, Wiener tuned per family x noise on validation "
                         f"signals, windows {', '.join(map(str, windows(len(test.x))))}; Savitzky-Golay "
                         "picked per signal by SURE (the guard's fallback)",
            "held_out_kinds": ", ".join(test.held_out) or "none",
        },
    )


def _rounded(table: list[dict]) -> list[dict]:
    return [{k: (round(v, 4) if isinstance(v, float) else ("" if v is None else v)) for k, v in r.items()}
            for r in table]


def gate(metrics: dict) -> Verdict:
    """Passes when the guarded model beats the best classical filter on every trained family x noise
    group and, on every held-out one, is >= 0 dB and within HELD_OUT_TOLERANCE_DB of it."""
    groups, passing = int(metrics["test_groups"]), int(metrics["test_groups_passing"])
    held = int(metrics.get("test_held_out_groups", 0))
    held_passing = int(metrics.get("test_held_out_groups_passing", 0))
    margin, gain = metrics["test_min_margin_db_vs_best_classical"], metrics["test_snr_gain_db"]
    trained = (f"beats the best classical filter on {passing} of {groups} family x noise groups (smallest margin "
               f"{margin:+.2f} dB; mean gain {gain:.2f} dB vs "
               f"{metrics['baseline_best_classical_test_snr_gain_db']:.2f} dB)")
    held_out = (f"; held-out kinds: {held_passing} of {held} groups >= 0 dB and within {HELD_OUT_TOLERANCE_DB:g} dB "
                f"of the best classical filter (lowest gain {metrics['test_held_out_min_snr_gain_db']:+.2f} dB, "
                f"worst margin {metrics['test_held_out_min_margin_db_vs_best_classical']:+.2f} dB)") if held else ""
    return Verdict(passed=passing == groups and held_passing == held, score=-gain, score_name="neg_test_snr_gain_db",
                   reason=trained + held_out)


# --- figures --------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _gains_figure(rows: list[dict]):
    plt = _pyplot()
    frame = pd.DataFrame(rows)
    families = list(dict.fromkeys(frame["family"]))
    methods = ["model", "net", *CLASSICAL, "fallback_filter", "ls_bound"]
    cols = min(3, len(families))
    fig, axes = plt.subplots(-(-len(families) // cols), cols, figsize=(5 * cols, 3.6 * -(-len(families) // cols)),
                             squeeze=False, sharey=True)
    width = 0.8 / len(methods)
    for ax, family in zip(axes.flat, families):
        part = frame[frame["family"] == family]
        for i, method in enumerate(methods):
            values = pd.to_numeric(part[method], errors="coerce").to_numpy()
            ax.bar(np.arange(len(part)) + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        ax.set_xticks(np.arange(len(part)), part["noise"], rotation=30, ha="right", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(family)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("test SNR gain (dB)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("SNR gain over the noisy input, per family x noise (test signals; model = guarded, net = unguarded)")
    fig.subplots_adjust(hspace=0.6, wspace=0.05, bottom=0.08)  # tight_layout takes seconds per subplot grid
    return fig


def _examples_figure(test: SignalSet, denoised: np.ndarray, rows: list[dict]):
    """The first test signal of every family x noise: noisy, pure, model, and the tuned Savitzky-Golay."""
    plt = _pyplot()
    n_f, n_n = len(test.family_names), len(test.noise_names)
    fig, axes = plt.subplots(n_f, n_n, figsize=(3.2 * n_n, 2.2 * n_f), squeeze=False, sharex=True)
    for g, (family, noise) in enumerate(test.group_names()):
        ax = axes[g // n_n, g % n_n]
        row = np.flatnonzero(test.group == g)[0]
        classical = savitzky_golay(test.noisy[row], rows[g]["savgol_window"], rows[g]["savgol_polyorder"])
        ax.plot(test.x, test.noisy[row], ".", color="0.6", markersize=2, label="noisy")
        ax.plot(test.x, test.pure[row], color="black", linewidth=1, label="pure")
        ax.plot(test.x, classical, color="tab:orange", linewidth=1, label="Savitzky-Golay")
        ax.plot(test.x, denoised[row], color="tab:blue", linewidth=1, label="model")
        ax.set_title(f"{family} / {noise}", fontsize=7)
        ax.tick_params(labelsize=6)
        # the shapes matter here, not the units: no y ticks, and x ticks only on the bottom row
        # (the axes share x); 98 axes of ticks took seconds to draw
        ax.set_yticks([])
        ax.tick_params(bottom=g // n_n == n_f - 1)
    axes[0, 0].legend(fontsize=6)
    fig.subplots_adjust(hspace=0.5, wspace=0.25)
    return fig


# --- serving --------------------------------------------------------------------------


def input_example(prepared: Prepared) -> np.ndarray:
    """Three raw test signals, one per row, from the first, middle and last family."""
    noisy = prepared.raw["test"].noisy
    return np.ascontiguousarray(noisy[np.linspace(0, len(noisy) - 1, 3).astype(int)])


# Request params (MLflow's `params`, declared in the registered signature): name -> (type, default).
SERVE_PARAMS = {"noise_sigma": ("double", None)}


def _given_noise_sigma(params: dict | None) -> float | None:
    value = (params or {}).get("noise_sigma")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PayloadError(f"params.noise_sigma: expected a finite number >= 0 (the noise's standard deviation in "
                           f"the signals' units), got {value!r}"[:200])
    return float(value)


def unit_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 (N, L): each signal centred on its mid-range and scaled to +-1, and (centre, scale)
    (N, 1) to undo it (a constant signal: scale 1). The guard works in float32 on these: an offset
    large against the signal's variation (a pressure of 1013.25 +- 0.5 hPa) keeps its precision, and
    a signal gets the same answer in any unit."""
    values = np.asarray(values, np.float64)
    centre = (values.max(-1, keepdims=True) + values.min(-1, keepdims=True)) / 2
    scale = np.abs(values - centre).max(-1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return (values - centre) / scale, centre, scale


def serve(model: MinMaxDenoiser, meta: dict, request, params: dict | None = None) -> dict[str, np.ndarray]:
    """A batch of raw noisy signals (rows of equal length) -> per signal: `denoised` (same units and
    length), `noise_sigma` (the noise level estimated from the input, or the one the request gives as
    `params.noise_sigma` where the caller knows it, capped by given_sigma_cap; same units), `path` ("model";
    "trend" where the model's answer is its polynomial expert taken whole; "blend" where the guard
    mixed the model's answer with a classical filter; "fallback" where it replaced it by one; "walk"
    where the input looked like a random walk and got the walk's own smoother) and
    `fallback_share` (the classical filter's share of the answer, 0 to 1)."""
    not_numbers = PayloadError("signals must be rows of numbers of equal length")
    if isinstance(request, pd.DataFrame):
        request = request.to_numpy()
    try:
        values = np.asarray(request)
    except ValueError:
        raise not_numbers from None
    if values.dtype == object:  # JSON null arrives as None: a missing value, reported as not finite below
        missing = np.equal(values, None)
        if not all(isinstance(v, (int, float)) for v in values[~missing].flat):
            raise not_numbers
        values = np.where(missing, np.nan, values).astype(np.float64)
    if values.dtype.kind not in "iuf":
        raise not_numbers
    if values.ndim != 2:
        raise PayloadError(f"expected a batch of signals (a 2-D array: signals x points), got {values.ndim} dimension(s)")
    if len(values) == 0:
        raise PayloadError("expected at least one signal")
    if model.fixed_length and values.shape[1] != meta["length"]:
        raise PayloadError(f"this model takes signals of exactly {meta['length']} points, got {values.shape[1]}")
    if values.shape[1] < MIN_LENGTH:
        raise PayloadError(f"signals must have at least {MIN_LENGTH} points, got {values.shape[1]}")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PayloadError(f"signal {row}, point {col}: expected a finite number")
    unit, centre, scale = unit_range(values)
    given = _given_noise_sigma(params)
    guarded = guarded_denoise(model, unit.astype(np.float32), None if given is None else given / scale[:, 0])
    return {"denoised": guarded.denoised * scale + centre, "noise_sigma": guarded.noise.sigma * scale[:, 0],
            "path": guarded.path, "fallback_share": guarded.fallback_share.astype(np.float32)}
